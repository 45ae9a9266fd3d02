"""The HTTP service (FastAPI): job ingestion with compression, fit classification, explanation.

Endpoints (paper Sec. 3.5.3):
  POST /v1/jobs     {"text"}                               -> job_id, summary, summary_source, warning,
                                                              chars_before/after
  POST /v1/fit      {"job_id" | "job_text", "resume_text"} -> label, probabilities, timing_ms, warning
  POST /v1/explain  {"job_id" | "job_text", "resume_text"} -> label, explanation lines, timing_ms, warning
  GET  /healthz                                            -> status, per-module batching counters
Every client mistake is answered with a 4xx JSON body {"error", "message", "details"} whose message
says what is wrong and how to fix it; every text passes the package's one text check
(`lantern_nb.textcheck.check_text`: 413 over max_text_chars, 422 control characters or HTML/XML).
An empty summarizer output is replaced by the rule-based compression, with a warning in the
response. Model calls are micro-batched per module (`batching`).
"""
from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from lantern_nb.profiles import Profile, ServingCfg
from lantern_nb.schema import LABELS
from lantern_nb.serving.pipeline import ServingModels, proba_rows, top_label, usable_summary
from lantern_nb.serving.batching import BatcherClosed, MicroBatcher
from lantern_nb.textcheck import TextRefused, check_text

MAX_STORED_JOBS = 100_000  # oldest jobs are evicted beyond this (bounded memory)

_EXAMPLES = {
    "/v1/jobs": '{"text": "<full job description>"}',
    "/v1/fit": '{"job_id": "<id from POST /v1/jobs>", "resume_text": "<candidate résumé>"} '
               'or {"job_text": "<job description>", "resume_text": "<candidate résumé>"}',
}
_EXAMPLES["/v1/explain"] = _EXAMPLES["/v1/fit"]
_ENDPOINTS = "POST /v1/jobs, POST /v1/fit, POST /v1/explain, GET /healthz"


class APIError(Exception):
    """A request the service refuses, with the HTTP status and a message that says how to fix it."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or []


def _error_response(status: int, code: str, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": code, "message": message, "details": details or []})


def _check_text(v: str | None) -> str | None:
    """Reject blank text and unpaired surrogates (JSON "\\ud800" parses but cannot be encoded back to UTF-8)."""
    if v is None:
        return v
    if not v.strip():
        raise ValueError("must not be empty or whitespace only")
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"contains an unpaired surrogate escape at character {e.start}; send valid Unicode text") from e
    return v


class JobIn(BaseModel):
    """Body of POST /v1/jobs."""

    model_config = ConfigDict(strict=True, extra="forbid")
    text: str

    @field_validator("text")
    @classmethod
    def _text_valid(cls, v: str) -> str:
        return _check_text(v)  # type: ignore[return-value]


class PairIn(BaseModel):
    """Body of POST /v1/fit and /v1/explain: a stored job (job_id) or a raw one (job_text), plus a résumé."""

    model_config = ConfigDict(strict=True, extra="forbid")
    job_id: str | None = None
    job_text: str | None = None
    resume_text: str

    @field_validator("job_id", "job_text", "resume_text")
    @classmethod
    def _fields_valid(cls, v: str | None) -> str | None:
        return _check_text(v)

    @model_validator(mode="after")
    def _one_job(self) -> "PairIn":
        if (self.job_id is None) == (self.job_text is None):
            given = "both" if self.job_id is not None else "neither"
            raise ValueError(f"give exactly one of 'job_id' or 'job_text' ({given} given)")
        return self


class JobOut(BaseModel):
    job_id: str
    summary: str
    summary_source: str  # "model", or "rules" when the summarizer's output was empty (see warning)
    warning: str | None = None
    chars_before: int
    chars_after: int
    timing_ms: dict[str, float]


class FitOut(BaseModel):
    label: str
    probabilities: dict[str, float]
    job_id: str | None
    timing_ms: dict[str, float]
    warning: str | None = None  # set when a raw job_text's summary fell back to the rule-based compression


class ExplainOut(FitOut):
    explanation: list[str]


@dataclass
class StoredJob:
    summary: str
    chars_before: int
    chars_after: int


class JobStore:
    """In-memory compressed-job store (paper: compress once at ingestion, reuse for every request)."""

    def __init__(self, capacity: int = MAX_STORED_JOBS) -> None:
        self.capacity = capacity
        self._jobs: OrderedDict[str, StoredJob] = OrderedDict()

    def add(self, job: StoredJob) -> str:
        job_id = uuid.uuid4().hex
        self._jobs[job_id] = job
        while len(self._jobs) > self.capacity:
            self._jobs.popitem(last=False)
        return job_id

    def get(self, job_id: str) -> StoredJob | None:
        return self._jobs.get(job_id)

    def __len__(self) -> int:
        return len(self._jobs)


def _json_type(v: Any) -> str:
    for tp, name in ((bool, "a boolean"), (int, "a number"), (float, "a number"), (str, "a string"),
                     (list, "an array"), (dict, "an object"), (type(None), "null")):
        if isinstance(v, tp):
            return name
    return type(v).__name__


def _explain_validation(errors: list[dict[str, Any]], path: str, allowed: tuple[str, ...]) -> tuple[int, str, list[dict[str, Any]]]:
    """Turn pydantic/FastAPI validation errors into (status, message, details) a person can act on."""
    example = _EXAMPLES.get(path, "a JSON object")
    details: list[dict[str, Any]] = []
    status = 422
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = ".".join(loc)
        kind = err.get("type", "")
        if kind == "json_invalid":
            status = 400
            reason = str((err.get("ctx") or {}).get("error", "malformed JSON")).removesuffix(" at")
            pos = f" at character {loc[0]}" if loc else ""
            problem = f"the body is not valid JSON ({reason}{pos}); send a JSON object like {example}"
            field = ""
        elif kind == "value_error":
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            problem = f"field '{field}' {msg}" if field else msg
        elif not field and kind == "missing":
            problem = f"the request body is empty; send a JSON object like {example}"
        elif not field:
            problem = f"the body must be a JSON object, got {_json_type(err.get('input'))}; send {example}"
        elif kind == "missing":
            problem = f"field '{field}' is missing; send {example}"
        elif kind == "string_type":
            problem = f"field '{field}' must be a string, got {_json_type(err.get('input'))}"
        elif kind == "extra_forbidden":
            problem = f"unknown field '{field}'; allowed fields: {', '.join(allowed)}"
        else:
            problem = f"field '{field}': {err.get('msg')}"
        details.append({"field": field or None, "problem": problem})
    message = "; ".join(d["problem"] for d in details) or "invalid request"
    return status, message, details


class BodyGuard:
    """ASGI middleware for POST /v1/*: JSON content type (415), body size (413), UTF-8 (400).

    It runs before FastAPI parses the body, so these cases get precise messages instead of a
    generic parse error; the checked body is replayed to the app unchanged.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Awaitable[dict[str, Any]]],
                       send: Callable[..., Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        media, _, params = headers.get(b"content-type", b"").decode("latin-1").partition(";")
        charset = next((p.split("=", 1)[1].strip().strip('"').lower() for p in params.split(";")
                        if p.strip().lower().startswith("charset=")), "utf-8")
        if media.strip().lower() != "application/json" or charset not in ("utf-8", "utf8"):
            got = headers.get(b"content-type", b"").decode("latin-1") or "none"
            await _error_response(415, "unsupported_media_type",
                                  f"Content-Type must be 'application/json' (UTF-8), got '{got}'; send the body as "
                                  f"JSON with header 'Content-Type: application/json'")(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await _error_response(413, "body_too_large",
                                      f"request body is over {self.max_body_bytes} bytes; each text is limited "
                                      f"to the service's max_text_chars, shorten the texts")(scope, receive, send)
                return
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError as e:
            await _error_response(400, "invalid_encoding",
                                  f"request body is not valid UTF-8 (bad byte at offset {e.start}); encode the "
                                  f"JSON text as UTF-8")(scope, receive, send)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def model_info(obj: Any) -> dict[str, Any]:
    """What serves a module: wrapper class, torch architecture and parameter count (millions) if any."""
    net = getattr(obj, "model", None)
    info: dict[str, Any] = {"class": type(obj).__name__, "arch": None, "params_m": None, "decoder": None}
    if net is not None and hasattr(net, "parameters"):
        config = getattr(net, "config", None)
        info["arch"] = getattr(config, "model_type", None)
        info["params_m"] = round(sum(p.numel() for p in net.parameters()) / 1e6, 3)
        encoder = getattr(obj, "encoder", None)
        info["decoder"] = (bool(getattr(encoder, "is_decoder", False)) if encoder is not None
                           else hasattr(net, "generate"))
    return info


def create_app(models: ServingModels, cfg: Profile | ServingCfg, *, batching: bool = True) -> FastAPI:
    """The service for `models` with the limits and batching settings of `cfg` (a profile or its serving section).

    `batching=False` runs every module one request at a time (the benchmark's baseline).
    """
    scfg = cfg.serving if isinstance(cfg, Profile) else cfg
    max_chars = scfg.max_text_chars

    def summarize_batch(texts: list[str]) -> list[str]:
        out = list(models.summarizer.summarize(texts))
        if not all(isinstance(s, str) for s in out):
            raise RuntimeError("summarizer returned a non-string summary")
        return out

    def classify_batch(items: list[tuple[str, str]]) -> list[dict[str, float]]:
        jobs, resumes = [j for j, _ in items], [r for _, r in items]
        return proba_rows(models.classifier.predict_proba(jobs, resumes), len(items))

    def explain_batch(items: list[tuple[str, str, str]]) -> list[list[str]]:
        out = models.explainer.explain([j for j, _, _ in items], [r for _, r, _ in items], [lab for _, _, lab in items])
        if any(isinstance(lines, str) for lines in out):
            raise RuntimeError("explainer returned a string where a list of lines was expected")
        return [[str(line) for line in lines] for lines in out]

    kw = dict(max_batch=scfg.max_batch, max_wait_ms=scfg.max_wait_ms, batching=batching)
    batchers: dict[str, MicroBatcher[Any, Any]] = {
        "summarize": MicroBatcher(summarize_batch, name="summarize", **kw),
        "classify": MicroBatcher(classify_batch, name="classify", **kw),
        "explain": MicroBatcher(explain_batch, name="explain", **kw),
    }
    store = JobStore()
    served = {"summarize": model_info(models.summarizer), "classify": model_info(models.classifier),
              "explain": model_info(models.explainer)}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for b in batchers.values():
            await b.aclose()

    app = FastAPI(title="LANTERN job-person fit service", version="0.1.0", lifespan=lifespan,
                  description="Summarize job descriptions, classify fit, explain it (paper Sec. 3.5.3).")
    app.state.batchers = batchers
    app.state.jobs = store
    app.state.models = models
    app.add_middleware(BodyGuard, max_body_bytes=12 * 2 * max_chars + 65536)  # JSON \u escapes: <= 12 bytes/char

    allowed = {"/v1/jobs": tuple(JobIn.model_fields), "/v1/fit": tuple(PairIn.model_fields),
               "/v1/explain": tuple(PairIn.model_fields)}

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        path = request.url.path
        status, message, details = _explain_validation(list(exc.errors()), path, allowed.get(path, ()))
        return _error_response(status, "invalid_json" if status == 400 else "invalid_request", message, details)

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return _error_response(exc.status, exc.code, exc.message, exc.details)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            msg = f"no endpoint {request.method} {request.url.path}; endpoints: {_ENDPOINTS}"
        elif exc.status_code == 405:
            msg = f"{request.method} is not allowed on {request.url.path}; endpoints: {_ENDPOINTS}"
        else:
            msg = str(exc.detail)
        return _error_response(exc.status_code, "http_error", msg)

    def check_field(name: str, text: str) -> None:
        try:
            check_text(text, f"field '{name}'", max_chars)
        except TextRefused as e:
            raise APIError(e.status, e.code, e.message) from None

    async def run(module: str, item: Any, timing: dict[str, float]) -> Any:
        t0 = time.perf_counter()
        try:
            return await batchers[module].submit(item)
        except BatcherClosed as e:
            raise APIError(503, "unavailable", f"{e}; retry against a running service") from e
        except Exception as e:
            raise APIError(500, "model_error", f"the {module} module failed: {type(e).__name__}: {e}") from e
        finally:
            timing[module] = round((time.perf_counter() - t0) * 1000, 3)

    async def summarize(text: str, timing: dict[str, float]) -> tuple[str, str, str | None]:
        """The summary to classify against, its source and a warning (see `usable_summary`)."""
        summary = await run("summarize", text, timing)
        try:
            return usable_summary(text, summary)
        except TextRefused as e:
            raise APIError(e.status, e.code, e.message) from None

    async def resolve_job(body: PairIn, timing: dict[str, float]) -> tuple[str, str | None, str | None]:
        if body.job_id is not None:
            job = store.get(body.job_id)
            if job is None:
                raise APIError(404, "unknown_job_id",
                               f"unknown job_id '{body.job_id}'; create the job with POST /v1/jobs first "
                               f"(ids are kept in memory and reset when the service restarts), or send 'job_text'")
            return job.summary, body.job_id, None
        assert body.job_text is not None
        check_field("job_text", body.job_text)
        summary, _, warning = await summarize(body.job_text, timing)
        return summary, None, warning

    async def classify(body: PairIn, timing: dict[str, float]) -> tuple[str, str | None, dict[str, float], str,
                                                                        str | None]:
        check_field("resume_text", body.resume_text)
        job, job_id, warning = await resolve_job(body, timing)
        probs = await run("classify", (job, body.resume_text), timing)
        return job, job_id, probs, top_label(probs), warning

    @app.post("/v1/jobs", response_model=JobOut, status_code=201)
    async def ingest_job(body: JobIn) -> JobOut:
        """Compress a job description once and store it; later requests refer to it by job_id."""
        t_all, timing = time.perf_counter(), {}
        check_field("text", body.text)
        summary, source, warning = await summarize(body.text, timing)
        job = StoredJob(summary=summary, chars_before=len(body.text), chars_after=len(summary))
        job_id = store.add(job)
        timing["total"] = round((time.perf_counter() - t_all) * 1000, 3)
        return JobOut(job_id=job_id, summary=summary, summary_source=source, warning=warning,
                      chars_before=job.chars_before, chars_after=job.chars_after, timing_ms=timing)

    @app.post("/v1/fit", response_model=FitOut)
    async def fit(body: PairIn) -> FitOut:
        """Fit level and class probabilities for a job (stored or raw) and a résumé."""
        t_all, timing = time.perf_counter(), {}
        _, job_id, probs, label, warning = await classify(body, timing)
        timing["total"] = round((time.perf_counter() - t_all) * 1000, 3)
        return FitOut(label=label, probabilities=probs, job_id=job_id, timing_ms=timing, warning=warning)

    @app.post("/v1/explain", response_model=ExplainOut)
    async def explain(body: PairIn) -> ExplainOut:
        """The classifier's label plus explanation lines conditioned on it."""
        t_all, timing = time.perf_counter(), {}
        job, job_id, probs, label, warning = await classify(body, timing)
        lines = await run("explain", (job, body.resume_text, label), timing)
        timing["total"] = round((time.perf_counter() - t_all) * 1000, 3)
        return ExplainOut(label=label, probabilities=probs, job_id=job_id, explanation=lines, timing_ms=timing,
                          warning=warning)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness plus each module's batching settings and counters."""
        return {"status": "ok", "labels": list(LABELS), "jobs_stored": len(store),
                "modules": {name: {**b.describe(), "model": served[name]} for name, b in batchers.items()}}

    return app


def reset_stats(app: FastAPI) -> None:
    """Zero the batching counters of every module (between benchmark phases)."""
    for b in app.state.batchers.values():
        b.reset_stats()


__all__ = ["APIError", "JobIn", "JobStore", "PairIn", "create_app", "model_info", "reset_stats"]
