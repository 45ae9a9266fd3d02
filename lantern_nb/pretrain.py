"""A "pretrained" start for the tiny decoders (stands in for the hub checkpoints).

The paper fine-tunes real pretrained models (Table 3: Qwen3-8B, Qwen2.5-7B, Qwen2.5-7B-Instruct).
The cpu/smoke profiles use tiny random-init decoders of the same architectures, so we give them
what pretraining gives the real ones, at toy scale:

* base analogs (`tiny-qwen3:...` ~ Qwen3-8B, `tiny-qwen2:...` ~ Qwen2.5-7B): a short causal-LM
  pretraining (`cfg.pretrain.steps`) on unlabelled job and résumé text of the corpus (train split
  + the unlabelled D_cls pairs), packed into `seq_len` blocks with EOS between documents;
* the instruct analog (`...+instruct` ~ Qwen2.5-7B-Instruct): the *same* base weights (as
  Qwen2.5-7B-Instruct is Qwen2.5-7B plus post-training), then `cfg.pretrain.instruct_steps` of
  chat-format instruction tuning on generic tasks built from the corpus without fit labels
  (list a job's requirements, list a candidate's skills / credentials / roles).

So the three candidates differ as the paper's do: family (qwen3 vs qwen2 architecture) and base
vs instruction-tuned. Results are cached under data/<profile>/models/pretrained/<spec slug>/ and
reused when `start_key` (every input of the pretraining) matches; the same seed gives the same
weights. Hub specs (paper profile)
load with `from_pretrained` unchanged.
"""
from __future__ import annotations

import dataclasses
import json
import random
import re
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from lantern_nb import artifacts, model_specs
from lantern_nb.cache import RunCache
from lantern_nb.profiles import Profile
from lantern_nb.train import IGNORE, CausalLMObjective, TrainConfig, encode_chat_example, loss_curve, train

INSTRUCT_SYSTEM = "You are a helpful assistant."
_META = "pretrain_meta.json"


def pretrained_dir(cfg: Profile, spec: str | model_specs.ModelSpec) -> Path:
    """Cache directory of a tiny spec's pretrained weights."""
    spec = model_specs.parse_spec(spec) if isinstance(spec, str) else spec
    return artifacts.data_dir(cfg.name) / "models" / "pretrained" / spec.slug


def corpus_texts(cfg: Profile) -> tuple[list[str], list[str]]:
    """Unique job ads and résumés (train split + D_cls pairs, labels unused), first-seen order."""
    from lantern_nb.data import load_cls_pairs, load_pairs

    pairs = list(load_pairs(cfg.name, split="train")) + list(load_cls_pairs(cfg.name))
    jobs = list(dict.fromkeys(p.job_text for p in pairs))
    resumes = list(dict.fromkeys(p.resume_text for p in pairs))
    return jobs, resumes


def lm_blocks(tokenizer, texts: Sequence[str], seq_len: int, seed: int = 0) -> list[dict[str, list[int]]]:
    """Pack shuffled `texts` (EOS after each) into blocks of `seq_len` with pre-shifted labels."""
    texts = list(texts)
    random.Random(seed).shuffle(texts)
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        stream.extend(ids)
        stream.append(eos)
    blocks = []
    for s in range(0, len(stream) - seq_len, seq_len):
        chunk = stream[s:s + seq_len + 1]
        blocks.append({"input_ids": chunk[:-1], "attention_mask": [1] * seq_len, "labels": chunk[1:]})
    return blocks


def copy_blocks(tokenizer, texts: Sequence[str], seq_len: int, n: int, seed: int = 0,
                span: tuple[int, int] = (8, 32), natural: float = 0.5) -> list[dict[str, list[int]]]:
    """`n` blocks of `seq_len` tokens that teach content-based copying (induction heads).

    Each block packs episodes `s s EOS` of random lengths in `span`: a run of a document's tokens (a
    `natural` share of them) or of random non-special token ids, then its repeat. Only the repeat is
    scored (after its first token, which nothing announces). The repeat starts at a different offset
    in every episode, so the loss falls only when a position attends to where the current token
    occurred before and copies what followed it (Olsson et al. 2022), the skill a model needs to
    quote an ad's requirements and find them in a résumé. Our tiny decoders never learned it from
    the upstream text alone; from random ids they learn it in a few hundred steps.
    """
    rng = random.Random(seed)
    eos = tokenizer.eos_token_id
    special = set(tokenizer.all_special_ids)
    pool = [i for i in range(len(tokenizer)) if i not in special]
    texts = list(texts) if natural else []
    docs = [ids for ids in tokenizer(texts, add_special_tokens=False)["input_ids"] if len(ids) > span[1]] if texts else []
    if natural and not docs:
        raise ValueError(f"copy_blocks: no document is longer than {span[1]} tokens to copy from")
    blocks = []
    for _ in range(n):
        ids: list[int] = []
        scored: list[bool] = []
        while len(ids) < seq_len + 1:
            length = rng.randint(*span)
            if natural and rng.random() < natural:
                doc = rng.choice(docs)
                start = rng.randrange(len(doc) - length + 1)
                s = doc[start:start + length]
            else:
                s = [rng.choice(pool) for _ in range(length)]
            ids += s + s + [eos]
            scored += [False] * (length + 1) + [True] * length
        ids, scored = ids[:seq_len + 1], scored[:seq_len + 1]
        labels = [t if ok else IGNORE for t, ok in zip(ids[1:], scored[1:])]
        blocks.append({"input_ids": ids[:-1], "attention_mask": [1] * seq_len, "labels": labels})
    return blocks


def copy_loss(model: torch.nn.Module, tokenizer, seq_len: int = 256, n: int = 16, seed: int = 1) -> float:
    """Mean NLL (nats) of the scored repeats in `copy_blocks` of random ids: ~ln(vocab) for a model that
    cannot copy from its context, near 0 for one that can."""
    rows = copy_blocks(tokenizer, [], seq_len, n, seed, natural=0.0)
    ids = torch.tensor([r["input_ids"] for r in rows])
    labels = torch.tensor([r["labels"] for r in rows])
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids.to(device)).logits.float()
    model.train(was)
    return float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.to(device).flatten(),
                                                   ignore_index=IGNORE))


_HEADER_WORDS = frozenset("summary professional profile about me experience work history employment education "
                          "skills core technical tools & and certifications licenses credentials languages training "
                          "projects objective qualifications".split())
_YEAR = re.compile(r"\b(19|20)\d{2}\b")


def _header(line: str) -> str | None:
    """The lower-cased section name when `line` is a resume section header ("## Skills", "SKILLS:")."""
    name = line.strip().strip("#:").strip().lower()
    words = name.split()
    return name if words and len(words) <= 4 and set(words) <= _HEADER_WORDS else None


def resume_sections(text: str) -> dict[str, list[str]]:
    """Resume sections: header -> its non-empty lines (bullet markers removed); inline
    "Skills: a, b" lines count as a section of their own."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        s = line.strip()
        if not s:
            continue
        head = _header(s)
        if head is not None:
            current = head
            sections.setdefault(current, [])
            continue
        if ":" in s and _header(s.split(":", 1)[0]) is not None:
            key, rest = s.split(":", 1)
            sections.setdefault(_header(key), []).append(rest.strip())
            continue
        if current is not None:
            sections[current].append(s.lstrip("-*• ").strip())
    return sections


def _collect(sections: dict[str, list[str]], words: Sequence[str], split_items: bool = False) -> list[str]:
    items: list[str] = []
    for name, lines in sections.items():
        if any(w in name for w in words):
            for line in lines:
                parts = re.split(r"\s*(?:[|·;]|,(?![^(]*\)))\s*", line) if split_items else [line]
                items.extend(p.strip() for p in parts if p.strip())
    return list(dict.fromkeys(items))


def _bullets(items: Sequence[str], limit: int = 10) -> str:
    return "\n".join(f"- {x}" for x in items[:limit])


def instruction_examples(jobs: Sequence[str], resumes: Sequence[str], seed: int = 0) -> list[tuple[list[dict], str]]:
    """Generic (messages, answer) chat tasks from unlabelled texts; nothing about fit.

    Jobs: "List the requirements of this job ad" -> the compressed requirement specification.
    Résumés: skills, certifications / licenses, education and dated roles, each a bulleted
    list copied from the résumé's sections (tasks with an empty answer are skipped).
    """
    from lantern_nb.dseed import _compress

    def chat(instruction: str, text: str) -> list[dict]:
        return [{"role": "system", "content": INSTRUCT_SYSTEM}, {"role": "user", "content": f"{instruction}\n\n{text}"}]

    out: list[tuple[list[dict], str]] = []
    for job in jobs:
        req = _compress(job).strip()
        if req:
            out.append((chat("List the requirements of this job ad.", job), req))
    for resume in resumes:
        sec = resume_sections(resume)
        roles = [x for x in _collect(sec, ("experience", "employment", "history")) if _YEAR.search(x)]
        for question, items in (
                ("What skills does this candidate list?", _collect(sec, ("skill",), split_items=True)),
                ("What certifications and licenses does this candidate hold?",
                 _collect(sec, ("certif", "licen", "credential"))),
                ("What education does this candidate have?", _collect(sec, ("education",))),
                ("Which roles has this candidate held, and when?", roles)):
            if items:
                out.append((chat(question, resume), _bullets(items)))
    random.Random(seed).shuffle(out)
    return out


def start_key(cfg: Profile, spec: str | model_specs.ModelSpec, tokenizer) -> str:
    """The run-cache key of a decoder's start weights: for a tiny spec every input of its
    pretraining (the whole pretrain section, the seed, the tokenizer, the corpus texts; for
    `+instruct` also `sft.max_length` and the base's key), for a hub checkpoint its spec (a stand-in's with its recipe)."""
    spec = model_specs.parse_spec(spec) if isinstance(spec, str) else spec
    if spec.kind == "base":
        from lantern_nb.base_store import verify

        return RunCache.key(spec.raw, verify(spec.raw.split(":", 1)[1]))
    if spec.kind != "tiny":  # a stand-in: also its recipe's fingerprint, so a rebuilt stand-in is a new start
        return RunCache.key(spec.raw, (Path(spec.path) / "standin.json").read_text() if spec.path else None)
    if not _trains(cfg, spec):
        return RunCache.key(spec.raw, cfg.seed, tokenizer)  # the random init
    corpus = corpus_texts(cfg)
    base = start_key(cfg, spec.raw.removesuffix("+instruct"), tokenizer) if spec.instruct else None
    return RunCache.key(spec.raw, cfg.pretrain, cfg.seed, tokenizer, corpus,
                        cfg.sft.max_length if spec.instruct else None, base)


def _trains(cfg: Profile, spec: model_specs.ModelSpec) -> bool:
    """Whether a tiny spec's start is trained at all (else it is the seeded random init)."""
    p = cfg.pretrain
    return p.steps > 0 or (spec.instruct and p.instruct_steps > 0)


def _meta(cfg: Profile, spec: model_specs.ModelSpec, tokenizer) -> dict[str, Any]:
    return {"key": start_key(cfg, spec, tokenizer), "spec": spec.raw, "seed": cfg.seed, "vocab": len(tokenizer),
            "pretrain": dataclasses.asdict(cfg.pretrain)}


def pretrain_info(cfg: Profile, spec: str) -> dict[str, Any]:
    """The pretraining record of `spec` (settings, seconds, loss curve): a committed base model's
    provenance, or the cached record of a tiny one; {} if none."""
    parsed = model_specs.parse_spec(spec)
    if parsed.kind == "base":
        from lantern_nb.base_store import provenance

        name = parsed.raw.split(":", 1)[1]
        info = dict(provenance(name))
        base = info.get("recipe", {}).get("base")
        if base:  # an -Instruct analog: its base's pretraining seconds count too
            info["seconds"] = info.get("seconds", 0.0) + provenance(base).get("seconds", 0.0)
        return info
    path = pretrained_dir(cfg, spec) / _META
    return json.loads(path.read_text()) if path.exists() else {}


def _cached(path: Path, meta: dict[str, Any]):
    from transformers import AutoModelForCausalLM

    meta_path = path / _META
    if not meta_path.exists():
        return None
    if json.loads(meta_path.read_text()).get("key") != meta["key"]:
        return None
    return AutoModelForCausalLM.from_pretrained(path)


def _save(model: torch.nn.Module, path: Path, meta: dict[str, Any]) -> None:
    import shutil

    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    (tmp / _META).write_text(json.dumps(meta, indent=1))
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def pretrained_decoder(cfg: Profile, spec: str, tokenizer, dtype: torch.dtype | str | None = None) -> torch.nn.Module:
    """The start point of a decoder role: pretrained tiny analog (cached) or the hub checkpoint.

    Tiny base specs: random init (seed `cfg.seed`) + `cfg.pretrain.steps` causal-LM steps on
    corpus text. `+instruct` specs: the base spec's pretrained weights + `instruct_steps` of
    instruction tuning. `steps == 0` gives the random init (nothing cached). `dtype` is the hub
    weights' load dtype (default: fp32, for training; a LoRA base is frozen and may load in bf16).
    """
    parsed = model_specs.parse_spec(spec)
    if parsed.kind != "tiny":  # a committed base model or a hub checkpoint: loaded as it is
        return model_specs.build_causal_lm(parsed, tokenizer, seed=cfg.seed, dtype=dtype)
    if not _trains(cfg, parsed):
        return model_specs.build_causal_lm(parsed, tokenizer, seed=cfg.seed)
    path = pretrained_dir(cfg, parsed)
    meta = _meta(cfg, parsed, tokenizer)
    model = _cached(path, meta)
    if model is not None:
        return model
    jobs, resumes = corpus_texts(cfg)
    t0 = time.perf_counter()
    if parsed.instruct:
        base = pretrained_decoder(cfg, parsed.raw.removesuffix("+instruct"), tokenizer)
        model, log = _instruct_tune(cfg, base, tokenizer, jobs, resumes, path)
    else:
        model, log = _lm_pretrain(cfg, parsed, tokenizer, jobs + resumes, path)
    meta.update(seconds=round(time.perf_counter() - t0, 2), loss_curve=loss_curve(log))
    _save(model, path, meta)
    return model


def _lm_pretrain(cfg: Profile, spec: model_specs.ModelSpec, tokenizer, texts: list[str], path: Path):
    p = cfg.pretrain
    model = model_specs.build_causal_lm(spec, tokenizer, seed=cfg.seed)
    blocks = lm_blocks(tokenizer, texts, p.seq_len, cfg.seed)
    tc = TrainConfig.from_section(p, cfg.seed, epochs=1, max_steps=p.steps)
    res = train(model, blocks, CausalLMObjective(), tc, path.with_name(path.name + ".run"),
                pad_token_id=tokenizer.pad_token_id, desc=f"pretrain {spec.raw}")
    _cleanup(path)
    return res.model, res.log_history


def _instruct_tune(cfg: Profile, model: torch.nn.Module, tokenizer, jobs: list[str], resumes: list[str], path: Path):
    p = cfg.pretrain
    if p.instruct_steps <= 0:
        return model, []
    rows = []
    for messages, answer in instruction_examples(jobs, resumes, cfg.seed):
        enc = encode_chat_example(tokenizer, messages, answer, cfg.sft.max_length)
        enc.pop("prompt_len", None)
        if any(y != IGNORE for y in enc["labels"]):
            rows.append(enc)
    tc = TrainConfig.from_section(p, cfg.seed, epochs=1, max_steps=p.instruct_steps)
    res = train(model, rows, CausalLMObjective(), tc, path.with_name(path.name + ".run"),
                pad_token_id=tokenizer.pad_token_id, desc="instruction tuning")
    _cleanup(path)
    return res.model, res.log_history


def _cleanup(path: Path) -> None:
    import shutil

    shutil.rmtree(path.with_name(path.name + ".run"), ignore_errors=True)
