"""Execute every notebook with papermill in the smoke profile, in order, in an isolated root."""
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "lantern-nb"


@pytest.mark.notebooks
def test_all_notebooks_run_in_smoke_profile(tmp_path, monkeypatch):
    import papermill as pm
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.fail(f"Jupyter kernel '{KERNEL}' is not registered; run `make setup`")
    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out = tmp_path / "build"
    out.mkdir()
    for nb in NOTEBOOKS:
        pm.execute_notebook(str(nb), str(out / nb.name), parameters={"PROFILE": "smoke"}, kernel_name=KERNEL,
                            cwd=str(ROOT / "notebooks"), progress_bar=False)
    for name in ("table1_kd_divergences", "table2_distillation_paths", "table3_teacher_sft",
                 "table4_classifier_structures", "table5_serving"):
        assert (tmp_path / "figures" / "smoke" / f"{name}.csv").exists(), f"{name} was not written"
    assert not any(p.suffix == ".tmp" for p in tmp_path.rglob("*"))
