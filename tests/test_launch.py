"""`python -m lantern_nb train {sft,kd}`: training steps as commands, and two CPU processes under
`accelerate launch --multi_gpu --num_processes 2` (gloo DDP) matching one process with the same global batch."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lantern_nb.launch import parse_sets


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


@pytest.mark.skipif(shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None,
                    reason="the accelerate launcher is not installed next to this Python")
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

    with pytest.raises(ValueError, match="choose one of sft, kd"):
        run_step("classifier", "smoke")
    with pytest.raises(ValueError, match="use group_by_length"):
        run_step("kd", "smoke", sampling="shuffled")
