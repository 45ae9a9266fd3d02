"""A resumable cache for every teacher call (append-only JSONL, one fsync'd record per call).

Each record is `{"key": sha256, "value": ..., "meta": {...}}`. The key hashes the backend, the
model, the exact messages and the decoding parameters -- never an API key or any other secret,
so the file is safe to keep. A record is written with one `write` of a whole line, flushed and
fsync'd before `put` returns, so a run killed at any point has either the whole record or a
torn last line; on open a torn line is reported (with its line number), skipped and cut off so
the next append starts on a clean line. Restarting repeats no completed call and loses none.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

from lantern_nb.schema import Pair
from lantern_nb.teachers.base import Teacher, TeacherOutput

log = logging.getLogger(__name__)


def cache_key(backend: str, model: str | None, messages: Any, params: dict[str, Any] | None = None) -> str:
    """sha256 over (backend, model, messages, decoding params), canonical JSON; no secrets go in."""
    blob = json.dumps({"backend": backend, "model": model, "messages": messages, "params": params or {}},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def read_jsonl_tolerant(path: Path, *, repair: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each intact line of `path`; a torn or corrupt line is logged as a
    warning with its line number and skipped. With `repair`, a torn last line (no trailing newline:
    the process died mid-write) is truncated away so the next append starts on a clean line."""
    if not path.exists():
        return
    data = path.read_bytes()
    pos = lineno = 0
    torn_at: int | None = None
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl + 1
        raw, start, pos = data[pos:end], pos, end
        lineno += 1
        if not raw.strip():
            continue
        try:
            if nl < 0:
                raise ValueError("no trailing newline")
            rec = json.loads(raw.decode("utf-8"))
            if not isinstance(rec, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            last = nl < 0 or not data[end:].strip()
            log.warning("%s: %s %d skipped (%s)", path, "torn last line" if last else "corrupt line", lineno, e)
            if nl < 0:
                torn_at = start
            continue
        yield lineno, rec
    if repair and torn_at is not None:
        with path.open("r+b") as f:
            f.truncate(torn_at)
            f.flush()
            os.fsync(f.fileno())


class CallCache:
    """`get(key)` / `put(key, value)` over an append-only JSONL file; `path=None` keeps it in memory."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self._data: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._fh = None
        self.hits = 0
        self.misses = 0
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for _, rec in read_jsonl_tolerant(self.path, repair=True):
                if "key" in rec:
                    self._data[rec["key"]] = rec.get("value")
            self._fh = self.path.open("a", encoding="utf-8")

    key = staticmethod(cache_key)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        """The cached value, or `default`; counts hits and misses."""
        with self._lock:
            if key in self._data:
                self.hits += 1
                return self._data[key]
            self.misses += 1
            return default

    def put(self, key: str, value: Any, meta: dict[str, Any] | None = None) -> None:
        """Store `value` (JSON-serialisable); durable on disk when this returns."""
        line = json.dumps({"key": key, "value": value, "meta": meta or {}}, ensure_ascii=False, sort_keys=True)
        with self._lock:
            if key in self._data:
                return
            if self._fh is not None:
                self._fh.write(line + "\n")
                self._fh.flush()
                os.fsync(self._fh.fileno())
            self._data[key] = value

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> "CallCache":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def source_version(obj: Any) -> str:
    """A version tag for a deterministic teacher: its `VERSION` attribute, else a hash of the source
    of its module, so editing the rubric invalidates cached labels automatically."""
    for holder in (obj, inspect.getmodule(type(obj))):
        v = getattr(holder, "VERSION", None) or getattr(holder, "__version__", None)
        if isinstance(v, (str, int)):
            return str(v)
    try:
        src = inspect.getsource(inspect.getmodule(type(obj)))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return "unversioned"
    return hashlib.sha256(src.encode("utf-8")).hexdigest()[:16]


class CachedTeacher:
    """Any deterministic Teacher (the rubric) behind the call cache, one record per pair, so
    notebook reruns are free. The key holds backend name + teacher version + the pair's texts."""

    def __init__(self, teacher: Teacher, cache: CallCache, backend: str = "rubric", version: str | None = None) -> None:
        self.teacher = teacher
        self.cache = cache
        self.backend = backend
        self.version = version or source_version(teacher)
        self.name = getattr(teacher, "name", backend)

    def _key(self, pair: Pair) -> str:
        msgs = [{"role": "job", "content": pair.job_text}, {"role": "resume", "content": pair.resume_text}]
        return cache_key(self.backend, self.version, msgs, {})

    def label(self, pairs: Sequence[Pair]) -> list[TeacherOutput]:
        keys = [self._key(p) for p in pairs]
        cached = [self.cache.get(k) for k in keys]
        todo = [i for i, c in enumerate(cached) if c is None]
        if todo:
            fresh = self.teacher.label([pairs[i] for i in todo])
            for i, out in zip(todo, fresh):
                d = out.to_dict()
                self.cache.put(keys[i], d, {"backend": self.backend, "version": self.version})
                cached[i] = d
        missed = set(todo)
        outs = []
        for i, (pair, d) in enumerate(zip(pairs, cached)):
            out = TeacherOutput.from_dict({**d, "pair_id": pair.pair_id})
            out.meta = {**out.meta, "cache_hit": i not in missed}
            outs.append(out)
        return outs
