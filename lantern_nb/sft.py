"""Teacher SFT (paper Sec. 3.3.2, 4.2, 5.1.1): fine-tune candidate in-house teachers T2 on D_seed.

Each candidate of `cfg.models.teacher_candidates` starts from its pretrained weights
(`pretrain.pretrained_decoder`), is fine-tuned on the D_seed train rows (prompt -> "Fit: <label>"
+ explanation lines, loss on the answer tokens only) through the project's one training loop,
and is scored on held-out D_seed test rows (ROUGE-1/2/L of greedy generations, NLL): Table 3.

Layout per candidate, under data/<profile>/models/t2/<slug of the display name>/:
  checkpoints/step-<N>/  plain causal LMs (+ tokenizer) saved along training, kept for SCD
                         (with LoRA the adapter is merged into the base at each checkpoint, so
                         every checkpoint loads with AutoModelForCausalLM like a full model);
  final/                 the fine-tuned model (same weights as the last checkpoint);
  run.json               run-cache key (`run_key`: every input), log history, checkpoint list,
                         seconds: a run whose key matches is reused (cheap reruns) unless force;
  eval.json              the cached evaluation, keyed on the run, the sft section and the rows.
"""
from __future__ import annotations

import dataclasses
import gc
import json
import re
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch

from lantern_nb import artifacts, model_specs
from lantern_nb.checkpoints import load_model, save_model
from lantern_nb.dseed import seed_rows
from lantern_nb.scoring import evaluate
from lantern_nb.cache import RunCache, write_json_atomic
from lantern_nb.pretrain import pretrained_decoder, pretrained_dir, pretrain_info, start_key
from lantern_nb.profiles import Profile
from lantern_nb.train import CausalLMObjective, TrainConfig, TrainResult, loss_curve, train

ALL_LINEAR = "all-linear"  # peft's shorthand: every nn.Linear but the output embeddings (lm_head)
_RUN = "run.json"
_EVAL = "eval.json"


def slug(name: str) -> str:
    """Filesystem-safe form of a candidate's display name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def candidate_dir(cfg: Profile, name: str) -> Path:
    return artifacts.artifact_path(cfg.name, "t2") / slug(name)


def check_method(method: str) -> None:
    """Refuse QLoRA without CUDA (bitsandbytes 4-bit kernels need a CUDA GPU)."""
    if method not in ("full", "lora", "qlora"):
        raise ValueError(f"sft.method: {method!r} is not one of full, lora, qlora")
    if method == "qlora" and not torch.cuda.is_available():
        raise RuntimeError("QLoRA (sft.method: qlora) needs a CUDA GPU for bitsandbytes 4-bit quantisation, and "
                           "none is visible. Use method: lora (the same adapters on an unquantised base) or "
                           "method: full, e.g. OVERRIDES = {'sft.method': 'lora'}.")


def lora_targets(cfg: Profile, model: torch.nn.Module) -> str | list[str]:
    """peft `target_modules` from cfg.sft.lora_targets: "all-linear" (the QLoRA recipe, Dettmers et al.
    2023: every linear layer but the lm_head), or the listed module names present in `model`."""
    wanted = list(cfg.sft.lora_targets)
    if ALL_LINEAR in wanted:
        if len(wanted) > 1:
            raise ValueError(f"sft.lora_targets: {ALL_LINEAR!r} already covers every linear layer; "
                             f"use [{ALL_LINEAR}] alone, not {wanted}")
        return ALL_LINEAR
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    targets = [t for t in wanted if t in names]
    if not targets:
        raise ValueError(f"sft.lora_targets: none of {wanted} is a module of {type(model).__name__}; "
                         f"use [{ALL_LINEAR}]")
    return targets


def lora_config(cfg: Profile, model: torch.nn.Module):
    """peft LoraConfig from cfg.sft (r, alpha, targets: `lora_targets`)."""
    from peft import LoraConfig

    return LoraConfig(r=cfg.sft.lora_r, lora_alpha=cfg.sft.lora_alpha, lora_dropout=0.0,
                      target_modules=lora_targets(cfg, model), task_type="CAUSAL_LM")


def _start_model(cfg: Profile, spec: str, tokenizer, method: str) -> torch.nn.Module:
    """The model SFT trains: the pretrained start, wrapped with LoRA adapters for lora/qlora."""
    from peft import get_peft_model

    if method == "qlora":
        from peft import prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        parsed = model_specs.parse_spec(spec)
        if parsed.kind == "base":
            from lantern_nb.base_store import verify

            src = verify(parsed.raw.split(":", 1)[1])
        else:
            src = parsed.source if parsed.kind == "hub" else pretrained_dir(cfg, parsed)
        if parsed.kind == "tiny":
            pretrained_decoder(cfg, spec, tokenizer)
        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=torch.bfloat16)
        model = prepare_model_for_kbit_training(AutoModelForCausalLM.from_pretrained(src, quantization_config=quant),
                                                use_gradient_checkpointing=cfg.sft.gradient_checkpointing,
                                                gradient_checkpointing_kwargs={"use_reentrant": False})
        return get_peft_model(model, lora_config(cfg, model))
    if method == "lora":
        model = pretrained_decoder(cfg, spec, tokenizer, dtype=_lora_base_dtype(cfg))
        return get_peft_model(model, lora_config(cfg, model))
    return pretrained_decoder(cfg, spec, tokenizer)


def _lora_base_dtype(cfg: Profile) -> torch.dtype | str:
    """A LoRA base is frozen: bf16 on CUDA (peft keeps the adapters in fp32), else its saved dtype."""
    return model_specs.load_dtype(trainable=False, device=model_specs.pick_device(cfg.device))


def run_key(cfg: Profile, name: str, tokenizer, train_rows: Sequence[dict]) -> str:
    """The run-cache key of a candidate's SFT: the whole sft section, the seed and device, the
    start weights' key (`pretrain.start_key`), the tokenizer and every train row."""
    spec = cfg.models.teacher_candidates[name]
    return RunCache.key(name, spec, cfg.sft, cfg.seed, cfg.device, start_key(cfg, spec, tokenizer), tokenizer,
                        list(train_rows))


def _cached_run(out_dir: Path, key: str, device: torch.device | None = None) -> TrainResult | None:
    """The saved run at `out_dir` when its key matches, its final model on `device` (where a fresh
    run's model ends up after training), else None."""
    run = out_dir / _RUN
    if not (run.exists() and (out_dir / "final").exists()):
        return None
    saved = json.loads(run.read_text())
    if saved.get("key") != key:
        return None
    ckpts = [out_dir / c for c in saved["checkpoints"]]
    if not all(c.exists() for c in ckpts):
        return None
    model, _ = load_model(out_dir / "final", device)
    return TrainResult(model=model, log_history=saved["log_history"], checkpoints=ckpts, steps=saved["steps"],
                       seconds=saved["seconds"])


def _export_checkpoints(cfg: Profile, spec: str, tokenizer, raw: Sequence[Path], dest: Path, method: str) -> list[Path]:
    """Turn Trainer checkpoints into standalone causal-LM dirs (LoRA merged into the base)."""
    from transformers import AutoModelForCausalLM

    out = []
    for ck in raw:
        step = int(ck.name.split("-")[-1])
        target = dest / f"step-{step:05d}"
        model = AutoModelForCausalLM.from_pretrained(ck) if method == "full" else _merge_adapter(cfg, spec, tokenizer, ck)
        save_model(model, tokenizer, target, meta={"step": step, "max_length": cfg.sft.max_length})
        out.append(target)
    return out


def _merge_adapter(cfg: Profile, spec: str, tokenizer, adapter: Path) -> torch.nn.Module:
    """The LoRA adapter saved at `adapter` merged into the candidate's base as stored (`_lora_base_dtype`: bf16 on
    CUDA), never into the base it trained on: for QLoRA that one is 4-bit, and merging there would give the final
    T2 other weights than its SCD checkpoints. Every checkpoint and the final model are built this one way."""
    from peft import PeftModel

    base = pretrained_decoder(cfg, spec, tokenizer, dtype=_lora_base_dtype(cfg))
    return PeftModel.from_pretrained(base, adapter).merge_and_unload()


def train_candidate(cfg: Profile, name: str, tokenizer, train_rows: Sequence[dict[str, Any]], work_dir: str | Path,
                    save_final: str | Path | None = None, **train_overrides: Any) -> TrainResult:
    """The training of candidate `name` alone (its pretrained start, `sft.method`, the D_seed rows, the one
    training loop), without the export and run cache of `finetune_teacher`, which calls it; `python -m
    lantern_nb train sft` runs it under a launcher. `train_overrides` replace `TrainConfig` fields;
    `save_final` also saves the trained model (or adapter) there (`train.train`)."""
    from lantern_nb.dseed import encode_rows

    model = _start_model(cfg, cfg.models.teacher_candidates[name], tokenizer, cfg.sft.method)
    rows = encode_rows(tokenizer, train_rows, cfg.sft.max_length)
    return train(model, rows, CausalLMObjective(), TrainConfig.from_section(cfg.sft, cfg.seed, **train_overrides),
                 Path(work_dir), pad_token_id=tokenizer.pad_token_id, desc=f"SFT {name}", save_final=save_final)


def _launched_candidate(cfg: Profile, name: str, tokenizer, work_dir: Path, mode: str,
                        num_processes: int | None = None) -> TrainResult:
    """`train_candidate` as `python -m lantern_nb train sft` under `accelerate launch` (launcher `mode`, one
    process per GPU): the subprocess gets this profile's overrides and the candidate, saves the trained
    model (gathered from FSDP shards) to `work_dir/final`, which is loaded back here with the Trainer's
    checkpoints and loss log. The D_seed rows are the ones on disk (data/<profile>/), as in-process."""
    from lantern_nb import launcher
    from lantern_nb.profiles import overrides_of

    if cfg.sft.method == "qlora":
        raise ValueError(f"hardware.launcher: {cfg.hardware.launcher} launches SFT on several GPUs, but sft.method "
                         "qlora trains its 4-bit base on one GPU: set hardware.launcher: none (or auto), or use "
                         "sft.method full / lora")
    result = launcher.launched_train(cfg, "sft", mode, work_dir, {**overrides_of(cfg), "models.teacher": name},
                                   num_processes, extra=["--save-model"])
    final = work_dir / "final"
    device = model_specs.pick_device(cfg.device)
    if cfg.sft.method == "full":
        model = launcher.load_launched(final, device, model_specs.load_dtype(trainable=True, device=device))
    else:
        from peft import PeftModel

        base = pretrained_decoder(cfg, cfg.models.teacher_candidates[name], tokenizer, dtype=_lora_base_dtype(cfg))
        model = PeftModel.from_pretrained(base, final).to(device)
    ckpts = sorted(work_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return launcher.train_result(result, model, ckpts)


def finetune_teacher(cfg: Profile, name: str, tokenizer, train_rows: Sequence[dict[str, Any]], out_dir: str | Path,
                     force: bool = False) -> TrainResult:
    """SFT of candidate `name` (a key of cfg.models.teacher_candidates) with cfg.sft.method.

    full: all weights; lora: peft adapters (r, alpha, targets from cfg.sft; paper: all linear layers);
    qlora: the same adapters over a 4-bit base (CUDA only, RuntimeError otherwise). Checkpoints
    (cfg.sft.n_checkpoints, evenly spaced, merged if LoRA) are kept in order for SCD; the final
    model goes to `out_dir/final`. A finished run with the same settings is reused unless `force`.
    """
    if name not in cfg.models.teacher_candidates:
        raise KeyError(f"{name!r} is not a key of models.teacher_candidates "
                       f"({', '.join(cfg.models.teacher_candidates)})")
    method = cfg.sft.method
    check_method(method)
    out_dir = Path(out_dir)
    key = run_key(cfg, name, tokenizer, train_rows)
    if not force:
        cached = _cached_run(out_dir, key, model_specs.pick_device(cfg.device))
        if cached is not None:
            return cached
    spec = cfg.models.teacher_candidates[name]
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    s = cfg.sft
    from lantern_nb import launcher

    mode = launcher.launcher(cfg)
    if mode:
        res = _launched_candidate(cfg, name, tokenizer, out_dir / "_trainer", mode)
    else:
        res = train_candidate(cfg, name, tokenizer, train_rows, out_dir / "_trainer")
    if method == "full":
        model = res.model
    else:  # the trained adapter, merged as the checkpoints are (`_merge_adapter`)
        adapter = out_dir / "_trainer" / "final-adapter"
        res.model.save_pretrained(adapter)
        device = next(res.model.parameters()).device
        res.model = None
        release_memory()
        model = _merge_adapter(cfg, spec, tokenizer, adapter).to(device)
    ckpts = _export_checkpoints(cfg, spec, tokenizer, res.checkpoints, out_dir / "checkpoints", method)
    if not ckpts or int(ckpts[-1].name.split("-")[-1]) != res.steps:
        ckpts.append(save_model(model, tokenizer, out_dir / "checkpoints" / f"step-{res.steps:05d}",
                                meta={"step": res.steps, "max_length": s.max_length}))
    shutil.rmtree(out_dir / "_trainer", ignore_errors=True)
    save_model(model, tokenizer, out_dir / "final", meta={"step": res.steps, "max_length": s.max_length,
                                                         "candidate": name, "spec": spec, "method": method})
    record = {"key": key, "sft": dataclasses.asdict(cfg.sft), "created": time.time(), "log_history": res.log_history, "steps": res.steps, "seconds": res.seconds,
              "checkpoints": [str(c.relative_to(out_dir)) for c in ckpts]}
    write_json_atomic(out_dir / _RUN, record)
    return TrainResult(model=model, log_history=res.log_history, checkpoints=ckpts, steps=res.steps,
                       seconds=res.seconds)


def _evaluate_cached(cfg: Profile, out_dir: Path, model, tokenizer, rows: Sequence[dict]) -> dict:
    """`scoring.evaluate`, reused from eval.json when the run and the eval settings are unchanged."""
    run = json.loads((out_dir / _RUN).read_text())
    key = RunCache.key(run.get("key"), run.get("created"), cfg.sft, list(rows))
    path = out_dir / _EVAL
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("key") == key:
            return saved["metrics"]
    metrics = evaluate(model, tokenizer, rows, cfg, batch_size=16, keep=3)
    write_json_atomic(path, {"key": key, "metrics": metrics})
    return metrics


@dataclasses.dataclass
class Table3Result:
    """Table 3 and its learning curves: per candidate the SFT (step, loss) curve and the pretraining
    curve (instruction tuning for the -Instruct analog; empty for hub models), and the D_seed sizes."""

    table: pd.DataFrame
    curves: dict[str, list[tuple[int, float]]]
    pretrain_curves: dict[str, list[tuple[int, float]]]
    n_train: int
    n_test: int
    samples: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)  # first test generations


def release_memory() -> None:
    """Collect dropped models and return their cached CUDA blocks, so the next candidate trains on a free GPU."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_table3(cfg: Profile, force: bool = False) -> Table3Result:
    """Table 3: every teacher candidate fine-tuned on D_seed train and scored on D_seed test.

    The table's columns: Teacher Model, Spec, ROUGE_1, ROUGE_2, ROUGE_L, its 95% bootstrap interval
    (ROUGE_L lo / hi), Label accuracy (the generation's `Fit:` line against the reference), n (test
    rows scored), NLL, Pretrain seconds, Train seconds. Each candidate's model is released after its evaluation, before the next trains.
    """
    check_method(cfg.sft.method)
    tokenizer = model_specs.get_tokenizer(cfg)
    train_rows = seed_rows(cfg, "train")
    test_rows = seed_rows(cfg, "test")[: cfg.sft.eval_n]
    if not train_rows or not test_rows:
        raise ValueError(f"D_seed has {len(train_rows)} train and {len(test_rows)} test rows; both must be non-empty")
    rows, curves, pre_curves, samples = [], {}, {}, {}
    for name, spec in cfg.models.teacher_candidates.items():
        out_dir = candidate_dir(cfg, name)
        res = finetune_teacher(cfg, name, tokenizer, train_rows, out_dir, force=force)
        metrics = _evaluate_cached(cfg, out_dir, res.model, tokenizer, test_rows)
        info = pretrain_info(cfg, spec) if model_specs.parse_spec(spec).kind in ("tiny", "base") else {}
        curves[name] = loss_curve(res.log_history)
        samples[name] = metrics.get("samples", [])
        pre_curves[name] = [tuple(x) for x in info.get("loss_curve", [])]
        rows.append({"Teacher Model": name, "Spec": spec, "ROUGE_1": metrics["rouge1"], "ROUGE_2": metrics["rouge2"],
                     "ROUGE_L": metrics["rougeL"], "ROUGE_L lo": metrics.get("rougeL_lo", float("nan")),
                     "ROUGE_L hi": metrics.get("rougeL_hi", float("nan")),
                     "Label accuracy": metrics.get("label_accuracy", float("nan")), "n": metrics.get("n", len(test_rows)),
                     "NLL": metrics["nll"],
                     "Pretrain seconds": float(info.get("seconds", 0.0)), "Train seconds": res.seconds})
        del res
        release_memory()
    return Table3Result(pd.DataFrame(rows), curves, pre_curves, len(train_rows), len(test_rows), samples)


def _teacher_dir(cfg: Profile) -> Path:
    artifacts.require(cfg.name, "t2")
    final = candidate_dir(cfg, cfg.models.teacher) / "final"
    if not final.exists():
        raise artifacts.MissingArtifactError(
            f"missing the fine-tuned teacher {cfg.models.teacher!r} for profile '{cfg.name}': {final} does not "
            f"exist. It is produced by {artifacts.ARTIFACTS['t2'][1].format(profile=cfg.name)}; run that first.")
    return final.parent


def load_t2(cfg: Profile, device: str | torch.device | None = None):
    """(model, tokenizer) of the chosen in-house teacher T2 (cfg.models.teacher), in eval mode."""
    return load_model(_teacher_dir(cfg) / "final", device)


def t2_tokenizer(cfg: Profile):
    """T2's saved tokenizer (as `load_t2` gives it) without loading the model: what the KD runs encode with."""
    from lantern_nb.checkpoints import load_tokenizer

    return load_tokenizer(_teacher_dir(cfg) / "final")


def t2_key(cfg: Profile) -> str:
    """The run-cache key of the trained T2 (its SFT run's key and time), for the steps it feeds."""
    run = _teacher_dir(cfg) / _RUN
    if not run.exists():
        return RunCache.key(_teacher_dir(cfg) / "final")
    record = json.loads(run.read_text())
    return RunCache.key(record.get("key"), record.get("created"))


def t2_checkpoints(cfg: Profile) -> list[Path]:
    """T2's SFT checkpoints in training order (the last one equals the final model), for SCD."""
    out_dir = _teacher_dir(cfg)
    record = json.loads((out_dir / _RUN).read_text()) if (out_dir / _RUN).exists() else None
    if record is not None:
        return [out_dir / c for c in record["checkpoints"]]
    return sorted((out_dir / "checkpoints").glob("step-*"))
