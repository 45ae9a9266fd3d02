"""Saving and loading causal-LM checkpoints (model + tokenizer + a meta JSON), atomically."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch


META_FILE = "lantern_meta.json"


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


def load_tokenizer(path: str | Path):
    """The tokenizer saved with a model at `path`, with the project's chat template where it has none."""
    from transformers import AutoTokenizer

    from lantern_nb.model_specs import CHAT_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(path)
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def load_model(path: str | Path, device: str | torch.device | None = None):
    """(model in eval mode, tokenizer) saved by `save_model` (or any causal-LM directory)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = load_tokenizer(path)
    if device is not None:
        model.to(device)
    return model.eval(), tokenizer
