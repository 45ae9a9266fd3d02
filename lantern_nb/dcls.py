"""D_cls: the in-house teacher T2 labels the large unlabelled pair corpus (paper Sec. 3.4.2, 4.1.1).

T2 reads the explanation prompt (compressed job + résumé) followed by the forced assistant
prefix `Fit: `; each label's score is the summed log-probability of its continuation tokens
(`Low\\n`, `Medium\\n`, `High\\n`, however many tokens each takes), and a softmax over the three
scores gives T2's soft label. The prompt is run once per pair; the three continuations reuse
its KV cache, so labelling costs about one forward pass per pair.
"""
from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from lantern_nb import artifacts
from lantern_nb.cache import RunCache, write_json_atomic
from lantern_nb.profiles import Profile
from lantern_nb.schema import LABELS, Pair, read_jsonl, write_jsonl

PREFIX = "Fit: "


@lru_cache(maxsize=65536)
def _compress(job_text: str) -> str:
    from lantern_nb.compress import compress_job

    return compress_job(job_text)


def compressed_jobs(rows: Sequence[dict[str, Any] | Pair]) -> list[str]:
    """compress_job of each row's job text (memoised: jobs repeat across pairs)."""
    return [_compress(r.job_text if isinstance(r, Pair) else r["job_text"]) for r in rows]


def _chat_ids(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return list(ids)


def label_continuations(tokenizer, labels: Sequence[str] = LABELS, prefix: str = PREFIX,
                        suffix: str = "\n") -> tuple[list[int], list[list[int]]]:
    """(shared prefix ids, per-label continuation ids) of the answers `prefix + label + suffix`.

    Each full answer is tokenised as training tokenised it (alone, after the prompt); the longest
    common token prefix is part of the prompt and the rest is what each label is scored on.
    """
    full = [tokenizer(prefix + lab + suffix, add_special_tokens=False)["input_ids"] for lab in labels]
    common = 0
    while all(len(f) > common for f in full) and len({f[common] for f in full}) == 1:
        common += 1
    conts = [f[common:] for f in full]
    if any(len(c) == 0 for c in conts):
        raise ValueError(f"label strings {list(labels)} are not distinguishable after tokenisation")
    return full[0][:common], conts


@torch.inference_mode()
def label_logprobs(model: torch.nn.Module, tokenizer, prompts: Sequence[list[dict[str, str]]],
                   batch_size: int = 16, labels: Sequence[str] = LABELS, max_prompt_tokens: int | None = None,
                   progress: bool = True) -> np.ndarray:
    """Summed log-probability [n, len(labels)] of each label's continuation after each chat prompt.

    Prompts are left-padded (position ids from the mask); the KV cache of each prompt is repeated
    for the label continuations, which are scored in one extra forward pass.
    """
    common, conts = label_continuations(tokenizer, labels)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    seqs = []
    for msgs in prompts:
        ids = _chat_ids(tokenizer, list(msgs))
        if max_prompt_tokens and len(ids) > max_prompt_tokens:
            ids = ids[: max_prompt_tokens - 8] + ids[-8:]
        seqs.append(ids + common)
    n_lab, width_c = len(labels), max(len(c) for c in conts)
    cont = torch.tensor([c + [pad] * (width_c - len(c)) for c in conts])
    cont_len = torch.tensor([len(c) for c in conts])
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = np.zeros((len(seqs), n_lab), dtype=np.float64)
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    for s in tqdm(range(0, len(order), batch_size), desc="T2 labels", disable=not progress, leave=False):
        idx = order[s:s + batch_size]
        b, w = len(idx), max(len(seqs[i]) for i in idx)
        ids = torch.tensor([[pad] * (w - len(seqs[i])) + seqs[i] for i in idx], device=device)
        mask = torch.tensor([[0] * (w - len(seqs[i])) + [1] * len(seqs[i]) for i in idx], device=device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        res = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
        first = torch.log_softmax(res.logits[:, -1].float(), -1)  # [b, V]
        lp = first[:, cont[:, 0].to(device)]  # [b, n_lab]: log p(first continuation token)
        if width_c > 1:
            cache = res.past_key_values
            cache.batch_repeat_interleave(n_lab)
            c_ids = cont.to(device).repeat(b, 1)  # row b*n_lab + k holds label k
            c_mask = torch.cat([mask.repeat_interleave(n_lab, 0), torch.ones_like(c_ids)], 1)
            c_pos = mask.sum(-1, keepdim=True).repeat_interleave(n_lab, 0) + torch.arange(width_c, device=device)
            logits = model(input_ids=c_ids[:, :-1], attention_mask=c_mask[:, :-1], position_ids=c_pos[:, :-1],
                           past_key_values=cache, use_cache=False).logits.float()
            tok_lp = torch.log_softmax(logits, -1).gather(-1, c_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
            valid = (torch.arange(1, width_c, device=device) < cont_len.to(device).repeat(b).unsqueeze(1))
            lp = lp + (tok_lp * valid).sum(-1).view(b, n_lab)
        out[idx] = lp.cpu().double().numpy()
    model.train(was_training)
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def prior_bias(probs: np.ndarray, prior: Sequence[float], iters: int = 200) -> np.ndarray:
    """Per-label log-score bias b with mean(softmax(log probs + b)) == `prior` (fixed-point iteration).

    Beyond the paper: a small T2 can put nearly every pair in one class even when D_seed is
    balanced; shifting its label scores by one constant per label (fitted on the unlabelled
    corpus, like the prior correction of Saerens et al. 2002) keeps T2's ranking of pairs within
    each label and makes its mean label probabilities equal D_seed's label shares (hard-label
    shares follow as far as T2's scores vary between pairs).
    """
    prior_arr = np.asarray(prior, dtype=np.float64)
    if prior_arr.shape != (probs.shape[1],) or (prior_arr <= 0).any():
        raise ValueError(f"prior must have {probs.shape[1]} positive entries, got {list(prior)}")
    logp = np.log(np.clip(probs, 1e-300, None))
    b = np.zeros(probs.shape[1])
    for _ in range(iters):
        b += np.log(prior_arr / prior_arr.sum()) - np.log(softmax(logp + b).mean(0))
    return b - b.mean()


def seed_prior(cfg: Profile) -> list[float]:
    """Label shares (LABELS order) of D_seed's train split: the reviewed labels' distribution."""
    from lantern_nb.dseed import seed_rows
    from lantern_nb.schema import parse_explanation

    labels = [parse_explanation(r["target"])[0] for r in seed_rows(cfg, "train")]
    return [(labels.count(lab) + 1) / (len(labels) + len(LABELS)) for lab in LABELS]


def label_with_t2(model: torch.nn.Module, tokenizer, pairs: Sequence[Pair | dict[str, Any]], batch_size: int = 16,
                  max_prompt_tokens: int | None = None, progress: bool = True) -> tuple[list[str], np.ndarray]:
    """T2's label and probabilities [n, 3] (LABELS order) for each pair, from the explanation prompt
    `explanation_messages(compress_job(job), resume)` + `Fit: ` and the label continuations."""
    from lantern_nb.prompts import explanation_messages

    pairs = list(pairs)
    jobs = compressed_jobs(pairs)
    resumes = [p.resume_text if isinstance(p, Pair) else p["resume_text"] for p in pairs]
    prompts = [explanation_messages(j, r) for j, r in zip(jobs, resumes)]
    probs = softmax(label_logprobs(model, tokenizer, prompts, batch_size, LABELS, max_prompt_tokens, progress))
    return [LABELS[i] for i in probs.argmax(-1)], probs


def _rows(pairs: Sequence[Pair], probs: np.ndarray, raw: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    for p, pr, rw in zip(pairs, probs, raw):
        d = p.to_dict()
        d.update(t2_label=LABELS[int(pr.argmax())], t2_probs=[round(float(x), 6) for x in pr],
                 t2_probs_raw=[round(float(x), 6) for x in rw], hard_negative=bool(p.meta.get("hard_negative", False)))
        rows.append(d)
    return rows


def _fingerprint(cfg: Profile, pairs: Sequence[Pair]) -> str:
    """Run-cache key of a labelling run: T2's key, the sft section (T2's input length), the
    calibration mode and every pair. Other classifier settings do not change T2's labels."""
    from lantern_nb import sft

    return RunCache.key(sft.t2_key(cfg), cfg.models.teacher, cfg.sft, cfg.classifier.t2_calibration,
                        [p.to_dict() for p in pairs])


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".meta.json")


def _label_cached(cfg: Profile, pairs: list[Pair], path: Path, batch_size: int,
                  bias: np.ndarray | None = None) -> list[dict[str, Any]]:
    """T2-labelled rows of `pairs`, cached at `path` by fingerprint. With `classifier.t2_calibration:
    prior` the label scores are shifted by `bias`, or by a bias fitted here to D_seed's label shares
    when `bias` is None (the D_cls corpus); the bias is recorded in the meta file."""
    mode = cfg.classifier.t2_calibration
    if mode not in ("none", "prior"):
        raise ValueError(f"classifier.t2_calibration: {mode!r} is not one of none, prior")
    meta_path = _meta_path(path)
    fp = _fingerprint(cfg, pairs)
    if bias is not None:
        fp = RunCache.key(fp, [round(float(x), 9) for x in bias])
    if path.exists() and meta_path.exists() and json.loads(meta_path.read_text()).get("fingerprint") == fp:
        return list(read_jsonl(path))
    from lantern_nb import sft
    from lantern_nb.model_specs import pick_device

    model, tok = sft.load_t2(cfg, pick_device(cfg.device))
    t0 = time.perf_counter()
    _, raw = label_with_t2(model, tok, pairs, batch_size, cfg.sft.max_length)
    seconds = time.perf_counter() - t0
    if mode == "prior" and bias is None:
        bias = prior_bias(raw, seed_prior(cfg))
    probs = softmax(np.log(np.clip(raw, 1e-300, None)) + bias) if mode == "prior" else raw
    rows = _rows(pairs, probs, raw)
    write_jsonl(path, rows)
    write_json_atomic(meta_path, {"fingerprint": fp, "seconds": round(seconds, 2),
                                  "pairs_per_s": round(len(pairs) / max(seconds, 1e-9), 2),
                                  "calibration": mode, "bias": None if bias is None else [float(x) for x in bias]})
    return rows


def build_d_cls(cfg: Profile, batch_size: int = 32) -> Path:
    """Label D_cls (data.load_cls_pairs) with T2; write artifact "d_cls" (JSONL, atomic, cached)."""
    from lantern_nb.data import load_cls_pairs

    path = artifacts.artifact_path(cfg.name, "d_cls")
    _label_cached(cfg, load_cls_pairs(cfg.name), path, batch_size)
    return path


def calibration_bias(cfg: Profile) -> np.ndarray | None:
    """The label-score bias fitted when D_cls was labelled (None without calibration)."""
    if cfg.classifier.t2_calibration == "none":
        return None
    path = build_d_cls(cfg)
    bias = json.loads(_meta_path(path).read_text()).get("bias")
    return None if bias is None else np.asarray(bias, dtype=np.float64)


def label_test_pairs(cfg: Profile, batch_size: int = 32) -> list[dict[str, Any]]:
    """D_base's held-out test pairs labelled by T2 (the classifier's evaluation set; cached beside D_cls),
    calibrated with D_cls's bias, never one fitted on the test pairs."""
    from lantern_nb.data import load_pairs

    path = artifacts.artifact_path(cfg.name, "d_cls").with_name("test_t2.jsonl")
    return _label_cached(cfg, load_pairs(cfg.name, "test"), path, batch_size, bias=calibration_bias(cfg))


def labelling_seconds(cfg: Profile, which: str = "d_cls") -> float | None:
    """Wall time of the cached T2 labelling run (d_cls or test)."""
    base = artifacts.artifact_path(cfg.name, "d_cls")
    path = base if which == "d_cls" else base.with_name("test_t2.jsonl")
    meta = path.with_suffix(".meta.json")
    return json.loads(meta.read_text()).get("seconds") if meta.exists() else None


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Label balance, hard-negative share, T2-vs-latent agreement and T2's confidence."""
    import pandas as pd

    df = pd.DataFrame({"t2": [r["t2_label"] for r in rows], "latent": [r.get("label") for r in rows],
                       "hard": [bool(r.get("hard_negative")) for r in rows],
                       "conf": [max(r["t2_probs"]) for r in rows]})
    known = df[df.latent.notna()]
    out: dict[str, Any] = {"n": len(df), "hard_negative_share": float(df.hard.mean()) if len(df) else 0.0,
                           "t2_label_share": {lab: float((df.t2 == lab).mean()) for lab in LABELS},
                           "mean_confidence": float(df.conf.mean()) if len(df) else float("nan")}
    if rows and "t2_probs_raw" in rows[0]:
        raw = [LABELS[int(np.argmax(r["t2_probs_raw"]))] for r in rows]
        out["t2_label_share_uncalibrated"] = {lab: raw.count(lab) / len(raw) for lab in LABELS}
    if len(known):
        out["t2_vs_latent_agreement"] = float((known.t2 == known.latent).mean())
        hard = known[known.hard]
        if len(hard):
            out["t2_vs_latent_agreement_hard_negatives"] = float((hard.t2 == hard.latent).mean())
            out["t2_label_share_hard_negatives"] = {lab: float((hard.t2 == lab).mean()) for lab in LABELS}
    return out


def balance_table(rows: Sequence[dict[str, Any]]):
    """Counts of T2 label x latent label (hard negatives split out), for the notebook."""
    import pandas as pd

    df = pd.DataFrame({"T2 label": [r["t2_label"] for r in rows],
                       "latent label": [r.get("label") or "?" for r in rows],
                       "hard negative": [bool(r.get("hard_negative")) for r in rows]})
    return pd.crosstab([df["hard negative"], df["latent label"]], df["T2 label"]).reindex(columns=list(LABELS),
                                                                                         fill_value=0)


def label_share_table(sets: dict[str, Sequence[dict[str, Any]]]):
    """Per labelled set (e.g. D_cls, the test split): n, T2's share of each label, and T2's agreement
    with the generator's latent label; the classifier can only learn classes T2 actually assigns."""
    import pandas as pd

    out = []
    for name, rows in sets.items():
        s = summary(rows)
        out.append({"set": name, "n": s["n"], **{f"T2 {lab}": s["t2_label_share"][lab] for lab in LABELS},
                    "min share": min(s["t2_label_share"].values()),
                    "T2 vs latent": s.get("t2_vs_latent_agreement", float("nan")),
                    "hard negatives": s["hard_negative_share"]})
    return pd.DataFrame(out)


def label_share_figure(table):
    """Stacked bars of T2's label shares per labelled set (`label_share_table`)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 0.6 + 0.55 * len(table)))
    left = np.zeros(len(table))
    for lab, color in zip(LABELS, ("#c0392b", "#e0a800", "#2e8b57")):
        vals = table[f"T2 {lab}"].to_numpy(dtype=float)
        ax.barh(table["set"], vals, left=left, color=color, label=lab)
        for y, (x0, v) in enumerate(zip(left, vals)):
            if v >= 0.06:
                ax.text(x0 + v / 2, y, f"{v:.0%}", ha="center", va="center", fontsize=8, color="white")
        left += vals
    ax.axvline(0.15, color="k", lw=0.6, ls=":")
    ax.set(xlim=(0, 1), xlabel="share of pairs (T2's hard label)", title="T2's labels: class balance")
    ax.legend(ncol=3, fontsize=8, loc="lower right")
    return fig
