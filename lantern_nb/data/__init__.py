"""The corpus (paper Sec. 4.1.1): synthetic job/résumé pairs or real datasets, grouped splits.

`build_corpus(cfg)` writes data/<profile>/corpus/{pairs,cls_pairs}.jsonl + stats.json;
`load_pairs(profile, split)` / `load_cls_pairs(profile)` read them back.
"""
from lantern_nb.data.corpus import build_corpus, cli_data, corpus_stats, format_stats, load_cls_pairs, load_pairs
from lantern_nb.data.generator import REFERENCE_DATE, fit_label, generate_cls_pairs, generate_pairs
from lantern_nb.data.loaders import HubUnavailableError, load_file, load_hf_fit, load_hf_netsol
from lantern_nb.data.splits import SPLITS, assign_splits

__all__ = [
    "REFERENCE_DATE", "SPLITS", "HubUnavailableError", "assign_splits", "build_corpus", "cli_data", "corpus_stats",
    "fit_label", "format_stats", "generate_cls_pairs", "generate_pairs", "load_cls_pairs", "load_file", "load_hf_fit",
    "load_hf_netsol", "load_pairs",
]
