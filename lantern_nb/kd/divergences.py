"""Token-level KD divergences between teacher p and student q (paper Sec. 3.4.1 / 4.2).

Every divergence is computed per position, summed over the vocabulary, in (at least) float32
from log-softmax. Mixtures such as m = b*p + (1-b)*q are formed in log space with a
log-sum-exp, never as the log of a sum of tiny probabilities. The conventions 0*log(0) = 0 and
"a term whose weight is zero contributes nothing, even where both logs are -inf" keep values
and gradients finite when logits are masked with -inf (as long as the divergence itself is
finite: KL(p||q) is +inf when the teacher puts mass on a token the student masks out).

Two implementations of the same formulas live here:

* `divergence` / `divergence_per_position`: autograd-friendly reference, used by the naive loss,
  by notebooks and by sample-wise adaptive weighting;
* `divergence_rows_and_grad`: values plus the analytic gradient w.r.t. the student logits,
  without autograd; the memory-bounded fused loss (`lantern_nb.kd.losses`) uses it.
"""
from __future__ import annotations

import math

import torch

from lantern_nb.profiles import DIVERGENCES

KINDS: tuple[str, ...] = DIVERGENCES


def check_kind(kind: str, beta: float = 0.5, alpha: float = 0.1) -> None:
    """Raise ValueError for an unknown kind or a mixture weight outside (0, 1)."""
    if kind not in KINDS:
        raise ValueError(f"unknown divergence {kind!r}; valid kinds: {', '.join(KINDS)}")
    if kind == "js" and not 0.0 < beta < 1.0:
        raise ValueError(f"js needs 0 < beta < 1, got beta={beta}")
    if kind in ("skew_fkl", "skew_rkl") and not 0.0 < alpha < 1.0:
        raise ValueError(f"{kind} needs 0 < alpha < 1, got alpha={alpha}")


def shared_vocab(student_vocab: int, teacher_vocab: int, vocab_size: int | None = None) -> int:
    """The number of leading logits both sides keep: `vocab_size`, by default the smaller vocab.

    Qwen2.5-7B has 152,064 logits and the smaller Qwen2.5 models 151,936; both are sliced, never
    padded (a padded zero logit would be a real token with probability mass).
    """
    smallest = min(student_vocab, teacher_vocab)
    if vocab_size is None:
        return smallest
    if not 0 < vocab_size <= smallest:
        raise ValueError(f"vocab_size={vocab_size} must be in [1, {smallest}] "
                         f"(student {student_vocab}, teacher {teacher_vocab} logits)")
    return vocab_size


def log_probs(logits: torch.Tensor, temperature: float = 1.0, vocab_size: int | None = None) -> torch.Tensor:
    """log_softmax(logits[..., :vocab_size] / temperature) in at least float32."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    x = logits[..., :vocab_size] if vocab_size is not None else logits
    x = x.to(torch.promote_types(x.dtype, torch.float32))
    if temperature != 1.0:
        x = x / temperature
    return torch.log_softmax(x, dim=-1)


def log_mix(log_a: torch.Tensor, log_b: torch.Tensor, w: float) -> torch.Tensor:
    """log(w*a + (1-w)*b) from log a and log b, 0 < w < 1, with finite gradients where a = b = 0."""
    x = log_a + math.log(w)
    y = log_b + math.log1p(-w)
    top = torch.maximum(x, y).detach()
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    s = torch.exp(x - top) + torch.exp(y - top)
    nonzero = s > 0
    out = top + torch.log(torch.where(nonzero, s, torch.ones_like(s)))
    return torch.where(nonzero, out, torch.full_like(out, -math.inf))


def kl_from_log(log_a: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """KL(a||b) over the last dim from log-probabilities; entries with a = 0 contribute 0."""
    a = log_a.exp()
    pos = a > 0
    diff = torch.where(pos, log_a - log_b, torch.zeros_like(log_a))
    return (a * diff).sum(-1)


def divergence_from_log_probs(log_q: torch.Tensor, log_p: torch.Tensor, kind: str,
                              beta: float = 0.5, alpha: float = 0.1) -> torch.Tensor:
    """Per-position divergence (last dim summed) from student log q and teacher log p."""
    check_kind(kind, beta, alpha)
    if kind == "fkl":
        return kl_from_log(log_p, log_q)
    if kind == "rkl":
        return kl_from_log(log_q, log_p)
    if kind == "skl":
        return kl_from_log(log_p, log_q) + kl_from_log(log_q, log_p)
    if kind == "tvd":
        return 0.5 * (log_p.exp() - log_q.exp()).abs().sum(-1)
    if kind == "js":
        log_m = log_mix(log_p, log_q, beta)
        return beta * kl_from_log(log_p, log_m) + (1.0 - beta) * kl_from_log(log_q, log_m)
    if kind == "skew_fkl":
        return kl_from_log(log_p, log_mix(log_p, log_q, alpha))
    return kl_from_log(log_q, log_mix(log_q, log_p, alpha))


def divergence_per_position(student_logits: torch.Tensor, teacher_logits: torch.Tensor, kind: str,
                            beta: float = 0.5, alpha: float = 0.1, temperature: float = 1.0,
                            vocab_size: int | None = None) -> torch.Tensor:
    """The divergence d(p_teacher, q_student) at every position: shape `student_logits.shape[:-1]`.

    Both sides are sliced to `vocab_size` (default: the smaller vocabulary) and divided by
    `temperature` (no T^2 factor; the paper uses T = 1). The teacher gets no gradient.
    Used by the loss code and by sample-wise adaptive weighting.
    """
    check_kind(kind, beta, alpha)
    if student_logits.shape[:-1] != teacher_logits.shape[:-1]:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} differ in their leading dims")
    v = shared_vocab(student_logits.shape[-1], teacher_logits.shape[-1], vocab_size)
    log_q = log_probs(student_logits, temperature, v)
    log_p = log_probs(teacher_logits.detach(), temperature, v)
    return divergence_from_log_probs(log_q, log_p, kind, beta, alpha)


def divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor, kind: str,
               mask: torch.Tensor | None = None, beta: float = 0.5, alpha: float = 0.1,
               temperature: float = 1.0, vocab_size: int | None = None) -> torch.Tensor:
    """Scalar KD divergence: per position summed over the vocabulary, mean over `mask`.

    p = softmax(teacher), q = softmax(student). Kinds: fkl KL(p||q); rkl KL(q||p);
    js b*KL(p||m) + (1-b)*KL(q||m), m = b*p + (1-b)*q; tvd 0.5*sum|p-q|; skl KL(p||q) + KL(q||p);
    skew_fkl KL(p || a*p + (1-a)*q); skew_rkl KL(q || a*q + (1-a)*p)  (b = beta, a = alpha).
    Rows outside `mask` are dropped before any computation (a fully masked padding row may be
    all -inf). An empty mask gives 0.
    """
    check_kind(kind, beta, alpha)
    if mask is not None:
        mask = mask.to(torch.bool)
        if mask.shape != student_logits.shape[:-1]:
            raise ValueError(f"mask shape {tuple(mask.shape)} != logits positions {tuple(student_logits.shape[:-1])}")
        student_logits, teacher_logits = student_logits[mask], teacher_logits[mask]
    per = divergence_per_position(student_logits, teacher_logits, kind, beta, alpha, temperature, vocab_size)
    return per.sum() / max(per.numel(), 1)


def _project(q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Chain rule through softmax: d/dz of a loss with d/dq = g is q * (g - <q, g>)."""
    return q * (g - (q * g).sum(-1, keepdim=True))


def divergence_rows_and_grad(log_q: torch.Tensor, log_p: torch.Tensor, kind: str, beta: float = 0.5,
                             alpha: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row divergence [R] and its analytic gradient w.r.t. the student's logits [R, V].

    `log_q`, `log_p` are log-softmaxed student / teacher rows; the gradient is w.r.t. the logits
    fed to that softmax (divide by the temperature for the raw logits). No autograd, so the
    fused loss can compute it inside its forward pass. Matches the autograd gradient of
    `divergence_from_log_probs` (tests check every kind).
    """
    check_kind(kind, beta, alpha)
    q, p = log_q.exp(), log_p.exp()
    zero = torch.zeros((), dtype=q.dtype, device=q.device)
    if kind == "fkl":
        return torch.where(p > 0, p * (log_p - log_q), zero).sum(-1), q - p
    if kind in ("rkl", "skl"):
        d = torch.where(q > 0, log_q - log_p, zero)
        r = (q * d).sum(-1)
        grad = q * (d - r.unsqueeze(-1))
        if kind == "rkl":
            return r, grad
        return r + torch.where(p > 0, p * (log_p - log_q), zero).sum(-1), grad.add_(q).sub_(p)
    if kind == "tvd":
        diff = q - p
        return 0.5 * diff.abs().sum(-1), _project(q, 0.5 * torch.sign(diff))
    if kind == "js":
        log_m = log_mix(log_p, log_q, beta)
        dq = torch.where(q > 0, log_q - log_m, zero)
        value = beta * torch.where(p > 0, p * (log_p - log_m), zero).sum(-1) + (1.0 - beta) * (q * dq).sum(-1)
        return value, _project(q, (1.0 - beta) * dq)
    if kind == "skew_fkl":
        log_r = log_mix(log_p, log_q, alpha)
        dp = torch.where(p > 0, log_p - log_r, zero)
        return (p * dp).sum(-1), _project(q, -(1.0 - alpha) * torch.where(p > 0, dp.exp(), zero))
    log_r = log_mix(log_q, log_p, alpha)
    dq = torch.where(q > 0, log_q - log_r, zero)
    return (q * dq).sum(-1), _project(q, dq - alpha * torch.where(q > 0, dq.exp(), zero))
