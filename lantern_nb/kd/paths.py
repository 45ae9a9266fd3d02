"""Multi-stage distillation paths (paper Sec. 5.2, Table 2) and the SCD rows (seed paper 004).

A path is a list of roles, teacher first: ``["teacher", "3B", "0.5B"]`` distils T2 into the 3B
analog, which then (frozen) teaches the 0.5B one, all in one `run_path` call. Every stage is a
cached `runs.run_stage` keyed by its path prefix (the key chains the teacher's key), so the
single-stage T2 -> 3B run is reused as the intermediate of T2 -> 3B -> 0.5B and T2 -> 3B -> 1.5B,
and T2 -> 1.5B is the JS row of Table 1.

Divergence: the paper does not name the one used for Table 2, but its single-stage 7B -> 1.5B
row (0.1167 / 0.7820 / 0.6390 / 0.6715) is exactly Table 1's JS row, so the paths use
`kd.path_divergence` (js in every profile).
"""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from lantern_nb.kd.runs import (BEYOND, METRIC_COLUMNS, PAPER_COLUMNS, KdContext, Run, kd_context, metric_row,
                                run_stage, with_paper)

ARROW = " \u2192 "


def path_divergence(cfg: Any) -> str:
    """`kd.path_divergence` (paper: js, inferred from Table 2 = Table 1's JS row)."""
    return getattr(cfg.kd, "path_divergence", None) or cfg.kd.divergences[0]


def path_key(path: Sequence[str]) -> str:
    """The paper-table key of a path, e.g. 'teacher->3B->0.5B'."""
    return "->".join(path)


def path_label(path: Sequence[str]) -> str:
    """'Single-stage (T2 → 0.5B)' / '2-stage (T2 → 3B → 0.5B)'."""
    stages = len(path) - 1
    kind = "Single-stage" if stages == 1 else f"{stages}-stage"
    return f"{kind} ({ARROW.join('T2' if r == 'teacher' else r for r in path)})"


def _validate(cfg: Any, path: Sequence[str]) -> None:
    if len(path) < 2 or path[0] != "teacher" or any(r not in cfg.models.students for r in path[1:]):
        raise ValueError(f"path {list(path)} must be 'teacher' followed by student sizes from models.students "
                         f"({', '.join(cfg.models.students)})")


def run_path(cfg: Any, path: Sequence[str], ctx: KdContext | None = None, kind: str | None = None) -> dict[str, Any]:
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


def scd_variants(cfg: Any) -> list[tuple[str, bool]]:
    """(row name, adaptive) of the seed-004 rows the profile asks for."""
    out = []
    if cfg.kd.scd:
        out.append(("SCD", False))
        if cfg.kd.adaptive_weighting:
            out.append(("SCD + AW", True))
    return out


def run_table2(cfg: Any, ctx: KdContext | None = None, progress: bool = True) -> pd.DataFrame:
    """Table 2: one row per `kd.paths` entry, then SCD / SCD + AW (beyond the paper), with the
    paper's numbers beside ours. Stage details are in `df.attrs["stages"]`."""
    from tqdm.auto import tqdm

    from lantern_nb.kd.scd import run_scd
    from lantern_nb.report import paper_table

    ctx = ctx or kd_context(cfg)
    rows, stages, curves = [], {}, {}
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
            row = {"Path": f"scd{'+aw' if adaptive else ''}:teacher->{role}", "Label": label,
                   "Teacher Model": f"{ctx.teacher_name} SFT checkpoints ({len(ctx.checkpoints or []) or 1})",
                   "Student Model": role, **metric_row(run.metrics), "Note": f"{BEYOND} (SCD, Feng et al. 2026)",
                   "Cached": run.cached}
            stages[row["Path"]] = [{"name": run.name, "cached": run.cached, "dir": str(run.dir),
                                    "train_seconds": run.metrics["train_seconds"],
                                    "eval_seconds": run.metrics["eval_seconds"],
                                    "scd_boundaries": run.metrics.get("scd_boundaries")}]
            curves[label] = run.curve
        rows.append(row)
    df = with_paper(pd.DataFrame(rows), paper_table("table2_distillation_paths"), "Path", "Path")
    df = df[["Path", "Label", "Teacher Model", "Student Model", *METRIC_COLUMNS.values(), *PAPER_COLUMNS.values(),
             "Note", "Cached"]]
    df.attrs["stages"] = stages
    df.attrs["curves"] = curves
    return df


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
