"""Parsing teacher outputs into the output schema (paper Sec. 3.3.1).

Tolerant of the form LLMs wrap JSON in (code fences, chatter before or after, trailing commas),
strict about the content: every key present with the right type and value set. A rejected output
raises `ParseError` whose `reason` is a short, specific string kept alongside the raw output.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from lantern_nb.schema import IMPORTANCE, LABELS, VERDICTS, Evaluation, FitResult, Qualification


class ParseError(ValueError):
    """A teacher output that does not satisfy the output schema; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_FENCE_RE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA_RE = re.compile(r",(\s*[}\]])")
_KEY_RE = re.compile(r'"\s*:')


def _candidates(text: str) -> list[str]:
    """Texts that may hold the JSON: fenced blocks first, then the whole text."""
    blocks = [m.group(1) for m in _FENCE_RE.finditer(text)]
    unclosed = re.search(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*)$", text, re.DOTALL)
    if not blocks and unclosed:
        blocks.append(unclosed.group(1))
    return blocks + [text]


def extract_json(text: str, want: type = dict) -> Any:
    """The first JSON value of type `want` (dict or list) found in `text`.

    Raises ParseError("no JSON object found") or ("invalid JSON: ...") with the decoder's message.
    """
    if not isinstance(text, str) or not text.strip():
        raise ParseError("empty output")
    opener = "{" if want is dict else "["
    decoder = json.JSONDecoder()
    first_error: str | None = None
    for cand in _candidates(text):
        for variant in (cand, _TRAILING_COMMA_RE.sub(r"\1", cand)):
            start, failed_at = variant.find(opener), None
            while start != -1:
                try:
                    value, _ = decoder.raw_decode(variant, start)
                except json.JSONDecodeError as e:
                    first_error = first_error or f"{e.msg} at char {e.pos}"
                    failed_at = start if failed_at is None else failed_at
                else:
                    # a value nested inside a broken object is not the answer
                    nested = failed_at is not None and _KEY_RE.search(variant, failed_at, start)
                    if isinstance(value, want) and not nested:
                        return value
                start = variant.find(opener, start + 1)
    if first_error:
        raise ParseError(f"invalid JSON: {first_error}")
    raise ParseError("no JSON object found" if want is dict else "no JSON list found")


def _require(obj: dict[str, Any], key: str, where: str = "") -> Any:
    if key not in obj:
        raise ParseError(f"missing field '{where}{key}'")
    return obj[key]


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ParseError(f"{name} must be a non-empty string")
    return value.strip()


def _qualifications(items: Any) -> list[Qualification]:
    if not isinstance(items, list):
        raise ParseError("'qualifications' must be a list")
    if not items:
        raise ParseError("'qualifications' is empty")
    out = []
    for i, q in enumerate(items):
        if not isinstance(q, dict):
            raise ParseError(f"qualifications[{i}] must be an object")
        text = _text(_require(q, "text", f"qualifications[{i}]."), f"qualifications[{i}].text")
        imp = _require(q, "importance", f"qualifications[{i}].")
        if not isinstance(imp, str) or imp.strip().lower() not in IMPORTANCE:
            raise ParseError(f"importance '{imp}' not in {'|'.join(IMPORTANCE)}")
        out.append(Qualification(text=text, importance=imp.strip().lower()))
    return out


def _evaluation(items: Any) -> list[Evaluation]:
    if not isinstance(items, list):
        raise ParseError("'evaluation' must be a list")
    if not items:
        raise ParseError("'evaluation' is empty")
    out = []
    for i, e in enumerate(items):
        if not isinstance(e, dict):
            raise ParseError(f"evaluation[{i}] must be an object")
        qual = _text(_require(e, "qualification", f"evaluation[{i}]."), f"evaluation[{i}].qualification")
        verdict = _require(e, "verdict", f"evaluation[{i}].")
        if not isinstance(verdict, str) or verdict.strip().lower() not in VERDICTS:
            raise ParseError(f"verdict '{verdict}' not in {'|'.join(VERDICTS)}")
        evidence = e.get("evidence")
        if evidence is not None and not isinstance(evidence, str):
            raise ParseError(f"evaluation[{i}].evidence must be a string or null")
        if isinstance(evidence, str) and not evidence.strip():
            evidence = None
        out.append(Evaluation(qualification=qual, verdict=verdict.strip().lower(), evidence=evidence))
    return out


def _label(value: Any) -> str:
    if isinstance(value, str):
        for label in LABELS:
            if value.strip().lower() == label.lower():
                return label
    raise ParseError(f"label '{value}' not in {'|'.join(LABELS)}")


def _score(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParseError(f"score {value!r} is not a number")
    score = float(value)
    if math.isnan(score) or not 0.0 <= score <= 1.0:
        raise ParseError(f"score {value} not in [0, 1]")
    return score


def _explanation(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ParseError("'explanation' must be a list of strings")
    if not value:
        raise ParseError("'explanation' is empty")
    lines = []
    for i, line in enumerate(value):
        if not isinstance(line, str) or not line.strip():
            raise ParseError(f"explanation[{i}] must be a non-empty string")
        lines.append(line.strip())
    return lines


def parse_fit_result(text: str) -> FitResult:
    """The full output JSON -> `FitResult`; raises `ParseError(reason)` when it is not valid."""
    obj = extract_json(text, dict)
    for key in ("qualifications", "evaluation", "label", "score", "explanation"):
        _require(obj, key)
    return FitResult(qualifications=_qualifications(obj["qualifications"]),
                     evaluation=_evaluation(obj["evaluation"]),
                     label=_label(obj["label"]), score=_score(obj["score"]),
                     explanation=_explanation(obj["explanation"]))


def _list_step(text: str, key: str) -> Any:
    """A chain step's list: `{"key": [...]}` or a bare JSON list (whichever opens first)."""
    brace, bracket = text.find("{"), text.find("[")
    if bracket != -1 and (brace == -1 or bracket < brace):
        try:
            return extract_json(text, list)
        except ParseError:
            pass
    try:
        obj = extract_json(text, dict)
    except ParseError as e:
        try:
            return extract_json(text, list)
        except ParseError:
            raise e from None
    return _require(obj, key)


def parse_qualifications(text: str) -> list[Qualification]:
    """Chain step (a) output -> qualifications."""
    return _qualifications(_list_step(text, "qualifications"))


def parse_evaluation(text: str) -> list[Evaluation]:
    """Chain step (b) output -> per-qualification evaluation."""
    return _evaluation(_list_step(text, "evaluation"))


def parse_summary(text: str) -> tuple[str, float, list[str]]:
    """Chain step (c) output -> (label, score, explanation lines)."""
    obj = extract_json(text, dict)
    for key in ("label", "score", "explanation"):
        _require(obj, key)
    return _label(obj["label"]), _score(obj["score"]), _explanation(obj["explanation"])


def assemble_fit_result(qualifications: list[Qualification], evaluation: list[Evaluation],
                        summary: tuple[str, float, list[str]]) -> FitResult:
    """The decomposed chain's three step outputs joined into one `FitResult`."""
    label, score, explanation = summary
    return FitResult(qualifications=list(qualifications), evaluation=list(evaluation),
                     label=label, score=score, explanation=list(explanation))
