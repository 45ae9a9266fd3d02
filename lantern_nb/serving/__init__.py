"""The three-module serving pipeline (paper Sec. 3.5.3 and 6): summarize, classify, explain.

The protocols, `load_models` and the in-process `fit_pair` live in `pipeline`; the `serve` /
`fit` commands in `cli`; HTTP pieces in `app`, batching in `batching`, the load generator in
`loadgen`, the service in its own process in `process`, the Table 5 benchmark in `bench`,
stand-in models in `testing`, the widget in `explorer`.
"""
from __future__ import annotations

from typing import Any, Sequence

from lantern_nb.serving.pipeline import (MODULES, ClassificationModule, ExplanationModule, FitReport, ServingModels,
                                         SummarizationModule, fit_pair, load_models, proba_rows, top_label,
                                         usable_summary)


def __getattr__(name: str) -> Any:
    """Lazy re-exports so `import lantern_nb.serving` stays light (no FastAPI import)."""
    lazy = {"create_app": "app", "MicroBatcher": "batching", "ServerThread": "loadgen",
            "run_load": "loadgen", "summarize_load": "loadgen", "module_capacity": "loadgen",
            "batching_comparison": "loadgen", "fit_explorer": "explorer", "ServerProcess": "process",
            "run_benchmark": "bench", "cli_fit": "cli", "cli_serve": "cli"}
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(f"lantern_nb.serving.{lazy[name]}"), name)
    raise AttributeError(f"module 'lantern_nb.serving' has no attribute {name!r}")


__all__: Sequence[str] = ["MODULES", "ClassificationModule", "ExplanationModule", "FitReport", "ServingModels",
                          "SummarizationModule", "fit_pair", "load_models", "proba_rows", "top_label", "usable_summary"]
