"""Real-data loaders (the paper profile's GPU box) into the same `Pair` schema.

* `hf_fit`    - `cnamuangtoun/resume-job-description-fit` (No Fit / Potential Fit / Good Fit);
* `hf_netsol` - `netsol/resume-score-details` (per-requirement flags + justification);
* `file`      - a local CSV / JSONL / JSON / Parquet file (or a folder of netsol-style JSON files).

Both hub loaders require a pinned `revision` (a commit sha, `check_pinned`) and fail fast, with a
message saying how to proceed, when the Hugging Face Hub cannot be reached. Splits are assigned
later, grouped by job (`splits.py`).
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
import socket
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

from lantern_nb.profiles import ProfileError
from lantern_nb.schema import LABELS, Pair

HF_FIT_ID = "cnamuangtoun/resume-job-description-fit"
HF_NETSOL_ID = "netsol/resume-score-details"
JOB_COLUMNS: tuple[str, ...] = ("job_text", "job_description", "job_description_text", "jd")
RESUME_COLUMNS: tuple[str, ...] = ("resume_text", "resume", "profile_text", "profile")  # aliases after the first
LABEL_COLUMNS: tuple[str, ...] = ("label", "fit", "fit_label")
LABEL_ALIASES: dict[str, str] = {
    "low": "Low", "medium": "Medium", "high": "High",
    "no fit": "Low", "potential fit": "Medium", "good fit": "High",
    "0": "Low", "1": "Medium", "2": "High",
}
NETSOL_HIGH, NETSOL_MEDIUM = 0.7, 0.4  # thresholds on the 0-1 score (aggregated 0-10 scores / 10)


class HubUnavailableError(RuntimeError):
    """The Hugging Face Hub cannot be reached; the message says how to proceed offline."""


def text_id(text: str, prefix: str = "jd") -> str:
    """A stable id from whitespace-normalised text (same posting -> same id)."""
    norm = " ".join(text.split()).lower()
    return f"{prefix}-{hashlib.sha1(norm.encode('utf-8')).hexdigest()[:12]}"


def normalize_label(value: Any, where: str = "") -> str | None:
    """Map Low/Medium/High, No/Potential/Good Fit or 0/1/2 to a label; empty -> None."""
    if value is None or (isinstance(value, float) and value != value) or str(value).strip() == "":
        return None
    key = str(value).strip().lower()
    if key in LABEL_ALIASES:
        return LABEL_ALIASES[key]
    raise ValueError(f"{where}unknown label {value!r}; accepted: {', '.join(LABELS)}, "
                     "'No Fit'/'Potential Fit'/'Good Fit' or 0/1/2")


# ---------------------------------------------------------------------------------------------
# Hub access
# ---------------------------------------------------------------------------------------------
def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hub_offline() -> bool:
    """True when the user asked for offline mode (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)."""
    return _truthy("HF_HUB_OFFLINE") or _truthy("HF_DATASETS_OFFLINE")


def hub_probe(timeout: float = 3.0) -> str | None:
    """None if a TCP connect to the hub endpoint succeeds within `timeout` s, else the reason."""
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme != "http" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return f"cannot connect to {host}:{port} within {timeout:g} s: {e}"


_COMMIT_SHA = re.compile(r"[0-9a-f]{40}")


def _in_local_cache(repo_id: str) -> bool:
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")).expanduser()
    hub = Path(os.environ.get("HF_HUB_CACHE", home / "hub")).expanduser()
    ds = Path(os.environ.get("HF_DATASETS_CACHE", home / "datasets")).expanduser()
    owner, name = repo_id.split("/")
    return (hub / f"datasets--{owner}--{name}").exists() or (ds / f"{owner}___{name}").exists()


def _unavailable(repo_id: str, revision: str | None, source: str, reason: str) -> HubUnavailableError:
    rev = revision or "main"
    return HubUnavailableError(
        f"The Hugging Face Hub is unreachable ({reason}), so data.source: {source} cannot load "
        f"'{repo_id}' at revision '{rev}'. To proceed: (1) use data.source: synthetic (the offline default "
        f"of the smoke and cpu profiles); or (2) on a connected machine run "
        f"`python -c \"from datasets import load_dataset, concatenate_datasets as c; "
        f"d = load_dataset('{repo_id}', revision='{rev}'); c(list(d.values())).to_json('pairs.jsonl')\"`, "
        f"copy pairs.jsonl here and set data.source: file and data.path: /path/to/pairs.jsonl "
        f"(columns {'/'.join(JOB_COLUMNS[:2])}, {'/'.join(RESUME_COLUMNS[:2])}, optional label); "
        f"or (3) if the dataset is already in your Hugging Face cache, set HF_HUB_OFFLINE=1 to read it from there.")


def check_pinned(repo_id: str, revision: str | None) -> None:
    """Refuse a revision that is not a 40-hex commit sha: a branch or tag ("main", None) moves, so a
    rerun could silently train and report on different rows than the cached artifacts were built from."""
    if revision is not None and _COMMIT_SHA.fullmatch(revision):
        return
    raise ProfileError(
        f"data.revision: {revision!r} is not a pinned commit of '{repo_id}' (a branch or tag moves with the "
        f"dataset). Set data.revision to its 40-hex commit sha, e.g. the value printed by `python -c \"from "
        f"huggingface_hub import HfApi; print(HfApi().dataset_info('{repo_id}').sha)\"`, in the profile or as "
        f"OVERRIDES = {{'data.revision': '<sha>'}}.")


def load_hub_dataset(repo_id: str, revision: str | None, source: str) -> Any:
    """`datasets.load_dataset(repo_id, revision=...)`, failing fast when the hub is unreachable or
    the revision is not a pinned commit (`check_pinned`)."""
    if hub_offline():
        if not _in_local_cache(repo_id):
            raise _unavailable(repo_id, revision, source, "HF_HUB_OFFLINE is set and the dataset is not in the local cache")
    elif (reason := hub_probe()) is not None:
        raise _unavailable(repo_id, revision, source, reason)
    check_pinned(repo_id, revision)
    import datasets

    try:
        return datasets.load_dataset(repo_id, revision=revision)
    except (ConnectionError, TimeoutError) as e:
        raise _unavailable(repo_id, revision, source, f"{type(e).__name__}: {e}") from e


# ---------------------------------------------------------------------------------------------
# cnamuangtoun/resume-job-description-fit
# ---------------------------------------------------------------------------------------------
def _require_columns(columns: Iterable[str], needed: Iterable[str], what: str) -> None:
    columns = list(columns)
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ValueError(f"{what}: missing field(s) {', '.join(repr(m) for m in missing)}; found {columns}")


def _cap_jobs(pairs: list[Pair], n_jobs: int | None) -> list[Pair]:
    if not n_jobs:
        return pairs
    keep = set(sorted({p.job_id for p in pairs})[:n_jobs])
    return [p for p in pairs if p.job_id in keep]


def load_hf_fit(revision: str | None, n_jobs: int | None = None) -> list[Pair]:
    """All rows of `cnamuangtoun/resume-job-description-fit`, labels mapped to Low/Medium/High.

    `job_id` is a hash of the job description text, so the later split is grouped by posting
    (the dataset's own train/test split is kept in `meta.orig_split` only).
    """
    ds = load_hub_dataset(HF_FIT_ID, revision, "hf_fit")
    pairs: list[Pair] = []
    for split in sorted(ds):
        table = ds[split]
        _require_columns(table.column_names, ("resume_text", "job_description_text", "label"), f"{HF_FIT_ID} [{split}]")
        for i, row in enumerate(table):
            job, resume = row["job_description_text"] or "", row["resume_text"] or ""
            job_id = text_id(job)
            pairs.append(Pair(
                pair_id=f"{job_id}-{text_id(resume, 'cv')[3:]}-{split}{i}", job_id=job_id, job_text=job,
                resume_text=resume, label=normalize_label(row["label"], f"{HF_FIT_ID} [{split}] row {i}: "),
                meta={"source": "hf_fit", "dataset": HF_FIT_ID, "revision": revision, "orig_split": split,
                      "orig_label": row["label"]}))
    return _cap_jobs(pairs, n_jobs)


# ---------------------------------------------------------------------------------------------
# netsol/resume-score-details
# ---------------------------------------------------------------------------------------------
def _field(rec: dict[str, Any], dotted: str, where: str, default: Any = ...) -> Any:
    node: Any = rec
    path = []
    for part in dotted.split("."):
        path.append(part)
        if not isinstance(node, dict) or part not in node or node[part] is None:
            if default is not ...:
                return default
            keys = sorted(node) if isinstance(node, dict) else type(node).__name__
            raise ValueError(f"{where}: missing field '{'.'.join(path)}' (available at this level: {keys})")
        node = node[part]
    return node


def netsol_pair(rec: dict[str, Any], index: int, revision: str | None = None) -> Pair | None:
    """One netsol record -> Pair (None when the record is flagged invalid).

    Label from the aggregated macro/micro scores (0-10, averaged, /10): >= 0.7 High, >= 0.4
    Medium, else Low; without scores, from the share of requirements met. Per-requirement flags
    and the justification go into `meta.requirements` / `meta.explanation`; personal details
    (`output.personal_info`, `details`) are deliberately not copied.
    """
    where = f"{HF_NETSOL_ID} record {index}"
    if _field(rec, "output.valid_resume_and_jd", where, default=True) is False:
        return None
    job = _field(rec, "input.job_description", where)
    resume = _field(rec, "input.resume", where)
    reqs_raw = _field(rec, "output.scores.requirements", where, default=[]) or []
    requirements = []
    for r in reqs_raw:
        if isinstance(r, dict) and "criteria" in r:
            requirements.append({"text": str(r["criteria"]), "importance": "required",
                                 "verdict": "met" if r.get("meets") else "missing"})
    agg = _field(rec, "output.scores.aggregated_scores", where, default=None)
    values = [float(agg[k]) for k in ("macro_scores", "micro_scores") if isinstance(agg, dict) and isinstance(agg.get(k), (int, float))]
    if values:
        score = max(0.0, min(1.0, sum(values) / len(values) / 10.0))
    elif requirements:
        score = sum(r["verdict"] == "met" for r in requirements) / len(requirements)
    else:
        raise ValueError(f"{where}: missing field 'output.scores.aggregated_scores' (and no "
                         "'output.scores.requirements' to derive a label from)")
    label = "High" if score >= NETSOL_HIGH else "Medium" if score >= NETSOL_MEDIUM else "Low"
    justification = _field(rec, "output.justification", where, default=[])
    if isinstance(justification, str):
        justification = [justification]
    job_id = text_id(str(job))
    return Pair(
        pair_id=f"{job_id}-{text_id(str(resume), 'cv')[3:]}-{index}", job_id=job_id, job_text=str(job),
        resume_text=str(resume), label=label,
        meta={"source": "hf_netsol", "dataset": HF_NETSOL_ID, "revision": revision, "score": round(score, 4),
              "requirements": requirements, "required": [r["text"] for r in requirements],
              "explanation": [str(j) for j in justification],
              "minimum_requirements": list(_field(rec, "input.minimum_requirements", where, default=[]) or []),
              "macro_scores": _field(rec, "output.scores.macro_scores", where, default=[]),
              "micro_scores": _field(rec, "output.scores.micro_scores", where, default=[])})


def _netsol_records(revision: str | None) -> list[dict[str, Any]]:
    ds = load_hub_dataset(HF_NETSOL_ID, revision, "hf_netsol")
    return [dict(row) for split in sorted(ds) for row in ds[split]]


def load_hf_netsol(revision: str | None, n_jobs: int | None = None) -> list[Pair]:
    """All valid records of `netsol/resume-score-details` as pairs with explanations in meta."""
    pairs = [p for i, rec in enumerate(_netsol_records(revision)) if (p := netsol_pair(rec, i, revision)) is not None]
    if not pairs:
        raise ValueError(f"{HF_NETSOL_ID}: no valid records (all flagged output.valid_resume_and_jd = false?)")
    return _cap_jobs(pairs, n_jobs)


# ---------------------------------------------------------------------------------------------
# Local files
# ---------------------------------------------------------------------------------------------
def _read_rows(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if path.is_dir():
        rows = []
        for f in sorted(path.glob("*.json*")):
            rows.extend(_read_rows(f))
        return rows
    if suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))
    if suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    if suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        return data if isinstance(data, list) else [data]
    if suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_dict("records")
    raise ValueError(f"data.path {path}: unsupported file type {suffix!r}; use .csv, .jsonl, .json or .parquet")


def _pick(columns: list[str], accepted: tuple[str, ...]) -> str | None:
    lower = {c.lower().strip(): c for c in columns}
    return next((lower[a] for a in accepted if a in lower), None)


def load_file(path: str | Path | None) -> list[Pair]:
    """A local CSV / JSONL / JSON / Parquet file of (job, résumé[, label]) rows.

    Accepted columns: job text `job_text` | `job_description` | `job_description_text` | `jd`;
    résumé text `resume_text`, or one of its aliases `resume` | `profile_text` | `profile` (the
    column names of older files and other datasets); optional `label` | `fit` | `fit_label`,
    `job_id`, `pair_id`. netsol-style records (`input` / `output`) are read too.
    """
    if not path:
        raise ValueError("data.source is 'file' but data.path is empty; set data.path to a CSV/JSONL file")
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"data.path {p} does not exist (data.source: file)")
    rows = _read_rows(p)
    if not rows:
        raise ValueError(f"data.path {p}: no rows")
    if isinstance(rows[0], dict) and isinstance(rows[0].get("input"), dict):
        pairs = [q for i, r in enumerate(rows) if (q := netsol_pair(r, i)) is not None]
        for q in pairs:
            q.meta.update(source="file", path=str(p))
        return pairs
    columns = list(rows[0].keys())
    job_col, resume_col = _pick(columns, JOB_COLUMNS), _pick(columns, RESUME_COLUMNS)
    if job_col is None or resume_col is None:
        raise ValueError(
            f"data.path {p}: cannot find the {'job' if job_col is None else 'résumé'} text column. "
            f"Found columns {columns}; accepted job columns: {', '.join(JOB_COLUMNS)}; accepted résumé "
            f"columns: {', '.join(RESUME_COLUMNS)}; optional label column: {', '.join(LABEL_COLUMNS)} "
            f"(values {'/'.join(LABELS)}, No Fit/Potential Fit/Good Fit or 0/1/2).")
    label_col = _pick(columns, LABEL_COLUMNS)
    id_col, pid_col = _pick(columns, ("job_id",)), _pick(columns, ("pair_id",))
    pairs = []
    for i, row in enumerate(rows):
        job, resume = str(row.get(job_col) or ""), str(row.get(resume_col) or "")
        if not job.strip() or not resume.strip():
            raise ValueError(f"data.path {p} row {i}: empty '{job_col if not job.strip() else resume_col}'")
        job_id = str(row[id_col]) if id_col and row.get(id_col) not in (None, "") else text_id(job)
        label = normalize_label(row.get(label_col), f"data.path {p} row {i}: ") if label_col else None
        pair_id = str(row[pid_col]) if pid_col and row.get(pid_col) not in (None, "") else f"{job_id}-{i:06d}"
        pairs.append(Pair(pair_id=pair_id, job_id=job_id, job_text=job, resume_text=resume, label=label,
                          meta={"source": "file", "path": str(p)}))
    return pairs


def derive_cls_pairs(base: list[Pair], n_pairs: int, seed: int) -> list[Pair]:
    """D_cls for real data: train-split pairs, then train jobs re-paired with train résumés.

    Real data has no fresh postings to draw, so D_cls uses only jobs of the train split (nothing
    from val/test leaks in). Re-paired rows have no label: the teacher (T2) labels them.
    """
    train = [p for p in base if p.split == "train"]
    if not train:
        return []
    out = [Pair(pair_id=f"cls-{i:07d}", job_id=p.job_id, job_text=p.job_text, resume_text=p.resume_text,
                label=p.label, meta={**p.meta, "hard_negative": False, "derived_from": p.pair_id})
           for i, p in enumerate(train[:n_pairs])]
    rng = random.Random(f"{seed}:cls:repair")
    jobs = sorted({p.job_id: p for p in train}.values(), key=lambda p: p.job_id)
    resumes = sorted({p.resume_text for p in train})
    seen = {(p.job_id, p.resume_text) for p in train}
    attempts = 0
    while len(out) < n_pairs and attempts < 20 * n_pairs:
        attempts += 1
        job, resume = rng.choice(jobs), rng.choice(resumes)
        if (job.job_id, resume) in seen:
            continue
        seen.add((job.job_id, resume))
        out.append(Pair(pair_id=f"cls-{len(out):07d}", job_id=job.job_id, job_text=job.job_text, resume_text=resume,
                        label=None, meta={"source": job.meta.get("source"), "hard_negative": False, "repaired": True}))
    return out
