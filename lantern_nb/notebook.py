"""The two calls at the top of every notebook: `setup()` (plot style, versions, device) and
`start(PROFILE, OVERRIDES)` (strict profile loading and seeding), fastbook-style."""
from __future__ import annotations

import os
import random
import time
from typing import Any

import numpy as np

from lantern_nb.profiles import Profile, load_profile


def setup() -> dict[str, Any]:
    """Plot style, quiet hub access, and a one-line summary of versions and device."""
    import matplotlib
    import seaborn as sns
    import torch

    from lantern_nb.report import versions
    from lantern_nb.model_specs import pick_device

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sns.set_theme(style="whitegrid", context="notebook")
    matplotlib.rcParams["figure.figsize"] = (7.5, 4.0)
    info = {"device": str(pick_device()), **versions()}
    print(" | ".join(f"{k} {v}" for k, v in info.items()))
    return info


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch (every device) RNGs, as transformers.set_seed does, without the
    ~7 s import of transformers' training stack in notebooks that never train."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def require_device(cfg: Profile) -> None:
    """Stop at once when `cfg` needs hardware this machine lacks: a profile on hub checkpoints (paper, gpu)
    needs CUDA unless it says `device: cpu` (the rehearsal's stand-ins)."""
    from lantern_nb.model_specs import uses_tiny_models

    if not uses_tiny_models(cfg) and cfg.device != "cpu":
        import torch

        if not torch.cuda.is_available():
            gpus = f"{cfg.hardware.gpus} x {cfg.hardware.gpu_memory_gb:.0f} GB" if cfg.hardware.gpus > 1 else \
                f"one {cfg.hardware.gpu_memory_gb:.0f} GB GPU"
            raise RuntimeError(f"the {cfg.name} profile needs a CUDA GPU ({gpus}) and hub access; this machine "
                               f"has no GPU. Check the plan with `make reproduce PROFILE={cfg.name} DRY_RUN=1`, or run "
                               "PROFILE=cpu here.")


def all_local(cfg: Profile) -> bool:
    """True when every model the profile names is the project's own or a stand-in (nothing from the hub)."""
    m = cfg.models
    specs = [*m.teacher_candidates.values(), *m.students.values(), *m.classifier_backbones.values(), m.summarizer]
    return all(s.startswith(("tiny-", "base:", "wheel:", "standin:")) for s in specs)


def cli_check(args: Any) -> int:
    """`python -m lantern_nb check --profile P`: the profile loads strictly and its hardware is here."""
    try:
        require_device(load_profile(args.profile))
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        print(f"error: {e}")
        return 2
    print(f"profile {args.profile}: ok")
    return 0


def start(profile: str, overrides: dict[str, Any] | None = None) -> Profile:
    """Load `profile` strictly (unknown keys / wrong types raise, naming the key), seed everything,
    and forbid hub access for the offline profiles."""
    cfg = load_profile(profile, **(overrides or {}))
    require_device(cfg)
    from lantern_nb.model_specs import uses_tiny_models

    if uses_tiny_models(cfg) or all_local(cfg):
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
    seed_everything(cfg.seed)
    print(f"profile={cfg.name} seed={cfg.seed} overrides={overrides or {}}")
    return cfg


def cli_beyond(args: Any) -> int:
    """`python -m lantern_nb beyond --profile P` (`make beyond`): train and score the beyond rows."""
    from lantern_nb.kd.beyond_paper import run_beyond_rows
    from lantern_nb.report import save_beyond

    cfg = start(args.profile, {})
    t0 = time.perf_counter()
    result = run_beyond_rows(cfg)
    paths = save_beyond(cfg, result)
    cols = ["KD Method", "ROUGE_L", "ROUGE_L lo", "ROUGE_L hi", "Label accuracy", "n", "Disk bytes/token"]
    print(result.table[[c for c in cols if c in result.table.columns]].to_string(index=False))
    print(f"beyond rows in {time.perf_counter() - t0:.0f} s -> {paths['md']}")
    return 0
