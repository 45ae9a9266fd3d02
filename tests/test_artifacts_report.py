import json

import pandas as pd
import pytest

from lantern_nb import artifacts, paper, report
from lantern_nb.profiles import load_profile


def test_missing_artifact_names_its_producer(tmp_root):
    with pytest.raises(artifacts.MissingArtifactError, match=r"02_filtering\.ipynb.*PROFILE=smoke"):
        artifacts.require("smoke", "d_seed")


def test_repo_root_follows_env(tmp_root):
    assert artifacts.data_dir("cpu") == tmp_root / "data" / "cpu"


def test_save_table_and_figure_with_provenance(tmp_root):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = load_profile("smoke")
    df = pd.DataFrame({"KD Method": ["JS"], "ROUGE_L": [0.5]})
    paths = report.save_table(df, "table1_kd_divergences", cfg, paper=True)
    assert pd.read_csv(paths["csv"]).equals(df)
    md = paths["md"].read_text()
    assert "0.6715" in md and "JS" in md
    prov = json.loads((tmp_root / "figures/smoke/table1_kd_divergences.provenance.json").read_text())
    assert prov["profile"] == "smoke" and prov["seed"] == cfg.seed and "torch" in prov["versions"]
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    png = report.save_figure(fig, "demo", cfg)
    assert png.name == "fig_demo.png" and png.stat().st_size > 1000


@pytest.mark.parametrize("name", report.TABLES)
def test_paper_tables_exist(name):
    assert len(paper.paper_table(name)) >= 3 and paper.paper_caption(name).startswith("Table ")


def test_beside_paper_adds_the_paper_columns():
    """Table 1 gets Paper Loss / ROUGE columns matched on KD Method; rows the paper lacks get NaN."""
    ours = pd.DataFrame({"KD Method": ["SFT only", "TVD", "JS"], "ROUGE_L": [0.1, 0.3, 0.2]})
    df = paper.beside_paper(ours, "table1_kd_divergences", "KD Method")
    assert list(df.columns) == ["KD Method", "ROUGE_L", "Paper Loss", "Paper ROUGE_1", "Paper ROUGE_2", "Paper ROUGE_L"]
    assert list(df["KD Method"]) == ["SFT only", "TVD", "JS"] and df.iloc[0, 2:].isna().all()
    assert df.loc[1, "Paper ROUGE_L"] == 0.6791 and df.loc[2, "Paper Loss"] == 0.1167
    cell = pd.DataFrame([["Phi3-mini", "SeqCls", "Mean", "-", 0.5]],
                        columns=["Backbone", "Structure", "Pooling", "Interaction", "Δ Accuracy (pp)"])
    t4 = paper.beside_paper(cell, "table4_classifier_structures", ["Backbone", "Structure", "Pooling", "Interaction"])
    assert t4[["paper Δ Accuracy (pp)", "paper Δ F1 (pp)"]].iloc[0].tolist() == [-0.08, -0.22]
    assert paper.paper_value("table5_serving", "Classification", "Throughput") == 80.0
