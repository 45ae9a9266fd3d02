"""Table 1 rows beyond the paper: on-policy distillation and KD from an offline top-k teacher cache.

`run_beyond_rows(cfg)` trains, from the same student initialisation, on the same D_seed rows and
for the same number of steps (capped by `kd.beyond_max_steps` to fit the CPU budgets):

* "live teacher (full)": the paper's off-policy KD with the teacher in memory (the reference);
* "top-k cache k=...": KD from the teacher's top-k log-probs + tail mass stored on disk by one
  teacher pass (`kd.topk`), the teacher not in memory while training;
* "on-policy (lmbda=...)": mixed-policy KD on the student's own samples (`kd.onpolicy`).

every row with the divergence `kd.beyond_divergence`, all through `train.train`, scored by
`scoring.evaluate` like Table 1 (`KdContext.score`). Without a step cap the live row is Table 1's
own run of that divergence (`runs.run_stage`, normally already cached). Each row reports the
disk bytes per cached token and the time of one optimisation step, wall clock and CPU
(`time.process_time`, less sensitive to other processes on a shared machine) from an
interleaved benchmark (`kd.beyond_bench_steps` rounds; 0 = the training runs' own per-step
time), and the CPU-time ratio to the live teacher. Finished rows are cached (metrics only)
in the run cache (`cache.RunCache`) under .../students/beyond/, keyed like Table 1's runs (every
input, the student's initial weights included); the top-k caches live in .../beyond/topk/,
keyed by content.
"""
from __future__ import annotations

import dataclasses
import shutil
import statistics
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from lantern_nb.cache import RunCache, fingerprint
from lantern_nb.kd import runs
from lantern_nb.kd.onpolicy import OnPolicyDistillObjective
from lantern_nb.kd.divergences import divergence_per_position
from lantern_nb.kd.topk import TopKCache, TopKDistillObjective, build_topk_caches, topk_divergence_per_position
from lantern_nb.kd.losses import DistillObjective
from lantern_nb.profiles import Profile
from lantern_nb.train import IGNORE, PadCollator, TrainConfig, answer_rows, lm_head_weight, train

NOTE = runs.BEYOND
LIVE = "live teacher (full)"


def with_row_ids(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Encoded rows + `row_id` (position) and `prompt_len` (from the pre-shifted labels)."""
    out = []
    for i, r in enumerate(rows):
        first = next((t for t, y in enumerate(r["labels"]) if y != IGNORE), len(r["labels"]) - 1)
        out.append({**r, "row_id": i, "prompt_len": r.get("prompt_len", first + 1)})
    return out


def batch_on(batch: dict[str, torch.Tensor], device: torch.device | str) -> dict[str, torch.Tensor]:
    """`batch` with every tensor on `device` (the teacher's, where the probe student also lives)."""
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def benchmark_steps(model: torch.nn.Module, objectives: dict[str, Any], batch: dict[str, torch.Tensor],
                    repeats: int = 3) -> dict[str, dict[str, float]]:
    """Median wall-clock and CPU (`time.process_time`) seconds of one forward + backward of each
    objective on the same batch and student, interleaved (the order rotates every round, after one
    warm-up round) so load from other processes hits every objective alike. The optimizer step,
    identical for every objective, is left out; the student's weights are not changed."""
    n = batch["labels"].ne(IGNORE).sum()
    names = list(objectives)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    model.train()
    for r in range(repeats + 1):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0, c0 = time.perf_counter(), time.process_time()
            loss, _ = objectives[name](model, batch, n)
            loss.backward()
            if r:
                times[name].append((time.perf_counter() - t0, time.process_time() - c0))
            model.zero_grad(set_to_none=True)
    return {name: {"step_wall": statistics.median(w for w, _ in t), "step_cpu": statistics.median(c for _, c in t)}
            for name, t in times.items()}


@torch.no_grad()
def kd_signal_kept(student: torch.nn.Module, teacher: torch.nn.Module, caches: dict[int, TopKCache],
                   batch: dict[str, torch.Tensor], kind: str, beta: float = 0.5, alpha: float = 0.1,
                   temperature: float = 1.0, chunk_size: int = 256) -> dict[int, float]:
    """Share of the full divergence the (top-k + tail) buckets keep, per k: sum of the bucketed
    divergence over the batch's answer tokens / sum of the full one (student vs live teacher).
    At most 1 (coarse-graining never increases an f-divergence), 1 at k = V."""
    hs, _ = answer_rows(student, batch)
    ht, _ = answer_rows(teacher, batch)
    ws, wt = lm_head_weight(student), lm_head_weight(teacher)
    entries = {k: batch_on(c.lookup(batch["row_id"].reshape(-1).tolist()), hs.device) for k, c in caches.items()}
    full = 0.0
    kept = {k: 0.0 for k in caches}
    for s in range(0, hs.shape[0], chunk_size):
        zs, zt = hs[s:s + chunk_size] @ ws.T, ht[s:s + chunk_size] @ wt.T
        full += float(divergence_per_position(zs, zt, kind, beta, alpha, temperature).sum())
        for k, e in entries.items():
            v = caches[k].vocab_size
            kept[k] += float(topk_divergence_per_position(zs[:, :v], e["ids"][s:s + chunk_size],
                                                          e["logp"][s:s + chunk_size],
                                                          e["log_tail"][s:s + chunk_size], kind, beta, alpha,
                                                          temperature).sum())
    return {k: v / full if full > 0 else float("nan") for k, v in kept.items()}


def beyond_train_config(cfg: Profile) -> TrainConfig:
    """Table 1's KD hyper-parameters, with `kd.beyond_max_steps` as a step cap (-1: none)."""
    tc = runs.train_config(cfg)
    return dataclasses.replace(tc, max_steps=cfg.kd.beyond_max_steps) if cfg.kd.beyond_max_steps > 0 else tc


def _method_name(kind: str, label: str) -> str:
    return f"{runs.display_name(kind)}, {label}"


def _train_and_score(ctx: runs.KdContext, objective: Any, rows: list[dict[str, Any]], tc: TrainConfig,
                     run_dir: Path, desc: str) -> dict[str, Any]:
    student = ctx.new_student(ctx.cfg.kd.student)
    c0 = time.process_time()
    result = train(student, rows, objective, tc, run_dir / "trainer", pad_token_id=ctx.tokenizer.pad_token_id,
                   desc=desc)
    train_cpu = time.process_time() - c0
    shutil.rmtree(run_dir / "trainer", ignore_errors=True)
    t0 = time.perf_counter()
    scores = ctx.score(result.model)
    return {**{k: float(v) for k, v in scores.items()}, "steps": result.steps,
            "train_seconds": round(result.seconds, 2), "train_cpu_seconds": round(train_cpu, 2),
            "eval_seconds": round(time.perf_counter() - t0, 2), "curve": runs.loss_curve(result.log_history)}


@dataclasses.dataclass
class BeyondResult:
    """The Table 1 rows beyond the paper (`table`), the ROUGE-vs-k curve data (`curve`), the loss
    curve per row (by KD Method), the size report of each top-k cache (by k), the optimisation
    steps every row trained and the shared vocabulary size V."""

    table: pd.DataFrame
    curve: pd.DataFrame
    curves: dict[str, list[tuple[int, float]]]
    cache: dict[int, dict[str, Any]]
    steps: int
    vocab: int


def run_beyond_rows(cfg: Profile, ctx: runs.KdContext | None = None, progress: bool = True) -> BeyondResult:
    """The rows beyond the paper for Table 1 and the ROUGE-vs-k curve; see the module docstring.

    Table columns: KD Method, Loss (NLL), ROUGE_1/2/L, Disk bytes/token, Step s (wall), Step s (CPU),
    Step CPU vs live, Teacher pass s (one pass shared by every k), Note, Train s, Eval s, Cached.
    Step times come from `benchmark_steps` (one batch, interleaved), where the on-policy row times
    a sampled step (expected cost lmbda * sampled + (1 - lmbda) * live); with
    `kd.beyond_bench_steps: 0` from the training runs (train time / steps). The curve has one row per k plus
    the live teacher at k = V (the shared vocabulary): k, label, Loss (NLL), ROUGE_1/2/L,
    Disk bytes/token, KD signal kept (`kd_signal_kept` at the student's initialisation). With a
    step cap the runs train one epoch over the first `steps x batch` rows, which is all the teacher
    pass then covers.
    """
    from lantern_nb.model_specs import pick_device

    ctx = ctx or runs.kd_context(cfg)
    kd = cfg.kd
    kind = kd.beyond_divergence
    device = pick_device(cfg.device)
    ctx.teacher.to(device)
    tc = beyond_train_config(cfg)
    rows = with_row_ids(ctx.train_rows)
    if tc.max_steps > 0:  # one epoch over the first rows the capped runs can see: the teacher pass covers no more
        rows = rows[:tc.max_steps * tc.batch_size * tc.grad_accum]
    root = ctx.root / "beyond"
    store = RunCache(root)
    probe = ctx.new_student(kd.student)
    base_key = [ctx.key, cfg.models.students.get(kd.student, kd.student), kind, fingerprint(probe),
                runs.kd_settings(cfg)]
    probe.to(device)  # benchmarked and probed beside the teacher, on its device
    vocab = min(lm_head_weight(probe).shape[0], lm_head_weight(ctx.teacher).shape[0])
    common = dict(kind=kind, lambda_sft=kd.lambda_sft, lambda_kd=kd.lambda_kd, beta=kd.beta, alpha=kd.alpha)
    state: dict[str, Any] = {}

    def caches() -> dict[int, Any]:
        if "caches" not in state:
            t0, c0 = time.perf_counter(), time.process_time()
            state["caches"] = build_topk_caches(ctx.teacher, ctx.tokenizer, rows, kd.topk_ks, root / "topk",
                                                batch_size=kd.batch_size, vocab_size=vocab,
                                                temperature=kd.temperature, logp_dtype=kd.topk_logp_dtype,
                                                chunk_size=kd.chunk_size, progress=progress)
            state["pass"] = {"teacher_pass_s": time.perf_counter() - t0, "teacher_pass_cpu_s": time.process_time() - c0}
        return state["caches"]

    def live() -> Any:
        return DistillObjective(ctx.teacher, temperature=kd.temperature, impl=kd.impl, chunk_size=kd.chunk_size,
                                **common)

    def topk(k: int) -> Any:
        return TopKDistillObjective(caches()[min(k, vocab)], temperature=kd.temperature, chunk_size=kd.chunk_size,
                                    **common)

    def onpolicy(lmbda: float = kd.onpolicy_lmbda) -> Any:
        return OnPolicyDistillObjective(ctx.teacher, lmbda=lmbda, sample_temperature=kd.onpolicy_temperature,
                                        max_new_tokens=kd.onpolicy_max_new_tokens, seed=cfg.seed,
                                        temperature=kd.temperature, impl=kd.impl, chunk_size=kd.chunk_size,
                                        eos_token_id=ctx.tokenizer.eos_token_id,
                                        pad_token_id=ctx.tokenizer.pad_token_id, **common)

    onpolicy_label = f"on-policy (lmbda={kd.onpolicy_lmbda:g})"
    plan: list[tuple[str, str, Any, int | None]] = [(LIVE, "live", live, None)]
    plan += [(f"top-k cache k={k}", f"top{k}", lambda k=k: topk(k), k) for k in kd.topk_ks]
    plan += [(onpolicy_label, "onpolicy", onpolicy, None)]
    results: dict[str, tuple[dict[str, Any], bool, int | None]] = {}
    for label, slug, factory, k in tqdm(plan, desc="Table 1 beyond the paper", disable=not progress):
        def make(run_dir: Path, factory=factory, slug=slug, k=k) -> dict[str, Any]:
            out = _train_and_score(ctx, factory(), rows, tc, run_dir, f"beyond-{slug}-{kind}")
            if k is not None:
                out.update(caches()[min(k, vocab)].size_report(), **state["pass"])
            return out

        if label == LIVE and kd.beyond_max_steps <= 0:
            run = runs.run_stage(ctx, f"teacher-{kd.student}.{kind}", kd.student, kind)  # Table 1's own run
            results[label] = (run.metrics, run.cached, k)
            continue
        metrics, cached = store.get_or_run(f"{slug}.{kind}", store.key(*base_key, slug), make)
        results[label] = (metrics, cached, k)

    def bench(run_dir: Path) -> dict[str, Any]:
        objectives = {label: factory() for label, _, factory, _ in plan if label != onpolicy_label}
        objectives[onpolicy_label] = onpolicy(1.0)
        batch = batch_on(PadCollator(ctx.tokenizer.pad_token_id)(rows[:kd.batch_size]), device)
        return benchmark_steps(probe, objectives, batch, kd.beyond_bench_steps)

    if kd.beyond_bench_steps > 0:
        timing, _ = store.get_or_run(f"bench.{kind}", store.key(*base_key, "bench"), bench)
    else:  # no benchmark: the training runs' own time per step (Trainer overhead included)
        timing = {label: {"step_wall": m["train_seconds"] / max(m["steps"], 1),
                          "step_cpu": m.get("train_cpu_seconds", float("nan")) / max(m["steps"], 1)}
                  for label, (m, _, _) in results.items()}
    live_cpu = timing[LIVE]["step_cpu"]

    def signal(run_dir: Path) -> dict[str, Any]:
        batch = batch_on(PadCollator(ctx.tokenizer.pad_token_id)(rows[:kd.batch_size]), device)
        kept = kd_signal_kept(probe, ctx.teacher, caches(), batch, kind, kd.beta, kd.alpha, kd.temperature)
        return {str(k): v for k, v in kept.items()}

    kept, _ = store.get_or_run(f"signal.{kind}", store.key(*base_key, "signal"), signal)
    out, curve = [], []
    for label, (m, cached, k) in results.items():
        t = timing[label]
        out.append({"KD Method": _method_name(kind, label), **runs.metric_row(m),
                    "Disk bytes/token": m.get("bytes_per_token", float("nan")),
                    "Step s (wall)": t["step_wall"], "Step s (CPU)": t["step_cpu"],
                    "Step CPU vs live": t["step_cpu"] / live_cpu if live_cpu else float("nan"),
                    "Teacher pass s": m.get("teacher_pass_s", float("nan")), "Note": NOTE,
                    "Train s": m["train_seconds"], "Eval s": m["eval_seconds"], "Cached": cached})
        if k is not None or label == LIVE:
            curve.append({"k": min(k, vocab) if k is not None else vocab, "label": label, **runs.metric_row(m),
                          "Disk bytes/token": m.get("bytes_per_token", float("nan")),
                          "KD signal kept": kept[str(min(k, vocab))] if k is not None else 1.0})
    keep = ("k", "n_tokens", "bytes", "bytes_per_token", "payload_bytes_per_token", "logp_dtype")
    return BeyondResult(
        table=pd.DataFrame(out), curve=pd.DataFrame(curve).sort_values("k", ignore_index=True),
        curves={row["KD Method"]: results[label][0].get("curve", []) for row, label in zip(out, results)},
        cache={k: {key: results[f"top-k cache k={k}"][0][key] for key in keep} for k in kd.topk_ks},
        steps=results[LIVE][0]["steps"], vocab=vocab)


def merge_into_table1(table1: pd.DataFrame, beyond: pd.DataFrame) -> pd.DataFrame:
    """Table 1 with the beyond-the-paper rows appended (their extra columns NaN for Table 1's rows)."""
    cols = list(table1.columns) + [c for c in beyond.columns if c not in table1.columns]
    return pd.concat([table1, beyond], ignore_index=True)[cols]


def plot_rouge_vs_k(curve: pd.DataFrame, title: str = "Top-k teacher cache: ROUGE-L vs k (beyond the paper)"):
    """ROUGE-L of students trained from the top-k cache against k (log axis), the live teacher as
    a dashed line, each point annotated with its disk bytes per token; on the right axis the share
    of the full KD divergence the k + 1 buckets keep."""
    import matplotlib.pyplot as plt

    topk = curve[curve["label"] != LIVE]
    live = curve[curve["label"] == LIVE]
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    ax.plot(topk["k"], topk["ROUGE_L"], marker="o", lw=1.6, color="C0", label="ROUGE-L, top-k + tail cache")
    if {"ROUGE_L lo", "ROUGE_L hi"} <= set(topk.columns) and topk["ROUGE_L lo"].notna().all():
        ax.errorbar(topk["k"], topk["ROUGE_L"], yerr=[topk["ROUGE_L"] - topk["ROUGE_L lo"],
                                                       topk["ROUGE_L hi"] - topk["ROUGE_L"]],
                    fmt="none", ecolor="C0", capsize=3, lw=1, label="95% bootstrap interval")
    for _, r in topk.iterrows():
        if np.isfinite(r["Disk bytes/token"]):
            ax.annotate(f"{r['Disk bytes/token']:.0f} B/tok", (r["k"], r["ROUGE_L"]), textcoords="offset points",
                        xytext=(0, 7), ha="center", fontsize=8)
    if len(live):
        v = live.iloc[0]
        ax.axhline(v["ROUGE_L"], ls="--", color="C0", lw=1.2, label=f"ROUGE-L, live teacher (full, V={int(v['k'])})")
    top = np.nanmax(curve["ROUGE_L"].to_numpy(dtype=float)) if len(curve) else 0.0
    ax.set_ylim(0, max(0.05, 1.2 * top) if np.isfinite(top) else 1.0)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(topk["k"]), [str(int(k)) for k in topk["k"]])
    ax.set(xlabel="k (teacher top-k ids stored per answer token)", ylabel="ROUGE-L (F1)", title=title)
    handles, labels = ax.get_legend_handles_labels()
    if "KD signal kept" in curve:
        ax2 = ax.twinx()
        ax2.plot(topk["k"], topk["KD signal kept"], marker="s", ls=":", color="C1",
                 label="share of the full KD divergence kept")
        ax2.set(ylabel="KD signal kept", ylim=(0, 1.05))
        ax2.grid(False)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


BEYOND_TABLE = "table1_beyond_paper"


def load_saved_beyond(cfg: Profile) -> pd.DataFrame | None:
    """The beyond rows a previous `make beyond` saved for this profile, or None."""
    from lantern_nb import artifacts

    path = artifacts.figures_dir(cfg.name) / f"{BEYOND_TABLE}.csv"
    return pd.read_csv(path) if path.exists() else None
