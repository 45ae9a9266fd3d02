"""GPU-box conditions reproduced on CPU: a Trainer-wrapped (DataParallel) or peft model in the
loss path, the probe student beside a teacher on another device, hub encoders told from
decoders by their config, and classifier inputs within a backbone's position table."""
from __future__ import annotations

import logging

import pytest
import torch

from lantern_nb import model_specs
from lantern_nb.classify import Backbone, FitClassifier, PairEncoder, downscale_structure, input_length_limit
from lantern_nb.kd.losses import DistillObjective
from lantern_nb.train import (IGNORE, CausalLMObjective, PadCollator, answer_rows, decoder_hidden,
                              encode_chat_example, lm_head_weight)

SPEC = "tiny-qwen2:h64-l2"
TEACHER = "tiny-qwen2:h64-l2-xv128"


def _rows(tok, n: int = 3) -> list[dict]:
    return [encode_chat_example(tok, [{"role": "user", "content": f"Job {i}: Python, SQL, {i + 2} years."}],
                                f"Fit: High\n- Meets the requirement: {i} years", 64) for i in range(n)]


@pytest.fixture(scope="module")
def batch(tiny_tokenizer) -> dict[str, torch.Tensor]:
    out = PadCollator(tiny_tokenizer.pad_token_id)(_rows(tiny_tokenizer))
    return {k: v for k, v in out.items() if k != "prompt_len"}


def _lora(model: torch.nn.Module) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # non-zero B, so the adapters change the hidden states
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return peft_model


# ----------------------------------------------------------------------------- wrapped models in the loss path
def test_dataparallel_wrapped_model_matches_the_bare_one(tiny_tokenizer, batch):
    """The HF Trainer wraps the model in DataParallel with several GPUs; the loss path must run
    through the wrapper's forward and give what the bare model gives."""
    model = model_specs.build_causal_lm(SPEC, tiny_tokenizer, seed=0).eval()
    teacher = model_specs.build_causal_lm(TEACHER, tiny_tokenizer, seed=1)
    wrapped = torch.nn.DataParallel(model)
    assert not hasattr(wrapped, "get_decoder")  # what `get_decoder()` on the wrapper used to hit
    calls = []
    wrapped.register_forward_pre_hook(lambda mod, args: calls.append(1))
    ref = model.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    assert torch.equal(decoder_hidden(model, batch["input_ids"], batch["attention_mask"]), ref)
    assert torch.equal(decoder_hidden(wrapped, batch["input_ids"], batch["attention_mask"]), ref)
    assert calls  # through the wrapper's own forward
    h, y = answer_rows(model, batch)
    hw, yw = answer_rows(wrapped, batch)
    assert torch.equal(h, hw) and torch.equal(y, yw) and torch.equal(y, batch["labels"][batch["labels"].ne(IGNORE)])
    assert lm_head_weight(wrapped) is lm_head_weight(model) is model.get_output_embeddings().weight
    n = batch["labels"].ne(IGNORE).sum()
    for objective in (CausalLMObjective(), DistillObjective(teacher, kind="js")):
        bare, _ = objective(model, batch, n)
        wrapped_loss, _ = objective(wrapped, batch, n)
        assert torch.equal(bare, wrapped_loss)
        wrapped_loss.backward()
        assert model.get_output_embeddings().weight.grad is not None
        model.zero_grad(set_to_none=True)


def test_peft_lora_model_in_the_loss_path(tiny_tokenizer, batch):
    """A LoRA-wrapped student (and one inside DataParallel): hidden states through peft's forward,
    the base model's lm_head, gradients reaching the adapters only."""
    model = _lora(model_specs.build_causal_lm(SPEC, tiny_tokenizer, seed=0)).eval()
    base = model.get_base_model()
    ref = base.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    for m in (model, torch.nn.DataParallel(model)):
        assert torch.equal(decoder_hidden(m, batch["input_ids"], batch["attention_mask"]), ref)
        assert lm_head_weight(m) is base.get_output_embeddings().weight
    with torch.no_grad(), model.disable_adapter():  # the adapters are in the path
        assert not torch.equal(decoder_hidden(model, batch["input_ids"], batch["attention_mask"]), ref)
    loss, _ = CausalLMObjective()(torch.nn.DataParallel(model), batch, batch["labels"].ne(IGNORE).sum())
    bare, _ = CausalLMObjective()(model, batch, batch["labels"].ne(IGNORE).sum())
    assert torch.equal(loss, bare)
    loss.backward()
    grads = {name: p.grad is not None for name, p in model.named_parameters() if p.requires_grad}
    assert grads and all(grads.values()) and all("lora_" in name for name in grads)


def test_model_without_logits_to_keep_still_works(tiny_tokenizer, batch):
    """A causal-LM class whose forward takes no `logits_to_keep` gets the call without it."""
    model = model_specs.build_causal_lm(SPEC, tiny_tokenizer, seed=0).eval()

    class NoLogitsToKeep(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, output_hidden_states=None, use_cache=None):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              output_hidden_states=output_hidden_states, use_cache=use_cache)

    ref = decoder_hidden(model, batch["input_ids"], batch["attention_mask"])
    assert torch.equal(decoder_hidden(NoLogitsToKeep(model), batch["input_ids"], batch["attention_mask"]), ref)


# ----------------------------------------------------------------------------- probe student on the teacher's device
class _FakeCache:
    def __init__(self, k: int):
        self.k = k

    def size_report(self) -> dict:
        return {"k": self.k, "n_tokens": 1, "bytes": 8, "bytes_per_token": 8.0, "payload_bytes_per_token": 8.0,
                "logp_dtype": "float16"}


def test_beyond_rows_probe_and_batches_follow_the_teacher(tmp_path, monkeypatch, tiny_tokenizer):
    """With T2 on an accelerator, the probe student and its benchmark / KD-signal batches go to the
    same device (here "meta", a device other than the CPU the student is built on)."""
    from lantern_nb.kd import beyond_paper, runs
    from lantern_nb.profiles import load_profile

    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    cfg = load_profile("smoke", **{"models.students": {"3B": SPEC, "1.5B": SPEC, "0.5B": SPEC}, "kd.batch_size": 2,
                                   "kd.max_length": 64, "kd.beyond_max_steps": 1, "kd.topk_ks": [4, 16],
                                   "kd.beyond_bench_steps": 1})
    teacher = model_specs.build_causal_lm(TEACHER, tiny_tokenizer, seed=1)
    rows = _rows(tiny_tokenizer, 4)
    ctx = runs.KdContext(cfg, teacher, tiny_tokenizer, rows, rows[:1], root=tmp_path / "kd",
                         student_factory=lambda role: model_specs.build_causal_lm(SPEC, tiny_tokenizer, seed=0),
                         evaluate=lambda *a: {})
    seen: dict[str, tuple[set, set]] = {}

    def devices(model, batch):
        tensors = [v for v in batch.values() if torch.is_tensor(v)]
        return {p.device.type for p in model.parameters()}, {v.device.type for v in tensors}

    def bench(model, objectives, batch, repeats=3):
        seen["bench"] = devices(model, batch)
        return {name: {"step_wall": 1.0, "step_cpu": 1.0} for name in objectives}

    def signal(student, teacher_, caches, batch, *args, **kwargs):
        seen["signal"] = devices(student, batch)
        return {k: 0.5 for k in caches}

    fake_run = {"nll": 1.0, "rougeL": 0.1, "steps": 1, "train_seconds": 1.0, "train_cpu_seconds": 1.0,
                "eval_seconds": 0.1, "curve": []}
    monkeypatch.setattr(model_specs, "pick_device", lambda preference="auto": torch.device("meta"))
    monkeypatch.setattr(beyond_paper, "_train_and_score", lambda *a, **kw: dict(fake_run))
    monkeypatch.setattr(beyond_paper, "build_topk_caches",
                        lambda *a, vocab_size, **kw: {min(k, vocab_size): _FakeCache(k) for k in cfg.kd.topk_ks})
    for name in ("DistillObjective", "TopKDistillObjective", "OnPolicyDistillObjective"):
        monkeypatch.setattr(beyond_paper, name, lambda *a, **kw: object())
    monkeypatch.setattr(beyond_paper, "benchmark_steps", bench)
    monkeypatch.setattr(beyond_paper, "kd_signal_kept", signal)
    res = beyond_paper.run_beyond_rows(cfg, ctx, progress=False)
    assert len(res.table) == 4
    assert {p.device.type for p in teacher.parameters()} == {"meta"}
    assert seen == {"bench": ({"meta"}, {"meta"}), "signal": ({"meta"}, {"meta"})}


def test_batch_on_moves_every_tensor():
    from lantern_nb.kd.beyond_paper import batch_on

    out = batch_on({"input_ids": torch.ones(2, 3, dtype=torch.long), "row_id": torch.arange(2), "note": "x"}, "meta")
    assert out["input_ids"].is_meta and out["row_id"].is_meta and out["note"] == "x"


# ----------------------------------------------------------------------------- encoder vs decoder from the config
def _config_dir(root, name: str, config) -> str:
    path = root / name
    config.save_pretrained(path)
    return str(path)


def test_hub_models_are_told_apart_by_their_config(tmp_path):
    """Local config dirs: BERT (512 positions) and ModernBERT are encoders (mean pooling in Sec. 6.1),
    Qwen2 a decoder (last-token pooling); the config wins over a misleading directory name."""
    from transformers import BertConfig, ModernBertConfig, Qwen2Config

    bert = _config_dir(tmp_path, "qwen2-named-bert", BertConfig(max_position_embeddings=512))
    modernbert = _config_dir(tmp_path, "mbert", ModernBertConfig())
    qwen = _config_dir(tmp_path, "bert-named-qwen2", Qwen2Config())
    specs = {p: model_specs.parse_spec(p) for p in (bert, modernbert, qwen)}
    assert all(s.kind == "hub" for s in specs.values())
    assert [specs[p].is_decoder for p in (bert, modernbert, qwen)] == [False, False, True]
    assert [downscale_structure(specs[p]) for p in (bert, modernbert, qwen)] == ["seqcls_mean", "seqcls_mean",
                                                                                  "seqcls_last"]


def test_config_is_decoder_by_type_architecture_or_flag():
    from transformers import BertConfig, PretrainedConfig

    assert not model_specs.config_is_decoder(BertConfig())
    assert model_specs.config_is_decoder(PretrainedConfig(architectures=["FooForCausalLM"]))
    assert model_specs.config_is_decoder(PretrainedConfig(is_decoder=True))
    assert not model_specs.config_is_decoder(PretrainedConfig(architectures=["FooModel"]))


def test_paper_hub_ids_offline_fall_back_to_their_names(caplog):
    """Without the hub (tests run offline) the paper profile's ids are classified by name, and say so."""
    model_specs.hub_is_decoder.cache_clear()
    with caplog.at_level(logging.INFO, logger="lantern_nb.model_specs"):
        got = {name: model_specs.parse_spec(name).is_decoder for name in (
            "answerdotai/ModernBERT-large", "sentence-transformers/all-MiniLM-L6-v2",
            "Alibaba-NLP/gte-Qwen2-1.5B-instruct", "microsoft/Phi-3-mini-4k-instruct", "Qwen/Qwen2.5-0.5B-Instruct")}
    assert got == {"answerdotai/ModernBERT-large": False, "sentence-transformers/all-MiniLM-L6-v2": False,
                   "Alibaba-NLP/gte-Qwen2-1.5B-instruct": True, "microsoft/Phi-3-mini-4k-instruct": True,
                   "Qwen/Qwen2.5-0.5B-Instruct": True}
    assert "taken as model_type 'modernbert' from its name" in caplog.text
    assert not model_specs.parse_spec(f"wheel:{model_specs.MINILM_WHEEL}").is_decoder
    assert model_specs.parse_spec(SPEC).is_decoder and not model_specs.parse_spec("tiny-modernbert:h64-l2").is_decoder


# ----------------------------------------------------------------------------- classifier input length per backbone
@pytest.fixture
def short_bert(tiny_tokenizer):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tiny_tokenizer) + 64, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        pad_token_id=tiny_tokenizer.pad_token_id)
    return BertModel(config)


_LONG_JOB = "Senior Software Engineer. Requirements: 5+ years of Python, Kubernetes, SQL. " * 20
_LONG_RESUME = "Registered Nurse with an active license, BLS certification and Epic EHR experience. " * 20


def test_classifier_inputs_fit_the_backbone_positions(tiny_tokenizer, short_bert, caplog):
    """A 64-position BERT stand-in (MiniLM has 512) with the profile's longer max_length: the clamped
    encoding fits and runs; the unclamped one overflows BERT's position tables (an index error on
    CPU, a device-side assert on GPU)."""
    from lantern_nb.classify import ClassifierCollator

    with caplog.at_level(logging.WARNING, logger="lantern_nb.classify"):
        limit = input_length_limit(short_bert.config, tiny_tokenizer, 512)
    assert limit == 64 and "clamped from 512 to 64" in caplog.text
    assert input_length_limit(short_bert.config, tiny_tokenizer, 48) == 48
    torch.manual_seed(0)
    model = FitClassifier(short_bert, "seqcls_mean", 16).eval()
    for max_length, fits in ((512, False), (limit, True)):
        enc = PairEncoder(tiny_tokenizer, "seqcls_mean", max_length, is_decoder=False)
        feats = enc.encode([_LONG_JOB], [_LONG_RESUME])
        batch = ClassifierCollator(enc.pad_id)(feats)
        if fits:
            assert len(feats[0]["input_ids"]) <= 64
            assert model(**batch).shape == (1, 3)
        else:
            assert len(feats[0]["input_ids"]) > 64
            with pytest.raises((IndexError, RuntimeError)):
                model(**batch)


def test_train_classifier_clamps_to_the_backbone(tmp_path, monkeypatch, tiny_tokenizer, short_bert):
    """`train_classifier` encodes within the backbone's limit, whatever `classifier.max_length` says."""
    from lantern_nb import classify
    from lantern_nb.profiles import load_profile

    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    cfg = load_profile("smoke", **{"classifier.max_length": 512})
    key = next(iter(cfg.models.classifier_backbones))
    spec = model_specs.parse_spec("tiny-modernbert:h64-l2")
    monkeypatch.setattr(classify, "build_backbone",
                        lambda cfg_, key_, seed=0: Backbone(key_, spec, short_bert, tiny_tokenizer, "test"))
    rows = [{"job_text": _LONG_JOB, "resume_text": _LONG_RESUME, "t2_label": label} for label in ("Low", "High")]
    run, _ = classify.train_classifier(cfg, key, "seqcls_mean", rows, use_compressed=False,
                                       output_dir=tmp_path / "cls")
    assert run.encoder.max_length == 64
    assert classify.predict_proba(run.model, run.encoder, [_LONG_JOB], [_LONG_RESUME]).shape == (1, 3)


def test_gte_qwen2_attends_bidirectionally_and_stays_so_when_served(tmp_path, monkeypatch, tiny_tokenizer):
    """gte-Qwen2-1.5B-instruct was trained as a bidirectional embedder (its hub code sets is_causal=False);
    loaded as transformers' Qwen2Model it would attend causally. The hub id and its stand-in get full
    attention over the unpadded tokens, and a saved classifier is rebuilt the same way."""
    import copy

    import transformers
    from transformers import Qwen2Config, Qwen2Model

    from lantern_nb import classify

    conf = Qwen2Config(vocab_size=len(tiny_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    causal = Qwen2Model(conf).eval()
    a = torch.tensor([[5, 6, 7, 8, 9, 0]])
    b = torch.tensor([[5, 6, 7, 8, 10, 11]])  # a later token changed, and the one under padding
    c = torch.tensor([[5, 6, 7, 8, 9, 12]])  # only the padded token changed
    mask = torch.tensor([[1, 1, 1, 1, 1, 0]])
    standin = tmp_path / "standin"
    standin.mkdir()
    (standin / "standin.json").write_text("{}")
    with monkeypatch.context() as m:
        m.setattr(model_specs.hub_configs, "standin_dir", lambda hub_id: standin)
        m.setattr(transformers.AutoModel, "from_pretrained", lambda src, **kw: copy.deepcopy(causal))
        m.setattr(transformers.AutoTokenizer, "from_pretrained", lambda src, **kw: tiny_tokenizer)
        built = {spec: model_specs.build_encoder(spec)[0].eval() for spec in
                 ("Alibaba-NLP/gte-Qwen2-1.5B-instruct", "standin:Alibaba-NLP/gte-Qwen2-1.5B-instruct",
                  "Qwen/Qwen2.5-0.5B-Instruct")}
    for spec, model in built.items():
        with torch.no_grad():
            ha, hb, hc = (model(input_ids=x, attention_mask=mask).last_hidden_state for x in (a, b, c))
        assert (not torch.allclose(ha[0, 0], hb[0, 0])) == ("gte" in spec)  # position 0 sees position 4
        assert torch.allclose(ha[0, :5], hc[0, :5], atol=1e-6)  # a padded position is never seen
    clf = FitClassifier(built["Alibaba-NLP/gte-Qwen2-1.5B-instruct"], "seqcls_last", 8).eval()
    classify.save_classifier(clf, PairEncoder(tiny_tokenizer, "seqcls_last", 32, True), tmp_path / "clf")
    served = classify.load_classifier(tmp_path / "clf")
    batch = {"input_ids": a[:, :5], "attention_mask": mask[:, :5]}
    with torch.no_grad():
        assert torch.allclose(clf(**batch), served.model(**batch), atol=1e-6)
    assert all(not m.is_causal for m in served.model.backbone.modules() if hasattr(m, "is_causal"))
