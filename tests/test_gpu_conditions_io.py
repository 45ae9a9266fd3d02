"""Conditions of a GPU box and of real checkpoints and APIs, reproduced on the CPU: a checkpoint's
generation_config never changes our decoding, the OpenAI backend's truncation and parameter
names, the device the loaded models are placed on, and `review_policy: manual` under papermill."""
from __future__ import annotations

import json
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import torch
from transformers import GenerationConfig

from lantern_nb import checkpoints, dcls, filtering, generation, model_specs, sft
from lantern_nb.artifacts import ARTIFACTS
from lantern_nb.kd.onpolicy import sample_continuations
from lantern_nb.profiles import load_profile
from lantern_nb.serving import registry
from lantern_nb.summarizer import Summarizer
from lantern_nb.teachers.backends import BackendError, HFChatBackend, OpenAIChatBackend
from lantern_nb.teachers.cache import CallCache
from lantern_nb.teachers.llm import LLMTeacher

JOB = "Data Analyst\nRequirements:\n- 3+ years of SQL\n- Tableau\nPreferred: Python"
RESUME = "Skills:\n- SQL, Excel\nCertifications:\n- Tableau Desktop Specialist"
GPU = torch.device("cuda", 3)  # a device object needs no GPU; only the loaders' argument is checked


def _polluted(tok) -> GenerationConfig:
    """A generation_config.json like Qwen2.5-Instruct's, exaggerated so that it changes outputs."""
    return GenerationConfig(do_sample=True, temperature=0.3, top_k=3, top_p=0.5, repetition_penalty=2.0,
                            no_repeat_ngram_size=2, min_new_tokens=4, eos_token_id=tok.eos_token_id,
                            pad_token_id=tok.pad_token_id)


def _model(tok) -> torch.nn.Module:
    return model_specs.build_causal_lm("tiny-qwen2:h64-l2", tok, seed=0).eval()


def _rows(n: int = 3) -> list[dict]:
    return [{"pair_id": f"p{i}", "job_text": JOB, "resume_text": RESUME + f"\nAnalyst {i}" * (i + 1),
             "split": "test"} for i in range(n)]


# ----------------------------------------------------------------------------- explicit greedy config
def test_polluted_generation_config_changes_a_bare_generate(tiny_tokenizer):
    """The premise: without an explicit config, transformers applies the checkpoint's settings."""
    tok = tiny_tokenizer
    model = _model(tok)
    ids = torch.tensor([tok("Python SQL Kubernetes", add_special_tokens=False)["input_ids"]])
    neutral = model.generate(input_ids=ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    model.generation_config = _polluted(tok)
    polluted = model.generate(input_ids=ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    assert not torch.equal(neutral, polluted)


def test_greedy_config_sets_every_neutral_field():
    cfg = generation.greedy_generation_config(7, 2, 0)
    assert cfg.do_sample is False and cfg.num_beams == 1 and cfg.repetition_penalty == 1.0
    assert cfg.max_new_tokens == 7 and cfg.eos_token_id == 2 and cfg.pad_token_id == 0
    assert all(getattr(cfg, k) is not None for k in generation.NEUTRAL_DECODING)


def test_generate_ignores_the_checkpoint_generation_config(tiny_tokenizer):
    tok = tiny_tokenizer
    model = _model(tok)
    before = generation.generate(model, tok, _rows(), max_new_tokens=12, batch_size=2)
    model.generation_config = _polluted(tok)
    assert generation.generate(model, tok, _rows(), max_new_tokens=12, batch_size=2) == before


def test_summarizer_ignores_the_checkpoint_generation_config(tiny_tokenizer):
    tok = tiny_tokenizer
    summ = Summarizer(_model(tok), tok, max_new_tokens=12, max_length=256, batch_size=2)
    before = summ.summarize([JOB, JOB + "\n- Excel", "Nurse\nRequirements:\n- RN license"])
    summ.model.generation_config = _polluted(tok)
    assert summ.summarize([JOB, JOB + "\n- Excel", "Nurse\nRequirements:\n- RN license"]) == before


def test_sample_continuations_ignore_the_checkpoint_generation_config(tiny_tokenizer):
    tok = tiny_tokenizer
    model = _model(tok)
    prompts = [tok("Python SQL", add_special_tokens=False)["input_ids"], tok("RN BLS", add_special_tokens=False)["input_ids"]]

    def sample() -> list[list[int]]:
        return sample_continuations(model, prompts, 10, 0.3, torch.Generator().manual_seed(5), tok.eos_token_id,
                                    tok.pad_token_id)

    before = sample()
    model.generation_config = _polluted(tok)
    assert sample() == before


def test_hf_chat_backend_ignores_the_saved_generation_config(tiny_tokenizer, tmp_path):
    tok = tiny_tokenizer
    model = _model(tok)
    checkpoints.save_model(model, tok, tmp_path / "plain")
    model.generation_config = _polluted(tok)
    checkpoints.save_model(model, tok, tmp_path / "polluted")
    assert json.loads((tmp_path / "polluted" / "generation_config.json").read_text())["repetition_penalty"] == 2.0
    msgs = [[{"role": "user", "content": "Python and SQL?"}], [{"role": "user", "content": "RN license"}]]
    plain = HFChatBackend(tmp_path / "plain", device="cpu").complete(msgs, 12)
    assert HFChatBackend(tmp_path / "polluted", device="cpu").complete(msgs, 12) == plain


# ----------------------------------------------------------------------------- openai backend
class _Server:
    """A loopback /chat/completions server: answers `reply` with `finish_reason`, records bodies."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.reply, self.finish_reason = "ok", "stop"
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": fake.reply},
                                                "finish_reason": fake.finish_reason}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


MSG = [{"role": "user", "content": "hello"}]


def test_truncated_answer_is_a_per_request_error_and_not_cached(server, tmp_path):
    server.finish_reason = "length"
    backend = OpenAIChatBackend(server.url, "gpt-4o-mini", require_key=False, max_retries=0)
    with pytest.raises(BackendError, match="truncated") as e:
        backend.complete([MSG], 8)
    assert e.value.per_request
    cache = CallCache(tmp_path / "calls.sqlite")
    teacher = LLMTeacher(backend, "monolithic", cache, max_new_tokens=8)
    texts, _ = teacher.complete([MSG])
    assert texts == [None] and "truncated" in next(iter(teacher.failures.values()))
    server.finish_reason = "stop"
    assert teacher.complete([MSG])[0] == ["ok"]  # not cached: the rerun asks again
    backend.close()


def test_compatible_server_gets_max_tokens_and_temperature(server):
    backend = OpenAIChatBackend(server.url, "qwen2.5-7b-instruct", require_key=False)
    assert backend.complete([MSG], 16) == ["ok"]
    body = server.received[0]
    assert body["max_tokens"] == 16 and body["temperature"] == 0 and "max_completion_tokens" not in body
    backend.close()


@pytest.mark.parametrize("model", ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-mini", "openai/o3"])
def test_reasoning_models_get_max_completion_tokens_and_no_temperature(server, model):
    backend = OpenAIChatBackend(server.url, model, require_key=False)
    assert backend.reasoning
    assert backend.complete([MSG], 16) == ["ok"]
    body = server.received[0]
    assert body["max_completion_tokens"] == 16 and "max_tokens" not in body and "temperature" not in body
    assert backend.decoding_params()["temperature"] == "default"
    backend.close()


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4.1-mini", "ollama/llama3", "omni-1", "gpt-50"])
def test_other_models_are_not_reasoning_families(model):
    assert not OpenAIChatBackend("http://127.0.0.1:1/v1", model, require_key=False).reasoning


def test_openai_api_gets_max_completion_tokens_and_keeps_greedy():
    backend = OpenAIChatBackend("https://api.openai.com/v1", "gpt-4o-mini", require_key=False)
    payload = backend._payload(MSG, 32)
    assert payload["max_completion_tokens"] == 32 and "max_tokens" not in payload and payload["temperature"] == 0
    assert backend.decoding_params() == {"temperature": 0, "redact_pii": True}  # unchanged cache keys


# ----------------------------------------------------------------------------- device placement
@pytest.fixture
def on_gpu(monkeypatch):
    """`model_specs.pick_device` answers a CUDA device; the preferences it was asked for are kept."""
    asked: list[str] = []

    def pick(preference: str = "auto") -> torch.device:
        asked.append(preference)
        return GPU

    monkeypatch.setattr(model_specs, "pick_device", pick)
    return asked


class _Stop(Exception):
    pass


def test_d_cls_labelling_loads_t2_on_the_device(on_gpu, monkeypatch, tmp_root):
    cfg = load_profile("smoke")
    seen: list[Any] = []

    def load_t2(cfg_, device=None):
        seen.append(device)
        raise _Stop

    monkeypatch.setattr(sft, "load_t2", load_t2)
    monkeypatch.setattr(dcls, "_fingerprint", lambda cfg_, pairs: "fp")
    with pytest.raises(_Stop):
        dcls._label_cached(cfg, [], tmp_root / "d_cls.jsonl", 4)
    assert seen == [GPU] and on_gpu == [cfg.device]


def test_cached_sft_run_loads_the_final_model_on_the_device(on_gpu, monkeypatch, tmp_root):
    cfg = load_profile("smoke")
    out = tmp_root / "t"
    (out / "final").mkdir(parents=True)
    (out / sft._RUN).write_text(json.dumps({"key": "k", "checkpoints": [], "log_history": [], "steps": 2,
                                            "seconds": 1.0}))
    seen: list[Any] = []
    model = object()
    monkeypatch.setattr(sft, "run_key", lambda *a: "k")
    monkeypatch.setattr(sft, "load_model", lambda path, device=None: (seen.append((path, device)), (model, None))[1])
    res = sft.finetune_teacher(cfg, cfg.models.teacher, None, [], out)
    assert res.model is model and seen == [(out / "final", GPU)] and on_gpu == [cfg.device]


class _Recorder(torch.nn.Module):
    """A module that records where it is moved."""

    def __init__(self) -> None:
        super().__init__()
        self.moves: list[Any] = []

    def to(self, *args: Any, **kwargs: Any) -> "_Recorder":
        self.moves.append(args[0] if args else kwargs.get("device"))
        return self


def test_served_models_are_placed_on_the_device(on_gpu, monkeypatch, tmp_root):
    cfg = load_profile("smoke")
    served = {}
    for module, func, key in (("lantern_nb.summarizer", "load_summarizer", "summarizer"),
                              ("lantern_nb.classify", "load_classifier", "classifier"),
                              ("lantern_nb.explainer", "load_explainer", "explainer")):
        (tmp_root / "data" / "smoke" / ARTIFACTS[key][0]).mkdir(parents=True)
        served[key] = types.SimpleNamespace(model=_Recorder())
        mod = types.ModuleType(module)
        setattr(mod, func, lambda path, _o=served[key], **kw: _o)
        monkeypatch.setitem(sys.modules, module, mod)
    assert registry.load_summarizer(cfg) is served["summarizer"]
    assert registry.load_classifier(cfg) is served["classifier"]
    assert registry.load_explainer(cfg) is served["explainer"]
    assert all(s.model.moves == [GPU] for s in served.values()) and on_gpu == [cfg.device] * 3


def test_placing_an_object_without_a_torch_model_is_a_no_op(on_gpu):
    fake = types.SimpleNamespace(model="not a module")
    assert registry.place(fake, load_profile("smoke")) is fake and on_gpu == []


# ----------------------------------------------------------------------------- review policy
def test_review_mode_decisions():
    assert filtering.review_mode("auto", batch=True, pending=5) == "auto"
    assert filtering.review_mode("interactive", batch=True, pending=5) == "auto"  # papermill: documented policy
    assert filtering.review_mode("interactive", batch=False, pending=5) == "manual"  # live kernel: the widget
    assert filtering.review_mode("manual", batch=False, pending=5) == "manual"
    assert filtering.review_mode("manual", batch=True, pending=0) == "manual"  # a human already decided all
    with pytest.raises(filtering.ReviewPolicyError, match=r'OVERRIDES = \{"filtering.review_policy": "auto"\}'):
        filtering.review_mode("manual", batch=True, pending=3)
    with pytest.raises(ValueError, match="review_policy"):
        filtering.review_mode("automatic", batch=False, pending=0)


def test_profiles_batch_runs_rely_on_auto_and_paper_on_manual():
    assert load_profile("smoke").filtering.review_policy == "interactive"  # auto under papermill
    assert load_profile("cpu").filtering.review_policy == "interactive"
    assert load_profile("paper").filtering.review_policy == "manual"


def test_review_widget_stops_under_papermill(monkeypatch, tmp_path):
    from lantern_nb import frontend, review

    monkeypatch.setattr(frontend, "under_papermill", lambda: True)
    session = filtering.ReviewSession(tmp_path / "review.jsonl")
    flagged = [types.SimpleNamespace(pair_id="p1"), types.SimpleNamespace(pair_id="p2")]
    with pytest.raises(filtering.ReviewPolicyError, match="2 flagged"):
        review.review_widget([], flagged, {}, session)
