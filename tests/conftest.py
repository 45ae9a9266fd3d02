"""Shared fixtures: an isolated project root so tests never write into the checkout's data/."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def tmp_root(tmp_path, monkeypatch):
    """Point lantern_nb.artifacts at a fresh root (data/, figures/ under tmp_path)."""
    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A small corpus BPE with the project's special tokens and chat template."""
    from lantern_nb import model_specs

    texts = [
        "Senior Software Engineer. Requirements: 5+ years of Python, Kubernetes, SQL. Bachelor's degree.",
        "Registered Nurse (RN) with an active license, BLS certification and Epic EHR experience.",
        "Warehouse associate: forklift certification, WMS, lift 50 lbs, Spanish a plus.",
        "Staff accountant: CPA preferred, QuickBooks, GAAP, month-end close, 3 years experience.",
    ] * 40
    return model_specs.train_tokenizer(texts, 600)


def run_notebooks(root, hash_seed: str, profile: str = "smoke") -> None:
    """Execute every notebook with papermill in `profile` into `root` (LANTERN_ROOT), the kernels
    under PYTHONHASHSEED=`hash_seed`; executed copies go to `root`/build."""
    from pathlib import Path

    import papermill as pm

    repo = Path(__file__).resolve().parents[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LANTERN_ROOT", str(root))
        mp.setenv("PYTHONHASHSEED", hash_seed)  # inherited by the kernels: set order must not matter
        mp.setenv("HF_HUB_OFFLINE", "1")
        out = Path(root) / "build"
        out.mkdir(parents=True, exist_ok=True)  # the rehearsal's stand-ins live under build/
        for nb in sorted((repo / "notebooks").glob("*.ipynb")):
            pm.execute_notebook(str(nb), str(out / nb.name), parameters={"PROFILE": profile}, kernel_name="lantern-nb",
                                cwd=str(repo / "notebooks"), progress_bar=False)


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory):
    """One papermill run of all seven notebooks in the smoke profile (PYTHONHASHSEED=1) in a fresh
    root, built once per session: test_notebooks.py checks it, test_browser.py copies its artifacts.
    LANTERN_TEST_SMOKE_ROOT=<dir> reuses a finished run there instead (while working on a test)."""
    from pathlib import Path

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    if os.environ.get("LANTERN_TEST_SMOKE_ROOT"):
        return Path(os.environ["LANTERN_TEST_SMOKE_ROOT"])

    try:
        KernelSpecManager().get_kernel_spec("lantern-nb")
    except NoSuchKernel:
        pytest.fail("Jupyter kernel 'lantern-nb' is not registered; run `make setup`")
    root = tmp_path_factory.mktemp("smoke_run1")
    run_notebooks(root, "1")
    return root
