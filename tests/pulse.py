"""A real PulseAudio server for one test: user mode, private runtime dir, one null sink.

Use the ``pulse`` fixture (import it into a test module: ``from pulse import pulse  # noqa: F401``)
or ``PulseServer`` directly. The fixture sets, for the test's process and every subprocess it
starts (``hambajuba live --headless --source hjtest.monitor`` included):

- ``PULSE_SERVER=unix:<tmp>/native``  — the server's socket; libpulse (and so soundcard) uses it
- ``PULSE_RUNTIME_PATH=<tmp>/pulse``  — keeps libpulse away from the user's real runtime dir
- ``XDG_RUNTIME_DIR=<tmp>``           — the same for anything else that looks there
- ``HAMBAJUBA_AUDIO`` is left as conftest sets it (``none``): that is about *output*.

``pulse.env`` holds exactly these, to pass to ``subprocess`` yourself. The server is
``pulseaudio -n`` (no default.pa) with only ``module-native-protocol-unix`` (anonymous auth) and
``module-null-sink sink_name=hjtest``, so hjtest is the default sink and ``hjtest.monitor`` the
default monitor. It runs in the foreground as our child (works as root, as CI runs), and is
killed, its temp dir removed, when the test ends. Where it cannot start, the test is skipped
with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

SINK = "hjtest"


class PulseServer:
    def __init__(self, sink: str = SINK, rate: int = 44100) -> None:
        self.sink = sink
        self.rate = rate
        self.root = Path(tempfile.mkdtemp(prefix="hj-pulse-"))
        self.socket = self.root / "native"
        self.env = {
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_RUNTIME_PATH": str(self.root / "pulse"),
            "XDG_RUNTIME_DIR": str(self.root),
        }
        self.proc: subprocess.Popen | None = None
        self._players: list[subprocess.Popen] = []
        self.log = self.root / "pulseaudio.log"

    # -- life -----------------------------------------------------------------------------

    def start(self, timeout: float = 8.0) -> None:
        """Start the server; raise RuntimeError saying why when it does not come up."""
        exe = shutil.which("pulseaudio")
        if exe is None:
            raise RuntimeError("pulseaudio is not installed (apt-get install pulseaudio)")
        for tool in ("pactl", "pacat"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"{tool} is not installed (apt-get install pulseaudio-utils)")
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        (self.root / "pulse").mkdir(exist_ok=True)
        self.socket.unlink(missing_ok=True)  # left by a killed server (see ``crash``)
        env = {
            **os.environ,
            **self.env,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
        }
        env.pop("PULSE_SERVER")  # the server itself must not look for another one
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        args = [
            exe,
            "-n",  # no default.pa: only the modules below
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            "--disable-shm=yes",
            "--system=no",
            "--log-target=stderr",
            "--log-level=notice",
            "-L",
            f"module-native-protocol-unix socket={self.socket} auth-anonymous=1",
            "-L",
            f"module-null-sink sink_name={self.sink} rate={self.rate}",
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                raise RuntimeError(f"pulseaudio exited ({rc}): {self._log_tail()}")
            if (
                self.socket.exists()
                and self._can_connect()
                and self.pactl("info", check=False).returncode == 0
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pulseaudio did not come up in {timeout:.0f} s: {self._log_tail()}")

    def _can_connect(self) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            try:
                s.connect(str(self.socket))
                return True
            except OSError:
                return False

    def _log_tail(self) -> str:
        try:
            lines = [
                ln for ln in self.log.read_text(errors="replace").splitlines() if ln.startswith("E")
            ]
            return " / ".join(lines[-3:]) or self.log.read_text(errors="replace")[-300:]
        except OSError:
            return "(no log)"

    def crash(self) -> None:
        """Kill the server (SIGKILL) as a crash would; ``start()`` brings it back, same address."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self.proc = None

    def stop(self) -> None:
        for p in self._players:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=5)
        self._players.clear()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    # -- control --------------------------------------------------------------------------

    def client_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["pactl", *args],
            env=self.client_env(),
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )

    def load_sink(self, name: str, rate: int = 44100, channels: int = 2) -> int:
        """Load another null sink; returns the module index (for ``unload``)."""
        out = self.pactl(
            "load-module", "module-null-sink", f"sink_name={name}", f"rate={rate}",
            f"channels={channels}",
        )  # fmt: skip
        return int(out.stdout.strip())

    def sink_module(self, name: str = SINK) -> int:
        """The module index that owns a null sink."""
        out = self.pactl("list", "short", "modules").stdout
        for line in out.splitlines():
            parts = line.split("\t")
            if (
                len(parts) >= 3
                and parts[1] == "module-null-sink"
                and f"sink_name={name}" in parts[2].split()
            ):
                return int(parts[0])
        raise KeyError(name)

    def unload(self, module: int) -> None:
        self.pactl("unload-module", str(module))

    def set_default_sink(self, name: str) -> None:
        self.pactl("set-default-sink", name)

    def play(
        self, samples: np.ndarray, sr: int = 44100, device: str | None = None, latency_ms: int = 10
    ) -> subprocess.Popen:
        """Play float samples ([n] or [n, ch]) into a sink in the background; returns the process
        (``.wait()`` on it to know when it ended). Started at the moment this returns, give or
        take the player's own start-up."""
        data = np.asarray(samples, dtype=np.float32)
        channels = 1 if data.ndim == 1 else data.shape[1]
        proc = subprocess.Popen(
            [
                "pacat",
                "--playback",
                f"--device={device or self.sink}",
                "--format=float32le",
                f"--rate={sr}",
                f"--channels={channels}",
                f"--latency-msec={latency_ms}",
                "--raw",
            ],
            env=self.client_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._players.append(proc)
        # a pipe holds 64 KiB: write from a thread so the caller is never blocked
        import threading

        def feed() -> None:
            try:
                proc.stdin.write(data.tobytes())
                proc.stdin.close()
            except (BrokenPipeError, ValueError, OSError):
                pass

        threading.Thread(target=feed, daemon=True).start()
        return proc

    def play_file(self, path: str | os.PathLike, device: str | None = None) -> subprocess.Popen:
        """Play a sound file (wav, flac, …) into a sink in the background with paplay."""
        proc = subprocess.Popen(
            ["paplay", f"--device={device or self.sink}", str(path)],
            env=self.client_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._players.append(proc)
        return proc


@pytest.fixture
def pulse(monkeypatch):
    """A running PulseAudio server with null sink ``hjtest`` (the default), env set for the test
    and its subprocesses; skipped with the reason where PulseAudio cannot start."""
    server = PulseServer()
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        pytest.skip(f"no PulseAudio for this test: {exc}")
    for k, v in server.env.items():
        monkeypatch.setenv(k, v)
    try:
        yield server
    finally:
        server.stop()
