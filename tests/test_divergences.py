"""KD divergences against their formulas, computed directly in float64 with explicit probabilities."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lantern_nb.kd import KINDS, divergence, divergence_per_position
from lantern_nb.kd.divergences import divergence_from_log_probs, divergence_rows_and_grad, log_probs


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, a * np.log(a / b), 0.0).sum(-1)


def reference(s: np.ndarray, t: np.ndarray, kind: str, beta: float = 0.5, alpha: float = 0.1,
              temperature: float = 1.0) -> np.ndarray:
    """Per-position divergence in float64 straight from the definitions (p teacher, q student)."""
    q, p = _softmax(s / temperature), _softmax(t / temperature)
    if kind == "fkl":
        return _kl(p, q)
    if kind == "rkl":
        return _kl(q, p)
    if kind == "skl":
        return _kl(p, q) + _kl(q, p)
    if kind == "tvd":
        return 0.5 * np.abs(p - q).sum(-1)
    if kind == "js":
        m = beta * p + (1 - beta) * q
        return beta * _kl(p, m) + (1 - beta) * _kl(q, m)
    if kind == "skew_fkl":
        return _kl(p, alpha * p + (1 - alpha) * q)
    return _kl(q, alpha * q + (1 - alpha) * p)


def _logits(*shape: int, scale: float = 3.0, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_every_kind_matches_formula(kind: str, temperature: float) -> None:
    s, t = _logits(4, 6, 11, seed=1), _logits(4, 6, 11, seed=2)
    got = divergence_per_position(s, t, kind, temperature=temperature)
    want = reference(s.numpy(), t.numpy(), kind, temperature=temperature)
    assert got.shape == (4, 6) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(divergence(s, t, kind, temperature=temperature).item(), want.mean(), rtol=1e-10)


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.8])
def test_js_beta(beta: float) -> None:
    s, t = _logits(5, 9, seed=3), _logits(5, 9, seed=4)
    want = reference(s.numpy(), t.numpy(), "js", beta=beta)
    np.testing.assert_allclose(divergence_per_position(s, t, "js", beta=beta).numpy(), want, rtol=1e-10)


@pytest.mark.parametrize("kind", ["skew_fkl", "skew_rkl"])
@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
def test_skew_alpha(kind: str, alpha: float) -> None:
    s, t = _logits(5, 9, seed=5), _logits(5, 9, seed=6)
    want = reference(s.numpy(), t.numpy(), kind, alpha=alpha)
    np.testing.assert_allclose(divergence_per_position(s, t, kind, alpha=alpha).numpy(), want, rtol=1e-10)


def test_js_half_is_symmetric_and_bounded() -> None:
    s, t = _logits(7, 13, seed=7), _logits(7, 13, seed=8)
    a, b = divergence_per_position(s, t, "js"), divergence_per_position(t, s, "js")
    torch.testing.assert_close(a, b)
    assert bool((a <= math.log(2) + 1e-12).all())


@pytest.mark.parametrize("kind", KINDS)
def test_mask_averages_selected_positions(kind: str) -> None:
    s, t = _logits(3, 5, 8, seed=9), _logits(3, 5, 8, seed=10)
    mask = torch.tensor([[1, 1, 0, 0, 1], [0, 0, 0, 0, 0], [1, 0, 1, 1, 1]], dtype=torch.bool)
    want = reference(s.numpy(), t.numpy(), kind)[mask.numpy()].mean()
    np.testing.assert_allclose(divergence(s, t, kind, mask=mask).item(), want, rtol=1e-10)


def test_masked_out_padding_rows_may_be_all_neg_inf() -> None:
    s, t = _logits(2, 4, 6, seed=11), _logits(2, 4, 6, seed=12)
    s[1, 3], t[1, 3] = -math.inf, -math.inf
    mask = torch.ones(2, 4, dtype=torch.bool)
    mask[1, 3] = False
    s.requires_grad_()
    for kind in KINDS:
        val = divergence(s, t, kind, mask=mask)
        (grad,) = torch.autograd.grad(val, s)
        assert torch.isfinite(val) and bool(torch.isfinite(grad).all())


def test_empty_mask_gives_zero() -> None:
    s = _logits(2, 3, 5, seed=13).requires_grad_()
    val = divergence(s, _logits(2, 3, 5, seed=14), "js", mask=torch.zeros(2, 3, dtype=torch.bool))
    assert val.item() == 0.0
    val.backward()


def test_teacher_larger_vocab_is_sliced_not_padded() -> None:
    s, t = _logits(6, 10, seed=15), _logits(6, 13, seed=16)
    for kind in KINDS:
        want = reference(s.numpy(), t.numpy()[:, :10], kind)
        np.testing.assert_allclose(divergence_per_position(s, t, kind).numpy(), want, rtol=1e-10)
        want7 = reference(s.numpy()[:, :7], t.numpy()[:, :7], kind)
        np.testing.assert_allclose(divergence_per_position(s, t, kind, vocab_size=7).numpy(), want7, rtol=1e-10)


def test_vocab_size_larger_than_either_side_rejected() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        divergence(_logits(2, 10), _logits(2, 12), "fkl", vocab_size=11)


def test_identity_is_zero_for_every_kind() -> None:
    s = _logits(4, 17, seed=17)
    t = torch.cat([s, _logits(4, 3, seed=18)], dim=-1)
    for kind in KINDS:
        assert divergence_per_position(s, s.clone(), kind).abs().max().item() < 1e-12
        assert divergence_per_position(s, t, kind).abs().max().item() < 1e-12


def test_non_negative_for_every_kind() -> None:
    for seed in range(5):
        s, t = _logits(16, 23, scale=8.0, seed=100 + seed), _logits(16, 23, scale=8.0, seed=200 + seed)
        for kind in KINDS:
            assert divergence_per_position(s, t, kind).min().item() >= -1e-12


@pytest.mark.parametrize("kind", KINDS)
def test_shared_neg_inf_columns_finite_and_equal_to_dropping_them(kind: str) -> None:
    s, t = _logits(5, 12, seed=19), _logits(5, 12, seed=20)
    cols = torch.tensor([0, 4, 11])
    s[:, cols], t[:, cols] = -math.inf, -math.inf
    s.requires_grad_()
    per = divergence_per_position(s, t, kind)
    (grad,) = torch.autograd.grad(per.sum(), s)
    assert bool(torch.isfinite(per).all()) and bool(torch.isfinite(grad).all())
    assert grad[:, cols].abs().max().item() == 0.0
    keep = [c for c in range(12) if c not in cols.tolist()]
    want = reference(s.detach().numpy()[:, keep], t.numpy()[:, keep], kind)
    np.testing.assert_allclose(per.detach().numpy(), want, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kind", ["rkl", "js", "tvd", "skew_fkl", "skew_rkl"])
def test_student_only_neg_inf_finite_where_the_divergence_is(kind: str) -> None:
    s, t = _logits(5, 12, seed=21), _logits(5, 12, seed=22)
    s[:, 3] = -math.inf
    s.requires_grad_()
    per = divergence_per_position(s, t, kind)
    (grad,) = torch.autograd.grad(per.sum(), s)
    assert bool(torch.isfinite(per).all()) and bool(torch.isfinite(grad).all())
    np.testing.assert_allclose(per.detach().numpy(), reference(s.detach().numpy(), t.numpy(), kind), rtol=1e-10)


def test_fkl_is_infinite_when_the_student_masks_teacher_mass() -> None:
    s, t = _logits(2, 6, seed=23), _logits(2, 6, seed=24)
    s[:, 2] = -math.inf
    assert bool(torch.isinf(divergence_per_position(s, t, "fkl")).all())


@pytest.mark.parametrize("kind", KINDS)
def test_bf16_inputs_finite_and_close_to_float32(kind: str) -> None:
    s32, t32 = _logits(8, 64, seed=25).float(), _logits(8, 64, seed=26).float()
    s = s32.bfloat16().requires_grad_()
    t = t32.bfloat16()
    t[:, :2] = -math.inf
    s.data[:, :2] = -math.inf
    val = divergence(s, t, kind)
    val.backward()
    assert val.dtype == torch.float32 and torch.isfinite(val)
    assert s.grad.dtype == torch.bfloat16 and bool(torch.isfinite(s.grad).all())
    want = divergence(s.detach().float(), t.float(), kind)
    torch.testing.assert_close(val.detach(), want)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_analytic_gradient_matches_autograd(kind: str, temperature: float) -> None:
    s, t = _logits(6, 15, seed=27), _logits(6, 15, seed=28)
    s[:, 5], t[:, 5] = -math.inf, -math.inf
    s.requires_grad_()
    log_q, log_p = log_probs(s, temperature), log_probs(t, temperature)
    per = divergence_from_log_probs(log_q, log_p, kind)
    (want,) = torch.autograd.grad(per.sum(), s)
    value, grad = divergence_rows_and_grad(log_q.detach(), log_p, kind)
    torch.testing.assert_close(value, per.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad / temperature, want, rtol=1e-9, atol=1e-12)


def test_teacher_gets_no_gradient() -> None:
    s, t = _logits(3, 7, seed=29).requires_grad_(), _logits(3, 7, seed=30).requires_grad_()
    divergence(s, t, "js").backward()
    assert t.grad is None and s.grad is not None


def test_unknown_kind_lists_valid_kinds() -> None:
    with pytest.raises(ValueError) as err:
        divergence(_logits(2, 5), _logits(2, 5), "kl")
    assert "'kl'" in str(err.value) and all(k in str(err.value) for k in KINDS)


def test_bad_mixture_weights_rejected() -> None:
    with pytest.raises(ValueError, match="beta"):
        divergence(_logits(2, 5), _logits(2, 5), "js", beta=1.0)
    with pytest.raises(ValueError, match="alpha"):
        divergence(_logits(2, 5), _logits(2, 5), "skew_fkl", alpha=0.0)
