"""GPU-box training conditions reproduced on CPU: Table 3 candidates released before the next
trains, LoRA on every linear layer, non-reentrant activation checkpointing, fp32 master weights
under bf16 autocast, and a pinned hub-dataset revision."""
from __future__ import annotations

import weakref

import pytest
import torch
from transformers import TrainerCallback

from lantern_nb import model_specs, sft
from lantern_nb.data import loaders
from lantern_nb.profiles import ProfileError, load_profile
from lantern_nb.train import CausalLMObjective, TrainConfig, TrainResult, encode_chat_example, train

SPEC = "tiny-qwen2:h64-l2"
ATTENTION = {"q_proj", "k_proj", "v_proj", "o_proj"}
MLP = {"gate_proj", "up_proj", "down_proj"}


def _rows(tok, n: int = 4) -> list[dict]:
    return [encode_chat_example(tok, [{"role": "user", "content": f"Job {i}: Python, SQL, {i + 2} years."}],
                                f"Fit: High\n- Meets the requirement: {i} years", 64) for i in range(n)]


# ----------------------------------------------------------------------------- Table 3 memory
def test_table3_releases_each_candidate_before_the_next_trains(tiny_tokenizer, tmp_root, monkeypatch):
    """On a GPU the previous candidate's weights (7-8B) must be gone before the next one loads."""
    cfg = load_profile("smoke")
    assert len(cfg.models.teacher_candidates) > 1
    refs: list[weakref.ref] = []
    alive_at_call: list[bool] = []
    cleared: list[int] = []

    def spy(cfg, name, tokenizer, train_rows, out_dir, force=False):
        alive_at_call.append(any(r() is not None for r in refs))
        model = torch.nn.Linear(4, 4)
        refs.append(weakref.ref(model))
        return TrainResult(model=model, log_history=[{"step": 1, "loss": 1.0}], checkpoints=[], steps=1, seconds=0.1)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: cleared.append(1))
    monkeypatch.setattr(sft.model_specs, "get_tokenizer", lambda c: tiny_tokenizer)
    monkeypatch.setattr(sft, "seed_rows", lambda c, split: [{"pair_id": "p"}])
    monkeypatch.setattr(sft, "finetune_teacher", spy)
    monkeypatch.setattr(sft, "_evaluate_cached", lambda *a: {"rouge1": 0.1, "rouge2": 0.1, "rougeL": 0.1, "nll": 1.0})
    monkeypatch.setattr(sft, "pretrain_info", lambda c, s: {})
    res = sft.run_table3(cfg)
    assert len(res.table) == len(cfg.models.teacher_candidates) == len(alive_at_call)
    assert alive_at_call == [False] * len(alive_at_call)
    assert all(r() is None for r in refs)
    assert len(cleared) == len(refs)


# ----------------------------------------------------------------------------- LoRA targets
def _adapted(cfg, tok) -> set[str]:
    from peft import get_peft_model

    base = model_specs.build_causal_lm(SPEC, tok, seed=0)
    model = get_peft_model(base, sft.lora_config(cfg, base))
    return {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if hasattr(m, "lora_A")}


def test_paper_lora_adapts_every_linear_layer_but_the_lm_head(tiny_tokenizer):
    cfg = load_profile("paper")
    assert cfg.sft.lora_targets == ["all-linear"]
    adapted = _adapted(cfg, tiny_tokenizer)
    assert ATTENTION | MLP <= adapted and "lm_head" not in adapted


def test_cpu_profiles_keep_the_attention_targets(tiny_tokenizer):
    """smoke/cpu keep the former q/k/v/o adapters, so their LoRA parameter counts stay as they were."""
    for name in ("smoke", "cpu"):
        assert _adapted(load_profile(name), tiny_tokenizer) == ATTENTION


def test_all_linear_mixed_with_names_is_refused(tiny_tokenizer):
    cfg = load_profile("smoke", **{"sft.lora_targets": ["all-linear", "q_proj"]})
    with pytest.raises(ValueError, match=r"all-linear.*alone"):
        sft.lora_config(cfg, model_specs.build_causal_lm(SPEC, tiny_tokenizer, seed=0))


# ----------------------------------------------------------------------------- activation checkpointing
class _Watch(TrainerCallback):
    def __init__(self):
        self.flags: list[bool] = []
        self.reentrant: list[object] = []

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        self.flags.append(model.is_activation_checkpointing)
        funcs = [m._gradient_checkpointing_func for m in model.modules() if getattr(m, "gradient_checkpointing", False)]
        self.reentrant.extend(f.keywords.get("use_reentrant") for f in funcs)


def _one_step(tok, tmp_path, on: bool) -> tuple[float, _Watch, dict[str, torch.Tensor]]:
    model = model_specs.build_causal_lm(SPEC, tok, seed=0)
    tc = TrainConfig(epochs=1, lr=1e-3, batch_size=4, warmup_ratio=0.0, weight_decay=0.0, scheduler="constant",
                     max_grad_norm=1.0, max_steps=1, group_by_length=False, gradient_checkpointing=on)
    watch = _Watch()
    res = train(model, _rows(tok), CausalLMObjective(), tc, tmp_path / f"gc-{on}", pad_token_id=tok.pad_token_id,
                callbacks=[watch])
    loss = next(r["loss"] for r in res.log_history if "loss" in r)
    return loss, watch, {k: v.detach().clone() for k, v in res.model.state_dict().items()}


def test_activation_checkpointing_is_on_non_reentrant_and_changes_no_loss(tiny_tokenizer, tmp_path):
    loss_on, watch_on, w_on = _one_step(tiny_tokenizer, tmp_path, True)
    loss_off, watch_off, w_off = _one_step(tiny_tokenizer, tmp_path, False)
    assert watch_on.flags == [True] and watch_off.flags == [False]
    assert watch_on.reentrant and set(watch_on.reentrant) == {False}
    assert loss_on == loss_off
    assert all(torch.allclose(w_on[k], w_off[k], atol=1e-6) for k in w_on)


def test_profiles_carry_the_checkpointing_flag():
    for name, on in (("smoke", False), ("cpu", False), ("paper", True)):
        cfg = load_profile(name)
        assert cfg.sft.gradient_checkpointing is on and cfg.kd.gradient_checkpointing is on
        assert TrainConfig.from_section(cfg.sft, cfg.seed).gradient_checkpointing is on
        assert TrainConfig.from_section(cfg.kd, cfg.seed).gradient_checkpointing is on
        # the decoder classifier cells and the summarizer train as long sequences too (the planner sizes them so)
        assert TrainConfig.from_section(cfg.classifier, cfg.seed).gradient_checkpointing is on
        assert TrainConfig.from_section(cfg.summarizer, cfg.seed).gradient_checkpointing is on


# ----------------------------------------------------------------------------- load dtypes
def test_trainable_models_load_fp32_frozen_teachers_bf16_on_cuda():
    assert model_specs.load_dtype(trainable=True, device="cuda") is torch.float32
    assert model_specs.load_dtype(trainable=False, device="cuda") is torch.bfloat16
    assert model_specs.load_dtype(trainable=True, device="cpu") is torch.float32
    assert model_specs.load_dtype(trainable=False, device="cpu") == "auto"


def test_hub_decoders_load_fp32_for_training(tiny_tokenizer, monkeypatch):
    """Hub Qwen checkpoints are stored in bf16; "auto" would train them in pure bf16."""
    from transformers import AutoModelForCausalLM

    seen: dict = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", lambda src, **kw: seen.update(src=src, **kw))
    model_specs.build_causal_lm("Qwen/Qwen2.5-0.5B", tiny_tokenizer)
    assert seen == {"src": "Qwen/Qwen2.5-0.5B", "dtype": torch.float32}


def test_hub_classifier_backbones_load_fp32(monkeypatch):
    from transformers import AutoModel, AutoTokenizer

    from transformers import Qwen2Config, Qwen2Model

    seen: dict = {}
    tiny = Qwen2Model(Qwen2Config(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, num_key_value_heads=1))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(AutoModel, "from_pretrained", lambda src, **kw: seen.update(src=src, **kw) or tiny)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda src, **kw: None)
    model_specs.build_encoder("Alibaba-NLP/gte-Qwen2-1.5B-instruct")
    assert seen == {"src": "Alibaba-NLP/gte-Qwen2-1.5B-instruct", "dtype": torch.float32}


def test_a_frozen_lora_base_loads_bf16_on_cuda(monkeypatch):
    """LoRA trains fp32 adapters only; its base may stay bf16 (half the memory) on CUDA."""
    cfg = load_profile("paper")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert cfg.device == "auto" and sft._lora_base_dtype(cfg) == "auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert sft._lora_base_dtype(cfg) is torch.bfloat16


# ----------------------------------------------------------------------------- pinned dataset revision
@pytest.mark.parametrize("revision", ["main", None, "abc123", "v1.0", "A" * 40])
def test_unpinned_revisions_are_refused(revision):
    with pytest.raises(ProfileError, match=r"data\.revision.*not a pinned commit.*40-hex commit sha.*dataset_info"):
        loaders.check_pinned(loaders.HF_FIT_ID, revision)


def test_a_commit_sha_passes_and_the_paper_value_is_refused_before_download(monkeypatch):
    loaders.check_pinned(loaders.HF_FIT_ID, "0123456789abcdef0123456789abcdef01234567")
    import datasets

    monkeypatch.setattr(loaders, "hub_offline", lambda: False)
    monkeypatch.setattr(loaders, "hub_probe", lambda timeout=3.0: None)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("an unpinned revision must not load"))
    with pytest.raises(ProfileError, match="resume-job-description-fit"):
        loaders.load_hub_dataset(loaders.HF_FIT_ID, load_profile("paper").data.revision, "hf_fit")
