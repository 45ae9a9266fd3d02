"""The corpus: determinism, balance, grouped splits, realistic postings/resumes, loaders, errors."""
from __future__ import annotations

import argparse
import csv
import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from lantern_nb import artifacts
from lantern_nb.data import (HubUnavailableError, build_corpus, cli_data, fit_label, load_cls_pairs, load_file,
                             load_hf_fit, load_hf_netsol, load_pairs)
from lantern_nb.data.loaders import netsol_pair
from lantern_nb.profiles import load_profile
from lantern_nb.schema import LABELS

N_JOBS = 30


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """One smoke corpus with 30 postings, built once for the read-only checks."""
    root = tmp_path_factory.mktemp("corpus")
    mp = pytest.MonkeyPatch()
    mp.setenv("LANTERN_ROOT", str(root))
    cfg = load_profile("smoke", data__n_jobs=N_JOBS)
    stats = build_corpus(cfg, progress=False)
    base, cls = load_pairs("smoke"), load_cls_pairs("smoke")
    mp.undo()
    return cfg, stats, base, cls


def _files(root: Path) -> dict[str, bytes]:
    corpus_dir = root / "data" / "smoke" / "corpus"
    return {p.name: p.read_bytes() for p in sorted(corpus_dir.iterdir())}


def test_same_seed_byte_identical_and_different_seed_differs(tmp_path, monkeypatch):
    out = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        monkeypatch.setenv("LANTERN_ROOT", str(tmp_path / name))
        build_corpus(load_profile("smoke", seed=seed, data__n_jobs=N_JOBS), progress=False)
        out[name] = _files(tmp_path / name)
    assert set(out["a"]) == {"pairs.jsonl", "cls_pairs.jsonl", "stats.json"}
    assert out["a"] == out["b"]
    assert out["a"]["pairs.jsonl"] != out["c"]["pairs.jsonl"]
    assert out["a"]["cls_pairs.jsonl"] != out["c"]["cls_pairs.jsonl"]


def test_reuse_unless_forced_or_config_changed(root):
    cfg = load_profile("smoke", data__n_jobs=N_JOBS)
    assert build_corpus(cfg, progress=False)["reused"] is False
    assert build_corpus(cfg, progress=False)["reused"] is True
    assert build_corpus(cfg, force=True, progress=False)["reused"] is False
    bigger = load_profile("smoke", data__n_jobs=N_JOBS + 3)
    stats = build_corpus(bigger, progress=False)
    assert stats["reused"] is False and stats["base"]["all"]["jobs"] == N_JOBS + 3


def test_corpus_of_an_older_generator_is_rebuilt(root, monkeypatch):
    """A corpus written by an older generator (e.g. `profile_text` rows) is rebuilt, never read with new keys."""
    from lantern_nb.data import generator

    cfg = load_profile("smoke", data__n_jobs=N_JOBS)
    build_corpus(cfg, progress=False)
    monkeypatch.setattr(generator, "GENERATOR_VERSION", generator.GENERATOR_VERSION + 1)
    assert build_corpus(cfg, progress=False)["reused"] is False
    assert all(p.resume_text for p in load_pairs("smoke"))


def test_sizes_and_label_balance(corpus):
    cfg, stats, base, cls = corpus
    assert len(base) == N_JOBS * cfg.data.pairs_per_job
    assert len(cls) == cfg.data.n_cls_pairs
    for pairs in (base, [p for p in cls if not p.meta["hard_negative"]]):
        counts = Counter(p.label for p in pairs)
        for label in LABELS:
            assert abs(counts[label] / len(pairs) - 1 / 3) <= 0.1 / 3, counts
    families = Counter(p.meta["family"] for p in base)
    assert len(families) >= 8 and max(families.values()) - min(families.values()) <= cfg.data.pairs_per_job
    assert stats["base"]["all"]["pairs"] == len(base)


def test_labels_follow_the_documented_rule(corpus):
    _, _, base, cls = corpus
    for p in base + cls:
        same = p.meta["resume_family"] == p.meta["family"]
        assert fit_label(same, p.meta["requirements"]) == p.label == p.meta["latent_label"]
        assert 0.0 <= p.meta["score"] <= 1.0
        assert set(p.meta["required"]) == {r["text"] for r in p.meta["requirements"] if r["importance"] == "required"}
    high = [p for p in base if p.label == "High"]
    assert all(not p.meta["missing"] or all(m in p.meta["preferred"] for m in p.meta["missing"]) for p in high)
    medium = [p for p in base if p.label == "Medium"]
    assert all(1 <= sum(r["verdict"] != "met" for r in p.meta["requirements"] if r["importance"] == "required") <= 2
               for p in medium)


def test_grouped_split_without_leakage(corpus):
    cfg, _, base, cls = corpus
    split_of: dict[str, set[str]] = {}
    for p in base:
        split_of.setdefault(p.job_id, set()).add(p.split)
    assert all(len(s) == 1 for s in split_of.values())
    jobs_per_split = Counter(next(iter(s)) for s in split_of.values())
    assert set(jobs_per_split) == {"train", "val", "test"}
    assert jobs_per_split["test"] == round(cfg.data.test_frac * N_JOBS)
    assert jobs_per_split["val"] == round(cfg.data.val_frac * N_JOBS)
    assert {p.job_id for p in cls}.isdisjoint(split_of)
    assert {p.job_text for p in cls}.isdisjoint({p.job_text for p in base})


def test_load_pairs_by_split(root):
    build_corpus(load_profile("smoke", data__n_jobs=N_JOBS), progress=False)
    everything = load_pairs("smoke")
    parts = [load_pairs("smoke", s) for s in ("train", "val", "test")]
    assert sum(len(x) for x in parts) == len(everything)
    assert all(p.split == "test" for p in parts[2])
    with pytest.raises(ValueError, match="split must be one of"):
        load_pairs("smoke", "dev")


SECTION_PATTERNS = {
    "about": r"(?im)^(#+ )?(about (us|the company|[A-Z][\w&. ]+)|who we are|our story|the company):?$",
    "responsibilities": r"(?im)^(#+ )?(responsibilities|what you'll do|key responsibilities|your day-to-day|"
                        r"in this role you will|what you will be doing|duties):?$",
    "requirements": r"(?im)^(#+ )?(requirements|what you'll bring|qualifications|who you are|must have|"
                    r"minimum qualifications|what we're looking for|required skills and experience|you have):?$",
    "benefits": r"(?im)^(#+ )?(benefits|what we offer|perks|why you'll love working here|benefits & perks|"
                r"compensation and benefits):?$",
    "eeo": r"(?i)equal (employment )?opportunit",
}


def test_job_posts_have_real_sections_and_requirements_are_a_minority(corpus):
    _, stats, base, cls = corpus
    jobs = {p.job_id: p for p in base + cls}
    for p in jobs.values():
        for name, pattern in SECTION_PATTERNS.items():
            assert re.search(pattern, p.job_text), f"{p.job_id}: no {name} section\n{p.job_text}"
        share = p.meta["req_chars"] / len(p.job_text)
        assert 0.08 < share < 0.45, (p.job_id, share)
        for r in p.meta["requirements"]:
            assert re.sub(r" required$", "", r["ad_text"])[1:] in p.job_text
        assert 150 <= len(p.job_text.split()) <= 600
    overall = stats["base"]["all"]["requirement_share"]
    assert 0.15 <= overall <= 0.30
    found = [re.search(SECTION_PATTERNS["requirements"], p.job_text) for p in jobs.values()]
    assert len(Counter(m.group(2).lower() for m in found)) >= 5  # varied headers
    bodies = [m.string[m.end():].strip().split("\n\n")[0] for m in found]
    assert any(not b.startswith(("- ", "• ", "* ")) for b in bodies)  # some written as a prose paragraph
    assert any(b.startswith(("- ", "• ", "* ")) for b in bodies)


DATED = re.compile(r"((Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{4}|\d{2}/\d{4}|\b(19|20)\d{2})"
                   r"\s*(–|-|to)\s*(Present|(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{4}|\d{2}/\d{4}|(19|20)\d{2})")


def test_resumes_read_like_real_ones_and_paraphrase(corpus):
    _, _, base, cls = corpus
    verbatim = total = 0
    words = []
    for p in base + cls:
        text = p.resume_text
        assert DATED.search(text), text
        assert re.search(r"(?i)^(#+ )?(skills|core skills|technical skills|tools & skills):?$", text, re.M)
        no_expiry = re.sub(r"exp\. \d{4}", "", text)  # credential expiry dates may lie ahead
        assert all(int(y) <= 2025 for y in re.findall(r"\b(20\d{2})\b", no_expiry))  # "Present" = 2025-06
        for r in p.meta["requirements"]:
            if r["verdict"] in ("met", "partial") and r["kind"] != "years":
                assert r["evidence"] and r["evidence"] in text, (p.pair_id, r)
            total += 1
            verbatim += r["ad_text"].lower() in text.lower()
        assert not all(r["ad_text"] in text for r in p.meta["requirements"] if r["importance"] == "required")
        words.append(len(text.split()))
    assert verbatim / total < 0.05
    assert sum(150 <= w <= 600 for w in words) / len(words) >= 0.95


def test_hard_negatives(corpus):
    cfg, _, _, cls = corpus
    hard = [p for p in cls if p.meta["hard_negative"]]
    assert len(hard) == round(cfg.data.hard_negative_frac * cfg.data.n_cls_pairs)
    for p in hard:
        assert p.label == "Low" and p.meta["resume_family"] == p.meta["family"]
        req = [r for r in p.meta["requirements"] if r["importance"] == "required"]
        assert any(r["verdict"] != "met" for r in req)
        assert sum(r["verdict"] == "met" for r in req) >= len(req) / 3  # plausible, not hopeless


def test_missing_artifact_names_producer(root):
    with pytest.raises(artifacts.MissingArtifactError, match=r"python -m lantern_nb data --profile smoke"):
        load_pairs("smoke")
    with pytest.raises(artifacts.MissingArtifactError, match="cls_pairs"):
        load_cls_pairs("smoke")


def test_cli_prints_the_same_twice(root, capsys):
    args = argparse.Namespace(profile="smoke", force=False)
    cli_data(args)
    first = capsys.readouterr().out
    cli_data(args)
    second = capsys.readouterr().out
    assert first == second
    assert "D_cls" in first and "req share" in first and "train" in first and "test" in first


@pytest.mark.parametrize("loader", [load_hf_fit, load_hf_netsol])
def test_hub_loaders_fail_fast_offline(loader, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    t0 = time.perf_counter()
    with pytest.raises(HubUnavailableError) as err:
        loader("main")
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert "unreachable" in msg and "source: synthetic" in msg and "source: file" in msg and "data.path" in msg


def test_build_corpus_from_hub_source_offline(root, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(HubUnavailableError, match="resume-job-description-fit"):
        build_corpus(load_profile("smoke", data__source="hf_fit", data__revision="main"), progress=False)


class _FakeSplit(list):
    column_names = ["resume_text", "job_description_text", "label"]


def test_hf_fit_mapping_and_job_grouping(root, monkeypatch):
    from lantern_nb.data import loaders

    rows = [{"resume_text": f"Resume {i}", "job_description_text": f"JD {i % 7}  text",
             "label": ["No Fit", "Potential Fit", "Good Fit"][i % 3]} for i in range(42)]
    fake = {"train": _FakeSplit(rows[:30]), "test": _FakeSplit(rows[30:])}
    monkeypatch.setattr(loaders, "load_hub_dataset", lambda repo, rev, source: fake)
    pairs = load_hf_fit("abc123")
    assert Counter(p.label for p in pairs) == {"Low": 14, "Medium": 14, "High": 14}
    assert len({p.job_id for p in pairs}) == 7 and all(p.meta["revision"] == "abc123" for p in pairs)
    build_corpus(load_profile("smoke", data__source="hf_fit", data__revision="abc123", data__n_jobs=100), progress=False)
    base, cls = load_pairs("smoke"), load_cls_pairs("smoke")
    splits_per_job = Counter(p.job_id for p in {(p.job_id, p.split): p for p in base}.values())
    assert max(splits_per_job.values()) == 1
    held_out = {p.job_id for p in base if p.split != "train"}
    assert held_out and held_out.isdisjoint({p.job_id for p in cls})


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_csv_and_jsonl_loaders(root, tmp_path):
    jds = [f"Job {i}: Requirements - {i}+ years of SQL, Bachelor's degree. Benefits: dental." for i in range(10)]
    rows = [[jds[i % 10], f"Resume {i}: analyst, SQL, 2019-Present", ["No Fit", "Potential Fit", "Good Fit"][i % 3]]
            for i in range(40)]
    csv_path = tmp_path / "pairs.csv"
    _write_csv(csv_path, ["job_description", "resume", "label"], rows)
    pairs = load_file(csv_path)
    assert len(pairs) == 40 and [p.label for p in pairs[:3]] == ["Low", "Medium", "High"]
    assert len({p.job_id for p in pairs}) == 10 and pairs[0].job_id == pairs[10].job_id

    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("".join(json.dumps({"job_text": r[0], "resume_text": r[1]}) + "\n" for r in rows))
    unlabeled = load_file(jsonl)
    assert len(unlabeled) == 40 and all(p.label is None for p in unlabeled)

    cfg = load_profile("smoke", data__source="file", data__path=str(csv_path), data__n_cls_pairs=50)
    build_corpus(cfg, progress=False)
    base, cls = load_pairs("smoke"), load_cls_pairs("smoke")
    split_of = {}
    for p in base:
        assert split_of.setdefault(p.job_id, p.split) == p.split
    held_out = {j for j, s in split_of.items() if s != "train"}
    assert held_out and not held_out & {p.job_id for p in cls}
    assert len(cls) == 50


@pytest.mark.parametrize("column", ["resume_text", "resume", "profile_text", "profile"])
def test_file_loader_accepts_resume_column_aliases(tmp_path, column):
    """`resume_text`, and the names older files and other datasets use for it."""
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"job_text": "Analyst. Requirements: SQL.", column: "Analyst, SQL, 2019-Present"}) + "\n")
    (pair,) = load_file(path)
    assert pair.resume_text == "Analyst, SQL, 2019-Present" and pair.job_text == "Analyst. Requirements: SQL."


def test_file_loader_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    _write_csv(bad, ["posting", "cv"], [["a job", "a resume"]])
    with pytest.raises(ValueError) as err:
        load_file(bad)
    msg = str(err.value)
    assert "job_text" in msg and "job_description" in msg and "resume_text" in msg and "profile_text" in msg
    assert "posting" in msg  # names what it found
    bad_label = tmp_path / "label.csv"
    _write_csv(bad_label, ["job_text", "resume_text", "label"], [["a job", "a resume", "Great"]])
    with pytest.raises(ValueError, match="unknown label 'Great'"):
        load_file(bad_label)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_file(tmp_path / "nope.csv")


def test_netsol_records_parse_with_explanations():
    rec = {
        "input": {"job_description": "Electrical project engineer. 10+ years required.", "resume": "Engineer since 2012.",
                  "minimum_requirements": ["10+ years of experience"]},
        "output": {"valid_resume_and_jd": True, "justification": ["Has 12 years of experience.", "No PMP."],
                   "personal_info": {"name": "Someone", "email": "x@example.com"},
                   "scores": {"requirements": [{"criteria": "10+ years of experience", "meets": True},
                                               {"criteria": "PMP certification", "meets": False}],
                              "aggregated_scores": {"macro_scores": 8.0, "micro_scores": 7.0}}},
    }
    p = netsol_pair(rec, 0)
    assert p.label == "High" and p.meta["score"] == 0.75
    assert [r["verdict"] for r in p.meta["requirements"]] == ["met", "missing"]
    assert p.meta["explanation"] == ["Has 12 years of experience.", "No PMP."]
    assert "x@example.com" not in json.dumps(p.to_dict())
    assert netsol_pair({**rec, "output": {**rec["output"], "valid_resume_and_jd": False}}, 1) is None
    broken = {"input": {"job_description": "x"}, "output": rec["output"]}
    with pytest.raises(ValueError, match=r"missing field 'input.resume'"):
        netsol_pair(broken, 2)
