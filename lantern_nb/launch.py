"""Training steps as commands `accelerate launch` can start: `python -m lantern_nb train {sft,kd} --profile P`.

Each command runs one training step of the pipeline from its inputs in data/<profile>/ through the project's
one training loop (`train.train`): `sft` fine-tunes the profile's teacher T2 on the D_seed train rows (paper
Sec. 3.3.2), `kd` distils T2 into `kd.student` with one divergence (Sec. 3.4.2). Under `accelerate launch` the
Trainer reads the launcher's environment and runs data-parallel (DDP; NCCL on GPUs, gloo on a CPU-only machine
with `--multi_gpu --num_processes N`: accelerate 1.15 runs `--cpu` as one process); only the main process writes. The last line printed is one JSON object with at least `loss` (mean training loss),
`first_loss` (the first logged step's), `steps` and `world_size`.

Outputs go to build/<profile>/launch/<step>/ (never over the notebooks' run caches), so a launched run can
be compared with, not mistaken for, the notebook's own.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Sequence

STEPS = ("sft", "kd")


def parse_sets(pairs: Sequence[str]) -> dict[str, Any]:
    """`["kd.max_steps=2", "sft.lr=1e-4"]` -> profile overrides, values read as YAML (numbers, lists, booleans)."""
    import yaml

    out: dict[str, Any] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: expected section.key=value, e.g. --set kd.max_steps=2")
        parsed = yaml.safe_load(value)
        if isinstance(parsed, str):  # YAML 1.1 reads 1e-4 as text
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        out[key.strip()] = parsed
    return out


def world() -> tuple[int, int]:
    """(rank, world size) from the launcher's environment (`accelerate launch` / torchrun set them)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def run_step(step: str, profile: str, sets: dict[str, Any] | None = None, kind: str | None = None,
             sampling: str = "group_by_length", out_dir: Path | None = None) -> dict[str, Any]:
    """Run training step `step` of `profile`; the result dict the CLI prints."""
    from lantern_nb import artifacts, model_specs, sft
    from lantern_nb.dseed import seed_rows
    from lantern_nb.profiles import load_profile
    from lantern_nb.train import freeze, loss_curve

    if step not in STEPS:
        raise ValueError(f"train: unknown step {step!r}; choose one of {', '.join(STEPS)}")
    if sampling not in ("group_by_length", "random"):
        raise ValueError(f"--sampling {sampling!r}: use group_by_length (as the notebooks) or random")
    cfg = load_profile(profile, **(sets or {}))
    rank, world_size = world()
    out_dir = Path(out_dir) if out_dir else artifacts.build_dir(cfg.name) / "launch" / step
    tokenizer = model_specs.get_tokenizer(cfg)
    rows = seed_rows(cfg, "train")
    grouped = sampling == "group_by_length"
    if step == "sft":
        sft.check_method(cfg.sft.method)
        res = sft.train_candidate(cfg, cfg.models.teacher, tokenizer, rows, out_dir, group_by_length=grouped)
        what = cfg.models.teacher
    else:
        from lantern_nb.kd import runs
        from lantern_nb.model_specs import pick_device

        kind = kind or cfg.kd.path_divergence
        teacher, _ = sft.load_t2(cfg, pick_device(cfg.device))
        _, res = runs.distill(cfg, freeze(teacher), cfg.kd.student, tokenizer, rows, kind, out_dir,
                              train_overrides={"group_by_length": grouped})
        what = f"{cfg.models.teacher} -> {cfg.kd.student} ({kind})"
    curve = loss_curve(res.log_history)
    result = {"step": step, "profile": cfg.name, "what": what, "world_size": world_size, "rank": rank,
              "steps": res.steps, "seconds": round(res.seconds, 2),
              "first_loss": curve[0][1] if curve else None,
              "loss": (sum(v for _, v in curve) / len(curve)) if curve else None, "out_dir": str(out_dir)}
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / "result.json.tmp"
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(out_dir / "result.json")
    return result


def cli_train(args: argparse.Namespace) -> int:
    """`python -m lantern_nb train STEP --profile P [--set k=v ...]`: one JSON line last."""
    result = run_step(args.step, args.profile, parse_sets(args.set or ()), args.kind, args.sampling,
                      Path(args.out) if args.out else None)
    print(json.dumps(result), flush=True)
    return 0
