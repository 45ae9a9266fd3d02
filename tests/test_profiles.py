import dataclasses
import subprocess
import sys
import typing

import pytest

from lantern_nb.profiles import PROFILES, Profile, ProfileError, load_profile, raw_profile


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_loads(name):
    cfg = load_profile(name)
    assert cfg.name == name
    assert cfg.kd.lambda_sft == pytest.approx(0.1) and cfg.kd.lambda_kd == pytest.approx(0.9)


def test_paper_profile_holds_paper_settings():
    p = load_profile("paper")
    assert p.models.teacher_candidates[p.models.teacher] == "Qwen/Qwen2.5-7B-Instruct"
    assert (p.sft.epochs, p.sft.lr, p.sft.max_length) == (4, 2e-5, 8192)
    assert (p.kd.epochs, p.kd.lr) == (8, 8e-5)
    assert (p.classifier.epochs, p.classifier.lr) == (10, 1e-4)
    assert set(p.models.students.values()) == {"Qwen/Qwen2.5-3B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct",
                                               "Qwen/Qwen2.5-0.5B-Instruct"}


def test_scaled_values_carry_paper_comment():
    text = open(__import__("lantern_nb.profiles", fromlist=["x"]).PROFILE_DIR / "cpu.yaml").read()
    import re

    for key in ("epochs", "lr", "max_length", "lambda_sft", "lambda_kd"):
        lines = [ln for ln in text.splitlines() if re.match(rf"\s+{key}:", ln)]
        assert lines and all("# paper:" in ln for ln in lines), f"{key} lines lack the paper's value: {lines}"
    assert text.count("# paper:") >= 15


def test_unknown_top_level_key_named():
    with pytest.raises(ProfileError, match="unknown key 'bogus'"):
        load_profile("smoke", bogus=1)


def test_unknown_nested_key_named():
    with pytest.raises(ProfileError, match="'kd.lamda_kd'"):
        load_profile("smoke", kd__lamda_kd=0.5)


def test_wrong_type_named():
    with pytest.raises(ProfileError, match=r"sft\.epochs: expected an integer, got 'two'"):
        load_profile("smoke", sft__epochs="two")
    with pytest.raises(ProfileError, match=r"kd\.lambda_kd: expected a number"):
        load_profile("smoke", **{"kd.lambda_kd": "0.9"})
    with pytest.raises(ProfileError, match=r"kd\.divergences: expected a list"):
        load_profile("smoke", kd__divergences="js")


def test_bool_is_not_an_int():
    with pytest.raises(ProfileError, match="sft.epochs"):
        load_profile("smoke", sft__epochs=True)


def test_overrides_apply_and_int_widens_to_float():
    cfg = load_profile("smoke", sft__epochs=3, kd={"lr": 1})
    assert cfg.sft.epochs == 3 and cfg.kd.lr == 1.0 and isinstance(cfg.kd.lr, float)


def test_invalid_choice_and_cross_refs():
    with pytest.raises(ProfileError, match="teacher.backend: 'gpt' is not one of"):
        load_profile("smoke", teacher__backend="gpt")
    with pytest.raises(ProfileError, match="kd.student"):
        load_profile("smoke", kd__student="7B")
    with pytest.raises(ProfileError, match=r"kd.paths\[0\]"):
        load_profile("smoke", kd__paths=[["teacher", "13B"]])


def test_unknown_profile():
    with pytest.raises(ProfileError, match="choose one of smoke, cpu, gpu, paper"):
        raw_profile("laptop")


def test_shipped_profiles_load_within_bounds():
    """The shipped profiles pass every bound, choice and cross-reference check."""
    assert [load_profile(name).name for name in PROFILES] == ["smoke", "cpu", "gpu", "paper", "rehearsal"]


# (override, the dotted key and what the message must say)
INVALID = [
    ({"teacher.failure_rates.truncated_jsn": 0.1},
     r"teacher\.failure_rates\.truncated_jsn: unknown key; valid keys are .*truncated_json, missing_field"),
    ({"classifier.max_train_pairs.NoSuchBackbone": 10},
     r"classifier\.max_train_pairs\.NoSuchBackbone: unknown key; .*models\.classifier_backbones: Phi3-mini, "),
    ({"serving.mix.rank": 2}, r"serving\.mix\.rank: unknown key; .*summarize, classify, explain"),
    ({"kd.lr": -1}, r"kd\.lr: got -1, must be > 0"),
    ({"sft.epochs": 0}, r"sft\.epochs: got 0, must be >= 1"),
    ({"serving.max_text_chars": -5}, r"serving\.max_text_chars: got -5, must be >= 1"),
    ({"sft.max_steps": 0}, r"sft\.max_steps: got 0, must be -1 or >= 1 \(-1 = no cap\)"),
    ({"kd.beyond_max_steps": -2}, r"kd\.beyond_max_steps: got -2, must be -1 or >= 1"),
    ({"teacher.failure_rates.truncated_json": 1.5},
     r"teacher\.failure_rates\.truncated_json: got 1\.5, must be in \[0, 1\]"),
    ({"teacher.failure_rates.truncated_json": 0.9}, r"teacher\.failure_rates: the sum is 1\.07, must be in \[0, 1\]"),
    ({"data.hard_negative_frac": 1.2}, r"data\.hard_negative_frac: got 1\.2, must be in \[0, 1\]"),
    ({"data.val_frac": 0.5, "data.test_frac": 0.5}, r"data\.val_frac \+ data\.test_frac: the sum is 1"),
    ({"kd.temperature": 0}, r"kd\.temperature: got 0, must be > 0"),
    ({"kd.lambda_kd": -0.1}, r"kd\.lambda_kd: got -0\.1, must be >= 0"),
    ({"kd.lambda_sft": 0, "kd.lambda_kd": 0}, r"kd\.lambda_sft \+ kd\.lambda_kd: the sum is 0, must be > 0"),
    ({"kd.beta": 1.0}, r"kd\.beta: got 1, must be in \(0, 1\)"),
    ({"kd.lr": float("nan")}, r"kd\.lr: got nan, must be finite and > 0"),
    ({"kd.topk_ks": [8, 0]}, r"kd\.topk_ks\[1\]: got 0, must be >= 1"),
    ({"kd.divergences": ["js", "kl"]}, r"kd\.divergences\[1\]: 'kl' is not one of fkl, rkl, js"),
    ({"serving.port": 70000}, r"serving\.port: got 70000, must be in \[0, 65535\] \(0 = a free port\)"),
    ({"serving.concurrency": 0}, r"serving\.concurrency: got 0, must be >= 1"),
    ({"serving.mix": {"summarize": 0, "classify": 0, "explain": 0}}, r"serving\.mix: the sum is 0, must be > 0"),
    ({"teacher.timeout_s": 0}, r"teacher\.timeout_s: got 0, must be > 0"),
    ({"teacher.max_retries": -1}, r"teacher\.max_retries: got -1, must be >= 0"),
    ({"sft.lora_r": 0}, r"sft\.lora_r: got 0, must be >= 1"),
    ({"sft.grad_accum": 0}, r"sft\.grad_accum: got 0, must be >= 1"),
    ({"classifier.batch_size": 0}, r"classifier\.batch_size: got 0, must be >= 1"),
    ({"summarizer.train_jobs": -1}, r"summarizer\.train_jobs: got -1, must be >= 0 \(0 = all train-split jobs\)"),
    ({"kd.eval_n": -1}, r"kd\.eval_n: got -1, must be >= 0 \(0 = sft\.eval_n\)"),
    ({"seed": -1}, r"seed: got -1, must be >= 0"),
    ({"classifier.baseline": "MiniLM-L6/seqcls_last"},
     r"classifier\.baseline: 'MiniLM-L6/seqcls_last' is not one of the cells of classifier\.table4_backbones"),
    ({"classifier.downscale_backbones": ["ModernBERT-large", "BERT"]},
     r"classifier\.downscale_backbones\[1\]: 'BERT' is not one of the keys of models\.classifier_backbones"),
    ({"models.teacher": "GPT-4o"}, r"models\.teacher: 'GPT-4o' is not one of the keys of models\.teacher_candidates"),
    ({"classifier.t2_calibration": "isotonic"}, r"classifier\.t2_calibration: 'isotonic' is not one of none, prior"),
    ({"kd.warmup_ratio": 1.5}, r"kd\.warmup_ratio: got 1\.5, must be in \[0, 1\]"),
    ({"classifier.weight_decay": -0.01}, r"classifier\.weight_decay: got -0\.01, must be >= 0"),
    ({"sft.scheduler": "cosine_annealing"}, r"sft\.scheduler: 'cosine_annealing' is not one of linear, cosine"),
    ({"pretrain.max_grad_norm": -1}, r"pretrain\.max_grad_norm: got -1, must be >= 0 \(0 = no clipping\)"),
    ({"summarizer.log_points": -1}, r"summarizer\.log_points: got -1, must be >= 0 \(0 = every step\)"),
]


@pytest.mark.parametrize(("overrides", "message"), INVALID, ids=[next(iter(o)) for o, _ in INVALID])
def test_invalid_value_named_with_its_fix(overrides, message):
    with pytest.raises(ProfileError, match=message):
        load_profile("smoke", **overrides)


def test_double_underscore_override_of_a_dict_key():
    with pytest.raises(ProfileError, match=r"teacher\.failure_rates\.truncated_jsn"):
        load_profile("smoke", teacher__failure_rates__truncated_jsn=0.1)


def test_documented_sentinels_accepted():
    """0 and -1 where the profiles document a meaning for them: all, skip, no cap, a free port, greedy."""
    cfg = load_profile("smoke", sft__max_steps=-1, kd__max_steps=1, kd__eval_n=0, kd__beyond_bench_steps=0,
                       kd__onpolicy_temperature=0, kd__onpolicy_lmbda=0, serving__port=0, summarizer__train_jobs=0,
                       teacher__live_sample=0, teacher__failure_rates={}, pretrain__steps=0,
                       classifier__max_train_pairs={"MiniLM-L6": 0, "Phi3-mini": 16})
    assert cfg.classifier.max_train_pairs == {"MiniLM-L6": 0, "Phi3-mini": 16} and cfg.sft.max_steps == -1


def _numeric(tp) -> bool:
    """Whether a field of type `tp` holds numbers (directly or as list elements / dict values)."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (list, dict):
        return _numeric(args[-1])
    return tp in (int, float)


def _sections(cls=Profile):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _sections(hints[f.name])
        else:
            yield cls, f, hints[f.name]


def test_every_numeric_field_has_a_bound():
    missing = [f"{cls.__name__}.{f.name}" for cls, f, tp in _sections() if _numeric(tp) and "bound" not in f.metadata]
    assert not missing, f"numeric fields without bounded(...): {missing}"


def test_loading_imports_no_torch():
    """Loading a profile pulls in neither torch nor transformers (the name lists live in the profile module)."""
    code = ("import sys; from lantern_nb.profiles import PROFILES, load_profile; [load_profile(n) for n in PROFILES];"
            "print(sorted({'torch', 'transformers'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
