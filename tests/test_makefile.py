"""`make reproduce` resumes through make's own dependency rules: in a skeleton checkout with every
notebook already executed, `make -n` plans to rerun exactly the notebooks whose inputs changed."""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lantern_nb.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [p.stem for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


@pytest.fixture
def skeleton(tmp_path):
    """Makefile + empty stand-ins for its inputs, and every notebook's output newer than them."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for rel in ["pyproject.toml", ".venv/.setup-done", "lantern_nb/profiles/smoke.yaml", "lantern_nb/kd/losses.py",
                *[f"notebooks/{nb}.ipynb" for nb in NOTEBOOKS]]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    old = 1_000_000_000
    for p in tmp_path.rglob("*"):
        os.utime(p, (old, old))
    (tmp_path / ".venv/.setup-done").touch()
    os.utime(tmp_path / ".venv/.setup-done", (old + 10, old + 10))
    for i, nb in enumerate(NOTEBOOKS):
        out = tmp_path / "build" / "smoke" / f"{nb}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("{}")
        os.utime(out, (old + 100 + i, old + 100 + i))
    return tmp_path


def _planned(root: Path) -> list[str]:
    out = subprocess.run(["make", "-n", "reproduce", "PROFILE=smoke"], cwd=root, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return re.findall(r"--name (\S+)", out.stdout)


def test_up_to_date_run_executes_nothing(skeleton):
    assert _planned(skeleton) == []


def test_touched_notebook_reruns_it_and_everything_after(skeleton):
    (skeleton / "notebooks" / f"{NOTEBOOKS[4]}.ipynb").touch()
    assert _planned(skeleton) == NOTEBOOKS[4:]


def test_missing_output_resumes_there(skeleton):
    (skeleton / "build" / "smoke" / f"{NOTEBOOKS[2]}.ipynb").unlink()
    assert _planned(skeleton) == NOTEBOOKS[2:]


@pytest.mark.parametrize("changed", ["lantern_nb/profiles/smoke.yaml", "lantern_nb/kd/losses.py"])
def test_profile_or_package_change_reruns_all(skeleton, changed):
    (skeleton / changed).touch()
    assert _planned(skeleton) == NOTEBOOKS


@pytest.fixture
def profiles_only(tmp_path):
    """Makefile + the shipped profile files (empty stand-ins): enough for make to parse and plan."""
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "lantern_nb" / "profiles").mkdir(parents=True)
    for yaml in (ROOT / "lantern_nb" / "profiles").glob("*.yaml"):
        (tmp_path / "lantern_nb" / "profiles" / yaml.name).write_text("")
    return tmp_path


def _make(root: Path, *args: str) -> subprocess.CompletedProcess:
    """`make -n` as a user runs it: not as a sub-make of `make test` (which prints directories)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(["make", "-n", *args], cwd=root, capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.parametrize("goal", [["reproduce"], ["reproduce", "DRY_RUN=1"], ["preflight"],
                                  ["build/nosuch/01_prompting.ipynb"]], ids=" ".join)
def test_unknown_profile_stops_at_once_listing_the_profiles(profiles_only, goal):
    out = _make(profiles_only, *goal, "PROFILE=nosuch")
    assert out.returncode != 0 and out.stdout == ""
    assert "PROFILE=nosuch is not a profile" in out.stderr, out.stderr
    listed = re.search(r"one of: ([^>]*)>", out.stderr)
    assert listed and sorted(listed.group(1).split()) == sorted(PROFILES), out.stderr
    assert "No rule to make target" not in out.stderr


@pytest.mark.parametrize("goal", ["help", "clean", "test", "setup"])
def test_goals_without_a_profile_ignore_it(profiles_only, goal):
    assert _make(profiles_only, goal, "PROFILE=nosuch").returncode == 0
    assert _make(profiles_only, goal).returncode == 0
