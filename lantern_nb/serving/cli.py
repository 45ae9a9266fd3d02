"""The `serve` and `fit` commands: the service under uvicorn, or one pair in-process."""
from __future__ import annotations

import argparse
import sys

from lantern_nb.serving.pipeline import FitReport, fit_pair, load_models


def cli_serve(args: argparse.Namespace) -> int:
    """`python -m lantern_nb serve`: load the profile's models and run the service with uvicorn."""
    import uvicorn

    from lantern_nb.profiles import load_profile
    from lantern_nb.serving.app import create_app

    cfg = load_profile(args.profile)
    app = create_app(load_models(cfg), cfg)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def format_report(rep: FitReport) -> str:
    """Human-readable CLI output of one `FitReport`."""
    out = [f"label: {rep.label}",
           "probabilities: " + "  ".join(f"{k}={v:.3f}" for k, v in rep.probabilities.items())]
    if rep.explanation is not None:
        out.append("explanation:")
        out.extend(f"  - {line}" for line in rep.explanation)
    out.append("timing_ms: " + "  ".join(f"{k}={v:.1f}" for k, v in rep.timing_ms.items()))
    return "\n".join(out)


def cli_fit(args: argparse.Namespace) -> int:
    """`python -m lantern_nb fit`: one pair through the served models in-process."""
    from lantern_nb.profiles import load_profile
    from lantern_nb.schema import read_text_file

    cfg = load_profile(args.profile)
    job = read_text_file(args.job_file, "job", cfg.serving.max_text_chars)
    resume = read_text_file(args.resume_file, "resume", cfg.serving.max_text_chars)
    rep = fit_pair(load_models(cfg), job, resume, explain=args.explain)
    if rep.warning:
        print(f"warning: {rep.warning}", file=sys.stderr)
    print(format_report(rep))
    return 0
