"""Filtering (paper 4.1.3): each validator on crafted cases, the failure simulator, the filter's
precision/recall, review sessions that resume, and the D_seed export."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from lantern_nb.filtering import (Decision, ReviewSession, auto_review, export_seed, filter_outputs, line_polarity,
                                  precision_recall, validate, verdict_score)
from lantern_nb.review import review_widget
from lantern_nb.schema import Evaluation, FitResult, Pair, Qualification, read_jsonl
from lantern_nb.teachers.base import TeacherOutput
from lantern_nb.teachers.simulate import MODES, FailureSimulator

CFG = SimpleNamespace(name="smoke", filtering=SimpleNamespace(max_explanation_lines=6, max_line_chars=120))

JOB = """Data Analyst
Requirements:
- 3+ years of SQL and Python for data analysis
- Experience with Tableau dashboards
- Bachelor's degree in Statistics or a related field
Preferred:
- Familiarity with dbt"""
RESUME = """Maria Lopez
Data Analyst, Acme Corp (2019 - Present)
- Wrote SQL and Python pipelines for weekly sales reporting
- Built Tableau dashboards for the finance team
Education: B.S. in Statistics, State University"""


def _result(**kw) -> FitResult:
    base = dict(
        qualifications=[Qualification("3+ years of SQL and Python for data analysis"),
                        Qualification("Experience with Tableau dashboards"),
                        Qualification("Bachelor's degree in Statistics or a related field"),
                        Qualification("Familiarity with dbt", "preferred")],
        evaluation=[Evaluation("3+ years of SQL and Python for data analysis", "met",
                               "Wrote SQL and Python pipelines for weekly sales reporting"),
                    Evaluation("Experience with Tableau dashboards", "met", "Built Tableau dashboards for the finance team"),
                    Evaluation("Bachelor's degree in Statistics or a related field", "met", "B.S. in Statistics"),
                    Evaluation("Familiarity with dbt", "missing", None)],
        label="High", score=0.8,
        explanation=["Meets 3+ years of SQL and Python", "Meets Tableau dashboards", "Meets the Statistics degree",
                     "Missing dbt (preferred)", "Overall high fit: meets 3 of 3 required qualifications"])
    base.update(kw)
    return FitResult(**base)


PAIR = Pair("p1", "j1", JOB, RESUME)


def _codes(result: FitResult | None, error: str | None = None, pair: Pair = PAIR) -> set[str]:
    out = TeacherOutput(pair.pair_id, "", result, error)
    return {f.code for f in validate(pair, out, CFG)}


def test_clean_output_has_no_flags() -> None:
    assert verdict_score(_result()) == pytest.approx(0.8)
    assert _codes(_result()) == set()


def test_schema_flag_for_parse_errors() -> None:
    assert _codes(None, "missing field 'label'") == {"schema"}


def test_evidence_must_be_in_resume() -> None:
    r = _result()
    r.evaluation[1].evidence = "Built Looker dashboards for the finance team"
    assert _codes(r) == {"evidence_not_in_resume"}
    r.evaluation[1].evidence = "  built TABLEAU\n dashboards for the finance team. "  # case/whitespace normalised
    assert _codes(r) == set()
    r.evaluation[1].evidence = "Wrote SQL ... weekly sales reporting"  # elided quote: every fragment present
    assert _codes(r) == set()


def test_qualification_must_be_supported_by_job() -> None:
    r = _result()
    r.qualifications.append(Qualification("Active TS/SCI security clearance", "preferred"))
    r.evaluation.append(Evaluation("Active TS/SCI security clearance", "missing"))
    assert "unsupported_qualification" in _codes(r)
    r = _result()
    r.qualifications[1] = Qualification("Tableau dashboard experience")  # rephrased, still supported
    assert "unsupported_qualification" not in _codes(r)


def test_label_must_agree_with_verdicts() -> None:
    assert _codes(_result(label="Low", score=0.2, explanation=["Missing SQL", "Missing Tableau"])) >= {"label_inconsistent"}
    r = _result(label="Medium", score=0.6, explanation=["Meets SQL", "Missing dbt"])
    assert "label_inconsistent" not in _codes(r)  # 0.8 is High, but within Medium's 0.1 margin (<= 0.85)
    r.evaluation[3].verdict = "met"  # 1.0: clearly High
    assert "label_inconsistent" in _codes(r)
    r = _result(score=0.3)  # the output's own score contradicts its label
    assert "label_inconsistent" in _codes(r)
    r = _result()
    r.evaluation[2].verdict, r.evaluation[2].evidence = "missing", None
    r.label, r.score = "Medium", 0.6  # 0.533 -> Medium
    r.explanation = ["Meets SQL and Python", "Missing the degree", "Overall medium fit"]
    assert _codes(r) == set()


def test_hard_cap_allows_one_band_lower() -> None:
    r = _result()
    r.qualifications.append(Qualification("Active CPA license"))
    r.evaluation.append(Evaluation("Active CPA license", "missing"))  # 0.8*0.75 + 0 = 0.6 -> Medium
    r.qualifications[3].importance = "required"
    r.evaluation[3].verdict, r.evaluation[3].evidence = "met", "B.S. in Statistics"
    assert verdict_score(r) == pytest.approx(0.8)
    r.label, r.score, r.explanation = "Medium", 0.7, ["Meets SQL", "Missing Active CPA license", "Overall medium fit"]
    assert "label_inconsistent" not in _codes(r)


def test_explanation_must_agree_with_label() -> None:
    r = _result(explanation=["Missing SQL", "Missing Tableau", "Lacks a degree", "Meets dbt"])
    assert _codes(r) == {"explanation_inconsistent"}
    r = _result(explanation=["Strong Tableau skills", "Overall low fit"])
    assert _codes(r) == {"explanation_inconsistent"}  # names another fit level
    r = _result(explanation=["SQL and Python", "Tableau"])
    assert _codes(r) == {"explanation_inconsistent"}  # High, but no line of positive polarity
    assert line_polarity("Partially meets Tableau") == "partial"
    assert line_polarity("Missing dbt; has SQL") == "negative"


def test_length_limits() -> None:
    r = _result(explanation=["Meets SQL"] * 7)
    assert _codes(r) == {"too_many_lines"}
    r = _result(explanation=["Meets SQL " + "x" * 130, "Overall high fit"])
    assert _codes(r) == {"line_too_long"}


class FakeTeacher:
    """A clean, deterministic teacher: the crafted result for every pair."""

    name = "fake"

    def label(self, pairs):
        return [TeacherOutput(p.pair_id, _result().to_json(), _result(), None, {}) for p in pairs]


def _pairs(n: int) -> list[Pair]:
    return [Pair(f"p{i:03d}", f"j{i // 4}", JOB, RESUME) for i in range(n)]


RATES = {m: 0.1 for m in MODES}


def test_simulator_is_deterministic_and_rates_are_right() -> None:
    pairs = _pairs(200)
    a = FailureSimulator(FakeTeacher(), RATES, seed=3).label(pairs)
    b = FailureSimulator(FakeTeacher(), RATES, seed=3).label(pairs[::-1][:150])  # order/batch independent
    by_id = {o.pair_id: o for o in a}
    assert all(o.meta["injected"] == by_id[o.pair_id].meta["injected"] and o.raw == by_id[o.pair_id].raw for o in b)
    counts = Counter(o.meta["injected"] for o in a)
    assert set(counts) == set(MODES) | {None}
    for m in MODES:
        assert 8 <= counts[m] <= 35, counts  # expected 20 each
    assert 75 <= counts[None] <= 125
    c = Counter(o.meta["injected"] for o in FailureSimulator(FakeTeacher(), RATES, seed=4).label(pairs))
    assert c != counts
    for o in a:
        mode = o.meta["injected"]
        if mode in ("truncated_json", "missing_field"):
            assert o.result is None and o.error
        else:
            assert o.result is not None
        if mode == "label_contradiction":
            assert o.result.label == "Low"
    with pytest.raises(ValueError, match="unknown failure mode"):
        FailureSimulator(FakeTeacher(), {"typo": 0.1})


def test_filter_catches_every_injected_failure() -> None:
    pairs = _pairs(200)
    outs = FailureSimulator(FakeTeacher(), RATES, seed=0).label(pairs)
    report = filter_outputs(pairs, outs, CFG)
    pr = precision_recall(report, outs)
    assert pr["precision"] == 1.0 and pr["recall"] == 1.0
    assert set(pr["per_mode"]["mode"]) == set(MODES)
    table = report.reasons.set_index("reason")
    assert table.loc["any (rejected)", "outputs"] == len(report.rejected) == pr["tp"]


def test_precision_recall_on_a_crafted_set() -> None:
    def out(pid: str, injected: str | None) -> TeacherOutput:
        return TeacherOutput(pid, "", None, None, {"injected": injected})

    outs = [out("a", "truncated_json"), out("b", "label_contradiction"), out("c", None), out("d", None),
            out("e", "hallucinated_evidence")]
    report = SimpleNamespace(flags={"a": ["x"], "b": [], "c": ["y"], "d": [], "e": ["z"]})
    pr = precision_recall(report, outs)  # tp a,e; fn b; fp c; tn d
    assert (pr["tp"], pr["fp"], pr["fn"], pr["tn"]) == (2, 1, 1, 1)
    assert pr["precision"] == pytest.approx(2 / 3) and pr["recall"] == pytest.approx(2 / 3)
    assert dict(zip(pr["per_mode"]["mode"], pr["per_mode"]["recall"])) == {
        "hallucinated_evidence": 1.0, "label_contradiction": 0.0, "truncated_json": 1.0}


def test_review_session_resumes_and_validates_edits(tmp_path: Path) -> None:
    path = tmp_path / "review.jsonl"
    s = ReviewSession(path)
    s.record("p1", "accept")
    s.record("p2", "reject")
    edited = _result(label="Medium", score=0.6, explanation=["Meets SQL", "Missing dbt"]).to_dict()
    s.record("p3", "edit", edited)
    with pytest.raises(ValueError):
        s.record("p4", "edit", {"label": "High"})
    with path.open("a") as f:
        f.write('{"pair_id": "p4", "deci')  # the reviewer's kernel died mid-write
    s2 = ReviewSession(path)
    assert s2.pending(["p1", "p2", "p3", "p4", "p5"]) == ["p4", "p5"]
    assert s2.decisions["p3"].edited["label"] == "Medium" and s2.decisions["p1"].timestamp
    s2.record("p4", "accept")
    assert len(path.read_text().splitlines()) == 4


def test_auto_review_widget_and_export(tmp_root: Path) -> None:
    pairs = _pairs(6)
    outs = FailureSimulator(FakeTeacher(), {"label_contradiction": 0.5}, seed=1).label(pairs)
    report = filter_outputs(pairs, outs, CFG)
    session = ReviewSession(tmp_root / "review.jsonl")
    session.record(pairs[0].pair_id, "edit", _result(explanation=["Meets all", "Overall high fit"]).to_dict())
    decisions = auto_review(report, session)
    assert decisions[pairs[0].pair_id].decision == "edit"  # a human decision is kept
    for pid in report.rejected:
        if pid != pairs[0].pair_id:
            assert decisions[pid].decision == "reject" and decisions[pid].reviewer == "auto"
    pytest.importorskip("ipywidgets")
    manual = ReviewSession(tmp_root / "manual.jsonl")
    widget = review_widget(pairs, outs, report, manual)
    accept, reject, edit = (widget.buttons[k] for k in ("accept", "reject", "edit"))
    assert pairs[0].pair_id in widget.view.value and "Validator flags" in widget.view.value
    accept.click()
    widget.raw.value = True  # the JSON editor behind its toggle
    widget.editor.value = '{"label": "High"}'
    edit.click()
    assert "Edited JSON refused" in widget.message.value and pairs[1].pair_id not in manual.decisions
    assert "1/6</b> decided by a person" in widget.status.value  # the counter stays visible
    widget.editor.value = _result(explanation=["Meets SQL", "Overall high fit"]).to_json()
    edit.click()
    reject.click()
    assert [manual.decisions[p.pair_id].decision for p in pairs[:3]] == ["accept", "edit", "reject"]
    resumed = review_widget(pairs, outs, report, ReviewSession(tmp_root / "manual.jsonl"))
    assert pairs[3].pair_id in resumed.view.value  # reopening resumes at the first undecided pair
    path = export_seed(CFG, pairs, outs, decisions)
    rows = list(read_jsonl(path))
    kept = {pid for pid, d in decisions.items() if d.decision in ("accept", "edit")}
    assert {r["pair_id"] for r in rows} == kept and path.name == "d_seed.jsonl"
    edited = next(r for r in rows if r["pair_id"] == pairs[0].pair_id)
    assert edited["target"] == "Fit: High\n- Meets all\n- Overall high fit"
    assert FitResult.from_dict(edited["teacher"]).label == "High" and edited["job_text"] == JOB
    assert export_seed(CFG, pairs, outs, {pairs[1].pair_id: "accept"}) == path
    assert isinstance(Decision("x", "accept").timestamp, str) and json.dumps(rows)
