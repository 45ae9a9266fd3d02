"""KD experiment runner (paper Sec. 3.4.1, 4.2, 5.1.2; Table 1).

`distill` trains one student from one teacher through the project's single training loop
(`train.train` with `DistillObjective`, or `CausalLMObjective` for the SFT-only baseline of
paper 4.3.1). `run_stage` wraps it with evaluation (`scoring.evaluate` on D_seed test) and an
run cache (`cache.RunCache`, data/<profile>/models/students/<run>-<key>/: weights, metrics JSON
with the loss curve), so rerunning a notebook is cheap and changed settings never reuse stale
runs. A stage's key covers the kd, sft and pretrain sections, T2's weights, the data, the
student's initial weights and its teacher's key, so a distilled 3B is reused as the
intermediate of every path that starts teacher -> 3B (`kd.paths`).

`run_table1` builds Table 1 (SFT baseline + paper divergences + extra ones) and keeps the best
student by ROUGE-L as the explanation model for serving.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Sequence

import pandas as pd
import torch
from transformers import TrainerCallback

from lantern_nb import artifacts
from lantern_nb.cache import RunCache, fingerprint
from lantern_nb.kd.scd import TeacherSchedule
from lantern_nb.kd.losses import DistillObjective
from lantern_nb.paper import beside_paper, paper_columns
from lantern_nb.profiles import Profile
from lantern_nb.train import CausalLMObjective, TrainConfig, TrainResult, loss_curve, train

DISPLAY: dict[str, str] = {"sft": "SFT only", "js": "JS", "fkl": "FKL", "tvd": "TVD", "skl": "SKL", "rkl": "RKL",
                           "skew_fkl": "Skew-FKL", "skew_rkl": "Skew-RKL"}
METRIC_COLUMNS: dict[str, str] = {"nll": "Loss (NLL)", "rouge1": "ROUGE_1", "rouge2": "ROUGE_2", "rougeL": "ROUGE_L",
                                  "rougeL_lo": "ROUGE_L lo", "rougeL_hi": "ROUGE_L hi",
                                  "label_accuracy": "Label accuracy", "n": "n"}
PAPER_COLUMNS: dict[str, str] = paper_columns("table1_kd_divergences")  # Loss -> Paper Loss, ROUGE_1 -> ...
BEYOND = "beyond the paper"


def display_name(kind: str) -> str:
    return DISPLAY.get(kind, kind.upper())


def train_config(cfg: Profile) -> TrainConfig:
    """The KD hyper-parameters of the profile (paper Sec. 4.2: 8 epochs, AdamW, lr 8e-5)."""
    return TrainConfig.from_section(cfg.kd, cfg.seed)


def kd_settings(cfg: Profile) -> dict[str, Any]:
    """The profile sections a KD run reads (part of its cache key): kd, sft (evaluation lengths),
    pretrain (the student's start), the seed and the device, each whole."""
    return {"kd": cfg.kd, "sft": cfg.sft, "pretrain": cfg.pretrain, "seed": cfg.seed, "device": cfg.device}


def _encoded(tokenizer, rows: Sequence[dict[str, Any]], max_length: int) -> list[dict[str, Any]]:
    if rows and "input_ids" in rows[0]:
        return list(rows)
    from lantern_nb import dseed

    return dseed.encode_rows(tokenizer, rows, max_length)


def _student(cfg: Profile, spec_or_model: str | torch.nn.Module, tokenizer) -> torch.nn.Module:
    if isinstance(spec_or_model, torch.nn.Module):
        return spec_or_model
    from lantern_nb import pretrain

    spec = cfg.models.students.get(spec_or_model, spec_or_model)
    return pretrain.pretrained_decoder(cfg, spec, tokenizer)


def distill(cfg: Profile, teacher_model: torch.nn.Module | None, student_spec_or_model: str | torch.nn.Module, tokenizer,
            train_rows: Sequence[dict[str, Any]], kind: str, out_dir: str | Path,
            token_weights: Callable[..., torch.Tensor] | None = None,
            schedule: "Sequence[Any] | TeacherSchedule | None" = None,
            callbacks: Sequence[TrainerCallback] = (),
            train_overrides: dict[str, Any] | None = None,
            save_final: str | Path | None = None) -> tuple[torch.nn.Module, TrainResult]:
    """Train a student from `teacher_model` with divergence `kind` (0.1*CE + 0.9*KD), or SFT only.

    The student is a model or a spec / size name (`models.students`) started from the cached
    "pretrained" decoder, so every run shares one initialisation. `train_rows` are D_seed rows
    or already encoded examples. `token_weights` is a `DistillObjective` hook (bound to the
    objective when it has `bind`, like `scd.AdaptiveWeighting`); `schedule` is a
    `scd.TeacherSchedule` or the list of its phase teachers (models or checkpoint dirs) for
    Scheduled Checkpoint Distillation: one `train` call, the teacher swapped at phase boundaries.
    `train_overrides` replace fields of the profile's `TrainConfig` (e.g. the batch sampling);
    `save_final` also saves the trained student there (gathered from shards; `train.train`).
    """
    from lantern_nb.model_specs import pick_device

    student = _student(cfg, student_spec_or_model, tokenizer)
    rows = _encoded(tokenizer, train_rows, cfg.kd.max_length)
    callbacks = list(callbacks)
    if kind == "sft":
        if token_weights is not None or schedule is not None:
            raise ValueError("the SFT-only baseline takes no teacher, token_weights or schedule")
        objective: Any = CausalLMObjective(chunk_size=cfg.kd.chunk_size)
    else:
        if teacher_model is None:
            raise ValueError(f"KD with {kind!r} needs a teacher model")
        teacher_model.to(pick_device(cfg.device))
        objective = DistillObjective(teacher_model, kind=kind, lambda_sft=cfg.kd.lambda_sft,
                                     lambda_kd=cfg.kd.lambda_kd, beta=cfg.kd.beta, alpha=cfg.kd.alpha,
                                     temperature=cfg.kd.temperature, impl=cfg.kd.impl, chunk_size=cfg.kd.chunk_size,
                                     token_weights=token_weights)
        if hasattr(token_weights, "bind"):
            token_weights.bind(objective)
        if schedule is not None:
            if not isinstance(schedule, TeacherSchedule):
                schedule = TeacherSchedule(objective, schedule)
            schedule.objective = objective
            callbacks.append(schedule)
    tc = replace(train_config(cfg), **(train_overrides or {}))
    result = train(student, rows, objective, tc, Path(out_dir), pad_token_id=tokenizer.pad_token_id,
                   callbacks=callbacks, desc=f"kd-{kind}", save_final=save_final)
    return result.model, result


class _CachedDecoder:
    def __init__(self, owner: "CachedTeacher"):
        self.owner = owner

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        return SimpleNamespace(last_hidden_state=self.owner.hidden(input_ids, attention_mask))


class CachedTeacher(torch.nn.Module):
    """A frozen teacher whose final hidden states on the training rows are computed once.

    Every KD run from T2 sees the same rows, so the teacher's forward pass is shared across
    Table 1 and the single-stage paths instead of repeated per step. Only answer positions
    (the KD targets) are stored; rows are found by their token ids, and a batch with an unknown
    row falls back to the real teacher. The states live in host memory (kd.teacher_cache_gb; a
    batch's rows are copied to the device when used), so the cache takes no GPU memory. Behaves
    as the teacher for `DistillObjective` (`get_decoder`, `get_output_embeddings`), with identical
    results.
    """

    def __init__(self, teacher: torch.nn.Module, rows: Sequence[dict[str, Any]], pad_token_id: int,
                 batch_size: int = 8):
        super().__init__()
        from lantern_nb.train import IGNORE, PadCollator, decoder_hidden, freeze

        self.teacher = freeze(teacher)
        self.states: dict[bytes, tuple[torch.Tensor, torch.Tensor]] = {}
        collate = PadCollator(pad_token_id)
        device = next(teacher.parameters()).device
        with torch.no_grad():
            for s in range(0, len(rows), batch_size):
                chunk = rows[s:s + batch_size]
                batch = {k: v.to(device) for k, v in collate(chunk).items()}
                hidden = decoder_hidden(teacher, batch["input_ids"], batch["attention_mask"])
                for i, r in enumerate(chunk):
                    pos = batch["labels"][i].ne(IGNORE).nonzero().squeeze(1)
                    self.states[self._key(batch["input_ids"][i, :len(r["input_ids"])])] = (pos.cpu(), hidden[i, pos].cpu())

    @staticmethod
    def _key(ids: torch.Tensor) -> bytes:
        return ids.detach().cpu().numpy().tobytes()

    def hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        from lantern_nb.train import decoder_hidden

        found = [self.states.get(self._key(input_ids[b, :int(attention_mask[b].sum())]))
                 for b in range(input_ids.shape[0])]
        if any(f is None for f in found):
            return decoder_hidden(self.teacher, input_ids, attention_mask)
        dim = found[0][1].shape[-1]
        out = torch.zeros(*input_ids.shape, dim, dtype=found[0][1].dtype, device=input_ids.device)
        for b, (pos, h) in enumerate(found):
            out[b, pos.to(out.device)] = h.to(out.device)
        return out

    def get_decoder(self) -> _CachedDecoder:
        return _CachedDecoder(self)

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.teacher.get_output_embeddings()


def cache_bytes(teacher: torch.nn.Module, rows: Sequence[dict[str, Any]]) -> int:
    """Bytes of the teacher's answer-position hidden states of `rows` in its dtype (`CachedTeacher`)."""
    from lantern_nb.train import IGNORE

    n = sum(sum(1 for y in r["labels"] if y != IGNORE) for r in rows)
    weight = teacher.get_output_embeddings().weight
    return n * weight.shape[1] * weight.element_size()


def cacheable(teacher: torch.nn.Module, rows: Sequence[dict[str, Any]], limit_gb: float = 1.0) -> bool:
    """True when the teacher's answer-position hidden states of `rows` fit in `limit_gb` (kd.teacher_cache_gb)."""
    return cache_bytes(teacher, rows) <= limit_gb * 1024 ** 3


@dataclass
class KdContext:
    """What the KD runs of one profile share: T2, the tokenizer, D_seed train/test, the student
    factory and the evaluator (injectable, so tests run on tiny models without a corpus)."""

    cfg: Profile
    teacher: torch.nn.Module
    tokenizer: Any
    train_rows: list[dict[str, Any]]
    test_rows: list[dict[str, Any]]
    root: Path
    student_factory: Callable[[str], torch.nn.Module] | None = None
    evaluate: Callable[..., dict[str, float]] | None = None
    teacher_name: str = "T2"
    checkpoints: list[Path] | None = None
    cache_teacher: bool = True
    key: str = ""
    launchable: bool = False  # rows, students and evaluator are the profile's own (`kd_context`)
    _models: dict[str, torch.nn.Module] = field(default_factory=dict, repr=False)
    _launched: dict[str, Path] = field(default_factory=dict, repr=False)  # stage key -> `launch_together` output
    _cached: CachedTeacher | None = field(default=None, repr=False)
    runs: RunCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.key:
            self.key = fingerprint(self.teacher, self.tokenizer, self.train_rows, self.test_rows)
        self.runs = RunCache(self.root)

    def training_teacher(self) -> torch.nn.Module:
        """T2 for KD on `train_rows`: a `CachedTeacher` (built on first use) when it fits in memory."""
        if not self.cache_teacher or not cacheable(self.teacher, self.train_rows, self.cfg.kd.teacher_cache_gb):
            return self.teacher
        if self._cached is None:
            from lantern_nb.model_specs import pick_device

            self.teacher.to(pick_device(self.cfg.device))
            self._cached = CachedTeacher(self.teacher, self.train_rows, self.tokenizer.pad_token_id,
                                         self.cfg.kd.batch_size)
        return self._cached

    def new_student(self, role: str) -> torch.nn.Module:
        """A fresh student for size `role` from the shared initialisation."""
        if self.student_factory is not None:
            return self.student_factory(role)
        return _student(self.cfg, role, self.tokenizer)

    def score(self, model: torch.nn.Module) -> dict[str, float]:
        """`scoring.evaluate` on the test rows, generating in batches of up to 32 rows."""
        if self.evaluate is not None:
            return self.evaluate(model, self.tokenizer, self.test_rows, self.cfg)
        from lantern_nb import scoring

        return scoring.evaluate(model, self.tokenizer, self.test_rows, self.cfg,
                                batch_size=max(1, min(32, len(self.test_rows))))


def eval_n(cfg: Profile) -> int:
    """D_seed test rows scored per KD run: `kd.eval_n`, or `sft.eval_n` (Table 3's) when 0."""
    return cfg.kd.eval_n or cfg.sft.eval_n


def kd_context(cfg: Profile) -> KdContext:
    """The profile's context: T2 (notebook 03), its tokenizer, D_seed train and test (notebook 02)."""
    from lantern_nb import dseed, sft

    teacher, tokenizer = sft.load_t2(cfg)
    train_rows = dseed.encode_rows(tokenizer, dseed.seed_rows(cfg, "train"), cfg.kd.max_length)
    test_rows = dseed.seed_rows(cfg, "test")[: eval_n(cfg)]
    return KdContext(cfg, teacher, tokenizer, train_rows, test_rows,
                     root=artifacts.artifact_path(cfg.name, "students"), teacher_name=cfg.models.teacher,
                     checkpoints=list(sft.t2_checkpoints(cfg)), launchable=True)


def stage_launcher(ctx: KdContext) -> str | None:
    """"ddp" / "fsdp" when the context's KD stages train under `accelerate launch` (`launcher.launcher`
    for step kd; only a context built from the profile's own data by `kd_context`), else None."""
    if not ctx.launchable:
        return None
    from lantern_nb import launcher

    return launcher.launcher(ctx.cfg, step="kd")


def _launched_distill(ctx: KdContext, role: str, kind: str, teacher: "Run | None", out_dir: Path, mode: str,
                      launch_args: Sequence[str]) -> tuple[torch.nn.Module, TrainResult, dict[str, Any]]:
    """One KD stage as `python -m lantern_nb train kd` under `accelerate launch`: the subprocess reads D_seed
    and T2 (or the intermediate `teacher`'s saved student) from disk, saves the trained student, which
    is loaded back here with its loss log (`_launched_result`)."""
    from lantern_nb import launcher
    from lantern_nb.profiles import overrides_of

    extra = ["--kind", kind, "--student", role, "--save-model", *launch_args]
    if teacher is not None and kind != "sft":
        extra += ["--teacher-dir", str(teacher.model_dir)]
    launcher.launched_train(ctx.cfg, "kd", mode, out_dir, overrides_of(ctx.cfg), extra=extra)
    return _launched_result(ctx, out_dir)


@dataclass
class Run:
    """One finished (or cached) KD stage: its directory, key and metrics (with the loss curve)."""

    name: str
    key: str
    dir: Path
    metrics: dict[str, Any]
    cached: bool

    @property
    def model_dir(self) -> Path:
        return self.dir / "model"

    def load_model(self) -> torch.nn.Module:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(self.model_dir).eval()

    @property
    def curve(self) -> list[tuple[int, float]]:
        return [tuple(p) for p in self.metrics.get("curve", [])]


def run_stage(ctx: KdContext, name: str, role: str, kind: str, teacher: "Run | None" = None,
              schedule: Sequence[Any] | TeacherSchedule | None = None,
              token_weights: Callable[..., torch.Tensor] | None = None, extra_key: Any = None,
              keep_model: bool = False, launch_args: Sequence[str] | None = ()) -> Run:
    """Distil (or SFT) student `role` and evaluate it, or return the cached run with the same key.

    `teacher` is a previous `Run` (a distilled intermediate) or None for T2. The key chains the
    teacher's key, so a cached intermediate is found by its path prefix. The key holds the
    student's spec, not its role name: identical computations (e.g. smoke, where every size
    has one spec) share one run. Under a launcher (`stage_launcher`) the training runs as
    `python -m lantern_nb train kd` with `launch_args` describing `schedule` / `token_weights`
    (None: they cannot be described, so the stage trains here); evaluation stays in this process.
    """
    cfg = ctx.cfg
    spec = cfg.models.students.get(role, role)
    mode = stage_launcher(ctx) if launch_args is not None else None
    if mode is not None and (schedule is not None or token_weights is not None) and not launch_args:
        mode = None
    student = ctx.new_student(role)
    key = _stage_key(ctx, role, kind, teacher, extra_key, student, mode, launch_args)
    hit = ctx.runs.load(key, require=("model",))
    if hit is not None:
        return Run(name, key, hit[0], hit[1], cached=True)
    run_dir = ctx.runs.start(name, key)
    traces: dict[str, Any] = {}
    if mode is not None:
        del student
        done = ctx._launched.pop(key, None)
        student, result, traces = (_launched_result(ctx, done) if done is not None else
                                   _launched_distill(ctx, role, kind, teacher, run_dir / "trainer", mode,
                                                     launch_args or ()))
        if done is not None:
            shutil.rmtree(done, ignore_errors=True)
    else:
        if kind == "sft":
            teacher_model = None
        elif teacher is not None:
            teacher_model = ctx._models.get(teacher.key)
            teacher_model = teacher.load_model() if teacher_model is None else teacher_model
        else:
            teacher_model = ctx.training_teacher()
        student, result = distill(cfg, teacher_model, student, ctx.tokenizer, ctx.train_rows, kind,
                                  run_dir / "trainer", token_weights=token_weights, schedule=schedule)
    t0 = time.perf_counter()
    scores = ctx.score(student)
    eval_seconds = time.perf_counter() - t0
    student.save_pretrained(run_dir / "model.tmp")
    (run_dir / "model.tmp").rename(run_dir / "model")
    shutil.rmtree(run_dir / "trainer", ignore_errors=True)
    logs = [r for r in result.log_history if "loss" in r]
    metrics = {"name": name, "role": role, "spec": spec, "kind": kind,
               "teacher": teacher.name if teacher is not None else (None if kind == "sft" else ctx.teacher_name),
               **{k: float(v) for k, v in scores.items()}, "steps": result.steps,
               "train_seconds": round(result.seconds, 2), "eval_seconds": round(eval_seconds, 2),
               "curve": loss_curve(result.log_history),
               "kd_curve": [(int(r["step"]), float(r["kd"])) for r in logs if "kd" in r],
               "ce_curve": [(int(r["step"]), float(r["ce"])) for r in logs if "ce" in r]}
    metrics.update(traces)
    metrics.update(stage_traces(schedule, token_weights))
    RunCache.finish(run_dir, metrics)
    if keep_model:
        ctx._models[key] = student.eval()
    return Run(name, key, run_dir, metrics, cached=False)


def _stage_key(ctx: KdContext, role: str, kind: str, teacher: "Run | None", extra_key: Any, student: torch.nn.Module,
               mode: str | None, launch_args: Sequence[str] | None) -> str:
    """A stage's run-cache key: its teacher's key (chained), T2's, the student's spec and start weights,
    the divergence, the KD settings and, when launched, the launcher and its process count."""
    from lantern_nb import launcher

    cfg = ctx.cfg
    parent = "none" if kind == "sft" else (teacher.key if teacher is not None else ctx.key)
    launched = [mode, list(launch_args or ()), launcher.process_count(cfg)] if mode else None
    return RunCache.key(parent, ctx.key, cfg.models.students.get(role, role), kind, fingerprint(student),
                        kd_settings(cfg), extra_key, *([launched] if launched else []))


def launch_together(ctx: KdContext, role: str, kinds: Sequence[str]) -> list[str]:
    """Train the uncached T2 -> `role` stages of `kinds` (Table 1's rows) in one `accelerate launch`
    (`train kd --kind a,b,...`), so the launcher's start-up, T2's load and the data are paid once, not
    per row; `run_stage` then picks each result up. Nothing happens in-process; returns the kinds launched."""
    from lantern_nb import launcher
    from lantern_nb.profiles import overrides_of

    mode = stage_launcher(ctx)
    if mode is None:
        return []
    todo: dict[str, str] = {}
    for kind in dict.fromkeys(kinds):
        key = _stage_key(ctx, role, kind, None, None, ctx.new_student(role), mode, ())
        if key not in ctx._launched and ctx.runs.load(key, require=("model",)) is None:
            todo[kind] = key
    if len(todo) < 2:
        return []
    out = ctx.root / "_launched" / RunCache.key(role, *todo.values())
    launcher.launched_train(ctx.cfg, "kd", mode, out, overrides_of(ctx.cfg),
                            extra=["--kind", ",".join(todo), "--student", role, "--save-model"])
    for kind, key in todo.items():
        ctx._launched[key] = out / kind
    return list(todo)


def _launched_result(ctx: KdContext, run: Path) -> tuple[torch.nn.Module, TrainResult, dict[str, Any]]:
    """A launched stage's saved student on this process's device, its `TrainResult` (rank 0's result.json
    in `run`) and the SCD / AW traces the run recorded."""
    import json

    from lantern_nb import launcher
    from lantern_nb.model_specs import pick_device

    result = json.loads((run / "result.json").read_text())
    model = launcher.load_launched(run / "final", pick_device(ctx.cfg.device))
    traces = {k: result[k] for k in ("scd_boundaries", "scd_phases", "aw_trace") if k in result}
    return model, launcher.train_result(result, model), traces


def stage_traces(schedule: Any, token_weights: Any) -> dict[str, Any]:
    """What an SCD schedule and Adaptive Weighting recorded during a run (phase boundaries, the phase
    per step, the per-step advantage and weight range), for the run's metrics."""
    out: dict[str, Any] = {}
    if isinstance(schedule, TeacherSchedule):
        out["scd_boundaries"] = schedule.boundaries
        out["scd_phases"] = [p for _, p in schedule.history]
    if getattr(token_weights, "trace", None):
        out["aw_trace"] = token_weights.trace
    return out


def teacher_reference(ctx: KdContext) -> dict[str, float]:
    """T2's own scores on the KD evaluation rows (cached beside the runs): the bar students aim at."""
    key = RunCache.key(ctx.key, kd_settings(ctx.cfg))
    return ctx.runs.get_or_run("t2-eval", key, lambda _: {k: float(v) for k, v in ctx.score(ctx.teacher).items()})[0]


def table1_kinds(cfg: Profile) -> list[tuple[str, str]]:
    """(kind, note) rows of Table 1: the SFT-only baseline, the paper's divergences, the extras."""
    rows = [("sft", "baseline (paper 4.3.1; no numbers reported)")]
    rows += [(k, "paper row") for k in cfg.kd.divergences]
    rows += [(k, BEYOND) for k in cfg.kd.extra_divergences if k not in cfg.kd.divergences]
    return rows


def metric_row(metrics: dict[str, Any]) -> dict[str, float]:
    return {col: metrics.get(k, float("nan")) for k, col in METRIC_COLUMNS.items()}


@dataclass
class Table1Result:
    """Table 1 and what the notebook shows beside it: the loss curve per row (by KD Method), each
    run's directory (by kind), and the serving explainer saved from the best row (None if not saved)."""

    table: pd.DataFrame
    curves: dict[str, list[tuple[int, float]]]
    runs: dict[str, str]
    explainer: Path | None = None
    explainer_from: str | None = None


def run_table1(cfg: Profile, ctx: KdContext | None = None, save_explainer: bool = True,
               progress: bool = True) -> Table1Result:
    """Table 1: the SFT-only baseline and one student per divergence, same init/data/steps.

    The table's columns: KD Method, Loss (NLL), ROUGE_1/2/L, the paper's Qwen2.5-7B -> 1.5B
    numbers, Note, seconds. The best student by ROUGE-L is saved as the serving explanation model
    (artifact "explainer").
    """
    from tqdm.auto import tqdm

    ctx = ctx or kd_context(cfg)
    role = cfg.kd.student
    rows, curves, runs = [], {}, {}
    launch_together(ctx, role, [kind for kind, _ in table1_kinds(cfg)])
    for kind, note in tqdm(table1_kinds(cfg), desc="Table 1 runs", disable=not progress):
        run = run_stage(ctx, f"{'' if kind == 'sft' else 'teacher-'}{role}.{kind}", role, kind)
        runs[kind] = run
        curves[display_name(kind)] = run.curve
        rows.append({"KD Method": display_name(kind), **metric_row(run.metrics), "Note": note,
                     "Train seconds": run.metrics["train_seconds"], "Eval seconds": run.metrics["eval_seconds"],
                     "Cached": run.cached})
    df = beside_paper(pd.DataFrame(rows), "table1_kd_divergences", "KD Method")
    order = ["KD Method", *METRIC_COLUMNS.values(), *PAPER_COLUMNS.values(), "Note", "Train seconds", "Eval seconds",
             "Cached"]
    result = Table1Result(df[order], curves, {k: str(r.dir) for k, r in runs.items()})
    if save_explainer:
        best = max(runs.values(), key=lambda r: r.metrics.get("rougeL", float("-inf")))
        result.explainer = save_best(cfg, best, ctx.tokenizer)
        result.explainer_from = display_name(best.metrics["kind"])
    return result


def save_best(cfg: Profile, run: Run, tokenizer) -> Path:
    """Save `run`'s student as the serving explanation model (artifact "explainer")."""
    from lantern_nb import checkpoints

    meta = {"source": "kd", "run": run.name, "kind": run.metrics["kind"], "spec": run.metrics["spec"],
            "rougeL": run.metrics.get("rougeL"), "max_length": cfg.sft.max_length}
    return checkpoints.save_model(run.load_model(), tokenizer, artifacts.artifact_path(cfg.name, "explainer"), meta)


def plot_loss_curves(curves: dict[str, Sequence[tuple[int, float]]], title: str = "KD training loss"):
    """Training-loss curves, one line per run (0.1*CE + 0.9*KD; CE only for the SFT baseline)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.0))
    for label, curve in curves.items():
        if curve:
            steps, losses = zip(*curve)
            ax.plot(steps, losses, label=label, lw=1.4, ls="--" if label == DISPLAY["sft"] else "-")
    ax.set(xlabel="optimisation step", ylabel="training loss", title=title, yscale="log")
    ax.legend(ncol=2, fontsize=8)
    fig.tight_layout()
    return fig


def plot_rouge(df: pd.DataFrame, label_col: str = "KD Method", title: str = "ROUGE of greedy generations"):
    """Grouped bars of ROUGE-1/2/L per row of a KD table (ours), paper values as markers."""
    import matplotlib.pyplot as plt
    import numpy as np

    metrics = ["ROUGE_1", "ROUGE_2", "ROUGE_L"]
    x = np.arange(len(df))
    width = 0.26
    fig, ax = plt.subplots(figsize=(max(7.5, 0.9 * len(df) + 2), 4.0))
    for i, m in enumerate(metrics):
        ax.bar(x + (i - 1) * width, df[m], width, label=m)
        paper = df.get(PAPER_COLUMNS[m])
        if paper is not None and paper.notna().any():
            ax.scatter(x + (i - 1) * width, paper, marker="_", s=200, color="black", zorder=3,
                       label="paper" if i == 0 else None)
    ax.set_xticks(x, df[label_col], rotation=20, ha="right")
    ax.set(ylabel="ROUGE (F1)", ylim=(0, 1), title=title)
    ax.legend(ncol=4, fontsize=8)
    fig.tight_layout()
    return fig

