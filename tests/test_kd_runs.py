"""KD runner, multi-stage paths, SCD and adaptive weighting on tiny models (seconds, no corpus)."""
from __future__ import annotations

import copy

import pytest
import torch

from lantern_nb import model_specs
from lantern_nb.kd import paths, runs, scd
from lantern_nb.profiles import load_profile
from lantern_nb.kd.losses import DistillObjective
from lantern_nb.train import IGNORE, PadCollator, decoder_hidden, encode_chat_example

TEACHER = "tiny-qwen2:h64-l2-xv128"
STUDENTS = {"3B": "tiny-qwen2:h64-l2", "1.5B": "tiny-qwen2:h64-l1", "0.5B": "tiny-qwen2:h32-l1"}
TEXTS = [f"Candidate {i} has {i % 7} years of Python and a {['BSc', 'MSc', 'PhD'][i % 3]} degree; "
         f"the job needs SQL, Docker and {i % 5} years of leadership." for i in range(60)]


@pytest.fixture(scope="module")
def tok():
    return model_specs.train_tokenizer(TEXTS + ["Fit: High Fit: Low Fit: Medium - Meets - Missing"] * 5, 400)


@pytest.fixture()
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    return load_profile("smoke", **{"models.students": dict(STUDENTS), "kd.batch_size": 2, "kd.lr": 0.01,
                                    "kd.epochs": 1, "kd.max_length": 96})


def _rows(tok, n: int) -> list[dict]:
    out = []
    for i in range(n):
        label = ["Low", "Medium", "High"][i % 3]
        enc = encode_chat_example(tok, [{"role": "user", "content": TEXTS[i]}], f"Fit: {label}\n- Meets SQL", 96)
        enc.pop("prompt_len")
        out.append(enc)
    return out


def _teacher(tok, seed: int = 1):
    return model_specs.build_causal_lm(TEACHER, tok, seed=seed)


def _fake_eval(model, tokenizer, rows, cfg) -> dict[str, float]:
    """Teacher-forced NLL of encoded rows (no generation), ROUGE placeholders."""
    batch = PadCollator(tokenizer.pad_token_id)(rows)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    nll = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)
    return {"nll": float(nll), "rouge1": 0.0, "rouge2": 0.0, "rougeL": 1.0 / (1.0 + float(nll)), "n": len(rows)}


def _ctx(cfg, tok, tmp_path, calls: list | None = None) -> runs.KdContext:
    def factory(role: str):
        if calls is not None:
            calls.append(role)
        return model_specs.build_causal_lm(cfg.models.students[role], tok, seed=0)

    rows = _rows(tok, 4)
    return runs.KdContext(cfg, _teacher(tok), tok, rows, rows[:2], root=tmp_path / "kd", student_factory=factory,
                          evaluate=_fake_eval)


def _loss(objective, model, rows, tok) -> float:
    batch = PadCollator(tok.pad_token_id)(rows)
    n = batch["labels"].ne(IGNORE).sum()
    with torch.no_grad():
        return float(objective(model, batch, n)[0])


def test_two_step_kd_decreases_loss_and_freezes_teacher(cfg, tok, tmp_path):
    teacher = _teacher(tok)
    before = copy.deepcopy(teacher.state_dict())
    student = model_specs.build_causal_lm(STUDENTS["1.5B"], tok, seed=0)
    assert teacher.get_output_embeddings().weight.shape[0] > student.get_output_embeddings().weight.shape[0]
    rows = _rows(tok, 4)
    probe = DistillObjective(teacher, kind="js")
    start = _loss(probe, student, rows, tok)
    student, result = runs.distill(cfg, teacher, student, tok, rows, "js", tmp_path / "run")
    assert result.steps == 2
    assert _loss(probe, student, rows, tok) < start
    assert all(not p.requires_grad for p in teacher.parameters())
    assert not teacher.training
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_sft_baseline_runs(cfg, tok, tmp_path):
    student, result = runs.distill(cfg, None, model_specs.build_causal_lm(STUDENTS["0.5B"], tok), tok, _rows(tok, 4),
                                   "sft", tmp_path / "sft")
    assert result.steps == 2 and runs.loss_curve(result.log_history)


def test_path_of_three_roles_reuses_cached_intermediate(cfg, tok, tmp_path):
    calls: list[str] = []
    ctx = _ctx(cfg, tok, tmp_path, calls)
    first = paths.run_path(cfg, ["teacher", "3B", "0.5B"], ctx)
    assert [s["cached"] for s in first["stages"]] == [False, False]
    assert calls == ["3B", "0.5B"]
    assert first["teacher"] == "Distilled-3B" and first["path"] == "teacher->3B->0.5B"
    assert first["metrics"]["steps"] == 2 and first["metrics"]["teacher"] == "teacher-3B.js"
    second = paths.run_path(cfg, ["teacher", "3B", "1.5B"], ctx)
    assert [s["cached"] for s in second["stages"]] == [True, False]
    assert calls == ["3B", "0.5B", "3B", "1.5B"]  # a cached stage builds its start only for its key
    again = paths.run_path(cfg, ["teacher", "3B"], ctx)
    assert again["stages"][0]["cached"] and again["stages"][0]["dir"] == first["stages"][0]["dir"]
    other = load_profile("smoke", **{"models.students": dict(STUDENTS), "kd.batch_size": 2, "kd.lr": 0.01,
                                     "kd.epochs": 1, "kd.max_length": 96, "kd.beta": 0.3})
    ctx.cfg = other
    assert not paths.run_path(other, ["teacher", "3B"], ctx)["stages"][0]["cached"]


def test_roles_with_one_spec_share_a_run(tmp_path, tok, monkeypatch):
    monkeypatch.setenv("LANTERN_ROOT", str(tmp_path))
    same = {"3B": STUDENTS["3B"], "1.5B": STUDENTS["0.5B"], "0.5B": STUDENTS["0.5B"]}
    cfg = load_profile("smoke", **{"models.students": same, "kd.batch_size": 2, "kd.epochs": 1, "kd.max_length": 96})
    calls: list[str] = []
    ctx = _ctx(cfg, tok, tmp_path, calls)
    assert not paths.run_path(cfg, ["teacher", "1.5B"], ctx)["stages"][0]["cached"]
    assert paths.run_path(cfg, ["teacher", "0.5B"], ctx)["stages"][0]["cached"]
    assert calls == ["1.5B", "0.5B"]


class _TeacherRecorder:
    """A token_weights hook that records which teacher the objective holds at every step."""

    def __init__(self):
        self.seen: list[float] = []
        self.objective = None

    def bind(self, objective):
        self.objective = objective

    def __call__(self, **kwargs):
        self.seen.append(round(float(self.objective.teacher.get_output_embeddings().weight.sum()), 3))
        return None


def test_scd_swaps_teachers_at_phase_boundaries(cfg, tok, tmp_path):
    ckpts = []
    for i, seed in enumerate((11, 12)):
        _teacher(tok, seed).save_pretrained(tmp_path / f"checkpoint-{i + 1}")
        ckpts.append(tmp_path / f"checkpoint-{i + 1}")
    final = _teacher(tok, 13)
    marks = [round(float(scd.load_teacher(p).get_output_embeddings().weight.sum()), 3) for p in ckpts]
    marks.append(round(float(final.get_output_embeddings().weight.sum()), 3))
    assert len(set(marks)) == 3
    teachers = scd.scd_teachers([*ckpts, tmp_path / "checkpoint-final"], final)
    assert teachers[:2] == ckpts and teachers[2] is final
    recorder = _TeacherRecorder()
    schedule = scd.TeacherSchedule(None, teachers)
    student = model_specs.build_causal_lm(STUDENTS["1.5B"], tok)
    _, result = runs.distill(cfg, final, student, tok, _rows(tok, 12), "fkl", tmp_path / "scd",
                             token_weights=recorder, schedule=schedule)
    assert result.steps == 6
    assert [p for _, p in schedule.history] == [0, 0, 1, 1, 2, 2]
    assert schedule.boundaries == [0, 2, 4]
    assert recorder.seen == [marks[0]] * 2 + [marks[1]] * 2 + [marks[2]] * 2
    assert [scd.phase_of_step(s, 10, 3) for s in range(10)] == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_adaptive_weights_mean_one_detached_and_downweight_student_wins():
    nll_s = torch.tensor([0.5, 2.0, 1.0, 3.0], requires_grad=True)
    nll_t = torch.tensor([1.5, 1.0, 1.0, 1.0])
    w = scd.sample_weights(nll_s, nll_t, tau=0.5)
    assert not w.requires_grad
    assert torch.isclose(w.mean(), torch.tensor(1.0))
    assert w[0] < w[2] < w[1] < w[3]
    assert torch.allclose(scd.sample_weights(torch.ones(3), torch.ones(3)), torch.ones(3))


def test_adaptive_weighting_hook_on_tiny_models(tok):
    teacher = _teacher(tok)
    student = model_specs.build_causal_lm(STUDENTS["1.5B"], tok)
    aw = scd.AdaptiveWeighting(tau=0.5)
    objective = DistillObjective(teacher, kind="tvd", token_weights=aw)
    aw.bind(objective)
    rows = _rows(tok, 3)
    batch = PadCollator(tok.pad_token_id)(rows)
    loss, _ = objective(student, batch, batch["labels"].ne(IGNORE).sum())
    loss.backward()
    weights = aw.last["weights"]
    assert weights.shape == (3,) and torch.isclose(weights.mean(), torch.tensor(1.0))
    assert not weights.requires_grad
    valid = batch["labels"].ne(IGNORE)
    with torch.no_grad():
        per_token = aw(model=student, inputs=batch, valid=valid,
                       student_hidden=decoder_hidden(student, batch["input_ids"], batch["attention_mask"])[valid],
                       teacher_hidden=decoder_hidden(teacher, batch["input_ids"], batch["attention_mask"])[valid])
    assert per_token.shape == (int(valid.sum()),)
    sample = valid.nonzero()[:, 0]
    assert torch.allclose(per_token, aw.last["weights"][sample])
    adv = aw.last["advantage"]
    assert torch.equal(torch.argsort(aw.last["weights"]), torch.argsort(-adv))


def test_path_label_and_validation(cfg):
    assert paths.path_label(["teacher", "3B", "0.5B"]) == "2-stage (T2 \u2192 3B \u2192 0.5B)"
    assert paths.path_divergence(cfg) == "js"
    with pytest.raises(ValueError, match="models.students"):
        paths.run_path(cfg, ["teacher", "7B"], ctx=object())


def test_cached_teacher_matches_live_teacher(tok):
    teacher = _teacher(tok)
    rows = _rows(tok, 5)
    cached = runs.CachedTeacher(teacher, rows, tok.pad_token_id, batch_size=2)
    student = model_specs.build_causal_lm(STUDENTS["1.5B"], tok)
    batch = PadCollator(tok.pad_token_id)(rows[1:4])
    n = batch["labels"].ne(IGNORE).sum()
    live, _ = DistillObjective(teacher, kind="skl")(student, batch, n)
    fast, _ = DistillObjective(cached, kind="skl")(student, batch, n)
    assert torch.allclose(live, fast, atol=1e-5)
    assert all(not p.requires_grad for p in cached.parameters())


def test_teacher_cache_is_sized_in_host_memory_and_follows_kd_teacher_cache_gb(cfg, tok, tmp_path):
    ctx = _ctx(cfg, tok, tmp_path)
    need = runs.cache_bytes(ctx.teacher, ctx.train_rows)
    hidden = ctx.teacher.get_output_embeddings().weight.shape[1]
    answer = sum(sum(1 for y in r["labels"] if y != IGNORE) for r in ctx.train_rows)
    assert need == answer * hidden * 4  # fp32 teacher
    assert isinstance(ctx.training_teacher(), runs.CachedTeacher)
    assert all(h.device.type == "cpu" for _, h in ctx.training_teacher().states.values())
    ctx.cfg.kd.teacher_cache_gb = 0.0
    ctx._cached = None
    assert ctx.training_teacher() is ctx.teacher  # no cache: T2 forwards every step
    assert runs.cacheable(ctx.teacher, ctx.train_rows, need / 1024 ** 3)
    assert not runs.cacheable(ctx.teacher, ctx.train_rows, (need - 1) / 1024 ** 3)


def test_table2_comparisons_from_the_table():
    """Two-stage gains into the smallest student and SCD vs single-stage come from Table 2 itself."""
    import pandas as pd

    from lantern_nb.paper import beside_paper

    rows = [("teacher->0.5B", "Single-stage", 0.30, 0.20, 2.0), ("teacher->3B->0.5B", "2-stage", 0.35, 0.22, 1.9),
            ("teacher->1.5B", "Single-stage 1.5B", 0.40, 0.30, 1.5), ("scd:teacher->1.5B", "SCD", 0.42, 0.31, 1.4)]
    table = beside_paper(pd.DataFrame(rows, columns=["Path", "Label", "ROUGE_1", "ROUGE_L", "Loss (NLL)"]),
                         "table2_distillation_paths", "Path")
    gains = paths.multistage_gains(table, "0.5B")
    assert list(gains["Label"]) == ["2-stage"] and gains["Gain"].iloc[0] == pytest.approx(0.05)
    assert gains["Paper gain"].iloc[0] == pytest.approx(0.7721 - 0.7136)
    scd_rows = paths.scd_vs_single_stage(table, "1.5B")
    assert list(scd_rows["Label"]) == ["SCD"] and scd_rows["Single-stage ROUGE_L"].iloc[0] == 0.30
    assert paths.multistage_gains(table, "3B").empty and paths.is_scd(paths.scd_key("1.5B", True))
    result = paths.Table2Result(table, {"teacher->3B->0.5B": [{"name": "a", "cached": True, "dir": "d",
                                                               "train_seconds": 1.0, "eval_seconds": 0.5}]}, {}, {})
    assert list(result.stage_table().columns) == ["row", "name", "cached", "train_seconds", "eval_seconds"]
