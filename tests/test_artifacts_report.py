import json

import pandas as pd
import pytest

from lantern_nb import artifacts, report
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
    paths = report.save_table(df, "table1_kd_divergences", cfg, paper=report.paper_table("table1_kd_divergences"))
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
    assert len(report.paper_table(name)) >= 3
