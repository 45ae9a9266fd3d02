"""The one training loop: label masking / EOS, truncation, gradient-accumulation normalisation,
a two-step deterministic run, and its hyper-parameters taken from the profile only."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import torch

import lantern_nb
from lantern_nb import model_specs
from lantern_nb.kd.runs import train_config as kd_train_config
from lantern_nb.profiles import PROFILES, load_profile
from lantern_nb.train import (IGNORE, CausalLMObjective, PadCollator, TrainConfig,
                              encode_chat_example, loss_curve, train)

SPEC = "tiny-qwen2:h64-l2"


def _messages(n_words: int = 5) -> list[dict]:
    return [{"role": "system", "content": "Assess job-person fit."},
            {"role": "user", "content": " ".join(["Python SQL Kubernetes"] * n_words)}]


@pytest.fixture
def pad_is_eos_tokenizer(tiny_tokenizer):
    tok = copy.deepcopy(tiny_tokenizer)
    tok.pad_token = tok.eos_token
    assert tok.pad_token_id == tok.eos_token_id
    return tok


def test_labels_only_on_answer_and_eos_even_when_pad_is_eos(pad_is_eos_tokenizer):
    tok = pad_is_eos_tokenizer
    target = "Fit: High\n- Meets the requirement: Python"
    enc = encode_chat_example(tok, _messages(), target, max_length=256)
    answer = tok(target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids, labels, n_prompt = enc["input_ids"], enc["labels"], enc["prompt_len"]
    assert ids[n_prompt:] == answer
    assert labels[:n_prompt - 1] == [IGNORE] * (n_prompt - 1)
    assert labels[n_prompt - 1:-1] == answer  # pre-shifted: position t predicts token t+1
    assert labels[-1] == IGNORE and labels[-2] == tok.eos_token_id
    batch = PadCollator(tok.pad_token_id)([enc, encode_chat_example(tok, _messages(1), "Fit: Low", 256)])
    valid_targets = batch["labels"][0][batch["labels"][0] != IGNORE].tolist()
    assert valid_targets == answer  # padding (== EOS) never becomes a target, the real EOS does
    assert batch["labels"][1].ne(IGNORE).sum() == len(tok("Fit: Low", add_special_tokens=False)["input_ids"]) + 1


def test_prompt_truncation_keeps_the_answer(tiny_tokenizer):
    tok = tiny_tokenizer
    target = "Fit: Medium\n- Partially meets: 3 years of SQL\n- Missing: Kubernetes"
    answer = tok(target, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    full = encode_chat_example(tok, _messages(200), target, max_length=4096)
    cut = encode_chat_example(tok, _messages(200), target, max_length=96)
    assert len(full["input_ids"]) > 96 and len(cut["input_ids"]) == 96
    assert cut["input_ids"][-len(answer):] == answer
    gen_prompt = tok.apply_chat_template(_messages(200), add_generation_prompt=True, tokenize=False)
    assert gen_prompt.endswith("<|im_start|>assistant\n")
    assert cut["input_ids"][:cut["prompt_len"]][-8:] == full["input_ids"][:full["prompt_len"]][-8:]
    assert [y for y in cut["labels"] if y != IGNORE] == answer


def _rows(tok) -> list[dict]:
    targets = ["Fit: High", "Fit: Low\n- Missing: a license\n- Missing: Python and SQL experience",
               "Fit: Medium\n- Meets: SQL", "Fit: High\n- Meets: Kubernetes, Python, SQL, five years"]
    rows = []
    for i, t in enumerate(targets):
        enc = encode_chat_example(tok, _messages(1 + 3 * i), t, 256)
        enc.pop("prompt_len")
        rows.append(enc)
    return rows


def _grads(model) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]


def test_gradient_accumulation_normalised_by_global_token_count(tiny_tokenizer):
    tok = tiny_tokenizer
    rows = _rows(tok)
    collate = PadCollator(tok.pad_token_id)
    counts = [sum(y != IGNORE for y in r["labels"]) for r in rows]
    assert counts[0] + counts[1] != counts[2] + counts[3]  # unequal micro-batches
    model = model_specs.build_causal_lm(SPEC, tok, seed=0)
    obj = CausalLMObjective()
    total = sum(counts)
    obj(model, collate(rows), total)[0].backward()
    one_batch = _grads(model)
    model.zero_grad()
    for half in (rows[:2], rows[2:]):
        obj(model, collate(half), total)[0].backward()
    accumulated = _grads(model)
    for a, b in zip(one_batch, accumulated):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_trainer_counts_items_across_accumulation(tiny_tokenizer, tmp_path):
    """One SGD step: batch 4 == batch 2 x grad_accum 2 (same update, so the same normalisation)."""
    tok = tiny_tokenizer
    rows = _rows(tok)
    weights = []
    for bs, ga in ((4, 1), (2, 2)):
        model = model_specs.build_causal_lm(SPEC, tok, seed=0)
        tc = TrainConfig(epochs=1, lr=0.5, batch_size=bs, grad_accum=ga, max_steps=1, warmup_ratio=0.0,
                         weight_decay=0.0, scheduler="constant", max_grad_norm=1.0, extra={"optim": "sgd"})
        res = train(model, rows, CausalLMObjective(), tc, tmp_path / f"b{bs}", pad_token_id=tok.pad_token_id)
        weights.append([p.detach().clone() for p in res.model.parameters()])
    for a, b in zip(*weights):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_two_step_training_decreases_loss_and_is_deterministic(tiny_tokenizer, tmp_path):
    tok = tiny_tokenizer
    rows = _rows(tok)
    runs = []
    for i in range(2):
        model = model_specs.build_causal_lm(SPEC, tok, seed=0)
        tc = TrainConfig.from_section(load_profile("smoke").kd, 0, epochs=1, lr=1e-2, batch_size=4, max_steps=2)
        runs.append(train(model, rows, CausalLMObjective(), tc, tmp_path / f"run{i}", pad_token_id=tok.pad_token_id))
    curve = loss_curve(runs[0].log_history)
    assert [s for s, _ in curve] == [1, 2] and curve[1][1] < curve[0][1]
    assert runs[0].steps == 2
    for a, b in zip(runs[0].model.parameters(), runs[1].model.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", PROFILES)
def test_from_section_builds_what_each_call_site_built_by_hand(name):
    """Each run's config as its call site wrote it out before `TrainConfig.from_section`: the values
    once hard-coded there (warmup, weight decay, schedule, logging) now come from the profile, unchanged."""
    cfg = load_profile(name)
    p, s, k, c, m = cfg.pretrain, cfg.sft, cfg.kd, cfg.classifier, cfg.summarizer
    n = 437  # rows of a run (only the classifier's and the summarizer's logging depends on it)
    base = dict(warmup_ratio=0.05, weight_decay=0.0, scheduler="cosine", max_grad_norm=1.0, seed=cfg.seed)
    cases = {  # call site: (config now, config then without its logging_steps, logging_steps then)
        "sft": (TrainConfig.from_section(s, cfg.seed),
                TrainConfig(epochs=s.epochs, lr=s.lr, batch_size=s.batch_size, grad_accum=s.grad_accum,
                            n_checkpoints=s.n_checkpoints, max_steps=s.max_steps,
                            gradient_checkpointing=s.gradient_checkpointing, **base), 1),
        "kd": (kd_train_config(cfg),
               TrainConfig(epochs=k.epochs, lr=k.lr, batch_size=k.batch_size, grad_accum=k.grad_accum,
                           max_steps=k.max_steps, gradient_checkpointing=k.gradient_checkpointing, **base), 1),
        "pretrain": (TrainConfig.from_section(p, cfg.seed, epochs=1, max_steps=p.steps),
                     TrainConfig(epochs=1, lr=p.lr, batch_size=p.batch_size, max_steps=p.steps, **base),
                     max(1, p.steps // 50)),
        "instruct": (TrainConfig.from_section(p, cfg.seed, epochs=1, max_steps=p.instruct_steps),
                     TrainConfig(epochs=1, lr=p.lr, batch_size=p.batch_size, max_steps=p.instruct_steps, **base),
                     max(1, p.instruct_steps // 50)),
        "summarizer": (TrainConfig.from_section(m, cfg.seed),
                       TrainConfig(epochs=m.epochs, lr=m.lr, batch_size=m.batch_size, max_steps=m.max_steps,
                                   gradient_checkpointing=m.gradient_checkpointing, **base),
                       max(1, (m.max_steps if m.max_steps > 0 else n // m.batch_size) // 10)),
        "classifier": (TrainConfig.from_section(c, 7),
                       TrainConfig(epochs=c.epochs, lr=c.lr, batch_size=c.batch_size,
                                   gradient_checkpointing=c.gradient_checkpointing, **{**base, "warmup_ratio": 0.1, "weight_decay": 0.01, "seed": 7}),
                       max(1, n // c.batch_size // 10)),
    }
    for site, (now, then, logging_steps) in cases.items():
        assert dataclasses.replace(now, log_points=0) == then, site
        assert now.logging_steps(n) == logging_steps, site


def test_no_defensive_getattr_on_profiles():
    """The strict loader guarantees every profile field: no module reads one with `getattr(cfg, ...)`."""
    root = Path(lantern_nb.__file__).parent
    hits = [f"{path.relative_to(root)}:{i}: {line.strip()}" for path in sorted(root.rglob("*.py"))
            for i, line in enumerate(path.read_text().splitlines(), 1) if "getattr(cfg" in line]
    assert not hits, hits
