"""`python -m lantern_nb <command>`: the package's command line.

Each command's arguments are declared here; its work lives in the module named after the
paper's concept and is imported only when the command runs (fast `--help`).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable, Sequence

from lantern_nb.profiles import PROFILES


def _lazy(target: str) -> Callable[[argparse.Namespace], int | None]:
    module, func = target.split(":")

    def run(args: argparse.Namespace) -> int | None:
        return getattr(importlib.import_module(module), func)(args)

    return run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lantern_nb", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("data", help="generate or load the corpus; print counts, label balance, lengths")
    c.add_argument("--profile", default="cpu", choices=PROFILES)
    c.add_argument("--force", action="store_true", help="regenerate even if the corpus exists")
    c.set_defaults(func=_lazy("lantern_nb.data:cli_data"))

    c = sub.add_parser("compress", help="print the requirement specification extracted from a job ad")
    c.add_argument("job_file")
    c.set_defaults(func=_lazy("lantern_nb.compress:cli_compress"))

    c = sub.add_parser("teach", help="label one job/résumé pair with teacher T1")
    c.add_argument("--job", required=True, dest="job_file", help="job ad text file")
    c.add_argument("--resume", required=True, dest="resume_file", help="résumé text file")
    c.add_argument("--backend", choices=("rubric", "hf", "openai"), default="rubric")
    c.add_argument("--profile", default="cpu", choices=PROFILES, help="run profile supplying backend settings")
    c.add_argument("--json", action="store_true", help="print exactly the output-schema JSON")
    c.set_defaults(func=_lazy("lantern_nb.teachers.factory:cli_teach"))

    c = sub.add_parser("bench-kd", help="one forward+backward of the KD loss, naive vs chunked")
    c.add_argument("--impl", choices=("naive", "chunked"), required=True)
    c.add_argument("--divergence", default="fkl")
    c.add_argument("--vocab", type=int, default=151936)
    c.add_argument("--hidden", type=int, default=896)
    c.add_argument("--tokens", type=int, default=2048)
    c.add_argument("--chunk-size", type=int, default=1024)
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(func=_lazy("lantern_nb.kd.bench:cli_bench"))

    c = sub.add_parser("serve", help="start the three-module service (FastAPI + uvicorn)")
    c.add_argument("--profile", default="cpu", choices=PROFILES)
    c.add_argument("--host", default="127.0.0.1")
    c.add_argument("--port", type=int, default=8000)
    c.set_defaults(func=_lazy("lantern_nb.serving.cli:cli_serve"))

    c = sub.add_parser("fit", help="label (and explain) one pair in-process with the served models")
    c.add_argument("--job", required=True, dest="job_file", help="job ad text file")
    c.add_argument("--resume", required=True, dest="resume_file", help="résumé text file")
    c.add_argument("--profile", default="cpu", choices=PROFILES, help="run profile whose trained models serve the pair")
    c.add_argument("--explain", action="store_true")
    c.set_defaults(func=_lazy("lantern_nb.serving.cli:cli_fit"))

    c = sub.add_parser("base-models", help="build the committed upstream base models under data/base/ (hours on 2 cores)")
    c.add_argument("--only", nargs="*", help="rebuild these models even when up to date")
    c.add_argument("--models", nargs="*", help="build only these models (when missing or stale)")
    c.add_argument("--check", nargs="*", help="build nothing: score these committed models on the "
                   "'does this résumé show X' reading task over documents upstream never saw")
    c.add_argument("--check-n", type=int, default=40, help="résumés asked by --check")
    c.set_defaults(func=_lazy("lantern_nb.base_models:cli_base_models"))

    c = sub.add_parser("beyond", help="train and score the Table 1 rows beyond the paper (make beyond)")
    c.add_argument("--profile", default="cpu")
    c.set_defaults(func=_lazy("lantern_nb.notebook:cli_beyond"))

    c = sub.add_parser("train", help="one training step of the pipeline (sft, kd, classifier, summarizer) from "
                                      "data/<profile>/; accelerate-launchable")
    c.add_argument("step", choices=("sft", "kd", "classifier", "summarizer"))
    c.add_argument("--profile", default="cpu", choices=PROFILES)
    c.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="profile override (repeatable)")
    c.add_argument("--kind", default=None, help="kd: the divergence (default: kd.path_divergence)")
    c.add_argument("--sampling", default="group_by_length", choices=("group_by_length", "random"),
                   help="batch order: length-grouped as the notebooks, or random (same global batches on any world size)")
    c.add_argument("--out", default=None, help="output folder (default: build/<profile>/launch/<step>)")
    c.add_argument("--save-model", action="store_true", help="also save the trained model to <out>/final")
    c.add_argument("--cell", default=None, help="classifier: BACKBONE/STRUCTURE (default: classifier.baseline)")
    c.add_argument("--full-input", action="store_true", help="classifier: the full job text (default: compressed)")
    c.add_argument("--student", default=None, help="kd: the student size, a key of models.students (default: kd.student)")
    c.add_argument("--teacher-dir", default=None, help="kd: a saved student to distil from (a multi-stage path's "
                                                       "intermediate; default: T2)")
    c.add_argument("--scd", action="store_true", help="kd: Scheduled Checkpoint Distillation over T2's SFT checkpoints")
    c.add_argument("--aw", action="store_true", help="kd: with SCD's Adaptive Weighting (kd.aw_tau)")
    c.set_defaults(func=_lazy("lantern_nb.launch:cli_train"))

    c = sub.add_parser("plan", help="dry-run a profile: every run with its count, memory, GPU- and wall-hours, disk; totals")
    c.add_argument("--profile", default="paper", choices=PROFILES)
    c.add_argument("--json", action="store_true", help="print the runs and totals as JSON")
    c.set_defaults(func=_lazy("lantern_nb.plan:cli_plan"))

    c = sub.add_parser("gpu-check", help="on a CUDA box: one step of each GPU-heavy kind at the paper models' sizes "
                                         "(random weights), peak memory and tokens/s beside the plan (make gpu-check)")
    c.add_argument("--profile", default="gpu", choices=PROFILES)
    c.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="cpu: run anyway (tests, with --shrink)")
    c.add_argument("--shrink", action="store_true", help="two layers of width 64 per config (the vocabulary kept)")
    c.add_argument("--seq", type=int, default=None, help="tokens per sequence (default: the profile's max_length)")
    c.add_argument("--batch", type=int, default=None, help="sequences per step (default: the profile's batch_size)")
    c.add_argument("--only", default=None, help="comma-separated subset of: sft,kd,kd_naive,classifier,label")
    c.add_argument("--work", default=None, help="scratch folder for the saved random T2 (default: a temp dir)")
    c.add_argument("--out", default=None, help="JSON results (default: build/gpu-check/<profile>.json)")
    c.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="profile override (repeatable)")
    c.set_defaults(func=_lazy("lantern_nb.gpu_check:cli_gpu_check"))

    c = sub.add_parser("rehearsal-models", help="build the local stand-ins of the paper's hub models under "
                                                "build/rehearsal/models/ (make rehearse does)")
    c.set_defaults(func=_lazy("lantern_nb.rehearsal:cli_rehearsal_models"))

    c = sub.add_parser("check", help="load a profile strictly and check this machine can run it (make reproduce does)")
    c.add_argument("--profile", default="cpu", choices=PROFILES)
    c.set_defaults(func=_lazy("lantern_nb.notebook:cli_check"))

    c = sub.add_parser("report", help="write figures/<profile>/REPORT.md: every table vs the paper, with verdicts")
    c.add_argument("--profile", default="cpu", choices=PROFILES)
    c.add_argument("--readme", default=None, help="also rewrite this README's results section for the profile")
    c.set_defaults(func=_lazy("lantern_nb.report:cli_report"))
    return p


SIGPIPE_EXIT = 128 + 13  # what a shell reports for a process killed by SIGPIPE, as `cat` in `cat f | head`


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again (Python docs,
    "Note on SIGPIPE"); a no-op when stdout has no file descriptor (captured in tests)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors print one `error: ...` line on stderr and return 2.

    A reader that closes the pipe early (`... | head -1`) ends the command quietly with 141
    instead of a BrokenPipeError traceback.
    """
    try:
        args = build_parser().parse_args(argv)
        try:
            rc = int(args.func(args) or 0)
        except (FileNotFoundError, ValueError, RuntimeError) as e:
            print(f"error: {e}", file=sys.stderr)
            rc = 2
        sys.stdout.flush()
        return rc
    except BrokenPipeError:
        _silence_stdout()
        return SIGPIPE_EXIT
