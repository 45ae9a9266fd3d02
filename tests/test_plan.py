import pytest

from lantern_nb import plan
from lantern_nb.profiles import load_profile


def test_paper_plan_resolves_every_role_and_vocab():
    tables = plan.plan(load_profile("paper"))
    assert len(tables["roles"]) == 11
    assert tables["kd"]["ok"].all()
    assert "151,936" in tables["kd"]["detail"].iloc[0]
    runs = tables["runs"]
    sft = runs[runs.run == "SFT Qwen2.5-7B-Instruct"]
    assert len(sft) == 1 and sft["method"].item() == "full"  # only the profile's method, as the code runs it
    assert sft["fits"].item() and sft["launch"].item() == "accelerate launch (FSDP) on 8 GPUs"
    totals = tables["totals"]
    assert totals["gpus"] == 8 and totals["fits"] is True and 0 < totals["total_wall_hours"] <= 96
    assert (runs["total GB"] <= 72).all()
    assert totals["t1_api_hours"] > 0  # the openai T1 labels every pair through the API
    assert totals["total_gpu_hours"] == pytest.approx(runs["GPU-hours"].sum(), abs=0.1)
    assert totals["total_wall_hours"] == pytest.approx(runs["wall-hours"].sum() + totals["t1_api_hours"], abs=0.1)


def test_unsharded_7b_sft_does_not_fit_and_names_the_launcher():
    runs = plan.plan(load_profile("paper", **{"hardware.launcher": "ddp"}))["runs"]
    sft = runs[runs.run == "SFT Qwen2.5-7B-Instruct"]
    assert sft["total GB"].item() > 80 and not sft["fits"].item()
    assert sft["launch"].item() == "does not fit one 80 GB GPU: set hardware.launcher: fsdp"
    sharded = plan.plan(load_profile("paper"))["runs"]
    one = sharded[sharded.run == "SFT Qwen2.5-7B-Instruct"].iloc[0]
    # FSDP over 8 GPUs divides weights, gradients and AdamW state, not activations or logits
    assert one["weights GB"] == pytest.approx(sft["weights GB"].item() / 8, abs=0.1)
    assert one["activations GB"] == sft["activations GB"].item()


def test_a_cached_t2_removes_the_teacher_forward_from_the_t2_runs_only():
    in_process = {"hardware.launch_steps": ["sft"]}  # KD in the notebook's process, where the cache is shared
    cached = plan.plan(load_profile("paper", **in_process))["runs"].set_index("run")
    live = plan.plan(load_profile("paper", **in_process, **{"kd.teacher_cache_gb": 0.0}))["runs"].set_index("run")
    cache_rows = [r for r in cached.index if r.startswith("T2 hidden-state cache")]
    assert len(cache_rows) == 1 and not any(r.startswith("T2 hidden-state cache") for r in live.index)
    assert cached.loc["KD js (1.5B)", "GPU-hours"] < live.loc["KD js (1.5B)", "GPU-hours"]
    assert cached.loc["KD path teacher -> 3B (3B)", "GPU-hours"] < live.loc["KD path teacher -> 3B (3B)", "GPU-hours"]
    for run in ("KD SFT-only (1.5B)", "KD path teacher -> 3B -> 1.5B (1.5B)", "KD SCD (1.5B)"):
        assert cached.loc[run, "GPU-hours"] == live.loc[run, "GPU-hours"]


def test_launched_steps_are_planned_as_launched_and_kd_runs_its_teacher_live():
    runs = plan.plan(load_profile("paper"))["runs"].set_index("run")
    for run in ("KD js (1.5B)", "KD SCD (1.5B)", "classifier Phi3-mini / seqcls_last", "JD summarizer SFT"):
        assert runs.loc[run, "launch"] == "accelerate launch (FSDP) on 8 GPUs"
    assert runs.loc["KD on-policy (1.5B)", "launch"] == "one process, DataParallel on 8 GPUs"  # beyond rows stay
    assert not any(r.startswith("T2 hidden-state cache") for r in runs.index)
    live = plan.plan(load_profile("paper", **{"kd.teacher_cache_gb": 0.0}))["runs"].set_index("run")
    assert runs.loc["KD js (1.5B)", "GPU-hours"] == live.loc["KD js (1.5B)", "GPU-hours"]
    one = plan.plan(load_profile("paper", **{"hardware.launch_steps": ["sft"]}))["runs"].set_index("run")
    assert one.loc["JD summarizer SFT", "launch"] == "one process, DataParallel on 8 GPUs"


def test_gpu_profile_fits_one_80gb_gpu_in_12_hours():
    tables = plan.plan(load_profile("gpu"))
    runs, totals = tables["runs"], tables["totals"]
    assert totals["gpus"] == 1 and totals["fits"] is True
    assert 0 < totals["total_wall_hours"] <= 12
    assert totals["total_wall_hours"] == pytest.approx(runs["wall-hours"].sum() + totals["t1_api_hours"], abs=0.1)
    assert (runs["total GB"] <= 72).all() and (runs["count"] >= 1).all()
    sft = runs[runs.run == "SFT Qwen2.5-7B-Instruct"]
    assert sft["method"].item() == "qlora" and sft["total GB"].item() < 20
    assert {"T2 labels D_cls", "JD summarizer SFT"} <= set(runs.run)
    assert totals["disk_gb"] > 0


def test_kd_runs_count_each_distinct_run_once():
    cfg = load_profile("paper")
    runs = plan.kd_runs(cfg)
    names = [r for _, r, _ in runs]
    assert len(names) == len(set(names))
    k = cfg.kd
    assert sum(nb == "04" and not r.startswith(("top-", "on-policy")) for nb, r, _ in runs) == \
        1 + len(k.divergences) + len(k.extra_divergences)
    paths = [r for r in names if r.startswith("path ")]
    assert "path teacher -> 1.5B" not in paths  # Table 1's JS row
    assert paths.count("path teacher -> 3B") == 1  # the shared first stage of two paths
    assert "SCD" in names and "SCD + adaptive weighting" in names


def test_memory_follows_checkpointing_chunked_logits_and_frozen_last_position():
    a = plan.Arch(1e9, 1024, 10, 100_000, "x", 100_000)
    plain = plan.train_memory_gb(a, 1000, 2, "full", checkpointing=False)
    ckpt = plan.train_memory_gb(a, 1000, 2, "full", checkpointing=True)
    assert ckpt["activations"] < plain["activations"]
    chunk = plan.train_memory_gb(a, 1000, 2, "full", logit_rows=100)
    assert chunk["logits"] * 1024 ** 3 == pytest.approx(100 * 100_000 * 4 * 2)
    frozen = plan.train_memory_gb(a, 1000, 2, frozen=True)
    assert frozen["logits"] * 1024 ** 3 == pytest.approx(2 * 100_000 * 4)
    assert frozen["grads"] == frozen["optimizer"] == 0


def test_generation_is_memory_bound_at_small_batch():
    a = plan.Arch(7e9, 4096, 32, 150_000, "x", 150_000)
    hw = plan.Hardware()
    one = plan.generation_hours(a, rows=1, new_tokens=100, prompt_tokens=0, batch=1, hw=hw)
    assert one * 3600 == pytest.approx(100 * 2 * 7e9 / (hw.hbm_tb_s * 1e12))
    assert plan.generation_hours(a, rows=64, new_tokens=100, prompt_tokens=0, batch=64, hw=hw) < 64 * one


def test_plan_cli_json_has_the_totals(capsys):
    import json

    from lantern_nb import cli

    assert cli.main(["plan", "--profile", "gpu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"total_gpu_hours", "total_wall_hours", "gpus", "disk_gb"} <= set(out["totals"])
    assert out["runs"] and all("GPU-hours" in r for r in out["runs"])


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
    assert "needs a CUDA GPU (8 x 80 GB)" in out and "DRY_RUN=1" in out
    assert cli.main(["check", "--profile", "gpu"]) == 2
    assert "gpu profile needs a CUDA GPU (one 80 GB GPU)" in capsys.readouterr().out
    assert cli.main(["check", "--profile", "cpu"]) == 0
    assert "profile cpu: ok" in capsys.readouterr().out
