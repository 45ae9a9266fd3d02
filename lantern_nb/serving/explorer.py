"""A JupyterLab fit explorer (ipywidgets): paste a job and a résumé, see what each module does.

The modules run in-process (`fit_pair`), so the widget needs no server; it shows the label,
the class probabilities, the explanation, the compressed job and each module's wall time.
Pasted texts pass the same check as the CLIs and the service (`lantern_nb.textcheck`).
ipywidgets is imported only when the widget is built.

`explore(profile)` (also `lantern_nb.explore`) opens it in one call from any notebook: it loads the
served models of notebooks 04 and 06 itself and says, above the widget, how good they measured
(`served_quality`: the explanation student's test ROUGE-L, the classifier's accuracy against T2's
labels and the generator's true fit), so answers of models that are not yet competent read as such.
"""
from __future__ import annotations

import contextlib
import html
import json
import math
from pathlib import Path
from typing import Any, Iterator

from lantern_nb import artifacts
from lantern_nb.frontend import under_papermill
from lantern_nb.profiles import Profile
from lantern_nb.schema import LABELS
from lantern_nb.serving.pipeline import FitReport, ServingModels, fit_pair
from lantern_nb.textcheck import TextRefused, check_text

_COLORS = {"Low": "#d9534f", "Medium": "#f0ad4e", "High": "#5cb85c"}


def report_html(rep: FitReport) -> str:
    """One `FitReport` as HTML: label, probability bars, explanation lines, timings, compressed job."""
    bars = "".join(
        f"<div style='display:flex;align-items:center;gap:6px'><span style='width:60px'>{lab}</span>"
        f"<div style='background:{_COLORS[lab]};height:12px;width:{200 * rep.probabilities[lab]:.0f}px'></div>"
        f"<span>{rep.probabilities[lab]:.3f}</span></div>" for lab in LABELS)
    if rep.explanation is None:
        expl = "<i>explanation not requested</i>"
    elif not rep.explanation:
        expl = ("<p class='lantern-no-lines'><i>The explanation model returned no lines for this pair</i> "
                "(a model that is not yet competent; see the measured quality above the widget).</p>")
    else:
        expl = "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in rep.explanation) + "</ul>"
    timing = " &middot; ".join(f"{html.escape(k)}: {v:.1f} ms" for k, v in rep.timing_ms.items())
    warning = f"<p style='color:#f0ad4e'><b>Warning</b>: {html.escape(rep.warning)}</p>" if rep.warning else ""
    return (f"{warning}<h3 style='margin:4px 0'>Fit: <span style='color:{_COLORS.get(rep.label, '#000')}'>"
            f"{html.escape(rep.label)}</span></h3>{bars}<h4 style='margin:8px 0 2px'>Explanation</h4>{expl}"
            f"<p><b>Time per module</b>: {timing}</p>"
            f"<details><summary>Compressed job ({len(rep.summary)} chars)</summary>"
            f"<pre style='white-space:pre-wrap'>{html.escape(rep.summary)}</pre></details>")


def fit_explorer(models: ServingModels, job_text: str = "", resume_text: str = "",
                 max_text_chars: int | None = None) -> Any:
    """The explorer widget (display it as a cell's last expression); optional initial texts.

    `max_text_chars` is the run profile's serving.max_text_chars (default: the cpu profile's).
    """
    import ipywidgets as w

    box = dict(layout=w.Layout(width="auto", height="160px"))
    job = w.Textarea(value=job_text, placeholder="Paste a job description", description="Job", **box)
    resume = w.Textarea(value=resume_text, placeholder="Paste a résumé", description="Résumé", **box)
    explain = w.Checkbox(value=True, description="Explain", indent=False)
    button = w.Button(description="Evaluate fit", button_style="primary", icon="search")
    out = w.HTML()

    def run(_: Any = None) -> None:
        texts = {"job description": job.value, "résumé": resume.value}
        missing = [k for k, v in texts.items() if not v.strip()]
        if missing:
            out.value = f"<b style='color:#d9534f'>Paste a {' and a '.join(missing)} first.</b>"
            return
        try:
            for name, text in texts.items():
                check_text(text, f"the {name}", max_text_chars)
        except TextRefused as e:
            out.value = f"<b style='color:#d9534f'>{html.escape(e.message)}</b>"
            return
        button.disabled, out.value = True, "<i>running...</i>"
        try:
            out.value = report_html(fit_pair(models, job.value, resume.value, explain=explain.value))
        except Exception as e:
            out.value = f"<b style='color:#d9534f'>{html.escape(type(e).__name__)}: {html.escape(str(e))}</b>"
        finally:
            button.disabled = False

    button.on_click(run)
    return w.VBox([job, resume, w.HBox([button, explain]), out])


# Below these the served models are not competent judges of fit (the paper's students reach ROUGE-L
# 0.67-0.68, Table 1); chance accuracy against the true fit is 1/3 with three labels.
MIN_ROUGE_L = 0.4
MIN_TRUE_FIT_ACCURACY = 0.5


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def served_quality(cfg: Profile) -> dict[str, Any]:
    """What the saved artifacts say about the served models' measured quality.

    Keys (each None when not measured): `explainer` (the Table 1 row it came from), `rougeL` (its
    test ROUGE-L), `classifier` (backbone), `accuracy` / `f1` (against T2's labels, compressed
    jobs, Sec. 6.1 table), `true_fit_accuracy` (against the generator's latent fit), `majority`
    (the share of the commonest T2 label, if known), and `competent` (False when a measured value
    is below `MIN_ROUGE_L` / `MIN_TRUE_FIT_ACCURACY` or the classifier is no better than the
    majority label; None when nothing is measured)."""
    import pandas as pd

    from lantern_nb.checkpoints import META_FILE

    out: dict[str, Any] = dict.fromkeys(("explainer", "rougeL", "classifier", "accuracy", "f1", "true_fit_accuracy",
                                         "majority", "competent"))
    meta = _read_json(artifacts.artifact_path(cfg.name, "explainer") / META_FILE)
    out["explainer"], out["rougeL"] = meta.get("kind"), _finite(meta.get("rougeL"))
    cmeta = _read_json(artifacts.artifact_path(cfg.name, "classifier") / "classifier.json")
    extra = cmeta.get("extra", cmeta)
    out["classifier"] = extra.get("backbone")
    table = artifacts.figures_dir(cfg.name) / "sec61_downscale.csv"
    if out["classifier"] and table.exists():
        df = pd.read_csv(table)
        row = df[(df["Backbone"] == out["classifier"]) & (df["input"] == "compressed")]
        if len(row):
            out["accuracy"] = _finite(row["Accuracy"].iloc[0])
            out["f1"] = _finite(row["F1"].iloc[0])
            out["true_fit_accuracy"] = _finite(row["Latent acc"].iloc[0]) if "Latent acc" in row else None
    t4 = artifacts.figures_dir(cfg.name) / "table4_classifier_structures.csv"
    if t4.exists():
        acc = pd.read_csv(t4)["Accuracy"]
        if len(acc) > 1 and acc.nunique() == 1:  # every structure predicts the same: the majority label
            out["majority"] = _finite(acc.iloc[0])
    checks = []
    if out["rougeL"] is not None:
        checks.append(out["rougeL"] >= MIN_ROUGE_L)
    if out["true_fit_accuracy"] is not None:
        checks.append(out["true_fit_accuracy"] >= MIN_TRUE_FIT_ACCURACY)
    if out["accuracy"] is not None and out["majority"] is not None:
        checks.append(out["accuracy"] > out["majority"] + 1e-9)
    out["competent"] = all(checks) if checks else None
    return out


def quality_html(q: dict[str, Any], profile: str) -> str:
    """The note above the explorer: the served models' measured quality and what it means."""
    def num(x: float | None) -> str:
        return "not measured" if x is None else f"{x:.2f}"

    parts = [f"explanation student ({html.escape(str(q['explainer'] or '?'))}): test ROUGE-L {num(q['rougeL'])} "
             "(paper: 0.67-0.68, Table 1)",
             f"classifier ({html.escape(str(q['classifier'] or '?'))}): accuracy {num(q['accuracy'])} against T2's "
             f"labels, {num(q['true_fit_accuracy'])} against the true fit (chance 0.33)"]
    if q["competent"] is False:
        head = (f"<b style='color:#b07400'>The {html.escape(profile)} models are not yet competent</b>: expect "
                "labels and lines that show the machinery (three modules, timings) rather than sound judgements.")
    elif q["competent"] is None:
        head = "<b>Quality not measured</b> (notebooks 04 and 06 write it)."
    else:
        head = "<b>Served models</b> (measured on the test split):"
    return (f"<div style='line-height:1.45;font-size:13px'>{head}<ul style='margin:2px 0'>"
            + "".join(f"<li>{p}</li>" for p in parts) + "</ul></div>")


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """No weight-loading progress bars or optional-kernel warnings in the explorer's cell."""
    import logging

    loggers = [logging.getLogger(n) for n in ("bitsandbytes", "transformers")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        hf_logging = None
    bars = hf_logging.is_progress_bar_enabled() if hf_logging else False
    if hf_logging:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        if hf_logging and bars:
            hf_logging.enable_progress_bar()


def explore(profile: str = "cpu", overrides: dict[str, Any] | None = None, job_text: str | None = None,
            resume_text: str | None = None) -> Any:
    """The fit explorer for `profile` in one call (display it as a cell's last expression).

    Loads the served models itself (they are written by notebooks 04 and 06, run by
    `make reproduce PROFILE=<profile>`); when one is missing it returns a message naming the notebook
    instead. Starts with a test-split job and résumé unless texts are given, and shows the models'
    measured quality above the widget."""
    import ipywidgets as w

    from lantern_nb.profiles import load_profile
    from lantern_nb.serving.pipeline import load_models

    cfg = load_profile(profile, **(overrides or {}))
    try:
        with _quiet_loading():
            models = load_models(cfg)
    except artifacts.MissingArtifactError as e:
        return w.HTML(f"<b style='color:#c9302c'>The fit explorer needs the served models of profile "
                      f"{html.escape(cfg.name)}</b>: {html.escape(str(e))}")
    if job_text is None or resume_text is None:
        from lantern_nb.serving.bench import sample_texts

        jobs, resumes = sample_texts(cfg)
        job_text = jobs[1 % len(jobs)] if job_text is None else job_text
        resume_text = resumes[2 % len(resumes)] if resume_text is None else resume_text
    ui = fit_explorer(models, job_text, resume_text, max_text_chars=cfg.serving.max_text_chars)
    note = w.HTML(quality_html(served_quality(cfg), cfg.name))
    box = w.VBox([note, ui], layout=w.Layout(width="auto"))
    box.add_class("lantern-explorer")
    return box


__all__ = ["MIN_ROUGE_L", "MIN_TRUE_FIT_ACCURACY", "explore", "fit_explorer", "quality_html", "report_html",
           "served_quality", "under_papermill"]
