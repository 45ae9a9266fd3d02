"""Execute every notebook with papermill in the smoke profile, twice, in isolated roots: all seven
run, all five tables are written, nothing half-written is left, and the two runs (under different
PYTHONHASHSEEDs) give identical tables (timing columns excepted)."""
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "lantern-nb"
TABLES = ("table1_kd_divergences", "table2_distillation_paths", "table3_teacher_sft",
          "table4_classifier_structures", "table5_serving")
TIMING = re.compile(r"second|time|throughput|latency|qps|rps|/s\b|per_s|speed|\bms\b|p50|p95|batch|\bs\b|vs live|cached",
                    re.I)


def _tables(root: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for csv in sorted((root / "figures" / "smoke").glob("*.csv")):
        df = pd.read_csv(csv)
        out[csv.stem] = df[[c for c in df.columns if not TIMING.search(str(c))]]
    return out


@pytest.mark.notebooks
def test_all_notebooks_run_in_smoke_profile_reproducibly(smoke_root, tmp_path):
    first, second = smoke_root, tmp_path / "run2"  # the first run is the session's (conftest.smoke_root)
    for name in TABLES:
        assert (first / "figures" / "smoke" / f"{name}.csv").exists(), f"{name} was not written"
    assert not [p for p in first.rglob("*") if p.name.endswith(".tmp")], "a half-written artifact was left"
    run_notebooks(second, "2")
    a, b = _tables(first), _tables(second)
    assert a.keys() == b.keys()
    for name in a:
        if name.startswith("table5"):  # serving: measured under load, all timing
            continue
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=False, rtol=1e-6, obj=name)


@pytest.mark.notebooks
def test_the_paper_profile_rehearses_end_to_end_on_stand_ins(tmp_path, monkeypatch):
    """`make rehearse`'s run: the paper's settings on the hub models' stand-ins, all seven notebooks."""
    from lantern_nb import rehearsal

    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    rehearsal.build_standins()
    run_notebooks(tmp_path, "1", profile="rehearsal")
    figures = tmp_path / "figures" / "rehearsal"
    for name in TABLES:
        assert (figures / f"{name}.csv").exists(), f"{name} was not written"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")], "a half-written artifact was left"
    t3 = pd.read_csv(figures / "table3_teacher_sft.csv")
    assert len(t3) == 3  # Qwen3-8B, Qwen2.5-7B, Qwen2.5-7B-Instruct stand-ins, each fine-tuned
    sft_nb = (tmp_path / "build" / "03_teacher_sft.ipynb").read_text()
    # each candidate's SFT ran as `accelerate launch` (the FSDP config) in two processes; rank 0 reported
    assert sft_nb.count('\\"world_size\\": 2, \\"rank\\": 0') == 3
    # and every other training step too: Table 1's rows in one launch, each Table 2 / SCD stage, every
    # classifier cell and the summarizer
    for nb, least in (("04_kd_divergences", 1), ("05_multistage_paths", 5), ("06_classifier_structures", 9)):
        text = (tmp_path / "build" / f"{nb}.ipynb").read_text()
        assert text.count('\\"world_size\\": 2, \\"rank\\": 0') >= least, nb
    kd_nb = (tmp_path / "build" / "04_kd_divergences.ipynb").read_text()
    assert '\\"kinds\\": [\\"sft\\", \\"js\\", \\"fkl\\", \\"tvd\\", \\"skl\\", \\"rkl\\", \\"skew_fkl\\", \\"skew_rkl\\"]' in kd_nb
    cls_nb = (tmp_path / "build" / "06_classifier_structures.ipynb").read_text()
    assert '\\"step\\": \\"summarizer\\"' in cls_nb and '\\"step\\": \\"classifier\\"' in cls_nb
    assert "clamped from 8192 to 512 tokens" in cls_nb  # MiniLM's positions
