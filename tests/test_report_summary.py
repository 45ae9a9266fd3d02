"""REPORT.md: computed paper-vs-ours verdicts from fake tables in an isolated root."""
from __future__ import annotations

import pandas as pd
import pytest

from lantern_nb import artifacts, cli, report
from lantern_nb.paper import paper_table

PROFILE = "smoke"


def _write(name: str, df: pd.DataFrame, note: str = "") -> None:
    out = artifacts.figures_dir(PROFILE)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / f"{name}.csv", index=False)
    md = f"## {name} ({PROFILE} profile)\n\n{df.to_markdown(index=False)}\n\n{note}\n"
    (out / f"{name}.md").write_text(md, encoding="utf-8")


def _table1(sft_rouge_l: float) -> pd.DataFrame:
    rows = [("SFT only", sft_rouge_l), ("JS", 0.30), ("FKL", 0.28), ("TVD", 0.25), ("SKL", 0.27), ("RKL", 0.9)]
    return pd.DataFrame(rows, columns=["KD Method", "ROUGE_L"])


def _verdict(text: str, heading: str) -> str:
    section = text.split(f"## {heading}", 1)[1]
    return next(line for line in section.splitlines() if line.startswith("**Verdict:**"))


@pytest.mark.parametrize("sft, expected", [(0.35, "is below SFT only"), (0.20, "beats SFT only")])
def test_table1_kd_vs_sft_only(tmp_root, sft, expected):
    _write("table1_kd_divergences", _table1(sft))
    line = _verdict(report.build_report(PROFILE).read_text(encoding="utf-8"), "Table 1")
    assert expected in line
    assert "best divergence here JS (0.3000)" in line  # RKL is beyond the paper and not ranked
    assert "0.0500 here vs 0.0121 in the paper" in line
    assert "Why: tiny models" in line


@pytest.mark.parametrize("lo, hi, expected", [(0.26, 0.34, "is within noise of SFT only"),
                                               (0.29, 0.31, "beats SFT only"), (0.22, 0.24, "is below SFT only")])
def test_table1_verdict_reads_the_interval(tmp_root, lo, hi, expected):
    df = _table1(0.28)
    df["ROUGE_L lo"], df["ROUGE_L hi"] = lo, hi
    _write("table1_kd_divergences", df)
    line = _verdict(report.build_report(PROFILE).read_text(encoding="utf-8"), "Table 1")
    assert expected in line and f"0.3000 [{lo:.3f}, {hi:.3f}]" in line


def test_table3_names_best_candidate(tmp_root):
    df = pd.DataFrame([("Qwen3-8B", 0.21), ("Qwen2.5-7B", 0.28), ("Qwen2.5-7B-Instruct", 0.25)],
                      columns=["Teacher Model", "ROUGE_L"])
    _write("table3_teacher_sft", df)
    line = _verdict(report.build_report(PROFILE).read_text(encoding="utf-8"), "Table 3")
    assert "best teacher here Qwen2.5-7B (0.2800)" in line
    assert "disagrees" in line and "0.4356 below the paper's best" in line


def test_missing_tables_say_not_produced(tmp_root):
    _write("table1_kd_divergences", _table1(0.2))
    text = report.build_report(PROFILE).read_text(encoding="utf-8")
    assert _verdict(text, "Table 5") == "**Verdict:** not produced yet — run make reproduce PROFILE=smoke"
    assert "## Timing" not in text


def test_table4_degenerate_accuracy(tmp_root):
    paper = paper_table("table4_classifier_structures")
    df = paper[["Backbone", "Structure", "Pooling", "Interaction"]].copy()
    df["Δ Accuracy (pp)"] = [0.0, -1.0, -1.0, 2.0, 1.0, 0.0, 0.0, 0.0]
    df["Accuracy"] = 0.98
    _write("table4_classifier_structures", df)
    line = _verdict(report.build_report(PROFILE).read_text(encoding="utf-8"), "Table 4")
    assert "3 of 7 non-baseline cells" in line
    assert "all cells have the same accuracy 0.9800" in line


def test_written_atomically_with_figures_and_cli(tmp_root, monkeypatch, capsys):
    _write("table1_kd_divergences", _table1(0.2))
    out = artifacts.figures_dir(PROFILE)
    (out / "fig_kd_rouge.png").write_bytes(b"png")
    artifacts.build_dir(PROFILE).mkdir(parents=True)
    (artifacts.build_dir(PROFILE) / "timings.md").write_text("| notebook | seconds |\n", encoding="utf-8")
    written = []
    real = report._write_text
    monkeypatch.setattr(report, "_write_text", lambda p, t: (written.append(p), real(p, t)))
    assert cli.main(["report", "--profile", PROFILE]) == 0
    path = out / "REPORT.md"
    assert capsys.readouterr().out.strip() == str(path)
    assert written == [path]
    assert not list(out.glob("*.tmp"))
    text = path.read_text(encoding="utf-8")
    assert "![kd_rouge](fig_kd_rouge.png)" in text and "## Timing" in text
    assert "table1_kd_divergences (smoke profile)" not in text  # the saved table's own heading is dropped


def test_readme_section_replaced_between_markers_only(tmp_root, tmp_path):
    _write("table1_kd_divergences", _table1(0.2))
    out = artifacts.figures_dir(PROFILE)
    (out / "fig_kd_rouge.png").write_bytes(b"png")
    (out / "timings.md").write_text("| notebook | seconds |\n|:--|--:|\n| total | 12.0 |\n", encoding="utf-8")
    readme = tmp_root / "README.md"
    start, end = report.README_START.format(profile=PROFILE), report.README_END.format(profile=PROFILE)
    readme.write_text(f"# Title\n\nbefore\n{start}\nstale numbers\n{end}\nafter\n", encoding="utf-8")
    assert report.update_readme(readme, PROFILE)
    text = readme.read_text(encoding="utf-8")
    assert "stale numbers" not in text and text.startswith("# Title\n\nbefore\n") and text.endswith(f"{end}\nafter\n")
    block = text.split(start)[1].split(end)[0]
    assert "**Table 1 — KD divergences**: best divergence here JS (0.3000)" in block
    assert "**Table 3 — teacher fine-tuning**: not produced yet." in block
    assert 'src="figures/smoke/fig_kd_rouge.png"' in block and "| total | 12.0 |" in block
    assert report.update_readme(readme, PROFILE) and readme.read_text(encoding="utf-8") == text  # idempotent


def test_readme_without_markers_is_left_unchanged(tmp_root, capsys):
    _write("table1_kd_divergences", _table1(0.2))
    readme = tmp_root / "README.md"
    readme.write_text("# no markers\n", encoding="utf-8")
    assert cli.main(["report", "--profile", PROFILE, "--readme", str(readme)]) == 0
    assert "has no <!-- results:smoke:start --> marker" in capsys.readouterr().out
    assert readme.read_text(encoding="utf-8") == "# no markers\n"
