"""Where this code runs: a kernel a person is using (JupyterLab, the Notebook) or a batch run.

Interactive widgets (the review of notebook 02, the fit explorer) are only useful where someone can
click them. `interactive_kernel()` is true in an IPython kernel whose current cell was sent by a
frontend that can answer `input()` (the execute request's `allow_stdin`, which JupyterLab sets and
papermill / nbclient / nbconvert never do) and that was not started by the papermill command.
"""
from __future__ import annotations


def under_papermill() -> bool:
    """True when this kernel was started by the papermill command (batch execution)."""
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


def interactive_kernel() -> bool:
    """True in a live kernel a person drives: an IPython kernel whose current execute request
    allows stdin (JupyterLab and the classic Notebook do; papermill and nbclient never do)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None or not getattr(kernel, "_allow_stdin", False):
        return False
    return not under_papermill()


__all__ = ["interactive_kernel", "under_papermill"]
