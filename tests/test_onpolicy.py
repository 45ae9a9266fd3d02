"""On-policy / mixed-policy distillation on tiny models (seconds): masking, EOS, seeding, lmbda = 0."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from lantern_nb import model_specs
from lantern_nb.kd.divergences import divergence
from lantern_nb.kd.onpolicy import OnPolicyDistillObjective, onpolicy_batch, prompts_of, sample_continuations
from lantern_nb.kd.losses import DistillObjective
from lantern_nb.profiles import load_profile
from lantern_nb.train import IGNORE, PadCollator, TrainConfig, encode_chat_example, train

SPEC = "tiny-qwen2:h64-l2"
TEACHER = "tiny-qwen2:h64-l2-xv128"
TEXTS = [f"Candidate {i} has {i % 7} years of Python and SQL; the job needs Docker and Kubernetes." for i in range(8)]


def _rows(tok, n: int = 4) -> list[dict]:
    return [encode_chat_example(tok, [{"role": "user", "content": TEXTS[i] * (1 + i % 2)}],
                                f"Fit: High\n- Meets SQL {i}", 96) for i in range(n)]


def _batch(tok, n: int = 4) -> dict[str, torch.Tensor]:
    return PadCollator(tok.pad_token_id)(_rows(tok, n))


@pytest.fixture(scope="module")
def teacher(tiny_tokenizer):
    return model_specs.build_causal_lm(TEACHER, tiny_tokenizer, seed=1)


def _student(tok, eos_bias: float | None = None):
    model = model_specs.build_causal_lm(SPEC, tok, seed=0)
    if eos_bias is not None:  # make EOS likely so sampled rows stop at different lengths
        head = model.get_output_embeddings()
        biased = torch.nn.Linear(head.in_features, head.out_features, bias=True)
        with torch.no_grad():
            biased.weight.copy_(head.weight)
            biased.bias.zero_()
            biased.bias[tok.eos_token_id] = eos_bias
        model.set_output_embeddings(biased)
    return model


def test_prompt_lengths_from_field_or_labels(tiny_tokenizer):
    rows = _rows(tiny_tokenizer)
    batch = _batch(tiny_tokenizer)
    want = [r["input_ids"][:r["prompt_len"]] for r in rows]
    assert prompts_of(batch) == want
    assert prompts_of({k: v for k, v in batch.items() if k != "prompt_len"}) == want


def test_onpolicy_batch_masks_prompt_and_after_eos():
    eos, pad = 9, 0
    batch = onpolicy_batch([[5, 6, 7], [5, 6]], [[11, 12, eos], [13]], pad)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 11, 12, eos], [5, 6, 13, pad, pad, pad]]
    assert batch["attention_mask"].tolist() == [[1] * 6, [1, 1, 1, 0, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, IGNORE, 11, 12, eos, IGNORE],
                                        [IGNORE, 13, IGNORE, IGNORE, IGNORE, IGNORE]]


def test_sampling_stops_at_eos_and_is_reproducible(tiny_tokenizer):
    tok = tiny_tokenizer
    student = _student(tok, eos_bias=5.5)
    prompts = prompts_of(_batch(tok))
    eos, pad = tok.eos_token_id, tok.pad_token_id

    def sample(seed: int) -> list[list[int]]:
        return sample_continuations(student, prompts, 12, 1.0, torch.Generator().manual_seed(seed), eos, pad)

    torch.manual_seed(123)
    a = sample(0)
    global_state = torch.random.get_rng_state()
    b = sample(0)
    assert torch.equal(global_state, torch.random.get_rng_state())  # sampling never touches the global RNG
    assert a == b and a != sample(1)
    assert all(1 <= len(c) <= 12 for c in a)
    for c in a:
        assert eos not in c[:-1]  # nothing after the first EOS
    assert any(c[-1] == eos and len(c) < 12 for c in a)
    assert len({len(c) for c in a + sample(2) + sample(3)}) > 1


def test_lmbda_zero_is_offpolicy_kd(tiny_tokenizer, teacher, monkeypatch):
    batch = _batch(tiny_tokenizer)
    student = _student(tiny_tokenizer)
    n = batch["labels"].ne(IGNORE).sum()
    obj = OnPolicyDistillObjective(teacher, kind="js", lmbda=0.0)
    monkeypatch.setattr(obj, "sample_batch", lambda *a: pytest.fail("lmbda=0 must never sample"))
    for _ in range(3):
        loss, logs = obj(student, batch, n)
        ref, ref_logs = DistillObjective(teacher, kind="js")(student, batch, n)
        assert float(loss.detach()) == float(ref.detach()) and logs["kd"] == ref_logs["kd"] and logs["onpolicy"] == 0.0


def test_mixing_coin_is_seeded_per_step(teacher):
    obj = OnPolicyDistillObjective(teacher, lmbda=0.5, seed=3)
    flips = [obj.use_student_samples(s) for s in range(400)]
    assert flips == [OnPolicyDistillObjective(teacher, lmbda=0.5, seed=3).use_student_samples(s) for s in range(400)]
    assert 0.4 < sum(flips) / 400 < 0.6
    assert all(OnPolicyDistillObjective(teacher, lmbda=1.0).use_student_samples(s) for s in range(50))


@pytest.mark.parametrize("kind", ["fkl", "tvd"])
def test_onpolicy_step_takes_kd_on_generated_tokens_only(tiny_tokenizer, teacher, kind):
    tok = tiny_tokenizer
    batch = _batch(tok)
    student = _student(tok)
    n = batch["labels"].ne(IGNORE).sum()
    obj = OnPolicyDistillObjective(teacher, kind=kind, lmbda=1.0, max_new_tokens=6, seed=5, impl="naive")
    loss, logs = obj(student, batch, n)
    assert logs["onpolicy"] == 1.0 and 1 <= logs["gen_tokens"] <= 6
    gen = obj.sample_batch(student, batch, 0)  # the same seeded samples again
    prompts = prompts_of(batch)
    for i, p in enumerate(prompts):
        lab = gen["labels"][i]
        assert (lab[:len(p) - 1] == IGNORE).all() and gen["input_ids"][i, :len(p)].tolist() == p
    v = student.get_output_embeddings().weight.shape[0]
    with torch.no_grad():
        s_logits = student(input_ids=gen["input_ids"], attention_mask=gen["attention_mask"]).logits
        t_logits = teacher(input_ids=gen["input_ids"], attention_mask=gen["attention_mask"]).logits[..., :v]
    want = divergence(s_logits, t_logits, kind, mask=gen["labels"].ne(IGNORE))
    assert logs["kd"] == pytest.approx(float(want), rel=1e-4)
    loss.backward()
    assert math.isfinite(float(loss.detach()))
    assert student.get_output_embeddings().weight.grad is not None


def test_two_step_train_onpolicy_teacher_frozen(tmp_path, tiny_tokenizer, teacher):
    tok = tiny_tokenizer
    rows = _rows(tok)
    before = copy.deepcopy(teacher.state_dict())
    student = _student(tok)
    obj = OnPolicyDistillObjective(teacher, kind="fkl", lmbda=1.0, max_new_tokens=4, seed=0)
    tc = TrainConfig.from_section(load_profile("smoke").kd, 0, epochs=1, lr=1e-2, batch_size=2)
    res = train(student, rows, obj, tc, tmp_path, pad_token_id=tok.pad_token_id)
    assert res.steps == 2 and obj.step == 2
    logs = [r for r in res.log_history if "loss" in r]
    assert all(math.isfinite(r["loss"]) and r["onpolicy"] == 1.0 for r in logs)
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before.items())
    assert not any(p.requires_grad for p in teacher.parameters()) and not teacher.training
