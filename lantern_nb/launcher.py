"""The notebooks' launcher: their training steps (T2's SFT, every KD stage, the classifier cells, the JD
summarizer) as subprocesses under `accelerate launch`, one process per GPU.

`launcher(cfg, step=...)` says whether to (hardware.launcher: ddp or fsdp, or auto with more than one GPU
visible; only the steps of hardware.launch_steps);
`launched_train` runs `accelerate launch --config_file lantern_nb/launchers/<ddp|fsdp>.yaml -m lantern_nb
train STEP ...` (`lantern_nb.launch`) while the notebook itself, and every paid T1 call, stays one process
(launching papermill itself would run each notebook once per GPU). On a machine without CUDA the processes
use gloo; accelerate 1.15 has no FSDP for CPU processes, so there the fsdp config trains as DDP.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

LAUNCHERS = Path(__file__).with_name("launchers")
STEPS = ("sft", "kd", "classifier", "summarizer")


class LaunchError(RuntimeError):
    """A launched training step failed; the message holds the command, its exit status and last lines."""


def launcher(cfg: Any, gpus: int | None = None, step: str = "sft") -> str | None:
    """How the notebooks start training step `step` (sft | kd | classifier | summarizer): None (in their
    own process), "ddp" or "fsdp" (`launched_train`).

    Only the steps listed in hardware.launch_steps are ever launched. hardware.launcher `auto` launches
    DDP when more than one GPU is visible (`gpus`, default the CUDA devices here; the planner passes
    hardware.gpus), one process per GPU instead of the Trainer's single-process DataParallel, except
    T2's SFT under QLoRA (its 4-bit base trains on one GPU); `none`, `ddp` and `fsdp` say it outright."""
    import torch

    if step not in STEPS:
        raise ValueError(f"launcher: unknown training step {step!r}; choose one of {', '.join(STEPS)}")
    mode = cfg.hardware.launcher
    if mode == "none" or step not in cfg.hardware.launch_steps:
        return None
    if mode in ("ddp", "fsdp"):
        return mode
    if step == "sft" and cfg.sft.method == "qlora":
        return None
    if gpus is None:
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return "ddp" if gpus > 1 else None


def set_args(overrides: dict[str, Any]) -> list[str]:
    """A notebook's OVERRIDES (dotted, `section__key` or nested) as `--set section.key=value` arguments."""
    import yaml

    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        if isinstance(value, dict) and "." not in key and "__" not in key:
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key.replace("__", ".")] = value
    out = []
    for key, value in flat.items():
        text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
        out += ["--set", f"{key}={text.removesuffix('...').strip()}"]
    return out


def process_count(cfg: Any) -> int:
    """Processes a launch starts: one per visible CUDA GPU, else hardware.gpus (gloo processes on CPU)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else cfg.hardware.gpus


def launch_command(cfg: Any, step: str, mode: str, out_dir: Path, overrides: dict[str, Any] | None = None,
                   num_processes: int | None = None, extra: Sequence[str] = ()) -> list[str]:
    """The `accelerate launch` command line of training step `step` under launcher `mode` (ddp | fsdp).

    One process per visible GPU (else `hardware.gpus`, or `num_processes`); without CUDA the processes
    use gloo and no mixed precision (the CPU rehearsal of the GPU path)."""
    import shutil
    import sys

    import torch

    if mode not in ("ddp", "fsdp"):
        raise ValueError(f"launcher {mode!r}: use ddp or fsdp (hardware.launcher)")
    exe = Path(sys.executable).parent / "accelerate"
    if not exe.exists():
        found = shutil.which("accelerate")
        if found is None:
            raise LaunchError("the accelerate launcher is not installed next to this Python: `pip install "
                              "accelerate==1.15.0` (make setup installs it), or set hardware.launcher: none")
        exe = Path(found)
    cuda = torch.cuda.is_available()
    n = num_processes or process_count(cfg)
    cmd = [str(exe), "launch", "--config_file", str(LAUNCHERS / f"{mode}.yaml"), "--num_processes", str(n)]
    if not cuda:
        cmd += ["--mixed_precision", "no"]
    cmd += ["-m", "lantern_nb", "train", step, "--profile", cfg.name, *set_args(overrides or {}),
            "--out", str(out_dir), *extra]
    return cmd


def launched_train(cfg: Any, step: str, mode: str, out_dir: Path, overrides: dict[str, Any] | None = None,
                   num_processes: int | None = None, extra: Sequence[str] = ()) -> dict[str, Any]:
    """Run `launch_command(...)` as a subprocess, its output streamed to this process (the notebook), and
    return rank 0's result.json (with the log history). A failure raises `LaunchError` with the
    command, the exit status and the last lines, and leaves nothing behind as if it had finished."""
    import subprocess
    from collections import deque

    from lantern_nb import artifacts

    out_dir = Path(out_dir)
    result_path = out_dir / "result.json"
    result_path.unlink(missing_ok=True)
    cmd = launch_command(cfg, step, mode, out_dir, overrides, num_processes, extra)
    env = {**os.environ, "LANTERN_ROOT": str(artifacts.repo_root()), "TOKENIZERS_PARALLELISM": "false"}
    tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip("\n"))
            print(line, end="", flush=True)
        rc = proc.wait()
    if rc != 0 or not result_path.exists():
        raise LaunchError(f"`{' '.join(cmd)}` exited with status {rc}"
                          f"{'' if result_path.exists() else ' without writing ' + str(result_path)}; last lines:\n"
                          + "\n".join(tail) + "\nFix the cause above, or train in this process with "
                          "hardware.launcher: none.")
    return json.loads(result_path.read_text())


def load_launched(final: Path, device: Any, dtype: Any = None) -> Any:
    """The causal LM a launched run saved at `final` (rank 0, gathered from any shards), on `device`."""
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": dtype} if dtype is not None else {}
    return AutoModelForCausalLM.from_pretrained(final, **kwargs).to(device)


def train_result(result: dict[str, Any], model: Any, checkpoints: Sequence[Path] = ()) -> Any:
    """A launched run's `train.TrainResult` in the notebook's process: the model loaded back and rank 0's
    result.json (loss log, steps, seconds)."""
    from lantern_nb.train import TrainResult

    return TrainResult(model=model, log_history=result["log_history"], checkpoints=list(checkpoints),
                       steps=result["steps"], seconds=result["seconds"])
