"""Evaluation metrics of the paper (Sec. 4.3): ROUGE for explanations, accuracy / F1 for fit labels."""
from __future__ import annotations

from typing import Sequence


def rouge(preds: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measures of `preds` against `refs` (rouge-score, Porter stemming)."""
    from rouge_score import rouge_scorer

    if len(preds) != len(refs):
        raise ValueError(f"rouge: {len(preds)} predictions but {len(refs)} references")
    keys = ("rouge1", "rouge2", "rougeL")
    if not preds:
        return {k: float("nan") for k in keys}
    scorer = rouge_scorer.RougeScorer(list(keys), use_stemmer=True)
    totals = dict.fromkeys(keys, 0.0)
    for pred, ref in zip(preds, refs):
        scores = scorer.score(ref, pred)
        for k in keys:
            totals[k] += scores[k].fmeasure
    return {k: v / len(preds) for k, v in totals.items()}


def classification_metrics(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> dict[str, float]:
    """Accuracy and support-weighted F1 (scikit-learn) over `labels` (default: those present)."""
    from sklearn.metrics import accuracy_score, f1_score

    labels = list(labels) if labels is not None else None
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "f1_weighted": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0))}
