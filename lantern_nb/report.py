"""Tables and figures: the paper's own numbers, and writers with provenance.

Every table goes to `figures/<profile>/<name>.csv` and `.md`, every figure to
`figures/<profile>/fig_<name>.png`, each with `<file>.provenance.json` (git sha, profile, seed,
package versions) so a result can be traced to the code and settings that made it.
"""
from __future__ import annotations

import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from lantern_nb import artifacts

TABLES: tuple[str, ...] = ("table1_kd_divergences", "table2_distillation_paths", "table3_teacher_sft",
                           "table4_classifier_structures", "table5_serving")

# The LANTERN paper's numbers (arXiv 2510.05490), stored once and shown beside ours.
_PAPER: dict[str, dict[str, Any]] = {
    "table1_kd_divergences": {
        "caption": "Table 1: explanation task, teacher Qwen2.5-7B -> student Qwen2.5-1.5B. Loss = NLL.",
        "columns": ["KD Method", "Loss", "ROUGE_1", "ROUGE_2", "ROUGE_L"],
        "rows": [["JS", 0.1167, 0.7820, 0.6390, 0.6715], ["FKL", 0.1148, 0.7775, 0.6342, 0.6670],
                 ["TVD", 0.1193, 0.7889, 0.6461, 0.6791], ["SKL", 0.1147, 0.7858, 0.6422, 0.6735]],
    },
    "table2_distillation_paths": {
        "caption": "Table 2: distillation paths; multi-stage paths use distilled intermediates as teachers.",
        "columns": ["Path", "Teacher Model", "Student Model", "Loss", "ROUGE_1", "ROUGE_2", "ROUGE_L"],
        "rows": [["teacher->0.5B", "Qwen2.5-7B", "Qwen2.5-0.5B", 0.1274, 0.7136, 0.5736, 0.6056],
                 ["teacher->1.5B", "Qwen2.5-7B", "Qwen2.5-1.5B", 0.1167, 0.7820, 0.6390, 0.6715],
                 ["teacher->3B", "Qwen2.5-7B", "Qwen2.5-3B", 0.1128, 0.7917, 0.6480, 0.6798],
                 ["teacher->3B->1.5B", "Distilled-3B", "Qwen2.5-1.5B", 0.1131, 0.7769, 0.6346, 0.6659],
                 ["teacher->3B->0.5B", "Distilled-3B", "Qwen2.5-0.5B", 0.1240, 0.7721, 0.6259, 0.6594],
                 ["teacher->1.5B->0.5B", "Distilled-1.5B", "Qwen2.5-0.5B", 0.1234, 0.7673, 0.6233, 0.6535]],
    },
    "table3_teacher_sft": {
        "caption": "Table 3: teacher model fine-tuning results.",
        "columns": ["Teacher Model", "ROUGE_1", "ROUGE_2", "ROUGE_L"],
        "rows": [["Qwen3-8B", 0.7918, 0.6566, 0.6902], ["Qwen2.5-7B", 0.7766, 0.6328, 0.6655],
                 ["Qwen2.5-7B-Instruct", 0.8084, 0.6835, 0.7156]],
    },
    "table4_classifier_structures": {
        "caption": ("Table 4: classification, differences (percentage points) from the Phi3-mini SeqCls/Last "
                    "baseline; the paper does not disclose absolute numbers."),
        "columns": ["Backbone", "Structure", "Pooling", "Interaction", "Accuracy", "F1"],
        "rows": [["Phi3-mini", "SeqCls", "Last", "-", 0.0, 0.0],
                 ["Phi3-mini", "SeqCls", "Mean", "-", -0.08, -0.22],
                 ["Phi3-mini", "TwoTower", "Last", "Concat", -1.69, -2.21],
                 ["Phi3-mini", "TwoTower", "Last", "DotProduct", -1.58, -2.02],
                 ["gte-Qwen2-1.5B-instruct", "SeqCls", "Last", "-", 1.39, 0.42],
                 ["gte-Qwen2-1.5B-instruct", "SeqCls", "Mean", "-", 1.26, 0.18],
                 ["gte-Qwen2-1.5B-instruct", "TwoTower", "Last", "Concat", 1.03, -3.25],
                 ["gte-Qwen2-1.5B-instruct", "TwoTower", "Last", "DotProduct", 0.55, -3.61]],
    },
    "table5_serving": {
        "caption": "Table 5: peak traffic, throughput (QPS per GPU) and P95 latency, normalised to explanation.",
        "columns": ["Module", "Type", "Size", "Peak Traffic", "Throughput", "Latency P95 (s)"],
        "rows": [["Summarization", "Decoder", "1.5B", 4.0, 4.0, 3.5],
                 ["Classification", "Encoder", "0.4B", 30.0, 80.0, 0.3],
                 ["Explanation", "Decoder", "1.5B", 1.0, 1.0, 7.2]],
    },
}


def paper_table(name: str) -> pd.DataFrame:
    """The paper's version of table `name` as a DataFrame (caption in `.attrs['caption']`)."""
    if name not in _PAPER:
        raise KeyError(f"no paper table {name!r}; known: {', '.join(_PAPER)}")
    spec = _PAPER[name]
    df = pd.DataFrame(spec["rows"], columns=spec["columns"])
    df.attrs["caption"] = spec["caption"]
    return df


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


def save_table(df: pd.DataFrame, name: str, cfg: Any, paper: pd.DataFrame | None = None,
               note: str = "", float_format: str = "%.4f") -> dict[str, Path]:
    """Write `df` as figures/<profile>/<name>.csv and .md (with the paper's table below ours
    when given, and a one-line note), plus provenance JSON; returns the paths."""
    out = artifacts.figures_dir(cfg.name)
    out.mkdir(parents=True, exist_ok=True)
    csv, md = out / f"{name}.csv", out / f"{name}.md"
    _write_text(csv, df.to_csv(index=False, float_format=float_format))
    parts = [f"## {name} ({cfg.name} profile)", "", df.to_markdown(index=False, floatfmt=".4f")]
    if note:
        parts += ["", note]
    if paper is not None:
        parts += ["", f"Paper: {paper.attrs.get('caption', '')}", "", paper.to_markdown(index=False, floatfmt=".4f")]
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
