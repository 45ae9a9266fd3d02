"""Paper Sec. 4.3 scores of an explanation model: teacher-forced NLL and ROUGE of greedy generations."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from lantern_nb.dseed import encode_rows
from lantern_nb.generation import model_device, generate
from lantern_nb.profiles import Profile
from lantern_nb.train import PadCollator, answer_rows, chunked_cross_entropy, lm_head_weight


@torch.no_grad()
def nll(model: torch.nn.Module, tokenizer, rows: Sequence[dict[str, Any]], max_length: int,
        batch_size: int = 8, compress: bool = True) -> float:
    """Mean per-target-token cross-entropy of the reference targets (teacher forcing)."""
    enc = encode_rows(tokenizer, rows, max_length, compress)
    collate = PadCollator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id)
    was_training = model.training
    model.eval()
    device = model_device(model)
    total, count = 0.0, 0
    for s in range(0, len(enc), batch_size):
        batch = {k: v.to(device) for k, v in collate(enc[s:s + batch_size]).items()}
        hidden, labels = answer_rows(model, batch)
        total += float(chunked_cross_entropy(hidden, lm_head_weight(model), labels))
        count += int(labels.numel())
    model.train(was_training)
    return total / max(count, 1)


def evaluate(model: torch.nn.Module, tokenizer, rows: Sequence[dict[str, Any]], cfg: Profile,
             max_new_tokens: int | None = None, batch_size: int = 8, keep: int = 0) -> dict[str, Any]:
    """Paper Sec. 4.3 scores of an explanation model on `rows`: NLL (teacher forcing on the
    references) and ROUGE-1/2/L of greedy generations against the reference targets, with the
    ROUGE-L 95% bootstrap interval (`rougeL_lo`, `rougeL_hi`), the label accuracy of the
    generations' `Fit:` lines, `n` and the first `keep` generations (`samples`)."""
    from lantern_nb.metrics import bootstrap_interval, label_accuracy, rouge_rows

    max_new_tokens = max_new_tokens or cfg.sft.max_new_tokens
    preds = generate(model, tokenizer, rows, max_new_tokens, batch_size=batch_size, max_length=cfg.sft.max_length)
    refs = [r["target"] for r in rows]
    per_row = rouge_rows(preds, refs)
    scores = {k: (sum(v) / len(v) if v else float("nan")) for k, v in per_row.items()}
    lo, hi = bootstrap_interval(per_row["rougeL"], seed=cfg.seed)
    out = {"nll": nll(model, tokenizer, rows, cfg.sft.max_length, batch_size), **scores, "rougeL_lo": lo,
           "rougeL_hi": hi, "label_accuracy": label_accuracy(preds, refs), "n": len(rows)}
    if keep:
        out["samples"] = [{"pair_id": r.get("pair_id"), "prediction": p} for r, p in zip(rows[:keep], preds)]
    return out
