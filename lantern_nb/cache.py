"""The run cache every cached training or labelling step goes through.

A step's key is `fingerprint` of everything it reads: the whole resolved profile sections it
uses (never a hand-picked list of their fields, so a setting added later cannot serve a stale
result) and its input artifacts -- model weights, tokenizers, encoded rows, files. A finished
run is a directory `<root>/<name>-<key>/` holding `metrics.json`, written atomically after
everything else, so a run killed half-way never looks finished.

`fingerprint` hashes content, not names or times: every byte of every tensor (a model's
parameters and buffers), a tokenizer's full definition, every file under a directory.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable

KEY_CHARS = 16


def _tensor_bytes(t: Any) -> tuple[str, bytes]:
    import torch

    t = t.detach().cpu().contiguous()
    return f"{tuple(t.shape)}|{t.dtype}", t.reshape(-1).view(torch.uint8).numpy().tobytes()


def _feed(h: Any, obj: Any) -> None:
    """Feed a canonical encoding of `obj`, tagged by kind, into hash `h`."""
    import numpy as np
    import torch

    if isinstance(obj, torch.nn.Module):
        h.update(b"module")
        for name, t in sorted(obj.state_dict().items()):
            head, body = _tensor_bytes(t)
            h.update(f"{name}|{head}".encode())
            h.update(body)
    elif isinstance(obj, torch.Tensor):
        head, body = _tensor_bytes(obj)
        h.update(f"tensor|{head}".encode())
        h.update(body)
    elif isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        h.update(f"array|{a.shape}|{a.dtype}".encode())
        h.update(a.tobytes())
    elif isinstance(obj, Path):
        _feed_path(h, obj)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(f"dataclass|{type(obj).__name__}".encode())
        _feed(h, dataclasses.asdict(obj))
    elif hasattr(obj, "backend_tokenizer") or hasattr(obj, "get_vocab"):
        _feed_tokenizer(h, obj)
    elif isinstance(obj, (dict, list, tuple)):
        try:
            h.update(b"json" + json.dumps(obj, sort_keys=True, ensure_ascii=False, default=_refuse).encode())
        except TypeError:  # holds tensors, models, paths or dataclasses: encode item by item
            items = sorted(obj.items(), key=lambda kv: str(kv[0])) if isinstance(obj, dict) else enumerate(obj)
            h.update(f"{type(obj).__name__}|{len(obj)}".encode())
            for k, v in items:
                h.update(f"|{k}=".encode())
                _feed(h, v)
    else:
        h.update(b"json" + json.dumps(obj, sort_keys=True, default=str).encode())


def _refuse(obj: Any) -> Any:
    raise TypeError(type(obj).__name__)


def _feed_path(h: Any, path: Path) -> None:
    if path.is_file():
        h.update(f"file|{path.stat().st_size}".encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    elif path.is_dir():
        h.update(b"dir")
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(str(p.relative_to(path)).encode())
            _feed_path(h, p)
    else:
        h.update(f"missing|{path}".encode())


def _feed_tokenizer(h: Any, tokenizer: Any) -> None:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    extra = [getattr(tokenizer, "chat_template", None), getattr(tokenizer, "eos_token_id", None),
             getattr(tokenizer, "pad_token_id", None)]
    h.update(b"tokenizer" + body.encode() + json.dumps(extra, default=str).encode())


def fingerprint(*parts: Any) -> str:
    """blake2b (128 bits, hex) over the content of `parts`: profile sections (dataclasses), plain
    JSON values, tensors, models, tokenizers, files and directories, in any nesting."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(b"\x00part")
        _feed(h, part)
    return h.hexdigest()


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write `obj` as JSON through a temporary file and a rename: whole or absent, never torn."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    tmp.replace(path)


@dataclasses.dataclass
class RunCache:
    """Finished runs under `root`, one directory `<name>-<key>` each, found by key.

    `require` names files or folders a finished run must hold besides `metrics.json` (a saved
    model, say); a directory missing one of them is not a hit and is rebuilt."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    @staticmethod
    def key(*parts: Any) -> str:
        return fingerprint(*parts)[:KEY_CHARS]

    def run_dir(self, name: str, key: str) -> Path:
        return self.root / f"{name}-{key}"

    def find(self, key: str, require: tuple[str, ...] = ()) -> Path | None:
        """The finished run directory with this key (any name), or None."""
        if not self.root.is_dir():
            return None
        for d in sorted(self.root.glob(f"*-{key}")):
            if (d / "metrics.json").is_file() and all((d / r).exists() for r in require):
                return d
        return None

    def load(self, key: str, require: tuple[str, ...] = ()) -> tuple[Path, dict[str, Any]] | None:
        d = self.find(key, require)
        return None if d is None else (d, json.loads((d / "metrics.json").read_text()))

    def start(self, name: str, key: str) -> Path:
        """An empty directory for a new run (whatever an interrupted run left there is removed)."""
        d = self.run_dir(name, key)
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d

    @staticmethod
    def finish(run_dir: Path, metrics: dict[str, Any]) -> None:
        """Mark a run finished: `metrics.json`, atomically, after everything else is written."""
        write_json_atomic(Path(run_dir) / "metrics.json", metrics)

    def get_or_run(self, name: str, key: str, make: Callable[[Path], dict[str, Any]],
                   require: tuple[str, ...] = ()) -> tuple[dict[str, Any], bool]:
        """(metrics, cached): the finished run's metrics, or `make(run_dir)`'s, saved."""
        hit = self.load(key, require)
        if hit is not None:
            return hit[1], True
        d = self.start(name, key)
        metrics = make(d)
        self.finish(d, metrics)
        return metrics, False
