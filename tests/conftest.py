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
