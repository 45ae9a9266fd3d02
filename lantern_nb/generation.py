"""Greedy generation of explanations ("Fit: <label>" + one reason per line) in length-sorted batches."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from tqdm.auto import tqdm
from transformers import GenerationConfig

from lantern_nb.dseed import row_messages
from lantern_nb.train import encode_chat_example


# Every decoding field a checkpoint's generation_config.json sets in practice, at its no-op value.
# transformers fills each field an explicit GenerationConfig leaves None from the model's own
# generation_config (e.g. Qwen2.5-Instruct's repetition_penalty, top_k/top_p, temperature), so a
# field is only neutral when it is set here. Sampling warpers stay at their defaults (unused when
# do_sample=False); penalties and length constraints are set to values that add no processor.
NEUTRAL_DECODING: dict[str, Any] = {
    "do_sample": False, "num_beams": 1, "num_return_sequences": 1, "temperature": 1.0, "top_k": 50, "top_p": 1.0,
    "typical_p": 1.0, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0, "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0, "length_penalty": 1.0, "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0, "min_length": 0, "min_new_tokens": 0, "guidance_scale": 1.0,
    "renormalize_logits": False, "remove_invalid_values": False, "output_scores": False, "output_logits": False,
    "return_dict_in_generate": False, "use_cache": True, "early_stopping": False,
}


def greedy_generation_config(max_new_tokens: int, eos_token_id: int | list[int] | None,
                             pad_token_id: int | None) -> GenerationConfig:
    """An explicit greedy config (no sampling, one beam, no penalties) that wins over the model's own.

    Evaluation must decode the same way for every checkpoint; without it `generate` would inherit
    whatever the checkpoint's generation_config.json sets (sampling, repetition penalty, ...).
    """
    return GenerationConfig(**NEUTRAL_DECODING, max_new_tokens=max_new_tokens, eos_token_id=eos_token_id,
                            pad_token_id=pad_token_id)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter (where its inputs must go)."""
    return next(model.parameters()).device


@torch.no_grad()
def generate(model: torch.nn.Module, tokenizer, rows: Sequence[dict[str, Any]], max_new_tokens: int,
             batch_size: int = 8, prefixes: Sequence[str] | None = None, max_length: int | None = None,
             compress: bool = True, desc: str = "generate") -> list[str]:
    """Greedy generations (`greedy_generation_config`, stop at EOS) for `rows`, batched with left padding.

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
    device = model_device(model)
    gen = greedy_generation_config(max_new_tokens, eos, pad)
    for s in tqdm(range(0, len(order), batch_size), desc=desc, leave=False, disable=len(order) <= batch_size):
        idx = order[s:s + batch_size]
        width = max(len(prompts_ids[i]) for i in idx)
        input_ids = torch.tensor([[pad] * (width - len(prompts_ids[i])) + prompts_ids[i] for i in idx], device=device)
        attn = torch.tensor([[0] * (width - len(prompts_ids[i])) + [1] * len(prompts_ids[i]) for i in idx],
                            device=device)
        out = model.generate(input_ids=input_ids, attention_mask=attn, generation_config=gen)
        for j, i in enumerate(idx):
            new = out[j, width:].tolist()
            if eos in new:
                new = new[:new.index(eos)]
            text = tokenizer.decode(new, skip_special_tokens=True)
            texts[i] = (prefixes[i] if prefixes is not None and prefixes[i] else "") + text
    model.train(was_training)
    return texts
