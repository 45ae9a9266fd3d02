"""Load generation and the serving benchmark behind Table 5 (paper Sec. 6.2).

- `ServerThread`: the service on 127.0.0.1 (free port) in a background thread, for notebooks/tests.
- `run_load`: a closed-loop asyncio + httpx generator, bounded in request count and time, at a
  traffic mix (paper: summarize 4, classify 30, explain 1), requests drawn by a seeded RNG.
- `summarize_load`: per-module count, errors, throughput and P50/P95 latency.
- `module_capacity`: each module saturated alone — Table 5's throughput column is a capacity
  (QPS per server), normalised to the explanation module.
- `batching_comparison`: classification capacity with micro-batching vs one request at a time,
  both measured in the same call on the same models.
"""
from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Coroutine, Mapping, Sequence, TypeVar
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd

from lantern_nb.profiles import Profile, ServingCfg
from lantern_nb.serving import MODULES, ServingModels

T = TypeVar("T")

ENDPOINTS: dict[str, str] = {"summarize": "/v1/jobs", "classify": "/v1/fit", "explain": "/v1/explain"}
MODULE_TITLES: dict[str, str] = {"summarize": "Summarization", "classify": "Classification", "explain": "Explanation"}
# Paper Table 5 (normalised to the explanation module; P95 latency in seconds on A100 GPUs).
PAPER_TABLE5: dict[str, dict[str, float]] = {
    "summarize": {"peak_traffic": 4.0, "throughput": 4.0, "p95_s": 3.5},
    "classify": {"peak_traffic": 30.0, "throughput": 80.0, "p95_s": 0.3},
    "explain": {"peak_traffic": 1.0, "throughput": 1.0, "p95_s": 7.2},
}
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
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on", access_log=False))
        self._thread = threading.Thread(target=self._serve, name=f"uvicorn-{self.port}", daemon=True)
        self._error: BaseException | None = None

    def _serve(self) -> None:
        try:
            self.server.run(sockets=[self._sock])
        except BaseException as e:  # surfaced by start()
            self._error = e

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "ServerThread":
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        with httpx.Client(base_url=self.base_url, trust_env=False, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self._thread.is_alive():
                    raise RuntimeError(f"the server thread exited during startup: {self._error!r}")
                if self.server.started:
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
        self._sock.close()

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


def plan_requests(mix: Mapping[str, float], n_requests: int, n_jobs: int, n_profiles: int,
                  seed: int = 0) -> list[tuple[str, int, int]]:
    """The run's request sequence as (module, job index, profile index), drawn by a seeded RNG."""
    weights = _check_mix(mix)
    if n_jobs < 1 or n_profiles < 1:
        raise ValueError("load generation needs at least one sample job and one sample profile")
    rng = random.Random(seed)
    names = list(weights)
    mods = rng.choices(names, weights=[weights[m] for m in names], k=n_requests)
    return [(m, rng.randrange(n_jobs), rng.randrange(n_profiles)) for m in mods]


async def _ingest(client: httpx.AsyncClient, jobs: Sequence[str], concurrency: int) -> list[str]:
    sem = asyncio.Semaphore(concurrency)

    async def one(text: str) -> str:
        async with sem:
            r = await client.post(ENDPOINTS["summarize"], json={"text": text})
        if r.status_code != 201:
            raise RuntimeError(f"ingesting a sample job failed: HTTP {r.status_code} {r.text[:200]}")
        return r.json()["job_id"]

    return list(await asyncio.gather(*(one(t) for t in jobs)))


async def arun_load(base_url: str, jobs: Sequence[str], profiles: Sequence[str], *, mix: Mapping[str, float],
                    n_requests: int, duration_s: float, concurrency: int, seed: int = 0,
                    timeout_s: float = 60.0) -> list[RequestRecord]:
    """Async `run_load`: ingest the sample jobs if the mix needs ids (not recorded), then drive the plan
    with `concurrency` workers."""
    _check_loopback(base_url)
    if concurrency < 1 or n_requests < 0 or duration_s <= 0:
        raise ValueError("concurrency must be >= 1, n_requests >= 0, duration_s > 0")
    plan = plan_requests(mix, n_requests, len(jobs), len(profiles), seed)
    limits = httpx.Limits(max_connections=concurrency + 1, max_keepalive_connections=concurrency + 1)
    records: list[RequestRecord] = []
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, limits=limits,
                                 timeout=httpx.Timeout(timeout_s)) as client:
        needs_ids = any(m != "summarize" for m, _, _ in plan)
        unique_jobs = list(dict.fromkeys(jobs))
        id_of = dict(zip(unique_jobs, await _ingest(client, unique_jobs, concurrency))) if needs_ids else {}
        t_start = time.perf_counter()
        deadline = t_start + duration_s
        next_i = 0

        async def worker() -> None:
            nonlocal next_i
            while next_i < len(plan) and time.perf_counter() < deadline:
                module, j, p = plan[next_i]
                next_i += 1
                body = ({"text": jobs[j]} if module == "summarize"
                        else {"job_id": id_of[jobs[j]], "profile": profiles[p]})
                t0 = time.perf_counter()
                try:
                    r = await client.post(ENDPOINTS[module], json=body)
                    status, err = r.status_code, (None if r.status_code < 400 else r.text[:300])
                except httpx.HTTPError as e:
                    status, err = 0, f"{type(e).__name__}: {e}"
                t1 = time.perf_counter()
                records.append(RequestRecord(module, status, t1 - t0, t0 - t_start, t1 - t_start, err))

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))),
                               duration_s + timeout_s + 5.0)
    return records


def run_load(base_url: str, jobs: Sequence[str], profiles: Sequence[str], *, mix: Mapping[str, float],
             n_requests: int, duration_s: float, concurrency: int, seed: int = 0,
             timeout_s: float = 60.0) -> list[RequestRecord]:
    """Closed-loop load at `mix` against `base_url`; stops after `n_requests` or `duration_s`, whichever first."""
    return _run_coro(arun_load(base_url, jobs, profiles, mix=mix, n_requests=n_requests, duration_s=duration_s,
                               concurrency=concurrency, seed=seed, timeout_s=timeout_s))


def run_load_cfg(base_url: str, jobs: Sequence[str], profiles: Sequence[str], cfg: Profile | ServingCfg,
                 seed: int = 0) -> list[RequestRecord]:
    """`run_load` with the profile's mix, count, duration and concurrency."""
    s = _serving(cfg)
    return run_load(base_url, jobs, profiles, mix=s.mix, n_requests=s.n_requests, duration_s=s.duration_s,
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


def module_capacity(base_url: str, jobs: Sequence[str], profiles: Sequence[str], *,
                    concurrency: int, n_requests: int | Mapping[str, int], duration_s: float,
                    modules: Sequence[str] = MODULES, normalize_to: str = "explain",
                    seed: int = 0) -> pd.DataFrame:
    """Max throughput of each module, saturating one module at a time (closed loop, `concurrency` clients).

    Each phase is bounded by its request count (an int, or per module) and `duration_s`. Returns the
    `summarize_load` columns per module plus `mean_batch` (from /healthz counters during the phase)
    and `throughput_norm` (throughput / the `normalize_to` module's, as in Table 5).
    """
    _check_loopback(base_url)
    rows = []
    with httpx.Client(base_url=base_url, trust_env=False, timeout=30.0) as client:
        for module in modules:
            n = n_requests[module] if isinstance(n_requests, Mapping) else n_requests
            before = _module_counters(client)[module]
            records = run_load(base_url, jobs, profiles, mix={module: 1}, n_requests=n, duration_s=duration_s,
                               concurrency=concurrency, seed=seed)
            after = _module_counters(client)[module]
            summary = summarize_load(records)
            row = summary.loc[module].to_dict() if module in summary.index else {"count": 0, "ok": 0}
            d_req, d_batch = after["requests"] - before["requests"], after["batches"] - before["batches"]
            row["mean_batch"] = d_req / d_batch if d_batch else np.nan
            row["module"] = module
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
                        profiles: Sequence[str], *, concurrency: int | None = None, n_requests: int | None = None,
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
            cap = module_capacity(srv.base_url, jobs, profiles, concurrency=conc, n_requests=n, duration_s=dur,
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
            "module": MODULE_TITLES[m],
            "peak_traffic": weights.get(m, 0.0) / weights[normalize_to] if weights.get(normalize_to) else np.nan,
            "throughput_rps": float(capacity.loc[m, "throughput_rps"]),
            "throughput_norm": float(capacity.loc[m, "throughput_norm"]),
            "p95_ms": float(lat.loc[m, "p95_ms"]),
            "paper_peak_traffic": PAPER_TABLE5[m]["peak_traffic"],
            "paper_throughput": PAPER_TABLE5[m]["throughput"],
            "paper_p95_s": PAPER_TABLE5[m]["p95_s"],
        })
    return pd.DataFrame(rows).set_index("module")


__all__ = ["BatchingComparison", "ENDPOINTS", "PAPER_TABLE5", "RequestRecord", "ServerThread", "arun_load",
           "batching_comparison", "module_capacity", "plan_requests", "run_load", "run_load_cfg",
           "summarize_load", "table5"]
