"""The three-module serving pipeline (paper Sec. 3.5.3 and 6): summarize, classify, explain.

The service is written against three small protocols so it can be built and tested before the
trained models exist; `load_models` fetches the real ones through `registry`. `fit_pair` runs one
pair through all three in-process (the CLI and the notebook explorer use it).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from lantern_nb.profiles import SERVING_MODULES, Profile
from lantern_nb.schema import LABELS

MODULES: tuple[str, ...] = SERVING_MODULES


@runtime_checkable
class SummarizationModule(Protocol):
    """JD compression at ingestion (paper 3.5.1): one requirement summary per job text."""

    def summarize(self, texts: list[str]) -> list[str]: ...


@runtime_checkable
class ClassificationModule(Protocol):
    """Fit-level classifier: an [n, 3] array of probabilities over LABELS (Low, Medium, High)."""

    def predict_proba(self, jobs: list[str], resumes: list[str]) -> np.ndarray: ...


@runtime_checkable
class ExplanationModule(Protocol):
    """Explanation student: rationale lines per pair, conditioned on the predicted label."""

    def explain(self, jobs: list[str], resumes: list[str], labels: list[str]) -> list[list[str]]: ...


@dataclass
class ServingModels:
    """The three models one service instance serves."""

    summarizer: SummarizationModule
    classifier: ClassificationModule
    explainer: ExplanationModule


def load_models(cfg: Profile) -> ServingModels:
    """The trained artifacts of profile `cfg`; `MissingArtifactError` names what produces a missing one."""
    from lantern_nb.serving import registry

    return ServingModels(summarizer=registry.load_summarizer(cfg),
                         classifier=registry.load_classifier(cfg),
                         explainer=registry.load_explainer(cfg))


def proba_rows(proba: Any, n: int) -> list[dict[str, float]]:
    """Check a classifier's output is [n, 3] and finite; return one {label: p} dict per row."""
    arr = np.asarray(proba, dtype=np.float64)
    if arr.shape != (n, len(LABELS)):
        raise RuntimeError(f"classifier returned shape {arr.shape}, expected ({n}, {len(LABELS)})")
    if not np.isfinite(arr).all():
        raise RuntimeError("classifier returned non-finite probabilities")
    return [{label: float(p) for label, p in zip(LABELS, row)} for row in arr]


def top_label(probs: dict[str, float]) -> str:
    """The predicted label (ties resolved in LABELS order)."""
    return max(LABELS, key=lambda k: (probs[k], -LABELS.index(k)))


def usable_summary(job_text: str, summary: str) -> tuple[str, str, str | None]:
    """The job summary to classify against, as (summary, source, warning).

    A summarizer can return an empty string (a degenerate generation); classifying against it
    would score the résumé against nothing. Then the rule-based JD compression (paper Sec. 3.5.1,
    the extractor the summarizer is trained on) stands in: source "rules" plus a warning. Raises
    `TextRefused` (422) when both are empty, i.e. the ad holds no text to compress.
    """
    if summary.strip():
        return summary, "model", None
    from lantern_nb.compress import compress_job
    from lantern_nb.textcheck import TextRefused

    rules = compress_job(job_text)
    if not rules.strip():
        raise TextRefused(422, "empty_summary", "the job text gave an empty summary from both the summarizer and "
                                                "the rule-based compression; send a job ad with its requirements")
    return rules, "rules", ("the summarizer returned an empty summary; the rule-based compression "
                            "(lantern_nb.compress.compress_job) was used instead")


@dataclass
class FitReport:
    """One pair through the pipeline in-process, with the wall time of each module.

    `summary_source` says what the job was classified against: "model" (the summarizer),
    "rules" (its empty output replaced by the rule-based compression, see `warning`) or "raw".
    """

    summary: str
    label: str
    probabilities: dict[str, float]
    explanation: list[str] | None
    timing_ms: dict[str, float] = field(default_factory=dict)
    summary_source: str = "model"
    warning: str | None = None


def fit_pair(models: ServingModels, job_text: str, resume: str, *, explain: bool = True,
             summarize: bool = True) -> FitReport:
    """Summarize the job (unless `summarize=False`), classify, optionally explain; time each module."""
    timing: dict[str, float] = {}
    t_all = time.perf_counter()
    summary, source, warning = job_text, "raw", None
    if summarize:
        t0 = time.perf_counter()
        summary, source, warning = usable_summary(job_text, models.summarizer.summarize([job_text])[0])
        timing["summarize"] = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    probs = proba_rows(models.classifier.predict_proba([summary], [resume]), 1)[0]
    timing["classify"] = (time.perf_counter() - t0) * 1000
    label = top_label(probs)
    lines = None
    if explain:
        t0 = time.perf_counter()
        lines = list(models.explainer.explain([summary], [resume], [label])[0])
        timing["explain"] = (time.perf_counter() - t0) * 1000
    timing["total"] = (time.perf_counter() - t_all) * 1000
    return FitReport(summary=summary, label=label, probabilities=probs, explanation=lines, timing_ms=timing,
                     summary_source=source, warning=warning)


def handwritten_pairs() -> list[dict[str, str]]:
    """Job ads and résumés written by hand outside the synthetic generator (other wording, layouts,
    one occupation it never writes), each with its clear-cut expected label (High or Low)."""
    import json
    from importlib.resources import files

    return json.loads(files("lantern_nb").joinpath("assets/handwritten_pairs.json").read_text())


def judge_handwritten(models: ServingModels, pairs: list[dict[str, str]] | None = None):
    """The served pipeline on `handwritten_pairs()`: expected vs predicted label, the probabilities
    and the first explanation lines, as a DataFrame (one row per pair)."""
    import pandas as pd

    rows = []
    for p in pairs or handwritten_pairs():
        rep = fit_pair(models, p["job"], p["resume"])
        rows.append({"pair": p["id"], "expected": p["expect"], "predicted": rep.label,
                     "right": rep.label == p["expect"], **{f"p({k})": round(v, 3) for k, v in rep.probabilities.items()},
                     "explanation": " | ".join((rep.explanation or [])[:3])})
    return pd.DataFrame(rows)
