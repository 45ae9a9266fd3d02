"""The review of notebook 02 (paper Sec. 4.1.3): a person's decision wins over an automatic one in
any order, undo, the widget's actions and keys, the policy per place (live kernel / papermill), an
export that a half-reviewed queue cannot trigger silently, and the explorer's quality note."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from lantern_nb import filtering, review
from lantern_nb.filtering import ReviewSession, auto_review, export_seed, filter_outputs
from lantern_nb.schema import read_jsonl
from lantern_nb.teachers.simulate import FailureSimulator
from test_filtering import CFG, FakeTeacher, _pairs, _result

pytest.importorskip("ipywidgets")


def _cfg(policy: str, clean_sample: int = 2) -> SimpleNamespace:
    return SimpleNamespace(name="smoke", seed=0, filtering=SimpleNamespace(
        max_explanation_lines=6, max_line_chars=120, review_policy=policy, review_clean_sample=clean_sample))


def _data(n: int = 12):
    pairs = _pairs(n)
    outs = FailureSimulator(FakeTeacher(), {"label_contradiction": 0.3, "truncated_json": 0.2}, seed=1).label(pairs)
    return pairs, outs, filter_outputs(pairs, outs, CFG)


def test_a_person_wins_over_auto_in_any_order_and_undo(tmp_path: Path) -> None:
    path = tmp_path / "review.jsonl"
    s = ReviewSession(path)
    s.record("p1", "reject", reviewer="auto")
    s.record("p1", "accept")  # a person after the automatic policy
    s.record("p2", "reject")
    with path.open("a") as f:  # an automatic line after a person's (an older file, another tool)
        f.write(json.dumps({"pair_id": "p2", "decision": "accept", "reviewer": "auto", "edited": None,
                            "timestamp": "t", "note": ""}) + "\n")
    s2 = ReviewSession(path)
    assert s2.decisions["p1"].decision == "accept" and s2.decisions["p2"].decision == "reject"
    assert s2.pending(["p1", "p2", "p3"]) == ["p3"]
    with pytest.raises(ValueError, match="never overrides a person"):
        s2.record("p2", "accept", reviewer="auto")
    assert s2.undo("p1").decision == "accept"
    s3 = ReviewSession(path)  # undo persists: p1 falls back to its automatic decision, pending for a person
    assert s3.decisions["p1"].decision == "reject" and s3.decisions["p1"].reviewer == "auto"
    assert s3.pending(["p1", "p2"]) == ["p1"] and s3.undo("p9") is None


def test_auto_review_never_records_for_a_pair_a_person_decided(tmp_path: Path) -> None:
    pairs, outs, report = _data()
    s = ReviewSession(tmp_path / "review.jsonl")
    flagged = report.rejected[0]
    s.record(flagged, "accept")
    decisions = auto_review(report, s)
    assert decisions[flagged].decision == "accept" and decisions[flagged].by_person
    lines = [json.loads(x) for x in (tmp_path / "review.jsonl").read_text().splitlines()]
    assert [x["reviewer"] for x in lines if x["pair_id"] == flagged] == ["human"]
    assert len(lines) == len(outs)


def test_queue_is_flagged_first_then_a_clean_sample() -> None:
    _, _, report = _data(40)
    q = review.review_queue(report, 5, seed=0)
    assert q[:len(report.rejected)] == report.rejected and len(q) == len(report.rejected) + 5
    assert set(q[len(report.rejected):]) <= set(report.accepted)
    assert q == review.review_queue(report, 5, seed=0) and review.review_queue(report, 0) == report.rejected


def test_widget_actions_keys_and_progress(tmp_path: Path) -> None:
    pairs, outs, report = _data()
    s = ReviewSession(tmp_path / "review.jsonl")
    q = review.review_queue(report, 2)
    w = review.review_widget(pairs, outs, report, s, q)
    n = len(q)
    assert w.current == q[0] and "Label" in w.view.value or "parser" in w.view.value
    assert w.buttons["back"].disabled and w.buttons["undo"].disabled
    w.buttons["accept"].click()
    w.keys.value = "r"  # keyboard: typed into the keys box
    assert w.keys.value == "" and s.human[q[1]].decision == "reject" and w.current == q[2]
    w.act("skip")
    assert w.current == q[3] and q[2] not in s.human
    w.act("back")
    assert w.current == q[2]
    w.act("undo")  # takes back the last decision (q[1]) and shows it again
    assert q[1] not in s.human and w.current == q[1]
    w.keys.value = "x"
    assert "does nothing" in w.message.value and f"<b>1/{n}</b> decided by a person" in w.status.value
    w.act("edit")  # first press opens the JSON editor
    assert w.raw.value and w.editor.layout.display is None
    w.editor.value = '{"label": "High", '
    w.act("edit")
    assert "refused" in w.message.value and f"<b>1/{n}</b>" in w.status.value and q[1] not in s.human
    w.editor.value = _result().to_json()
    w.act("edit")
    assert s.human[q[1]].decision == "edit"
    for _ in range(n):
        if w.current is None:
            break
        w.act("accept")
    assert w.current is None and "All" in w.view.value and w.buttons["accept"].disabled
    assert not w.buttons["back"].disabled


def test_review_policy_per_place_and_the_export_gate(tmp_root: Path, capsys) -> None:
    pairs, outs, report = _data()
    batch = review.start_review(_cfg("interactive"), pairs, outs, report, interactive=False)
    assert batch.mode == "auto" and batch.show() is None and "batch run (papermill)" in capsys.readouterr().out
    path = batch.export()
    auto_rows = list(read_jsonl(path))
    assert {r["pair_id"] for r in auto_rows} == set(report.accepted)  # the documented automatic policy
    # the same rows as auto_review + export_seed on a fresh file (what the notebook did before)
    ref = export_seed(_cfg("auto"), pairs, outs, auto_review(report, ReviewSession(tmp_root / "ref.jsonl")))
    assert list(read_jsonl(ref)) == auto_rows

    live = review.start_review(_cfg("interactive"), pairs, outs, report, interactive=True,
                               path=tmp_root / "live.jsonl")
    assert live.mode == "manual" and "live kernel" in capsys.readouterr().out
    w = live.show()
    assert w is live.show() and "0 reviewed by a person" in w.export_button.description
    assert live.export() is None  # Run All: refused with the way forward, nothing automatic recorded
    out = capsys.readouterr().out
    assert "NOT exported" in out and "export(confirm=True)" in out and "Export D_seed" in out
    assert not (tmp_root / "live.jsonl").exists() or not ReviewSession(tmp_root / "live.jsonl").auto
    first_flagged = live.queue[0]
    w.act("accept")  # a person accepts a flagged output
    assert "1 reviewed by a person" in w.export_button.description
    w.export_button.click()
    assert "D_seed exported" in w.message.value and "1 outputs reviewed by a person" in w.message.value
    rows = {r["pair_id"] for r in read_jsonl(path)}
    assert first_flagged in rows or outs[[o.pair_id for o in outs].index(first_flagged)].result is None
    w.act("back")
    w.act("reject")
    assert "out of date" in w.status.value
    while w.current is not None:
        w.act("accept")
    assert live.export() is not None and "reviewed by a person" in capsys.readouterr().out

    with pytest.raises(filtering.ReviewPolicyError):
        review.start_review(_cfg("manual"), pairs, outs, report, interactive=False, path=tmp_root / "m.jsonl")
    auto_live = review.start_review(_cfg("auto"), pairs, outs, report, interactive=True, path=tmp_root / "a.jsonl")
    assert auto_live.show() is None and '"filtering.review_policy": "interactive"' in capsys.readouterr().out


def test_explorer_without_models_says_what_to_run(tmp_root: Path) -> None:
    import lantern_nb
    from lantern_nb.profiles import load_profile
    from lantern_nb.serving import explorer

    q = explorer.served_quality(load_profile("smoke"))
    assert q["competent"] is None and q["rougeL"] is None
    ui = lantern_nb.explore("smoke")
    assert "needs the served models" in ui.value and "notebooks/0" in ui.value
    bad = {"rougeL": 0.1, "explainer": "tvd", "classifier": "MiniLM-L6", "accuracy": 0.7, "f1": 0.6,
           "true_fit_accuracy": 0.33, "majority": 0.7, "competent": False}
    assert "not yet competent" in explorer.quality_html(bad, "cpu") and "0.10" in explorer.quality_html(bad, "cpu")
