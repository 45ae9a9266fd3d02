"""Top-k + tail teacher cache: bucketed divergences vs the full ones (float64), the content-hashed
cache on disk, and KD from the cache on tiny models (seconds)."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from lantern_nb import model_specs
from lantern_nb.kd.divergences import KINDS, divergence_per_position
from lantern_nb.kd.topk import (TopKDistillObjective, build_topk_cache, build_topk_caches, teacher_topk,
                                topk_divergence_per_position)
from lantern_nb.kd.losses import DistillObjective
from lantern_nb.profiles import load_profile
from lantern_nb.train import IGNORE, PadCollator, TrainConfig, encode_chat_example, train

SPEC = "tiny-qwen2:h64-l2"
TEACHER = "tiny-qwen2:h64-l2-xv128"
V = 40


def _logits(seed: int, n: int = 7, v: int = V, scale: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, v, generator=g, dtype=torch.float64) * scale


def _bucketed(s: torch.Tensor, t: torch.Tensor, k: int, kind: str) -> torch.Tensor:
    ids, logp, tail = teacher_topk(t, k)
    return topk_divergence_per_position(s, ids, logp, tail, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_k_equals_vocab_is_the_full_divergence(kind):
    s, t = _logits(0), _logits(1)
    ids, logp, tail = teacher_topk(t, V)
    assert torch.isneginf(tail).all()
    s1, s2 = s.clone().requires_grad_(), s.clone().requires_grad_()
    bucketed = topk_divergence_per_position(s1, ids, logp, tail, kind)
    full = divergence_per_position(s2, t, kind)
    assert bucketed.dtype == torch.float64
    torch.testing.assert_close(bucketed, full, rtol=1e-10, atol=1e-12)
    bucketed.sum().backward()
    full.sum().backward()
    torch.testing.assert_close(s1.grad, s2.grad, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_small_k_is_bounded_by_the_full_divergence_and_grows_with_k(kind):
    s, t = _logits(2), _logits(3)
    full = divergence_per_position(s, t, kind)
    values = [_bucketed(s, t, k, kind) for k in (1, 2, 4, 8, 16, 32, V)]
    for lo, hi in zip(values, values[1:]):
        assert (lo <= hi + 1e-12).all()  # coarse-graining never increases an f-divergence
    assert (values[0] >= -1e-12).all()
    assert (values[-2] <= full + 1e-12).all()
    torch.testing.assert_close(values[-1], full, rtol=1e-10, atol=1e-12)
    assert float((full - values[-2]).max()) < float((full - values[0]).max())


@pytest.mark.parametrize("kind", KINDS)
def test_exact_when_teacher_mass_is_in_its_top_k(kind):
    s, t = _logits(4), _logits(5)
    k = 6
    keep = torch.topk(t, k, dim=-1).indices
    t_sparse = torch.full_like(t, -math.inf).scatter(-1, keep, t.gather(-1, keep))
    bucketed, full = _bucketed(s, t_sparse, k, kind), divergence_per_position(s, t_sparse, kind)
    if kind in ("rkl", "skl"):  # student mass where the teacher has none: +inf either way
        assert torch.isposinf(bucketed).all() and torch.isposinf(full).all()
    else:
        torch.testing.assert_close(bucketed, full, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_exact_when_tails_are_proportional(kind):
    t = _logits(6)
    s = t + _logits(7, scale=1.0)
    k = 5
    ids = torch.topk(t, k, dim=-1).indices
    tail = torch.ones_like(t, dtype=torch.bool).scatter(-1, ids, False)
    s = torch.where(tail, t + 0.7, s)  # q_j / p_j constant over the tail
    torch.testing.assert_close(_bucketed(s, t, k, kind), divergence_per_position(s, t, kind), rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- cache on disk
TEXTS = [f"Candidate {i} has {i % 7} years of Python and SQL; the job needs Docker." for i in range(12)]


def _rows(tok, n: int = 6, target: str = "Fit: High\n- Meets SQL") -> list[dict]:
    rows = []
    for i in range(n):
        enc = encode_chat_example(tok, [{"role": "user", "content": TEXTS[i]}], f"{target} {i}", 64)
        rows.append({**enc, "row_id": 100 + i})
    return rows


@pytest.fixture(scope="module")
def teacher(tiny_tokenizer):
    return model_specs.build_causal_lm(TEACHER, tiny_tokenizer, seed=1)


def _student_vocab(tok) -> int:
    return model_specs.build_causal_lm(SPEC, tok, seed=0).get_output_embeddings().weight.shape[0]


def test_cache_arrays_shapes_dtypes_and_size(tmp_path, tiny_tokenizer, teacher):
    rows = _rows(tiny_tokenizer)
    vocab = _student_vocab(tiny_tokenizer)
    cache = build_topk_cache(teacher, tiny_tokenizer, rows, 8, tmp_path, batch_size=4, vocab_size=vocab,
                             progress=False)
    n = sum(sum(y != IGNORE for y in r["labels"]) for r in rows)
    assert cache.n_tokens == n and cache.k == 8 and cache.vocab_size == vocab
    a = cache.arrays
    assert isinstance(a["ids"], np.memmap) and a["ids"].shape == (n, 8) and a["ids"].dtype == np.int32
    assert a["logp"].shape == (n, 8) and a["logp"].dtype == np.float16
    assert a["log_tail"].shape == (n,) and a["log_tail"].dtype == np.float32
    assert a["offsets"][-1] == n and list(a["row_ids"]) == [r["row_id"] for r in rows]
    assert int(np.asarray(a["ids"]).max()) < vocab
    assert (np.diff(np.asarray(a["logp"], dtype=np.float32), axis=1) <= 1e-3).all()  # sorted, descending
    mass = np.exp(np.asarray(a["logp"], dtype=np.float64)).sum(1) + np.exp(np.asarray(a["log_tail"], np.float64))
    np.testing.assert_allclose(mass, 1.0, atol=5e-3)
    rep = cache.size_report()
    assert rep["payload_bytes_per_token"] == pytest.approx(8 * 4 + 8 * 2 + 4, rel=0.5)
    assert rep["bytes"] == sum(rep["files"].values()) and rep["bytes_per_token"] > rep["payload_bytes_per_token"]
    got = cache.lookup([101, 100])
    r0, r1 = (np.asarray(rows[i]["labels"]) for i in (0, 1))
    assert got["targets"].tolist() == r1[r1 != IGNORE].tolist() + r0[r0 != IGNORE].tolist()
    with pytest.raises(KeyError, match="row_id 7"):
        cache.lookup([7])


def test_cache_reused_and_rebuilt_on_teacher_or_data_change(tmp_path, tiny_tokenizer, teacher, monkeypatch):
    rows = _rows(tiny_tokenizer)
    first = build_topk_caches(teacher, tiny_tokenizer, rows, [4, 16], tmp_path, progress=False)
    assert sorted(first) == [4, 16]
    from lantern_nb.kd import topk

    def boom(*a, **kw):
        raise AssertionError("teacher ran although the cache is valid")

    with monkeypatch.context() as m:
        m.setattr(topk, "decoder_hidden", boom)
        again = build_topk_cache(teacher, tiny_tokenizer, rows, 16, tmp_path, progress=False)
    assert again.path == first[16].path
    changed = copy.deepcopy(teacher)
    with torch.no_grad():
        changed.model.layers[0].mlp.up_proj.weight[0, 0] += 1e-3
    by_teacher = build_topk_cache(changed, tiny_tokenizer, rows, 16, tmp_path, progress=False)
    assert by_teacher.path != first[16].path
    by_data = build_topk_cache(teacher, tiny_tokenizer, _rows(tiny_tokenizer, target="Fit: Low\n- Missing SQL"),
                               16, tmp_path, progress=False)
    assert by_data.path not in (first[16].path, by_teacher.path)
    assert not list(tmp_path.glob("*.tmp"))
    objective = TopKDistillObjective(first[16], kind="fkl")
    stale = PadCollator(tiny_tokenizer.pad_token_id)(_rows(tiny_tokenizer, target="Fit: Low\n- Missing SQL")[:2])
    student = model_specs.build_causal_lm(SPEC, tiny_tokenizer, seed=0)
    with pytest.raises(ValueError, match="rebuild"):
        objective(student, stale, stale["labels"].ne(IGNORE).sum())


@pytest.fixture(scope="module")
def full_cache(tmp_path_factory, tiny_tokenizer, teacher):
    """A k = V cache (float32) of 4 rows against the student's (smaller) vocabulary."""
    vocab = _student_vocab(tiny_tokenizer)
    return build_topk_cache(teacher, tiny_tokenizer, _rows(tiny_tokenizer, 4), vocab, tmp_path_factory.mktemp("full"),
                            vocab_size=vocab, logp_dtype="float32", progress=False)


@pytest.mark.parametrize("kind", KINDS)
def test_cached_full_vocab_loss_equals_live_teacher(tiny_tokenizer, teacher, full_cache, kind):
    rows = _rows(tiny_tokenizer, 4)
    student = model_specs.build_causal_lm(SPEC, tiny_tokenizer, seed=0)
    cache = full_cache
    assert cache.k == cache.vocab_size == student.get_output_embeddings().weight.shape[0]
    batch = PadCollator(tiny_tokenizer.pad_token_id)(rows)
    n = batch["labels"].ne(IGNORE).sum()
    cached, logs = TopKDistillObjective(cache, kind=kind, chunk_size=16)(student, batch, n)
    live, live_logs = DistillObjective(teacher, kind=kind, impl="naive")(student, batch, n)
    torch.testing.assert_close(cached, live, rtol=2e-5, atol=2e-6)
    assert logs["ce"] == pytest.approx(live_logs["ce"], rel=1e-5)
    g_cached = torch.autograd.grad(cached, student.get_output_embeddings().weight)[0]
    live, _ = DistillObjective(teacher, kind=kind, impl="naive")(student, batch, n)
    g_live = torch.autograd.grad(live, student.get_output_embeddings().weight)[0]
    torch.testing.assert_close(g_cached, g_live, rtol=1e-3, atol=1e-6)


def test_two_step_train_from_cache_without_teacher(tmp_path, tiny_tokenizer, teacher):
    rows = _rows(tiny_tokenizer, 4)
    before = copy.deepcopy(teacher.state_dict())
    cache = build_topk_cache(teacher, tiny_tokenizer, rows, 8, tmp_path / "cache", vocab_size=_student_vocab(tiny_tokenizer),
                             progress=False)
    student = model_specs.build_causal_lm(SPEC, tiny_tokenizer, seed=0)
    start = [p.detach().clone() for p in student.parameters()]
    tc = TrainConfig.from_section(load_profile("smoke").kd, 0, epochs=1, lr=1e-2, batch_size=2)
    res = train(student, rows, TopKDistillObjective(cache, kind="tvd"), tc, tmp_path / "run",
                pad_token_id=tiny_tokenizer.pad_token_id)
    assert res.steps == 2
    assert all(math.isfinite(r["loss"]) and "kd" in r for r in res.log_history if "loss" in r)
    assert any(not torch.equal(a, b) for a, b in zip(start, res.model.parameters()))
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before.items())
    assert not any(p.requires_grad for p in teacher.parameters())


def test_beyond_rows_run_and_are_cached(tmp_path, monkeypatch, tiny_tokenizer, teacher):
    """The beyond-the-paper runner end to end on tiny models: rows, curve, cache reuse."""
    from lantern_nb.kd import beyond_paper, runs
    from lantern_nb.profiles import load_profile

    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    cfg = load_profile("smoke", **{"models.students": {"3B": SPEC, "1.5B": SPEC, "0.5B": SPEC}, "kd.batch_size": 2,
                                   "kd.max_length": 64, "kd.beyond_max_steps": 1, "kd.topk_ks": [4, 16],
                                   "kd.onpolicy_max_new_tokens": 4, "kd.beyond_bench_steps": 1})
    rows = [{k: v for k, v in r.items() if k != "row_id"} for r in _rows(tiny_tokenizer, 4)]
    calls = []

    def fake_eval(model, tok, test_rows, cfg):
        calls.append(1)
        return {"nll": 1.0, "rouge1": 0.1, "rouge2": 0.0, "rougeL": 0.1, "n": len(test_rows)}

    ctx = runs.KdContext(cfg, teacher, tiny_tokenizer, rows, rows[:1], root=tmp_path / "kd",
                         student_factory=lambda role: model_specs.build_causal_lm(SPEC, tiny_tokenizer, seed=0),
                         evaluate=fake_eval)
    res = beyond_paper.run_beyond_rows(cfg, ctx, progress=False)
    df, curve = res.table, res.curve
    assert list(df["KD Method"]) == ["JS, live teacher (full)", "JS, top-k cache k=4", "JS, top-k cache k=16",
                                     "JS, on-policy (lmbda=0.5)"]
    assert (df["Note"] == runs.BEYOND).all() and not df["Cached"].any() and len(calls) == 4
    assert df["Disk bytes/token"].iloc[1] < df["Disk bytes/token"].iloc[2] and df["Disk bytes/token"].iloc[[0, 3]].isna().all()
    assert (df["Step s (CPU)"] > 0).all() and df["Step CPU vs live"].iloc[0] == 1.0
    assert list(curve["k"]) == [4, 16, res.vocab] and list(curve["KD signal kept"])[-1] == 1.0
    assert 0 <= curve["KD signal kept"].iloc[0] <= curve["KD signal kept"].iloc[1] <= 1.0
    again = beyond_paper.run_beyond_rows(cfg, ctx, progress=False).table
    assert again["Cached"].all() and len(calls) == 4
    ctx.student_factory = lambda role: model_specs.build_causal_lm(SPEC, tiny_tokenizer, seed=1)  # another start point
    moved = beyond_paper.run_beyond_rows(cfg, ctx, progress=False).table
    assert not moved["Cached"].any() and len(calls) == 8
    merged = beyond_paper.merge_into_table1(df.iloc[:0][["KD Method", "ROUGE_L", "Note"]], df)
    assert list(merged.columns[:3]) == ["KD Method", "ROUGE_L", "Note"] and len(merged) == 4
    assert beyond_paper.plot_rouge_vs_k(curve) is not None
