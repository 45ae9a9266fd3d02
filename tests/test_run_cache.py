"""The run cache: content fingerprints, finished-run detection, and for every cached step a
setting or input that the old hand-picked keys did not cover, shown to cause a recompute."""
from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch

from lantern_nb import model_specs, pretrain, sft
from lantern_nb.cache import RunCache, fingerprint
from lantern_nb.kd import runs
from lantern_nb.profiles import load_profile
from lantern_nb.schema import Pair
from lantern_nb.train import encode_chat_example

SPEC = "tiny-qwen2:h32-l1"
TEXTS = [f"Candidate {i} knows SQL and {i % 4} years of Python; the job needs Docker." for i in range(24)]


@pytest.fixture(scope="module")
def tok():
    return model_specs.train_tokenizer(TEXTS + ["Fit: High Fit: Low Fit: Medium - Meets - Missing"] * 3, 320)


@pytest.fixture()
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    monkeypatch.setattr(pretrain, "corpus_texts", lambda cfg: (TEXTS[:12], TEXTS[12:]))
    return tmp_path


def _cfg(**overrides):
    base = {"models.students": {"3B": SPEC, "1.5B": SPEC, "0.5B": SPEC}, "kd.batch_size": 2, "kd.epochs": 1,
            "kd.max_length": 64, "pretrain.steps": 4, "pretrain.instruct_steps": 0, "pretrain.seq_len": 32,
            "pretrain.batch_size": 2}
    return load_profile("smoke", **{**base, **overrides})


def _rows(tok, n: int = 4) -> list[dict]:
    out = []
    for i in range(n):
        enc = encode_chat_example(tok, [{"role": "user", "content": TEXTS[i]}], "Fit: High\n- Meets SQL", 64)
        enc.pop("prompt_len")
        out.append(enc)
    return out


def _score(model, tokenizer, rows, cfg) -> dict[str, float]:
    return {"nll": 1.0, "rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.5, "n": len(rows)}


# ----------------------------------------------------------------------------- fingerprint
def test_fingerprint_follows_content_not_identity(tmp_path):
    a = model_specs.build_causal_lm(SPEC, model_specs.train_tokenizer(TEXTS, 300), seed=0)
    b = copy.deepcopy(a)
    assert fingerprint(a) == fingerprint(b)
    with torch.no_grad():
        next(b.parameters()).view(-1)[0] += 1e-6
    assert fingerprint(a) != fingerprint(b)
    f = tmp_path / "x.txt"
    f.write_text("one")
    k1 = fingerprint(f)
    f.write_text("two")
    assert fingerprint(f) != k1 and fingerprint(tmp_path) != fingerprint(tmp_path / "missing")
    cfg = load_profile("smoke")
    assert fingerprint(cfg.kd) == fingerprint(load_profile("smoke").kd)
    assert fingerprint(cfg.kd) != fingerprint(dataclasses.replace(cfg.kd, chunk_size=cfg.kd.chunk_size + 1))
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint([torch.ones(2)]) != fingerprint([torch.ones(2, dtype=torch.float64)])


def test_a_run_without_metrics_is_not_finished(tmp_path):
    cache = RunCache(tmp_path)
    key = cache.key("step", 1)
    d = cache.start("step", key)
    (d / "model").mkdir()
    assert cache.find(key) is None  # killed before metrics.json: rebuilt, never served
    made = []
    metrics, cached = cache.get_or_run("step", key, lambda run_dir: made.append(run_dir) or {"x": 1})
    assert (metrics, cached, len(made)) == ({"x": 1}, False, 1)
    assert cache.get_or_run("step", key, lambda run_dir: pytest.fail("must be cached")) == ({"x": 1}, True)
    assert cache.find(key, require=("weights",)) is None
    assert not list(tmp_path.rglob("*.tmp"))


# ----------------------------------------------------------------------------- every cached step
def test_kd_stage_recomputes_when_the_student_start_changes(root, tok):
    """`pretrain.lr` changes the student's initial weights: no Table 1 row may come back cached."""
    cfg = _cfg()
    rows = _rows(tok)
    teacher = model_specs.build_causal_lm("tiny-qwen2:h64-l1", tok, seed=1)
    ctx = runs.KdContext(cfg, teacher, tok, rows, rows[:2], root=root / "kd", evaluate=_score)
    assert not runs.run_stage(ctx, "teacher-1.5B.js", "1.5B", "js").cached
    assert runs.run_stage(ctx, "teacher-1.5B.js", "1.5B", "js").cached
    ctx.cfg = _cfg(**{"pretrain.lr": cfg.pretrain.lr * 2})
    assert fingerprint(ctx.new_student("1.5B")) != fingerprint(runs._student(cfg, "1.5B", tok))
    assert not runs.run_stage(ctx, "teacher-1.5B.js", "1.5B", "js").cached
    ctx.cfg = _cfg(**{"pretrain.lr": cfg.pretrain.lr * 2, "kd.impl": "chunked"})  # not in the old key list
    assert not runs.run_stage(ctx, "teacher-1.5B.js", "1.5B", "js").cached


def test_pretraining_recomputes_when_the_corpus_changes(root, tok, monkeypatch):
    cfg = _cfg()
    first = pretrain.pretrained_decoder(cfg, SPEC, tok)
    key = json.loads((pretrain.pretrained_dir(cfg, SPEC) / "pretrain_meta.json").read_text())["key"]
    real = pretrain._lm_pretrain
    monkeypatch.setattr(pretrain, "_lm_pretrain", lambda *a, **k: pytest.fail("cached weights must be reused"))
    pretrain.pretrained_decoder(cfg, SPEC, tok)
    monkeypatch.setattr(pretrain, "_lm_pretrain", real)
    monkeypatch.setattr(pretrain, "corpus_texts", lambda c: (TEXTS[:6], TEXTS[6:12]))  # fewer documents
    assert pretrain.start_key(cfg, SPEC, tok) != key
    second = pretrain.pretrained_decoder(cfg, SPEC, tok)
    assert fingerprint(first) != fingerprint(second)


def test_sft_recomputes_when_a_train_row_changes_under_the_same_id(root, tok):
    cfg = load_profile("smoke", **{"pretrain.steps": 0, "pretrain.instruct_steps": 0, "sft.epochs": 1,
                                   "sft.batch_size": 2, "sft.n_checkpoints": 1, "sft.max_length": 96})
    rows = [{"pair_id": f"p{i}", "job_text": TEXTS[i], "resume_text": TEXTS[i + 1], "split": "train",
             "target": "Fit: High\n- Meets SQL"} for i in range(4)]
    key = sft.run_key(cfg, "Qwen2.5-7B", tok, rows)
    assert sft.run_key(cfg, "Qwen2.5-7B", tok, copy.deepcopy(rows)) == key
    edited = copy.deepcopy(rows)
    edited[2]["target"] = "Fit: Low\n- Missing SQL"  # the old key held only the pair ids
    assert sft.run_key(cfg, "Qwen2.5-7B", tok, edited) != key
    out = root / "t2"
    sft.finetune_teacher(cfg, "Qwen2.5-7B", tok, rows, out)
    assert sft._cached_run(out, key) is not None
    assert sft._cached_run(out, sft.run_key(cfg, "Qwen2.5-7B", tok, edited)) is None


def test_t2_labels_recompute_when_a_pair_text_changes(root, monkeypatch):
    from lantern_nb import dcls

    monkeypatch.setattr(sft, "t2_key", lambda cfg: "t2-weights")
    cfg = load_profile("smoke")
    pairs = [Pair(f"c{i}", f"j{i}", TEXTS[i], TEXTS[i + 1]) for i in range(5)]
    key = dcls._fingerprint(cfg, pairs)
    edited = copy.deepcopy(pairs)
    edited[2].resume_text += " and Kubernetes"  # same count, first and last id: the old key matched
    assert dcls._fingerprint(cfg, edited) != key
    assert dcls._fingerprint(load_profile("smoke", **{"sft.max_length": 128}), pairs) != key


def test_corpus_rebuilds_when_its_source_file_changes(root, tmp_path):
    from lantern_nb.data import build_corpus

    path = tmp_path / "pairs.jsonl"

    def write(extra: str) -> None:
        path.write_text("".join(json.dumps({"job_text": f"Job {i % 5}: SQL{extra}", "resume_text": f"Person {i}"})
                                + "\n" for i in range(40)))

    write("")
    cfg = load_profile("smoke", data__source="file", data__path=str(path), data__n_cls_pairs=20)
    assert build_corpus(cfg, progress=False)["reused"] is False
    assert build_corpus(cfg, progress=False)["reused"] is True
    write(" and Docker")  # same path and settings: the old key matched
    assert build_corpus(cfg, progress=False)["reused"] is False
