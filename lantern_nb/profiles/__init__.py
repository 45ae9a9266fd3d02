"""Run profiles (smoke / cpu / paper) and their strict loader.

A profile is a YAML file beside this module, checked against the dataclasses below: an unknown
key or a value of the wrong type raises `ProfileError` naming the dotted key, because papermill
only warns on unknown parameters and a typo would otherwise silently run the default.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROFILE_DIR = Path(__file__).resolve().parent
PROFILES: tuple[str, ...] = ("smoke", "cpu", "paper")


class ProfileError(ValueError):
    """A profile file or an override is invalid; the message names the key and the fix."""


@dataclass
class DataCfg:
    source: str  # synthetic | hf_fit | hf_netsol | file
    path: str | None  # local CSV/JSONL for source=file
    revision: str | None  # pinned dataset revision for the hf_* sources
    n_jobs: int  # job postings generated (D_base)
    pairs_per_job: int  # profiles paired with each posting
    n_cls_pairs: int  # unlabelled pairs T2 labels for the classifier (D_cls)
    hard_negative_frac: float  # share of D_cls that are interaction-style hard negatives
    val_frac: float
    test_frac: float
    tokenizer_vocab: int  # BPE vocabulary trained on the corpus (tiny models only)


@dataclass
class TeacherCfg:
    backend: str  # rubric | hf | openai  (T1, the black-box teacher)
    model: str | None
    base_url: str | None
    api_key_env: str  # name of the environment variable holding the key
    prompt_strategy: str  # decomposed | monolithic
    max_new_tokens: int
    concurrency: int
    timeout_s: float
    max_retries: int
    failure_rates: dict[str, float]  # injected failure modes (offline simulator); {} disables
    live_sample: int  # pairs for the live small-LLM demo in notebook 01 (0 = skip)


@dataclass
class FilterCfg:
    max_explanation_lines: int
    max_line_chars: int
    review_policy: str  # auto: reject every flagged output (papermill); manual: widget


@dataclass
class ModelsCfg:
    teacher_candidates: dict[str, str]  # Table 3 display name -> model spec
    teacher: str  # which candidate is T2 (paper: Qwen2.5-7B-Instruct)
    students: dict[str, str]  # size name -> model spec (Table 2)
    classifier_backbones: dict[str, str]  # display name -> model spec (Table 4, Sec. 6.1)
    summarizer: str


@dataclass
class PretrainCfg:
    steps: int  # causal-LM steps on unlabelled job/profile text (tiny models only)
    instruct_steps: int  # instruction-style steps for the "-Instruct" analog
    seq_len: int
    batch_size: int
    lr: float


@dataclass
class SftCfg:
    method: str  # full | lora | qlora
    epochs: int
    lr: float
    batch_size: int
    grad_accum: int
    max_length: int
    lora_r: int
    lora_alpha: int
    n_checkpoints: int  # checkpoints kept along training (SCD reads them)
    eval_n: int  # held-out pairs for greedy-generation ROUGE
    max_new_tokens: int
    max_steps: int = -1  # cap on optimizer steps (-1: run all `epochs`); CPU profiles use it to fit the budget


@dataclass
class KdCfg:
    divergences: list[str]  # Table 1 rows (paper: js, fkl, tvd, skl)
    extra_divergences: list[str]  # rows beyond the paper
    lambda_sft: float
    lambda_kd: float
    beta: float
    alpha: float
    temperature: float
    epochs: int
    lr: float
    batch_size: int
    grad_accum: int
    max_length: int
    impl: str  # chunked | naive
    chunk_size: int
    student: str  # student size used for Table 1 (paper: 1.5B)
    paths: list[list[str]]  # Table 2: each path a list of roles, teacher first
    scd: bool
    adaptive_weighting: bool
    path_divergence: str = "js"  # Table 2 paths (paper: unnamed; its 7B->1.5B row equals Table 1's JS row)
    aw_tau: float = 0.5  # adaptive-weighting temperature in nats (seed 004 gives no value)
    eval_n: int = 0  # D_seed test rows scored per KD run (0 = sft.eval_n; paper: the whole test set)
    max_steps: int = -1  # cap on optimisation steps per KD run (-1 = all epochs; paper: -1)
    # beyond the paper (kd.onpolicy, kd.topk, kd.beyond): extra Table 1 rows
    beyond_divergence: str = "js"  # divergence of the beyond rows (live teacher, top-k cache, on-policy)
    beyond_max_steps: int = -1  # step cap for the beyond rows (-1: Table 1's steps)
    beyond_bench_steps: int = 3  # timed forward+backward rounds per row for the step-time columns
    onpolicy_lmbda: float = 0.5  # share of steps on student samples (0 = the paper's off-policy KD)
    onpolicy_temperature: float = 1.0  # student sampling temperature (0 = greedy)
    onpolicy_max_new_tokens: int = 64  # length cap of the student's sampled answers
    topk_ks: list[int] = field(default_factory=lambda: [8, 32, 128])  # top-k ids cached per answer token
    topk_logp_dtype: str = "float16"  # float16 | float32 storage of the cached log-probs


@dataclass
class ClassifierCfg:
    epochs: int
    lr: float
    batch_size: int
    max_length: int
    mlp_hidden: int
    structures: list[str]  # seqcls_last | seqcls_mean | twotower_concat | twotower_dot
    table4_backbones: list[str]  # keys of models.classifier_backbones
    baseline: str  # "<backbone>/<structure>" the paper reports differences from
    downscale_backbones: list[str]  # Sec. 6.1: large vs small encoder
    soft_label_weight: float  # weight of KD on T2's soft labels (0 = hard labels only)
    freeze_backbone: bool
    max_train_pairs: dict[str, int] = field(default_factory=dict)  # backbone key -> D_cls pairs it trains on ({} = all)
    t2_calibration: str = "none"  # none | prior: shift T2's label scores so its mean label probabilities on D_cls match D_seed's label shares


@dataclass
class SummarizerCfg:
    """The JD summarizer (paper 3.5.1): a small decoder fine-tuned on the rule-based extraction outputs."""

    epochs: int = 3  # paper: not given
    lr: float = 0.001  # paper: not given
    batch_size: int = 8
    max_length: int = 768  # prompt (full job) + target tokens
    max_new_tokens: int = 160  # greedy summary length cap
    train_jobs: int = 0  # distinct jobs used for training (0 = all train-split jobs)
    eval_n: int = 20  # held-out jobs for ROUGE vs the extractor


@dataclass
class ServingCfg:
    host: str
    port: int
    max_batch: int
    max_wait_ms: float
    max_text_chars: int
    n_requests: int
    duration_s: float
    concurrency: int
    mix: dict[str, int]  # module -> relative traffic (paper: 4 / 30 / 1)
    explain_max_new_tokens: int


@dataclass
class Profile:
    name: str
    seed: int
    device: str  # auto | cpu | cuda | mps
    data: DataCfg
    teacher: TeacherCfg
    filtering: FilterCfg
    models: ModelsCfg
    pretrain: PretrainCfg
    sft: SftCfg
    kd: KdCfg
    classifier: ClassifierCfg
    serving: ServingCfg
    summarizer: SummarizerCfg = field(default_factory=SummarizerCfg)
    notes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check(value: Any, tp: Any, key: str) -> Any:
    """Return `value` converted to `tp` where lossless (int -> float), else raise naming `key`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check(value, arg, key)
            except ProfileError as e:
                errors.append(str(e))
        raise ProfileError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ProfileError(f"{key}: expected a mapping of {tp.__name__} fields, got {type(value).__name__}")
        return _build(tp, value, key)
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ProfileError(f"{key}: expected a list, got {value!r} ({type(value).__name__})")
        return [_check(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        kt, vt = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ProfileError(f"{key}: expected a mapping, got {value!r} ({type(value).__name__})")
        return {_check(k, kt, f"{key} key"): _check(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProfileError(f"{key}: expected a number, got {value!r} ({type(value).__name__})")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(f"{key}: expected an integer, got {value!r} ({type(value).__name__})")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ProfileError(f"{key}: expected {tp.__name__}, got {value!r} ({type(value).__name__})")
        return value
    raise ProfileError(f"{key}: unsupported type {tp}")  # pragma: no cover - schema bug


def _build(cls: type, raw: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        where = f" in '{prefix}'" if prefix else ""
        raise ProfileError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(repr(prefix + '.' + k if prefix else k) for k in unknown)}"
            f"{where}; valid keys: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in raw:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                continue
            raise ProfileError(f"missing key '{key}'")
        kwargs[name] = _check(raw[name], hints[name], key)
    return cls(**kwargs)


def _apply_override(raw: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.replace("__", ".").split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node.get(part), dict):
            raise ProfileError(f"unknown key '{'.'.join(parts[:i + 1])}' in override '{dotted}'")
        node = node[part]
    if parts[-1] not in node and not isinstance(node, dict):
        raise ProfileError(f"unknown key '{dotted}'")
    node[parts[-1]] = value


def raw_profile(name: str) -> dict[str, Any]:
    """The profile's YAML as a dict (no checking)."""
    if name not in PROFILES:
        raise ProfileError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    return yaml.safe_load((PROFILE_DIR / f"{name}.yaml").read_text())


def load_profile(name: str, **overrides: Any) -> Profile:
    """Load profile `name` with overrides given as `section__key=value` or `{"section.key": value}`.

    Unknown keys and wrong types raise `ProfileError` naming the dotted key.
    """
    raw = raw_profile(name)
    for key, value in overrides.items():
        if isinstance(value, dict) and key in raw and isinstance(raw[key], dict) and "__" not in key:
            for sub, v in value.items():
                _apply_override(raw, f"{key}.{sub}", v)
        else:
            _apply_override(raw, key, value)
    profile = _build(Profile, raw)
    if profile.name != name:
        raise ProfileError(f"name: profile file {name}.yaml says name={profile.name!r}")
    _validate(profile)
    return profile


def _validate(p: Profile) -> None:
    """Cross-field checks the types cannot express."""
    choices = {
        "device": (p.device, ("auto", "cpu", "cuda", "mps")),
        "data.source": (p.data.source, ("synthetic", "hf_fit", "hf_netsol", "file")),
        "teacher.backend": (p.teacher.backend, ("rubric", "hf", "openai")),
        "teacher.prompt_strategy": (p.teacher.prompt_strategy, ("decomposed", "monolithic")),
        "filtering.review_policy": (p.filtering.review_policy, ("auto", "manual")),
        "sft.method": (p.sft.method, ("full", "lora", "qlora")),
        "kd.impl": (p.kd.impl, ("chunked", "naive")),
        "kd.beyond_divergence": (p.kd.beyond_divergence, ("fkl", "rkl", "js", "tvd", "skl", "skew_fkl", "skew_rkl")),
        "kd.topk_logp_dtype": (p.kd.topk_logp_dtype, ("float16", "float32")),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ProfileError(f"{key}: {value!r} is not one of {', '.join(allowed)}")
    if p.models.teacher not in p.models.teacher_candidates:
        raise ProfileError(f"models.teacher: {p.models.teacher!r} is not a key of models.teacher_candidates")
    if not 0.0 <= p.kd.onpolicy_lmbda <= 1.0:
        raise ProfileError(f"kd.onpolicy_lmbda: {p.kd.onpolicy_lmbda} must be in [0, 1]")
    if not p.kd.topk_ks or min(p.kd.topk_ks) < 1:
        raise ProfileError(f"kd.topk_ks: {p.kd.topk_ks} must be a non-empty list of positive integers")
    if p.kd.student not in p.models.students:
        raise ProfileError(f"kd.student: {p.kd.student!r} is not a key of models.students")
    roles = {"teacher", *p.models.students}
    for i, path in enumerate(p.kd.paths):
        bad = [r for r in path if r not in roles]
        if bad or len(path) < 2 or path[0] != "teacher":
            raise ProfileError(f"kd.paths[{i}]: {path} must start with 'teacher' and name student sizes "
                               f"from models.students ({', '.join(p.models.students)})")
    for key in p.classifier.table4_backbones + p.classifier.downscale_backbones:
        if key not in p.models.classifier_backbones:
            raise ProfileError(f"classifier: backbone {key!r} is not a key of models.classifier_backbones")
    allowed_structs = ("seqcls_last", "seqcls_mean", "twotower_concat", "twotower_dot")
    for s in p.classifier.structures:
        if s not in allowed_structs:
            raise ProfileError(f"classifier.structures: {s!r} is not one of {', '.join(allowed_structs)}")
    if not 0 <= p.data.val_frac + p.data.test_frac < 1:
        raise ProfileError("data.val_frac + data.test_frac must be in [0, 1)")
