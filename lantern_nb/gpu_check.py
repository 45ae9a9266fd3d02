"""`make gpu-check`: one step of each GPU-heavy kind at the paper models' real sizes, measured against the plan.

For a CUDA machine without hub access, before a multi-hour `make reproduce PROFILE=gpu` (or `paper`): each model
is built from its published config (`lantern_nb/assets/configs/*.json`, the hub's config.json), random-initialised
(memory and time depend on shapes, not on the weights' values), and runs the project's own code for one step of
each kind at the profile's sequence length and batch:
- `sft`: T2's fine-tuning with `sft.method` (QLoRA loads the random 7B through `sft`'s 4-bit path, so
  `prepare_model_for_kbit_training` and the all-linear adapters are what runs), `train.CausalLMObjective`;
- `kd` / `kd_naive`: `kd.losses.DistillObjective` from a 1.5B-config teacher (frozen, bf16) to a 0.5B-config
  student at V = 151,936, with the chunked loss and the naive full-logits one (same weights and batch: the first
  step's losses must agree);
- `classifier`: the baseline cell (`classifier.baseline`) on its backbone's config, inputs clamped per backbone;
- `label`: one D_cls labelling batch of T2 (`dcls.label_with_t2`, 32 pairs as notebook 06).
Each row prints the peak GPU memory (`torch.cuda.max_memory_allocated` above what was allocated before it, model
loading included) and tokens/s (the last of two optimizer steps, after CUDA warm-up) beside `plan.step_memory_gb`
and the planner's tokens/s for the same model, length and batch. The command exits 1 when a measured peak exceeds
the estimate by more than 30% (the planner would call a run feasible that is not) or the two KD losses differ,
and 2 at once on a machine without CUDA. `shrink` (tests only) keeps each config's vocabulary and model type but
two layers of width 64, so the same code runs on CPU in seconds.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from transformers import TrainerCallback

from lantern_nb import hub_configs, plan
from lantern_nb.profiles import Profile, load_profile

KD_TEACHER = "Qwen/Qwen2.5-1.5B-Instruct"  # the KD check: 1.5B-config teacher -> 0.5B-config student
KD_STUDENT = "Qwen/Qwen2.5-0.5B-Instruct"
CHECKS = ("sft", "kd", "kd_naive", "classifier", "label")
TOLERANCE = 1.3  # a measured peak above 1.3 x the planner's estimate fails the check
LOSS_RTOL = 1e-2  # chunked vs naive first-step loss (bf16 autocast on GPU)
LABEL_BATCH = 32  # pairs per labelling batch (`dcls.build_d_cls`'s default, as notebook 06)
STEPS = 2  # optimizer steps per training check; the last one is timed
GB = 1024 ** 3


class GpuCheckError(RuntimeError):
    """gpu-check cannot run here (no CUDA, no disk space, an unknown model)."""


def paper_config(hub_id: str, shrink: bool = False) -> Any:
    """`hub_configs.hub_config`, with an unknown id as a GpuCheckError."""
    try:
        return hub_configs.hub_config(hub_id, shrink)
    except hub_configs.UnknownModelError as e:
        raise GpuCheckError(str(e)) from None


def random_model(config: Any, dtype: torch.dtype, device: torch.device, seed: int = 0, causal_lm: bool = True):
    """A random-init model of `config` built directly on `device` in `dtype` (seeded)."""
    from transformers import AutoModel, AutoModelForCausalLM

    torch.manual_seed(seed)
    cls = AutoModelForCausalLM if causal_lm else AutoModel
    with torch.device(device):
        return cls.from_config(config, dtype=dtype)


def arch_of(model: torch.nn.Module, config: Any, vocab: int | None = None) -> plan.Arch:
    """The planner's numbers for a built model (parameters counted, not looked up)."""
    n = sum(p.numel() for p in model.parameters())
    if getattr(model, "is_loaded_in_4bit", False) or any(type(p).__name__ == "Params4bit" for p in model.parameters()):
        n = sum(math.prod(getattr(p, "quant_state", None).shape) if getattr(p, "quant_state", None) is not None
                else p.numel() for p in model.parameters())
    v = vocab if vocab is not None else config.vocab_size
    return plan.Arch(float(n), config.hidden_size, config.num_hidden_layers, v, config.model_type, v)


@dataclass
class CheckResult:
    """One row of the gpu-check table."""

    check: str
    model: str
    seq: int
    batch: int
    planned_gb: float
    measured_gb: float | None  # None off CUDA
    tokens_per_s: float
    planned_tokens_per_s: float
    seconds: float
    notes: dict[str, Any] = field(default_factory=dict)
    skipped: str = ""

    @property
    def ratio(self) -> float | None:
        if self.measured_gb is None or not self.planned_gb:
            return None
        return self.measured_gb / self.planned_gb

    @property
    def ok(self) -> bool:
        bad_loss = self.notes.get("loss_rel_diff", 0.0) > LOSS_RTOL
        return bool(self.skipped) or ((self.ratio is None or self.ratio <= TOLERANCE) and not bad_loss)


class _Peak:
    """Peak CUDA memory above the level at entry, in GB (None off CUDA)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.gb: float | None = None

    def __enter__(self) -> "_Peak":
        free_memory()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.gb = (torch.cuda.max_memory_allocated() - self.start) / GB


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


class StepTimer(TrainerCallback):
    """Wall seconds of each optimizer step (CUDA synchronised)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def _sync(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def on_step_begin(self, args, state, control, **kwargs):
        self._sync()
        self._t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self._sync()
        self.seconds.append(time.perf_counter() - self._t0)


def lm_rows(n: int, seq: int, vocab: int, seed: int = 0) -> list[dict[str, list[int]]]:
    """`n` random token rows of exactly `seq` tokens, every position a target (the planner's worst case)."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        ids = torch.randint(0, vocab, (seq,), generator=gen).tolist()
        rows.append({"input_ids": ids, "attention_mask": [1] * seq, "labels": ids[1:] + [-100]})
    return rows


def _train_steps(model, rows, objective, section, cfg: Profile, work: Path, collator=None) -> tuple[Any, StepTimer]:
    from lantern_nb.train import TrainConfig, train

    timer = StepTimer()
    tc = TrainConfig.from_section(section, cfg.seed, max_steps=STEPS, n_checkpoints=0, log_points=0, grad_accum=1,
                                  group_by_length=False, epochs=1)
    res = train(model, rows, objective, tc, work, collator=collator, callbacks=[timer], desc="gpu-check")
    return res, timer


def _planned_tokens_per_s(cfg: Profile, a: plan.Arch, teacher: plan.Arch | None = None, checkpointing: bool = False,
                          frozen: bool = False) -> float:
    hw = plan.Hardware(1, cfg.hardware.gpu_memory_gb, cfg.hardware.gpu_tflops_bf16, cfg.hardware.hbm_tb_s,
                       cfg.hardware.mfu)
    hours = plan.forward_hours(a, 1e6, hw) if frozen else plan.train_hours(a, 1e6, teacher, checkpointing, hw)
    return 1e6 / (hours * 3600)


def _skip_unfit(cfg: Profile, check: str, model: str, seq: int, batch: int, mem: dict[str, float],
                device: torch.device) -> CheckResult | None:
    """A skipped row when the plan itself says the step cannot fit this GPU (it is sharded or capped there)."""
    planned = sum(mem.values())
    if device.type != "cuda":
        return None
    have = torch.cuda.get_device_properties(device).total_memory / GB
    if planned <= 0.9 * have:
        return None
    return CheckResult(check, model, seq, batch, round(planned, 2), None, 0.0, 0.0, 0.0,
                       skipped=f"planned {planned:.1f} GB > 90% of this GPU's {have:.0f} GB: the profile shards "
                               f"it (hardware.launcher: fsdp) or it does not fit; check that run under accelerate")


def _row(check: str, model: str, seq: int, batch: int, mem: dict[str, float], peak: "_Peak", tokens: float,
         seconds: float, planned_tokens_per_s: float, **notes: Any) -> CheckResult:
    """A measured check's row: planned memory (sum and terms) beside the peak, tokens/s beside the plan."""
    return CheckResult(check, model, seq, batch, round(sum(mem.values()), 2),
                       None if peak.gb is None else round(peak.gb, 2), round(tokens / seconds, 1),
                       round(planned_tokens_per_s, 1), round(seconds, 3),
                       {**notes, "planned": {k: round(v, 2) for k, v in mem.items()}})


def check_sft(cfg: Profile, device: torch.device, work: Path, shrink: bool = False, seq: int | None = None,
              batch: int | None = None) -> CheckResult:
    """One SFT step of T2 with `sft.method`, the random weights saved once and loaded as `sft` loads a hub id."""
    from lantern_nb import sft
    from lantern_nb.train import CausalLMObjective

    s = cfg.sft
    hub = cfg.models.teacher_candidates[cfg.models.teacher]
    seq, batch = seq or s.max_length, batch or s.batch_size
    sft.check_method(s.method)
    conf = paper_config(hub, shrink)
    model = random_model(conf, torch.bfloat16, device, cfg.seed)
    a = arch_of(model, conf)
    mem = plan.step_memory_gb(cfg, "sft", a, seq, batch)
    skipped = _skip_unfit(cfg, "sft", hub, seq, batch, mem, device)
    if skipped:
        return skipped
    need = 2 * a.params * 1.1
    free = shutil.disk_usage(work).free
    if free < need:
        raise GpuCheckError(f"saving the random {hub} config needs {need / GB:.1f} GB under {work}, "
                            f"{free / GB:.1f} GB free: pass --work DIR on a larger disk")
    src = work / "t2-random"
    model.save_pretrained(src)
    del model
    with _Peak(device) as peak:
        t2 = sft._start_model(cfg, str(src), None, s.method)
        res, timer = _train_steps(t2, lm_rows(batch * STEPS, seq, conf.vocab_size, cfg.seed), CausalLMObjective(),
                                  s, cfg, work / "sft")
    loss = next((r["loss"] for r in res.log_history if "loss" in r), float("nan"))
    del t2, res
    shutil.rmtree(src, ignore_errors=True)
    return _row("sft", f"{hub} ({s.method})", seq, batch, mem, peak, batch * seq, timer.seconds[-1],
                _planned_tokens_per_s(cfg, a, checkpointing=s.gradient_checkpointing), loss=loss)


def check_kd(cfg: Profile, device: torch.device, work: Path, impl: str = "chunked", shrink: bool = False,
             seq: int | None = None, batch: int | None = None) -> CheckResult:
    """One KD step 1.5B-config teacher -> 0.5B-config student with the `impl` loss at the full vocabulary."""
    from lantern_nb import model_specs
    from lantern_nb.kd.losses import DistillObjective

    k = cfg.kd
    seq, batch = seq or k.max_length, batch or k.batch_size
    t_conf, s_conf = paper_config(KD_TEACHER, shrink), paper_config(KD_STUDENT, shrink)
    t_dtype = model_specs.load_dtype(trainable=False, device=device)
    t_dtype = t_dtype if isinstance(t_dtype, torch.dtype) else torch.float32
    with _Peak(device) as peak:
        teacher = random_model(t_conf, t_dtype, device, cfg.seed + 1)
        student = random_model(s_conf, model_specs.load_dtype(trainable=True, device=device), device, cfg.seed)
        ta, sa = arch_of(teacher, t_conf), arch_of(student, s_conf)
        mem = plan.step_memory_gb(cfg, "kd", sa, seq, batch, teacher=ta, impl=impl)
        skipped = _skip_unfit(cfg, "kd" if impl == "chunked" else "kd_naive", KD_STUDENT, seq, batch, mem, device)
        if skipped:
            return skipped
        objective = DistillObjective(teacher, kind=k.path_divergence, lambda_sft=k.lambda_sft, lambda_kd=k.lambda_kd,
                                     beta=k.beta, alpha=k.alpha, temperature=k.temperature, chunk_size=k.chunk_size,
                                     impl=impl)
        res, timer = _train_steps(student, lm_rows(batch * STEPS, seq, s_conf.vocab_size, cfg.seed), objective, k,
                                  cfg, work / f"kd-{impl}")
    loss = next((r["loss"] for r in res.log_history if "loss" in r), float("nan"))
    del teacher, student, objective, res
    return _row("kd" if impl == "chunked" else "kd_naive",
                f"{KD_TEACHER} -> {KD_STUDENT} ({k.path_divergence}, {impl}, V={s_conf.vocab_size:,})", seq, batch,
                mem, peak, batch * seq, timer.seconds[-1], _planned_tokens_per_s(cfg, sa, ta, k.gradient_checkpointing),
                loss=loss)


def check_classifier(cfg: Profile, device: torch.device, work: Path, shrink: bool = False, seq: int | None = None,
                     batch: int | None = None) -> CheckResult:
    """One step of the baseline classifier cell on its backbone's config (inputs clamped to its positions)."""
    from lantern_nb.classify import ClassifierCollator, ClassifierObjective, FitClassifier, input_length_limit

    c = cfg.classifier
    key, structure = c.baseline.split("/")
    hub = cfg.models.classifier_backbones[key]
    conf = paper_config(hub, shrink)
    seq = min(seq or c.max_length, input_length_limit(conf, None, c.max_length))
    batch = batch or c.batch_size
    with _Peak(device) as peak:
        backbone = random_model(conf, torch.float32, device, cfg.seed, causal_lm=False)
        torch.manual_seed(cfg.seed)
        model = FitClassifier(backbone, structure, c.mlp_hidden, freeze_backbone=c.freeze_backbone).to(device)
        a = arch_of(model, conf, vocab=3)
        mem = plan.step_memory_gb(cfg, "classifier", a, seq, batch)
        skipped = _skip_unfit(cfg, "classifier", hub, seq, batch, mem, device)
        if skipped:
            return skipped
        gen = torch.Generator().manual_seed(cfg.seed)
        rows = []
        for i in range(batch * STEPS):
            if structure.startswith("twotower"):
                half = torch.randint(0, conf.vocab_size, (2, seq // 2), generator=gen).tolist()
                rows.append({"job_input_ids": half[0], "job_attention_mask": [1] * (seq // 2),
                             "resume_input_ids": half[1], "resume_attention_mask": [1] * (seq // 2), "labels": i % 3})
            else:
                rows.append({"input_ids": torch.randint(0, conf.vocab_size, (seq,), generator=gen).tolist(),
                             "attention_mask": [1] * seq, "labels": i % 3})
        res, timer = _train_steps(model, rows, ClassifierObjective(c.soft_label_weight), c, cfg, work / "classifier",
                                  collator=ClassifierCollator(0))
    loss = next((r["loss"] for r in res.log_history if "loss" in r), float("nan"))
    del model, backbone, res
    tokens = batch * (seq // 2 * 2 if structure.startswith("twotower") else seq)
    return _row("classifier", f"{hub} ({structure})", seq, batch, mem, peak, tokens, timer.seconds[-1],
                _planned_tokens_per_s(cfg, a, checkpointing=c.gradient_checkpointing), loss=loss)


def check_label(cfg: Profile, device: torch.device, work: Path, shrink: bool = False, seq: int | None = None,
                batch: int | None = None) -> CheckResult:
    """One D_cls labelling batch of T2 (bf16, frozen) on synthetic pairs, through `dcls.label_with_t2`.
    The hub tokenizer is not available offline, so a byte-level BPE trained on the pairs stands in (its ids
    fall inside T2's vocabulary; prompt lengths are this tokenizer's)."""
    from lantern_nb import dcls, model_specs
    from lantern_nb.data.generator import generate_pairs

    hub = cfg.models.teacher_candidates[cfg.models.teacher]
    batch = batch or LABEL_BATCH
    pairs = generate_pairs(max(1, math.ceil(batch / 4)), 4, cfg.seed, progress=False)[:batch]
    tok = model_specs.train_tokenizer([t for p in pairs for t in (p.job_text, p.resume_text)], 4096)
    conf = paper_config(hub, shrink)
    dtype = model_specs.load_dtype(trainable=False, device=device)
    with _Peak(device) as peak:
        t2 = random_model(conf, dtype if isinstance(dtype, torch.dtype) else torch.float32, device, cfg.seed)
        t2.eval()
        a = arch_of(t2, conf)
        prompts = [dcls._chat_ids(tok, m) for m in _label_prompts(pairs)]
        longest = max(len(p) for p in prompts)
        if seq:
            longest = min(longest, seq)
        mem = plan.step_memory_gb(cfg, "label", a, longest, batch)
        skipped = _skip_unfit(cfg, "label", hub, longest, batch, mem, device)
        if skipped:
            return skipped
        dcls.label_with_t2(t2, tok, pairs[:1], batch_size=1, max_prompt_tokens=seq, progress=False)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        labels, _ = dcls.label_with_t2(t2, tok, pairs, batch_size=batch, max_prompt_tokens=seq, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    del t2
    tokens = sum(min(len(p), seq or len(p)) for p in prompts)
    return _row("label", f"{hub} (bf16, {batch} pairs)", longest, batch, mem, peak, tokens, seconds,
                _planned_tokens_per_s(cfg, a, frozen=True),
                labels={lab: labels.count(lab) for lab in sorted(set(labels))})


def _label_prompts(pairs: Sequence[Any]) -> list[list[dict[str, str]]]:
    from lantern_nb.dcls import compressed_jobs
    from lantern_nb.prompts import explanation_messages

    return [explanation_messages(j, p.resume_text) for j, p in zip(compressed_jobs(pairs), pairs)]


RUNNERS: dict[str, Callable[..., CheckResult]] = {
    "sft": check_sft,
    "kd": lambda cfg, device, work, **kw: check_kd(cfg, device, work, "chunked", **kw),
    "kd_naive": lambda cfg, device, work, **kw: check_kd(cfg, device, work, "naive", **kw),
    "classifier": check_classifier,
    "label": check_label,
}


def require_cuda() -> torch.device:
    """The CUDA device, or GpuCheckError saying why there is none and what to run instead."""
    if not torch.cuda.is_available():
        built = torch.version.cuda or "none (a CPU build)"
        raise GpuCheckError(f"it needs a CUDA GPU and this machine has none (torch {torch.__version__}, CUDA "
                            f"build: {built}). Run `make gpu-check` on the GPU box; here, `make test` runs the same "
                            f"steps on shrunken configs and `python -m lantern_nb plan --profile gpu` the estimates.")
    return torch.device("cuda")


def run_checks(cfg: Profile, device: torch.device, checks: Sequence[str] = CHECKS, shrink: bool = False,
               seq: int | None = None, batch: int | None = None, work: Path | None = None,
               progress: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Run `checks` in order on `device`; the KD rows get `loss_rel_diff` (chunked vs naive first-step loss)."""
    unknown = [c for c in checks if c not in RUNNERS]
    if unknown:
        raise GpuCheckError(f"unknown check(s) {unknown}; valid: {', '.join(CHECKS)}")
    results: list[CheckResult] = []
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="gpu-check-")) if own else Path(work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        for name in checks:
            res = RUNNERS[name](cfg, device, work, shrink=shrink, seq=seq, batch=batch)
            results.append(res)
            free_memory()
            if progress:
                progress(res)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    by = {r.check: r for r in results if not r.skipped}
    if "kd" in by and "kd_naive" in by:
        a, b = by["kd"].notes["loss"], by["kd_naive"].notes["loss"]
        diff = abs(a - b) / max(abs(b), 1e-12)
        by["kd"].notes["loss_rel_diff"] = by["kd_naive"].notes["loss_rel_diff"] = diff
        if by["kd_naive"].measured_gb and by["kd"].measured_gb:
            by["kd"].notes["memory_vs_naive"] = round(by["kd"].measured_gb / by["kd_naive"].measured_gb, 3)
    return results


def format_row(r: CheckResult) -> str:
    if r.skipped:
        return f"{r.check:<11} {r.model:<55} skipped: {r.skipped}"
    meas = "n/a (no CUDA)" if r.measured_gb is None else f"{r.measured_gb:8.2f} GB"
    ratio = "" if r.ratio is None else f" x{r.ratio:.2f}"
    verdict = "ok" if r.ok else "OVER" if (r.ratio or 0) > TOLERANCE else "LOSS MISMATCH"
    extra = f" loss {r.notes['loss']:.4f}" if "loss" in r.notes else ""
    if "loss_rel_diff" in r.notes:
        extra += f" (chunked vs naive rel. diff {r.notes['loss_rel_diff']:.1e})"
    speed = f"{r.tokens_per_s:10.1f} tok/s" + ("" if r.measured_gb is None else f" vs plan {r.planned_tokens_per_s:10.1f}")
    return (f"{r.check:<11} {r.model:<55} seq {r.seq:>5} x {r.batch:<3} peak {meas} vs plan {r.planned_gb:8.2f} GB"
            f"{ratio} {verdict:<4} | {speed}{extra}")


def cli_gpu_check(args: argparse.Namespace) -> int:
    """`python -m lantern_nb gpu-check`: the table, a JSON file, exit 1 if any check fails, 2 without CUDA."""
    from lantern_nb.launch import parse_sets

    try:
        device = torch.device("cpu") if args.device == "cpu" else require_cuda()
    except GpuCheckError as e:
        print(f"gpu-check: {e}", file=sys.stderr)
        return 2
    cfg = load_profile(args.profile, **parse_sets(args.set or ()))
    checks = tuple(args.only.split(",")) if args.only else CHECKS
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"# gpu-check, profile {cfg.name}, on {name}: random-init models from lantern_nb/assets/configs; "
          f"fail above {TOLERANCE:.1f} x the planner's memory")
    try:
        results = run_checks(cfg, device, checks, shrink=args.shrink, seq=args.seq, batch=args.batch,
                             work=Path(args.work) if args.work else None,
                             progress=lambda r: print(format_row(r), flush=True))
    except GpuCheckError as e:
        print(f"gpu-check: {e}", file=sys.stderr)
        return 2
    out = Path(args.out or f"build/gpu-check/{cfg.name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"profile": cfg.name, "device": name, "torch": torch.__version__, "tolerance": TOLERANCE,
               "shrink": bool(args.shrink),
               "results": [dict(asdict(r), ratio=r.ratio, ok=r.ok) for r in results]}
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=str))
    tmp.replace(out)
    kd = next((r for r in results if "loss_rel_diff" in r.notes and r.check == "kd"), None)
    if kd:
        vs = kd.notes.get("memory_vs_naive")
        print(f"kd: chunked vs naive first-step loss rel. diff {kd.notes['loss_rel_diff']:.1e} (limit {LOSS_RTOL:.0e})"
              + ("" if vs is None else f"; chunked peak = {vs:.2f} x naive"))
    failed = [r.check for r in results if not r.ok]
    print(f"\nwrote {out}; " + (f"FAILED: {', '.join(failed)}" if failed else "all checks within the plan"))
    return 1 if failed else 0
