"""Where every generated artifact lives, and the check that an upstream one exists.

Layout: generated data and checkpoints under `data/<profile>/`, tables and figures
under `figures/<profile>/`, executed notebooks under `build/<profile>/`. A step whose input is
missing raises `MissingArtifactError` naming the notebook / make target that produces it.
"""
from __future__ import annotations

import os
from pathlib import Path

# artifact key -> (path relative to data/<profile>/, what produces it)
ARTIFACTS: dict[str, tuple[str, str]] = {
    "pairs": ("corpus/pairs.jsonl", "notebooks/01_prompting.ipynb (or `python -m lantern_nb data --profile {profile}`)"),
    "cls_pairs": ("corpus/cls_pairs.jsonl", "notebooks/01_prompting.ipynb (or `python -m lantern_nb data --profile {profile}`)"),
    "tokenizer": ("tokenizer", "notebooks/01_prompting.ipynb (`make build/{profile}/01_prompting.ipynb PROFILE={profile}`)"),
    "t1_outputs": ("t1/outputs.jsonl", "notebooks/01_prompting.ipynb (`make build/{profile}/01_prompting.ipynb PROFILE={profile}`)"),
    "d_seed": ("seed/d_seed.jsonl", "notebooks/02_filtering.ipynb (`make build/{profile}/02_filtering.ipynb PROFILE={profile}`)"),
    "t2": ("models/t2", "notebooks/03_teacher_sft.ipynb (`make build/{profile}/03_teacher_sft.ipynb PROFILE={profile}`)"),
    "students": ("models/kd", "notebooks/04_kd_divergences.ipynb (`make build/{profile}/04_kd_divergences.ipynb PROFILE={profile}`)"),
    "explainer": ("models/explainer", "notebooks/04_kd_divergences.ipynb (`make build/{profile}/04_kd_divergences.ipynb PROFILE={profile}`)"),
    "d_cls": ("cls/d_cls.jsonl", "notebooks/06_classifier_structures.ipynb (`make build/{profile}/06_classifier_structures.ipynb PROFILE={profile}`)"),
    "classifier": ("models/classifier", "notebooks/06_classifier_structures.ipynb (`make build/{profile}/06_classifier_structures.ipynb PROFILE={profile}`)"),
    "summarizer": ("models/summarizer", "notebooks/06_classifier_structures.ipynb (`make build/{profile}/06_classifier_structures.ipynb PROFILE={profile}`)"),
}


class MissingArtifactError(FileNotFoundError):
    """An upstream artifact is missing; the message names what produces it."""


def repo_root() -> Path:
    """The checkout root: $LANTERN_ROOT, else the nearest parent of cwd holding pyproject.toml + lantern_nb/."""
    env = os.environ.get("LANTERN_ROOT")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / "pyproject.toml").is_file() and (d / "lantern_nb").is_dir():
            return d
    pkg_parent = Path(__file__).resolve().parent.parent
    if (pkg_parent / "pyproject.toml").is_file():
        return pkg_parent
    return here


def data_dir(profile: str) -> Path:
    return repo_root() / "data" / profile


def figures_dir(profile: str) -> Path:
    return repo_root() / "figures" / profile


def build_dir(profile: str) -> Path:
    return repo_root() / "build" / profile


def artifact_path(profile: str, key: str) -> Path:
    """Path of a registered artifact (existing or not)."""
    if key not in ARTIFACTS:
        raise KeyError(f"unknown artifact {key!r}; known: {', '.join(ARTIFACTS)}")
    return data_dir(profile) / ARTIFACTS[key][0]


def require(profile: str, key: str) -> Path:
    """Path of artifact `key`, or `MissingArtifactError` naming the notebook that produces it."""
    path = artifact_path(profile, key)
    if not path.exists():
        producer = ARTIFACTS[key][1].format(profile=profile)
        raise MissingArtifactError(
            f"missing artifact '{key}' for profile '{profile}': {path} does not exist. "
            f"It is produced by {producer}; run that first (or `make reproduce PROFILE={profile}`).")
    return path
