"""Job-description compression (paper Sec. 3.5.1): keep the requirement specification only.

The requirement specification carries most of the job-person fit signal; company story,
benefits, perks and legal boilerplate carry little. The rule-based compressor reuses the rubric
teacher's extraction step (`extract_requirements`), so compressed jobs and T1's qualifications
agree; the model-based summarizer of the serving issue is trained on these outputs. Output:

    Role: <title>            (when the posting starts with one)
    Required:
    - <qualification>
    Preferred:
    - <qualification>

When no requirement is found, the sentences that mention experience, skills, education or
licenses are kept instead, and failing that the opening sentences: never empty for a non-empty ad.
"""
from __future__ import annotations

import argparse
import re
from statistics import mean
from typing import Iterable

from lantern_nb.teachers.rubric import extract_requirements, job_title, split_sentences

_FALLBACK_RE = re.compile(r"\b(?:experience|skill|knowledge|degree|diploma|licen[cs]|certif|years?|abilit|"
                          r"proficien|familiar|background|qualif|require)", re.IGNORECASE)
_FALLBACK_CHARS = 400


def _fallback(job_text: str) -> str:
    sentences = [s for s in split_sentences(re.sub(r"\s+", " ", job_text)) if s]
    keep = [s for s in sentences if _FALLBACK_RE.search(s)] or sentences[:2]
    out = " ".join(keep)
    return out if len(out) <= _FALLBACK_CHARS else out[:_FALLBACK_CHARS].rsplit(" ", 1)[0] + " ..."


def compress_job(job_text: str) -> str:
    """The job's requirement specification as a short "Required:/Preferred:" list."""
    if not job_text or not job_text.strip():
        return ""
    quals = extract_requirements(job_text)
    title = job_title(job_text)
    lines: list[str] = [f"Role: {title}"] if title else []
    if not quals:
        lines.append(_fallback(job_text))
        return "\n".join(lines)
    for importance, header in (("required", "Required:"), ("preferred", "Preferred:")):
        items = [q.text for q in quals if q.importance == importance]
        if items:
            lines.append(header)
            lines.extend(f"- {t}" for t in items)
    return "\n".join(lines)


def compression_stats(texts: Iterable[str]) -> dict[str, float]:
    """Mean length before/after compression (chars and words) and the reduction ratios
    (1 - total after / total before), the paper's "reduced input length by about 80%"."""
    before_c, after_c, before_w, after_w = [], [], [], []
    for t in texts:
        c = compress_job(t)
        before_c.append(len(t))
        after_c.append(len(c))
        before_w.append(len(t.split()))
        after_w.append(len(c.split()))
    if not before_c:
        return {"n": 0, "chars_before": 0.0, "chars_after": 0.0, "words_before": 0.0, "words_after": 0.0,
                "char_reduction": 0.0, "word_reduction": 0.0}
    return {
        "n": len(before_c),
        "chars_before": mean(before_c), "chars_after": mean(after_c),
        "words_before": mean(before_w), "words_after": mean(after_w),
        "char_reduction": 1 - sum(after_c) / max(1, sum(before_c)),
        "word_reduction": 1 - sum(after_w) / max(1, sum(before_w)),
    }


def cli_compress(args: argparse.Namespace) -> int:
    """`python -m lantern_nb compress JOB_FILE`: print the compressed requirements."""
    from lantern_nb.schema import read_text_file

    print(compress_job(read_text_file(args.job_file, "job")))
    return 0
