"""D_seed as the explanation model sees it (paper Sec. 3.1, 3.4.1): rows, prompts, encoded examples.

Every model -- the teacher candidates (notebook 03), the KD students (04, 05), T2 labelling D_cls (06) and
the service (07) -- gets the same prompt: `prompts.explanation_messages` over the compressed job
(`compress.compress_job`, paper Sec. 3.5.1) and the candidate's résumé.
"""
from __future__ import annotations

from typing import Any, Sequence

from lantern_nb import artifacts, prompts
from lantern_nb.profiles import Profile
from lantern_nb.schema import read_jsonl
from lantern_nb.train import encode_chat_example


def _compress(job_text: str) -> str:
    from lantern_nb.compress import compress_job

    return compress_job(job_text)


def seed_rows(cfg: Profile, split: str | None = None) -> list[dict[str, Any]]:
    """D_seed rows (written by notebook 02) of `split` (train / val / test; None = all)."""
    path = artifacts.require(cfg.name, "d_seed")
    return [r for r in read_jsonl(path) if split is None or r.get("split") == split]


def row_messages(row: dict[str, Any], compress: bool = True) -> list[dict[str, str]]:
    """The chat prompt of one row: compressed job requirements + candidate résumé."""
    job = _compress(row["job_text"]) if compress else row["job_text"]
    return prompts.explanation_messages(job, row["resume_text"])


def encode_rows(tokenizer, rows: Sequence[dict[str, Any]], max_length: int,
                compress: bool = True) -> list[dict[str, list[int]]]:
    """Training examples: prompt tokens masked, `row["target"]` + EOS as pre-shifted labels."""
    out = []
    for row in rows:
        enc = encode_chat_example(tokenizer, row_messages(row, compress), row["target"], max_length)
        enc.pop("prompt_len", None)
        out.append(enc)
    return out
