"""Multi-stage distillation paths (paper Sec. 5.2, Table 2) and the SCD rows (Feng et al. 2026).

A path is a list of roles, teacher first: ``["teacher", "3B", "0.5B"]`` distils T2 into the 3B
analog, which then (frozen) teaches the 0.5B one, all in one `run_path` call. Every stage is a
cached `runs.run_stage` keyed by its path prefix (the key chains the teacher's key), so the
single-stage T2 -> 3B run is reused as the intermediate of T2 -> 3B -> 0.5B and T2 -> 3B -> 1.5B,
and T2 -> 1.5B is the JS row of Table 1.

Divergence: the paper does not name the one used for Table 2, but its single-stage 7B -> 1.5B
row is exactly Table 1's JS row (Loss and all three ROUGE numbers, see `lantern_nb.paper`), so
the paths use `kd.path_divergence` (js in every profile).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from lantern_nb.kd.runs import (BEYOND, METRIC_COLUMNS, PAPER_COLUMNS, KdContext, Run, kd_context, metric_row,
                                run_stage, stage_launcher)
from lantern_nb.paper import beside_paper
from lantern_nb.profiles import Profile

from lantern_nb.kd.scd import AdaptiveWeighting, TeacherSchedule, scd_teachers

ARROW = " \u2192 "


def path_divergence(cfg: Profile) -> str:
    """`kd.path_divergence` (paper: js, inferred from Table 2 = Table 1's JS row)."""
    return cfg.kd.path_divergence


def path_key(path: Sequence[str]) -> str:
    """The paper-table key of a path, e.g. 'teacher->3B->0.5B'."""
    return "->".join(path)


def path_roles(key: str) -> list[str]:
    """The roles of path key `key`, teacher first (the inverse of `path_key`)."""
    return key.split("->")


def path_label(path: Sequence[str]) -> str:
    """'Single-stage (T2 → 0.5B)' / '2-stage (T2 → 3B → 0.5B)'."""
    stages = len(path) - 1
    kind = "Single-stage" if stages == 1 else f"{stages}-stage"
    return f"{kind} ({ARROW.join('T2' if r == 'teacher' else r for r in path)})"


def _validate(cfg: Profile, path: Sequence[str]) -> None:
    if len(path) < 2 or path[0] != "teacher" or any(r not in cfg.models.students for r in path[1:]):
        raise ValueError(f"path {list(path)} must be 'teacher' followed by student sizes from models.students "
                         f"({', '.join(cfg.models.students)})")


def run_path(cfg: Profile, path: Sequence[str], ctx: KdContext | None = None, kind: str | None = None) -> dict[str, Any]:
    """Run every stage of `path` (reusing cached prefixes); the final student's metrics and stages."""
    _validate(cfg, path)
    ctx = ctx or kd_context(cfg)
    kind = kind or path_divergence(cfg)
    runs: list[Run] = []
    teacher: Run | None = None
    for i in range(1, len(path)):
        run = run_stage(ctx, f"{'-'.join(path[: i + 1])}.{kind}", path[i], kind, teacher=teacher,
                        keep_model=i < len(path) - 1)
        runs.append(run)
        teacher = run
    final = runs[-1]
    return {"path": path_key(path), "label": path_label(path), "kind": kind,
            "teacher": ctx.teacher_name if len(path) == 2 else f"Distilled-{path[-2]}", "student": path[-1],
            "spec": cfg.models.students[path[-1]], "metrics": final.metrics, "runs": runs,
            "stages": [{"name": r.name, "cached": r.cached, "dir": str(r.dir),
                        "train_seconds": r.metrics["train_seconds"], "eval_seconds": r.metrics["eval_seconds"]}
                       for r in runs]}


def scd_variants(cfg: Profile) -> list[tuple[str, bool]]:
    """(row name, adaptive) of the seed-004 rows the profile asks for."""
    out = []
    if cfg.kd.scd:
        out.append(("SCD", False))
        if cfg.kd.adaptive_weighting:
            out.append(("SCD + AW", True))
    return out


def scd_key(role: str, adaptive: bool) -> str:
    """The Table 2 key of an SCD row, e.g. 'scd+aw:teacher->1.5B' (not a path: no paper row)."""
    return f"scd{'+aw' if adaptive else ''}:teacher->{role}"


def is_scd(key: str) -> bool:
    """Whether Table 2 key `key` is an SCD row rather than a distillation path."""
    return key.startswith("scd")


@dataclass
class Table2Result:
    """Table 2 and its runs: per row (by Path) the stages it ran or reused, per row label the final
    stage's loss curve, and per SCD row its run metrics (`scd_phases`: the teacher checkpoint of
    each step; `aw_trace`: the spread of the adaptive weights per micro-batch)."""

    table: pd.DataFrame
    stages: dict[str, list[dict[str, Any]]]
    curves: dict[str, list[tuple[int, float]]]
    scd: dict[str, dict[str, Any]]

    def stage_table(self) -> pd.DataFrame:
        """One row per stage of every Table 2 row: row, name, cached, train and eval seconds."""
        return pd.DataFrame([{"row": k, **s} for k, v in self.stages.items() for s in v],
                            columns=["row", "name", "cached", "train_seconds", "eval_seconds"])


def run_table2(cfg: Profile, ctx: KdContext | None = None, progress: bool = True) -> Table2Result:
    """Table 2: one row per `kd.paths` entry, then SCD / SCD + AW (beyond the paper), with the
    paper's numbers beside ours, and the stage details of every row."""
    from tqdm.auto import tqdm

    ctx = ctx or kd_context(cfg)
    rows, stages, curves, scd = [], {}, {}, {}
    jobs: list[tuple[str, Any]] = [("path", p) for p in cfg.kd.paths] + [("scd", v) for v in scd_variants(cfg)]
    for what, item in tqdm(jobs, desc="Table 2 runs", disable=not progress):
        if what == "path":
            res = run_path(cfg, item, ctx)
            row = {"Path": res["path"], "Label": res["label"], "Teacher Model": res["teacher"],
                   "Student Model": res["student"], **metric_row(res["metrics"]), "Note": "paper row",
                   "Cached": all(s["cached"] for s in res["stages"])}
            stages[res["path"]] = res["stages"]
            curves[res["label"]] = res["runs"][-1].curve
        else:
            name, adaptive = item
            run = run_scd(cfg, ctx, adaptive=adaptive)
            role = cfg.kd.student
            label = f"{name} (T2 checkpoints{ARROW}{role})"
            row = {"Path": scd_key(role, adaptive), "Label": label,
                   "Teacher Model": f"{ctx.teacher_name} SFT checkpoints ({len(ctx.checkpoints or []) or 1})",
                   "Student Model": role, **metric_row(run.metrics), "Note": f"{BEYOND} (SCD, Feng et al. 2026)",
                   "Cached": run.cached}
            stages[row["Path"]] = [{"name": run.name, "cached": run.cached, "dir": str(run.dir),
                                    "train_seconds": run.metrics["train_seconds"],
                                    "eval_seconds": run.metrics["eval_seconds"],
                                    "scd_boundaries": run.metrics.get("scd_boundaries")}]
            curves[label] = run.curve
            scd[row["Path"]] = run.metrics
        rows.append(row)
    df = beside_paper(pd.DataFrame(rows), "table2_distillation_paths", "Path")
    df = df[["Path", "Label", "Teacher Model", "Student Model", *METRIC_COLUMNS.values(), *PAPER_COLUMNS.values(),
             "Note", "Cached"]]
    return Table2Result(df, stages, curves, scd)


def multistage_gains(table: pd.DataFrame, student: str) -> pd.DataFrame:
    """Every multi-stage path of Table 2 into `student` against the single-stage teacher -> `student`
    row: ROUGE-1 of both, our gain and the paper's (Sec. 5.2); empty without the single-stage row."""
    ours = table.set_index("Path")
    single = path_key(["teacher", student])
    cols = ["Label", "ROUGE_1", "Single-stage ROUGE_1", "Gain", "Paper gain"]
    if single not in ours.index:
        return pd.DataFrame(columns=cols)
    multi = [k for k in ours.index if not is_scd(k) and len(path_roles(k)) > 2 and path_roles(k)[-1] == student]
    out = pd.DataFrame({"Label": ours.loc[multi, "Label"], "ROUGE_1": ours.loc[multi, "ROUGE_1"]})
    out["Single-stage ROUGE_1"] = ours.loc[single, "ROUGE_1"]
    out["Gain"] = out["ROUGE_1"] - out["Single-stage ROUGE_1"]
    out["Paper gain"] = ours.loc[multi, "Paper ROUGE_1"] - ours.loc[single, "Paper ROUGE_1"]
    return out[cols]


def scd_vs_single_stage(table: pd.DataFrame, student: str) -> pd.DataFrame:
    """The SCD rows of Table 2 against the single-stage teacher -> `student` row (the same student
    distilled the standard way): ROUGE-L and NLL of both; empty without that row."""
    ours = table.set_index("Path")
    single = path_key(["teacher", student])
    cols = ["Label", "ROUGE_L", "Loss (NLL)", "Single-stage ROUGE_L", "Single-stage Loss (NLL)"]
    if single not in ours.index:
        return pd.DataFrame(columns=cols)
    rows = [k for k in ours.index if is_scd(k)]
    out = ours.loc[rows, ["Label", "ROUGE_L", "Loss (NLL)"]].copy()
    out["Single-stage ROUGE_L"] = ours.loc[single, "ROUGE_L"]
    out["Single-stage Loss (NLL)"] = ours.loc[single, "Loss (NLL)"]
    return out[cols]


def plot_scd(scd: dict[str, dict[str, Any]]):
    """Left: the T2 checkpoint (phase) each SCD step distilled from; right: the smallest and largest
    adaptive weight per micro-batch of the SCD + AW runs (`Table2Result.scd`)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, m in scd.items():
        phases = m.get("scd_phases", [])
        axes[0].step(range(len(phases)), phases, where="post", label=name)
        trace = m.get("aw_trace", [])
        if trace:
            axes[1].plot([t["w_min"] for t in trace], label="min weight")
            axes[1].plot([t["w_max"] for t in trace], label="max weight")
    axes[0].set(xlabel="step", ylabel="teacher checkpoint (phase)", title="SCD schedule")
    axes[1].set(xlabel="micro-batch", ylabel="AW sample weight", title="Adaptive weighting")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_paths(df: pd.DataFrame, metric: str = "ROUGE_L"):
    """Horizontal bars of `metric` per path (ours), the paper's value as a marker where it has one."""
    import matplotlib.pyplot as plt
    import numpy as np

    y = np.arange(len(df))[::-1]
    fig, ax = plt.subplots(figsize=(8.0, 0.45 * len(df) + 1.5))
    colors = ["tab:gray" if BEYOND in str(n) else "tab:blue" for n in df["Note"]]
    ax.barh(y, df[metric], color=colors, label=f"ours ({metric})")
    paper = df[PAPER_COLUMNS[metric]]
    if paper.notna().any():
        ax.scatter(paper, y, marker="|", s=250, color="black", zorder=3, label="paper")
    for yi, v in zip(y, df[metric]):
        ax.text(v, yi, f" {v:.3f}", va="center", fontsize=8)
    ax.set_yticks(y, df["Label"])
    ax.set(xlabel=metric, xlim=(0, 1.08), title="Distillation paths (grey: beyond the paper, SCD)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def run_scd(cfg: Profile, ctx: Any = None, adaptive: bool = False, role: str | None = None, kind: str | None = None):
    """Distil student `role` (default `kd.student`) from T2's SFT checkpoints in order (SCD), with
    Adaptive Weighting when `adaptive`; cached and evaluated like every KD stage (`runs.Run`)."""
    ctx = ctx or kd_context(cfg)
    role = role or cfg.kd.student
    kind = kind or path_divergence(cfg)
    ckpts = list(ctx.checkpoints or [])
    name = f"teacher-{role}.{kind}.scd{'-aw' if adaptive else ''}"
    extra = ["scd", [Path(p).name for p in ckpts], adaptive, cfg.kd.aw_tau if adaptive else None]
    launch_args = ["--scd", *(["--aw"] if adaptive else [])]
    if stage_launcher(ctx):  # the launched run builds the same schedule from T2's checkpoints on disk
        return run_stage(ctx, name, role, kind, extra_key=extra, launch_args=launch_args)
    schedule = TeacherSchedule(None, scd_teachers(ckpts, ctx.training_teacher()))
    aw = AdaptiveWeighting(cfg.kd.aw_tau, cfg.kd.chunk_size) if adaptive else None
    return run_stage(ctx, name, role, kind, schedule=schedule, token_weights=aw, extra_key=extra, launch_args=None)
