"""`FailureSimulator`: inject the failure modes real LLM teachers show, with known truth.

The offline default teacher (the rubric) does not hallucinate, so to score the filter of paper
Sec. 4.1.3 we wrap it and corrupt a known share of its outputs:

* `hallucinated_qualification` -- a qualification the job text does not support;
* `hallucinated_evidence` -- an evidence quote that is not in the résumé;
* `label_contradiction` -- a label contradicting the output's own evaluation and score;
* `truncated_json` -- the raw JSON cut off mid-object (a parse error);
* `missing_field` -- one top-level key dropped (a parse error).

At most one mode per output, drawn from a generator seeded by (seed, pair_id) alone, so the
injection does not depend on batch composition or order. Corrupted raw JSON goes through the
real parser, so the last two become parse errors exactly as a real teacher's would.
`meta["injected"]` records the mode (None when the output is left clean).
"""
from __future__ import annotations

import copy
import hashlib
import json
import random
import re
from typing import Sequence

from lantern_nb.profiles import FAILURE_MODES
from lantern_nb.schema import Evaluation, FitResult, Pair, Qualification
from lantern_nb.teachers.base import Teacher, TeacherOutput
from lantern_nb.teachers.parse import ParseError, parse_fit_result

MODES: tuple[str, ...] = FAILURE_MODES

# Qualifications from unrelated occupations; one whose words do not occur in the job is used.
FAKE_QUALIFICATIONS: tuple[str, ...] = (
    "Active TS/SCI security clearance with polygraph",
    "FAA Airframe and Powerplant (A&P) certificate",
    "Board certification in veterinary dermatology",
    "Fluency in Icelandic and Faroese",
    "Commercial diving certification (ADCI)",
    "Ph.D. in astrophysics or cosmology",
    "Licensed harbor pilot endorsement",
    "NCCCO tower crane operator certification",
)
# Achievements no résumé of ours contains; one not present in the résumé is used.
FAKE_EVIDENCE: tuple[str, ...] = (
    "Led a team of 14 engineers at Globex Corporation (2012-2018)",
    "Holds an MBA from the Wharton School with distinction",
    "Fluent in Mandarin, Japanese and Korean",
    "Managed a $25M annual budget across six regions",
    "Published 12 peer-reviewed papers on quantum chemistry",
    "Certified Scrum Master and PMP since 2011",
)
_WORD_RE = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return {w for w in _WORD_RE.findall(text.lower()) if len(w) > 3}


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


class FailureSimulator:
    """Wraps a Teacher and corrupts outputs at per-mode `rates` (each in [0, 1], summing to <= 1)."""

    def __init__(self, teacher: Teacher, rates: dict[str, float], seed: int = 0) -> None:
        unknown = sorted(set(rates) - set(MODES))
        if unknown:
            raise ValueError(f"unknown failure mode(s) {', '.join(unknown)}; known: {', '.join(MODES)}")
        if any(r < 0 for r in rates.values()) or sum(rates.values()) > 1 + 1e-9:
            raise ValueError(f"failure rates must be >= 0 and sum to <= 1, got {rates}")
        self.teacher = teacher
        self.rates = {m: float(rates.get(m, 0.0)) for m in MODES}
        self.seed = seed
        self.name = f"{getattr(teacher, 'name', 'teacher')}+failures"

    def _rng(self, pair_id: str) -> random.Random:
        digest = hashlib.sha256(f"{self.seed}:{pair_id}".encode()).hexdigest()
        return random.Random(int(digest[:16], 16))

    def draw(self, pair_id: str) -> tuple[str | None, random.Random]:
        """The mode injected into `pair_id`'s output (None = clean) and the generator to use."""
        rng = self._rng(pair_id)
        u, acc = rng.random(), 0.0
        for mode in MODES:
            acc += self.rates[mode]
            if u < acc:
                return mode, rng
        return None, rng

    def label(self, pairs: Sequence[Pair]) -> list[TeacherOutput]:
        outs = self.teacher.label(pairs)
        return [self.corrupt(p, o) for p, o in zip(pairs, outs)]

    def corrupt(self, pair: Pair, out: TeacherOutput) -> TeacherOutput:
        """`out` with this pair's drawn failure injected (outputs already rejected stay as they are)."""
        mode, rng = self.draw(pair.pair_id)
        meta = {**out.meta, "injected": None}
        if mode is None or out.result is None:
            return TeacherOutput(out.pair_id, out.raw, out.result, out.error, meta)
        meta["injected"] = mode
        obj = out.result.to_dict()
        if mode == "hallucinated_qualification":
            res = copy.deepcopy(out.result)
            job = _words(pair.job_text)
            pool = list(FAKE_QUALIFICATIONS)
            rng.shuffle(pool)
            text = next((q for q in pool if not _words(q) & job), pool[0])
            at = rng.randrange(len(res.qualifications) + 1)
            res.qualifications.insert(at, Qualification(text=text, importance="required"))
            res.evaluation.insert(min(at, len(res.evaluation)), Evaluation(qualification=text, verdict="missing"))
            raw = res.to_json()
        elif mode == "hallucinated_evidence":
            res = copy.deepcopy(out.result)
            resume = _norm(pair.resume_text)
            pool = [e for e in FAKE_EVIDENCE if _norm(e) not in resume] or list(FAKE_EVIDENCE)
            backed = [i for i, e in enumerate(res.evaluation) if e.verdict in ("met", "partial")]
            i = rng.choice(backed) if backed else rng.randrange(len(res.evaluation))
            res.evaluation[i].evidence = rng.choice(pool)
            if res.evaluation[i].verdict == "missing":
                res.evaluation[i].verdict = "met"
            raw = res.to_json()
        elif mode == "label_contradiction":
            res = copy.deepcopy(out.result)
            flip = {"High": "Low", "Low": "High"}
            res.label = flip.get(res.label) or ("Low" if res.score >= 0.6 else "High")
            raw = res.to_json()
        elif mode == "truncated_json":
            raw = json.dumps(obj, ensure_ascii=False)
            raw = raw[:int(len(raw) * rng.uniform(0.2, 0.9))]
        else:  # missing_field
            del obj[rng.choice(sorted(obj))]
            raw = json.dumps(obj, ensure_ascii=False)
        try:
            result: FitResult | None = parse_fit_result(raw)
            error = None
        except ParseError as e:
            result, error = None, e.reason
        return TeacherOutput(out.pair_id, raw, result, error, meta)
