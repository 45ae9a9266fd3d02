"""Where the service gets its three trained models: the one place to wire real artifacts.

Each loader checks the artifact exists (`artifacts.require` raises `MissingArtifactError` naming
the notebook that produces it), then imports the training module lazily — so the service, its
tests and `--help` work before those modules exist — and calls its loader with the artifact path.

Contract for the owning modules (each returns an object satisfying the protocol in
`lantern_nb.serving`; keyword arguments come from the profile's `serving` section):
  lantern_nb.summarizer.load_summarizer(path, batch_size=max_batch)            -> SummarizationModule
  lantern_nb.classify.load_classifier(path, batch_size=max_batch)              -> ClassificationModule
  lantern_nb.explainer.load_explainer(path, max_new_tokens=explain_max_new_tokens) -> ExplanationModule
Each loaded model is then placed on `model_specs.pick_device(cfg.device)` (a loader alone
would leave it on the CPU, so a GPU box would serve, and time, on the CPU).
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from lantern_nb import artifacts
from lantern_nb.profiles import Profile


def _call_loader(module: str, func: str, path: Path, **kwargs: Any) -> Any:
    try:
        loader = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as e:
        raise RuntimeError(f"cannot load the served model: {module}.{func} is not available ({e}); "
                           f"it is wired in lantern_nb/serving/registry.py") from e
    return loader(path, **kwargs)


def place(served: Any, cfg: Profile) -> Any:
    """`served` with its torch model (attribute `model`) moved to the profile's device."""
    import torch

    from lantern_nb.model_specs import pick_device

    model = getattr(served, "model", None)
    if isinstance(model, torch.nn.Module):
        model.to(pick_device(cfg.device))
    return served


def load_summarizer(cfg: Profile) -> Any:
    """The JD summarizer (paper 3.5.1) of profile `cfg`."""
    path = artifacts.require(cfg.name, "summarizer")
    return place(_call_loader("lantern_nb.summarizer", "load_summarizer", path, batch_size=cfg.serving.max_batch), cfg)


def load_classifier(cfg: Profile) -> Any:
    """The fit classifier (paper 3.4.2) of profile `cfg`."""
    path = artifacts.require(cfg.name, "classifier")
    return place(_call_loader("lantern_nb.classify", "load_classifier", path, batch_size=cfg.serving.max_batch), cfg)


def load_explainer(cfg: Profile) -> Any:
    """The distilled explanation student (paper 3.4.1, 5.2) of profile `cfg`."""
    path = artifacts.require(cfg.name, "explainer")
    return place(_call_loader("lantern_nb.explainer", "load_explainer", path,
                              max_new_tokens=cfg.serving.explain_max_new_tokens), cfg)
