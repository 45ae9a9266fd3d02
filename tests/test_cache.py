"""The resumable call cache: get/put, torn lines, and a real kill-and-resume in a subprocess."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from lantern_nb.schema import Pair
from lantern_nb.teachers.base import TeacherOutput
from lantern_nb.teachers.cache import CachedTeacher, CallCache, cache_key


def test_key_is_stable_and_sensitive() -> None:
    m = [{"role": "user", "content": "hi"}]
    k = cache_key("openai", "gpt", m, {"temperature": 0, "max_new_tokens": 8})
    assert k == cache_key("openai", "gpt", [dict(x) for x in m], {"max_new_tokens": 8, "temperature": 0})
    assert k != cache_key("openai", "gpt", m, {"temperature": 0, "max_new_tokens": 9})
    assert k != cache_key("hf", "gpt", m, {"temperature": 0, "max_new_tokens": 8})
    assert len(k) == 64


def test_put_get_reopen(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    with CallCache(path) as c:
        c.put("a", "x")
        c.put("b", {"y": 1})
        c.put("a", "ignored")
        assert c.get("a") == "x"
    c2 = CallCache(path)
    assert c2.get("b") == {"y": 1} and len(c2) == 2
    assert len(path.read_text().splitlines()) == 2
    assert CallCache(None).get("a") is None


def test_torn_last_line_is_reported_skipped_and_cut(tmp_path: Path, caplog) -> None:
    path = tmp_path / "c.jsonl"
    with CallCache(path) as c:
        c.put("a", "x")
        c.put("b", "y")
    with path.open("a") as f:
        f.write('{"key": "c", "val')
    with caplog.at_level(logging.WARNING):
        c = CallCache(path)
    assert "torn last line 3" in caplog.text
    assert len(c) == 2 and c.get("c") is None
    c.put("c", "z")
    c.close()
    lines = path.read_text().splitlines()
    assert [json.loads(x)["key"] for x in lines] == ["a", "b", "c"]


class _Counting:
    name = "fake"

    def __init__(self) -> None:
        self.calls = 0

    def label(self, pairs):
        self.calls += len(pairs)
        return [TeacherOutput(p.pair_id, "raw:" + p.job_text, None, "x", {}) for p in pairs]


def test_cached_teacher_reuses_results(tmp_path: Path) -> None:
    pairs = [Pair(f"p{i}", "j", f"job {i}", "resume") for i in range(3)]
    inner = _Counting()
    t = CachedTeacher(inner, CallCache(tmp_path / "c.jsonl"), version="1")
    first = t.label(pairs)
    again = CachedTeacher(inner, CallCache(tmp_path / "c.jsonl"), version="1").label(pairs)
    assert inner.calls == 3
    assert [o.raw for o in again] == [o.raw for o in first]
    assert all(o.meta["cache_hit"] for o in again)
    CachedTeacher(inner, CallCache(tmp_path / "c.jsonl"), version="2").label(pairs[:1])
    assert inner.calls == 4  # a new teacher version invalidates


CHILD = textwrap.dedent("""
    import json, os, sys, time
    from lantern_nb.schema import Pair
    from lantern_nb.teachers.cache import CallCache
    from lantern_nb.teachers.llm import LLMTeacher

    cache_path, counter_path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class SlowBackend:
        name, model = "fake", "counter"
        def decoding_params(self):
            return {"temperature": 0}
        def complete(self, batch, max_new_tokens, on_result=None):
            out = []
            for msgs in batch:
                pid = msgs[-1]["content"].split("JOB-")[1].split()[0]
                with open(counter_path, "a") as f:
                    f.write(pid + "\\n"); f.flush(); os.fsync(f.fileno())
                time.sleep(0.03)
                out.append(json.dumps({"qualifications": [{"text": "Python", "importance": "required"}],
                    "evaluation": [{"qualification": "Python", "verdict": "met", "evidence": "Python"}],
                    "label": "High", "score": 0.9, "explanation": ["Meets Python (" + pid + ")"]}))
            return out

    pairs = [Pair(f"p{i}", f"j{i}", f"JOB-{i} needs Python", "Python") for i in range(n)]
    teacher = LLMTeacher(SlowBackend(), "monolithic", CallCache(cache_path), max_new_tokens=64, chunk_size=1)
    outs = teacher.label(pairs)
    print(json.dumps({"ok": sum(o.result is not None for o in outs), "calls": teacher.calls}))
""")


def test_kill_and_resume(tmp_path: Path, caplog) -> None:
    """SIGKILL a labelling run after >= 8 records, resume: no completed call repeated, none lost."""
    script, cache, counter, n = tmp_path / "child.py", tmp_path / "cache.jsonl", tmp_path / "calls.txt", 30
    script.write_text(CHILD)
    cmd = [sys.executable, str(script), str(cache), str(counter), str(n)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if cache.exists() and len(cache.read_bytes().splitlines()) >= 8:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    done_before = {json.loads(x)["meta"]["step"] for x in cache.read_text().splitlines() if x.strip()}
    assert done_before == {"monolithic"}
    cached_before = len([x for x in cache.read_text().splitlines() if x.strip()])
    calls_before = counter.read_text().split()
    assert 8 <= cached_before < n
    with cache.open("a") as f:  # a write torn by the kill, made deterministic
        f.write('{"key": "deadbeef", "value": "{\\"qualif')

    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "torn last line" in res.stderr
    summary = json.loads(res.stdout)
    assert summary["ok"] == n
    calls_after = counter.read_text().split()[len(calls_before):]
    # Each call's cache record is written before the next call starts (chunk_size=1): at most the
    # one call in flight at the kill is repeated; every cached one is not.
    repeated = set(calls_before) & set(calls_after)
    assert len(repeated) <= 1
    assert summary["calls"] == n - cached_before
    counts = Counter(calls_before + calls_after)
    assert set(counts) == {str(i) for i in range(n)}
    assert {k for k, v in counts.items() if v > 1} == repeated
    recs = [json.loads(x) for x in cache.read_text().splitlines()]
    assert len(recs) == n and len({r["key"] for r in recs}) == n  # none lost, none duplicated, torn line cut
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert json.loads(rerun.stdout) == {"ok": n, "calls": 0}
    print(f"kill-and-resume: killed after {cached_before} cached / {len(calls_before)} calls; resume made "
          f"{summary['calls']} calls, repeated {len(repeated)} in-flight call(s); {len(recs)}/{n} records")
