"""Evaluation metrics of the paper (Sec. 4.3): ROUGE for explanations, accuracy / F1 for fit labels."""
from __future__ import annotations

from typing import Sequence


def rouge_rows(preds: Sequence[str], refs: Sequence[str]) -> dict[str, list[float]]:
    """Per-row ROUGE-1/2/L F-measures of `preds` against `refs` (rouge-score, Porter stemming)."""
    from rouge_score import rouge_scorer

    if len(preds) != len(refs):
        raise ValueError(f"rouge: {len(preds)} predictions but {len(refs)} references")
    keys = ("rouge1", "rouge2", "rougeL")
    scorer = rouge_scorer.RougeScorer(list(keys), use_stemmer=True)
    out: dict[str, list[float]] = {k: [] for k in keys}
    for pred, ref in zip(preds, refs):
        scores = scorer.score(ref, pred)
        for k in keys:
            out[k].append(scores[k].fmeasure)
    return out


def rouge(preds: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measures of `preds` against `refs` (nan when empty)."""
    rows = rouge_rows(preds, refs)
    return {k: (sum(v) / len(v) if v else float("nan")) for k, v in rows.items()}


def bootstrap_interval(values: Sequence[float], confidence: float = 0.95, n_resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (scipy.stats.bootstrap); rows scored
    once each, so the interval says how much a table cell would move on another test sample."""
    import numpy as np
    from scipy.stats import bootstrap

    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0:
        m = float(x.mean()) if len(x) else float("nan")
        return m, m
    res = bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                    rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def label_accuracy(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Share of generations whose `Fit:` line names the reference's label (a missing or malformed
    line counts as wrong)."""
    from lantern_nb.schema import parse_explanation

    if len(preds) != len(refs):
        raise ValueError(f"label_accuracy: {len(preds)} predictions but {len(refs)} references")
    if not preds:
        return float("nan")
    hits = 0
    for pred, ref in zip(preds, refs):
        want = parse_explanation(ref)[0]
        hits += want is not None and parse_explanation(pred)[0] == want
    return hits / len(preds)


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two intervals share a point ("within noise" when two rows' intervals overlap)."""
    return a[0] <= b[1] and b[0] <= a[1]


def classification_metrics(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> dict[str, float]:
    """Accuracy and support-weighted F1 (scikit-learn) over `labels` (default: those present)."""
    from sklearn.metrics import accuracy_score, f1_score

    labels = list(labels) if labels is not None else None
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "f1_weighted": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0))}
