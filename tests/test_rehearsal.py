"""`make rehearse`: the stand-ins keep the hub models' quirks, and the rehearsal profile is the paper's."""
import json

import pytest
import torch
from transformers import AutoConfig, AutoTokenizer, GenerationConfig

from lantern_nb import hub_configs, model_specs, rehearsal
from lantern_nb.notebook import require_device
from lantern_nb.profiles import ProfileError, load_profile, raw_profile


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkout")
    mp = pytest.MonkeyPatch()
    mp.setenv("LANTERN_ROOT", str(root))
    texts = rehearsal._corpus_texts()
    ids = ["Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "microsoft/Phi-3-mini-4k-instruct",
           "answerdotai/ModernBERT-large"]
    yield {h: rehearsal.build_standin(h, texts) for h in ids}
    mp.undo()


def test_qwen_standins_keep_vocab_special_ids_template_and_generation_defaults(standins):
    seven, half = standins["Qwen/Qwen2.5-7B-Instruct"], standins["Qwen/Qwen2.5-0.5B-Instruct"]
    tok = AutoTokenizer.from_pretrained(seven)
    assert len(tok) == 151_665 and tok.bos_token is None
    assert tok.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [151_643, 151_644, 151_645]
    assert tok.pad_token == "<|endoftext|>" and tok.eos_token == "<|im_end|>"
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert chat.startswith("<|im_start|>system\nYou are Qwen") and chat.endswith("<|im_start|>assistant\n")
    assert AutoConfig.from_pretrained(seven).vocab_size == 152_064
    assert AutoConfig.from_pretrained(half).vocab_size == 151_936  # the 7B's extra logit rows vs the students'
    assert AutoConfig.from_pretrained(seven).tie_word_embeddings is False
    assert AutoConfig.from_pretrained(half).tie_word_embeddings is True
    gen = GenerationConfig.from_pretrained(seven)
    assert gen.do_sample and gen.repetition_penalty == 1.05  # what greedy evaluation must not inherit
    spec = model_specs.parse_spec("standin:Qwen/Qwen2.5-7B-Instruct")
    assert spec.kind == "hub" and spec.source == str(seven) and spec.is_decoder and spec.instruct
    model = model_specs.build_causal_lm(spec, tok, dtype="auto")
    assert next(model.parameters()).dtype == torch.bfloat16  # saved as the hub checkpoint is
    assert model.get_output_embeddings().weight.shape[0] == 152_064


def test_phi3_and_modernbert_standins_keep_positions_window_padding_and_encoder_type(standins):
    phi = standins["microsoft/Phi-3-mini-4k-instruct"]
    conf = AutoConfig.from_pretrained(phi)
    assert (conf.model_type, conf.vocab_size, conf.max_position_embeddings, conf.sliding_window) == \
        ("phi3", 32_064, 4096, 2047)
    tok = AutoTokenizer.from_pretrained(phi)
    assert len(tok) == 32_011 and tok.padding_side == "left" and tok("a")["input_ids"][0] == 1  # <s> first
    assert tok.convert_tokens_to_ids(["<|end|>", "<|user|>"]) == [32_007, 32_010]
    bert = standins["answerdotai/ModernBERT-large"]
    assert not model_specs.hub_is_decoder(str(bert)) and model_specs.hub_is_decoder(str(phi))
    btok = AutoTokenizer.from_pretrained(bert)
    ids = btok("a b")["input_ids"]
    assert len(btok) == 50_285 and ids[0] == 50_281 and ids[-1] == 50_282  # [CLS] ... [SEP]
    backbone, _ = model_specs.build_encoder(f"standin:answerdotai/ModernBERT-large")
    assert backbone.config.vocab_size == 50_368


def test_a_standin_is_rebuilt_only_when_its_recipe_changes(standins, monkeypatch):
    path = standins["Qwen/Qwen2.5-0.5B-Instruct"]
    before = (path / "model.safetensors").stat().st_mtime_ns
    assert rehearsal.build_standin("Qwen/Qwen2.5-0.5B-Instruct") == path
    assert (path / "model.safetensors").stat().st_mtime_ns == before
    monkeypatch.setattr(rehearsal, "VERSION", rehearsal.VERSION + 1)
    rehearsal.build_standin("Qwen/Qwen2.5-0.5B-Instruct", rehearsal._corpus_texts()[:50])
    assert json.loads((path / "standin.json").read_text())["version"] == rehearsal.VERSION


def test_an_unbuilt_or_unknown_standin_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    with pytest.raises(ValueError, match="stand-in is not built.*make rehearse"):
        model_specs.parse_spec("standin:Qwen/Qwen2.5-3B-Instruct")
    with pytest.raises(ValueError, match="no stand-in for 'org/x'"):
        model_specs.parse_spec("standin:org/x")


def _flat(obj, prefix=""):
    import dataclasses

    out = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        out.update(_flat(v, f"{prefix}{f.name}.") if dataclasses.is_dataclass(v) else {prefix + f.name: v})
    return out


def test_the_rehearsal_is_the_paper_profile_but_for_what_its_file_lists():
    paper, reh = _flat(load_profile("paper")), _flat(load_profile("rehearsal"))
    listed = set()
    for section, values in raw_profile("rehearsal").items():
        listed |= {f"{section}.{k}" for k in values} if isinstance(values, dict) else {section}
    changed = {k for k in paper if paper[k] != reh[k]}
    assert changed <= listed | {"name"}
    for key in ("sft.method", "sft.max_length", "kd.max_length", "kd.divergences", "kd.paths", "kd.impl",
                "classifier.max_length", "classifier.structures", "hardware.launcher", "sft.lora_targets"):
        assert reh[key] == paper[key], key
    for role in ("teacher_candidates", "students", "classifier_backbones"):
        for key, hub in getattr(load_profile("paper").models, role).items():
            assert getattr(load_profile("rehearsal").models, role)[key] == f"standin:{hub}"
    assert set(rehearsal.MODELS) == set(hub_configs.CONFIGS) | set(hub_configs.STANDIN_EXTRA)


def test_extends_must_name_another_profile(monkeypatch, tmp_path):
    from lantern_nb import profiles

    (tmp_path / "paper.yaml").write_text("name: paper\nextends: paper\n")
    monkeypatch.setattr(profiles, "PROFILE_DIR", tmp_path)
    with pytest.raises(ProfileError, match="extends: paper.yaml extends 'paper'"):
        raw_profile("paper")


def test_a_hub_profile_runs_on_cpu_only_when_it_says_device_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        require_device(load_profile("paper"))
    with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
        require_device(load_profile("rehearsal", device="auto"))
    require_device(load_profile("rehearsal"))


def test_the_rehearsal_plans_as_the_real_models_without_built_standins(tmp_path, monkeypatch, capsys):
    from lantern_nb import plan
    from lantern_nb.cli import main

    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))  # no stand-ins here
    assert plan.resolve("standin:Qwen/Qwen2.5-7B-Instruct") == plan.KNOWN["Qwen/Qwen2.5-7B-Instruct"]
    assert main(["plan", "--profile", "rehearsal"]) == 0
    assert "runs on CPU (device: cpu)" in capsys.readouterr().out
