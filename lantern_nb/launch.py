"""Training steps as commands `accelerate launch` can start: `python -m lantern_nb train STEP --profile P`.

Each command runs one training step of the pipeline from its inputs in data/<profile>/ through the project's
one training loop (`train.train`): `sft` fine-tunes the profile's teacher T2 on the D_seed train rows (paper
Sec. 3.3.2), `kd` distils T2 (or a saved intermediate, `--teacher-dir`; or T2's SFT checkpoints, `--scd`)
into a student with one divergence, or several one after another (`--kind js,fkl,...`, each into
<out>/<kind>/) (Sec. 3.4), `classifier` trains one Table 4 cell on T2's D_cls labels (Sec. 3.5.2; default the
profile's baseline cell), `summarizer` the JD summarizer (Sec. 3.5.1). Under `accelerate launch` the
Trainer reads the launcher's environment and runs data-parallel (DDP or FSDP; NCCL on GPUs, gloo on a CPU-only
machine with `--multi_gpu --num_processes N`: accelerate 1.15 runs `--cpu` as one process); only the main process
writes. The last line printed is one JSON object with at least `loss` (mean training loss), `first_loss` (the
first logged step's), `steps` and `world_size`.

Outputs go to build/<profile>/launch/<step>/ by default (never over the notebooks' run caches), so a
launched run can be compared with, not mistaken for, the notebook's own. `--save-model` also saves the
trained model to <out>/final (gathered from the shards under FSDP).

The notebooks start these commands under `accelerate launch` through `lantern_nb.launcher`.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Sequence

from lantern_nb.launcher import STEPS


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
             sampling: str = "group_by_length", out_dir: Path | None = None, save_model: bool = False,
             cell: str | None = None, full_input: bool = False, student: str | None = None,
             teacher_dir: Path | None = None, scd: bool = False, aw: bool = False) -> dict[str, Any]:
    """Run training step `step` of `profile`; the result dict the CLI prints. `cell` ("backbone/structure")
    picks the classifier cell (default `classifier.baseline`), `full_input` its uncompressed job text.
    kd: `student` (default `kd.student`) learns from T2, or from the saved model at `teacher_dir`; `scd`
    schedules T2's SFT checkpoints as teachers (paper Sec. 3.4.3), `aw` adds Adaptive Weighting."""
    from lantern_nb import artifacts, model_specs, sft
    from lantern_nb.dseed import seed_rows
    from lantern_nb.profiles import load_profile

    if step not in STEPS:
        raise ValueError(f"train: unknown step {step!r}; choose one of {', '.join(STEPS)}")
    if sampling not in ("group_by_length", "random"):
        raise ValueError(f"--sampling {sampling!r}: use group_by_length (as the notebooks) or random")
    cfg = load_profile(profile, **(sets or {}))
    rank, world_size = world()
    out_dir = Path(out_dir) if out_dir else artifacts.build_dir(cfg.name) / "launch" / step
    grouped = sampling == "group_by_length"
    if step == "classifier":
        return _finish(_classifier_step(cfg, cell or cfg.classifier.baseline, out_dir, save_model, not full_input),
                       rank, world_size, out_dir)
    if step == "summarizer":
        return _finish(_summarizer_step(cfg, out_dir, save_model), rank, world_size, out_dir)
    # KD encodes with T2's saved tokenizer, as the notebooks' KD context does (same rows, same start keys)
    tokenizer = sft.t2_tokenizer(cfg) if step == "kd" else model_specs.get_tokenizer(cfg)
    rows = seed_rows(cfg, "train")
    if step == "sft":
        sft.check_method(cfg.sft.method)
        res = sft.train_candidate(cfg, cfg.models.teacher, tokenizer, rows, out_dir,
                                  save_final=out_dir / "final" if save_model else None, group_by_length=grouped)
        return _finish(_summary(step, cfg.name, cfg.models.teacher, res), rank, world_size, out_dir)
    from lantern_nb.kd import runs

    kinds = (kind or cfg.kd.path_divergence).split(",")
    student = student or cfg.kd.student
    if student not in cfg.models.students:
        raise ValueError(f"--student {student!r}: choose one of models.students ({', '.join(cfg.models.students)})")
    if aw and not scd:
        raise ValueError("--aw weights SCD's phases: add --scd")
    if len(kinds) > 1 and (teacher_dir or scd):
        raise ValueError("several --kind values train T2 -> student stages one after another: drop --teacher-dir / --scd")
    teacher, schedule, weights = _kd_teacher(cfg, kinds, teacher_dir, scd, aw)
    results = {}
    for k in kinds:
        run_dir = out_dir / k if len(kinds) > 1 else out_dir
        _, res = runs.distill(cfg, None if k == "sft" else teacher, student, tokenizer, rows, k, run_dir,
                              token_weights=weights, schedule=schedule, train_overrides={"group_by_length": grouped},
                              save_final=run_dir / "final" if save_model else None)
        what = f"{teacher_dir or cfg.models.teacher} -> {student} ({k}{', SCD' if scd else ''}{' + AW' if aw else ''})"
        results[k] = _finish({**_summary(step, cfg.name, what, res), **runs.stage_traces(schedule, weights)}, rank,
                             world_size, run_dir)
    if len(kinds) == 1:
        return results[kinds[0]]
    losses = [r["loss"] for r in results.values() if r["loss"] is not None]
    return _finish({"step": step, "profile": cfg.name, "what": f"{cfg.models.teacher} -> {student} ({','.join(kinds)})",
                    "kinds": kinds, "steps": sum(r["steps"] for r in results.values()),
                    "seconds": round(sum(r["seconds"] for r in results.values()), 2),
                    "first_loss": results[kinds[0]]["first_loss"], "loss": sum(losses) / len(losses) if losses else None},
                   rank, world_size, out_dir)


def _kd_teacher(cfg: Any, kinds: list[str], teacher_dir: Path | None, scd: bool, aw: bool) -> tuple[Any, Any, Any]:
    """(teacher, SCD schedule, token weights) of a launched KD step, on this process's device (no teacher
    for the SFT-only baseline alone). The live teacher: each process would build its own hidden-state
    cache, which saves nothing over its shard."""
    from transformers import AutoModelForCausalLM

    from lantern_nb import sft
    from lantern_nb.kd.scd import AdaptiveWeighting, TeacherSchedule, scd_teachers
    from lantern_nb.model_specs import pick_device
    from lantern_nb.train import freeze

    if "sft" in kinds and (teacher_dir or scd or aw):
        raise ValueError("the SFT-only baseline takes no teacher: drop --teacher-dir / --scd / --aw")
    if kinds == ["sft"]:
        return None, None, None
    if scd and teacher_dir:
        raise ValueError("--scd schedules T2's own checkpoints: drop --teacher-dir")
    device = pick_device(cfg.device)
    if teacher_dir:
        teacher = AutoModelForCausalLM.from_pretrained(teacher_dir).to(device)
    else:
        teacher, _ = sft.load_t2(cfg, device)
    teacher = freeze(teacher)
    schedule = TeacherSchedule(None, scd_teachers(sft.t2_checkpoints(cfg), teacher)) if scd else None
    weights = AdaptiveWeighting(cfg.kd.aw_tau, cfg.kd.chunk_size) if aw else None
    return teacher, schedule, weights


def _summary(step: str, profile: str, what: str, res: Any) -> dict[str, Any]:
    from lantern_nb.train import loss_curve

    curve = loss_curve(res.log_history)
    return {"step": step, "profile": profile, "what": what, "steps": res.steps, "seconds": round(res.seconds, 2),
            "first_loss": curve[0][1] if curve else None,
            "loss": (sum(v for _, v in curve) / len(curve)) if curve else None,
            "log_history": res.log_history}


def _classifier_step(cfg: Any, cell: str, out_dir: Path, save_model: bool, use_compressed: bool = True
                     ) -> dict[str, Any]:
    import shutil

    from lantern_nb import classify

    backbone, sep, structure = cell.partition("/")
    if not sep or backbone not in cfg.models.classifier_backbones or structure not in classify.STRUCTURES:
        raise ValueError(f"--cell {cell!r}: expected BACKBONE/STRUCTURE with a backbone of models.classifier_backbones "
                         f"({', '.join(cfg.models.classifier_backbones)}) and a structure of "
                         f"{', '.join(classify.STRUCTURES)}, e.g. {cfg.classifier.baseline}")
    weights = out_dir / "_weights"
    run, res = classify.train_classifier(cfg, backbone, structure, classify.d_cls_rows(cfg), use_compressed,
                                         output_dir=out_dir / "_trainer", save_final=weights if save_model else None)
    if save_model and world()[0] == 0:
        classify.save_classifier(run.model, run.encoder, out_dir / "final", weights=weights / "model.safetensors")
        shutil.rmtree(weights, ignore_errors=True)
    return {**_summary("classifier", cfg.name, cell, res), "init": run.backbone.init, "n_train": run.n_train,
            "input": "compressed" if use_compressed else "full"}


def _summarizer_step(cfg: Any, out_dir: Path, save_model: bool) -> dict[str, Any]:
    from lantern_nb import summarizer

    res = summarizer.fit_summarizer(cfg, out_dir / "_trainer", save_final=out_dir / "final" if save_model else None)
    return _summary("summarizer", cfg.name, cfg.models.summarizer, res)


def _finish(result: dict[str, Any], rank: int, world_size: int, out_dir: Path) -> dict[str, Any]:
    """Add the launcher's facts; rank 0 writes result.json (atomically); the log history stays in the file."""
    result = {**result, "world_size": world_size, "rank": rank, "out_dir": str(out_dir)}
    history = result.pop("log_history", [])
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / "result.json.tmp"
        tmp.write_text(json.dumps({**result, "log_history": history}, indent=1) + "\n")
        tmp.replace(out_dir / "result.json")
    return result


def cli_train(args: argparse.Namespace) -> int:
    """`python -m lantern_nb train STEP --profile P [--set k=v ...]`: one JSON line last."""
    result = run_step(args.step, args.profile, parse_sets(args.set or ()), args.kind, args.sampling,
                      Path(args.out) if args.out else None, args.save_model, args.cell, args.full_input,
                      args.student, Path(args.teacher_dir) if args.teacher_dir else None, args.scd, args.aw)
    print(json.dumps(result), flush=True)
    return 0
