"""Scheduled Checkpoint Distillation and sample-wise Adaptive Weighting (Feng et al. 2026, "Scheduled Checkpoint Distillation").

Beyond the LANTERN paper. The SCD paper argues a student can beat its teacher when its advantage on
the student-favoured subdomain (SFS) outweighs its deficit on the teacher-favoured one (TFS):

* **SCD** shrinks the TFS deficit by letting the student follow the teacher's own convergence:
  KD training is split into ``len(checkpoints)`` equal phases and phase i distils from the
  teacher's i-th SFT checkpoint (the last phase from the final T2). One `train.train` call; a
  `TeacherSchedule` callback swaps `DistillObjective.teacher` at the phase boundaries.
* **AW** keeps the student's SFS strength: per sample, the advantage of the student over the
  current teacher on the reference tokens is

      a_i = NLL_teacher(i) - NLL_student(i)        (mean per-token CE, nats, detached)

  (a_i > 0: the student already predicts the reference better, an SFS sample). The weight is

      w_i = sigmoid(-a_i / tau) / mean_j sigmoid(-a_j / tau)

  so weights are bounded, equal to 1 when all samples look alike, mean 1 over the batch, and
  shrink towards 0 for samples where the student is clearly better (its KD pull towards a
  worse teacher is damped) while samples where the teacher is better keep full weight. Every
  token of sample i carries w_i, through `DistillObjective.token_weights` (it scales the
  sample's 0.1*CE + 0.9*KD; KD is 90% of it). Both NLLs use the shared vocabulary slice.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from transformers import TrainerCallback

from lantern_nb.train import freeze, lm_head_weight, row_chunks

TeacherSource = torch.nn.Module | str | Path | Callable[[], torch.nn.Module]


def phase_of_step(step: int, total_steps: int, n_phases: int) -> int:
    """Phase (0-based) of optimisation step `step` (0-based) when `total_steps` are split evenly."""
    if n_phases < 1 or total_steps < 1:
        raise ValueError(f"need n_phases >= 1 and total_steps >= 1, got {n_phases}, {total_steps}")
    return min(n_phases - 1, step * n_phases // total_steps)


def load_teacher(source: TeacherSource) -> torch.nn.Module:
    """A frozen causal LM from a model, a checkpoint directory, or a zero-argument loader."""
    if isinstance(source, torch.nn.Module):
        return freeze(source)
    if isinstance(source, (str, Path)):
        from transformers import AutoModelForCausalLM

        return freeze(AutoModelForCausalLM.from_pretrained(str(source)))
    return freeze(source())


class TeacherSchedule(TrainerCallback):
    """Swap `objective.teacher` to the phase's teacher at the start of every optimisation step.

    `teachers` are the phase teachers in order (models, checkpoint dirs or loaders); a teacher
    given as a path is loaded when its phase starts and the previous loaded one is released,
    so at most one checkpoint lives in memory. `history` records (step, phase) for every step.
    """

    def __init__(self, objective: Any, teachers: Sequence[TeacherSource]):
        """`objective` may be None and bound later (`distill` does it)."""
        if not teachers:
            raise ValueError("SCD needs at least one teacher checkpoint")
        self.objective = objective
        self.teachers = list(teachers)
        self.history: list[tuple[int, int]] = []
        self.phase: int | None = None
        self.boundaries: list[int] = []

    @property
    def n_phases(self) -> int:
        return len(self.teachers)

    def _activate(self, phase: int) -> None:
        device = next(self.objective.teacher.parameters()).device
        teacher = load_teacher(self.teachers[phase]).to(device)
        self.objective.teacher = teacher
        self.phase = phase

    def on_train_begin(self, args, state, control, **kwargs):
        total = max(1, state.max_steps)
        first: dict[int, int] = {}
        for s in range(total):
            first.setdefault(phase_of_step(s, total, self.n_phases), s)
        self.boundaries = list(first.values())
        self.phase = None
        return control

    def on_step_begin(self, args, state, control, **kwargs):
        phase = phase_of_step(state.global_step, max(1, state.max_steps), self.n_phases)
        if phase != self.phase:
            self._activate(phase)
        self.history.append((state.global_step, phase))
        return control


def sample_weights(nll_student: torch.Tensor, nll_teacher: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """AW weights from per-sample mean NLLs: sigmoid(-(nll_t - nll_s)/tau), normalised to mean 1."""
    if tau <= 0:
        raise ValueError(f"adaptive-weighting tau must be > 0, got {tau}")
    advantage = (nll_teacher - nll_student).detach().float()
    raw = torch.sigmoid(-advantage / tau)
    return (raw / raw.mean().clamp_min(1e-12)).detach()


@torch.no_grad()
def token_nll(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, vocab: int,
              chunk_size: int = 1024) -> torch.Tensor:
    """Per-row CE of `hidden @ weight[:vocab].T` against `labels`, block by block, float32, no grad."""
    w = weight[:vocab]
    parts = row_chunks(lambda h, y: F.cross_entropy((h @ w.T).float(), y, reduction="none"), [hidden, labels],
                       chunk_size, checkpointed=False)
    return torch.cat(parts) if parts else hidden.new_zeros(0, dtype=torch.float32)


class AdaptiveWeighting:
    """`DistillObjective.token_weights` hook: per-token weights w_{sample(token)} (module docstring).

    Bind it to the objective (`bind`) so it scores against the teacher in use at each step (SCD
    swaps it). `last` keeps the latest per-sample advantages and weights, `trace` one summary
    (mean advantage, min and max weight) per micro-batch.
    """

    def __init__(self, tau: float = 0.5, chunk_size: int = 1024):
        self.tau = tau
        self.chunk_size = chunk_size
        self.objective: Any = None
        self.last: dict[str, torch.Tensor] = {}
        self.trace: list[dict[str, float]] = []

    def bind(self, objective: Any) -> "AdaptiveWeighting":
        self.objective = objective
        return self

    def __call__(self, *, model: torch.nn.Module, inputs: dict[str, torch.Tensor], valid: torch.Tensor,
                 student_hidden: torch.Tensor, teacher_hidden: torch.Tensor) -> torch.Tensor:
        if self.objective is None:
            raise RuntimeError("AdaptiveWeighting is not bound to a DistillObjective; call .bind(objective)")
        labels = inputs["labels"][valid]
        s_w = lm_head_weight(model).detach()
        t_w = lm_head_weight(self.objective.teacher).detach()
        vocab = min(s_w.shape[0], t_w.shape[0])
        nll_s = token_nll(student_hidden.detach(), s_w, labels, vocab, self.chunk_size)
        nll_t = token_nll(teacher_hidden.detach(), t_w, labels, vocab, self.chunk_size)
        sample = valid.nonzero()[:, 0]
        n = valid.shape[0]
        count = torch.bincount(sample, minlength=n).float()
        present = count > 0
        mean_s = torch.zeros(n, device=nll_s.device).index_add_(0, sample, nll_s)[present] / count[present]
        mean_t = torch.zeros(n, device=nll_t.device).index_add_(0, sample, nll_t)[present] / count[present]
        w = torch.zeros(n, device=nll_s.device)
        w[present] = sample_weights(mean_s, mean_t, self.tau)
        self.last = {"advantage": (mean_t - mean_s).cpu(), "weights": w[present].cpu()}
        self.trace.append({"advantage": float(self.last["advantage"].mean()),
                           "w_min": float(self.last["weights"].min()), "w_max": float(self.last["weights"].max())})
        return w[sample].detach()


def scd_teachers(checkpoints: Sequence[Path], final_teacher: torch.nn.Module) -> list[TeacherSource]:
    """Phase teachers: checkpoint i for phase i, the final T2 for the last phase."""
    ckpts = list(checkpoints)
    return [*ckpts[:-1], final_teacher] if ckpts else [final_teacher]
