"""The CE + KD objective: masking of pre-shifted labels, normalisation, and chunked == naive."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lantern_nb.kd import KINDS, divergence, kd_loss_chunked, kd_loss_from_logits, kd_loss_naive

N, H, HT, V, VT = 29, 6, 9, 40, 43


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _problem(seed: int = 0, dtype: torch.dtype = torch.float64, n: int = N):
    g = _gen(seed)
    hs = (torch.randn(n, H, generator=g, dtype=dtype) * 2).requires_grad_()
    w = torch.randn(V, H, generator=g, dtype=dtype).requires_grad_()
    ht = torch.randn(n, HT, generator=g, dtype=dtype) * 2
    wt = torch.randn(VT, HT, generator=g, dtype=dtype)
    labels = torch.randint(0, V, (n,), generator=g)
    labels[torch.rand(n, generator=g) < 0.3] = -100
    return hs, w, ht, wt, labels


def _loss_and_grads(fn, hs, w, ht, wt, labels, **kw):
    loss, stats = fn(hs, w, ht, wt, labels, **kw)
    gh, gw = torch.autograd.grad(loss, [hs, w])
    return loss.detach(), gh, gw, stats


def test_ce_part_equals_torch_cross_entropy() -> None:
    g = _gen(1)
    logits = torch.randn(3, 7, V, generator=g, dtype=torch.float64)
    labels = torch.randint(0, V, (3, 7), generator=g)
    labels[0, :3] = -100
    labels[2, 5:] = -100
    loss, stats = kd_loss_from_logits(logits, torch.randn(3, 7, VT, generator=g, dtype=torch.float64), labels,
                                      "fkl", lambda_sft=1.0, lambda_kd=0.0)
    want = F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(loss, want)
    assert stats["ce"] == pytest.approx(want.item())


@pytest.mark.parametrize("kind", KINDS)
def test_kd_part_equals_masked_divergence(kind: str) -> None:
    g = _gen(2)
    s = torch.randn(2, 6, V, generator=g, dtype=torch.float64)
    t = torch.randn(2, 6, VT, generator=g, dtype=torch.float64)
    labels = torch.randint(0, V, (2, 6), generator=g)
    labels[1, :4] = -100
    loss, stats = kd_loss_from_logits(s, t, labels, kind, lambda_sft=0.0, lambda_kd=1.0, temperature=1.5)
    want = divergence(s, t, kind, mask=labels.ne(-100), temperature=1.5)
    torch.testing.assert_close(loss, want)
    assert stats["kd"] == pytest.approx(want.item())


def test_loss_is_lambda_weighted_sum_of_stats() -> None:
    loss, stats = kd_loss_chunked(*_problem(3), kind="js", chunk_size=8)
    assert loss.item() == pytest.approx(0.1 * stats["ce"] + 0.9 * stats["kd"])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_chunked_equals_naive_loss_and_grads(kind: str, chunk_size: int) -> None:
    problem = _problem(4)
    g = _gen(5)
    kw = dict(kind=kind, chunk_size=chunk_size, temperature=1.3, token_weights=torch.rand(N, generator=g,
                                                                                          dtype=torch.float64))
    naive = _loss_and_grads(kd_loss_naive, *problem, **kw)
    chunked = _loss_and_grads(kd_loss_chunked, *problem, **kw)
    for a, b in zip(naive[:3], chunked[:3]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert naive[3] == pytest.approx(chunked[3])
    assert chunked[1][problem[4].eq(-100)].abs().max().item() == 0.0


@pytest.mark.parametrize("kind", ["fkl", "tvd", "js"])
def test_chunked_equals_naive_float32_same_vocab_no_padding(kind: str) -> None:
    hs, w, ht, _, labels = _problem(6, torch.float32)
    wt = w.detach() + 0.1 * torch.randn(V, H, generator=_gen(7))
    labels = labels.clamp(min=0)
    naive = _loss_and_grads(kd_loss_naive, hs, w, ht[:, :H], wt, labels, kind=kind)
    chunked = _loss_and_grads(kd_loss_chunked, hs, w, ht[:, :H], wt, labels, kind=kind, chunk_size=10)
    for a, b in zip(naive[:3], chunked[:3]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_explicit_vocab_size_slices_both() -> None:
    problem = _problem(8)
    naive = _loss_and_grads(kd_loss_naive, *problem, kind="skl", vocab_size=31)
    chunked = _loss_and_grads(kd_loss_chunked, *problem, kind="skl", vocab_size=31, chunk_size=5)
    for a, b in zip(naive[:3], chunked[:3]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("fn", [kd_loss_naive, kd_loss_chunked])
def test_num_items_makes_gradient_accumulation_exact(fn) -> None:
    hs, w, ht, wt, labels = _problem(9)
    total = int(labels.ne(-100).sum())
    full = _loss_and_grads(fn, hs, w, ht, wt, labels, kind="tvd", chunk_size=4)
    half = N // 2
    losses, gw = [], torch.zeros_like(w)
    gh = torch.zeros_like(hs)
    for sl in (slice(0, half), slice(half, N)):
        loss, _ = fn(hs[sl], w, ht[sl], wt, labels[sl], kind="tvd", chunk_size=4, num_items=torch.tensor(total))
        a, b = torch.autograd.grad(loss, [hs, w])
        losses.append(loss.detach())
        gh, gw = gh + a, gw + b
    torch.testing.assert_close(sum(losses), full[0])
    torch.testing.assert_close(gh, full[1])
    torch.testing.assert_close(gw, full[2])


@pytest.mark.parametrize("fn", [kd_loss_naive, kd_loss_chunked])
def test_token_weights(fn) -> None:
    hs, w, ht, wt, labels = _problem(10)
    plain = _loss_and_grads(fn, hs, w, ht, wt, labels, kind="js", chunk_size=6)
    ones = _loss_and_grads(fn, hs, w, ht, wt, labels, kind="js", chunk_size=6, token_weights=torch.ones(N))
    double = _loss_and_grads(fn, hs, w, ht, wt, labels, kind="js", chunk_size=6,
                             token_weights=torch.full((N,), 2.0))
    torch.testing.assert_close(ones[0], plain[0])
    torch.testing.assert_close(double[0], 2 * plain[0])
    torch.testing.assert_close(double[2], 2 * plain[2])
    count = int(labels.ne(-100).sum())
    drop = labels.ne(-100).nonzero()[0, 0]
    weights = torch.ones(N)
    weights[drop] = 0.0
    dropped_labels = labels.clone()
    dropped_labels[drop] = -100
    zeroed = _loss_and_grads(fn, hs, w, ht, wt, labels, kind="js", chunk_size=6, token_weights=weights,
                             num_items=count)
    masked = _loss_and_grads(fn, hs, w, ht, wt, dropped_labels, kind="js", chunk_size=6, num_items=count)
    for a, b in zip(zeroed[:3], masked[:3]):
        torch.testing.assert_close(a, b)


def test_chunked_backward_scales_with_grad_output() -> None:
    hs, w, ht, wt, labels = _problem(11)
    loss, _ = kd_loss_chunked(hs, w, ht, wt, labels, kind="rkl", chunk_size=5)
    (3.0 * loss).backward()
    _, gh, gw, _ = _loss_and_grads(kd_loss_naive, hs, w, ht, wt, labels, kind="rkl")
    torch.testing.assert_close(hs.grad, 3 * gh)
    torch.testing.assert_close(w.grad, 3 * gw)


def test_chunked_frozen_head_and_no_grad() -> None:
    hs, w, ht, wt, labels = _problem(12)
    frozen = w.detach()
    loss, _ = kd_loss_chunked(hs, frozen, ht, wt, labels, kind="fkl", chunk_size=4)
    (gh,) = torch.autograd.grad(loss, [hs])
    torch.testing.assert_close(gh, _loss_and_grads(kd_loss_naive, hs, w, ht, wt, labels, kind="fkl")[1])
    with torch.no_grad():
        value, _ = kd_loss_chunked(hs, w, ht, wt, labels, kind="fkl", chunk_size=4)
    torch.testing.assert_close(value, loss.detach())
    assert not value.requires_grad


@pytest.mark.parametrize("fn", [kd_loss_naive, kd_loss_chunked])
def test_no_valid_tokens_gives_zero_loss_and_grads(fn) -> None:
    hs, w, ht, wt, labels = _problem(13)
    loss, gh, gw, stats = _loss_and_grads(fn, hs, w, ht, wt, torch.full_like(labels, -100), kind="js")
    assert loss.item() == 0.0 and stats == {"ce": 0.0, "kd": 0.0}
    assert gh.abs().max().item() == 0.0 and gw.abs().max().item() == 0.0


def test_chunked_bf16_finite_and_close_to_float32() -> None:
    hs, w, ht, wt, labels = _problem(14, torch.float32)
    hb, wb = hs.detach().bfloat16().requires_grad_(), w.detach().bfloat16().requires_grad_()
    loss, gh, gw, _ = _loss_and_grads(kd_loss_chunked, hb, wb, ht.bfloat16(), wt.bfloat16(), labels,
                                      kind="tvd", chunk_size=8)
    assert gh.dtype == torch.bfloat16 and gw.dtype == torch.bfloat16
    assert torch.isfinite(loss) and bool(torch.isfinite(gh).all()) and bool(torch.isfinite(gw).all())
    ref, _ = kd_loss_naive(hb.detach().float(), wb.detach().float(), ht.bfloat16().float(), wt.bfloat16().float(),
                           labels, kind="tvd")
    torch.testing.assert_close(loss.float(), ref.detach(), rtol=1e-3, atol=1e-3)


def test_bad_kind_and_shape_errors() -> None:
    hs, w, ht, wt, labels = _problem(15)
    for fn in (kd_loss_naive, kd_loss_chunked):
        with pytest.raises(ValueError, match="valid kinds: fkl, rkl, js, tvd, skl, skew_fkl, skew_rkl"):
            fn(hs, w, ht, wt, labels, kind="jsd")
    with pytest.raises(ValueError, match="row counts"):
        kd_loss_chunked(hs, w, ht[:-1], wt, labels)
    with pytest.raises(ValueError, match="hidden size"):
        kd_loss_chunked(hs, w, ht, wt[:, :-1], labels)
