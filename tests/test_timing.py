"""The per-notebook timing rows the Makefile writes: appended only on success, CPU time of the
process tree counted, a resumed run's latest row kept."""
import sys

import pandas as pd

from lantern_nb import timing


def test_run_appends_row_with_child_cpu_time_on_success(tmp_path):
    tsv = tmp_path / "timings.tsv"
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    assert timing.run_timed("01_x", [sys.executable, "-c", burn], tsv) == 0
    row = pd.read_csv(tsv, sep="\t", header=None, names=timing.COLUMNS).iloc[0]
    assert row["notebook"] == "01_x"
    assert row["cpu_seconds"] >= 0.3 - 0.05
    assert row["seconds"] >= row["cpu_seconds"] - 0.2
    assert 0.0 <= row["steal_pct"] <= 100.0


def test_failed_command_writes_no_row_and_passes_exit_code(tmp_path):
    tsv = tmp_path / "timings.tsv"
    assert timing.run_timed("02_x", [sys.executable, "-c", "raise SystemExit(3)"], tsv) == 3
    assert not tsv.exists()


def test_table_keeps_latest_row_per_notebook_and_totals(tmp_path):
    tsv = tmp_path / "timings.tsv"
    tsv.write_text("02_b\t10.0\t18.0\t0.0\n01_a\t5.0\t9.0\t10.0\n02_b\t20.0\t38.0\t5.0\n")
    table = timing.write_table(tsv, copy_to=tmp_path / "fig")
    assert list(table["notebook"]) == ["01_a", "02_b", "total"]
    total = table.iloc[-1]
    assert total["seconds"] == 25.0 and total["cpu_seconds"] == 47.0
    assert abs(total["steal_pct"] - (10.0 * 5 + 5.0 * 20) / 25) < 1e-9
    assert (tmp_path / "fig" / "timings.md").read_text() == tsv.with_suffix(".md").read_text()


def test_table_reads_old_two_column_files(tmp_path):
    tsv = tmp_path / "timings.tsv"
    tsv.write_text("01_a\t5.0\n")
    table = timing.timing_table(tsv)
    assert list(table.columns) == ["notebook", "seconds"] and table.iloc[-1]["seconds"] == 5.0
