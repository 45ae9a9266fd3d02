"""Offline teacher logits: a top-k + tail cache of the frozen teacher, and KD from it (beyond the paper).

`build_topk_cache` runs the teacher once over the training rows and stores, per answer token
(labels != -100), the teacher's top-k token ids (int32), their log-probabilities (float16 by
default) and the log of the tail mass log(1 - sum of the top-k probabilities), as .npy files
opened with `mmap_mode="r"`. The directory is named by a content hash of (teacher weights,
tokenizer, rows' token ids, k, dtype, temperature, vocabulary), so a changed teacher or data set
gets a new directory and a stale cache is never read; `meta.json`, written last, marks a
complete cache.

`TopKDistillObjective` then trains without the teacher in memory. For every divergence the
teacher and student distributions are coarse-grained to the same k + 1 buckets, the teacher's
top-k ids plus one tail bucket: p = (p_topk, p_tail) and q = (q over those ids, q_tail), with
q_tail from a log-sum-exp over the complement of the ids. Coarse-graining never increases an
f-divergence (all seven kinds are f-divergences), so the bucketed loss lies in [0, full loss],
grows with k, equals the full divergence at k = V, and is exact whenever the student's and the
teacher's tail distributions are proportional (e.g. all teacher mass in its top-k).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from lantern_nb.cache import RunCache, fingerprint
from lantern_nb.kd.divergences import check_kind, divergence_from_log_probs
from lantern_nb.kd.losses import KdTerms
from lantern_nb.train import IGNORE, PadCollator, answer_rows, decoder_hidden, freeze, lm_head_weight, row_chunks

ARRAYS: tuple[str, ...] = ("ids", "logp", "log_tail", "targets", "offsets", "row_ids")
_DTYPES = {"float16": np.float16, "float32": np.float32}


# ----------------------------------------------------------------------------- formulas
def _float(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.promote_types(x.dtype, torch.float32))


def log_complement(log_probs: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """log of the probability mass outside `ids`: a log-sum-exp over the complement of `ids`.

    Exact (-inf) when `ids` cover the whole vocabulary, and gradient-safe there.
    """
    masked = log_probs.scatter(-1, ids, float("-inf"))
    top = masked.detach().amax(-1, keepdim=True)
    finite = torch.isfinite(top)
    top = torch.where(finite, top, torch.zeros_like(top))
    s = torch.exp(masked - top).sum(-1, keepdim=True)
    out = top + torch.log(torch.where(s > 0, s, torch.ones_like(s)))
    return torch.where(finite & (s > 0), out, torch.full_like(out, float("-inf"))).squeeze(-1)


def teacher_topk(teacher_logits: torch.Tensor, k: int, temperature: float = 1.0,
                 vocab_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(top-k ids [N, k], their log-probs [N, k], log tail mass [N]) of softmax(logits[:, :V] / T)."""
    z = _float(teacher_logits[..., :vocab_size] if vocab_size else teacher_logits)
    log_p = torch.log_softmax(z / temperature if temperature != 1.0 else z, dim=-1)
    logp, ids = torch.topk(log_p, min(k, log_p.shape[-1]), dim=-1)
    return ids, logp, log_complement(log_p, ids)


def bucket_log_probs(log_probs: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """(k+1)-bucket log-distribution [N, k+1]: log q at `ids`, then the log tail mass."""
    return torch.cat([log_probs.gather(-1, ids), log_complement(log_probs, ids).unsqueeze(-1)], dim=-1)


def teacher_buckets(logp: torch.Tensor, log_tail: torch.Tensor) -> torch.Tensor:
    """The teacher's stored (top-k, tail) log-probs renormalised to sum to one (undoes storage rounding)."""
    b = torch.cat([_float(logp), _float(log_tail).unsqueeze(-1)], dim=-1)
    return b - torch.logsumexp(b, dim=-1, keepdim=True)


def topk_divergence_per_position(student_logits: torch.Tensor, ids: torch.Tensor, logp: torch.Tensor,
                                 log_tail: torch.Tensor, kind: str, beta: float = 0.5, alpha: float = 0.1,
                                 temperature: float = 1.0) -> torch.Tensor:
    """d(p, q) on the (top-k + tail) buckets at every position [N].

    `student_logits` [N, V] (already sliced to the cache's vocabulary), `ids`/`logp` [N, k] and
    `log_tail` [N] from `teacher_topk` or a `TopKCache`. At k = V this is the full divergence.
    """
    check_kind(kind, beta, alpha)
    z = _float(student_logits)
    log_q = torch.log_softmax(z / temperature if temperature != 1.0 else z, dim=-1)
    log_p = teacher_buckets(logp.to(log_q.dtype), log_tail.to(log_q.dtype)).detach()
    return divergence_from_log_probs(bucket_log_probs(log_q, ids.long()), log_p, kind, beta, alpha)


# ----------------------------------------------------------------------------- keys
def cache_key(teacher: torch.nn.Module, tokenizer, rows: Sequence[dict[str, Any]], k: int, vocab_size: int,
              temperature: float = 1.0, logp_dtype: str = "float16", teacher_hash: str | None = None) -> str:
    """The content key naming a cache directory (`cache.fingerprint` of every input)."""
    return RunCache.key(teacher_hash or fingerprint(teacher), tokenizer, _key_rows(rows), int(k), int(vocab_size),
                        float(temperature), logp_dtype, 1)


def _key_rows(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    return [[int(r.get("row_id", i)), list(r["input_ids"]), list(r["labels"])] for i, r in enumerate(rows)]


# ----------------------------------------------------------------------------- the cache
@dataclass
class TopKCache:
    """A complete on-disk top-k cache, its arrays memory-mapped read-only.

    Token rows are stored row after row in the order of the build rows; `offsets[i]:offsets[i+1]`
    are the answer tokens of the row whose `row_id` is `row_ids[i]`.
    """

    path: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(repr=False)
    _index: dict[int, int] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, path: str | Path) -> "TopKCache":
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text())
        arrays = {n: np.load(path / f"{n}.npy", mmap_mode="r") for n in ARRAYS}
        index = {int(r): i for i, r in enumerate(np.asarray(arrays["row_ids"]))}
        return cls(path, meta, arrays, index)

    @property
    def k(self) -> int:
        return int(self.meta["k"])

    @property
    def vocab_size(self) -> int:
        return int(self.meta["vocab_size"])

    @property
    def n_tokens(self) -> int:
        return int(self.meta["n_tokens"])

    def size_report(self) -> dict[str, Any]:
        """Bytes on disk (each array and total) and bytes per cached answer token."""
        files = {n: (self.path / f"{n}.npy").stat().st_size for n in ARRAYS}
        total = sum(files.values())
        n = max(self.n_tokens, 1)
        return {"k": self.k, "n_tokens": self.n_tokens, "bytes": total, "bytes_per_token": total / n,
                "payload_bytes_per_token": (files["ids"] + files["logp"] + files["log_tail"]) / n,
                "files": files, "logp_dtype": self.meta["logp_dtype"]}

    def lookup(self, row_ids: Sequence[int]) -> dict[str, torch.Tensor]:
        """ids [n, k] (int64), logp [n, k], log_tail [n], targets [n] of `row_ids`, concatenated in order."""
        spans = []
        for r in row_ids:
            if int(r) not in self._index:
                raise KeyError(f"row_id {int(r)} is not in the top-k cache {self.path} (built from other rows?)")
            i = self._index[int(r)]
            spans.append((int(self.arrays["offsets"][i]), int(self.arrays["offsets"][i + 1])))
        out = {}
        for name in ("ids", "logp", "log_tail", "targets"):
            arr = self.arrays[name]
            out[name] = torch.from_numpy(np.concatenate([np.asarray(arr[a:b]) for a, b in spans]))
        out["ids"] = out["ids"].long()
        out["targets"] = out["targets"].long()
        return out


def _cache_dir(out_dir: Path, k: int, key: str) -> Path:
    return out_dir / f"k{k}-{key}"


def build_topk_caches(teacher: torch.nn.Module, tokenizer, rows: Sequence[dict[str, Any]], ks: Sequence[int],
                      out_dir: str | Path, batch_size: int = 8, vocab_size: int | None = None,
                      temperature: float = 1.0, logp_dtype: str = "float16", chunk_size: int = 1024,
                      progress: bool = True) -> dict[int, TopKCache]:
    """One teacher pass writing (or reusing) a top-k cache for every k in `ks`.

    `rows` are encoded examples (input_ids, attention_mask, pre-shifted labels, optional
    `row_id`, default the position). `vocab_size` is the shared vocabulary the student will see
    (default: the teacher's). A cache whose content hash matches is reused; otherwise it is
    written to `<dir>.tmp` and renamed once complete.
    """
    if logp_dtype not in _DTYPES:
        raise ValueError(f"logp_dtype must be one of {sorted(_DTYPES)}, got {logp_dtype!r}")
    out_dir = Path(out_dir)
    head = lm_head_weight(teacher)
    vocab = int(vocab_size or head.shape[0])
    if not 0 < vocab <= head.shape[0]:
        raise ValueError(f"vocab_size={vocab} must be in [1, {head.shape[0]}] (the teacher's logits)")
    ks = sorted({min(int(k), vocab) for k in ks})
    t_hash = fingerprint(teacher)
    keys = {k: cache_key(teacher, tokenizer, rows, k, vocab, temperature, logp_dtype, t_hash) for k in ks}
    done = {k: TopKCache.open(_cache_dir(out_dir, k, keys[k])) for k in ks
            if (_cache_dir(out_dir, k, keys[k]) / "meta.json").exists()}
    todo = [k for k in ks if k not in done]
    if not todo:
        return done
    row_ids = [int(r.get("row_id", i)) for i, r in enumerate(rows)]
    if len(set(row_ids)) != len(row_ids):
        raise ValueError("row_id values must be unique")
    counts = [sum(1 for y in r["labels"] if y != IGNORE) for r in rows]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n_tokens = int(offsets[-1])
    tmp = {k: _cache_dir(out_dir, k, keys[k]).with_suffix(".tmp") for k in todo}
    files: dict[int, dict[str, np.ndarray]] = {}
    for k in todo:
        shutil.rmtree(tmp[k], ignore_errors=True)
        tmp[k].mkdir(parents=True)
        files[k] = {
            "ids": np.lib.format.open_memmap(tmp[k] / "ids.npy", "w+", np.int32, (n_tokens, k)),
            "logp": np.lib.format.open_memmap(tmp[k] / "logp.npy", "w+", _DTYPES[logp_dtype], (n_tokens, k)),
            "log_tail": np.lib.format.open_memmap(tmp[k] / "log_tail.npy", "w+", np.float32, (n_tokens,)),
            "targets": np.lib.format.open_memmap(tmp[k] / "targets.npy", "w+", np.int32, (n_tokens,)),
        }
    freeze(teacher)
    device = head.device
    collate = PadCollator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    keep = ("input_ids", "attention_mask", "labels")
    kmax = max(todo)
    pos = 0
    with torch.no_grad():
        for s in tqdm(range(0, len(rows), batch_size), desc=f"teacher top-{','.join(map(str, todo))}",
                      disable=not progress, leave=False):
            batch = collate([{key: r[key] for key in keep} for r in rows[s:s + batch_size]])
            labels = batch["labels"].to(device)
            valid = labels.ne(IGNORE)
            hidden = decoder_hidden(teacher, batch["input_ids"].to(device), batch["attention_mask"].to(device))[valid]
            y = labels[valid]
            for c in range(0, hidden.shape[0], chunk_size):
                logits = hidden[c:c + chunk_size] @ head[:vocab].T
                log_p = torch.log_softmax(_float(logits) / temperature, dim=-1)
                top_lp, top_ids = torch.topk(log_p, kmax, dim=-1)
                n = top_ids.shape[0]
                for k in todo:
                    ids = top_ids[:, :k]
                    f = files[k]
                    f["ids"][pos:pos + n] = ids.cpu().numpy().astype(np.int32)
                    f["logp"][pos:pos + n] = top_lp[:, :k].cpu().numpy().astype(_DTYPES[logp_dtype])
                    f["log_tail"][pos:pos + n] = log_complement(log_p, ids).cpu().numpy().astype(np.float32)
                    f["targets"][pos:pos + n] = y[c:c + n].cpu().numpy().astype(np.int32)
                pos += n
    if pos != n_tokens:
        raise RuntimeError(f"top-k cache: wrote {pos} tokens, expected {n_tokens}")
    for k in todo:
        for arr in files[k].values():
            arr.flush()
        np.save(tmp[k] / "offsets.npy", offsets)
        np.save(tmp[k] / "row_ids.npy", np.asarray(row_ids, dtype=np.int64))
        meta = {"k": k, "vocab_size": vocab, "temperature": temperature, "logp_dtype": logp_dtype,
                "n_tokens": n_tokens, "n_rows": len(rows), "key": keys[k], "teacher_hash": t_hash,
                "tokenizer_hash": fingerprint(tokenizer), "rows_hash": fingerprint(_key_rows(rows))}
        (tmp[k] / "meta.json").write_text(json.dumps(meta, indent=1))
        final = _cache_dir(out_dir, k, keys[k])
        shutil.rmtree(final, ignore_errors=True)
        tmp[k].rename(final)
        done[k] = TopKCache.open(final)
    del files
    return done


def build_topk_cache(teacher: torch.nn.Module, tokenizer, rows: Sequence[dict[str, Any]], k: int,
                     out_dir: str | Path, batch_size: int = 8, **kwargs: Any) -> TopKCache:
    """Run the frozen teacher once over `rows` and store its top-k + tail per answer token (or reuse)."""
    (cache,) = build_topk_caches(teacher, tokenizer, rows, [k], out_dir, batch_size, **kwargs).values()
    return cache


# ----------------------------------------------------------------------------- the objective
@dataclass
class TopKDistillObjective(KdTerms):
    """lambda_sft * CE + lambda_kd * KD against a `TopKCache`: no teacher in memory.

    Batches must carry `row_id` (int per row) so their answer tokens map to cache entries; the
    cached target ids are checked against the batch's labels (a mismatch means stale rows and
    raises). CE uses the student's full vocabulary; KD slices the student's logits to the cache's
    vocabulary and compares the (k+1)-bucket distributions. Computed chunk by chunk with
    activation checkpointing, so the [tokens x vocab] logits of the batch never exist at once.
    """

    cache: TopKCache

    def __post_init__(self) -> None:
        check_kind(self.kind, self.beta, self.alpha)
        if float(self.cache.meta["temperature"]) != float(self.temperature):
            raise ValueError(f"the cache was built at temperature {self.cache.meta['temperature']}, "
                             f"the objective uses {self.temperature}; rebuild the cache")

    def _chunk(self, h: torch.Tensor, weight: torch.Tensor, y: torch.Tensor, ids: torch.Tensor,
               logp: torch.Tensor, log_tail: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = _float(h @ weight.T)
        ce = torch.nn.functional.cross_entropy(z, y, reduction="sum")
        kd = topk_divergence_per_position(z[:, :self.cache.vocab_size], ids, logp, log_tail, self.kind, self.beta,
                                          self.alpha, self.temperature).sum()
        return ce, kd

    def __call__(self, model, inputs, num_items):
        if "row_id" not in inputs:
            raise KeyError("TopKDistillObjective needs a `row_id` field in every row (see kd.beyond.with_row_ids)")
        hidden, y = answer_rows(model, inputs)
        entry = self.cache.lookup(inputs["row_id"].reshape(-1).tolist())
        if entry["targets"].shape != y.shape or not torch.equal(entry["targets"].to(y.device), y):
            raise ValueError("the batch's answer tokens differ from the top-k cache's: the cache was built from "
                             "other rows; rebuild it with build_topk_cache on these rows")
        weight = lm_head_weight(model)
        if weight.shape[0] < self.cache.vocab_size:
            raise ValueError(f"student has {weight.shape[0]} logits, the cache {self.cache.vocab_size}")
        dev = hidden.device
        ce_sum = hidden.new_zeros((), dtype=torch.float32)
        kd_sum = hidden.new_zeros((), dtype=torch.float32)
        for ce, kd in row_chunks(lambda h, yy, ids, logp, tail: self._chunk(h, weight, yy, ids, logp, tail),
                                 [hidden, y, entry["ids"].to(dev), entry["logp"].to(dev), entry["log_tail"].to(dev)],
                                 self.chunk_size):
            ce_sum, kd_sum = ce_sum + ce, kd_sum + kd
        denom = max(float(num_items), 1.0)
        loss = (self.lambda_sft * ce_sum + self.lambda_kd * kd_sum) / denom
        return loss, {"ce": float(ce_sum.detach()) / denom, "kd": float(kd_sum.detach()) / denom}
