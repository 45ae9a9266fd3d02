"""Splits grouped by job posting: no job appears in two splits (so no posting leaks into test)."""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Iterable

from lantern_nb.schema import Pair

SPLITS: tuple[str, ...] = ("train", "val", "test")


def assign_splits(pairs: list[Pair], val_frac: float, test_frac: float, seed: int) -> list[Pair]:
    """Set `pair.split` in place, grouped by `job_id`, deterministic for a seed.

    Jobs are shuffled within each occupation family and interleaved across families, so the
    test and val splits get a spread of families; then the first `test_frac` of jobs go to
    test, the next `val_frac` to val, the rest to train.
    """
    family_of: dict[str, str] = {}
    for p in pairs:
        family_of.setdefault(p.job_id, str(p.meta.get("family", "")))
    rng = random.Random(f"{seed}:split")
    by_family: dict[str, list[str]] = defaultdict(list)
    for job_id in sorted(family_of):
        by_family[family_of[job_id]].append(job_id)
    queues = []
    for fam in sorted(by_family):
        jobs = by_family[fam]
        rng.shuffle(jobs)
        queues.append(jobs)
    order: list[str] = []
    while any(queues):
        for q in queues:
            if q:
                order.append(q.pop())
    n = len(order)
    n_test = round(test_frac * n) if test_frac > 0 else 0
    n_val = round(val_frac * n) if val_frac > 0 else 0
    if n >= 3:
        n_test = max(n_test, 1 if test_frac > 0 else 0)
        n_val = max(n_val, 1 if val_frac > 0 else 0)
    split_of = {j: ("test" if i < n_test else "val" if i < n_test + n_val else "train") for i, j in enumerate(order)}
    for p in pairs:
        p.split = split_of[p.job_id]
    return pairs


def check_grouped(pairs: Iterable[Pair]) -> None:
    """Raise `ValueError` if any job_id appears in more than one split."""
    seen: dict[str, str | None] = {}
    for p in pairs:
        if p.job_id in seen and seen[p.job_id] != p.split:
            raise ValueError(f"job {p.job_id!r} appears in splits {seen[p.job_id]!r} and {p.split!r}")
        seen[p.job_id] = p.split


def check_disjoint_jobs(a: Iterable[Pair], b: Iterable[Pair]) -> None:
    """Raise `ValueError` if the two collections share a job (by id or by identical job text)."""
    a = list(a)
    ids_a = {p.job_id for p in a}
    texts_a = {p.job_text for p in a}
    shared = [p.job_id for p in b if p.job_id in ids_a or p.job_text in texts_a]
    if shared:
        raise ValueError(f"{len(set(shared))} job(s) appear in both collections, e.g. {shared[0]!r}")
