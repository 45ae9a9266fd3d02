"""The Table 5 serving benchmark in one call: the service in its own processes, load from this one.

`run_benchmark(cfg, jobs, resumes)` starts two `ServerProcess`es at once over the same trained
models — micro-batched and one-request-at-a-time — and, against the batched one, runs
1. the paper's traffic mix (summarize 4 : classify 30 : explain 1), bounded by
   `serving.n_requests` and `serving.duration_s`: per-module throughput and P50/P95 latency;
2. each module saturated alone (its capacity, Table 5's throughput column, normalised to the
   explanation module), each phase bounded by `phase_s` and `serving.n_requests`;
then the same classification saturation against the one-at-a-time server: batched vs unbatched
capacity measured in the same run. `table5_frame`, `latency_figure` and `batching_figure` turn
the result into the saved table and figures.
"""
from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from lantern_nb.paper import beside_paper, paper_value
from lantern_nb.profiles import Profile
from lantern_nb.serving.pipeline import MODULES
from lantern_nb.serving.loadgen import (MODULE_TITLES, BatchingComparison, RequestRecord, ingest_jobs, module_capacity,
                                        run_load, summarize_load, table5)
from lantern_nb.serving.process import ServerProcess

# classification / explanation capacity: the paper's Table 5 ratio (80x); batched / one-at-a-time: this project's goal
GOALS: dict[str, float] = {
    "classify_over_explain": (paper_value("table5_serving", "Classification", "Throughput")
                              / paper_value("table5_serving", "Explanation", "Throughput")),
    "batching_speedup": 3.0}


def sample_texts(cfg: Profile, n_jobs: int = 24, pairs_per_job: int = 2) -> tuple[list[str], list[str]]:
    """Load-test inputs: pairs of the profile's corpus (D_base) when built, else generated ones.

    Returns (distinct job texts, résumé texts); jobs are the full postings (the service compresses them).
    """
    from lantern_nb.artifacts import MissingArtifactError

    try:
        from lantern_nb.data import load_pairs

        pairs = load_pairs(cfg.name)
    except (MissingArtifactError, FileNotFoundError):
        from lantern_nb.data import generate_pairs

        pairs = generate_pairs(n_jobs, pairs_per_job, cfg.seed + 7, stream="serving", progress=False)
    by_job: dict[str, list[str]] = {}
    for p in pairs:
        by_job.setdefault(p.job_text, []).append(p.resume_text)
    jobs = list(by_job)[:n_jobs]
    resumes = [r for j in jobs for r in by_job[j][:pairs_per_job]]
    return jobs, resumes


@dataclass
class BenchmarkResult:
    """Everything one benchmark run measured, plus the settings it ran with."""

    load: pd.DataFrame  # mixed traffic: per-module count, throughput, P50/P95 (ms)
    records: list[RequestRecord]  # mixed traffic, one per request
    capacity: pd.DataFrame  # each module saturated alone (batched server)
    batching: BatchingComparison  # classification, batched vs one at a time
    models: dict[str, dict[str, Any]]  # per module: wrapper class, arch, params (from /healthz)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def classify_over_explain(self) -> float:
        return float(self.capacity.loc["classify", "throughput_rps"] / self.capacity.loc["explain", "throughput_rps"])

    @property
    def batching_speedup(self) -> float:
        return float(self.batching.speedup)

    def goals(self) -> pd.DataFrame:
        """The issue's two goals against what this run measured."""
        rows = [("classification / explanation capacity", GOALS["classify_over_explain"], self.classify_over_explain),
                ("batched / one-at-a-time classification", GOALS["batching_speedup"], self.batching_speedup)]
        df = pd.DataFrame(rows, columns=["goal", "target_x", "measured_x"]).set_index("goal")
        df["met"] = df["measured_x"] >= df["target_x"]
        return df


def _warm_up(base_url: str, jobs: Sequence[str], resumes: Sequence[str], job_ids: dict[str, str],
             concurrency: int) -> None:
    """Unrecorded requests so lazy initialisation (first batch shapes, allocator) is not measured."""
    run_load(base_url, jobs, resumes, mix={"classify": 1}, n_requests=2 * concurrency, duration_s=30.0,
             concurrency=concurrency, job_ids=job_ids)
    run_load(base_url, jobs, resumes, mix={"explain": 1}, n_requests=1, duration_s=30.0, concurrency=1,
             job_ids=job_ids)


def start_servers(cfg: Profile, overrides: dict[str, Any] | None = None, *,
                  models: str = "lantern_nb.serving.pipeline:load_models",
                  torch_threads: int | None = None) -> tuple[ServerProcess, ServerProcess]:
    """(micro-batched, one-at-a-time) services over the same models, started at once; the caller stops
    them (`with` each, or `stop()`; `atexit` stops any left running)."""
    batched = ServerProcess(cfg.name, overrides, batching=True, models=models, torch_threads=torch_threads)
    single = ServerProcess(cfg.name, overrides, batching=False, models=models, torch_threads=torch_threads)
    try:
        for srv in (batched, single):
            srv.launch()
        for srv in (batched, single):
            srv.wait_ready()
    except BaseException:
        batched.stop()
        single.stop()
        raise
    return batched, single


def run_benchmark(cfg: Profile, jobs: Sequence[str], resumes: Sequence[str], *,
                  servers: tuple[ServerProcess, ServerProcess] | None = None,
                  overrides: dict[str, Any] | None = None, models: str = "lantern_nb.serving.pipeline:load_models",
                  torch_threads: int | None = None, phase_s: float | None = None, seed: int = 0,
                  progress: bool = True) -> BenchmarkResult:
    """Run the whole Table 5 benchmark (see the module docstring).

    `servers` = (batched, one-at-a-time) from `start_servers`, left running; without it both are
    started here (with `overrides`, `models`, `torch_threads`) and always stopped. Pass the
    notebook's OVERRIDES so client and servers agree; `phase_s` bounds each saturation phase
    (default duration_s / 2).
    """
    from tqdm.auto import tqdm

    s = cfg.serving
    phase = phase_s or s.duration_s / 2
    t_all = time.perf_counter()
    with ExitStack() as stack:
        if servers is None:
            servers = start_servers(cfg, overrides, models=models, torch_threads=torch_threads)
            for srv in servers:
                stack.callback(srv.stop)
        batched, single = servers
        startup_s = time.perf_counter() - t_all
        steps = stack.enter_context(tqdm(total=6, desc="serving benchmark", disable=not progress))
        served = {m: info["model"] for m, info in batched.healthz()["modules"].items()}
        steps.set_postfix_str("ingest + warm-up")
        ids = ingest_jobs(batched.base_url, jobs, concurrency=min(s.concurrency, s.max_batch))
        ids_single = ingest_jobs(single.base_url, jobs, concurrency=min(s.concurrency, s.max_batch))
        _warm_up(batched.base_url, jobs, resumes, ids, s.concurrency)
        _warm_up(single.base_url, jobs, resumes, ids_single, s.concurrency)
        steps.update()
        steps.set_postfix_str("traffic mix")
        t0 = time.perf_counter()
        records = run_load(batched.base_url, jobs, resumes, mix=s.mix, n_requests=s.n_requests,
                           duration_s=s.duration_s, concurrency=s.concurrency, seed=seed, job_ids=ids)
        mixed_s = time.perf_counter() - t0
        steps.update()
        capacity = pd.DataFrame()
        for module in MODULES:
            steps.set_postfix_str(f"saturate {module}")
            row = module_capacity(batched.base_url, jobs, resumes, concurrency=s.concurrency,
                                  n_requests=s.n_requests, duration_s=phase, modules=[module],
                                  normalize_to=module, seed=seed, job_ids=ids)
            capacity = pd.concat([capacity, row])
            steps.update()
        steps.set_postfix_str("classify one at a time")
        unbatched = module_capacity(single.base_url, jobs, resumes, concurrency=s.concurrency,
                                    n_requests=s.n_requests, duration_s=phase, modules=["classify"],
                                    normalize_to="classify", seed=seed, job_ids=ids_single)
        steps.update()
    capacity["throughput_norm"] = capacity["throughput_rps"] / capacity.loc["explain", "throughput_rps"]
    cmp_rows = {"batched": capacity.loc["classify"].drop(labels=["throughput_norm"]),
                "one_at_a_time": unbatched.loc["classify"].drop(labels=["throughput_norm"])}
    table = pd.DataFrame.from_dict(cmp_rows, orient="index").rename_axis("mode")
    b, u = float(table.loc["batched", "throughput_rps"]), float(table.loc["one_at_a_time", "throughput_rps"])
    cmp = BatchingComparison(batched_rps=b, unbatched_rps=u, speedup=b / u if u else float("nan"), table=table)
    settings = {"profile": cfg.name, "overrides": dict(batched.overrides), "max_batch": s.max_batch,
                "max_wait_ms": s.max_wait_ms, "concurrency": s.concurrency, "n_requests": s.n_requests,
                "duration_s": s.duration_s, "phase_s": phase, "torch_threads": batched.torch_threads,
                "explain_max_new_tokens": s.explain_max_new_tokens, "mix": dict(s.mix),
                "n_jobs": len(set(jobs)), "n_resumes": len(resumes), "startup_s": round(startup_s, 2),
                "mixed_run_s": round(mixed_s, 2), "total_s": round(time.perf_counter() - t_all, 2)}
    return BenchmarkResult(load=summarize_load(records), records=records, capacity=capacity, batching=cmp,
                           models=served, settings=settings)


def model_costs(models: Any, jobs: Sequence[str], resumes: Sequence[str], batch_sizes: Sequence[int] = (1, 32),
                seconds: float = 2.0, torch_threads: int | None = None) -> pd.DataFrame:
    """Model-only throughput (no HTTP, no queueing) of the classification and explanation modules,
    in this process with the server's torch thread count, at each batch size.

    Each cell repeats the module's call on batches of real pairs (jobs summarised once, as the
    service stores them) for about `seconds`. Set beside the HTTP capacities it shows where a
    request's time goes: model arithmetic vs the service's per-request overhead.
    """
    import torch

    from lantern_nb.serving.process import default_torch_threads

    old = torch.get_num_threads()
    torch.set_num_threads(torch_threads or default_torch_threads())
    try:
        uniq = list(dict.fromkeys(jobs))
        summaries = dict(zip(uniq, models.summarizer.summarize(uniq)))
        n = max(batch_sizes)
        js = [summaries[jobs[i % len(jobs)]] for i in range(n)]
        rs = [resumes[i % len(resumes)] for i in range(n)]
        rows = []
        for module in ("classify", "explain"):
            for b in batch_sizes:
                def call() -> None:
                    if module == "classify":
                        models.classifier.predict_proba(js[:b], rs[:b])
                    else:
                        models.explainer.explain(js[:b], rs[:b], ["High"] * b)
                call()  # warm-up
                done, t0 = 0, time.perf_counter()
                while done == 0 or time.perf_counter() - t0 < seconds:
                    call()
                    done += b
                dt = time.perf_counter() - t0
                rows.append({"module": module, "batch": b, "requests": done, "seconds": dt,
                             "model_rps": done / dt, "model_ms_per_request": 1000 * dt / done})
    finally:
        torch.set_num_threads(old)
    return pd.DataFrame(rows).set_index(["module", "batch"])


@dataclass
class TimeBreakdown:
    """`time_breakdown`'s table (one row per module) and the classification / explanation
    throughput ratios over HTTP and of the model calls alone."""

    table: pd.DataFrame
    http_ratio: float
    model_ratio: float


def time_breakdown(res: BenchmarkResult, costs: pd.DataFrame) -> TimeBreakdown:
    """Per module: HTTP capacity vs model-only throughput at the server's mean batch size, and the
    service overhead per request (HTTP, JSON, queueing, tokenisation outside the model call)."""
    rows = []
    for module in ("classify", "explain"):
        sizes = costs.loc[module].index.to_numpy()
        batch = int(sizes[np.abs(sizes - float(res.capacity.loc[module, "mean_batch"])).argmin()])
        http_rps = float(res.capacity.loc[module, "throughput_rps"])
        model_rps = float(costs.loc[(module, batch), "model_rps"])
        rows.append({"module": MODULE_TITLES[module], "server mean batch": float(res.capacity.loc[module, "mean_batch"]),
                     "model batch": batch, "HTTP req/s": http_rps, "model-only req/s": model_rps,
                     "ms/request (HTTP)": 1000 / http_rps, "ms/request (model)": 1000 / model_rps,
                     "overhead ms/request": 1000 / http_rps - 1000 / model_rps})
    df = pd.DataFrame(rows).set_index("module")
    return TimeBreakdown(df, http_ratio=float(df["HTTP req/s"].iloc[0] / df["HTTP req/s"].iloc[1]),
                         model_ratio=float(df["model-only req/s"].iloc[0] / df["model-only req/s"].iloc[1]))


def _size(info: dict[str, Any]) -> str:
    if info.get("params_m") is None:
        return "rule-based" if "Rule" in str(info.get("class")) else "-"
    return f"{info['params_m']:.2f}M"


def _kind(info: dict[str, Any]) -> str:
    if info.get("decoder") is None:
        return "Rules" if "Rule" in str(info.get("class")) else "-"
    return "Decoder" if info["decoder"] else "Encoder"


def table5_frame(res: BenchmarkResult, cfg: Profile) -> pd.DataFrame:
    """Table 5 as saved: our measured and normalised columns beside the paper's, one row per module."""
    t5 = table5(res.capacity, cfg.serving.mix, load=res.load)
    rows = []
    for m in MODULES:
        title = MODULE_TITLES[m]
        info = res.models.get(m, {})
        rows.append({
            "Module": title, "Type": _kind(info), "Model": info.get("arch") or info.get("class", "-"),
            "Size": _size(info), "Peak Traffic": t5.loc[title, "peak_traffic"],
            "Throughput (req/s)": t5.loc[title, "throughput_rps"], "Throughput": t5.loc[title, "throughput_norm"],
            "Latency P50 (s)": float(res.load.loc[m, "p50_ms"]) / 1000 if m in res.load.index else np.nan,
            "Latency P95 (s)": t5.loc[title, "p95_ms"] / 1000,
            "Mean batch": float(res.capacity.loc[m, "mean_batch"]),
        })
    return beside_paper(pd.DataFrame(rows), "table5_serving", "Module")


def table5_note(res: BenchmarkResult) -> str:
    """One-line caption for the saved table: what was measured, how, and the goals."""
    st, g = res.settings, res.goals()
    goals = "; ".join(f"{k}: {r.measured_x:.1f}x (goal {r.target_x:.0f}x, {'met' if r.met else 'missed'})"
                      for k, r in g.iterrows())
    return (f"Throughput = capacity with the module saturated alone ({st['concurrency']} closed-loop clients, "
            f"max_batch {st['max_batch']}, max_wait {st['max_wait_ms']} ms, {st['torch_threads']} torch thread(s) "
            f"in the server process), normalised to explanation; Peak Traffic = the load mix; latency from the "
            f"mixed-traffic run. {goals}.")


def latency_figure(res: BenchmarkResult, cfg: Profile):
    """Left: per-module latency distribution under the traffic mix (P50/P95 marked); right: normalised
    capacity, ours against the paper's (log scale)."""
    import matplotlib.pyplot as plt

    df = pd.DataFrame([r.__dict__ for r in res.records])
    df = df[(df["status"] >= 200) & (df["status"] < 300)]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    mods = [m for m in MODULES if m in set(df["module"])]
    data = [df.loc[df["module"] == m, "latency_s"].to_numpy() for m in mods]
    ax1.boxplot(data, whis=(5, 95), showfliers=False)
    ax1.set_xticks(range(1, len(mods) + 1), [MODULE_TITLES[m] for m in mods])
    for i, m in enumerate(mods, start=1):
        p50, p95 = res.load.loc[m, "p50_ms"] / 1000, res.load.loc[m, "p95_ms"] / 1000
        ax1.plot([i], [p95], "v", color="crimson")
        ax1.annotate(f"P50 {p50:.2f}s\nP95 {p95:.2f}s", (i, p95), textcoords="offset points", xytext=(8, 0),
                     fontsize=8)
    ax1.set_yscale("log")
    ax1.set_ylabel("latency (s, log)")
    ax1.set_title(f"Latency under the {':'.join(str(v) for v in cfg.serving.mix.values())} traffic mix")
    x = np.arange(len(MODULES))
    ours = [float(res.capacity.loc[m, "throughput_norm"]) for m in MODULES]
    paper = [paper_value("table5_serving", MODULE_TITLES[m], "Throughput") for m in MODULES]
    ax2.bar(x - 0.2, ours, 0.4, label=f"ours ({cfg.name})")
    ax2.bar(x + 0.2, paper, 0.4, label="paper (A100)", color="grey")
    for xi, v in zip(x, ours):
        ax2.annotate(f"{v:.1f}x", (xi - 0.2, v), ha="center", va="bottom", fontsize=8)
    ax2.set_xticks(x, [MODULE_TITLES[m] for m in MODULES])
    ax2.set_yscale("log")
    ax2.set_ylabel("capacity / explanation's (log)")
    ax2.set_title("Throughput normalised to explanation (Table 5)")
    ax2.legend()
    fig.tight_layout()
    return fig


def batching_figure(res: BenchmarkResult):
    """Classification capacity and P95 latency, micro-batched vs one request at a time."""
    import matplotlib.pyplot as plt

    t = res.batching.table
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
    labels = [f"{m.replace('_', ' ')}\n(mean batch {t.loc[m, 'mean_batch']:.1f})" for m in t.index]
    ax1.bar(labels, t["throughput_rps"], color=["tab:blue", "tab:orange"])
    ax1.set_ylabel("requests / s")
    ax1.set_title(f"Classification capacity: {res.batching.speedup:.1f}x with batching")
    ax2.bar(labels, t["p95_ms"] / 1000, color=["tab:blue", "tab:orange"])
    ax2.set_ylabel("P95 latency (s)")
    ax2.set_title(f"at {res.settings['concurrency']} concurrent clients")
    fig.tight_layout()
    return fig


def handwritten_figure(table: pd.DataFrame):
    """The served classifier on the hand-written pairs (`pipeline.judge_handwritten`): the probability it gives
    each pair's expected label, green where its top label is the expected one, with the 1/3 of a blind guess."""
    import matplotlib.pyplot as plt

    p = [float(r[f"p({r['expected']})"]) for _, r in table.iterrows()]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar(table["pair"], p, color=["tab:green" if r else "tab:red" for r in table["right"]])
    ax.axhline(1 / 3, color="gray", ls="--", lw=1, label="blind guess (1/3)")
    ax.set_ylim(0, 1)
    ax.set_ylabel("p(expected label)")
    ax.set_title(f"Hand-written pairs outside the generator: {int(table['right'].sum())} of {len(table)} right")
    ax.tick_params(axis="x", rotation=30)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["GOALS", "BenchmarkResult", "TimeBreakdown", "batching_figure", "latency_figure", "model_costs",
           "handwritten_figure", "run_benchmark", "sample_texts", "start_servers", "table5_frame", "table5_note",
           "time_breakdown"]

