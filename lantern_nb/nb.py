"""The two calls at the top of every notebook: `setup()` (plot style, versions, device) and
`start(PROFILE, OVERRIDES)` (strict profile loading and seeding), fastbook-style."""
from __future__ import annotations

import os
import random
from typing import Any

import numpy as np

from lantern_nb.profiles import Profile, load_profile


def setup() -> dict[str, Any]:
    """Plot style, quiet hub access, and a one-line summary of versions and device."""
    import matplotlib
    import seaborn as sns
    import torch

    from lantern_nb.report import versions
    from lantern_nb.zoo import pick_device

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sns.set_theme(style="whitegrid", context="notebook")
    matplotlib.rcParams["figure.figsize"] = (7.5, 4.0)
    info = {"device": str(pick_device()), **versions()}
    print(" | ".join(f"{k} {v}" for k, v in info.items()))
    return info


def seed_everything(seed: int) -> None:
    import torch
    from transformers import set_seed

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    set_seed(seed)


def start(profile: str, overrides: dict[str, Any] | None = None) -> Profile:
    """Load `profile` strictly (unknown keys / wrong types raise, naming the key), seed everything,
    and forbid hub access for the offline profiles."""
    cfg = load_profile(profile, **(overrides or {}))
    if cfg.name == "paper":
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("the paper profile needs a CUDA GPU (paper: 8x H100 80GB) and hub access; this machine "
                               "has no GPU. Check the plan with `make reproduce PROFILE=paper DRY_RUN=1`, or run "
                               "PROFILE=cpu here.")
    else:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
    seed_everything(cfg.seed)
    print(f"profile={cfg.name} seed={cfg.seed} overrides={overrides or {}}")
    return cfg
