"""A JupyterLab fit explorer (ipywidgets): paste a job and a résumé, see what each module does.

The modules run in-process (`fit_pair`), so the widget needs no server; it shows the label,
the class probabilities, the explanation, the compressed job and each module's wall time.
Pasted texts pass the same check as the CLIs and the service (`lantern_nb.textcheck`).
ipywidgets is imported only when the widget is built.
"""
from __future__ import annotations

import html
from typing import Any

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
    expl = ("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in rep.explanation) + "</ul>"
            if rep.explanation is not None else "<i>explanation not requested</i>")
    timing = " &middot; ".join(f"{html.escape(k)}: {v:.1f} ms" for k, v in rep.timing_ms.items())
    warning = f"<p style='color:#f0ad4e'><b>Warning</b>: {html.escape(rep.warning)}</p>" if rep.warning else ""
    return (f"{warning}<h3 style='margin:4px 0'>Fit: <span style='color:{_COLORS.get(rep.label, '#000')}'>"
            f"{html.escape(rep.label)}</span></h3>{bars}<h4 style='margin:8px 0 2px'>Explanation</h4>{expl}"
            f"<p><b>Time per module</b>: {timing}</p>"
            f"<details><summary>Compressed job ({len(rep.summary)} chars)</summary>"
            f"<pre style='white-space:pre-wrap'>{html.escape(rep.summary)}</pre></details>")


def under_papermill() -> bool:
    """True when this kernel was started by papermill (batch execution: no one to use a widget)."""
    try:
        import psutil
    except ImportError:
        return False
    try:
        proc = psutil.Process().parent()
        for _ in range(4):
            if proc is None:
                return False
            if any("papermill" in part for part in proc.cmdline()):
                return True
            proc = proc.parent()
    except (psutil.Error, OSError):
        return False
    return False


def fit_explorer(models: ServingModels, job_text: str = "", resume_text: str = "",
                 max_text_chars: int | None = None) -> Any:
    """The explorer widget (display it as a cell's last expression); optional initial texts.

    `max_text_chars` is the run profile's serving.max_text_chars (default: the cpu profile's).
    """
    import ipywidgets as w

    box = dict(layout=w.Layout(width="100%", height="160px"))
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


__all__ = ["fit_explorer", "report_html", "under_papermill"]
