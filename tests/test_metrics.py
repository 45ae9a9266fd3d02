"""Table metrics: per-row ROUGE equals the mean, the bootstrap interval brackets the mean and shrinks
with n, label accuracy reads the `Fit:` lines."""
import numpy as np
import pytest

from lantern_nb import metrics


def test_rouge_mean_is_the_mean_of_rows():
    preds = ["Fit: High\n- Meets Python", "Fit: Low\n- Missing SQL", "nothing"]
    refs = ["Fit: High\n- Meets Python and SQL", "Fit: Low\n- Missing SQL", "Fit: Medium\n- Meets Go"]
    rows = metrics.rouge_rows(preds, refs)
    mean = metrics.rouge(preds, refs)
    for k in ("rouge1", "rouge2", "rougeL"):
        assert mean[k] == pytest.approx(np.mean(rows[k]))
    assert rows["rougeL"][1] == pytest.approx(1.0)


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.uniform(size=30), rng.uniform(size=600)
    lo_s, hi_s = metrics.bootstrap_interval(small)
    lo_l, hi_l = metrics.bootstrap_interval(large)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 2
    assert metrics.bootstrap_interval(small) == (lo_s, hi_s)  # seeded: deterministic
    assert metrics.bootstrap_interval([0.5, 0.5, 0.5]) == (0.5, 0.5)


def test_label_accuracy_reads_fit_lines():
    refs = ["Fit: High\n- a", "Fit: Low\n- b", "Fit: Medium\n- c", "Fit: Low\n- d"]
    preds = ["Fit: High\n- x", "Fit: Medium\n- b", "- no label line", "Fit: Low"]
    assert metrics.label_accuracy(preds, refs) == 0.5
    with pytest.raises(ValueError, match="3 predictions but 4 references"):
        metrics.label_accuracy(preds[:3], refs)


def test_intervals_overlap():
    assert metrics.intervals_overlap((0.1, 0.3), (0.25, 0.5))
    assert not metrics.intervals_overlap((0.1, 0.2), (0.25, 0.5))
