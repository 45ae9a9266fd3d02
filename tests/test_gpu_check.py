"""`make gpu-check`: the shipped configs, the pass/fail rule and every check's code path, on CPU (shrunken configs)."""
import json

import pytest
import torch

from lantern_nb import gpu_check, hub_configs, model_specs, plan
from lantern_nb.classify import FitClassifier, input_length_limit
from lantern_nb.cli import main
from lantern_nb.profiles import load_profile


@pytest.mark.parametrize("hub", sorted(hub_configs.CONFIGS))
def test_shipped_configs_build_the_published_sizes(hub):
    conf = gpu_check.paper_config(hub)
    decoder = model_specs.config_is_decoder(conf)
    model = gpu_check.random_model(conf, torch.bfloat16, torch.device("meta"), causal_lm=decoder)
    a = gpu_check.arch_of(model, conf)
    known = plan.KNOWN[hub]
    assert a.params == pytest.approx(known.params, rel=0.01)
    assert (a.hidden, a.layers, a.vocab) == (known.hidden, known.layers, known.vocab)
    if decoder:
        assert model.get_output_embeddings().weight.shape[0] == known.vocab  # 152,064 (7B) vs 151,936 logits


def test_phi3_config_keeps_its_quirks_and_clamps_classifier_inputs():
    conf = gpu_check.paper_config("microsoft/Phi-3-mini-4k-instruct")
    assert conf.model_type == "phi3" and conf.sliding_window == 2047
    assert input_length_limit(conf, None, 8192) == 4096


def test_unknown_model_names_the_config_folder():
    with pytest.raises(gpu_check.GpuCheckError, match="no shipped config for .org/x..*assets/configs"):
        gpu_check.paper_config("org/x")


def test_without_cuda_it_stops_at_once_with_exit_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["gpu-check", "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "needs a CUDA GPU and this machine has none" in err and "make gpu-check" in err
    assert not (tmp_path / "r.json").exists()


def _row(**kw):
    base = dict(check="kd", model="m", seq=8, batch=1, planned_gb=10.0, measured_gb=12.0, tokens_per_s=1.0,
                planned_tokens_per_s=1.0, seconds=1.0)
    return gpu_check.CheckResult(**{**base, **kw})


def test_a_peak_over_130_percent_of_the_plan_fails_and_a_loss_mismatch_fails():
    assert _row(measured_gb=13.0).ok and _row(measured_gb=13.0).ratio == pytest.approx(1.3)
    over = _row(measured_gb=13.1)
    assert not over.ok and "OVER" in gpu_check.format_row(over)
    mismatch = _row(notes={"loss": 1.0, "loss_rel_diff": 0.05})
    assert not mismatch.ok and "LOSS MISMATCH" in gpu_check.format_row(mismatch)
    assert _row(measured_gb=None).ok  # off CUDA nothing is measured
    assert _row(measured_gb=None, skipped="planned 200 GB > 90% of this GPU").ok


def test_planned_naive_kd_logits_exceed_the_chunked_ones():
    cfg = load_profile("gpu")
    s, t = plan.KNOWN[gpu_check.KD_STUDENT], plan.KNOWN[gpu_check.KD_TEACHER]
    chunked = plan.step_memory_gb(cfg, "kd", s, 2048, 4, teacher=t, impl="chunked")
    naive = plan.step_memory_gb(cfg, "kd", s, 2048, 4, teacher=t, impl="naive")
    assert naive["logits"] > 5 * chunked["logits"]
    assert {k: v for k, v in naive.items() if k != "logits"} == {k: v for k, v in chunked.items() if k != "logits"}


def test_unknown_check_is_refused(tmp_path):
    with pytest.raises(gpu_check.GpuCheckError, match="unknown check.*valid: sft, kd"):
        gpu_check.run_checks(load_profile("gpu"), torch.device("cpu"), ["sft", "nope"], work=tmp_path)


def test_classifier_checkpointing_reaches_the_backbone():
    conf = gpu_check.paper_config("microsoft/Phi-3-mini-4k-instruct", shrink=True)
    backbone = gpu_check.random_model(conf, torch.float32, torch.device("cpu"), causal_lm=False)
    model = FitClassifier(backbone, "seqcls_last", 16)
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    assert backbone.is_activation_checkpointing
    model.train()
    ids = torch.randint(0, conf.vocab_size, (2, 12))
    model(input_ids=ids, attention_mask=torch.ones_like(ids)).sum().backward()
    assert all(p.grad is not None for p in backbone.parameters() if p.requires_grad)


def test_every_check_runs_through_the_project_code_on_cpu(tmp_path, capsys):
    """The same command a GPU owner runs, shrunken: LoRA (QLoRA needs CUDA), the full 151,936 vocabulary."""
    out = tmp_path / "gpu.json"
    rc = main(["gpu-check", "--device", "cpu", "--shrink", "--seq", "32", "--batch", "2", "--work", str(tmp_path / "w"),
               "--out", str(out), "--set", "sft.method=lora"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    res = {r["check"]: r for r in json.loads(out.read_text())["results"]}
    assert list(res) == list(gpu_check.CHECKS)
    assert all(r["ok"] and r["measured_gb"] is None and r["tokens_per_s"] > 0 for r in res.values())
    assert "V=151,936" in res["kd"]["model"]
    assert res["kd"]["notes"]["loss_rel_diff"] < 1e-5  # fp32 on CPU: chunked and naive are the same loss
    assert res["kd_naive"]["planned_gb"] > res["kd"]["planned_gb"]
    assert all(r["notes"]["loss"] > 0 for k, r in res.items() if k != "label")
    assert sum(res["label"]["notes"]["labels"].values()) == 2
    assert "chunked vs naive first-step loss rel. diff" in printed
    assert not (tmp_path / "w" / "t2-random").exists()  # the saved random T2 is removed
