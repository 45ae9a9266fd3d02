"""Build, cache, load and describe the corpus: D_base (pairs.jsonl, with splits) and D_cls.

Files (data/<profile>/corpus/): `pairs.jsonl` (D_base, `split` set), `cls_pairs.jsonl` (the
classifier corpus D_cls) and `stats.json` (counts, balance, lengths, and the data config they
were built from). All are written atomically; the same seed gives byte-identical files.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from lantern_nb import artifacts
from lantern_nb.cache import fingerprint
from lantern_nb.profiles import Profile
from lantern_nb.data import generator, loaders
from lantern_nb.data.splits import SPLITS, assign_splits, check_disjoint_jobs, check_grouped
from lantern_nb.schema import LABELS, Pair, read_jsonl, write_jsonl


def _fingerprint(cfg: Profile) -> dict[str, Any]:
    """Everything the corpus is built from: the whole data section, the content of a `file`
    source, the seed and the generator's version."""
    d = cfg.data
    source = fingerprint(Path(d.path)) if d.source == "file" and d.path else None
    return {"data": dataclasses.asdict(d), "file": source, "seed": cfg.seed,
            "generator_version": generator.GENERATOR_VERSION}


def stats_path(profile: str) -> Path:
    return artifacts.artifact_path(profile, "pairs").parent / "stats.json"


def _build(cfg: Profile, progress: bool) -> tuple[list[Pair], list[Pair]]:
    d = cfg.data
    if d.source == "synthetic":
        base = generator.generate_pairs(d.n_jobs, d.pairs_per_job, cfg.seed, progress=progress)
        assign_splits(base, d.val_frac, d.test_frac, cfg.seed)
        cls = generator.generate_cls_pairs(d.n_cls_pairs, d.pairs_per_job, d.hard_negative_frac, cfg.seed, progress=progress)
        return base, cls
    if d.source == "hf_fit":
        base = loaders.load_hf_fit(d.revision, d.n_jobs)
    elif d.source == "hf_netsol":
        base = loaders.load_hf_netsol(d.revision, d.n_jobs)
    elif d.source == "file":
        base = loaders.load_file(d.path)
    else:
        raise ValueError(f"data.source: unknown source {d.source!r}; use synthetic, hf_fit, hf_netsol or file")
    assign_splits(base, d.val_frac, d.test_frac, cfg.seed)
    return base, loaders.derive_cls_pairs(base, d.n_cls_pairs, cfg.seed)


def _row(p: Pair) -> dict[str, Any]:
    """`Pair.to_dict` without `asdict`'s deep copy (same JSON, several times faster)."""
    return {"pair_id": p.pair_id, "job_id": p.job_id, "job_text": p.job_text, "resume_text": p.resume_text,
            "label": p.label, "split": p.split, "meta": p.meta}


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def build_corpus(cfg: Profile, force: bool = False, progress: bool = True) -> dict[str, Any]:
    """Write (or reuse) the corpus for profile `cfg`; return its statistics.

    Existing files are reused unless `force` or they were built from a different data config /
    seed (recorded in stats.json). The returned dict is stats.json plus `paths` and `reused`.
    """
    pairs_file = artifacts.artifact_path(cfg.name, "pairs")
    cls_file = artifacts.artifact_path(cfg.name, "cls_pairs")
    stats_file = stats_path(cfg.name)
    fp = _fingerprint(cfg)
    paths = {"pairs": str(pairs_file), "cls_pairs": str(cls_file), "stats": str(stats_file)}
    if not force and pairs_file.exists() and cls_file.exists() and stats_file.exists():
        stats = json.loads(stats_file.read_text(encoding="utf-8"))
        if stats.get("config") == fp:
            return {**stats, "paths": paths, "reused": True}
        print(f"corpus in {pairs_file.parent} was built from a different data config; rebuilding", file=sys.stderr)
    base, cls = _build(cfg, progress)
    check_grouped(base)
    check_disjoint_jobs([p for p in base if p.split in ("val", "test")], cls)
    stats = {"config": fp, "base": corpus_stats(base), "cls": corpus_stats(cls)}
    write_jsonl(pairs_file, map(_row, base))
    write_jsonl(cls_file, map(_row, cls))
    _write_json(stats_file, stats)
    return {**stats, "paths": paths, "reused": False}


def load_pairs(profile: str, split: str | None = None) -> list[Pair]:
    """D_base of `profile` (all splits, or one of train / val / test)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)} or None, got {split!r}")
    path = artifacts.require(profile, "pairs")
    pairs = [Pair.from_dict(d) for d in read_jsonl(path)]
    return pairs if split is None else [p for p in pairs if p.split == split]


def load_cls_pairs(profile: str) -> list[Pair]:
    """D_cls of `profile`: the pairs teacher T2 labels for the classifier (latent label in meta)."""
    return [Pair.from_dict(d) for d in read_jsonl(artifacts.require(profile, "cls_pairs"))]


def _mean(xs: list[float]) -> float:
    return round(statistics.fmean(xs), 1) if xs else 0.0


def _group_stats(pairs: list[Pair]) -> dict[str, Any]:
    jobs = {p.job_id: p for p in pairs}
    labels = Counter(p.label for p in pairs)
    n = len(pairs)
    req = [(p.meta["req_chars"], len(p.job_text)) for p in jobs.values() if isinstance(p.meta.get("req_chars"), int)]
    return {
        "pairs": n,
        "jobs": len(jobs),
        "labels": {lab: labels.get(lab, 0) for lab in LABELS} | ({"unlabelled": labels[None]} if labels.get(None) else {}),
        "label_share": {lab: round(labels.get(lab, 0) / n, 4) if n else 0.0 for lab in LABELS},
        "hard_negatives": sum(bool(p.meta.get("hard_negative")) for p in pairs),
        "job_words": _mean([len(p.job_text.split()) for p in jobs.values()]),
        "job_chars": _mean([len(p.job_text) for p in jobs.values()]),
        "resume_words": _mean([len(p.resume_text.split()) for p in pairs]),
        "resume_chars": _mean([len(p.resume_text) for p in pairs]),
        "requirement_share": round(sum(r for r, _ in req) / sum(c for _, c in req), 4) if req else None,
    }


def corpus_stats(pairs: Iterable[Pair]) -> dict[str, Any]:
    """Counts per split, label balance, per-family counts, mean lengths (job lengths over unique
    postings, résumé lengths over pairs) and the requirement share of job text (synthetic only)."""
    pairs = list(pairs)
    splits = sorted({p.split or "none" for p in pairs}, key=lambda s: (SPLITS + ("none",)).index(s) if s in SPLITS + ("none",) else 9)
    return {
        "all": _group_stats(pairs),
        "splits": {s: _group_stats([p for p in pairs if (p.split or "none") == s]) for s in splits},
        "families": dict(sorted(Counter(str(p.meta.get("family", "unknown")) for p in pairs).items())),
    }


def format_stats(stats: dict[str, Any], title: str = "") -> str:
    """A readable table of `build_corpus` statistics (one row per split, plus D_cls)."""
    cols = ("set", "pairs", "jobs", "Low", "Medium", "High", "hard neg", "job words", "job chars",
            "résumé words", "résumé chars", "req share")
    rows = []

    def row(name: str, g: dict[str, Any]) -> None:
        share = g["requirement_share"]
        rows.append((name, g["pairs"], g["jobs"], *(f"{g['labels'][lab]} ({g['label_share'][lab]:.0%})" for lab in LABELS),
                     g["hard_negatives"], g["job_words"], g["job_chars"], g["resume_words"], g["resume_chars"],
                     "-" if share is None else f"{share:.1%}"))

    splits = stats["base"]["splits"]
    for split in sorted(splits, key=lambda s: SPLITS.index(s) if s in SPLITS else len(SPLITS)):
        row(split, splits[split])
    row("D_base", stats["base"]["all"])
    row("D_cls", stats["cls"]["all"])
    table = [cols, *[tuple(str(c) for c in r) for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(cols))]
    lines = [title] if title else []
    for i, r in enumerate(table):
        lines.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    fams = stats["base"]["families"]
    if list(fams) != ["unknown"]:
        lines.append("")
        lines.append("D_base pairs per family: " + ", ".join(f"{k} {v}" for k, v in fams.items()))
    return "\n".join(lines)


def cli_data(args: argparse.Namespace) -> int:
    """`python -m lantern_nb data --profile P [--force]`: build or load the corpus, print its stats."""
    from lantern_nb.profiles import load_profile

    cfg = load_profile(args.profile)
    stats = build_corpus(cfg, force=bool(getattr(args, "force", False)))
    print(f"{'reused' if stats['reused'] else 'wrote'} {stats['paths']['pairs']}", file=sys.stderr)
    try:
        where = Path(stats["paths"]["pairs"]).parent.relative_to(artifacts.repo_root())
    except ValueError:
        where = Path(stats["paths"]["pairs"]).parent
    title = (f"Corpus for profile '{cfg.name}' (source {cfg.data.source}, seed {cfg.seed}) in {where}/\n"
             f"Label counts with share of the set in brackets; job lengths are means over unique postings.\n")
    print(format_stats(stats, title))
    return 0
