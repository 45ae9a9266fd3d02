import pytest

from lantern_nb.profiles import PROFILES, ProfileError, load_profile, raw_profile


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
    with pytest.raises(ProfileError, match="choose one of smoke, cpu, paper"):
        raw_profile("laptop")
