"""User text input: the one text check (lantern_nb.textcheck) behind every entry point.

Each bad file is refused by `read_text_file` and by the `compress`, `teach` and `fit` commands
with one `error:` line naming the problem and the fix, quickly whatever the file's size; the
HTTP service and the explorer widget refuse the same texts; a closed stdout pipe ends a
command quietly.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
from fastapi.testclient import TestClient

from lantern_nb.cli import main
from lantern_nb.profiles import load_profile
from lantern_nb.schema import read_text_file
from lantern_nb.serving.app import create_app
from lantern_nb.serving.testing import fake_models
from lantern_nb.textcheck import TextRefused, check_text, default_max_chars

FIXTURES = Path(__file__).parent / "fixtures"
JOB = (FIXTURES / "jobs" / "backend_engineer.txt").read_text(encoding="utf-8")
RESUME = "Zoë Martins, São Paulo. Backend developer, 5–7 yrs of Python, Docker, Kubernetes and SQL.\n"
CAP = load_profile("cpu").serving.max_text_chars
CASE_SECONDS = 5.0  # generous per-case bound: a refusal must never read or process a huge file
HTML_PAGE = ("<!DOCTYPE html>\n<html><head><title>Backend Engineer</title></head><body>"
             "<div class='job'><h1>Backend Engineer</h1><p>5+ years of Python</p></div></body></html>\n")
XML_DOC = ("<?xml version='1.0'?>\n<job><title>Backend Engineer</title>"
           "<requirement>5+ years of Python</requirement></job>\n")
TAG_SOUP = "<div><span class='a'><b>Python</b></span><span class='b'><i>SQL</i></span></div>" * 5


def _at_cap() -> str:
    text = (JOB + "\n") * (CAP // len(JOB) + 1)
    return text[:CAP - 1] + "."


def _write(tmp_path: Path, name: str, content: bytes | str | None) -> Path:
    path = tmp_path / name
    if content == "DIR":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    return path


BIG = (JOB + "\n") * (5_000_000 // len(JOB) + 1)  # ~5 MB of a plausible ad

BAD_FILES = [
    # (case, content: None = missing, "DIR" = a directory, bytes or str, words the message must contain)
    ("missing", None, ["not found"]),
    ("directory", "DIR", ["not a regular file"]),
    ("empty", b"", ["is empty"]),
    ("whitespace only", " \n\t\r\n", ["is empty"]),
    ("latin-1", "Café manager, 3 años".encode("latin-1"), ["not UTF-8", "iconv -f latin1 -t utf-8", "> "]),
    ("NUL bytes", b"Backend engineer\x00\x00\x00python", ["NUL bytes", "binary"]),
    ("UTF-16", "Backend engineer".encode("utf-16-le"), ["NUL bytes", "iconv -f utf-16 -t utf-8"]),
    ("UTF-16 with BOM", "Backend engineer".encode("utf-16"), ["not UTF-8", "iconv -f utf-16 -t utf-8"]),
    ("control bytes", b"Backend engineer\x07\x1b[31m python\x08", ["control character U+0007", "plain text"]),
    ("vertical tab", b"Backend engineer\x0bpython", ["control character U+000B"]),
    ("HTML page", HTML_PAGE, ["HTML/XML document", "<!DOCTYPE", "html2text", "lynx -dump"]),
    ("HTML fragment", "<div><h1>Backend Engineer</h1>\n<p>Python, SQL.</p></div>", ["wrapped in tags"]),
    ("XML", XML_DOC, ["HTML/XML document", "plain text"]),
    ("tag soup", "Job: " + TAG_SOUP, ["mostly HTML/XML markup"]),
    ("over the cap (5 MB)", BIG, ["bytes, over the limit of", "serving.max_text_chars", "shorten it"]),
    ("one char over the cap", "x" * (CAP + 1), [f"{CAP + 1} characters, over the limit of {CAP}"]),
    ("multibyte over the cap", "ë" * (CAP + 1), [f"{CAP + 1} characters, over the limit of {CAP}"]),
]
GOOD_FILES = [
    ("job ad", JOB),
    ("résumé with unicode", RESUME),
    ("exactly at the cap", _at_cap()),
    ("multibyte at the cap", "ë" * (CAP - 7) + " Python"),
    ("UTF-8 with BOM", "\ufeff" + JOB),
    ("tabs, CR and form feed", "Backend engineer\r\n\tPython\fSQL\n"),
    ("a few inline tags", "Backend engineer <b>Python</b> required; <5 years is fine; a <br> here\n" + JOB),
]


def _timed(case: str, fn: Callable[[], object]) -> object:
    t0 = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - t0
    assert elapsed < CASE_SECONDS, f"{case}: took {elapsed:.1f}s"
    return out


def test_default_limit_is_the_cpu_profile_serving_limit():
    assert default_max_chars() == CAP > 0


def test_read_text_file_refuses_bad_files(tmp_path):
    for i, (case, content, needles) in enumerate(BAD_FILES):
        path = _write(tmp_path, f"bad{i}.txt", content)
        t0 = time.perf_counter()
        with pytest.raises((FileNotFoundError, ValueError)) as info:
            read_text_file(path, "job")
        assert time.perf_counter() - t0 < CASE_SECONDS, case
        message = str(info.value)
        assert "\n" not in message and str(path) in message, (case, message)
        for needle in needles:
            assert needle in message, (case, needle, message)


def test_read_text_file_accepts_good_files(tmp_path):
    for i, (case, content) in enumerate(GOOD_FILES):
        path = _write(tmp_path, f"good{i}.txt", content)
        text = _timed(case, lambda: read_text_file(path, "resume"))
        assert text == content.removeprefix("\ufeff"), case


def test_limit_comes_from_the_caller(tmp_path):
    path = _write(tmp_path, "job.txt", JOB)
    with pytest.raises(TextRefused, match="over the limit of 100 characters") as info:
        read_text_file(path, "job", max_chars=100)
    assert info.value.status == 413
    assert read_text_file(path, "job", max_chars=len(JOB)) == JOB


def test_huge_sparse_file_is_refused_from_stat(tmp_path):
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.truncate(5 * 1024 ** 3)  # 5 GiB, sparse: nothing is written
    with pytest.raises(TextRefused, match=f"{5 * 1024 ** 3} bytes, over the limit"):
        _timed("5 GiB", lambda: read_text_file(path, "job"))
    path.unlink()


def _commands(path: Path, job: Path, resume: Path) -> dict[str, list[str]]:
    return {"compress": ["compress", str(path)],
            "teach --job": ["teach", "--job", str(path), "--resume", str(resume)],
            "teach --resume": ["teach", "--job", str(job), "--resume", str(path)],
            "fit --job": ["fit", "--job", str(path), "--resume", str(resume)],
            "fit --resume": ["fit", "--job", str(job), "--resume", str(path)]}


@pytest.fixture
def files(tmp_root, monkeypatch):
    import lantern_nb.serving.cli as serving

    monkeypatch.setattr(serving, "load_models", lambda cfg: fake_models())
    return _write(tmp_root, "job.txt", JOB), _write(tmp_root, "resume.txt", RESUME)


def test_cli_entry_points_refuse_bad_files(tmp_root, files, capsys):
    job, resume = files
    for i, (case, content, needles) in enumerate(BAD_FILES):
        path = _write(tmp_root, f"bad{i}.txt", content)
        for command, argv in _commands(path, job, resume).items():
            rc = _timed(f"{command} {case}", lambda: main(argv))
            captured = capsys.readouterr()
            assert rc == 2, (command, case, captured)
            err = captured.err.strip()
            assert err.startswith("error: ") and "\n" not in err and str(path) in err, (command, case, err)
            for needle in needles:
                assert needle in err, (command, case, needle, err)
            assert captured.out == "", (command, case)


def test_cli_entry_points_accept_good_files(tmp_root, files, capsys):
    job, resume = files
    for i, (case, content) in enumerate(GOOD_FILES):
        path = _write(tmp_root, f"good{i}.txt", content)
        for command, argv in _commands(path, job, resume).items():
            rc = _timed(f"{command} {case}", lambda: main(argv))
            captured = capsys.readouterr()
            assert rc in (0, 1) and "error:" not in captured.err, (command, case, captured.err)
            assert captured.out.strip(), (command, case)


def test_check_text_rules():
    assert check_text(RESUME, "resume", 200) == RESUME
    cases = [("", 422, "empty_text"), ("x" * 201, 413, "text_too_long"), ("a\x00b", 422, "binary_text"),
             ("a\x1bb", 422, "control_characters"), ("a\x85b", 422, "control_characters"),
             ("<html><body>job</body></html>", 422, "markup_text")]
    for text, status, code in cases:
        with pytest.raises(TextRefused) as info:
            check_text(text, "field 'text'", 200)
        assert (info.value.status, info.value.code) == (status, code), text
        assert info.value.message.startswith("field 'text' ")


SERVICE_CAP = 2000
SERVICE_BAD = [
    # (case, path, body, status, words the message must contain)
    ("HTML job", "/v1/jobs", {"text": HTML_PAGE}, 422, ["field 'text'", "HTML/XML", "html2text"]),
    ("XML job_text", "/v1/fit", {"job_text": XML_DOC, "resume_text": RESUME}, 422, ["field 'job_text'", "HTML/XML"]),
    ("tag soup resume_text", "/v1/explain", {"job_text": JOB, "resume_text": TAG_SOUP}, 422, ["field 'resume_text'", "HTML/XML"]),
    ("control chars", "/v1/jobs", {"text": "Backend\x07 engineer"}, 422, ["control character U+0007"]),
    ("NUL", "/v1/fit", {"job_text": JOB, "resume_text": "Zoë\x00"}, 422, ["field 'resume_text'", "NUL"]),
    ("oversize text", "/v1/jobs", {"text": "x" * (SERVICE_CAP + 1)}, 413, ["over the limit of 2000"]),
    ("oversize body (5 MB)", "/v1/jobs", {"text": BIG}, 413, ["body is over"]),
]


@pytest.fixture(scope="module")
def client():
    import dataclasses

    cfg = dataclasses.replace(load_profile("smoke").serving, max_text_chars=SERVICE_CAP)
    with TestClient(create_app(fake_models(), cfg)) as c:
        yield c


def test_service_refuses_bad_text(client):
    for case, path, body, status, needles in SERVICE_BAD:
        r = _timed(case, lambda: client.post(path, json=body))
        assert r.status_code == status, (case, r.text)
        message = r.json()["message"]
        for needle in needles:
            assert needle in message, (case, needle, message)
    r = client.post("/v1/fit", json={"job_text": JOB, "resume_text": RESUME})
    assert r.status_code == 200 and r.json()["warning"] is None


class _EmptySummarizer:
    def summarize(self, texts: list[str]) -> list[str]:
        return ["" if i % 2 == 0 else "  \n" for i, _ in enumerate(texts)]


def test_empty_summary_falls_back_to_rules_with_a_warning(monkeypatch):
    from lantern_nb.compress import compress_job

    models = fake_models()
    models.summarizer = _EmptySummarizer()
    with TestClient(create_app(models, load_profile("smoke"))) as c:
        r = c.post("/v1/jobs", json={"text": JOB})
        assert r.status_code == 201, r.text
        job = r.json()
        assert job["summary"] == compress_job(JOB) and job["summary"].strip()
        assert job["summary_source"] == "rules" and "empty summary" in job["warning"]
        assert job["chars_after"] == len(job["summary"])
        fit = c.post("/v1/fit", json={"job_id": job["job_id"], "resume_text": RESUME})
        assert fit.status_code == 200 and fit.json()["warning"] is None
        raw = c.post("/v1/explain", json={"job_text": JOB, "resume_text": RESUME})
        assert raw.status_code == 200 and "rule-based compression" in raw.json()["warning"]

        monkeypatch.setattr("lantern_nb.compress.compress_job", lambda text: "")
        r = c.post("/v1/jobs", json={"text": JOB})
        assert r.status_code == 422 and r.json()["error"] == "empty_summary"
        assert "empty summary" in r.json()["message"]
    good = fake_models()
    with TestClient(create_app(good, load_profile("smoke"))) as c:
        job = c.post("/v1/jobs", json={"text": JOB}).json()
        assert job["summary_source"] == "model" and job["warning"] is None


def test_fit_pair_falls_back_to_rules():
    from lantern_nb.serving import fit_pair

    models = fake_models()
    models.summarizer = _EmptySummarizer()
    rep = fit_pair(models, JOB, RESUME)
    assert rep.summary_source == "rules" and rep.warning and rep.summary.strip()


def test_explorer_refuses_bad_text():
    pytest.importorskip("ipywidgets")
    from lantern_nb.serving.explorer import fit_explorer

    for job, cap, needle in ((HTML_PAGE, None, "HTML/XML"), ("Backend\x07", None, "control character"),
                             (JOB, 50, "over the limit of 50")):
        ui = fit_explorer(fake_models(), job, RESUME, max_text_chars=cap)
        button, out = ui.children[2].children[0], ui.children[3]
        button.click()
        assert needle in out.value, out.value
    ui = fit_explorer(fake_models(), JOB, RESUME)
    ui.children[2].children[0].click()
    assert "Fit:" in ui.children[3].value


def test_closed_stdout_pipe_is_quiet(tmp_path):
    job = _write(tmp_path, "job.txt", JOB)
    proc = subprocess.Popen([sys.executable, "-m", "lantern_nb", "compress", str(job)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the command writes, as `| head -1` after its line
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert rc == 141, (rc, err)
    head = subprocess.run(f"{sys.executable} -m lantern_nb compress {job} | head -c1", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert head.stdout == "R" and "Traceback" not in head.stderr, head.stderr
