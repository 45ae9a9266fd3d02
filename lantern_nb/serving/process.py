"""The service in its own process, for benchmarks: `ServerProcess` spawns it on 127.0.0.1.

Why a process: with the server and the load generator in one interpreter they share one GIL,
and the model's worker thread starves the event loop (measured: ~20 ms of HTTP overhead per
request and batching *slower* than one-at-a-time). A separate process gives the server its own
interpreter and lets the OS schedule it beside the generator.

The parent binds a free loopback port and hands the listening socket to the child (no race for
the port); the child loads the models, serves with uvicorn, and exits when the parent goes away.
`ServerProcess` is a context manager, also registered with `atexit`, so the child is always
terminated (SIGTERM, then SIGKILL after a grace period).

Run directly: `python -m lantern_nb.serving.process '<json spec>'` (what `ServerProcess` does).
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable

import httpx

from lantern_nb.profiles import Profile

_LIVE: "weakref.WeakSet[ServerProcess]" = weakref.WeakSet()


def _stop_all() -> None:
    for srv in list(_LIVE):
        srv.stop()


atexit.register(_stop_all)


def default_torch_threads() -> int:
    """Intra-op threads for the server's torch: all cores but one, which the load generator needs."""
    return max(1, (os.cpu_count() or 1) - 1)


def check_artifacts(cfg: Profile) -> None:
    """Raise `MissingArtifactError` (naming the producing notebook) if a served model is missing,
    before a process is spawned only to fail."""
    from lantern_nb import artifacts

    for key in ("summarizer", "classifier", "explainer"):
        artifacts.require(cfg.name, key)


class ServerProcess:
    """The service for `profile` (+ `overrides`) in a child process on 127.0.0.1; a context manager.

    `models` is "module:function" building the `ServingModels` from the profile (default: the
    trained artifacts via `load_models`); `batching=False` serves one request at a time;
    `torch_threads` sets the child's intra-op threads (default `default_torch_threads()`).
    `start` returns once /healthz answers; `stop` terminates the child and waits for it.
    """

    def __init__(self, profile: str | Profile, overrides: dict[str, Any] | None = None, *, batching: bool = True,
                 models: str = "lantern_nb.serving.pipeline:load_models", torch_threads: int | None = None,
                 startup_timeout_s: float = 120.0, log_level: str = "warning") -> None:
        self.profile = profile if isinstance(profile, str) else profile.name
        self.overrides = dict(overrides or {})
        self.batching, self.models, self.log_level = batching, models, log_level
        self.torch_threads = torch_threads or default_torch_threads()
        self.startup_timeout_s = startup_timeout_s
        self.host, self.port = "127.0.0.1", 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def log_tail(self, n_chars: int = 3000) -> str:
        """The end of the child's stdout/stderr (for error messages)."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(encoding="utf-8", errors="replace")[-n_chars:]

    def start(self) -> "ServerProcess":
        """Spawn the child with a bound listening socket and wait until /healthz answers."""
        return self.launch().wait_ready()

    def launch(self) -> "ServerProcess":
        """Spawn the child without waiting (start several servers at once, then `wait_ready` each)."""
        if self.proc is not None:
            raise RuntimeError("this ServerProcess was already started; create a new one")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(2048)
        self.port = sock.getsockname()[1]
        spec = {"profile": self.profile, "overrides": self.overrides, "batching": self.batching,
                "models": self.models, "torch_threads": self.torch_threads, "fd": sock.fileno(),
                "parent_pid": os.getpid(), "log_level": self.log_level}
        fd, log = tempfile.mkstemp(prefix="lantern-serve-", suffix=".log")
        self._log_path = Path(log)
        env = {**os.environ, "OMP_NUM_THREADS": str(self.torch_threads), "TOKENIZERS_PARALLELISM": "false",
               "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
        try:
            with os.fdopen(fd, "wb") as logf:
                self.proc = subprocess.Popen([sys.executable, "-m", "lantern_nb.serving.process", json.dumps(spec)],
                                             pass_fds=(sock.fileno(),), stdout=logf, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, env=env)
        finally:
            sock.close()
        _LIVE.add(self)
        return self

    def wait_ready(self) -> "ServerProcess":
        """Block until /healthz answers; on failure stop the child and raise with its log's end."""
        if self.proc is None:
            raise RuntimeError("launch() the ServerProcess first")
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout_s
        with httpx.Client(base_url=self.base_url, trust_env=False, timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the service process exited with code {self.proc.returncode} while "
                                       f"starting; its log ends with:\n{self.log_tail()}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise TimeoutError(f"the service did not answer /healthz within {self.startup_timeout_s} s; "
                           f"its log ends with:\n{self.log_tail()}")

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM (uvicorn shuts down gracefully), SIGKILL after `grace_s`; reap the child. Idempotent."""
        with self._lock:
            proc = self.proc
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(grace_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5.0)
            _LIVE.discard(self)
            if self._log_path is not None and proc is not None and proc.returncode in (0, -signal.SIGTERM):
                self._log_path.unlink(missing_ok=True)

    def healthz(self) -> dict[str, Any]:
        with httpx.Client(base_url=self.base_url, trust_env=False, timeout=10.0) as client:
            return client.get("/healthz").json()

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "not started" if self.proc is None else ("running" if self.proc.poll() is None else "stopped")
        return (f"ServerProcess({self.profile!r}, batching={self.batching}, pid={self.pid}, {self.base_url}, "
                f"torch_threads={self.torch_threads}, {state})")


def _resolve(target: str) -> Callable[..., Any]:
    import importlib

    module, _, func = target.partition(":")
    if not func:
        raise ValueError(f"models factory {target!r}: expected 'module:function'")
    return getattr(importlib.import_module(module), func)


def _watch_parent(parent_pid: int) -> None:
    """Exit the child when the process that spawned it is gone (no orphan servers)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _child_main(spec: dict[str, Any]) -> int:
    import torch
    import uvicorn

    from lantern_nb.profiles import load_profile
    from lantern_nb.serving.app import create_app

    torch.set_num_threads(int(spec["torch_threads"]))
    threading.Thread(target=_watch_parent, args=(int(spec["parent_pid"]),), daemon=True).start()
    sock = socket.socket(fileno=int(spec["fd"]))
    cfg = load_profile(spec["profile"], **spec["overrides"])
    models = _resolve(spec["models"])(cfg)
    app = create_app(models, cfg, batching=bool(spec["batching"]))
    server = uvicorn.Server(uvicorn.Config(app, log_level=spec["log_level"], access_log=False, lifespan="on"))
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(json.loads(sys.argv[1])))
