"""Prompts (paper Sec. 3.3.1) and the tolerant-but-strict output parser."""
from __future__ import annotations

import json

import pytest

from lantern_nb.prompts import (SECTION_TITLES, count_tokens, decomposed_chain, evaluate_messages,
                                explanation_messages, extract_messages, monolithic_messages, summarize_fit_messages)
from lantern_nb.schema import FitResult
from lantern_nb.teachers.parse import (ParseError, parse_evaluation, parse_fit_result, parse_qualifications,
                                       parse_summary)

JOB = "Registered Nurse\nRequirements:\n- Active RN license\n- BLS certification\nBenefits: dental"
RESUME = "Jane Doe, RN\nRegistered Nurse, Mercy Hospital, Jan 2020 - Present\nBLS (AHA)"

VALID = {
    "qualifications": [{"text": "Active RN license", "importance": "required"},
                       {"text": "BLS certification", "importance": "preferred"}],
    "evaluation": [{"qualification": "Active RN license", "verdict": "met", "evidence": "Jane Doe, RN"},
                   {"qualification": "BLS certification", "verdict": "missing", "evidence": None}],
    "label": "High", "score": 0.8, "explanation": ["Meets the RN license", "Overall high fit"],
}


def _dump(**changes) -> str:
    d = json.loads(json.dumps(VALID))
    d.update(changes)
    return json.dumps(d)


def _roles_ok(msgs):
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert all(isinstance(m["content"], str) and m["content"].strip() for m in msgs)


def test_monolithic_prompt_has_the_five_sections_and_both_inputs():
    msgs = monolithic_messages(JOB, RESUME)
    _roles_ok(msgs)
    for title in SECTION_TITLES:
        assert f"## {title}" in msgs[0]["content"]
    assert "Active RN license" in msgs[1]["content"] and "Mercy Hospital" in msgs[1]["content"]


def test_chain_steps_carry_their_own_sections_and_reuse_earlier_outputs():
    ex = extract_messages(JOB)
    ev = evaluate_messages(RESUME, {"qualifications": VALID["qualifications"]})
    su = summarize_fit_messages(VALID["qualifications"], VALID["evaluation"])
    for msgs in (ex, ev, su):
        _roles_ok(msgs)
        assert "## Task Instruction" in msgs[0]["content"] and "## Output Guidelines" in msgs[0]["content"]
    assert "## Job Information Extraction Guidelines" in ex[0]["content"]
    assert "## Evaluation Guidelines" in ev[0]["content"] and "Mercy Hospital" in ev[1]["content"]
    assert "Active RN license" in ev[1]["content"]  # step (a) output reused
    assert "## Reasoning Guidelines" in su[0]["content"] and '"verdict": "met"' in su[1]["content"]
    assert "Mercy Hospital" not in su[1]["content"]  # the summary works from (a) and (b) only
    assert "Registered Nurse\nRequirements" not in ev[1]["content"]  # raw job not repeated in (b)


def test_each_decomposed_call_is_shorter_than_the_monolithic_prompt():
    mono = count_tokens(monolithic_messages(JOB, RESUME))
    chain = decomposed_chain(JOB, RESUME, {"qualifications": VALID["qualifications"]},
                             {"evaluation": VALID["evaluation"]})
    assert len(chain) == 3
    assert all(count_tokens(m) < mono for m in chain)


def test_explanation_prompt_is_compact_and_exact():
    msgs = explanation_messages("Required:\n- RN license", "Jane Doe, RN")
    assert msgs[1]["content"] == "Job requirements:\nRequired:\n- RN license\n\nCandidate profile:\nJane Doe, RN"
    assert count_tokens(msgs[:1]) < 40


def test_count_tokens_uses_a_tokenizer_when_given():
    class Tok:
        chat_template = None

        def encode(self, text):
            return list(text)

    msgs = [{"role": "user", "content": "abc"}]
    assert count_tokens(msgs, Tok()) == 3 + 4
    assert count_tokens(msgs) == 1 + 4


def test_parse_valid_output():
    res = parse_fit_result(json.dumps(VALID))
    assert isinstance(res, FitResult) and res.label == "High" and res.score == 0.8
    assert res.qualifications[1].importance == "preferred" and res.evaluation[1].evidence is None


@pytest.mark.parametrize("text", [
    "```json\n" + json.dumps(VALID) + "\n```",
    "Sure! Here is the assessment:\n" + json.dumps(VALID) + "\nLet me know if you need more.",
    "```\n" + json.dumps(VALID, indent=2) + "\n```\nThe candidate {mostly} fits.",
    json.dumps(VALID, indent=2).replace('"Overall high fit"', '"Overall high fit",').replace("}\n  ]", "},\n  ]"),
    "Reasoning: {not json} first.\n" + json.dumps(VALID),
    "```json\n" + json.dumps(VALID),  # unclosed fence
])
def test_parser_tolerates_wrapping(text):
    assert parse_fit_result(text).label == "High"


@pytest.mark.parametrize("text,reason", [
    ("", "empty output"),
    ("The candidate is a high fit.", "no JSON object found"),
    (json.dumps(VALID)[:-40], "invalid JSON"),
    ('{"label": "High", "score": 0.8,', "invalid JSON"),
    (_dump(label="Great"), "label 'Great' not in Low|Medium|High"),
    (_dump(score=1.5), "score 1.5 not in [0, 1]"),
    (_dump(score="0.8"), "score '0.8' is not a number"),
    (_dump(explanation=[]), "'explanation' is empty"),
    (_dump(explanation=["ok", " "]), "explanation[1] must be a non-empty string"),
    (_dump(qualifications=[]), "'qualifications' is empty"),
    (_dump(qualifications=[{"text": "X", "importance": "critical"}]), "importance 'critical' not in required|preferred"),
    (_dump(evaluation=[{"qualification": "X", "verdict": "yes", "evidence": None}]), "verdict 'yes' not in met|partial|missing"),
    (_dump(evaluation=[{"qualification": "X", "verdict": "met", "evidence": 3}]), "evaluation[0].evidence must be a string or null"),
    (_dump(evaluation=[{"verdict": "met"}]), "missing field 'evaluation[0].qualification'"),
])
def test_parser_rejects_with_specific_reason(text, reason):
    with pytest.raises(ParseError) as exc:
        parse_fit_result(text)
    assert exc.value.reason.startswith(reason), exc.value.reason


@pytest.mark.parametrize("key", ["qualifications", "evaluation", "label", "score", "explanation"])
def test_parser_names_the_missing_field(key):
    d = dict(VALID)
    d.pop(key)
    with pytest.raises(ParseError, match=f"missing field '{key}'"):
        parse_fit_result(json.dumps(d))


def test_chain_step_parsers():
    quals = parse_qualifications("```json\n" + json.dumps({"qualifications": VALID["qualifications"]}) + "\n```")
    assert [q.text for q in quals] == ["Active RN license", "BLS certification"]
    assert len(parse_qualifications(json.dumps(VALID["qualifications"]))) == 2  # a bare list is accepted
    evals = parse_evaluation("Here you go: " + json.dumps({"evaluation": VALID["evaluation"]}))
    assert evals[0].verdict == "met"
    assert parse_summary('{"label": "medium", "score": 0.5, "explanation": ["a"]}') == ("Medium", 0.5, ["a"])
    with pytest.raises(ParseError, match="missing field 'evaluation'"):
        parse_evaluation('{"qualifications": []}')
