"""The serving layer with deterministic fake models: HTTP contract, batching, load generator, CLI."""
from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import threading
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from lantern_nb.artifacts import ARTIFACTS, MissingArtifactError
from lantern_nb.cli import main as cli_main
from lantern_nb.profiles import load_profile
from lantern_nb.schema import LABELS
from lantern_nb.serving import (ExplanationModule, ClassificationModule, ServingModels, SummarizationModule, fit_pair, load_models)
from lantern_nb.serving.app import create_app
from lantern_nb.serving.batching import BatcherClosed, MicroBatcher
from lantern_nb.serving.loadgen import (ServerThread, batching_comparison, module_capacity, plan_requests,
                                        run_load, summarize_load, table5)

_WORD = re.compile(r"[a-z]{3,}")


def words(text: str) -> list[str]:
    return list(dict.fromkeys(_WORD.findall(text.lower())))


class _Recorder:
    """Records every batch size it was called with (thread-safe)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()

    def _record(self, n: int) -> None:
        with self._lock:
            self.batch_sizes.append(n)
        if self.delay_s:
            time.sleep(self.delay_s)  # a fixed per-call cost, as a model forward has


class FakeSummarizer(_Recorder):
    """Keeps the distinct words of 3+ letters: deterministic and shorter than the input."""

    def summarize(self, texts: list[str]) -> list[str]:
        self._record(len(texts))
        return [" ".join(words(t)) for t in texts]


class FakeClassifier(_Recorder):
    """Probabilities from the share of job words found in the résumé; 'EXPLODE' in a résumé raises."""

    def predict_proba(self, jobs: list[str], resumes: list[str]) -> np.ndarray:
        self._record(len(jobs))
        if any("EXPLODE" in p for p in resumes):
            raise ValueError("fake classifier exploded")
        out = []
        for j, p in zip(jobs, resumes):
            jw, pw = set(words(j)), set(words(p))
            o = len(jw & pw) / max(len(jw), 1)
            logits = np.array([1.0 - 8 * o, 0.5, 8 * o - 1.5])
            e = np.exp(logits - logits.max())
            out.append(e / e.sum())
        return np.array(out)


class FakeExplainer(_Recorder):
    """One line naming the label and the shared words: the explanation is conditioned on the label."""

    def explain(self, jobs: list[str], resumes: list[str], labels: list[str]) -> list[list[str]]:
        self._record(len(jobs))
        res = []
        for j, p, lab in zip(jobs, resumes, labels):
            common = sorted(set(words(j)) & set(words(p)))
            res.append([f"Fit is {lab}", f"shared: {', '.join(common[:5]) or 'nothing'}"])
        return res


def fake_models(cls_delay: float = 0.0, explain_delay: float = 0.0, sum_delay: float = 0.0) -> ServingModels:
    return ServingModels(FakeSummarizer(sum_delay), FakeClassifier(cls_delay), FakeExplainer(explain_delay))


CFG = dataclasses.replace(load_profile("smoke").serving, max_text_chars=2000, max_wait_ms=5.0, max_batch=16)
JOBS = [
    "Senior Python engineer. Requirements: python, sql, docker, kubernetes. Perks: free lunch.",
    "Data analyst. Must have sql, excel, tableau and statistics. We offer a gym.",
    "Nurse. Requires a nursing license, patient care, and teamwork. Great benefits.",
    "Frontend developer: javascript, react, css, typescript. Remote friendly.",
]
RESUMES = [
    "Backend developer with python, docker and sql experience.",
    "Registered nurse, patient care, teamwork, nursing license.",
    "Marketing manager, social media, branding.",
    "Analyst using excel, sql, statistics and tableau daily.",
]
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(fake_models(), CFG)) as c:
        yield c


def test_fakes_satisfy_protocols():
    m = fake_models()
    assert isinstance(m.summarizer, SummarizationModule)
    assert isinstance(m.classifier, ClassificationModule)
    assert isinstance(m.explainer, ExplanationModule)


def _stored_job(client: TestClient) -> str:
    r = client.post("/v1/jobs", json={"text": JOBS[0]})
    assert r.status_code == 201, r.text
    return r.json()["job_id"]


BAD_REQUESTS = [
    # (name, method, path, request kwargs, status, words the message must contain)
    ("invalid json", "post", "/v1/jobs", {"content": b'{"text": "abc', "headers": JSON}, 400, "not valid JSON"),
    ("non-utf8", "post", "/v1/jobs", {"content": b'{"text": "\xff\xfe job"}', "headers": JSON}, 400, "UTF-8"),
    ("latin-1 charset", "post", "/v1/jobs", {"content": b'{"text": "a"}',
                                             "headers": {"content-type": "application/json; charset=latin-1"}},
     415, "Content-Type"),
    ("not json content type", "post", "/v1/fit", {"content": b"job=1", "headers": {"content-type": "text/plain"}},
     415, "application/json"),
    ("no content type", "post", "/v1/jobs", {"content": b'{"text": "a"}'}, 415, "Content-Type"),
    ("empty body", "post", "/v1/jobs", {"content": b"", "headers": JSON}, 422, "body is empty"),
    ("array body", "post", "/v1/jobs", {"json": ["text"]}, 422, "must be a JSON object"),
    ("missing text", "post", "/v1/jobs", {"json": {}}, 422, "'text' is missing"),
    ("text wrong type", "post", "/v1/jobs", {"json": {"text": 42}}, 422, "'text' must be a string, got a number"),
    ("text bool (strict)", "post", "/v1/jobs", {"json": {"text": True}}, 422, "must be a string, got a boolean"),
    ("empty text", "post", "/v1/jobs", {"json": {"text": ""}}, 422, "must not be empty"),
    ("blank text", "post", "/v1/jobs", {"json": {"text": " \n\t"}}, 422, "must not be empty"),
    ("lone surrogate", "post", "/v1/jobs", {"content": b'{"text": "ok \\ud800"}', "headers": JSON}, 422,
     "unpaired surrogate"),
    ("unknown field", "post", "/v1/jobs", {"json": {"text": "a", "txt": "b"}}, 422, "unknown field 'txt'"),
    ("text too long", "post", "/v1/jobs", {"json": {"text": "x" * 2001}}, 413, "over the limit of 2000"),
    ("body too large", "post", "/v1/jobs", {"json": {"text": "x" * 200_000}}, 413, "body is over"),
    ("both job_id and job_text", "post", "/v1/fit", {"json": {"job_id": "a", "job_text": "b", "resume_text": "c"}},
     422, "exactly one of 'job_id' or 'job_text' (both"),
    ("neither job_id nor job_text", "post", "/v1/fit", {"json": {"resume_text": "c"}}, 422, "(neither given)"),
    ("missing resume_text", "post", "/v1/fit", {"json": {"job_text": "b"}}, 422, "'resume_text' is missing"),
    ("null resume_text", "post", "/v1/explain", {"json": {"job_text": "b", "resume_text": None}}, 422, "got null"),
    ("empty resume_text", "post", "/v1/fit", {"json": {"job_text": "b", "resume_text": ""}}, 422, "'resume_text' must not be empty"),
    ("job_id wrong type", "post", "/v1/explain", {"json": {"job_id": 7, "resume_text": "c"}}, 422, "'job_id' must be a string"),
    ("unknown job id", "post", "/v1/fit", {"json": {"job_id": "nope", "resume_text": "c"}}, 404, "POST /v1/jobs"),
    ("unknown job id explain", "post", "/v1/explain", {"json": {"job_id": "nope", "resume_text": "c"}}, 404, "unknown job_id"),
    ("resume_text too long", "post", "/v1/fit", {"json": {"job_text": "b", "resume_text": "p" * 2001}}, 413, "'resume_text'"),
    ("job_text too long", "post", "/v1/explain", {"json": {"job_text": "b" * 2001, "resume_text": "p"}}, 413, "'job_text'"),
    ("unknown route", "get", "/v1/nothing", {}, 404, "endpoints"),
    ("wrong method", "get", "/v1/fit", {}, 405, "not allowed"),
]


@pytest.mark.parametrize("name,method,path,kwargs,status,needle", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_request_gets_4xx_with_message_and_service_keeps_answering(client, name, method, path, kwargs,
                                                                       status, needle):
    r = getattr(client, method)(path, **kwargs) if method == "get" else client.request("POST", path, **kwargs)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "message"} and needle in body["message"], body
    ok = client.post("/v1/fit", json={"job_text": JOBS[0], "resume_text": RESUMES[0]})
    assert ok.status_code == 200 and ok.json()["label"] in LABELS


def test_jobs_then_fit_and_explain_by_id(client):
    r = client.post("/v1/jobs", json={"text": JOBS[0]})
    assert r.status_code == 201
    job = r.json()
    assert job["chars_after"] == len(job["summary"]) < job["chars_before"] == len(JOBS[0])
    by_id = client.post("/v1/fit", json={"job_id": job["job_id"], "resume_text": RESUMES[0]}).json()
    by_text = client.post("/v1/fit", json={"job_text": JOBS[0], "resume_text": RESUMES[0]}).json()
    assert by_id["label"] == by_text["label"] == "High"
    assert by_id["probabilities"] == by_text["probabilities"]
    assert math.isclose(sum(by_id["probabilities"].values()), 1.0, rel_tol=1e-9)
    assert "classify" in by_id["timing_ms"] and "summarize" not in by_id["timing_ms"]
    assert "summarize" in by_text["timing_ms"]
    ex = client.post("/v1/explain", json={"job_id": job["job_id"], "resume_text": RESUMES[2]}).json()
    low = client.post("/v1/fit", json={"job_id": job["job_id"], "resume_text": RESUMES[2]}).json()
    assert ex["label"] == low["label"] == "Low"
    assert ex["explanation"][0] == "Fit is Low"  # conditioned on the classifier's label
    assert set(ex["timing_ms"]) >= {"classify", "explain", "total"}


def test_healthz_lists_modules(client):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and set(h["modules"]) == {"summarize", "classify", "explain"}
    assert h["modules"]["classify"]["batching"] is True


def test_model_failure_is_json_error_and_service_recovers(client):
    r = client.post("/v1/fit", json={"job_text": JOBS[0], "resume_text": "EXPLODE"})
    assert r.status_code == 500 and "classify module failed" in r.json()["message"]
    assert client.post("/v1/fit", json={"job_text": JOBS[0], "resume_text": RESUMES[0]}).status_code == 200


async def _concurrent_fits(app, pairs: list[tuple[str, str]], path: str = "/v1/fit") -> list[dict]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        rs = await asyncio.gather(*(c.post(path, json={"job_text": j, "resume_text": r}) for j, r in pairs))
    for b in app.state.batchers.values():
        await b.aclose()
    assert all(r.status_code == 200 for r in rs), [r.text for r in rs if r.status_code != 200]
    return [{k: v for k, v in r.json().items() if k != "timing_ms"} for r in rs]


def test_batched_results_equal_unbatched_and_requests_get_batched():
    pairs = [(j, r) for j in JOBS for r in RESUMES] * 2
    batched_models, single_models = fake_models(cls_delay=0.005), fake_models(cls_delay=0.005)
    batched = asyncio.run(_concurrent_fits(create_app(batched_models, CFG), pairs, "/v1/explain"))
    single = asyncio.run(_concurrent_fits(create_app(single_models, CFG, batching=False), pairs, "/v1/explain"))
    assert batched == single
    assert max(batched_models.classifier.batch_sizes) > 1
    assert max(batched_models.classifier.batch_sizes) <= CFG.max_batch
    assert max(batched_models.explainer.batch_sizes) > 1
    assert set(single_models.classifier.batch_sizes) == {1}
    assert sum(batched_models.classifier.batch_sizes) == len(pairs)


def test_batcher_routes_errors_to_the_right_callers_and_shuts_down():
    def fn(xs: list[int]) -> list[int]:
        if any(x < 0 for x in xs):
            raise ValueError("negative input")
        return [x * 10 for x in xs]

    async def main() -> None:
        b: MicroBatcher[int, int] = MicroBatcher(fn, name="t", max_batch=8, max_wait_ms=20)
        res = await asyncio.gather(*(b.submit(x) for x in [1, 2, -3, 4, 5]), return_exceptions=True)
        assert res[:2] == [10, 20] and res[3:] == [40, 50]
        assert isinstance(res[2], ValueError)
        assert b.stats.max_batch_seen == 5 and b.stats.errors == 1
        await b.aclose()
        with pytest.raises(BatcherClosed):
            await b.submit(1)

    asyncio.run(main())


def test_batcher_bounds_wait_and_batch():
    sizes: list[int] = []

    def fn(xs: list[int]) -> list[int]:
        sizes.append(len(xs))
        return xs

    async def main() -> None:
        b: MicroBatcher[int, int] = MicroBatcher(fn, name="t", max_batch=4, max_wait_ms=5)
        t0 = time.perf_counter()
        assert await b.submit(1) == 1  # a lone request waits at most ~max_wait
        assert time.perf_counter() - t0 < 1.0
        assert await asyncio.gather(*(b.submit(i) for i in range(10))) == list(range(10))
        await b.aclose()

    asyncio.run(main())
    assert max(sizes) == 4 and sum(sizes) == 11


def test_loadgen_on_server_thread_summarises_three_modules():
    plan = plan_requests(CFG.mix, 200, len(JOBS), len(RESUMES), seed=3)
    assert plan == plan_requests(CFG.mix, 200, len(JOBS), len(RESUMES), seed=3)
    # seed 3 puts all three modules among the first 16 requests, which start at once with concurrency 16,
    # so all three are recorded however slow the machine is (the time bound only stops new requests)
    assert {m for m, _, _ in plan[:16]} == {"summarize", "classify", "explain"}
    with ServerThread(create_app(fake_models(cls_delay=0.002, explain_delay=0.01), CFG)) as srv:
        assert srv.base_url.startswith("http://127.0.0.1:") and srv.port > 0
        records = run_load(srv.base_url, JOBS, RESUMES, mix=CFG.mix, n_requests=150, duration_s=1.5,
                           concurrency=16, seed=3)
        df = summarize_load(records)
        assert list(df.index) == ["summarize", "classify", "explain"]
        assert df["errors"].sum() == 0 and df["count"].sum() == len(records) > 0
        assert (df["p95_ms"] >= df["p50_ms"]).all() and (df["throughput_rps"] > 0).all()
        cap = module_capacity(srv.base_url, JOBS, RESUMES, concurrency=8,
                              n_requests={"summarize": 24, "classify": 48, "explain": 16}, duration_s=1.0)
        assert list(cap.index) == ["summarize", "classify", "explain"]
        assert cap.loc["explain", "throughput_norm"] == pytest.approx(1.0)
        assert (cap["errors"] == 0).all()
        t5 = table5(cap, CFG.mix, load=df)
        assert t5.loc["Classification", "peak_traffic"] == 30 and t5.loc["Classification", "paper_throughput"] == 80
    with pytest.raises(ValueError, match="loopback"):
        run_load("http://10.0.0.1:80", JOBS, RESUMES, mix=CFG.mix, n_requests=1, duration_s=1, concurrency=1)


def test_batching_comparison_returns_both_numbers():
    cmp = batching_comparison(fake_models(cls_delay=0.003), CFG, JOBS, RESUMES, concurrency=16,
                              n_requests=64, duration_s=1.0)
    assert cmp.batched_rps > 0 and cmp.unbatched_rps > 0 and np.isfinite(cmp.speedup)
    assert list(cmp.table.index) == ["batched", "one_at_a_time"]
    assert cmp.table.loc["one_at_a_time", "mean_batch"] == 1.0


def test_fit_pair_in_process_times_each_module():
    rep = fit_pair(fake_models(), JOBS[1], RESUMES[3])
    assert rep.label == "High" and rep.explanation and rep.explanation[0] == "Fit is High"
    assert set(rep.timing_ms) == {"summarize", "classify", "explain", "total"}


def test_cli_fit(tmp_path, monkeypatch, capsys):
    import lantern_nb.serving.cli as serving

    monkeypatch.setattr(serving, "load_models", lambda cfg: fake_models())
    job, resume = tmp_path / "job.txt", tmp_path / "resume.txt"
    job.write_text(JOBS[2], encoding="utf-8")
    resume.write_text(RESUMES[1], encoding="utf-8")
    assert cli_main(["fit", "--job", str(job), "--resume", str(resume), "--profile", "smoke", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "label: High" in out and "Fit is High" in out and "classify=" in out

    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9 latin-1")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n", encoding="utf-8")
    for path, needle in ((tmp_path / "missing.txt", "not found"), (bad, "not UTF-8"), (empty, "is empty")):
        assert cli_main(["fit", "--job", str(path), "--resume", str(resume), "--profile", "smoke"]) == 2
        assert needle in capsys.readouterr().err


def test_load_models_names_the_missing_artifact(tmp_path, monkeypatch):
    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    with pytest.raises(MissingArtifactError, match="summarizer"):
        load_models(load_profile("smoke"))


def test_load_models_calls_the_registered_loaders(tmp_path, monkeypatch):
    import sys
    import types

    cfg = load_profile("smoke")
    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    calls: dict[str, tuple] = {}
    fakes = fake_models()
    for module, func, key, obj in (("lantern_nb.summarizer", "load_summarizer", "summarizer", fakes.summarizer),
                                   ("lantern_nb.classify", "load_classifier", "classifier", fakes.classifier),
                                   ("lantern_nb.explainer", "load_explainer", "explainer", fakes.explainer)):
        (tmp_path / "data" / "smoke" / ARTIFACTS[key][0]).mkdir(parents=True)
        mod = types.ModuleType(module)
        setattr(mod, func, lambda path, _k=key, _o=obj, **kw: (calls.__setitem__(_k, (path, kw)), _o)[1])
        monkeypatch.setitem(sys.modules, module, mod)
    models = load_models(cfg)
    assert models.classifier is fakes.classifier and models.explainer is fakes.explainer
    assert calls["explainer"][1] == {"max_new_tokens": cfg.serving.explain_max_new_tokens}
    assert calls["classifier"][0] == tmp_path / "data" / "smoke" / ARTIFACTS["classifier"][0]


def test_fit_explorer_widget():
    pytest.importorskip("ipywidgets")
    from lantern_nb.serving.explorer import fit_explorer

    ui = fit_explorer(fake_models(), JOBS[0], RESUMES[0])
    button, out = ui.children[2].children[0], ui.children[3]
    button.click()
    assert "High" in out.value and "ms" in out.value and "Fit is High" in out.value
    ui.children[1].value = ""
    button.click()
    assert "Paste a résumé" in out.value


def test_server_process_lifecycle_no_orphan():
    import os

    from lantern_nb.serving import process

    srv = process.ServerProcess("smoke", {"serving.max_batch": 8}, models="lantern_nb.serving.testing:fake_models",
                                torch_threads=1)
    with srv:
        assert srv.base_url.startswith("http://127.0.0.1:") and srv.port > 0 and srv in process._LIVE
        h = srv.healthz()
        assert h["status"] == "ok" and h["modules"]["classify"]["max_batch"] == 8
        r = httpx.post(f"{srv.base_url}/v1/fit", json={"job_text": JOBS[0], "resume_text": RESUMES[0]}, trust_env=False)
        assert r.status_code == 200 and r.json()["label"] == "High"
        pid = srv.pid
    assert srv.proc.returncode is not None and srv not in process._LIVE  # terminated and reaped
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{srv.base_url}/healthz", trust_env=False, timeout=1.0)
    srv.stop()  # idempotent


def test_server_process_startup_failure_is_reported_and_cleaned_up():
    from lantern_nb.serving.process import ServerProcess

    srv = ServerProcess("smoke", models="lantern_nb.serving.testing:no_such_factory", startup_timeout_s=60)
    with pytest.raises(RuntimeError, match="no_such_factory"):
        srv.start()
    assert srv.proc is not None and srv.proc.returncode not in (None, 0)


def test_tiny_torch_models_batched_equal_unbatched():
    pytest.importorskip("torch")
    from lantern_nb.serving.testing import tiny_models

    models = tiny_models(load_profile("smoke"), max_new_tokens=4)
    pairs = [(j, r) for j in JOBS for r in RESUMES]

    async def run(batching: bool) -> list[dict]:
        app = create_app(models, CFG, batching=batching)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            rs = await asyncio.gather(*(c.post("/v1/fit", json={"job_text": j, "resume_text": r}) for j, r in pairs))
        sizes = app.state.batchers["classify"].stats.max_batch_seen
        for b in app.state.batchers.values():
            await b.aclose()
        assert all(r.status_code == 200 for r in rs), [r.text for r in rs]
        return [r.json() | {"max_batch_seen": sizes} for r in rs]

    batched, single = asyncio.run(run(True)), asyncio.run(run(False))
    assert batched[0]["max_batch_seen"] > 1 and single[0]["max_batch_seen"] == 1
    for b, s in zip(batched, single):
        assert b["label"] == s["label"]
        assert b["probabilities"] == pytest.approx(s["probabilities"], abs=1e-5)
    with TestClient(create_app(models, CFG)) as c:
        r = c.post("/v1/explain", json={"job_text": JOBS[0], "resume_text": RESUMES[0]})
        assert r.status_code == 200 and isinstance(r.json()["explanation"], list)
        assert c.get("/healthz").json()["modules"]["classify"]["model"]["params_m"] > 0


def test_model_costs_and_time_breakdown():
    import pandas as pd

    from lantern_nb.serving.bench import BenchmarkResult, model_costs, time_breakdown
    from lantern_nb.serving.loadgen import BatchingComparison
    from lantern_nb.serving.testing import fake_models, sample_corpus

    jobs, resumes = sample_corpus(4, 2)
    costs = model_costs(fake_models(), jobs, resumes, batch_sizes=(1, 4), seconds=0.05)
    assert list(costs.index) == [("classify", 1), ("classify", 4), ("explain", 1), ("explain", 4)]
    assert all(costs.loc[(m, b), "requests"] % b == 0 for m, b in costs.index)
    cap = pd.DataFrame({"throughput_rps": [100.0, 5.0], "mean_batch": [3.2, 1.4]}, index=["classify", "explain"])
    res = BenchmarkResult(load=pd.DataFrame(), records=[], capacity=cap, models={},
                          batching=BatchingComparison(1.0, 1.0, 1.0, pd.DataFrame()))
    fake = pd.DataFrame({"model_rps": [50.0, 400.0, 10.0, 20.0]}, index=costs.index)
    result = time_breakdown(res, fake)
    br = result.table
    assert br.loc["Classification", "model batch"] == 4 and br.loc["Explanation", "model batch"] == 1
    assert br.loc["Classification", "overhead ms/request"] == pytest.approx(1000 / 100 - 1000 / 400)
    assert br.loc["Explanation", "overhead ms/request"] == pytest.approx(1000 / 5 - 1000 / 10)
    assert result.http_ratio == pytest.approx(20.0) and result.model_ratio == pytest.approx(40.0)


def test_handwritten_pairs_are_judged_and_drawn_with_the_served_pipeline():
    import matplotlib

    matplotlib.use("Agg")
    from lantern_nb.serving.bench import handwritten_figure
    from lantern_nb.serving.pipeline import handwritten_pairs, judge_handwritten
    from lantern_nb.serving.testing import fake_models

    pairs = handwritten_pairs()
    assert len(pairs) == 8 and {p["expect"] for p in pairs} <= {"High", "Low"}
    table = judge_handwritten(fake_models())
    assert list(table["pair"]) == [p["id"] for p in pairs]
    assert (table["right"] == (table["predicted"] == table["expected"])).all()
    assert {"p(Low)", "p(Medium)", "p(High)", "explanation"} <= set(table.columns)
    fig = handwritten_figure(table)
    assert f"{int(table['right'].sum())} of 8 right" in fig.axes[0].get_title()
