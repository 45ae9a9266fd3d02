"""Load generation and the serving benchmark behind Table 5 (paper Sec. 6.2).

- `ServerThread`: the service on 127.0.0.1 (free port) in a background thread, for tests; it shares
  this interpreter's GIL with the generator, so benchmarks use `process.ServerProcess` instead.
- `run_load`: a closed-loop asyncio generator (`RawConnection`: keep-alive HTTP/1.1, ~0.4 ms of CPU
  per request against ~6 ms with httpx), bounded in request count and time, at a
  traffic mix (paper: summarize 4, classify 30, explain 1), requests drawn by a seeded RNG.
- `summarize_load`: per-module count, errors, throughput and P50/P95 latency.
- `module_capacity`: each module saturated alone — Table 5's throughput column is a capacity
  (QPS per server), normalised to the explanation module.
- `batching_comparison`: classification capacity with micro-batching vs one request at a time,
  both measured in the same call on the same models.
"""
from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Coroutine, Mapping, Sequence, TypeVar
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd

from lantern_nb.paper import beside_paper
from lantern_nb.profiles import Profile, ServingCfg
from lantern_nb.serving.pipeline import MODULES, ServingModels

T = TypeVar("T")

ENDPOINTS: dict[str, str] = {"summarize": "/v1/jobs", "classify": "/v1/fit", "explain": "/v1/explain"}
MODULE_TITLES: dict[str, str] = {"summarize": "Summarization", "classify": "Classification", "explain": "Explanation"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class RequestRecord:
    """One request of a load run: module, HTTP status (0 = transport error/timeout), timing."""

    module: str
    status: int
    latency_s: float
    start_s: float  # seconds since the run started
    end_s: float
    error: str | None = None


def _serving(cfg: Profile | ServingCfg) -> ServingCfg:
    return cfg.serving if isinstance(cfg, Profile) else cfg


def _run_coro(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion, also from inside Jupyter's running event loop (via a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as ex:
        return ex.submit(asyncio.run, coro).result()


def _check_loopback(base_url: str) -> None:
    host = urlsplit(base_url).hostname
    if host not in _LOOPBACK:
        raise ValueError(f"load generation only targets loopback (127.0.0.1); got host {host!r} in {base_url!r}")


class ServerThread:
    """Run `app` with uvicorn on 127.0.0.1 in a daemon thread; a context manager.

    Port 0 binds a free port (read `port` / `base_url`). `start` waits until /healthz answers;
    `stop` asks uvicorn to exit (running the app's shutdown, which closes the batchers) and joins.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, startup_timeout_s: float = 15.0,
                 log_level: str = "warning") -> None:
        import uvicorn

        if host not in _LOOPBACK:
            raise ValueError(f"ServerThread serves on loopback only; got host {host!r}")
        self.app, self.host, self.startup_timeout_s = app, host, startup_timeout_s
        self.port: int = port  # the bound port once started (port 0 asks the OS for a free one)
        self.server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level,
                                                    lifespan="on", access_log=False))
        self._thread = threading.Thread(target=self._serve, name="uvicorn-serving", daemon=True)
        self._error: BaseException | None = None

    def _serve(self) -> None:
        try:
            self.server.run()
        except BaseException as e:  # surfaced by start()
            self._error = e

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the service did not start within {self.startup_timeout_s} s "
                                   f"(port {self.port} in use?): {self._error!r}")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=self.base_url, trust_env=False, timeout=2.0) as client:
            while time.monotonic() < deadline:
                try:
                    if client.get("/healthz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"the service did not answer /healthz within {self.startup_timeout_s} s")

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _check_mix(mix: Mapping[str, float]) -> dict[str, float]:
    bad = sorted(set(mix) - set(MODULES))
    if bad:
        raise ValueError(f"mix: unknown module(s) {bad}; use {', '.join(MODULES)}")
    weights = {m: float(w) for m, w in mix.items()}
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"mix: weights must be >= 0 and not all zero, got {dict(mix)}")
    return weights


def plan_requests(mix: Mapping[str, float], n_requests: int, n_jobs: int, n_resumes: int,
                  seed: int = 0) -> list[tuple[str, int, int]]:
    """The run's request sequence as (module, job index, résumé index), drawn by a seeded RNG."""
    weights = _check_mix(mix)
    if n_jobs < 1 or n_resumes < 1:
        raise ValueError("load generation needs at least one sample job and one sample résumé")
    rng = random.Random(seed)
    names = list(weights)
    mods = rng.choices(names, weights=[weights[m] for m in names], k=n_requests)
    return [(m, rng.randrange(n_jobs), rng.randrange(n_resumes)) for m in mods]


async def _ingest(client: httpx.AsyncClient, jobs: Sequence[str], concurrency: int) -> list[str]:
    sem = asyncio.Semaphore(concurrency)

    async def one(text: str) -> str:
        async with sem:
            r = await client.post(ENDPOINTS["summarize"], json={"text": text})
        if r.status_code != 201:
            raise RuntimeError(f"ingesting a sample job failed: HTTP {r.status_code} {r.text[:200]}")
        return r.json()["job_id"]

    return list(await asyncio.gather(*(one(t) for t in jobs)))


class RawConnection:
    """A minimal keep-alive HTTP/1.1 client connection for loopback load generation.

    httpx spends ~6 ms of CPU per request on this machine, three times what the server spends, so
    with it the generator, not the service, was the bottleneck. This speaks just enough HTTP for
    the service's JSON POSTs (Content-Length bodies) at a fraction of that cost.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, body: Any) -> tuple[int, bytes]:
        """POST `body` as JSON; (status, response body). Reconnects if the server closed the connection."""
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        payload = json.dumps(body).encode("utf-8")
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n")
        self._writer.write(head.encode("latin-1") + payload)
        await self._writer.drain()
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length, keep = 0, True
        while (line := await self._reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
            elif name == b"transfer-encoding":
                raise ValueError("chunked responses are not supported by the load generator")
        data = await self._reader.readexactly(length)
        if not keep:
            self.close()
        return status, data

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def arun_load(base_url: str, jobs: Sequence[str], resumes: Sequence[str], *, mix: Mapping[str, float],
                    n_requests: int, duration_s: float, concurrency: int, seed: int = 0,
                    timeout_s: float = 60.0, job_ids: Mapping[str, str] | None = None) -> list[RequestRecord]:
    """Async `run_load`: ingest the sample jobs if the mix needs ids and `job_ids` ({text: id} from an
    earlier `ingest_jobs`) is not given (not recorded), then drive the plan with `concurrency` workers."""
    _check_loopback(base_url)
    if concurrency < 1 or n_requests < 0 or duration_s <= 0:
        raise ValueError("concurrency must be >= 1, n_requests >= 0, duration_s > 0")
    plan = plan_requests(mix, n_requests, len(jobs), len(resumes), seed)
    records: list[RequestRecord] = []
    limits = httpx.Limits(max_connections=concurrency + 1, max_keepalive_connections=concurrency + 1)
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, limits=limits,
                                 timeout=httpx.Timeout(timeout_s)) as client:
        needs_ids = any(m != "summarize" for m, _, _ in plan)
        unique_jobs = list(dict.fromkeys(jobs))
        if job_ids is not None and needs_ids:
            missing = [j for j in unique_jobs if j not in job_ids]
            if missing:
                raise ValueError(f"job_ids has no id for {len(missing)} of the sample jobs; ingest them first")
            id_of = dict(job_ids)
        else:
            id_of = dict(zip(unique_jobs, await _ingest(client, unique_jobs, concurrency))) if needs_ids else {}
    host, port = urlsplit(base_url).hostname or "127.0.0.1", urlsplit(base_url).port or 80
    t_start = time.perf_counter()
    deadline = t_start + duration_s
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        conn = RawConnection(host, port)
        try:
            while next_i < len(plan) and time.perf_counter() < deadline:
                module, j, r = plan[next_i]
                next_i += 1
                body = ({"text": jobs[j]} if module == "summarize"
                        else {"job_id": id_of[jobs[j]], "resume_text": resumes[r]})
                t0 = time.perf_counter()
                try:
                    status, data = await asyncio.wait_for(conn.post_json(ENDPOINTS[module], body), timeout_s)
                    err = None if status < 400 else data[:300].decode("utf-8", "replace")
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
                    conn.close()
                    status, err = 0, f"{type(e).__name__}: {e}"
                t1 = time.perf_counter()
                records.append(RequestRecord(module, status, t1 - t0, t0 - t_start, t1 - t_start, err))
        finally:
            conn.close()

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), duration_s + timeout_s + 5.0)
    return records


def run_load(base_url: str, jobs: Sequence[str], resumes: Sequence[str], *, mix: Mapping[str, float],
             n_requests: int, duration_s: float, concurrency: int, seed: int = 0,
             timeout_s: float = 60.0, job_ids: Mapping[str, str] | None = None) -> list[RequestRecord]:
    """Closed-loop load at `mix` against `base_url`; stops after `n_requests` or `duration_s`, whichever first."""
    return _run_coro(arun_load(base_url, jobs, resumes, mix=mix, n_requests=n_requests, duration_s=duration_s,
                               concurrency=concurrency, seed=seed, timeout_s=timeout_s, job_ids=job_ids))


def ingest_jobs(base_url: str, jobs: Sequence[str], concurrency: int = 8,
                timeout_s: float = 120.0) -> dict[str, str]:
    """POST each distinct job once (the summarization module compresses and stores it); {text: job_id}."""
    _check_loopback(base_url)

    async def go() -> dict[str, str]:
        async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=httpx.Timeout(timeout_s)) as c:
            unique = list(dict.fromkeys(jobs))
            return dict(zip(unique, await _ingest(c, unique, concurrency)))

    return _run_coro(go())


def run_load_cfg(base_url: str, jobs: Sequence[str], resumes: Sequence[str], cfg: Profile | ServingCfg,
                 seed: int = 0) -> list[RequestRecord]:
    """`run_load` with the profile's mix, count, duration and concurrency."""
    s = _serving(cfg)
    return run_load(base_url, jobs, resumes, mix=s.mix, n_requests=s.n_requests, duration_s=s.duration_s,
                    concurrency=s.concurrency, seed=seed)


def summarize_load(records: Sequence[RequestRecord], wall_s: float | None = None) -> pd.DataFrame:
    """Per-module count, ok, errors, share of traffic, throughput (ok req/s over the run's wall time)
    and latency percentiles (ms, over successful requests; numpy's default linear interpolation)."""
    cols = ["count", "ok", "errors", "share", "throughput_rps", "p50_ms", "p95_ms", "mean_ms"]
    if not records:
        return pd.DataFrame(columns=cols).rename_axis("module")
    df = pd.DataFrame([asdict(r) for r in records])
    wall = wall_s if wall_s is not None else float(df["end_s"].max() - df["start_s"].min())
    wall = max(wall, 1e-9)
    rows = {}
    for module in [m for m in MODULES if m in set(df["module"])]:
        d = df[df["module"] == module]
        ok = d[(d["status"] >= 200) & (d["status"] < 300)]
        lat = ok["latency_s"].to_numpy() * 1000
        pct = np.percentile(lat, [50, 95]) if len(lat) else [np.nan, np.nan]
        rows[module] = {"count": len(d), "ok": len(ok), "errors": len(d) - len(ok), "share": len(d) / len(df),
                        "throughput_rps": len(ok) / wall, "p50_ms": float(pct[0]), "p95_ms": float(pct[1]),
                        "mean_ms": float(lat.mean()) if len(lat) else np.nan}
    return pd.DataFrame.from_dict(rows, orient="index")[cols].rename_axis("module")


def _module_counters(client: httpx.Client) -> dict[str, dict[str, Any]]:
    return client.get("/healthz").json()["modules"]


def module_capacity(base_url: str, jobs: Sequence[str], resumes: Sequence[str], *,
                    concurrency: int | Mapping[str, int], n_requests: int | Mapping[str, int], duration_s: float,
                    modules: Sequence[str] = MODULES, normalize_to: str = "explain",
                    seed: int = 0, progress: bool = False, job_ids: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Max throughput of each module, saturating one module at a time (closed loop, `concurrency` clients).

    Each phase is bounded by its request count (an int, or per module) and `duration_s`; `concurrency`
    is an int or per module. Returns the `summarize_load` columns per module plus `mean_batch` (from
    /healthz counters during the phase), `concurrency`, `phase_s` (the phase's wall time) and
    `throughput_norm` (throughput / the `normalize_to` module's, as in Table 5).
    """
    from tqdm.auto import tqdm

    _check_loopback(base_url)
    rows = []
    with httpx.Client(base_url=base_url, trust_env=False, timeout=30.0) as client:
        for module in tqdm(modules, desc="capacity", disable=not progress, leave=False):
            n = n_requests[module] if isinstance(n_requests, Mapping) else n_requests
            conc = concurrency[module] if isinstance(concurrency, Mapping) else concurrency
            before = _module_counters(client)[module]
            t0 = time.perf_counter()
            records = run_load(base_url, jobs, resumes, mix={module: 1}, n_requests=n, duration_s=duration_s,
                               concurrency=conc, seed=seed, job_ids=job_ids)
            phase_s = time.perf_counter() - t0
            after = _module_counters(client)[module]
            summary = summarize_load(records)
            row = summary.loc[module].to_dict() if module in summary.index else {"count": 0, "ok": 0}
            d_req, d_batch = after["requests"] - before["requests"], after["batches"] - before["batches"]
            row["mean_batch"] = d_req / d_batch if d_batch else np.nan
            row["concurrency"], row["phase_s"], row["module"] = conc, phase_s, module
            rows.append(row)
    df = pd.DataFrame(rows).set_index("module").drop(columns=["share"], errors="ignore")
    base = df["throughput_rps"].get(normalize_to, np.nan) if "throughput_rps" in df else np.nan
    df["throughput_norm"] = df["throughput_rps"] / base if base and np.isfinite(base) else np.nan
    return df


@dataclass
class BatchingComparison:
    """Classification capacity with micro-batching vs one request at a time (same models, same call)."""

    batched_rps: float
    unbatched_rps: float
    speedup: float
    table: pd.DataFrame  # one row per mode: throughput, P50/P95, mean batch size


def batching_comparison(models: ServingModels, cfg: Profile | ServingCfg, jobs: Sequence[str],
                        resumes: Sequence[str], *, concurrency: int | None = None, n_requests: int | None = None,
                        duration_s: float | None = None, module: str = "classify",
                        seed: int = 0) -> BatchingComparison:
    """Saturate `module` on two servers over the same `models`, batching on then off; compare capacities.

    Defaults come from the profile's serving section (concurrency, n_requests, duration_s).
    """
    from lantern_nb.serving.app import create_app

    s = _serving(cfg)
    conc = concurrency or s.concurrency
    n = n_requests or s.n_requests
    dur = duration_s or s.duration_s
    rows = {}
    for mode, batching in (("batched", True), ("one_at_a_time", False)):
        with ServerThread(create_app(models, s, batching=batching)) as srv:
            cap = module_capacity(srv.base_url, jobs, resumes, concurrency=conc, n_requests=n, duration_s=dur,
                                  modules=[module], normalize_to=module, seed=seed)
        rows[mode] = cap.loc[module].drop(labels=["throughput_norm"]).to_dict()
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("mode")
    b, u = float(table.loc["batched", "throughput_rps"]), float(table.loc["one_at_a_time", "throughput_rps"])
    return BatchingComparison(batched_rps=b, unbatched_rps=u, speedup=b / u if u else float("nan"), table=table)


def table5(capacity: pd.DataFrame, mix: Mapping[str, float], load: pd.DataFrame | None = None,
           normalize_to: str = "explain") -> pd.DataFrame:
    """Table 5 beside the paper: traffic (the mix) and throughput (capacity) normalised to `normalize_to`,
    P95 latency from the mixed-load run when given (else from the capacity run), and the paper's values."""
    weights = _check_mix(mix)
    rows = []
    for m in [m for m in MODULES if m in capacity.index]:
        lat = load if load is not None and m in load.index else capacity
        rows.append({
            "Module": MODULE_TITLES[m],
            "peak_traffic": weights.get(m, 0.0) / weights[normalize_to] if weights.get(normalize_to) else np.nan,
            "throughput_rps": float(capacity.loc[m, "throughput_rps"]),
            "throughput_norm": float(capacity.loc[m, "throughput_norm"]),
            "p95_ms": float(lat.loc[m, "p95_ms"]),
        })
    paper = {"Peak Traffic": "paper_peak_traffic", "Throughput": "paper_throughput", "Latency P95 (s)": "paper_p95_s"}
    return beside_paper(pd.DataFrame(rows), "table5_serving", "Module", paper).set_index("Module").rename_axis("module")


__all__ = ["BatchingComparison", "ENDPOINTS", "RawConnection", "RequestRecord", "ServerThread",
           "arun_load",
           "batching_comparison", "ingest_jobs", "module_capacity", "plan_requests", "run_load", "run_load_cfg",
           "summarize_load", "table5"]
