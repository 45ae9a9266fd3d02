import pytest

from lantern_nb import plan
from lantern_nb.profiles import load_profile


def test_paper_plan_resolves_every_role_and_vocab():
    tables = plan.plan(load_profile("paper"))
    assert len(tables["roles"]) == 11
    assert tables["kd"]["ok"].all()
    assert "151,936" in tables["kd"]["detail"].iloc[0]
    steps = tables["steps"]
    full = steps[(steps.step == "SFT Qwen2.5-7B-Instruct") & (steps.method == "full")]["total GB"].item()
    qlora = steps[(steps.step == "SFT Qwen2.5-7B-Instruct") & (steps.method == "qlora")]["total GB"].item()
    assert full > 80 > qlora
    assert steps["launch"].str.contains("accelerate launch").any()


def test_kd_incompatible_tokenizers_are_refused():
    ok, why = plan.kd_compatible(plan.KNOWN["Qwen/Qwen2.5-7B-Instruct"], plan.KNOWN["microsoft/Phi-3-mini-4k-instruct"])
    assert not ok and "tokenizers differ" in why


def test_unknown_hub_model_message():
    with pytest.raises(ValueError, match="not in lantern_nb.plan.KNOWN"):
        plan.resolve("org/unknown-model")


def test_memory_full_is_16_bytes_per_param():
    a = plan.Arch(1e9, 1024, 10, 1000, "x", 1000)
    m = plan.train_memory_gb(a, 1, 1, "full")
    assert (m["weights"] + m["grads"] + m["optimizer"]) * 1024 ** 3 == pytest.approx(16e9)


def test_check_stops_paper_profile_without_cuda_and_passes_cpu(capsys, monkeypatch):
    import torch

    from lantern_nb import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.main(["check", "--profile", "paper"]) == 2
    out = capsys.readouterr().out
    assert "needs a CUDA GPU" in out and "DRY_RUN=1" in out
    assert cli.main(["check", "--profile", "cpu"]) == 0
    assert "profile cpu: ok" in capsys.readouterr().out
