"""The explanation-distillation objective l = lambda_sft * CE + lambda_kd * KD (paper Eq. 3).

Conventions shared by every entry point:

* Labels follow the training loop's one convention (`train.encode_chat_example`): pre-shifted,
  `labels[t]` is the target of position t, `IGNORE` (-100) where nothing is learned (prompt,
  padding); the EOS is a target even when pad == eos.
* Only valid positions count, and they are selected before any vocabulary-sized work, so
  padding costs no compute. CE uses the student's full vocabulary; KD slices both sides to the
  shared `vocab_size` (default: the smaller vocabulary).
* The loss is a sum over valid tokens divided by `num_items`, the number of valid tokens of the
  whole optimisation step (all gradient-accumulation micro-batches); default: the local count.
  Summing the losses of micro-batches then equals the loss of the full batch exactly.
* Optional `token_weights` (e.g. sample-wise adaptive weighting) multiply each token's CE and
  KD term; they carry no gradient.
* The stats dict reports `ce` and `kd` normalised the same way, so loss = lambda_sft*ce + lambda_kd*kd.

`kd_loss_chunked` is the memory-bounded fused-linear version: it takes final hidden states and
lm_head weights and never materialises the [tokens x vocab] logits of the whole batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from lantern_nb.kd.divergences import (check_kind, divergence_from_log_probs, divergence_per_position,
                                       divergence_rows_and_grad, shared_vocab)
from lantern_nb.train import IGNORE, answer_rows, freeze, lm_head_weight

_ROW_BLOCK = 64


def _denominator(num_items: int | float | torch.Tensor | None, n_valid: int) -> float:
    count = float(num_items) if num_items is not None else float(n_valid)
    return max(count, 1.0)


def _stats(ce: torch.Tensor, kd: torch.Tensor) -> dict[str, float]:
    return {"ce": float(ce.detach()), "kd": float(kd.detach())}


def kd_loss_from_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                        kind: str = "fkl", lambda_sft: float = 0.1, lambda_kd: float = 0.9, beta: float = 0.5,
                        alpha: float = 0.1, temperature: float = 1.0, vocab_size: int | None = None,
                        num_items: int | float | torch.Tensor | None = None,
                        token_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """CE + KD from logits [..., V] that already exist (teacher detached); `labels` and
    `token_weights` (broadcastable to the labels) are aligned with the logit positions."""
    check_kind(kind, beta, alpha)
    valid = labels.ne(IGNORE)
    weights = None if token_weights is None else torch.broadcast_to(token_weights.detach(), labels.shape)
    s, t, y = student_logits, teacher_logits.detach(), labels
    if not bool(valid.all()):
        s, t, y = s[valid], t[valid], y[valid]
        weights = None if weights is None else weights[valid]
    s, t, y = s.reshape(-1, s.shape[-1]), t.reshape(-1, t.shape[-1]), y.reshape(-1)
    denom = _denominator(num_items, y.numel())
    ce_rows = F.cross_entropy(s.to(torch.promote_types(s.dtype, torch.float32)), y, reduction="none")
    kd_rows = divergence_per_position(s, t, kind, beta, alpha, temperature, vocab_size)
    if weights is not None:
        weights = weights.reshape(-1).to(ce_rows.dtype)
        ce_rows, kd_rows = ce_rows * weights, kd_rows * weights
    ce, kd = ce_rows.sum() / denom, kd_rows.sum() / denom
    return lambda_sft * ce + lambda_kd * kd, _stats(ce, kd)


def _flatten(hidden: torch.Tensor, weight: torch.Tensor, name: str) -> torch.Tensor:
    if hidden.shape[-1] != weight.shape[-1]:
        raise ValueError(f"{name} hidden size {hidden.shape[-1]} != lm_head in-features {weight.shape[-1]}")
    return hidden.reshape(-1, hidden.shape[-1])


def kd_loss_naive(student_hidden: torch.Tensor, student_weight: torch.Tensor, teacher_hidden: torch.Tensor,
                  teacher_weight: torch.Tensor, labels: torch.Tensor, kind: str = "fkl", lambda_sft: float = 0.1,
                  lambda_kd: float = 0.9, beta: float = 0.5, alpha: float = 0.1, temperature: float = 1.0,
                  vocab_size: int | None = None, chunk_size: int = 1024,
                  num_items: int | float | torch.Tensor | None = None,
                  token_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Reference fused loss: full [N, V] logits for student and teacher, autograd does the rest.

    Same signature and result as `kd_loss_chunked` (`chunk_size` is accepted and ignored).
    `labels` [N] are aligned with the hidden rows (already shifted).
    """
    hs = _flatten(student_hidden, student_weight, "student")
    ht = _flatten(teacher_hidden, teacher_weight, "teacher")
    student_logits = hs @ student_weight.T
    with torch.no_grad():
        teacher_logits = ht @ teacher_weight.T
    return kd_loss_from_logits(student_logits, teacher_logits, labels.reshape(-1), kind, lambda_sft, lambda_kd,
                               beta, alpha, temperature, vocab_size, num_items,
                               None if token_weights is None else token_weights.reshape(-1))


def _chunk_rows(z: torch.Tensor, zt: torch.Tensor, y: torch.Tensor, coef: torch.Tensor, kind: str,
                lambda_sft: float, lambda_kd: float, beta: float, alpha: float, temperature: float,
                want_grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """CE and KD per row of one row block; overwrites `z` with d(loss)/d(z) when `want_grad`.

    `z` [R, Vs] student logits (float32+), `zt` [R, V] teacher logits already sliced to the shared
    vocabulary, `coef` [R] the per-row factor weight / num_items.
    """
    v = zt.shape[-1]
    lse = torch.logsumexp(z, dim=-1, keepdim=True)
    ce = lse.squeeze(-1) - z.gather(1, y.unsqueeze(1)).squeeze(1)
    if temperature == 1.0 and v == z.shape[-1]:
        log_q = z - lse
    else:
        log_q = torch.log_softmax(z[:, :v] / temperature, dim=-1)
    log_p = torch.log_softmax(zt / temperature if temperature != 1.0 else zt, dim=-1)
    if not want_grad:
        return ce, divergence_from_log_probs(log_q, log_p, kind, beta, alpha)
    kd, g = divergence_rows_and_grad(log_q, log_p, kind, beta, alpha)
    del log_q, log_p
    z.sub_(lse).exp_()
    z.scatter_add_(1, y.unsqueeze(1), torch.full_like(lse, -1.0))
    z.mul_(coef.unsqueeze(1) * lambda_sft)
    z[:, :v].add_(g.mul_(coef.unsqueeze(1) * (lambda_kd / temperature)))
    return ce, kd


def _fused_forward(hs: torch.Tensor, w: torch.Tensor, ht: torch.Tensor, wt: torch.Tensor, y: torch.Tensor,
                   coef: torch.Tensor, cfg: dict, need_h: bool, need_w: bool
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Loop over token chunks: logits, CE, KD and (if needed) grads of hidden and weight.

    Returns the weighted CE and KD sums (before the lambdas) and the loss gradients.
    """
    m = hs.shape[0]
    compute = torch.promote_types(w.dtype, torch.float32)
    want_grad = need_h or need_w
    grad_h = torch.empty(m, hs.shape[1], dtype=hs.dtype, device=hs.device) if need_h else None
    grad_w = torch.zeros(w.shape, dtype=compute, device=w.device) if need_w else None
    ce_sum = torch.zeros((), dtype=compute, device=hs.device)
    kd_sum = torch.zeros((), dtype=compute, device=hs.device)
    wt_shared = wt[: cfg["vocab"]]
    for start in range(0, m, cfg["chunk_size"]):
        sl = slice(start, start + cfg["chunk_size"])
        h_c = hs[sl].to(w.dtype)
        z = (h_c @ w.T).to(compute)
        zt = (ht[sl].to(wt.dtype) @ wt_shared.T).to(compute)
        for r in range(0, z.shape[0], _ROW_BLOCK):
            rb = slice(r, r + _ROW_BLOCK)
            c = coef[sl][rb]
            ce, kd = _chunk_rows(z[rb], zt[rb], y[sl][rb], c, cfg["kind"], cfg["lambda_sft"], cfg["lambda_kd"],
                                 cfg["beta"], cfg["alpha"], cfg["temperature"], want_grad)
            ce_sum += (ce * c).sum()
            kd_sum += (kd * c).sum()
        del zt
        if need_h:
            grad_h[sl] = (z.to(w.dtype) @ w).to(hs.dtype)
        if need_w:
            grad_w.addmm_(z.T, h_c.to(compute))
        del z
    return ce_sum, kd_sum, grad_h, grad_w


class _FusedKDLoss(torch.autograd.Function):
    """Forward computes the loss and its gradients chunk by chunk; backward only rescales them."""

    @staticmethod
    def forward(ctx, hs, w, ht, wt, y, coef, cfg):
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ce, kd, grad_h, grad_w = _fused_forward(hs, w, ht, wt, y, coef, cfg, need_h, need_w)
        ctx.save_for_backward(grad_h, grad_w.to(w.dtype) if grad_w is not None else None)
        loss = cfg["lambda_sft"] * ce + cfg["lambda_kd"] * kd
        ctx.mark_non_differentiable(ce, kd)
        return loss, ce, kd

    @staticmethod
    def backward(ctx, grad_loss, _grad_ce, _grad_kd):
        grad_h, grad_w = ctx.saved_tensors
        scale_h = grad_h * grad_loss.to(grad_h.dtype) if grad_h is not None else None
        scale_w = grad_w * grad_loss.to(grad_w.dtype) if grad_w is not None else None
        return scale_h, scale_w, None, None, None, None, None


def kd_loss_chunked(student_hidden: torch.Tensor, student_weight: torch.Tensor, teacher_hidden: torch.Tensor,
                    teacher_weight: torch.Tensor, labels: torch.Tensor, kind: str = "fkl", lambda_sft: float = 0.1,
                    lambda_kd: float = 0.9, beta: float = 0.5, alpha: float = 0.1, temperature: float = 1.0,
                    vocab_size: int | None = None, chunk_size: int = 1024,
                    num_items: int | float | torch.Tensor | None = None,
                    token_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Memory-bounded fused-linear CE + KD from final hidden states and bias-free lm_head weights.

    `student_hidden` [N, H] (or [..., H]), `student_weight` [Vs, H], `teacher_hidden` [N, Ht],
    `teacher_weight` [Vt, Ht], `labels` [N] aligned with the hidden rows (already shifted).
    Rows with label -100 are dropped first. Tokens are processed `chunk_size` at a time: the
    chunk's logits, loss and analytic gradient w.r.t. the student logits are computed in the
    forward pass and folded into the hidden/weight gradients at once, so at most
    [chunk_size x V] logits exist and backward costs nothing (Liger-Kernel's fused-linear idea,
    here for CE plus every divergence). The teacher side gets no gradient. Same value and
    gradients as `kd_loss_naive`.
    """
    check_kind(kind, beta, alpha)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    hs = _flatten(student_hidden, student_weight, "student")
    ht = _flatten(teacher_hidden, teacher_weight, "teacher").detach()
    y = labels.reshape(-1)
    if not hs.shape[0] == ht.shape[0] == y.shape[0]:
        raise ValueError(f"row counts differ: student {hs.shape[0]}, teacher {ht.shape[0]}, labels {y.shape[0]}")
    valid = y.ne(IGNORE)
    idx = valid.nonzero().squeeze(1)
    denom = _denominator(num_items, idx.numel())
    compute = torch.promote_types(student_weight.dtype, torch.float32)
    coef = torch.full((idx.numel(),), 1.0 / denom, dtype=compute, device=hs.device)
    if token_weights is not None:
        coef = coef * torch.broadcast_to(token_weights.detach().reshape(-1), y.shape)[idx].to(compute)
    cfg = {"kind": kind, "lambda_sft": lambda_sft, "lambda_kd": lambda_kd, "beta": beta, "alpha": alpha,
           "temperature": temperature, "chunk_size": chunk_size,
           "vocab": shared_vocab(student_weight.shape[0], teacher_weight.shape[0], vocab_size)}
    all_valid = idx.numel() == y.numel()
    hs_v = hs if all_valid else hs.index_select(0, idx)
    ht_v = ht if all_valid else ht.index_select(0, idx)
    y_v = y if all_valid else y.index_select(0, idx)
    loss, ce, kd = _FusedKDLoss.apply(hs_v, student_weight, ht_v, teacher_weight.detach(), y_v, coef, cfg)
    return loss, _stats(ce, kd)


@dataclass(kw_only=True)
class KdTerms:
    """The terms every KD objective shares (paper Eq. 3): lambda_sft * CE + lambda_kd * the
    divergence `kind` (with its `beta` / `alpha`) at `temperature`, over blocks of `chunk_size`
    answer tokens. Keyword-only, so each objective's own first field stays positional."""

    kind: str = "fkl"
    lambda_sft: float = 0.1
    lambda_kd: float = 0.9
    beta: float = 0.5
    alpha: float = 0.1
    temperature: float = 1.0
    chunk_size: int = 1024


@dataclass
class DistillObjective(KdTerms):
    """Token-level KD (paper Eq. 3): lambda_sft * CE + lambda_kd * divergence(teacher || student).

    The teacher is frozen and in eval mode; the loss is computed from final hidden states and
    lm_head weights (chunked by default, never materialising the full logits). `token_weights`
    is an optional hook (e.g. SCD's adaptive weighting) returning per-target weights.
    """

    teacher: torch.nn.Module
    impl: str = "chunked"
    token_weights: Callable[..., torch.Tensor] | None = None

    def __post_init__(self) -> None:
        freeze(self.teacher)

    def __call__(self, model, inputs, num_items):
        valid = inputs["labels"].ne(IGNORE)
        s_hidden, labels = answer_rows(model, inputs)
        with torch.no_grad():
            self.teacher.eval()
            t_hidden, _ = answer_rows(self.teacher, inputs)
        weights = None
        if self.token_weights is not None:
            weights = self.token_weights(model=model, inputs=inputs, valid=valid, student_hidden=s_hidden,
                                         teacher_hidden=t_hidden)
        fn = kd_loss_chunked if self.impl == "chunked" else kd_loss_naive
        loss, stats = fn(s_hidden, lm_head_weight(model), t_hidden, lm_head_weight(self.teacher).detach(),
                         labels, kind=self.kind, lambda_sft=self.lambda_sft, lambda_kd=self.lambda_kd,
                         beta=self.beta, alpha=self.alpha, temperature=self.temperature,
                         chunk_size=self.chunk_size, num_items=num_items, token_weights=weights)
        return loss, {k: float(v) for k, v in stats.items()}
