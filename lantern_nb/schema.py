"""The task's data schema (paper Sec. 3.1) shared by every module.

A `Pair` is one (job, résumé) input; a `FitResult` is the structured teacher output
(qualifications -> per-qualification evaluation -> label, score, explanation lines).
Everything on disk is JSON Lines of these, via `to_dict` / `from_dict`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

LABELS: tuple[str, ...] = ("Low", "Medium", "High")
LABEL2ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}
IMPORTANCE: tuple[str, ...] = ("required", "preferred")
VERDICTS: tuple[str, ...] = ("met", "partial", "missing")


@dataclass
class Pair:
    """One member-job input pair; `label` is the latent ground truth when known."""

    pair_id: str
    job_id: str
    job_text: str
    resume_text: str
    label: str | None = None
    split: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Pair":
        return cls(**{k: d.get(k) for k in ("pair_id", "job_id", "job_text", "resume_text", "label", "split")},
                   meta=dict(d.get("meta") or {}))


@dataclass
class Qualification:
    text: str
    importance: str = "required"


@dataclass
class Evaluation:
    qualification: str
    verdict: str
    evidence: str | None = None


@dataclass
class FitResult:
    """The teacher's structured output: the JSON object of the output schema."""

    qualifications: list[Qualification]
    evaluation: list[Evaluation]
    label: str
    score: float
    explanation: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FitResult":
        return cls(
            qualifications=[Qualification(**q) for q in d["qualifications"]],
            evaluation=[Evaluation(**e) for e in d["evaluation"]],
            label=d["label"],
            score=float(d["score"]),
            explanation=list(d["explanation"]),
        )


def render_explanation(label: str, lines: Iterable[str]) -> str:
    """The explanation model's target text: the fit level, then one rationale per line."""
    body = "\n".join(f"- {line}" for line in lines)
    return f"Fit: {label}\n{body}"


def parse_explanation(text: str) -> tuple[str | None, list[str]]:
    """Inverse of `render_explanation`, tolerant of a truncated generation."""
    label = None
    lines: list[str] = []
    for raw in text.splitlines():
        s = raw.strip()
        if s.startswith("Fit:") and label is None:
            cand = s[4:].strip()
            label = cand if cand in LABELS else None
        elif s.startswith("- "):
            lines.append(s[2:].strip())
    return label, lines


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically (tmp file, then rename) so a crash never leaves a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    tmp.replace(path)
    return n


def read_text_file(path: str | Path, what: str, max_chars: int | None = None) -> str:
    """A user's UTF-8 text file (a job ad, a résumé); `what` names it in the message ("job", "resume").

    The package's one text check (`lantern_nb.textcheck`): missing, non-UTF-8, empty, over
    `max_chars` characters (default: the cpu profile's serving.max_text_chars), binary or
    HTML/XML files raise an error that names the problem, the file and the fix.
    """
    from lantern_nb.textcheck import read_text_file as read_checked

    return read_checked(path, what, max_chars)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
