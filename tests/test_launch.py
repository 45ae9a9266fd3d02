"""`python -m lantern_nb train {sft,kd,classifier,summarizer}`: training steps as commands; two CPU processes
under `accelerate launch --multi_gpu --num_processes 2` (gloo DDP) matching one process with the same global
batch; the notebooks' launcher (T2's SFT as a subprocess under the shipped DDP / FSDP configs) and the
sharded-model path of the SFT objective."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lantern_nb.launch import parse_sets

_ACCELERATE = pytest.mark.skipif(shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None,
                                 reason="the accelerate launcher is not installed next to this Python")


def test_parse_sets_reads_yaml_values_and_names_the_fix():
    assert parse_sets(["kd.max_steps=2", "sft.lr=1e-4", "kd.divergences=[js, tvd]", "kd.scd=false"]) == {
        "kd.max_steps": 2, "sft.lr": 1e-4, "kd.divergences": ["js", "tvd"], "kd.scd": False}
    with pytest.raises(ValueError, match="expected section.key=value, e.g. --set kd.max_steps=2"):
        parse_sets(["kd.max_steps"])


def _last_json(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"world_size"' in line]


@pytest.fixture
def smoke_copy(smoke_root, tmp_path):
    """The session's smoke build (D_seed, T2) copied, so launched runs never write into it."""
    shutil.copytree(Path(smoke_root) / "data", tmp_path / "data")
    return tmp_path


def _run(cmd: list[str], root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LANTERN_ROOT": str(root), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@_ACCELERATE
def test_two_process_kd_step_matches_one_process_with_the_same_global_batch(smoke_copy):
    common = ["train", "kd", "--profile", "smoke", "--sampling", "random", "--set", "kd.max_steps=1",
              "--set", "kd.grad_accum=1"]
    one = _run([sys.executable, "-m", "lantern_nb", *common, "--set", "kd.batch_size=4",
                "--out", str(smoke_copy / "one")], smoke_copy)
    assert one.returncode == 0, one.stderr[-3000:]
    launcher = str(Path(sys.executable).parent / "accelerate")
    # accelerate 1.15 runs `--cpu` as one process; `--multi_gpu` starts torch.distributed.run, which on a
    # machine without CUDA gives two gloo processes
    two = _run([launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                "--dynamo_backend", "no", "-m", "lantern_nb", *common, "--set", "kd.batch_size=2",
                "--out", str(smoke_copy / "two")], smoke_copy)
    assert two.returncode == 0, two.stderr[-3000:]
    (single,) = _last_json(one.stdout)
    ranks = {r["rank"]: r for r in _last_json(two.stdout)}
    assert single["world_size"] == 1 and set(ranks) == {0, 1} and ranks[0]["world_size"] == 2
    assert single["steps"] == ranks[0]["steps"] == 1
    assert ranks[0]["first_loss"] == pytest.approx(single["first_loss"], rel=1e-4)
    assert json.loads((smoke_copy / "two" / "result.json").read_text())["rank"] == 0  # only rank 0 writes


def test_train_step_errors_name_the_choices(tmp_root):
    from lantern_nb.launch import run_step

    with pytest.raises(ValueError, match="choose one of sft, kd, classifier, summarizer"):
        run_step("dpo", "smoke")
    with pytest.raises(ValueError, match="use group_by_length"):
        run_step("kd", "smoke", sampling="shuffled")


def test_overrides_of_and_set_args_round_trip_a_notebooks_overrides():
    from lantern_nb.launcher import set_args
    from lantern_nb.profiles import load_profile, overrides_of

    given = {"sft.lr": 0.01, "kd__divergences": ["js", "tvd"], "hardware": {"launcher": "fsdp", "gpus": 2},
             "models.teacher_candidates": {"Qwen2.5-7B-Instruct": "tiny-qwen2:h32-l2"}}
    cfg = load_profile("smoke", **given)
    ov = overrides_of(cfg)
    assert set(ov) == {"sft.lr", "kd.divergences", "hardware.launcher", "hardware.gpus", "models.teacher_candidates"}
    assert load_profile("smoke", **ov) == cfg
    args = set_args(given)
    assert args[::2] == ["--set"] * (len(args) // 2)
    assert load_profile("smoke", **parse_sets(args[1::2])) == cfg
    assert overrides_of(load_profile("smoke")) == {}


def test_launcher_follows_the_profile_and_the_visible_gpus(monkeypatch):
    import torch

    from lantern_nb.launcher import launcher
    from lantern_nb.profiles import load_profile

    assert launcher(load_profile("smoke")) is None  # auto without CUDA: in-process
    for mode, want in (("none", None), ("ddp", "ddp"), ("fsdp", "fsdp")):
        assert launcher(load_profile("smoke", **{"hardware.launcher": mode})) == want
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    assert launcher(load_profile("smoke")) == "ddp"  # auto with 8 GPUs: one process per GPU
    assert launcher(load_profile("smoke", **{"sft.method": "qlora"})) is None  # a 4-bit base trains on one GPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert launcher(load_profile("smoke")) is None


@_ACCELERATE
def test_launch_command_uses_the_shipped_config_and_passes_the_profile_back(tmp_path):
    from accelerate.commands.config.config_args import load_config_from_file

    from lantern_nb.launcher import LAUNCHERS, launch_command
    from lantern_nb.profiles import load_profile

    cfg = load_profile("paper", **{"hardware.gpus": 4})
    cmd = launch_command(cfg, "sft", "fsdp", tmp_path, {"sft.lr": 1e-5}, extra=["--save-model"])
    assert cmd[1:5] == ["launch", "--config_file", str(LAUNCHERS / "fsdp.yaml"), "--num_processes"]
    assert cmd[5] == "4" and "--mixed_precision" in cmd  # no CUDA here: gloo processes, no bf16
    assert cmd[cmd.index("-m"):cmd.index("-m") + 6] == ["-m", "lantern_nb", "train", "sft", "--profile", "paper"]
    assert "sft.lr=1.0e-05" in cmd and cmd[-1] == "--save-model"
    fsdp = load_config_from_file(str(LAUNCHERS / "fsdp.yaml"))
    assert fsdp.distributed_type == "FSDP" and fsdp.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert load_config_from_file(str(LAUNCHERS / "ddp.yaml")).distributed_type == "MULTI_GPU"
    with pytest.raises(ValueError, match="use ddp or fsdp"):
        launch_command(cfg, "sft", "deepspeed", tmp_path)


@_ACCELERATE
def test_notebook_sft_launched_in_two_processes_hands_back_model_checkpoints_and_log(smoke_copy, monkeypatch):
    """finetune_teacher under hardware.launcher ddp: `accelerate launch` runs `train sft` in two gloo
    processes (on a CPU machine accelerate 1.15 has no FSDP, so the fsdp config also runs DDP here; the
    sharded objective is tested below), and the notebook process gets the trained model back."""
    import torch

    from lantern_nb import model_specs, sft
    from lantern_nb.profiles import load_profile

    monkeypatch.setenv("LANTERN_ROOT", str(smoke_copy))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = load_profile("smoke", **{"hardware.launcher": "ddp", "hardware.gpus": 2, "sft.max_steps": 2})
    tok = model_specs.get_tokenizer(cfg)
    res = sft._launched_candidate(cfg, cfg.models.teacher, tok, smoke_copy / "launched", "ddp")
    result = json.loads((smoke_copy / "launched" / "result.json").read_text())
    assert result["world_size"] == 2 and result["rank"] == 0 and res.steps == 2
    assert [c.name for c in res.checkpoints] == ["checkpoint-1", "checkpoint-2"]
    assert [r["step"] for r in res.log_history if "loss" in r] == [1, 2]
    start = sft._start_model(cfg, cfg.models.teacher_candidates[cfg.models.teacher], tok, "full")
    moved = [not torch.equal(a, b) for a, b in zip(start.state_dict().values(), res.model.state_dict().values())]
    assert any(moved)


@_ACCELERATE
def test_a_failed_launch_names_the_command_the_status_and_the_fix(smoke_copy, monkeypatch):
    from lantern_nb.launcher import LaunchError, launched_train
    from lantern_nb.profiles import load_profile

    monkeypatch.setenv("LANTERN_ROOT", str(smoke_copy))
    cfg = load_profile("smoke", **{"hardware.gpus": 1})
    with pytest.raises(LaunchError, match=r"(?s)exited with status [1-9].*sft\.lr.*hardware\.launcher: none"):
        launched_train(cfg, "sft", "ddp", smoke_copy / "bad", {"sft.lr": -1.0})
    assert not (smoke_copy / "bad" / "result.json").exists()


def test_sft_and_kd_objectives_on_an_fsdp2_student_in_two_processes_equal_one_unsharded_model():
    """Two gloo ranks, each with half of the batch, an FSDP2 student sharded as accelerate shards it (the final
    norm and lm_head unsharded from forward to backward): the fused, row-chunked SFT and JS-KD losses and
    every gradient equal one unsharded float64 model's on the whole batch."""
    script = Path(__file__).parent / "fixtures" / "fsdp2_ranks.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           "29617", str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (out,) = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    for name in ("sft", "kd_js"):
        assert out[name]["loss"] == pytest.approx(out[name]["ref_loss"], rel=1e-12)
        assert out[name]["max_grad_diff"] < 1e-12


def test_a_sharded_lm_head_is_refused_with_the_fix():
    """An lm_head resharded after the forward (FSDP2 without accelerate's unsharded tail) is a DTensor shard:
    the fused losses would apply a shard, so lm_head_weight stops and names the fix."""
    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from lantern_nb.train import decoder_hidden, lm_head_weight

    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:29611", rank=0, world_size=1)
    try:
        conf = Qwen2Config(vocab_size=96, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                           num_key_value_heads=1, intermediate_size=64, tie_word_embeddings=False)
        model = Qwen2ForCausalLM(conf)
        fully_shard(model.model.layers[0])
        fully_shard(model, reshard_after_forward=True)
        ids = torch.randint(0, 96, (1, 5))
        decoder_hidden(model, ids, torch.ones_like(ids))
        with pytest.raises(RuntimeError, match="use FSDP2.*hardware.launcher: ddp"):
            lm_head_weight(model)
    finally:
        dist.destroy_process_group()


def test_classifier_and_summarizer_steps_train_from_the_profiles_data(smoke_copy, monkeypatch):
    from lantern_nb.launch import run_step

    monkeypatch.setenv("LANTERN_ROOT", str(smoke_copy))
    cls = run_step("classifier", "smoke", {"classifier.epochs": 1}, out_dir=smoke_copy / "cls", save_model=True,
                   cell="ModernBERT-large/seqcls_last")
    assert cls["what"] == "ModernBERT-large/seqcls_last" and cls["world_size"] == 1 and cls["steps"] > 0
    assert cls["loss"] > 0 and (smoke_copy / "cls" / "final").is_dir()
    saved = json.loads((smoke_copy / "cls" / "result.json").read_text())
    assert saved["loss"] == cls["loss"] and saved["log_history"]
    with pytest.raises(ValueError, match="expected BACKBONE/STRUCTURE"):
        run_step("classifier", "smoke", cell="MiniLM-L6")
    summ = run_step("summarizer", "smoke", {"summarizer.epochs": 1}, out_dir=smoke_copy / "summ")
    assert summ["steps"] > 0 and summ["loss"] > 0 and "rougeL" not in summ  # training only; the notebook scores
    assert not (smoke_copy / "summ" / "final").exists()  # only with --save-model


def test_launch_steps_choose_which_steps_a_launcher_starts(monkeypatch):
    import torch

    from lantern_nb.launcher import launcher
    from lantern_nb.profiles import ProfileError, load_profile

    cfg = load_profile("smoke", **{"hardware.launcher": "fsdp", "hardware.launch_steps": ["sft", "kd"]})
    assert [launcher(cfg, step=s) for s in ("sft", "kd", "classifier", "summarizer")] == ["fsdp", "fsdp", None, None]
    with pytest.raises(ValueError, match="unknown training step 'eval'"):
        launcher(cfg, step="eval")
    with pytest.raises(ProfileError, match="hardware.launch_steps"):
        load_profile("smoke", **{"hardware.launch_steps": ["kd", "serving"]})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    qlora = load_profile("smoke", **{"sft.method": "qlora"})
    assert launcher(qlora, step="sft") is None and launcher(qlora, step="kd") == "ddp"  # only the 4-bit SFT stays


def test_each_launched_process_puts_its_models_on_its_own_gpu(monkeypatch):
    """Under `accelerate launch` every rank sees all GPUs; a teacher moved to "cuda" before the Trainer
    starts would land on GPU 0 in every process. pick_device gives the rank's own and makes it current."""
    import torch

    from lantern_nb.model_specs import pick_device

    current = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert pick_device("auto") == torch.device("cuda") and current == []
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert pick_device("cuda") == torch.device("cuda", 3) and current == [torch.device("cuda", 3)]


@_ACCELERATE
def test_notebook_kd_stages_launched_in_two_processes_train_score_and_cache(smoke_copy, monkeypatch):
    """Table 1 / Table 2 / SCD stages under hardware.launcher ddp: each trains as `train kd` in two gloo
    processes (T2, a saved intermediate, or T2's checkpoints as teachers), comes back as a saved student,
    is scored here and cached like an in-process run."""
    from lantern_nb import launcher
    from lantern_nb.kd import paths, runs
    from lantern_nb.profiles import load_profile

    monkeypatch.setenv("LANTERN_ROOT", str(smoke_copy))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    launches = []
    real = launcher.launched_train
    monkeypatch.setattr(launcher, "launched_train", lambda *a, **k: launches.append(real(*a, **k)) or launches[-1])
    cfg = load_profile("smoke", **{"hardware.launcher": "ddp", "hardware.gpus": 2, "kd.max_steps": 2})
    ctx = runs.kd_context(cfg)
    assert runs.stage_launcher(ctx) == "ddp"
    js = runs.run_stage(ctx, "teacher-1.5B.js", "1.5B", "js")
    assert [r["world_size"] for r in launches] == [2] and not (js.dir / "trainer").exists()
    assert not js.cached and js.metrics["steps"] == 2 and (js.model_dir / "config.json").exists()
    assert 0 <= js.metrics["rougeL"] <= 1 and [s for s, _ in js.metrics["curve"]] == [1, 2]
    assert runs.run_stage(ctx, "teacher-1.5B.js", "1.5B", "js").cached
    second = runs.run_stage(ctx, "teacher-1.5B-0.5B.js", "0.5B", "js", teacher=js)
    assert not second.cached and second.metrics["teacher"] == js.name and second.metrics["steps"] == 2
    aw = paths.run_scd(cfg, ctx, adaptive=True)
    assert aw.metrics["scd_boundaries"] and len(aw.metrics["scd_phases"]) == 2 and len(aw.metrics["aw_trace"]) == 2
    assert [r["world_size"] for r in launches] == [2, 2, 2] and "SCD + AW" in launches[-1]["what"]
    # Table 1's uncached rows in one launch, picked up by run_stage without another
    assert runs.launch_together(ctx, "1.5B", ["sft", "js", "fkl"]) == ["sft", "fkl"]
    assert len(launches) == 4 and launches[-1]["kinds"] == ["sft", "fkl"] and launches[-1]["world_size"] == 2
    sft_row, fkl = (runs.run_stage(ctx, f"x.{k}", "1.5B", k) for k in ("sft", "fkl"))
    assert len(launches) == 4 and not sft_row.cached and not fkl.cached and fkl.metrics["steps"] == 2
    assert sft_row.metrics["teacher"] is None and (fkl.model_dir / "config.json").exists()
    assert not list((ctx.root / "_launched").glob("*/fkl"))  # picked-up results are not kept twice
    in_process = load_profile("smoke", **{"kd.max_steps": 2})
    assert runs.stage_launcher(runs.kd_context(in_process)) is None


@_ACCELERATE
def test_notebook_classifier_cell_and_summarizer_launched_in_two_processes(smoke_copy, monkeypatch):
    from lantern_nb import classify, launcher, summarizer
    from lantern_nb.profiles import load_profile

    monkeypatch.setenv("LANTERN_ROOT", str(smoke_copy))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    launches = []
    real = launcher.launched_train
    monkeypatch.setattr(launcher, "launched_train", lambda *a, **k: launches.append(real(*a, **k)) or launches[-1])
    cfg = load_profile("smoke", **{"hardware.launcher": "ddp", "hardware.gpus": 2, "classifier.epochs": 1,
                                   "summarizer.epochs": 1})
    rows = classify.d_cls_rows(cfg)
    run, res = classify.train_classifier(cfg, "MiniLM-L6", "seqcls_mean", rows, False, launch=True,
                                         output_dir=smoke_copy / "cell")
    assert run.steps == res.steps > 0 and run.n_train == min(len(rows), cfg.classifier.max_train_pairs.get("MiniLM-L6", 0)
                                                             or len(rows))
    assert run.backbone.init and not run.use_compressed and not (smoke_copy / "cell").exists()
    ev = classify.eval_set(cfg)
    m = classify.evaluate_classifier(run, ev.jobs(False), ev.resumes, ev.t2_labels)
    assert 0 <= m["f1_weighted"] <= 1
    summ, metrics = summarizer.train_summarizer(cfg, work_dir=smoke_copy / "summ", save_to=None)
    assert metrics["steps"] > 0 and 0 <= metrics["rougeL"] <= 1 and not (smoke_copy / "summ").exists()
    assert [(r["step"], r["world_size"]) for r in launches] == [("classifier", 2), ("summarizer", 2)]
    assert launches[0]["input"] == "full" and launches[0]["what"] == "MiniLM-L6/seqcls_mean"
