"""Human-in-the-loop filtering of teacher outputs into D_seed (paper Sec. 4.1.3).

Validators flag what human reviewers check for -- hallucinations and unsupported rationale --
plus structural problems. Each returns `Flag(code, message)`s; an output with any flag is
rejected by the automatic policy. Codes:

* `schema` -- the output did not parse (the parser's reason is the message).
* `evidence_not_in_resume` -- an evidence quote is not a substring of the résumé after
  normalising case, whitespace, quote and dash characters; a quote with "..." must have every
  fragment present. A quote is also accepted against the PII-redacted résumé (what a remote
  teacher saw).
* `unsupported_qualification` -- fewer than `MIN_SUPPORT` of a qualification's content words
  (stop words and generic words such as "experience" removed, words cut to a 5-character stem,
  numbers kept) occur in the job text.
* `label_inconsistent` -- the label disagrees with the per-qualification verdicts. A score is
  recomputed with the rubric teacher's documented rule (R, P = mean verdict value of required /
  preferred items, met 1, partial 0.5, missing 0; score = 0.8 R + 0.2 P) and the label must be
  the band of that score (`BANDS`: the prompts' High >= 0.75, Low < 0.45), each band widened by
  `BAND_MARGIN` on both sides -- exact band, with slack at the boundaries, rather than "within
  one band", which with three labels would only catch High <-> Low. One band lower is accepted
  when a required item is missing (a missing license or degree caps the label). The output's own
  score must likewise lie in its label's widened band.
* `explanation_inconsistent` -- the explanation contradicts the label: most lines negative
  ("Missing ...", "Lacks ...") under High or most lines positive under Low; no line of the label's
  polarity (High needs a positive line, Low a negative one); Medium with only one polarity; or a
  summary naming another fit level ("Low fit" under High).
* `too_many_lines` / `line_too_long` -- `cfg.filtering.max_explanation_lines` / `max_line_chars`.

`auto_review` is the documented policy used under papermill: accept every output without flags,
reject every flagged one, never overriding a person's decision. `ReviewSession` keeps the
decisions (a person's win over automatic ones); `review_mode` picks the review for
`filtering.review_policy` and refuses `manual` in a batch run (papermill) while flagged outputs
still await a person, instead of letting the automatic policy decide them unnoticed. The widget and
the notebook's review flow (`start_review`) are in `lantern_nb.review`.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from lantern_nb import artifacts
from lantern_nb.profiles import Profile
from lantern_nb.redact import redact
from lantern_nb.schema import LABELS, FitResult, Pair, render_explanation, write_jsonl
from lantern_nb.teachers.base import TeacherOutput
from lantern_nb.teachers.cache import read_jsonl_tolerant
from lantern_nb.teachers.parse import parse_fit_result

CODES: tuple[str, ...] = ("schema", "evidence_not_in_resume", "unsupported_qualification", "label_inconsistent",
                          "explanation_inconsistent", "too_many_lines", "line_too_long")
VERDICT_VALUE = {"met": 1.0, "partial": 0.5, "missing": 0.0}
REQUIRED_WEIGHT = 0.8
BANDS: dict[str, tuple[float, float]] = {"Low": (0.0, 0.45), "Medium": (0.45, 0.75), "High": (0.75, 1.0)}
BAND_MARGIN = 0.1
MIN_SUPPORT = 0.5

_STOP = set("""a an the and or of to in on for with at by from as is are be being been this that these those
any all some such other its their our your you we they it who whom which what when where how per via into
over under than then also etc must should will can may able plus including include includes e g ie eg
years year yrs experience experienced strong solid good excellent proven demonstrated knowledge understanding
ability skills skill familiarity familiar proficiency proficient working work hands related relevant degree
required requirement requirements preferred plus nice have has least minimum similar equivalent field using
""".split())
_NEG_RE = re.compile(r"\b(missing|lacks?|lacking|no|not|without|absent|gaps?|insufficient|below|short of|"
                     r"fails?|unmet|does ?n[o']t|doesn't|cannot|unclear|none)\b", re.I)
_PARTIAL_RE = re.compile(r"\b(partial(?:ly)?|some|limited|somewhat|related|adjacent|fewer|less than)\b", re.I)
_POS_RE = re.compile(r"\b(meets?|met|has|have|holds?|strong|match(?:es|ing)?|exceeds?|solid|proven|"
                     r"demonstrates?|qualified|fits?|satisf(?:ies|y)|possesses|brings|covers?|good)\b", re.I)
_FIT_WORD_RE = re.compile(r"\b(low|medium|moderate|high|strong|weak|poor|good)\s+(?:overall\s+)?(?:fit|match)\b", re.I)
_FIT_WORD = {"low": "Low", "weak": "Low", "poor": "Low", "medium": "Medium", "moderate": "Medium",
             "high": "High", "strong": "High", "good": "High"}
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-",
                         "\u00a0": " ", "\u2022": " "})
_WORD_RE = re.compile(r"[a-z0-9]+(?:[+#.][a-z0-9+#]*)?")


@dataclass(frozen=True)
class Flag:
    """One validator finding: a reason code from `CODES` and a human-readable message."""

    code: str
    message: str


def _norm(text: str) -> str:
    return " ".join(text.translate(_QUOTES).lower().split())


def _stem(w: str) -> str:
    return w if w.isdigit() else w[:5]


def _content_words(text: str) -> set[str]:
    words = _WORD_RE.findall(text.translate(_QUOTES).lower())
    return {_stem(w.rstrip(".")) for w in words if w.rstrip(".") not in _STOP and (len(w) > 1 or w.isdigit())}


def _aligned(result: FitResult) -> list[tuple[str, str]]:
    """(importance, verdict) per evaluation item: by qualification text, else by position."""
    imp = {_norm(q.text): q.importance for q in result.qualifications}
    out = []
    for i, e in enumerate(result.evaluation):
        default = result.qualifications[i].importance if i < len(result.qualifications) else "required"
        out.append((imp.get(_norm(e.qualification), default), e.verdict))
    return out


def verdict_score(result: FitResult) -> float:
    """The score the verdicts imply (the rubric's documented rule): R, P = mean verdict value
    (met 1, partial 0.5, missing 0) of required / preferred items; 0.8 R + 0.2 P, or R or P alone."""
    items = _aligned(result)
    req = [VERDICT_VALUE.get(v, 0.0) for imp, v in items if imp == "required"]
    pref = [VERDICT_VALUE.get(v, 0.0) for imp, v in items if imp != "required"]
    r = sum(req) / len(req) if req else None
    p = sum(pref) / len(pref) if pref else None
    if r is not None and p is not None:
        return REQUIRED_WEIGHT * r + (1 - REQUIRED_WEIGHT) * p
    return r if r is not None else (p if p is not None else 0.0)


def band(score: float) -> str:
    """The label whose band holds `score`."""
    return "Low" if score < BANDS["Low"][1] else ("Medium" if score < BANDS["Medium"][1] else "High")


def _in_band(label: str, score: float, margin: float = BAND_MARGIN) -> bool:
    lo, hi = BANDS[label]
    return lo - margin <= score <= hi + margin


def line_polarity(line: str) -> str:
    """`negative`, `partial`, `positive` or `neutral` from cue words: a leading negative cue
    ("Missing ...") wins, then partial cues, then any negation, then positive cues."""
    if _NEG_RE.match(line.strip()):
        return "negative"
    if _PARTIAL_RE.search(line):
        return "partial"
    if _NEG_RE.search(line):
        return "negative"
    if _POS_RE.search(line):
        return "positive"
    return "neutral"


def check_evidence(pair: Pair, result: FitResult) -> list[Flag]:
    resumes = (_norm(pair.resume_text), _norm(redact(pair.resume_text)))
    flags = []
    for e in result.evaluation:
        if not e.evidence:
            continue
        quote = _norm(e.evidence).strip("\"' ")
        frags = [f.strip(" .,;:") for f in re.split(r"\.\.\.|\u2026", quote)]
        frags = [f for f in frags if f]
        if frags and not any(all(f in resume for f in frags) for resume in resumes):
            flags.append(Flag("evidence_not_in_resume",
                              f"evidence for '{e.qualification[:60]}' is not in the résumé: \"{e.evidence[:80]}\""))
    return flags


def qualification_support(qualification: str, job_text: str) -> float:
    """Share of the qualification's content words (stemmed) found in the job text; 1.0 if none."""
    words = _content_words(qualification)
    if not words:
        return 1.0
    job = _content_words(job_text)
    return len(words & job) / len(words)


def check_qualifications(pair: Pair, result: FitResult, min_support: float = MIN_SUPPORT) -> list[Flag]:
    flags = []
    for q in result.qualifications:
        s = qualification_support(q.text, pair.job_text)
        if s < min_support:
            flags.append(Flag("unsupported_qualification",
                              f"'{q.text[:80]}' is not supported by the job text (word overlap {s:.2f} < {min_support})"))
    return flags


def check_label(result: FitResult, margin: float = BAND_MARGIN) -> list[Flag]:
    """Label vs the verdict-implied score (and vs the output's own score); see the module docstring."""
    s = verdict_score(result)
    ok = _in_band(result.label, s, margin)
    if not ok and any(imp == "required" and v == "missing" for imp, v in _aligned(result)):
        # a missing hard requirement (license, degree) may cap the label one band lower
        ok = LABELS.index(result.label) == LABELS.index(band(s)) - 1
    if not ok:
        return [Flag("label_inconsistent", f"label {result.label} but the verdicts give score {s:.2f} ({band(s)})")]
    if not _in_band(result.label, result.score, margin):
        return [Flag("label_inconsistent", f"label {result.label} but the output's score is {result.score:.2f}")]
    return []


def _is_summary(line: str) -> bool:
    return bool(_FIT_WORD_RE.search(line)) or line.lower().startswith(("overall", "in summary", "summary"))


def check_explanation(result: FitResult) -> list[Flag]:
    """Explanation vs label: polarity of the per-qualification lines, and fit levels it names."""
    lines = [x for x in result.explanation if not _is_summary(x)]
    pol = [line_polarity(x) for x in lines]
    pos, neg = pol.count("positive"), pol.count("negative")
    n = len(lines)
    problems = []
    if result.label == "High":
        if neg > n / 2:
            problems.append(f"{neg}/{n} lines are negative under High")
        elif n and pos == 0:
            problems.append("no positive line under High")
    elif result.label == "Low":
        if pos > n / 2:
            problems.append(f"{pos}/{n} lines are positive under Low")
        elif n and neg == 0 and "partial" not in pol:
            problems.append("no negative line under Low")
    elif n >= 2 and (pos == n or neg == n):
        problems.append(f"all lines are {'positive' if pos == n else 'negative'} under Medium")
    text = " ".join(result.explanation)
    for m in _FIT_WORD_RE.finditer(text):
        named = _FIT_WORD[m.group(1).lower()]
        if named != result.label and not re.search(r"\b(not|no)\s+(a\s+)?$", text[:m.start()], re.I):
            problems.append(f"explanation says '{m.group(0)}' but the label is {result.label}")
            break
    return [Flag("explanation_inconsistent", "; ".join(problems))] if problems else []


def check_length(result: FitResult, max_lines: int, max_chars: int) -> list[Flag]:
    flags = []
    if len(result.explanation) > max_lines:
        flags.append(Flag("too_many_lines", f"{len(result.explanation)} explanation lines > {max_lines}"))
    long = [i for i, x in enumerate(result.explanation) if len(x) > max_chars]
    if long:
        flags.append(Flag("line_too_long", f"explanation line(s) {long} longer than {max_chars} characters"))
    return flags


def validate(pair: Pair, output: TeacherOutput, cfg: Profile) -> list[Flag]:
    """Every validator's flags for one output (empty = clean)."""
    if output.result is None:
        return [Flag("schema", output.error or "no parsed result")]
    r = output.result
    return (check_evidence(pair, r) + check_qualifications(pair, r) + check_label(r) + check_explanation(r)
            + check_length(r, cfg.filtering.max_explanation_lines, cfg.filtering.max_line_chars))


@dataclass
class FilterReport:
    """Per-output flags and the rejection-reasons table (one row per code)."""

    flags: dict[str, list[Flag]]
    reasons: pd.DataFrame

    @property
    def accepted(self) -> list[str]:
        return [pid for pid, f in self.flags.items() if not f]

    @property
    def rejected(self) -> list[str]:
        return [pid for pid, f in self.flags.items() if f]

    def frame(self) -> pd.DataFrame:
        """One row per output: pair_id, number of flags, codes."""
        return pd.DataFrame([{"pair_id": pid, "n_flags": len(f), "codes": ",".join(sorted({x.code for x in f}))}
                             for pid, f in self.flags.items()])


def filter_outputs(pairs: Sequence[Pair], outputs: Sequence[TeacherOutput], cfg: Profile) -> FilterReport:
    """Validate every output; the reasons table counts outputs per code (an output may have several)."""
    by_id = {p.pair_id: p for p in pairs}
    unknown = [o.pair_id for o in outputs if o.pair_id not in by_id]
    if unknown:
        raise ValueError(f"{len(unknown)} output(s) have no pair, e.g. {unknown[0]!r}: pass the pairs T1 labelled")
    flags = {o.pair_id: validate(by_id[o.pair_id], o, cfg) for o in outputs}
    n = max(1, len(flags))
    rows = []
    for code in CODES:
        hit = [pid for pid, f in flags.items() if any(x.code == code for x in f)]
        example = next((x.message for pid in hit[:1] for x in flags[pid] if x.code == code), "")
        rows.append({"reason": code, "outputs": len(hit), "share": len(hit) / n, "example": example})
    rejected = sum(1 for f in flags.values() if f)
    rows.append({"reason": "any (rejected)", "outputs": rejected, "share": rejected / n, "example": ""})
    return FilterReport(flags=flags, reasons=pd.DataFrame(rows))


def precision_recall(report: FilterReport, outputs: Sequence[TeacherOutput]) -> dict[str, Any]:
    """The filter scored against the simulator's truth: positive = rejected, truth = meta["injected"]
    is not None. Returns tp/fp/fn/tn, precision, recall, f1 and a per-mode recall table."""
    tp = fp = fn = tn = 0
    per_mode: dict[str, list[int]] = {}
    for o in outputs:
        injected = o.meta.get("injected")
        flagged = bool(report.flags.get(o.pair_id))
        if injected:
            tp, fn = tp + flagged, fn + (not flagged)
            per_mode.setdefault(injected, [0, 0])
            per_mode[injected][0] += 1
            per_mode[injected][1] += flagged
        else:
            fp, tn = fp + flagged, tn + (not flagged)
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    table = pd.DataFrame([{"mode": m, "injected": n, "caught": c, "recall": c / n} for m, (n, c) in sorted(per_mode.items())])
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall, "f1": f1,
            "per_mode": table}


@dataclass
class Decision:
    """One review decision; `edited` holds the corrected output JSON for `edit`. `undo` (a person
    taking back their last decision on the pair) is only ever a line of the review file."""

    pair_id: str
    decision: str  # accept | reject | edit | undo
    edited: dict[str, Any] | None = None
    timestamp: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    reviewer: str = "human"
    note: str = ""

    @property
    def by_person(self) -> bool:
        return self.reviewer != "auto"


def review_path(cfg: Profile) -> Path:
    """Where notebook 02 keeps its review decisions: data/<profile>/seed/review.jsonl."""
    return artifacts.data_dir(cfg.name) / "seed" / "review.jsonl"


class ReviewSession:
    """Review decisions appended (fsync'd) to a JSONL file, so a review can stop and resume.

    Per pair, a person's latest decision wins over any automatic one, whatever their order in the
    file; among automatic decisions the latest wins. An `undo` line removes the person's decision
    (the pair is pending again, or falls back to its automatic decision)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.human: dict[str, Decision] = {}
        self.auto: dict[str, Decision] = {}
        for _, rec in read_jsonl_tolerant(self.path, repair=True):
            self._apply(Decision(**rec))

    def _apply(self, d: Decision) -> None:
        if d.decision == "undo":
            self.human.pop(d.pair_id, None)
        elif d.by_person:
            self.human[d.pair_id] = d
        else:
            self.auto[d.pair_id] = d

    @property
    def decisions(self) -> dict[str, Decision]:
        """The decision that counts per pair: a person's, else the automatic one."""
        return {**self.auto, **self.human}

    def decided(self, pair_id: str) -> bool:
        """Decided by anyone (a person or the automatic policy)."""
        return pair_id in self.human or pair_id in self.auto

    def decided_by_person(self, pair_id: str) -> bool:
        return pair_id in self.human

    def pending(self, pair_ids: Sequence[str]) -> list[str]:
        """`pair_ids` no person has decided yet, in order (automatic decisions do not count)."""
        return [p for p in pair_ids if p not in self.human]

    def _append(self, d: Decision) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(d), ensure_ascii=False, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._apply(d)

    def record(self, pair_id: str, decision: str, edited: dict[str, Any] | None = None, *,
               reviewer: str = "human", note: str = "") -> Decision:
        """Append one decision; `edit` requires `edited` to be a valid output (checked by the parser).
        An automatic decision for a pair a person decided is refused (`ValueError`)."""
        if decision not in ("accept", "reject", "edit"):
            raise ValueError(f"decision {decision!r} is not accept, reject or edit")
        if reviewer == "auto" and pair_id in self.human:
            raise ValueError(f"{pair_id}: a person decided it ({self.human[pair_id].decision}); "
                             "the automatic policy never overrides a person")
        if decision == "edit":
            if edited is None:
                raise ValueError("an edit needs the edited output JSON")
            edited = parse_fit_result(json.dumps(edited)).to_dict()
        d = Decision(pair_id, decision, edited, reviewer=reviewer, note=note)
        self._append(d)
        return d

    def undo(self, pair_id: str, *, reviewer: str = "human") -> Decision | None:
        """Take back the person's decision on `pair_id` (appends an `undo` line); returns the
        decision that was taken back, or None when no person had decided it."""
        old = self.human.get(pair_id)
        if old is not None:
            self._append(Decision(pair_id, "undo", reviewer=reviewer))
        return old


def auto_review(report: FilterReport, session: ReviewSession | None = None) -> dict[str, Decision]:
    """The automatic policy (papermill, `review_policy: auto`): accept clean outputs, reject flagged
    ones. Decisions already in `session` are kept -- a person's always, and earlier automatic
    ones (delete the review file to re-decide); new ones are recorded there as `reviewer="auto"`."""
    out: dict[str, Decision] = {}
    for pid, flags in report.flags.items():
        if session is not None and session.decided(pid):
            out[pid] = session.decisions[pid]
            continue
        verdict = "reject" if flags else "accept"
        note = ",".join(sorted({f.code for f in flags}))
        out[pid] = (session.record(pid, verdict, reviewer="auto", note=note) if session is not None
                    else Decision(pid, verdict, reviewer="auto", note=note))
    return out


class ReviewPolicyError(RuntimeError):
    """`review_policy: manual` in a run with no one to review (papermill) and outputs pending."""


POLICIES: tuple[str, ...] = ("interactive", "auto", "manual")


def review_mode(policy: str, batch: bool, pending: int) -> str:
    """The review that applies, "auto" or "manual", for `filtering.review_policy`:

    * `interactive` -- the widget ("manual") in a live kernel, the automatic policy in a batch run;
    * `auto` -- the automatic policy everywhere;
    * `manual` -- a person must decide the flagged outputs. In a batch run (`batch`, e.g. papermill)
      with `pending` flagged outputs no person decided, a widget would wait for no one and the
      automatic policy would silently decide them, so this raises `ReviewPolicyError` naming the
      fix. With nothing pending (a person reviewed them all) the batch run proceeds ("manual").
    """
    if policy not in POLICIES:
        raise ValueError(f"filtering.review_policy: {policy!r} is not one of {', '.join(POLICIES)}")
    if policy == "interactive":
        return "auto" if batch else "manual"
    if policy == "manual" and batch and pending > 0:
        raise ReviewPolicyError(
            f"filtering.review_policy is 'manual' but this notebook runs in batch (papermill), where no one can "
            f"review the {pending} flagged output(s) still pending. Either run notebooks/02_filtering.ipynb "
            "interactively in JupyterLab and review them, or set OVERRIDES = {\"filtering.review_policy\": \"auto\"} "
            "(papermill: -y 'OVERRIDES: {filtering.review_policy: auto}') to accept clean outputs and reject "
            "flagged ones.")
    return policy


def export_seed(cfg: Profile, pairs: Sequence[Pair], outputs: Sequence[TeacherOutput],
                decisions: Mapping[str, Decision | str]) -> Path:
    """Write D_seed atomically: accepted outputs, and edited ones with their edit. Each row is the
    pair's fields plus `teacher` (the FitResult dict) and `target` (the explanation model's text)."""
    by_id = {p.pair_id: p for p in pairs}
    rows = []
    for o in outputs:
        d = decisions.get(o.pair_id)
        kind = d if isinstance(d, str) else (d.decision if d is not None else None)
        if kind == "edit" and not isinstance(d, str) and d.edited is not None:
            result = FitResult.from_dict(d.edited)
        elif kind == "accept" and o.result is not None:
            result = o.result
        else:
            continue
        row = by_id[o.pair_id].to_dict()
        row["meta"] = {**row.get("meta", {}), "review": kind}
        row["teacher"] = result.to_dict()
        row["target"] = render_explanation(result.label, result.explanation)
        rows.append(row)
    path = artifacts.artifact_path(cfg.name, "d_seed")
    write_jsonl(path, rows)
    return path


__all__ = ["Flag", "FilterReport", "Decision", "ReviewSession", "CODES", "validate", "filter_outputs",
           "precision_recall", "auto_review", "review_mode", "ReviewPolicyError", "POLICIES", "review_path",
           "export_seed", "verdict_score", "band", "line_polarity", "qualification_support"]
