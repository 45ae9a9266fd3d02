"""The committed upstream base models (`make base-models`): build, provenance, hashes on load, the
generic reading tasks (no fit label, no explanation format), and the committed folder itself."""
import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from lantern_nb import base_models, model_specs

TINY = {
    "seed": 1000003, "n_jobs": 12, "pairs_per_job": 2, "tokenizer_vocab": 600, "save_dtype": "bfloat16",
    "lm": {"seq_len": 32, "batch_size": 2, "lr": 0.003, "warmup_ratio": 0.0, "weight_decay": 0.0,
           "scheduler": "constant", "max_grad_norm": 1.0, "log_points": 0},
    "copy": {"steps": 2, "lr": 0.001, "frac": 0.25, "natural": 0.5, "span": [4, 8]},
    "instruct": {"max_length": 512, "batch_size": 2, "lr": 0.002, "warmup_ratio": 0.0, "weight_decay": 0.0,
                 "scheduler": "constant", "max_grad_norm": 1.0, "log_points": 0},
    "models": {"b": {"spec": "tiny-qwen2:h32-l1", "steps": 2, "copy": True}, "b-instruct": {"base": "b", "instruct_steps": 2, "copy": True},
               "c": {"spec": "tiny-qwen3:h32-l1", "steps": 1}},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("base")
    names = base_models.build(TINY, root=root)
    return root, names


def test_build_writes_models_provenance_and_manifest(built):
    root, names = built
    assert names == ["b", "b-instruct", "c"]
    manifest = json.loads((root / "MANIFEST.json").read_text())
    assert {"tokenizer/tokenizer.json", "b/model.safetensors", "b-instruct/provenance.json"} <= set(manifest)
    prov = base_models.provenance("b", root)
    assert prov["steps"] == 2 and prov["seconds"] >= 0 and prov["final_loss"] > 0
    assert len(prov["corpus_sha256"]) == 64 and prov["trained_on"] == "causal LM"
    assert prov["copy_steps"] == 2 and prov["copy_loss"] > 0 and prov["copy_phase_loss"] > 0
    instruct = base_models.provenance("b-instruct", root)
    assert instruct["trained_on"] == "reading tasks"
    assert instruct["rows"] == 2 * 2  # steps x batch: three reading rows and one copy block (copy.frac 0.25)
    model = base_models.load_base("b-instruct", root=root)
    assert next(model.parameters()).dtype.is_floating_point and model.config.model_type == "qwen2"


def test_rebuild_only_what_changed(built, tmp_path):
    root, _ = built
    assert base_models.build(TINY, root=root) == []
    changed = json.loads(json.dumps(TINY))
    changed["models"]["b"]["steps"] = 3
    # b's recipe changed: b and the instruct analog built on it are rebuilt, c is kept
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    assert base_models.build(changed, root=copy) == ["b", "b-instruct"]
    # the copy section is read only by the models that use it
    changed["copy"]["steps"] = 3
    assert base_models.build(changed, root=copy) == ["b", "b-instruct"]
    changed["models"]["c"]["copy"] = True
    assert base_models.build(changed, root=copy) == ["c"]


def test_tampered_file_is_refused_with_the_fix(built, tmp_path):
    import shutil

    root, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    weights = copy / "c" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(base_models.BaseModelError, match="sha256.*make base-models"):
        base_models.load_base("c", root=copy)
    with pytest.raises(base_models.BaseModelError, match="known: b, b-instruct, c"):
        base_models.verify("nosuch", root=copy)
    (copy / "MANIFEST.json").unlink()
    with pytest.raises(base_models.BaseModelError, match="git checkout data/base"):
        base_models.base_tokenizer(copy)


def test_base_spec_grammar():
    spec = model_specs.parse_spec("base:qwen2-h192-l4-instruct")
    assert (spec.kind, spec.arch, spec.hidden, spec.layers, spec.instruct) == ("base", "qwen2", 192, 4, True)
    assert spec.is_decoder
    with pytest.raises(ValueError, match=r"base:<qwen2\|qwen3\|phi3>-h<hidden>-l<layers>"):
        model_specs.parse_spec("base:llama-7b")


def test_reading_tasks_carry_no_fit_label_or_explanation_format():
    pairs = base_models.upstream_pairs(TINY, progress=False)
    tasks = base_models.reading_tasks(pairs, seed=0)
    kinds = {m[1]["content"].split("\n", 1)[0][:30] for m, _ in tasks}
    assert any(k.startswith("Does this résumé show") for k in kinds)
    assert any(k.startswith("List the requirements") for k in kinds)
    for messages, answer in tasks:
        text = messages[1]["content"] + "\n" + answer
        assert "Fit:" not in text and "Meets " not in text and not re.search(r"\bfit\b", answer, re.I)


def test_upstream_corpus_shares_no_posting_with_the_profiles():
    from lantern_nb.data import generator
    from lantern_nb.profiles import load_profile

    upstream = {p.job_text for p in base_models.upstream_pairs(TINY, progress=False)}
    for name in ("smoke", "cpu"):
        cfg = load_profile(name)
        ours = generator.generate_pairs(12, 1, seed=cfg.seed, progress=False)
        assert not upstream & {p.job_text for p in ours}


def test_recipe_loads_and_names_every_profile_base_spec():
    recipe = base_models.load_recipe()
    from lantern_nb.profiles import load_profile

    cfg = load_profile("cpu")
    m = cfg.models
    specs = [*m.teacher_candidates.values(), *m.students.values(), *m.classifier_backbones.values(), m.summarizer]
    wanted = {s.split(":", 1)[1] for s in specs if s.startswith("base:")}
    assert wanted and wanted <= set(recipe["models"])


def test_recipe_errors_name_the_model(tmp_path):
    bad = dict(TINY, models={"x": {"base": "nosuch", "instruct_steps": 1}})
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="'x' has base 'nosuch'"):
        base_models.load_recipe(path)


COMMITTED = base_models.base_dir()


@pytest.mark.skipif(not (COMMITTED / "MANIFEST.json").exists(), reason="no committed base models in this checkout")
def test_committed_base_models_match_their_manifest_and_fit_the_budget():
    manifest = json.loads((COMMITTED / "MANIFEST.json").read_text())
    for folder in sorted({k.split("/", 1)[0] for k in manifest}):
        base_models.verify(folder)
    total = sum(p.stat().st_size for p in Path(COMMITTED).rglob("*") if p.is_file())
    assert total <= 60e6


def test_copy_blocks_score_only_the_repeat_of_each_span(tiny_tokenizer):
    from lantern_nb.pretrain import IGNORE, copy_blocks

    texts = ["the data engineer builds reliable pipelines in python and sql for analytics teams " * 3] * 4
    rows = copy_blocks(tiny_tokenizer, texts, 64, 6, seed=3, span=(4, 8), natural=0.5)
    assert rows == copy_blocks(tiny_tokenizer, texts, 64, 6, seed=3, span=(4, 8), natural=0.5)
    eos = tiny_tokenizer.eos_token_id
    for row in rows:
        ids, labels = row["input_ids"], row["labels"]
        assert len(ids) == len(labels) == len(row["attention_mask"]) == 64
        assert all(y == IGNORE or y == ids[i + 1] for i, y in enumerate(labels[:-1]))  # labels are pre-shifted
        # every scored target repeats the token that followed the same context one span earlier
        start = 0
        while start < 64:
            end = ids.index(eos, start) if eos in ids[start:] else 64
            ep = ids[start:end]
            half = len(ep) // 2 if end < 64 else None
            if half:
                assert ep[:half] == ep[half:2 * half] and len(ep) == 2 * half
                scored = [labels[start + k - 1] != IGNORE for k in range(1, len(ep))]
                assert scored == [False] * half + [True] * (half - 1)  # the first half and the repeat's first token
            start = end + 1
    assert sum(y != IGNORE for r in rows for y in r["labels"]) > 0
    random_only = copy_blocks(tiny_tokenizer, [], 64, 2, seed=3, natural=0.0)
    assert all(t not in tiny_tokenizer.all_special_ids or t == eos for r in random_only for t in r["input_ids"])


class _Oracle(torch.nn.Module):
    """Logits of a model that copies: it predicts the token that followed the last earlier occurrence of
    the current token (`by_content`), or the token a fixed number of positions back (`offset`)."""

    def __init__(self, vocab: int, offset: int | None = None):
        super().__init__()
        self.vocab, self.offset = vocab, offset
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids):
        b, t = input_ids.shape
        logits = torch.zeros(b, t, self.vocab)
        for i in range(b):
            row = input_ids[i].tolist()
            for p in range(t):
                guess = None
                if self.offset is None:  # the last earlier occurrence of the current bigram, else token
                    prev = ([j for j in range(1, p) if row[j - 1:j + 1] == row[p - 1:p + 1]] if p else []) or \
                        [j for j in range(p) if row[j] == row[p]]
                    guess = row[prev[-1] + 1] if prev else None
                elif p + 1 - self.offset >= 0:
                    guess = row[p + 1 - self.offset]
                if guess is not None:
                    logits[i, p, guess] = 10.0
        return type("Out", (), {"logits": logits})()


def test_copy_loss_rewards_copying_by_content_not_by_offset(tiny_tokenizer):
    import math

    from lantern_nb.pretrain import copy_loss

    vocab = len(tiny_tokenizer)
    assert copy_loss(_Oracle(vocab), tiny_tokenizer, seq_len=96, n=4) < 0.15 * math.log(vocab)  # chance repeats only
    for offset in (8, 20):  # a head that attends a fixed distance back cannot solve variable-length repeats
        assert copy_loss(_Oracle(vocab, offset), tiny_tokenizer, seq_len=96, n=4) > 0.5 * math.log(vocab)


@pytest.mark.skipif(not (COMMITTED / "MANIFEST.json").exists(), reason="no committed base models in this checkout")
def test_committed_base_models_are_current_with_the_recipe():
    """Every committed model was built from the recipe as it stands (`make base-models` would rebuild nothing)."""
    recipe = base_models.load_recipe()
    corpus = base_models.corpus_hash(base_models.documents(base_models.upstream_pairs(recipe, progress=False)))
    stale = [name for name in recipe["models"]
             if base_models.provenance(name)["key"] != base_models._entry_key(recipe, name, corpus)]
    assert not stale, f"committed base models older than base_recipe.yaml: {stale}; run `make base-models`"


def test_score_reading_counts_items_named_and_agreeing():
    reference = "- SQL: yes (SQL, Python)\n- A CDL license: no\n- Forklift certification: partly (pending)"
    assert base_models.score_reading(reference, reference) == {"items": 3, "named": 3, "agree": 3, "ref_yes": 1}
    always_yes = "- SQL: yes\n- A CDL license: yes\n- Forklift certification: yes"
    assert base_models.score_reading(reference, always_yes) == {"items": 3, "named": 3, "agree": 1, "ref_yes": 1}
    # an item answered twice counts its first answer; other wording or a loop of one item names nothing else
    looping = "- SQL: no\n- SQL: yes\n- SQL: yes\n- CDL license: no"
    assert base_models.score_reading(reference, looping) == {"items": 3, "named": 1, "agree": 0, "ref_yes": 1}
    assert base_models.score_reading(reference, "")["named"] == 0


def test_reading_check_scores_a_model_on_documents_upstream_never_saw(built):
    root, _ = built
    res = base_models.reading_check("b-instruct", n=2, max_new_tokens=4, root=root)
    assert res["tasks"] == 2 and res["items"] >= 2
    assert 0 <= res["agree"] <= res["named"] <= res["items"] and 0 < res["always_yes_share"] < 1
