"""The explanation model's I/O (paper Sec. 3.1, 3.4.1): D_seed rows in, "Fit: <label>" + reasons out.

Shared by teacher SFT (notebook 03), the KD students (04, 05), D_cls labelling (06) and the
service (07), so every model sees the same prompt: `prompts.explanation_messages` over the
compressed job (`compress.compress_job`, paper Sec. 3.5.1) and the profile, and is scored the
same way (teacher-forced NLL of the reference target, ROUGE of greedy generations).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from lantern_nb import artifacts, prompts
from lantern_nb.profiles import Profile
from lantern_nb.schema import parse_explanation, read_jsonl
from lantern_nb.train import PadCollator, answer_rows, chunked_cross_entropy, encode_chat_example, lm_head_weight

META_FILE = "lantern_meta.json"


def _compress(job_text: str) -> str:
    from lantern_nb.compress import compress_job

    return compress_job(job_text)


def seed_rows(cfg: Profile, split: str | None = None) -> list[dict[str, Any]]:
    """D_seed rows (written by notebook 02) of `split` (train / val / test; None = all)."""
    path = artifacts.require(cfg.name, "d_seed")
    return [r for r in read_jsonl(path) if split is None or r.get("split") == split]


def row_messages(row: dict[str, Any], compress: bool = True) -> list[dict[str, str]]:
    """The chat prompt of one row: compressed job requirements + candidate profile."""
    job = _compress(row["job_text"]) if compress else row["job_text"]
    return prompts.explanation_messages(job, row["profile_text"])


def encode_rows(tokenizer, rows: Sequence[dict[str, Any]], max_length: int,
                compress: bool = True) -> list[dict[str, list[int]]]:
    """Training examples: prompt tokens masked, `row["target"]` + EOS as pre-shifted labels."""
    out = []
    for row in rows:
        enc = encode_chat_example(tokenizer, row_messages(row, compress), row["target"], max_length)
        enc.pop("prompt_len", None)
        out.append(enc)
    return out


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def generate(model: torch.nn.Module, tokenizer, rows: Sequence[dict[str, Any]], max_new_tokens: int,
             batch_size: int = 8, prefixes: Sequence[str] | None = None, max_length: int | None = None,
             compress: bool = True, desc: str = "generate") -> list[str]:
    """Greedy generations (do_sample=False, stop at EOS) for `rows`, batched with left padding.

    `prefixes[i]` is forced at the start of the assistant turn and included in the returned
    text (label-conditioned explanation). Prompts are cut in the middle, like training examples,
    to fit `max_length - max_new_tokens` tokens.
    """
    budget = (max_length - max_new_tokens) if max_length else 1 << 30
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    pad = eos if pad is None else pad
    prompts_ids: list[list[int]] = []
    for i, row in enumerate(rows):
        ids = encode_chat_example(tokenizer, row_messages(row, compress), None, max(budget, 32))["input_ids"]
        if prefixes is not None and prefixes[i]:
            ids = ids + tokenizer(prefixes[i], add_special_tokens=False)["input_ids"]
        prompts_ids.append(ids)
    order = sorted(range(len(rows)), key=lambda i: len(prompts_ids[i]))
    texts: list[str] = [""] * len(rows)
    was_training = model.training
    model.eval()
    device = _device(model)
    for s in tqdm(range(0, len(order), batch_size), desc=desc, leave=False, disable=len(order) <= batch_size):
        idx = order[s:s + batch_size]
        width = max(len(prompts_ids[i]) for i in idx)
        input_ids = torch.tensor([[pad] * (width - len(prompts_ids[i])) + prompts_ids[i] for i in idx], device=device)
        attn = torch.tensor([[0] * (width - len(prompts_ids[i])) + [1] * len(prompts_ids[i]) for i in idx],
                            device=device)
        out = model.generate(input_ids=input_ids, attention_mask=attn, max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=eos, pad_token_id=pad)
        for j, i in enumerate(idx):
            new = out[j, width:].tolist()
            if eos in new:
                new = new[:new.index(eos)]
            text = tokenizer.decode(new, skip_special_tokens=True)
            texts[i] = (prefixes[i] if prefixes is not None and prefixes[i] else "") + text
    model.train(was_training)
    return texts


@torch.no_grad()
def nll(model: torch.nn.Module, tokenizer, rows: Sequence[dict[str, Any]], max_length: int,
        batch_size: int = 8, compress: bool = True) -> float:
    """Mean per-target-token cross-entropy of the reference targets (teacher forcing)."""
    enc = encode_rows(tokenizer, rows, max_length, compress)
    collate = PadCollator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    was_training = model.training
    model.eval()
    device = _device(model)
    total, count = 0.0, 0
    for s in range(0, len(enc), batch_size):
        batch = {k: v.to(device) for k, v in collate(enc[s:s + batch_size]).items()}
        hidden, labels = answer_rows(model, batch)
        total += float(chunked_cross_entropy(hidden, lm_head_weight(model), labels))
        count += int(labels.numel())
    model.train(was_training)
    return total / max(count, 1)


def evaluate(model: torch.nn.Module, tokenizer, rows: Sequence[dict[str, Any]], cfg: Profile,
             max_new_tokens: int | None = None, batch_size: int = 8) -> dict[str, float]:
    """Paper Sec. 4.3 scores of an explanation model on `rows`: NLL (teacher forcing on the
    references) and ROUGE-1/2/L of greedy generations against the reference targets."""
    from lantern_nb.metrics import rouge

    max_new_tokens = max_new_tokens or cfg.sft.max_new_tokens
    preds = generate(model, tokenizer, rows, max_new_tokens, batch_size=batch_size, max_length=cfg.sft.max_length)
    scores = rouge(preds, [r["target"] for r in rows])
    return {"nll": nll(model, tokenizer, rows, cfg.sft.max_length, batch_size), **scores, "n": len(rows)}


@dataclass
class Explainer:
    """The serving protocol of the explanation module: explain a given fit label.

    The predicted label (from the classifier) is forced as the assistant's first line
    "Fit: <label>", so the reasons are generated conditioned on it. `jobs` are the requirement
    summaries the service passes (the summarizer's output); set `compress=True` to pass raw job
    ads and compress them with `compress.compress_job` first.
    """

    model: torch.nn.Module
    tokenizer: Any
    max_new_tokens: int = 128
    max_length: int = 768
    batch_size: int = 8
    compress: bool = False

    def explain(self, jobs: Sequence[str], profiles: Sequence[str], labels: Sequence[str]) -> list[list[str]]:
        """One list of explanation lines per (job, profile, label)."""
        if not len(jobs) == len(profiles) == len(labels):
            raise ValueError(f"explain: {len(jobs)} jobs, {len(profiles)} profiles, {len(labels)} labels")
        rows = [{"job_text": j, "profile_text": p} for j, p in zip(jobs, profiles)]
        texts = generate(self.model, self.tokenizer, rows, self.max_new_tokens, self.batch_size,
                         prefixes=[f"Fit: {lab}\n" for lab in labels], max_length=self.max_length,
                         compress=self.compress, desc="explain")
        return [parse_explanation(t)[1] for t in texts]


def save_model(model: torch.nn.Module, tokenizer, path: str | Path, meta: dict[str, Any] | None = None) -> Path:
    """Save model + tokenizer (+ `meta` JSON) with save_pretrained into `path` atomically.

    Written to `<path>.tmp` and renamed, so an interrupted save never looks complete. A peft
    (LoRA) model is merged into its base first (in place), so the directory loads as a plain
    causal LM.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    tmp, old = path.with_name(path.name + ".tmp"), path.with_name(path.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if meta is not None:
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True))
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def load_model(path: str | Path, device: str | torch.device | None = None):
    """(model in eval mode, tokenizer) saved by `save_model` (or any causal-LM directory)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lantern_nb.zoo import CHAT_TEMPLATE

    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHAT_TEMPLATE
    if device is not None:
        model.to(device)
    return model.eval(), tokenizer


def load_explainer(path: str | Path, max_new_tokens: int = 128, device: str | torch.device | None = None) -> Explainer:
    """An `Explainer` over the model directory `path` (max_length from its meta when saved)."""
    model, tokenizer = load_model(path, device)
    meta_path = Path(path) / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return Explainer(model, tokenizer, max_new_tokens=max_new_tokens, max_length=int(meta.get("max_length", 768)))
