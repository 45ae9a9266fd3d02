"""Teacher SFT, the explanation model's I/O and the pretrained start of the tiny decoders."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from lantern_nb import checkpoints, dseed, explainer, generation, model_specs, pretrain, scoring, sft
from lantern_nb.artifacts import MissingArtifactError
from lantern_nb.metrics import classification_metrics, rouge
from lantern_nb.profiles import load_profile

JOB = "Data Analyst\nRequirements:\n- 3+ years of SQL\n- Tableau\nPreferred: Python"
RESUME = "Skills:\n- SQL, Excel\nCertifications:\n- Tableau Desktop Specialist\nExperience:\nAnalyst, 2019 - Present"


@pytest.fixture(autouse=True)
def _no_compression(monkeypatch):
    """The compressor is another module's concern; keep job texts as they are here."""
    monkeypatch.setattr(dseed, "_compress", lambda text: text)


def _cfg(**overrides):
    base = {"pretrain.steps": 0, "pretrain.instruct_steps": 0, "sft.epochs": 1, "sft.batch_size": 2,
            "sft.n_checkpoints": 2, "sft.max_length": 192, "sft.eval_n": 2, "sft.max_new_tokens": 6}
    return load_profile("smoke", **{**base, **overrides})


def _rows(n: int = 4) -> list[dict]:
    labels = ["High", "Low", "Medium", "High"]
    return [{"pair_id": f"p{i}", "job_text": JOB, "resume_text": RESUME + f"\nAnalyst {i}", "split": "train",
             "target": f"Fit: {labels[i % 4]}\n- Meets the requirement: SQL\n- Missing: Python"} for i in range(n)]


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class _ForceTokens:
    """lm_head forward hook: emit `token` for the first `n` generated positions, then `eos`."""

    def __init__(self, token: int, eos: int, n: int):
        self.token, self.eos, self.n, self.calls, self.inputs = token, eos, n, 0, []

    def __call__(self, module, args, output):
        self.calls += 1
        forced = torch.full_like(output, -1e4)
        forced[..., self.token if self.calls <= self.n else self.eos] = 0.0
        return forced


def _model(tok, spec="tiny-qwen2:h64-l2"):
    return model_specs.build_causal_lm(spec, tok, seed=0).eval()


# ----------------------------------------------------------------------------- metrics
def test_metrics():
    r = rouge(["Fit: High\n- Meets SQL"], ["Fit: High\n- Meets SQL"])
    assert r == pytest.approx({"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0})
    assert rouge(["completely different"], ["Fit: Low"])["rouge1"] == 0.0
    m = classification_metrics(["Low", "High", "High"], ["Low", "High", "Low"], ["Low", "Medium", "High"])
    assert m["accuracy"] == pytest.approx(2 / 3) and 0 < m["f1_weighted"] < 1


# ----------------------------------------------------------------------------- generation
def test_generate_stops_at_eos_and_keeps_batch_order(tiny_tokenizer):
    tok = tiny_tokenizer
    model = _model(tok)
    token = tok("SQL", add_special_tokens=False)["input_ids"][0]
    hook = _ForceTokens(token, tok.eos_token_id, n=3)
    handle = model.get_output_embeddings().register_forward_hook(hook)
    try:
        rows = _rows(3)
        rows[1] = {**rows[1], "resume_text": RESUME * 4}  # a longer prompt: left padding in the batch
        texts = generation.generate(model, tok, rows, max_new_tokens=20, batch_size=3)
    finally:
        handle.remove()
    assert texts == [tok.decode([token] * 3)] * 3
    assert hook.calls == 4  # three tokens, then EOS ends generation


def test_generate_batched_equals_unbatched(tiny_tokenizer):
    tok = tiny_tokenizer
    model = _model(tok)
    rows = _rows(3)
    rows[2] = {**rows[2], "resume_text": RESUME * 3}
    batched = generation.generate(model, tok, rows, max_new_tokens=8, batch_size=3)
    single = [generation.generate(model, tok, [r], max_new_tokens=8)[0] for r in rows]
    assert batched == single


def test_explainer_is_conditioned_on_the_label(tiny_tokenizer, tmp_path):
    tok = tiny_tokenizer
    model = _model(tok)
    seen = []
    handle = model.register_forward_pre_hook(lambda m, a, kw: seen.append(kw["input_ids"][0].tolist()),
                                             with_kwargs=True)
    texts = generation.generate(model, tok, _rows(1), 4, prefixes=["Fit: High\n"])
    handle.remove()
    prefix = tok("Fit: High\n", add_special_tokens=False)["input_ids"]
    assert texts[0].startswith("Fit: High\n") and seen[0][-len(prefix):] == prefix
    path = checkpoints.save_model(model, tok, tmp_path / "explainer", meta={"max_length": 192})
    ex = explainer.load_explainer(path, max_new_tokens=4)
    assert ex.max_length == 192
    out = ex.explain([JOB, JOB], [RESUME, RESUME], ["Low", "High"])
    assert len(out) == 2 and all(isinstance(x, list) for x in out)


def test_evaluate_reports_nll_and_rouge(tiny_tokenizer):
    cfg = _cfg()
    out = scoring.evaluate(_model(tiny_tokenizer), tiny_tokenizer, _rows(2), cfg)
    assert set(out) == {"nll", "rouge1", "rouge2", "rougeL", "rougeL_lo", "rougeL_hi", "label_accuracy", "n"}
    assert out["n"] == 2 and out["nll"] > 0
    assert out["rougeL_lo"] <= out["rougeL"] <= out["rougeL_hi"] and 0 <= out["label_accuracy"] <= 1
    kept = scoring.evaluate(_model(tiny_tokenizer), tiny_tokenizer, _rows(2), cfg, keep=1)
    assert len(kept["samples"]) == 1 and set(kept["samples"][0]) == {"pair_id", "prediction"}


# ----------------------------------------------------------------------------- SFT
@pytest.mark.skipif(torch.cuda.is_available(), reason="QLoRA is allowed on CUDA")
def test_qlora_on_cpu_gives_a_clear_message(tiny_tokenizer, tmp_root):
    cfg = _cfg(**{"sft.method": "qlora"})
    with pytest.raises(RuntimeError, match=r"QLoRA .* needs a CUDA GPU.*method: lora.*method: full"):
        sft.finetune_teacher(cfg, cfg.models.teacher, tiny_tokenizer, _rows(), tmp_root / "t2")


@pytest.mark.parametrize("method", ["lora", "full"])
def test_sft_two_steps_checkpoints_load(method, tiny_tokenizer, tmp_root, monkeypatch):
    cfg = _cfg(**{"sft.method": method})
    out = tmp_root / "t2" / method
    res = sft.finetune_teacher(cfg, "Qwen2.5-7B", tiny_tokenizer, _rows(), out)
    assert res.steps == 2 and [c.name for c in res.checkpoints] == ["step-00001", "step-00002"]
    for ck in res.checkpoints:
        model = AutoModelForCausalLM.from_pretrained(ck)  # a plain causal LM, LoRA merged
        assert not (ck / "adapter_config.json").exists() and not hasattr(model, "peft_config")
    last = AutoModelForCausalLM.from_pretrained(res.checkpoints[-1])
    final, _ = checkpoints.load_model(out / "final")
    assert _same(_weights(last), _weights(final))
    assert _same(_weights(final), _weights(res.model))
    monkeypatch.setattr(sft, "train", lambda *a, **k: pytest.fail("a finished run must be reused"))
    again = sft.finetune_teacher(cfg, "Qwen2.5-7B", tiny_tokenizer, _rows(), out)
    assert again.checkpoints == res.checkpoints and _same(_weights(again.model), _weights(final))


def test_load_t2_missing_names_the_notebook(tmp_root):
    with pytest.raises(MissingArtifactError, match="03_teacher_sft"):
        sft.load_t2(_cfg())


# ----------------------------------------------------------------------------- pretraining
def test_pretrained_decoder_is_cached_and_deterministic(tiny_tokenizer, tmp_root, monkeypatch):
    cfg = _cfg(**{"pretrain.steps": 2, "pretrain.instruct_steps": 2, "pretrain.seq_len": 32,
                  "pretrain.batch_size": 2})
    jobs = [JOB + f"\nSite {i}" for i in range(6)]
    resumes = [RESUME + f"\nRole {i}" for i in range(6)]
    monkeypatch.setattr(pretrain, "corpus_texts", lambda c: (jobs, resumes))
    base_spec = cfg.models.teacher_candidates["Qwen2.5-7B"]
    instruct_spec = cfg.models.teacher_candidates["Qwen2.5-7B-Instruct"]
    first = _weights(pretrain.pretrained_decoder(cfg, base_spec, tiny_tokenizer))
    assert not _same(first, _weights(model_specs.build_causal_lm(base_spec, tiny_tokenizer, seed=cfg.seed)))
    real = pretrain._lm_pretrain
    monkeypatch.setattr(pretrain, "_lm_pretrain", lambda *a, **k: pytest.fail("cached weights must be reused"))
    assert _same(first, _weights(pretrain.pretrained_decoder(cfg, base_spec, tiny_tokenizer)))
    instruct = _weights(pretrain.pretrained_decoder(cfg, instruct_spec, tiny_tokenizer))  # reuses the base
    assert not _same(first, instruct)
    assert pretrain.pretrain_info(cfg, instruct_spec)["pretrain"]["instruct_steps"] == 2
    monkeypatch.setattr(pretrain, "_lm_pretrain", real)
    import shutil

    shutil.rmtree(pretrain.pretrained_dir(cfg, base_spec))
    assert _same(first, _weights(pretrain.pretrained_decoder(cfg, base_spec, tiny_tokenizer)))  # same seed


def test_instruction_examples_carry_no_fit_labels():
    examples = pretrain.instruction_examples([JOB], [RESUME])
    answers = [a for _, a in examples]
    assert any("Tableau Desktop Specialist" in a for a in answers) and any("SQL" in a for a in answers)
    assert not any("Fit:" in a or "Low" in a or "High" in a for a in answers)


def test_final_t2_and_checkpoints_merge_into_the_same_base(tiny_tokenizer, tmp_root, monkeypatch):
    """QLoRA trains on a 4-bit copy of the base; the final T2 and the SCD checkpoints must both merge into the
    stored base. Reproduced on CPU: the training base is perturbed (bf16-rounded) as quantization would."""
    start = sft._start_model

    def lossy_base(cfg, spec, tokenizer, method):
        model = start(cfg, spec, tokenizer, "lora")
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_" not in name:
                    p.copy_(p.to(torch.bfloat16).to(p.dtype))
        return model

    monkeypatch.setattr(sft, "_start_model", lossy_base)
    cfg = _cfg(**{"sft.method": "lora"})
    out = tmp_root / "t2" / "lossy"
    res = sft.finetune_teacher(cfg, "Qwen2.5-7B", tiny_tokenizer, _rows(), out)
    last = AutoModelForCausalLM.from_pretrained(res.checkpoints[-1])
    final, _ = checkpoints.load_model(out / "final")
    assert _same(_weights(last), _weights(final)) and _same(_weights(final), _weights(res.model))
    base = pretrain.pretrained_decoder(cfg, cfg.models.teacher_candidates["Qwen2.5-7B"], tiny_tokenizer)
    emb = "model.embed_tokens.weight"
    assert torch.equal(_weights(final)[emb], _weights(base)[emb])  # not the rounded training copy
