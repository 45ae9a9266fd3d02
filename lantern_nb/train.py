"""The project's one training loop: a `transformers.Trainer` subclass with pluggable objectives.

SFT (teacher fine-tuning, pretraining of the tiny decoders), token-level KD (explanation
students, multi-stage paths, SCD) and the fit classifier all train through `LanternTrainer`;
only the objective differs. Labels are stored pre-shifted (`labels[t]` is the target of
position t, -100 where nothing is predicted), so the number of valid targets is exact and the
loss is normalised by the global count across gradient accumulation (and devices).
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import ProgressCallback

from lantern_nb.profiles import ClassifierCfg, KdCfg, PretrainCfg, SftCfg, SummarizerCfg

IGNORE = -100


# ----------------------------------------------------------------------------- data
def encode_chat_example(tokenizer, messages: list[dict], target: str | None, max_length: int) -> dict[str, list[int]]:
    """Token ids of `messages` (+ the assistant `target` and EOS) with pre-shifted labels.

    Only answer tokens (and the closing EOS) are targets; when too long, the prompt is cut in its
    middle (the template's head and the generation prompt survive) so the answer is kept whole.
    EOS is a target even when pad == eos, because targets come from the sequence, not from padding.
    """
    prompt_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(prompt_ids, dict) or hasattr(prompt_ids, "input_ids"):
        prompt_ids = prompt_ids["input_ids"]
    prompt_ids = list(prompt_ids)
    answer_ids: list[int] = []
    if target is not None:
        answer_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    budget = max_length - len(answer_ids)
    if budget < 16:
        answer_ids = answer_ids[: max(1, max_length - 16)]
        budget = max_length - len(answer_ids)
    if len(prompt_ids) > budget:
        tail = 8
        prompt_ids = prompt_ids[: budget - tail] + prompt_ids[-tail:]
    ids = prompt_ids + answer_ids
    labels = [IGNORE] * len(ids)
    for t in range(len(prompt_ids) - 1, len(ids) - 1):
        labels[t] = ids[t + 1]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels,
            "prompt_len": len(prompt_ids)}


@dataclass
class PadCollator:
    """Right-pads token fields; passes other tensors/lists (soft labels, weights, ids) through."""

    pad_token_id: int
    keys_to_pad: tuple[str, ...] = ("input_ids", "attention_mask", "labels")

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for key in rows[0]:
            values = [r[key] for r in rows]
            if key in self.keys_to_pad:
                width = max(len(v) for v in values)
                fill = {"input_ids": self.pad_token_id, "attention_mask": 0, "labels": IGNORE}[key]
                out[key] = torch.tensor([list(v) + [fill] * (width - len(v)) for v in values], dtype=torch.long)
            elif isinstance(values[0], (int, float, list)) or torch.is_tensor(values[0]):
                out[key] = torch.as_tensor(values) if not torch.is_tensor(values[0]) else torch.stack(values)
        return out


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows: Sequence[dict[str, Any]]):
        self.rows = list(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


# ----------------------------------------------------------------------------- objectives
class Objective(Protocol):
    """loss(model, inputs, num_items) -> (scalar loss already divided by num_items, logs)."""

    def __call__(self, model: torch.nn.Module, inputs: dict[str, torch.Tensor],
                 num_items: torch.Tensor | int) -> tuple[torch.Tensor, dict[str, float]]: ...


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The bare model inside parallel wrappers (DataParallel, DDP, FSDP, DeepSpeed, torch.compile) and
    peft, for reading attributes such as the lm_head; forward passes still go through `model` itself
    so the wrappers' scatter and hooks run."""
    from accelerate.utils import extract_model_from_parallel

    inner = extract_model_from_parallel(model, keep_torch_compile=False)
    return inner.get_base_model() if hasattr(inner, "get_base_model") else inner


def is_fsdp1(model: torch.nn.Module) -> bool:
    """Whether `model` holds an FSDP1 `FullyShardedDataParallel` wrapper: its parameters outside a forward are
    slices of flat shards, which the fused losses cannot apply (`lm_head_weight` refuses them)."""
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel
    except ImportError:  # pragma: no cover - torch built without distributed
        return False
    return any(isinstance(m, FullyShardedDataParallel) for m in model.modules())


def _is_dtensor(t: torch.Tensor) -> bool:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # pragma: no cover
        return False
    return isinstance(t, DTensor)


def _has_own_forward(module: torch.nn.Module) -> bool:
    return type(module).forward is not torch.nn.Module.forward


def decoder_hidden(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Final (post-norm) hidden states [B, T, H] of a causal LM, through the model's own forward.

    Calling the (possibly Trainer-wrapped: DataParallel, DDP, peft) model keeps the wrappers'
    scatter and hooks. Only the last hidden state is kept (`output_hidden_states=-1`; transformers
    ties it to the final norm's output, the same tensor as `get_decoder()(...).last_hidden_state`)
    and logits only for the last position (`logits_to_keep=1`, where the class accepts it). A
    duck-typed teacher without a forward of its own (`kd.runs.CachedTeacher`) is read through
    its `get_decoder()`.
    """
    inner = unwrap_model(model)
    if not _has_own_forward(inner) and hasattr(inner, "get_decoder"):
        return inner.get_decoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(inner.forward).parameters else {}
    out = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=-1, use_cache=False,
                **extra)
    return out.hidden_states[-1]


def lm_head_weight(model: torch.nn.Module) -> torch.Tensor:
    """The lm_head weight [V, H] of a (possibly wrapped) causal LM; bias-free heads only."""
    head = unwrap_model(model).get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        raise ValueError("the fused loss supports bias-free lm_heads only (Qwen2/Qwen3/Phi-3/Llama have none)")
    if is_fsdp1(model) or _is_dtensor(head.weight):
        raise RuntimeError("the lm_head weight is sharded here, so the fused loss cannot apply it: use FSDP2 "
                           "(fsdp_version: 2, as lantern_nb/launchers/fsdp.yaml; accelerate keeps the final norm "
                           "and lm_head unsharded from the forward to the backward) or run data-parallel "
                           "(hardware.launcher: ddp)")
    return head.weight


def answer_rows(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden [N, H], labels [N]): final hidden states and targets at a batch's answer positions
    (labels != IGNORE), selected before any vocabulary-sized work, so padding costs nothing."""
    labels = inputs["labels"]
    valid = labels.ne(IGNORE)
    return decoder_hidden(model, inputs["input_ids"], inputs["attention_mask"])[valid], labels[valid]


def row_chunks(fn: Callable[..., Any], rows: Sequence[torch.Tensor], chunk_size: int,
               checkpointed: bool = True) -> list[Any]:
    """`fn` on consecutive blocks of `chunk_size` rows of every tensor in `rows` (all [N, ...]).

    Each block computes its own [rows x vocab] logits inside `fn`; with `checkpointed` they are
    recomputed in backward instead of kept, so the logits of all N rows never exist at once
    (CE, top-k KD, NLL and adaptive weighting all go through here; the fused KD loss has its own
    backward)."""
    out = []
    for s in range(0, rows[0].shape[0], chunk_size):
        block = [t[s:s + chunk_size] for t in rows]
        out.append(checkpoint(fn, *block, use_reentrant=False) if checkpointed else fn(*block))
    return out


def chunked_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                          chunk_size: int = 1024) -> torch.Tensor:
    """Summed CE of `hidden @ weight.T` against `labels`, block by block (`row_chunks`)."""
    parts = row_chunks(lambda h, y: F.cross_entropy((h @ weight.T).float(), y, reduction="sum", ignore_index=IGNORE),
                       [hidden, labels], chunk_size)
    return sum(parts, hidden.new_zeros((), dtype=torch.float32))


@dataclass
class CausalLMObjective:
    """Supervised fine-tuning: summed token CE over answer tokens / global target count."""

    chunk_size: int = 1024

    def __call__(self, model, inputs, num_items):
        hidden, labels = answer_rows(model, inputs)
        ce = chunked_cross_entropy(hidden, lm_head_weight(model), labels, self.chunk_size)
        return ce / num_items, {"ce": float(ce.detach()) / max(float(num_items), 1.0)}


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """Eval mode and no gradients: a frozen teacher."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# ----------------------------------------------------------------------------- trainer
class _QuietProgress(ProgressCallback):
    """The tqdm progress bar without a printed dict per logging step (notebooks stay readable)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        return None


class LanternTrainer(Trainer):
    """`Trainer` whose loss comes from an `Objective` normalised by the global target count."""

    loss_is_scaled_for_ga = True

    def __init__(self, *args: Any, objective: Objective, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.objective = objective
        self._extra_logs: dict[str, list[float]] = {}

    def _get_num_items_in_batch(self, batch_samples: list, device: torch.device):
        count = sum(int(b["labels"].ne(IGNORE).sum()) for b in batch_samples)
        count_t = torch.tensor(count, device=device)
        if self.args.world_size > 1:
            count_t = self.accelerator.gather(count_t).sum()
        return count_t

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if num_items_in_batch is None:
            num_items_in_batch = inputs["labels"].ne(IGNORE).sum().clamp(min=1)
        loss, logs = self.objective(model, inputs, num_items_in_batch)
        if self.args.world_size > 1:
            loss = loss * self.args.world_size  # DDP averages gradients; the sum/global-count is the target
        for k, v in logs.items():
            self._extra_logs.setdefault(k, []).append(v)
        return (loss, None) if return_outputs else loss

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        for k, vals in self._extra_logs.items():
            if vals:
                logs[k] = sum(vals) / len(vals)
        self._extra_logs = {}
        super().log(logs, *args, **kwargs)


@dataclass
class TrainConfig:
    """The hyper-parameters of one run; `from_section` takes them from a profile section, so each value
    lives in the profile (paper Sec. 4.2 gives epochs, AdamW and the learning rates; the rest is ours)."""

    epochs: float
    lr: float
    batch_size: int
    warmup_ratio: float  # share of the optimisation steps with linear LR warmup
    weight_decay: float
    scheduler: str  # transformers' lr_scheduler_type
    max_grad_norm: float  # 0 = no clipping
    grad_accum: int = 1
    seed: int = 0
    n_checkpoints: int = 0
    log_points: int = 0  # loss-log entries per epoch, or per run when max_steps caps it (0 = every step)
    max_steps: int = -1
    group_by_length: bool = True  # batches of similar length (less padding) when rows carry input_ids
    gradient_checkpointing: bool = False  # activation checkpointing (non-reentrant) through the Trainer
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_section(cls, section: PretrainCfg | SftCfg | KdCfg | ClassifierCfg | SummarizerCfg, seed: int,
                     **overrides: Any) -> TrainConfig:
        """The run of profile `section`: each of its fields a TrainConfig field shares, the profile's `seed`,
        then `overrides` for what the section leaves to its caller (e.g. pretraining's `max_steps`)."""
        names = {f.name for f in fields(cls)}
        shared = {k: v for k, v in vars(section).items() if k in names}
        return cls(**{**shared, "seed": seed, **overrides})

    def logging_steps(self, n_rows: int) -> int:
        """Optimisation steps between loss-log entries when training on `n_rows` rows."""
        if not self.log_points:
            return 1
        span = self.max_steps if self.max_steps > 0 else n_rows // (self.batch_size * self.grad_accum)
        return max(1, span // self.log_points)


@dataclass
class TrainResult:
    model: torch.nn.Module
    log_history: list[dict[str, Any]]
    checkpoints: list[Path]
    steps: int
    seconds: float


def train(model: torch.nn.Module, rows: Sequence[dict[str, Any]], objective: Objective, tc: TrainConfig,
          output_dir: str | Path, collator: Callable | None = None, pad_token_id: int = 0,
          callbacks: Sequence[TrainerCallback] = (), desc: str | None = None,
          save_final: str | Path | None = None) -> TrainResult:
    """Train `model` on `rows` with `objective`; returns the model, the loss log and checkpoint dirs.

    Checkpoints (model weights only) are saved `tc.n_checkpoints` times along training, evenly
    spaced, for Scheduled Checkpoint Distillation. Token rows of varying length are batched by
    length (transformers' LengthGroupedSampler: ~11% fewer padded tokens on D_seed). bf16 autocast
    only on CUDA (over fp32 master weights: `model_specs.load_dtype`); deterministic on CPU.
    `tc.gradient_checkpointing` recomputes activations in backward (non-reentrant, so frozen
    inputs, peft adapters and the objectives' own checkpointed chunks work under it).
    `save_final`: the trained model is also saved there by the Trainer (every rank takes part, so a
    sharded model is gathered; only the main process writes): how a launched run hands its model back.
    """
    output_dir = Path(output_dir)
    steps_per_epoch = math.ceil(len(rows) / (tc.batch_size * tc.grad_accum))
    total = tc.max_steps if tc.max_steps > 0 else max(1, math.ceil(steps_per_epoch * tc.epochs))
    save_steps = max(1, total // tc.n_checkpoints) if tc.n_checkpoints else None
    cuda = torch.cuda.is_available()
    lengths_vary = bool(rows) and "input_ids" in rows[0] and len({len(r["input_ids"]) for r in rows}) > 1
    sampling = "group_by_length" if tc.group_by_length and lengths_vary else "random"
    args = TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=tc.batch_size,
        gradient_accumulation_steps=tc.grad_accum, num_train_epochs=tc.epochs, max_steps=tc.max_steps,
        learning_rate=tc.lr, lr_scheduler_type=tc.scheduler, warmup_steps=int(tc.warmup_ratio * total),
        weight_decay=tc.weight_decay, max_grad_norm=tc.max_grad_norm, logging_steps=tc.logging_steps(len(rows)),
        seed=tc.seed, data_seed=tc.seed,
        save_strategy="steps" if save_steps else "no", save_steps=save_steps or 500, save_only_model=True,
        save_total_limit=None, report_to=[], remove_unused_columns=False, dataloader_num_workers=0,
        bf16=cuda and torch.cuda.is_bf16_supported(), use_cpu=not cuda and not torch.backends.mps.is_available(),
        activation_checkpointing=tc.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if tc.gradient_checkpointing else None,
        disable_tqdm=False, run_name=desc or output_dir.name, train_sampling_strategy=sampling, **tc.extra)
    trainer = LanternTrainer(model=model, args=args, train_dataset=ListDataset(rows),
                             data_collator=collator or PadCollator(pad_token_id), objective=objective,
                             callbacks=list(callbacks))
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(_QuietProgress())
    out = trainer.train()
    if save_final is not None:
        trainer.save_model(str(save_final))
    ckpts = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    return TrainResult(model=trainer.model, log_history=list(trainer.state.log_history), checkpoints=ckpts,
                       steps=trainer.state.global_step, seconds=float(out.metrics.get("train_runtime", 0.0)))


def loss_curve(log_history: Sequence[dict[str, Any]]) -> list[tuple[int, float]]:
    """(step, loss) pairs from a Trainer log history, for the learning-curve figures."""
    return [(int(r["step"]), float(r["loss"])) for r in log_history if "loss" in r and "step" in r]
