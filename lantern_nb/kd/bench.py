"""Benchmark of the KD loss: naive full-logits vs chunked fused-linear, one forward + backward.

Memory method: each run happens in its own fresh process (`bench_compare` spawns
`python -m lantern_nb bench-kd`), so the kernel's peak resident set size of that process
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) covers exactly one loss call. The inputs are
created in place (no temporaries) and touched, the current RSS is read from /proc/self/statm as
the baseline, and `peak_mb` = peak RSS after forward + backward minus that baseline: the memory
the loss itself needs (logits, intermediates, gradients of hidden states and lm_head).
PyTorch's CPU allocator does not cache and glibc returns large blocks to the kernel, so RSS
follows the live tensors. Time is the wall clock of forward + backward (`seconds`) and the
process's user+system CPU time (`cpu_seconds`, steadier when other jobs share the cores).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

import torch

from lantern_nb.kd.divergences import check_kind


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bench(impl: str, divergence: str = "fkl", vocab: int = 151936, hidden: int = 896, tokens: int = 2048,
              chunk_size: int = 1024, seed: int = 0, teacher_vocab: int | None = None,
              teacher_hidden: int | None = None) -> dict[str, Any]:
    """One forward + backward of the chosen loss on random data in this process; a result dict.

    Meaningful memory numbers need a fresh process per call (use `bench_compare` or the CLI).
    """
    from lantern_nb.kd.losses import kd_loss_chunked, kd_loss_naive

    check_kind(divergence)
    if impl not in ("naive", "chunked"):
        raise ValueError(f"unknown impl {impl!r}; valid: naive, chunked")
    fn = kd_loss_chunked if impl == "chunked" else kd_loss_naive
    teacher_vocab = teacher_vocab or vocab
    teacher_hidden = teacher_hidden or hidden
    gen = torch.Generator().manual_seed(seed)
    h = torch.empty(tokens, hidden).normal_(generator=gen).requires_grad_()
    w = torch.empty(vocab, hidden).normal_(std=0.02, generator=gen).requires_grad_()
    ht = torch.empty(tokens, teacher_hidden).normal_(generator=gen)
    wt = torch.empty(teacher_vocab, teacher_hidden).normal_(std=0.02, generator=gen)
    labels = torch.randint(0, min(vocab, teacher_vocab), (tokens,), generator=gen)
    baseline = _rss_mb()
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    loss, stats = fn(h, w, ht, wt, labels, kind=divergence, chunk_size=chunk_size)
    loss.backward()
    seconds = time.perf_counter() - start
    cpu_seconds = _cpu_seconds() - cpu_start
    peak = _peak_rss_mb()
    return {"impl": impl, "divergence": divergence, "loss": float(loss.detach()), "ce": stats["ce"],
            "kd": stats["kd"], "seconds": round(seconds, 3), "cpu_seconds": round(cpu_seconds, 3),
            "peak_mb": round(peak - baseline, 1),
            "peak_rss_mb": round(peak, 1), "baseline_rss_mb": round(baseline, 1),
            "grad_norm_hidden": float(h.grad.norm()), "grad_norm_weight": float(w.grad.norm()),
            "tokens": tokens, "vocab": vocab, "teacher_vocab": teacher_vocab, "hidden": hidden,
            "chunk_size": chunk_size if impl == "chunked" else None, "threads": torch.get_num_threads()}


def cli_bench(args: argparse.Namespace) -> int:
    """`python -m lantern_nb bench-kd`: print one JSON line for one impl."""
    result = run_bench(args.impl, args.divergence, args.vocab, args.hidden, args.tokens, args.chunk_size, args.seed,
                       getattr(args, "teacher_vocab", None), getattr(args, "teacher_hidden", None))
    print(json.dumps(result))
    return 0


def _subprocess_bench(impl: str, divergence: str, vocab: int, hidden: int, tokens: int, chunk_size: int,
                      seed: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "lantern_nb", "bench-kd", "--impl", impl, "--divergence", divergence,
           "--vocab", str(vocab), "--hidden", str(hidden), "--tokens", str(tokens),
           "--chunk-size", str(chunk_size), "--seed", str(seed)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_compare(divergences: tuple[str, ...] = ("fkl", "tvd", "js"), vocab: int = 151936, hidden: int = 896,
                  tokens: int = 2048, chunk_size: int = 1024, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Naive and chunked side by side, each in a fresh subprocess: {divergence: row} for a table.

    A row holds both impls' seconds, peak memory (MB above the inputs) and loss, and the ratios
    chunked/naive (the goal: memory <= 0.35, time <= 1.3, same loss).
    """
    table: dict[str, dict[str, Any]] = {}
    for kind in divergences:
        check_kind(kind)
        naive = _subprocess_bench("naive", kind, vocab, hidden, tokens, chunk_size, seed)
        chunked = _subprocess_bench("chunked", kind, vocab, hidden, tokens, chunk_size, seed)
        table[kind] = {
            "naive_seconds": naive["seconds"], "chunked_seconds": chunked["seconds"],
            "naive_peak_mb": naive["peak_mb"], "chunked_peak_mb": chunked["peak_mb"],
            "memory_ratio": round(chunked["peak_mb"] / naive["peak_mb"], 3),
            "time_ratio": round(chunked["seconds"] / naive["seconds"], 3),
            "naive_cpu_seconds": naive["cpu_seconds"], "chunked_cpu_seconds": chunked["cpu_seconds"],
            "cpu_time_ratio": round(chunked["cpu_seconds"] / naive["cpu_seconds"], 3),
            "naive_loss": naive["loss"], "chunked_loss": chunked["loss"],
            "loss_rel_diff": abs(chunked["loss"] - naive["loss"]) / max(abs(naive["loss"]), 1e-12),
        }
    return table
