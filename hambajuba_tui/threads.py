"""Thread limits for the processes that do small numpy work in real time.

The preview engine's, the conductor's and the streaming analyser's matrix products are small:
on a busy two-core machine OpenBLAS's threads spin against each other and against the other
processes (measured 6.6 ms per 512² preview frame on one thread, 53 ms on two). The engine
worker, the listener and the renderer each run with one BLAS thread.
"""

from __future__ import annotations

import contextlib


def one_blas_thread():
    """Numpy's BLAS uses one thread from this call on; as a context, until it exits.

    (See the module docstring; the renderer's encoder has the other core.)
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # librosa brings it; without it, numpy keeps its threads
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")
