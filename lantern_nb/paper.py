"""The LANTERN paper's reported numbers (arXiv 2510.05490), Tables 1-5, by table.

Every number the paper reports in a table is stored here once, as printed (Table 4 in percentage
points, Table 5 normalised to the explanation module), and `beside_paper` is the one way to show
them next to ours: it adds `Paper <column>` columns (NaN where the paper has no such row).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

# name -> caption, columns, rows; "beside" renames paper columns where the saved tables use other names.
PAPER_TABLES: dict[str, dict[str, Any]] = {
    "table1_kd_divergences": {
        "caption": "Table 1: explanation task, teacher Qwen2.5-7B -> student Qwen2.5-1.5B. Loss = NLL.",
        "columns": ["KD Method", "Loss", "ROUGE_1", "ROUGE_2", "ROUGE_L"],
        "rows": [["JS", 0.1167, 0.7820, 0.6390, 0.6715], ["FKL", 0.1148, 0.7775, 0.6342, 0.6670],
                 ["TVD", 0.1193, 0.7889, 0.6461, 0.6791], ["SKL", 0.1147, 0.7858, 0.6422, 0.6735]],
    },
    "table2_distillation_paths": {
        "caption": "Table 2: distillation paths; multi-stage paths use distilled intermediates as teachers.",
        "columns": ["Path", "Teacher Model", "Student Model", "Loss", "ROUGE_1", "ROUGE_2", "ROUGE_L"],
        "rows": [["teacher->0.5B", "Qwen2.5-7B", "Qwen2.5-0.5B", 0.1274, 0.7136, 0.5736, 0.6056],
                 ["teacher->1.5B", "Qwen2.5-7B", "Qwen2.5-1.5B", 0.1167, 0.7820, 0.6390, 0.6715],
                 ["teacher->3B", "Qwen2.5-7B", "Qwen2.5-3B", 0.1128, 0.7917, 0.6480, 0.6798],
                 ["teacher->3B->1.5B", "Distilled-3B", "Qwen2.5-1.5B", 0.1131, 0.7769, 0.6346, 0.6659],
                 ["teacher->3B->0.5B", "Distilled-3B", "Qwen2.5-0.5B", 0.1240, 0.7721, 0.6259, 0.6594],
                 ["teacher->1.5B->0.5B", "Distilled-1.5B", "Qwen2.5-0.5B", 0.1234, 0.7673, 0.6233, 0.6535]],
    },
    "table3_teacher_sft": {
        "caption": "Table 3: teacher model fine-tuning results.",
        "columns": ["Teacher Model", "ROUGE_1", "ROUGE_2", "ROUGE_L"],
        "rows": [["Qwen3-8B", 0.7918, 0.6566, 0.6902], ["Qwen2.5-7B", 0.7766, 0.6328, 0.6655],
                 ["Qwen2.5-7B-Instruct", 0.8084, 0.6835, 0.7156]],
    },
    "table4_classifier_structures": {
        "caption": ("Table 4: classification, differences (percentage points) from the Phi3-mini SeqCls/Last "
                    "baseline; the paper does not disclose absolute numbers."),
        "columns": ["Backbone", "Structure", "Pooling", "Interaction", "Accuracy", "F1"],
        # the paper prints "gte-Qwen2.5-1.5B-instruct"; the hub model (our backbone key) is gte-Qwen2-1.5B-instruct
        "rows": [["Phi3-mini", "SeqCls", "Last", "-", 0.0, 0.0],
                 ["Phi3-mini", "SeqCls", "Mean", "-", -0.08, -0.22],
                 ["Phi3-mini", "TwoTower", "Last", "Concat", -1.69, -2.21],
                 ["Phi3-mini", "TwoTower", "Last", "DotProduct", -1.58, -2.02],
                 ["gte-Qwen2-1.5B-instruct", "SeqCls", "Last", "-", 1.39, 0.42],
                 ["gte-Qwen2-1.5B-instruct", "SeqCls", "Mean", "-", 1.26, 0.18],
                 ["gte-Qwen2-1.5B-instruct", "TwoTower", "Last", "Concat", 1.03, -3.25],
                 ["gte-Qwen2-1.5B-instruct", "TwoTower", "Last", "DotProduct", 0.55, -3.61]],
        "beside": {"Accuracy": "paper Δ Accuracy (pp)", "F1": "paper Δ F1 (pp)"},
    },
    "table5_serving": {
        "caption": "Table 5: peak traffic, throughput (QPS per GPU) and P95 latency, normalised to explanation.",
        "columns": ["Module", "Type", "Size", "Peak Traffic", "Throughput", "Latency P95 (s)"],
        "rows": [["Summarization", "Decoder", "1.5B", 4.0, 4.0, 3.5],
                 ["Classification", "Encoder", "0.4B", 30.0, 80.0, 0.3],
                 ["Explanation", "Decoder", "1.5B", 1.0, 1.0, 7.2]],
        "beside": {"Throughput": "Paper Throughput", "Latency P95 (s)": "Paper P95 (s)"},
    },
}


def _spec(name: str) -> dict[str, Any]:
    if name not in PAPER_TABLES:
        raise KeyError(f"no paper table {name!r}; known: {', '.join(PAPER_TABLES)}")
    return PAPER_TABLES[name]


def paper_table(name: str) -> pd.DataFrame:
    """The paper's version of table `name` as a DataFrame, one row per row of the paper."""
    spec = _spec(name)
    return pd.DataFrame(spec["rows"], columns=spec["columns"])


def paper_caption(name: str) -> str:
    """The one-line caption of the paper's table `name` (what it measures, on which models)."""
    return _spec(name)["caption"]


def paper_value(name: str, row: str, column: str) -> float:
    """One number of the paper's table `name`: `column` of the row whose first column is `row`."""
    df = paper_table(name)
    hit = df.loc[df[df.columns[0]] == row, column]
    if hit.empty:
        raise KeyError(f"paper table {name!r} has no row {row!r}")
    return float(hit.iloc[0])


def paper_columns(name: str) -> dict[str, str]:
    """{paper column: the name it takes beside ours}: every numeric column, as `Paper <column>`
    unless the table names it otherwise (Table 4's differences, Table 5's P95)."""
    spec = _spec(name)
    if "beside" in spec:
        return dict(spec["beside"])
    numeric = paper_table(name).select_dtypes("number").columns
    return {c: f"Paper {c}" for c in numeric}


def beside_paper(ours: pd.DataFrame, table: str, on: str | Sequence[str],
                 columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """`ours` with the paper's numbers of `table` added as columns (`paper_columns`, or `columns`:
    {paper column: new name}), matched on the key column(s) `on`; ours' rows and order are kept,
    NaN where the paper has no such row."""
    keys = [on] if isinstance(on, str) else list(on)
    names = dict(columns) if columns is not None else paper_columns(table)
    side = paper_table(table)[keys + list(names)].rename(columns=names)
    return ours.merge(side, on=keys, how="left")


__all__ = ["PAPER_TABLES", "beside_paper", "paper_caption", "paper_columns", "paper_table", "paper_value"]
