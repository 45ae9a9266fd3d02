"""Run profiles (smoke / cpu / paper) and their strict loader.

A profile is a YAML file beside this module, checked against the dataclasses below: an unknown
key, a value of the wrong type or a value outside its field's `Bound` raises `ProfileError` naming
the dotted key, because papermill only warns on unknown parameters and a typo or an impossible
value would otherwise silently run the default or fail hours later.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROFILE_DIR = Path(__file__).resolve().parent
PROFILES: tuple[str, ...] = ("smoke", "cpu", "gpu", "paper", "rehearsal")
# The names a profile may use; the modules that implement them import these (one list each, no torch here).
DIVERGENCES: tuple[str, ...] = ("fkl", "rkl", "js", "tvd", "skl", "skew_fkl", "skew_rkl")  # kd.divergences
STRUCTURES: tuple[str, ...] = ("seqcls_last", "seqcls_mean", "twotower_concat", "twotower_dot")  # classify
FAILURE_MODES: tuple[str, ...] = ("hallucinated_qualification", "hallucinated_evidence", "label_contradiction",
                                  "truncated_json", "missing_field")  # teachers.simulate
SERVING_MODULES: tuple[str, ...] = ("summarize", "classify", "explain")  # serving
# LR schedules a training section may name: transformers' `SchedulerType` values that need no extra arguments (train)
SCHEDULERS: tuple[str, ...] = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
                               "constant_with_warmup", "inverse_sqrt")


class ProfileError(ValueError):
    """A profile file or an override is invalid; the message names the key and the fix."""


def _num(x: float) -> str:
    """`x` as a message shows it: 1e-05, 0.5, -1."""
    return f"{x:g}"


@dataclass(frozen=True)
class Bound:
    """The interval a numeric field's value (each element of a list, each value of a dict) must lie in.

    `also` are sentinel values accepted outside the interval, `note` says what they (or 0) mean.
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    also: tuple[float, ...] = ()
    note: str = ""

    def admits(self, v: float) -> bool:
        if v in self.also:
            return True
        if not math.isfinite(v):
            return False
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            text = f"in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            text = f"{'>' if self.lo_open else '>='} {_num(self.lo)}"
        else:
            text = f"{'<' if self.hi_open else '<='} {_num(self.hi)}"  # type: ignore[arg-type]
        text = " or ".join([*map(_num, self.also), text])
        return f"{text} ({self.note})" if self.note else text


POSITIVE = Bound(0, lo_open=True)  # learning rates, temperatures, timeouts, durations
NON_NEGATIVE = Bound(0)
AT_LEAST_1 = Bound(1)  # epochs, batch sizes, lengths, token and example counts
UNIT = Bound(0, 1)  # fractions, probabilities
OPEN_UNIT = Bound(0, 1, lo_open=True, hi_open=True)  # mixture weights of js / skew divergences
STEP_CAP = Bound(1, also=(-1,), note="-1 = no cap")
GRAD_CLIP = Bound(0, note="0 = no clipping")
LOG_POINTS = Bound(0, note="0 = every step")


def bounded(bound: Bound, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field whose value the loader checks against `bound`."""
    return field(default=default, default_factory=factory, metadata={"bound": bound})


@dataclass
class DataCfg:
    source: str  # synthetic | hf_fit | hf_netsol | file
    path: str | None  # local CSV/JSONL for source=file
    revision: str | None  # pinned dataset revision for the hf_* sources
    n_jobs: int = bounded(AT_LEAST_1)  # job postings generated (D_base)
    pairs_per_job: int = bounded(AT_LEAST_1)  # résumés paired with each posting
    n_cls_pairs: int = bounded(AT_LEAST_1)  # unlabelled pairs T2 labels for the classifier (D_cls)
    hard_negative_frac: float = bounded(UNIT)  # share of D_cls that are interaction-style hard negatives
    val_frac: float = bounded(UNIT)
    test_frac: float = bounded(UNIT)
    # BPE vocabulary trained on the corpus (tiny models only); smaller values would be silently ignored
    tokenizer_vocab: int = bounded(Bound(262, note="the 256 byte symbols and 6 special tokens"))


@dataclass
class TeacherCfg:
    backend: str  # rubric | hf | openai  (T1, the black-box teacher)
    model: str | None
    base_url: str | None
    api_key_env: str  # name of the environment variable holding the key
    prompt_strategy: str  # decomposed | monolithic
    max_new_tokens: int = bounded(AT_LEAST_1)
    concurrency: int = bounded(AT_LEAST_1)
    timeout_s: float = bounded(POSITIVE)
    max_retries: int = bounded(NON_NEGATIVE)
    failure_rates: dict[str, float] = bounded(UNIT)  # simulate.MODES -> share of outputs corrupted; {} disables
    live_sample: int = bounded(Bound(0, note="0 = skip"))  # pairs for the live small-LLM demo in notebook 01


@dataclass
class FilterCfg:
    max_explanation_lines: int = bounded(AT_LEAST_1)
    max_line_chars: int = bounded(AT_LEAST_1)
    # interactive: the review widget in a live kernel, the automatic policy under papermill; auto: accept clean,
    # reject flagged outputs everywhere; manual: a person must decide the flagged ones (papermill stops otherwise)
    review_policy: str
    review_clean_sample: int = bounded(NON_NEGATIVE)  # clean outputs a person also reviews, after the flagged ones


@dataclass
class ModelsCfg:
    teacher_candidates: dict[str, str]  # Table 3 display name -> model spec
    teacher: str  # which candidate is T2 (paper: Qwen2.5-7B-Instruct)
    students: dict[str, str]  # size name -> model spec (Table 2)
    classifier_backbones: dict[str, str]  # display name -> model spec (Table 4, Sec. 6.1)
    summarizer: str


@dataclass(kw_only=True)
class OptimizerCfg:
    """The optimisation settings every training section shares (`train.TrainConfig.from_section`; paper
    Sec. 4.2 names AdamW, the epochs and the learning rates only). Keyword-only, so each section's own
    fields keep their order and defaults."""

    warmup_ratio: float = bounded(UNIT)  # share of the optimisation steps with linear LR warmup
    weight_decay: float = bounded(NON_NEGATIVE)  # AdamW's decoupled weight decay
    scheduler: str  # LR schedule after warmup, one of SCHEDULERS
    max_grad_norm: float = bounded(GRAD_CLIP)  # gradient-norm clipping threshold
    log_points: int = bounded(LOG_POINTS)  # loss-log entries per epoch, or per run when a step cap applies


@dataclass
class PretrainCfg(OptimizerCfg):
    steps: int = bounded(Bound(0, note="0 = real pretrained checkpoints"))  # causal-LM steps (tiny models only)
    instruct_steps: int = bounded(NON_NEGATIVE)  # instruction-style steps for the "-Instruct" analog
    seq_len: int = bounded(AT_LEAST_1)
    batch_size: int = bounded(AT_LEAST_1)
    lr: float = bounded(POSITIVE)


@dataclass
class SftCfg(OptimizerCfg):
    method: str  # full | lora | qlora
    epochs: int = bounded(AT_LEAST_1)
    lr: float = bounded(POSITIVE)
    batch_size: int = bounded(AT_LEAST_1)
    grad_accum: int = bounded(AT_LEAST_1)
    max_length: int = bounded(AT_LEAST_1)
    lora_r: int = bounded(AT_LEAST_1)
    lora_alpha: int = bounded(AT_LEAST_1)
    n_checkpoints: int = bounded(AT_LEAST_1)  # checkpoints kept along training (SCD reads them)
    eval_n: int = bounded(AT_LEAST_1)  # held-out pairs for greedy-generation ROUGE
    max_new_tokens: int = bounded(AT_LEAST_1)
    # cap on optimizer steps (-1: run all `epochs`); CPU profiles use it to fit the budget
    max_steps: int = bounded(STEP_CAP, -1)
    # modules LoRA/QLoRA adapt: [all-linear] (every linear layer but the lm_head, the QLoRA recipe) or module names
    lora_targets: list[str] = field(default_factory=lambda: ["all-linear"])
    gradient_checkpointing: bool = False  # recompute activations in backward (less memory, ~30% more compute)


@dataclass
class KdCfg(OptimizerCfg):
    divergences: list[str]  # Table 1 rows (paper: js, fkl, tvd, skl)
    extra_divergences: list[str]  # rows beyond the paper
    lambda_sft: float = bounded(NON_NEGATIVE)
    lambda_kd: float = bounded(NON_NEGATIVE)
    beta: float = bounded(OPEN_UNIT)  # js mixture weight
    alpha: float = bounded(OPEN_UNIT)  # skew_fkl / skew_rkl mixture weight
    temperature: float = bounded(POSITIVE)
    epochs: int = bounded(AT_LEAST_1)
    lr: float = bounded(POSITIVE)
    batch_size: int = bounded(AT_LEAST_1)
    grad_accum: int = bounded(AT_LEAST_1)
    max_length: int = bounded(AT_LEAST_1)
    impl: str  # chunked | naive
    chunk_size: int = bounded(AT_LEAST_1)
    student: str  # student size used for Table 1 (paper: 1.5B)
    paths: list[list[str]]  # Table 2: each path a list of roles, teacher first
    scd: bool
    adaptive_weighting: bool
    path_divergence: str = "js"  # Table 2 paths (paper: unnamed; its 7B->1.5B row equals Table 1's JS row)
    aw_tau: float = bounded(POSITIVE, 0.5)  # adaptive-weighting temperature in nats (the SCD paper, Feng et al. 2026, gives no value)
    # D_seed test rows scored per KD run (paper: the whole test set)
    eval_n: int = bounded(Bound(0, note="0 = sft.eval_n"), 0)
    max_steps: int = bounded(STEP_CAP, -1)  # cap on optimisation steps per KD run (-1 = all epochs; paper: -1)
    # beyond the paper (kd.onpolicy, kd.topk, kd.beyond): extra Table 1 rows
    beyond_divergence: str = "js"  # divergence of the beyond rows (live teacher, top-k cache, on-policy)
    beyond_max_steps: int = bounded(STEP_CAP, -1)  # step cap for the beyond rows (-1: Table 1's steps)
    # timed forward+backward rounds per row for the step-time columns
    beyond_bench_steps: int = bounded(Bound(0, note="0 = step times from the training runs"), 3)
    # run the beyond rows in notebook 04 (true) or only with `make beyond` (false: too long for the budget)
    beyond_in_notebook: bool = True
    onpolicy_lmbda: float = bounded(UNIT, 0.5)  # share of steps on student samples (0 = the paper's off-policy KD)
    onpolicy_temperature: float = bounded(Bound(0, note="0 = greedy"), 1.0)  # student sampling temperature
    onpolicy_max_new_tokens: int = bounded(AT_LEAST_1, 64)  # length cap of the student's sampled answers
    topk_ks: list[int] = bounded(AT_LEAST_1, factory=lambda: [8, 32, 128])  # top-k ids cached per answer token
    topk_logp_dtype: str = "float16"  # float16 | float32 storage of the cached log-probs
    gradient_checkpointing: bool = False  # recompute the student's activations in backward (less memory)
    # host memory for T2's answer-position hidden states on D_seed train, computed once and shared by every
    # KD run from T2 (0 = no cache: T2 forwards every step)
    teacher_cache_gb: float = bounded(NON_NEGATIVE, 1.0)


@dataclass
class ClassifierCfg(OptimizerCfg):
    epochs: int = bounded(AT_LEAST_1)
    lr: float = bounded(POSITIVE)
    batch_size: int = bounded(AT_LEAST_1)
    max_length: int = bounded(AT_LEAST_1)
    mlp_hidden: int = bounded(AT_LEAST_1)
    structures: list[str]  # seqcls_last | seqcls_mean | twotower_concat | twotower_dot
    table4_backbones: list[str]  # keys of models.classifier_backbones
    baseline: str  # "<backbone>/<structure>" the paper reports differences from
    downscale_backbones: list[str]  # Sec. 6.1: large vs small encoder
    soft_label_weight: float = bounded(UNIT)  # weight of KD on T2's soft labels (0 = hard labels only)
    freeze_backbone: bool
    # backbone key -> D_cls pairs it trains on ({} = all)
    max_train_pairs: dict[str, int] = bounded(Bound(0, note="0 = all of D_cls"), factory=dict)
    t2_calibration: str = "none"  # none | prior: shift T2's label scores so its mean label probabilities on D_cls match D_seed's label shares
    gradient_checkpointing: bool = False  # recompute the backbone's activations in backward (less memory)


@dataclass
class SummarizerCfg(OptimizerCfg):
    """The JD summarizer (paper 3.5.1): a small decoder fine-tuned on the rule-based extraction outputs."""

    epochs: int = bounded(AT_LEAST_1, 3)  # paper: not given
    lr: float = bounded(POSITIVE, 0.001)  # paper: not given
    batch_size: int = bounded(AT_LEAST_1, 8)
    max_length: int = bounded(AT_LEAST_1, 768)  # prompt (full job) + target tokens
    max_new_tokens: int = bounded(AT_LEAST_1, 160)  # greedy summary length cap
    train_jobs: int = bounded(Bound(0, note="0 = all train-split jobs"), 0)  # distinct jobs used for training
    eval_n: int = bounded(AT_LEAST_1, 20)  # held-out jobs for ROUGE vs the extractor
    gradient_checkpointing: bool = False  # recompute activations in backward (less memory)
    max_steps: int = bounded(STEP_CAP, -1)  # cap on optimisation steps (-1 = all epochs)


@dataclass
class ServingCfg:
    host: str
    port: int = bounded(Bound(0, 65535, note="0 = a free port"))
    max_batch: int = bounded(AT_LEAST_1)
    max_wait_ms: float = bounded(Bound(0, note="0 = no batching wait"))
    max_text_chars: int = bounded(AT_LEAST_1)
    n_requests: int = bounded(AT_LEAST_1)
    duration_s: float = bounded(POSITIVE)
    concurrency: int = bounded(AT_LEAST_1)
    mix: dict[str, int] = bounded(NON_NEGATIVE)  # module -> relative traffic (paper: 4 / 30 / 1)
    explain_max_new_tokens: int = bounded(AT_LEAST_1)


@dataclass
class HardwareCfg:
    """The GPUs the runs are sized for (`python -m lantern_nb plan`; defaults: one H100 80 GB) and how the
    training steps of `launch_steps` are started on them (`launcher`): `auto` (in the notebook's process;
    DDP under `accelerate launch` when more than one GPU is visible), `none` (always in-process), `ddp` or
    `fsdp` (always launched)."""

    gpus: int = bounded(AT_LEAST_1, 1)
    gpu_memory_gb: float = bounded(POSITIVE, 80.0)
    gpu_tflops_bf16: float = bounded(POSITIVE, 989.0)  # H100 SXM dense bf16 peak
    hbm_tb_s: float = bounded(POSITIVE, 3.35)  # H100 SXM memory bandwidth
    mfu: float = bounded(OPEN_UNIT, 0.35)  # model-FLOPs utilisation of fine-tuning
    launcher: str = "auto"  # auto | none | ddp | fsdp (lantern_nb.launcher.launcher)
    launch_steps: list[str] = field(default_factory=lambda: ["sft", "kd", "classifier", "summarizer"])


@dataclass
class Profile:
    name: str
    seed: int = bounded(NON_NEGATIVE)
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
    summarizer: SummarizerCfg
    hardware: HardwareCfg = field(default_factory=HardwareCfg)
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
    sections = {f.name for f in dataclasses.fields(Profile) if dataclasses.is_dataclass(f.type) or
                isinstance(f.type, str) and f.type.endswith("Cfg")}
    if len(parts) > 1 and parts[0] not in raw and parts[0] in sections:
        raw[parts[0]] = {}  # a section the file leaves at its defaults
    node = raw
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node.get(part), dict):
            raise ProfileError(f"unknown key '{'.'.join(parts[:i + 1])}' in override '{dotted}'")
        node = node[part]
    if parts[-1] not in node and not isinstance(node, dict):
        raise ProfileError(f"unknown key '{dotted}'")
    node[parts[-1]] = value


def raw_profile(name: str) -> dict[str, Any]:
    """The profile's YAML as a dict (no checking); a file with `extends: <profile>` holds only what differs
    from that profile, merged over it (`_merged`)."""
    if name not in PROFILES:
        raise ProfileError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    raw = yaml.safe_load((PROFILE_DIR / f"{name}.yaml").read_text())
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if parent == name or parent not in PROFILES:
        raise ProfileError(f"extends: {name}.yaml extends {parent!r}; name another profile ({', '.join(PROFILES)})")
    return _merged(raw_profile(parent), raw)


def _merged(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """`base` with `child`'s values in place, section by section (a mapping in both is merged key by key)."""
    out = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_profile(name: str, **overrides: Any) -> Profile:
    """Load profile `name` with overrides given as `section__key=value` or `{"section.key": value}`.

    Unknown keys, wrong types, out-of-range values and dangling references raise `ProfileError` naming
    the dotted key and what it accepts.
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


def overrides_of(profile: Profile) -> dict[str, Any]:
    """The dotted overrides that turn profile file `profile.name` into `profile` (each changed field, a
    dict or list field whole): what a launched training step is given back with `--set`."""
    out: dict[str, Any] = {}

    def walk(a: Any, b: Any, prefix: str) -> None:
        for f in dataclasses.fields(a):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if dataclasses.is_dataclass(va):
                walk(va, vb, f"{prefix}{f.name}.")
            elif va != vb:
                out[prefix + f.name] = copy.deepcopy(va)

    walk(profile, load_profile(profile.name), "")
    return out


def _check_bounds(obj: Any, prefix: str = "") -> None:
    """Check every `bounded` field of dataclass `obj` and of its nested sections against its `Bound`."""
    for f in dataclasses.fields(obj):
        value, key = getattr(obj, f.name), prefix + f.name
        if dataclasses.is_dataclass(value):
            _check_bounds(value, key + ".")
            continue
        bound = f.metadata.get("bound")
        if bound is None:
            continue
        if isinstance(value, dict):
            items = [(f"{key}.{k}", v) for k, v in value.items()]
        elif isinstance(value, list):
            items = [(f"{key}[{i}]", v) for i, v in enumerate(value)]
        else:
            items = [(key, value)]
        for where, v in items:
            if not bound.admits(v):
                finite = "" if math.isfinite(v) else "finite and "
                raise ProfileError(f"{where}: got {_num(v)}, must be {finite}{bound}")


def _check_choices(key: str, value: Any, allowed: typing.Iterable[str], source: str = "") -> None:
    """`value` (a name, each element of a list, each key of a dict) must be one of `allowed`."""
    allowed = list(allowed)
    listed = f"the {source}: {', '.join(allowed)}" if source else ", ".join(allowed)
    if isinstance(value, dict):
        for k in value:
            if k not in allowed:
                raise ProfileError(f"{key}.{k}: unknown key; valid keys are {listed}")
        return
    for where, v in ([(f"{key}[{i}]", v) for i, v in enumerate(value)] if isinstance(value, list) else [(key, value)]):
        if v not in allowed:
            raise ProfileError(f"{where}: {v!r} is not one of {listed}")


def _validate(p: Profile) -> None:
    """Bounds, choices and cross-references the types cannot express."""
    _check_bounds(p)
    m, cls = p.models, p.classifier
    backbones = "keys of models.classifier_backbones"
    choices: list[tuple[str, Any, typing.Iterable[str], str]] = [
        ("device", p.device, ("auto", "cpu", "cuda", "mps"), ""),
        ("data.source", p.data.source, ("synthetic", "hf_fit", "hf_netsol", "file"), ""),
        ("teacher.backend", p.teacher.backend, ("rubric", "hf", "openai"), ""),
        ("teacher.prompt_strategy", p.teacher.prompt_strategy, ("decomposed", "monolithic"), ""),
        ("teacher.failure_rates", p.teacher.failure_rates, FAILURE_MODES, "failure modes"),
        ("filtering.review_policy", p.filtering.review_policy, ("interactive", "auto", "manual"), ""),
        ("models.teacher", m.teacher, m.teacher_candidates, "keys of models.teacher_candidates"),
        ("sft.method", p.sft.method, ("full", "lora", "qlora"), ""),
        ("kd.divergences", p.kd.divergences, DIVERGENCES, ""),
        ("kd.extra_divergences", p.kd.extra_divergences, DIVERGENCES, ""),
        ("kd.path_divergence", p.kd.path_divergence, DIVERGENCES, ""),
        ("kd.beyond_divergence", p.kd.beyond_divergence, DIVERGENCES, ""),
        ("kd.impl", p.kd.impl, ("chunked", "naive"), ""),
        ("kd.student", p.kd.student, m.students, "keys of models.students"),
        ("kd.topk_logp_dtype", p.kd.topk_logp_dtype, ("float16", "float32"), ""),
        ("classifier.structures", cls.structures, STRUCTURES, ""),
        ("classifier.table4_backbones", cls.table4_backbones, m.classifier_backbones, backbones),
        ("classifier.downscale_backbones", cls.downscale_backbones, m.classifier_backbones, backbones),
        ("classifier.max_train_pairs", cls.max_train_pairs, m.classifier_backbones, backbones),
        ("classifier.baseline", cls.baseline, [f"{b}/{s}" for b in cls.table4_backbones for s in cls.structures],
         "cells of classifier.table4_backbones x classifier.structures"),
        ("classifier.t2_calibration", cls.t2_calibration, ("none", "prior"), ""),
        ("serving.mix", p.serving.mix, SERVING_MODULES, "serving modules"),
        ("hardware.launcher", p.hardware.launcher, ("auto", "none", "ddp", "fsdp"), ""),
        ("hardware.launch_steps", p.hardware.launch_steps, ("sft", "kd", "classifier", "summarizer"), ""),
        *((f"{name}.scheduler", section.scheduler, SCHEDULERS, "") for name, section in
          (("pretrain", p.pretrain), ("sft", p.sft), ("kd", p.kd), ("classifier", p.classifier),
           ("summarizer", p.summarizer))),
    ]
    for key, value, allowed, source in choices:
        _check_choices(key, value, allowed, source)
    sums = {
        "data.val_frac + data.test_frac": (p.data.val_frac + p.data.test_frac,
                                           Bound(0, 1, hi_open=True, note="the rest is the train split")),
        "teacher.failure_rates": (sum(p.teacher.failure_rates.values()),
                                  Bound(0, 1, note="at most one failure mode per output")),
        "kd.lambda_sft + kd.lambda_kd": (p.kd.lambda_sft + p.kd.lambda_kd, Bound(0, lo_open=True, note="some loss")),
        "serving.mix": (sum(p.serving.mix.values()), Bound(0, lo_open=True, note="some traffic")),
    }
    for key, (total, bound) in sums.items():
        if not bound.admits(round(total, 9)):
            raise ProfileError(f"{key}: the sum is {_num(total)}, must be {bound}")
    if not p.kd.topk_ks:
        raise ProfileError("kd.topk_ks: must be a non-empty list of positive integers")
    roles = {"teacher", *m.students}
    for i, path in enumerate(p.kd.paths):
        bad = [r for r in path if r not in roles]
        if bad or len(path) < 2 or path[0] != "teacher":
            raise ProfileError(f"kd.paths[{i}]: {path} must start with 'teacher' and name student sizes "
                               f"from models.students ({', '.join(m.students)})")
