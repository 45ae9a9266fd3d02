"""Tables and figures: writers with provenance, and REPORT.md comparing them with the paper.

Every table goes to `figures/<profile>/<name>.csv` and `.md`, every figure to
`figures/<profile>/fig_<name>.png`, each with `<file>.provenance.json` (git sha, profile, seed,
package versions) so a result can be traced to the code and settings that made it. The paper's
numbers live in `lantern_nb.paper`.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lantern_nb import artifacts
from lantern_nb.paper import PAPER_TABLES, paper_caption, paper_table

TABLES: tuple[str, ...] = ("table1_kd_divergences", "table2_distillation_paths", "table3_teacher_sft",
                           "table4_classifier_structures", "table5_serving")

def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=artifacts.repo_root(), capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict[str, str]:
    """Versions of the packages that decide the numbers."""
    out = {}
    for pkg in ("lantern_nb", "torch", "transformers", "peft", "accelerate", "datasets", "tokenizers",
                "rouge-score", "scikit-learn", "numpy", "pandas"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def provenance(cfg: Any, **extra: Any) -> dict[str, Any]:
    return {"git_sha": _git_sha(), "profile": cfg.name, "seed": cfg.seed, "versions": versions(), **extra}


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def save_table(df: pd.DataFrame, name: str, cfg: Any, paper: bool = False,
               note: str = "", float_format: str = "%.4f") -> dict[str, Path]:
    """Write `df` as figures/<profile>/<name>.csv and .md (with a one-line note and, when `paper`,
    the paper's table `name` below ours), plus provenance JSON; returns the paths."""
    out = artifacts.figures_dir(cfg.name)
    out.mkdir(parents=True, exist_ok=True)
    csv, md = out / f"{name}.csv", out / f"{name}.md"
    _write_text(csv, df.to_csv(index=False, float_format=float_format))
    parts = [f"## {name} ({cfg.name} profile)", "", df.to_markdown(index=False, floatfmt=".4f")]
    if note:
        parts += ["", note]
    if paper:
        parts += ["", f"Paper: {paper_caption(name)}", "", paper_table(name).to_markdown(index=False, floatfmt=".4f")]
    _write_text(md, "\n".join(parts) + "\n")
    _write_text(out / f"{name}.provenance.json", json.dumps(provenance(cfg, table=name), indent=2) + "\n")
    return {"csv": csv, "md": md}


def save_figure(fig: Any, name: str, cfg: Any, dpi: int = 120) -> Path:
    """Save a matplotlib figure as figures/<profile>/fig_<name>.png with provenance."""
    out = artifacts.figures_dir(cfg.name)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"fig_{name}.png"
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    tmp.replace(path)
    _write_text(out / f"fig_{name}.provenance.json", json.dumps(provenance(cfg, figure=name), indent=2) + "\n")
    return path


def load_table(name: str, profile: str) -> pd.DataFrame:
    """A saved table of `profile` (MissingArtifactError-like message when absent)."""
    path = artifacts.figures_dir(profile) / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run `make reproduce PROFILE={profile}` first")
    return pd.read_csv(path)


# ---------------------------------------------------------------------------------------------
# REPORT.md: every table and figure of a profile, with one computed verdict line per table.

_KD_DIVERGENCES: tuple[str, ...] = ("JS", "FKL", "TVD", "SKL")
_TIE = 1e-9

# (section key, heading, table name or None) in pipeline order (notebooks 01-07).
_SECTIONS: tuple[tuple[str, str, str | None], ...] = (
    ("data", "Data and filtering", None),
    ("table3", "Table 3 — teacher fine-tuning", "table3_teacher_sft"),
    ("table1", "Table 1 — KD divergences", "table1_kd_divergences"),
    ("table2", "Table 2 — distillation paths", "table2_distillation_paths"),
    ("table4", "Table 4 — classifier structures", "table4_classifier_structures"),
    ("sec61", "Sec. 6.1 — downscaled classifier", "sec61_downscale"),
    ("table5", "Table 5 — serving", "table5_serving"),
)

# figure name (fig_<name>.png) -> section key
FIGURE_SECTIONS: dict[str, str] = {
    "jd_compression": "data", "filter_precision_recall": "data",
    "teacher_sft_curves": "table3",
    "kd_loss_curves": "table1", "kd_rouge": "table1", "kd_rouge_vs_k": "table1",
    "distillation_paths": "table2", "scd_schedule_weights": "table2",
    "classifier_confusion": "table4",
    "downscale_tradeoff": "sec61",
    "serving_latency": "table5", "serving_batching": "table5", "handwritten_pairs": "table5",
}


def _why(profile: str) -> str:
    """The scale/data/model-family difference between `profile` and the paper, as a short clause."""
    from lantern_nb.profiles import raw_profile

    try:
        raw = raw_profile(profile)
    except (FileNotFoundError, ValueError, KeyError):
        return f"profile {profile} differs from the paper's setup in scale and data"
    models = raw.get("models", {})
    specs = [*models.get("teacher_candidates", {}).values(), *models.get("students", {}).values()]
    source = raw.get("data", {}).get("source", "unknown")
    data = {"synthetic": "synthetic", "hf_fit": "public (hf_fit)", "hf_netsol": "public (hf_netsol)",
            "file": "local-file"}.get(source, source)
    if any(str(s).startswith("tiny-") for s in specs):
        return (f"tiny models of the paper's architectures trained for minutes on {data} data; "
                "the paper fine-tunes 0.5B-8B models on production data")
    if any(str(s).startswith("base:") for s in specs):
        return (f"0.36M-2.6M-parameter analogs of the paper's architectures, pretrained upstream by this project "
                f"(data/base) and fine-tuned for minutes on {data} data; the paper fine-tunes 0.5B-8B models on "
                "production data")
    return f"the paper's model families at full size, but on {data} data instead of the paper's production data"


def _best(df: pd.DataFrame, key: str, metric: str = "ROUGE_L") -> tuple[str | None, float]:
    """(name of the single best row, its metric); name is None when the top value is tied."""
    top = float(df[metric].max())
    winners = df.loc[(df[metric] - top).abs() <= _TIE, key]
    return (str(winners.iloc[0]) if len(winners) == 1 else None), top


def _best_phrase(df: pd.DataFrame, key: str, what: str) -> tuple[str | None, str]:
    name, top = _best(df, key)
    if name is None:
        tied = int(((df["ROUGE_L"] - top).abs() <= _TIE).sum())
        return None, f"no best {what} here ({tied} tie at ROUGE_L {top:.4f})"
    return name, f"best {what} here {name} ({top:.4f})"


def _versus(a: pd.Series, b: pd.Series, metric: str = "ROUGE_L") -> str:
    """How row `a` compares with row `b` on `metric`, read with a's 95% bootstrap interval when the
    table has one: "beats" (a's low end above b's value), "is below" (a's high end below it), else
    "is within noise of"; without intervals, a plain comparison at `_TIE`."""
    av, bv = float(a[metric]), float(b[metric])
    lo, hi = a.get(f"{metric} lo"), a.get(f"{metric} hi")
    if lo is not None and hi is not None and not (pd.isna(lo) or pd.isna(hi)):
        return "beats" if float(lo) > bv else "is below" if float(hi) < bv else "is within noise of"
    return "beats" if av > bv + _TIE else "is below" if av < bv - _TIE else "ties"


def _fmt(row: pd.Series, metric: str = "ROUGE_L") -> str:
    """`0.6123 [0.58, 0.64]`: the value and its interval when the table has one."""
    lo, hi = row.get(f"{metric} lo"), row.get(f"{metric} hi")
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return f"{float(row[metric]):.4f}"
    return f"{float(row[metric]):.4f} [{float(lo):.3f}, {float(hi):.3f}]"


def _agree(ours: str | None, paper: str) -> str:
    if ours is None:
        return "the paper's ranking is not reproduced (tie)"
    return "agrees" if ours == paper else "disagrees"


def _verdict_table3(df: pd.DataFrame, paper: pd.DataFrame, md: str) -> str:
    ours, phrase = _best_phrase(df, "Teacher Model", "teacher")
    p_name, p_top = _best(paper, "Teacher Model")
    gap = float(df["ROUGE_L"].max()) - p_top
    out = (f"{phrase}, paper {p_name} ({p_top:.4f}) — {_agree(ours, str(p_name))}; "
           f"our best ROUGE_L is {abs(gap):.4f} {'below' if gap < 0 else 'above'} the paper's best")
    if ours is not None and "Label accuracy" in df.columns:
        top = df[df["Teacher Model"] == ours].iloc[0]
        others = df[df["Teacher Model"] != ours]
        vs = "; ".join(f"{_versus(top, r)} {r['Teacher Model']} ({_fmt(r)})" for _, r in others.iterrows())
        out += (f"; {ours}: ROUGE_L {_fmt(top)}, label accuracy {float(top['Label accuracy']):.3f} on "
                f"{int(top['n'])} test rows; it {vs}")
    return out + "."


def _verdict_table1(df: pd.DataFrame, paper: pd.DataFrame, md: str) -> str:
    kd = df[df["KD Method"].isin(_KD_DIVERGENCES)]
    ours, phrase = _best_phrase(kd, "KD Method", "divergence")
    p_name, p_top = _best(paper, "KD Method")
    parts = [f"{phrase}, paper {p_name} ({p_top:.4f}) — {_agree(ours, str(p_name))}"]
    sft = df[df["KD Method"] == "SFT only"]
    if len(sft):
        top, base = kd.loc[kd["ROUGE_L"].idxmax()], sft.iloc[0]
        parts.append(f"the best KD row ({top['KD Method']}, {_fmt(top)}) {_versus(top, base)} SFT only "
                     f"({_fmt(base)}); the paper reports KD improves on SFT only")
    else:
        parts.append("no SFT-only row to compare KD against")
    spread, p_spread = float(np.ptp(kd["ROUGE_L"])), float(np.ptp(paper["ROUGE_L"]))
    parts.append(f"ROUGE_L spread across the {len(kd)} divergences {spread:.4f} here vs {p_spread:.4f} in the paper")
    return "; ".join(parts) + "."


def _rouge_of(df: pd.DataFrame, path: str) -> float | None:
    hit = df.loc[df["Path"] == path, "ROUGE_L"]
    return float(hit.iloc[0]) if len(hit) else None


def _row_of(df: pd.DataFrame, path: str) -> pd.Series | None:
    hit = df[df["Path"] == path]
    return hit.iloc[0] if len(hit) else None


def _verdict_table2(df: pd.DataFrame, paper: pd.DataFrame, md: str) -> str:
    paths = df[df["Path"].isin(paper["Path"])]
    ours, phrase = _best_phrase(paths, "Path", "path")
    p_name, p_top = _best(paper, "Path")
    parts = [f"{phrase}, paper {p_name} ({p_top:.4f}) — {_agree(ours, str(p_name))}"]
    two, one = _row_of(df, "teacher->3B->0.5B"), _row_of(df, "teacher->0.5B")
    p_two, p_one = _rouge_of(paper, "teacher->3B->0.5B"), _rouge_of(paper, "teacher->0.5B")
    if two is not None and one is not None:
        parts.append(f"two-stage teacher->3B->0.5B ({_fmt(two)}) {_versus(two, one)} single-stage teacher->0.5B "
                     f"({_fmt(one)}); paper {p_two:.4f} > {p_one:.4f}")
    scd = df[df["Path"].str.contains("scd", case=False, regex=False)]
    base = _row_of(df, "teacher->1.5B")
    if len(scd) and base is not None:
        label = "Label" if "Label" in scd.columns else "Path"
        rows = "; ".join(f"{str(r[label]).split(' (')[0]} {_fmt(r)} {_versus(r, base)} single-stage teacher->1.5B"
                         for _, r in scd.iterrows())
        parts.append(f"{rows} ({_fmt(base)}) (not in the paper)")
    return "; ".join(parts) + "."


def _verdict_table4(df: pd.DataFrame, paper: pd.DataFrame, md: str) -> str:
    keys = ["Backbone", "Structure", "Pooling", "Interaction"]
    merged = df.merge(paper[keys + ["Accuracy"]].rename(columns={"Accuracy": "_paper_acc"}), on=keys)
    baseline = (merged[keys] == paper.iloc[0][keys]).all(axis=1)
    cells = merged[~baseline]
    same = int((np.sign(cells["Δ Accuracy (pp)"]) == np.sign(cells["_paper_acc"])).sum())
    parts = [f"{same} of {len(cells)} non-baseline cells have the paper's sign of the accuracy difference"]
    acc = df["Accuracy"]
    if float(np.ptp(acc)) < 0.005:
        parts.append(f"all cells have the same accuracy {float(acc.mean()):.4f} — the labels are nearly one class, "
                     "so the structures are not told apart")
    else:
        parts.append(f"absolute accuracies range {float(acc.min()):.4f}-{float(acc.max()):.4f}")
    return "; ".join(parts) + "."


def _verdict_table5(df: pd.DataFrame, paper: pd.DataFrame, md: str) -> str:
    col = "Throughput (req/s)" if "Throughput (req/s)" in df.columns else "Throughput"
    by = df.set_index("Module")[col]
    p_by = paper.set_index("Module")["Throughput"]
    ratio = float(by["Classification"] / by["Explanation"])
    p_ratio = float(p_by["Classification"] / p_by["Explanation"])
    verb = "reaches" if ratio >= p_ratio else "falls short of"
    parts = [f"classification/explanation throughput {ratio:.1f}x {verb} the paper's {p_ratio:.0f}x"]
    m = re.search(r"batched / one-at-a-time classification: ([\d.]+)x(?: \(goal ([\d.]+)x)?", md)
    if m:
        goal = f" (goal {m.group(2)}x)" if m.group(2) else ""
        parts.append(f"batching speeds classification up {m.group(1)}x{goal}")
    return "; ".join(parts) + "."


def _verdict_sec61(df: pd.DataFrame, paper: pd.DataFrame | None, md: str) -> str:
    parts = []
    for backbone, g in df.groupby("Backbone", sort=False):
        rows = g.set_index("input")
        if not {"compressed", "full"} <= set(rows.index):
            continue
        c, f = rows.loc["compressed"], rows.loc["full"]
        parts.append(f"{backbone} {c['pairs/s'] / f['pairs/s']:.2f}x throughput, "
                     f"accuracy {c['Accuracy'] - f['Accuracy']:+.4f}")
    if not parts:
        return "no backbone has both compressed and full-text rows."
    return "compressed vs full text: " + "; ".join(parts) + "."


def _why_table5(profile: str, df: pd.DataFrame, paper: pd.DataFrame) -> str:
    """Serving differs from the paper mainly in model size and hardware."""
    if "Size" not in df.columns:
        return _why(profile)
    ours = ", ".join(f"{m} {s}" for m, s in zip(df["Module"], df["Size"]))
    theirs = ", ".join(f"{m} {s}" for m, s in zip(paper["Module"], paper["Size"]))
    return f"our modules are {ours} parameters vs the paper's {theirs}, and the paper measures QPS per GPU"


_VERDICTS = {"table3": _verdict_table3, "table1": _verdict_table1, "table2": _verdict_table2,
             "table4": _verdict_table4, "sec61": _verdict_sec61, "table5": _verdict_table5}


def _table_body(md: str) -> str:
    """A saved table's markdown without its own `## <name>` heading."""
    lines = md.strip().splitlines()
    if lines and lines[0].startswith("## "):
        lines = lines[1:]
    return "\n".join(lines).strip()


def _provenance_line(out: Path, names: list[str]) -> str:
    provs = [p for p in (out / f"{n}.provenance.json" for n in names) if p.exists()]
    if not provs:
        return "No table provenance found."
    newest = max(provs, key=lambda p: p.stat().st_mtime)
    try:
        sha = json.loads(newest.read_text(encoding="utf-8")).get("git_sha") or "unknown"
    except (OSError, ValueError):
        sha = "unknown"
    date = datetime.fromtimestamp(newest.stat().st_mtime, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"Git sha {sha}, {date} (newest table provenance: `{newest.name}`)."


def table_verdicts(profile: str) -> list[tuple[str, str, str | None]]:
    """(section key, heading, verdict line or None when the table is missing) for every table of
    `profile`, each verdict computed from the saved CSV against the paper's stored numbers."""
    out = artifacts.figures_dir(profile)
    why, result = _why(profile), []
    for key, heading, name in _SECTIONS:
        if name is None:
            continue
        if not (out / f"{name}.csv").exists():
            result.append((key, heading, None))
            continue
        md_path = out / f"{name}.md"
        md = md_path.read_text(encoding="utf-8") if md_path.exists() else ""
        paper = paper_table(name) if name in PAPER_TABLES else None
        ours = load_table(name, profile)
        try:
            verdict = _VERDICTS[key](ours, paper, md)
        except (KeyError, ValueError, IndexError, TypeError) as e:
            verdict = f"cannot compare: {type(e).__name__}: {e}."
        reason = _why_table5(profile, ours, paper) if key == "table5" else why
        result.append((key, heading, f"{verdict} Why: {reason}."))
    return result


def _timings_md(profile: str) -> Path | None:
    """The run's timing table: build/<profile>/timings.md, else the copy under figures/<profile>/."""
    for path in (artifacts.build_dir(profile) / "timings.md", artifacts.figures_dir(profile) / "timings.md"):
        if path.exists():
            return path
    return None


def build_report(profile: str) -> Path:
    """Write figures/<profile>/REPORT.md: each table with one computed paper-vs-ours verdict, its
    figures and, when present, the run's per-notebook timing table; returns the path."""
    out = artifacts.figures_dir(profile)
    out.mkdir(parents=True, exist_ok=True)
    verdicts = {key: line for key, _, line in table_verdicts(profile)}
    names = [t for _, _, t in _SECTIONS if t]
    parts = [f"# LANTERN paper vs this reproduction — {profile} profile", "",
             _provenance_line(out, names), "",
             "One line per table says where this run agrees or disagrees with the paper and why; "
             "the table below it shows ours first, then the paper's."]
    for key, heading, name in _SECTIONS:
        parts += ["", f"## {heading}", ""]
        if name is not None:
            md_path, line = out / f"{name}.md", verdicts.get(key)
            if line is None:
                parts += [f"**Verdict:** not produced yet — run make reproduce PROFILE={profile}", ""]
            else:
                md = md_path.read_text(encoding="utf-8") if md_path.exists() else ""
                parts += [f"**Verdict:** {line}", ""]
                parts += [_table_body(md) if md else f"(`{md_path.name}` missing; see `{name}.csv`)", ""]
        figs = [f for f, k in FIGURE_SECTIONS.items() if k == key]
        have = [f for f in figs if (out / f"fig_{f}.png").exists()]
        parts += [f"![{f}](fig_{f}.png)" for f in have]
        missing = [f"fig_{f}.png" for f in figs if f not in have]
        if missing:
            parts += ["", f"Not produced yet: {', '.join(missing)}."]
    timings = _timings_md(profile)
    if timings is not None:
        parts += ["", "## Timing", "", "Seconds per notebook (wall clock, CPU time of the notebook's processes, "
                  "and the VM's CPU steal during it):", "", timings.read_text(encoding="utf-8").strip()]
    path = out / "REPORT.md"
    _write_text(path, "\n".join(parts).rstrip() + "\n")
    return path


README_START, README_END = "<!-- results:{profile}:start -->", "<!-- results:{profile}:end -->"
# The figures README shows inline, one per table (REPORT.md has them all).
README_FIGURES: tuple[str, ...] = ("teacher_sft_curves", "kd_rouge", "distillation_paths", "classifier_confusion",
                                   "serving_latency")


def readme_section(profile: str, figures_rel: str) -> str:
    """The README block for `profile`: one verdict per table, the key figures, the timing table."""
    out = artifacts.figures_dir(profile)
    lines = [f"Generated by `make reproduce PROFILE={profile}` from `{figures_rel}/`. "
             f"{_provenance_line(out, [t for _, _, t in _SECTIONS if t])} Every table beside the paper's is in "
             f"[`{figures_rel}/REPORT.md`]({figures_rel}/REPORT.md).", ""]
    for _, heading, line in table_verdicts(profile):
        lines.append(f"- **{heading}**: {line or 'not produced yet.'}")
    figs = [f for f in README_FIGURES if (out / f"fig_{f}.png").exists()]
    if figs:
        lines += ["", " ".join(f'<img src="{figures_rel}/fig_{f}.png" width="400" alt="{f}">' for f in figs)]
    timings = _timings_md(profile)
    if timings is not None:
        lines += ["", "Seconds per notebook (wall, CPU, steal %):", "", timings.read_text(encoding="utf-8").strip()]
    return "\n".join(lines)


def update_readme(readme: str | Path, profile: str) -> bool:
    """Replace the text between README's results markers for `profile`; False if it has none."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    start, end = README_START.format(profile=profile), README_END.format(profile=profile)
    if start not in text or end not in text:
        return False
    rel = Path(os.path.relpath(artifacts.figures_dir(profile), readme.resolve().parent)).as_posix()
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    _write_text(readme, f"{head}{start}\n{readme_section(profile, rel)}\n{end}{tail}")
    return True


def cli_report(args: Any) -> int:
    """`python -m lantern_nb report --profile P`: write REPORT.md and print its path."""
    print(build_report(args.profile))
    if getattr(args, "readme", None):
        if not update_readme(args.readme, args.profile):
            print(f"{args.readme} has no {README_START.format(profile=args.profile)} marker: left unchanged")
        else:
            print(f"updated the {args.profile} results section of {args.readme}")
    return 0


def save_beyond(cfg: Any, result: Any) -> dict[str, Path]:
    """Write the beyond-the-paper rows (figures/<profile>/table1_beyond_paper.*) and the ROUGE-vs-k
    figure (fig_kd_rouge_vs_k.png), each with provenance."""
    from lantern_nb.kd.beyond_paper import BEYOND_TABLE, plot_rouge_vs_k

    paths = save_table(result.table, BEYOND_TABLE, cfg,
                       note=(f"Beyond the paper ({cfg.name} profile): {cfg.kd.beyond_divergence.upper()} from the same "
                             f"student initialisation, {result.steps} steps each; ROUGE_L lo/hi: 95% bootstrap interval "
                             f"over the n test rows; the live row (k = V = {result.vocab}) is the full teacher "
                             f"distribution."))
    import matplotlib.pyplot as plt

    fig = plot_rouge_vs_k(result.curve, title=f"Top-k teacher cache: ROUGE-L vs k ({cfg.name} profile, "
                                              f"{result.steps} steps, beyond the paper)")
    paths["figure"] = save_figure(fig, "kd_rouge_vs_k", cfg)
    plt.close(fig)
    return paths
