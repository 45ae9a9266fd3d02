"""Upstream base models: the project's own stand-ins for the hub checkpoints (paper Sec. 4.2).

The paper fine-tunes pretrained Qwen2.5 / Qwen3 checkpoints; nothing can be downloaded here, so
`make base-models` builds tiny checkpoints of the same architectures once, outside the notebooks'
budget, and commits them under `data/base/`:

* an upstream corpus from the synthetic generator under its own seed (`base_recipe.yaml`): new job
  ads and résumés, none of them a posting, pair or test row of any profile; fit labels unused;
* a byte-level BPE tokenizer trained on it, shared by every base model (and so by KD);
* each base decoder: causal-LM pretraining on those documents;
* the "-Instruct" analog: its base + chat-format tuning on generic reading tasks over the same
  documents (`reading_tasks`), never with fit labels, the explanation format or a D_seed pair.

Each model folder holds bf16 safetensors, the config and `provenance.json` (steps, seconds, final
loss, corpus hash, recipe); `MANIFEST.json` lists the sha256 of every file, checked on load.
Profiles use them through `base:<name>` model specs (`model_specs.parse_spec`).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from lantern_nb.base_store import (MANIFEST, PROVENANCE, BaseModelError, base_dir, load_base, load_tokenizer,
                                   provenance, verify, write_manifest)

RECIPE_PATH = Path(__file__).with_name("base_recipe.yaml")
READING_SYSTEM = "You are a helpful assistant."


def load_recipe(path: Path = RECIPE_PATH) -> dict[str, Any]:
    """The upstream recipe (seed, corpus size, optimisation, one entry per model)."""
    import yaml

    recipe = yaml.safe_load(path.read_text())
    for name, m in recipe["models"].items():
        if ("spec" in m) == ("base" in m):
            raise ValueError(f"{path}: model {name!r} needs exactly one of spec (pretrained) or base (instruct)")
        if "base" in m and m["base"] not in recipe["models"]:
            raise ValueError(f"{path}: model {name!r} has base {m['base']!r}, not a model of the recipe")
    return recipe


# ----------------------------------------------------------------------------- corpus and tasks
def upstream_pairs(recipe: dict[str, Any], progress: bool = True) -> list:
    """The upstream documents as generator pairs (their labels are never read)."""
    from lantern_nb.data import generator

    return generator.generate_pairs(recipe["n_jobs"], recipe["pairs_per_job"], seed=recipe["seed"],
                                    stream="upstream", id_prefix="u", progress=progress)


def documents(pairs: Sequence) -> list[str]:
    """Unique ads and résumés of `pairs`, first-seen order."""
    return list(dict.fromkeys([p.job_text for p in pairs] + [p.resume_text for p in pairs]))


def corpus_hash(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()


def _chat(instruction: str, text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": READING_SYSTEM}, {"role": "user", "content": f"{instruction}\n\n{text}"}]


def _shown(item, resume_text: str) -> bool:
    low = resume_text.lower()
    return any(p.lower() in low for p in item.resume + item.partial + item.unrelated)


def reading_tasks(pairs: Sequence, seed: int) -> list[tuple[list[dict[str, str]], str]]:
    """Generic reading tasks an instruction-tuned model is good at, from the documents themselves.

    Ads: list the requirements (the compressed requirement text, Sec. 3.5.1); name the occupation.
    Résumés: name the occupation; years of experience in it; list skills / credentials / education /
    dated roles (copied from the résumé's sections); and "does this résumé show X?" for a handful of
    items (some asked by the ad the résumé was written for, under their short or advertised wording,
    some from other occupations), answered yes / partly / no with the résumé's line quoted. No fit
    level, no explanation lines, no pair of any profile's D_seed.
    """
    from lantern_nb.compress import compress_job
    from lantern_nb.data import content as C
    from lantern_nb.pretrain import instruction_examples

    rng = random.Random(seed)
    out: list[tuple[list[dict[str, str]], str]] = []
    jobs = list(dict.fromkeys(p.job_text for p in pairs))
    first = {}
    for p in pairs:
        first.setdefault(p.resume_text, p)
    for job in jobs:
        req = compress_job(job).strip()
        if req:
            out.append((_chat("List the requirements of this job ad.", job), req))
    fam_of_job = {p.job_text: p.meta["family"] for p in pairs}
    for job in rng.sample(jobs, len(jobs) // 2):
        out.append((_chat("Which occupation is this job ad for?", job), C.FAMILIES[fam_of_job[job]].label))
    items_by_family = {k: [C.ITEMS[i] for i in f.skills] for k, f in C.FAMILIES.items()}
    for text, p in first.items():
        fam = C.FAMILIES[p.meta["resume_family"]]
        out.append((_chat("Which occupation does this résumé show?", text), fam.label))
        domain = rng.choice(fam.years_domain)
        out.append((_chat(f"How many years of {domain} experience does this candidate have?", text),
                    f"About {p.meta['resume_years']:.1f} years."))
        if p.meta["resume_family"] != p.meta["family"]:
            continue
        asked = [r for r in p.meta["requirements"] if r["kind"] != "years"]
        rng.shuffle(asked)
        lines = []
        for r in asked[:5]:
            wording = r["text"] if rng.random() < 0.5 else r["ad_text"]
            answer = {"met": "yes", "partial": "partly", "missing": "no"}[r["verdict"]]
            lines.append((wording, answer, r["evidence"]))
        others = [it for k, its in items_by_family.items() if k != p.meta["resume_family"] for it in its]
        for it in rng.sample(others, 2):
            if not _shown(it, text):
                lines.append((it.canonical if rng.random() < 0.5 else rng.choice(it.job), "no", None))
        rng.shuffle(lines)
        question = (f"{READING_QUESTION} Answer yes, partly or no for each, quoting the "
                    "résumé line.\n" + "\n".join(f"- {w}" for w, _, _ in lines))
        answer = "\n".join(f"- {w}: {a}" + (f" ({e})" if e else "") for w, a, e in lines)
        out.append((_chat(question, text), answer))
    out.extend(instruction_examples([], list(first), seed))
    rng.shuffle(out)
    return out


_READING_LINE = re.compile(r"^- (.+?): (yes|partly|no)\b", re.M)
READING_QUESTION = "Does this résumé show each of these?"


def score_reading(reference: str, generation: str) -> dict[str, int]:
    """Item by item, a "does this résumé show X" answer against the reference answer: `items` asked,
    `named` (the generation answers that item under its asked wording), `agree` (and gives the
    reference's yes / partly / no), `ref_yes` (what always answering "yes" would get right)."""
    want = {m.group(1).strip(): m.group(2) for m in _READING_LINE.finditer(reference)}
    got: dict[str, str] = {}
    for m in _READING_LINE.finditer(generation):
        got.setdefault(m.group(1).strip(), m.group(2))
    return {"items": len(want), "named": sum(w in got for w in want),
            "agree": sum(got.get(w) == a for w, a in want.items()),
            "ref_yes": sum(a == "yes" for a in want.values())}


def reading_check(name: str, n: int = 40, seed: int = 0, max_new_tokens: int = 160,
                  root: Path | None = None) -> dict[str, Any]:
    """How well committed model `name` does its own "does this résumé show X" task (`reading_tasks`)
    on documents upstream never saw: `n` résumés of the generator under `seed` (the cpu profile's
    corpus for seed 0), greedy answers scored by `score_reading`, summed."""
    from tqdm.auto import tqdm

    from lantern_nb.data import generator
    from lantern_nb.generation import greedy_generation_config

    tokenizer = load_tokenizer(root)
    model = load_base(name, root=root).eval()
    pairs = generator.generate_pairs(max(2, n // 2), 6, seed=seed, progress=False)
    tasks = [t for t in reading_tasks(pairs, seed + 7) if t[0][1]["content"].startswith(READING_QUESTION)]
    random.Random(seed).shuffle(tasks)
    gen = greedy_generation_config(max_new_tokens, tokenizer.eos_token_id, tokenizer.pad_token_id)
    window = load_recipe()["instruct"]["max_length"] - max_new_tokens  # prompt + answer as long as in tuning
    total = {"items": 0, "named": 0, "agree": 0, "ref_yes": 0}
    with torch.no_grad():
        for messages, reference in tqdm(tasks[:n], desc=f"reading check {name}", leave=False):
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
            ids = ids["input_ids"][-window:]
            out = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 generation_config=gen)
            scores = score_reading(reference, tokenizer.decode(out[0, len(ids):], skip_special_tokens=True))
            total = {k: total[k] + scores[k] for k in total}
    items = max(total["items"], 1)
    return {"model": name, "tasks": min(n, len(tasks)), **total, "named_share": round(total["named"] / items, 3),
            "agree_share": round(total["agree"] / items, 3), "always_yes_share": round(total["ref_yes"] / items, 3)}


# ----------------------------------------------------------------------------- build
def _train_config(section: dict[str, Any], seed: int, steps: int):
    from lantern_nb.train import TrainConfig

    keys = ("lr", "batch_size", "warmup_ratio", "weight_decay", "scheduler", "max_grad_norm", "log_points")
    return TrainConfig(epochs=1000, seed=seed, max_steps=steps, **{k: section[k] for k in keys})


def _entry_key(recipe: dict[str, Any], name: str, corpus: str) -> str:
    """What a model's build reads: its recipe entry (and its base's, recursively), the shared
    settings (the copy section only where the entry uses it) and the corpus hash; a committed model
    with another key is rebuilt."""
    from lantern_nb.cache import fingerprint

    m = recipe["models"][name]
    shared = {k: v for k, v in recipe.items() if k not in ("models", "copy")}
    base = _entry_key(recipe, m["base"], corpus) if "base" in m else None
    copy = copy_settings(recipe, m)
    return fingerprint(name, m, shared, corpus, base) if copy is None else fingerprint(name, m, shared, corpus, base, copy)


def copy_settings(recipe: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any] | None:
    """The recipe's `copy` section for an entry that says `copy: true`, else None."""
    if not entry.get("copy"):
        return None
    if "copy" not in recipe:
        raise ValueError("base recipe: a model says copy: true but the recipe has no copy section")
    return recipe["copy"]


def copy_rows(recipe: dict[str, Any], entry: dict[str, Any], tokenizer, texts: Sequence[str],
              n_lm: int) -> list[dict[str, list[int]]]:
    """The copy blocks mixed into the causal-LM phase (or an -Instruct entry's tuning): `copy.frac` of all
    its rows, `copy.natural` of their spans from the documents (`pretrain.copy_blocks`), so copying stays in
    use while the text (or the tasks) are learned; tuning without them erased it (copy loss 0.15 -> 8.9 nats)."""
    from lantern_nb.pretrain import copy_blocks

    c = copy_settings(recipe, entry)
    if not c or not c["frac"]:
        return []
    n = round(n_lm * c["frac"] / (1 - c["frac"]))
    return copy_blocks(tokenizer, texts, recipe["lm"]["seq_len"], n, recipe["seed"] + 1, tuple(c["span"]), c["natural"])


def _copy_phase(recipe: dict[str, Any], entry: dict[str, Any], model: torch.nn.Module, tokenizer, work: Path,
                name: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Before its text, a base decoder that says `copy: true` learns to copy from its context on copy
    blocks of random ids (`copy.steps` at the constant `copy.lr` after 50 warm-up steps): content-based
    copying forms there in a few hundred steps, which the causal-LM phase alone never reached. Returns
    the model and its provenance fields."""
    from lantern_nb.pretrain import copy_blocks, copy_loss
    from lantern_nb.train import CausalLMObjective, loss_curve, train

    c = copy_settings(recipe, entry)
    if not c or not c["steps"]:
        return model, {}
    lm, steps = recipe["lm"], c["steps"]
    rows = copy_blocks(tokenizer, [], lm["seq_len"], steps * lm["batch_size"], recipe["seed"], tuple(c["span"]),
                       natural=0.0)
    started = time.perf_counter()
    _log(f"{name}: copying, {len(rows)} blocks, {steps} steps")
    section = {**lm, "lr": c["lr"], "scheduler": "constant_with_warmup", "warmup_ratio": min(1.0, 50 / steps)}
    work = work.with_name(work.name + "-copy")
    res = train(model, rows, CausalLMObjective(), _train_config(section, recipe["seed"], steps), work,
                pad_token_id=tokenizer.pad_token_id, desc=f"base {name} copying")
    shutil.rmtree(work, ignore_errors=True)
    fields = {"copy_steps": res.steps, "copy_seconds": round(time.perf_counter() - started, 1),
              "copy_phase_loss": round(copy_loss(res.model, tokenizer), 4), "copy_curve": loss_curve(res.log_history)}
    _log(f"{name}: copy loss {fields['copy_phase_loss']} nats after {res.steps} steps (ln V = "
         f"{math.log(len(tokenizer)):.2f} without copying)")
    return res.model, fields


def _save(model: torch.nn.Module, dest: Path, provenance: dict[str, Any], dtype: str) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.to(getattr(torch, dtype)).save_pretrained(tmp)
    (tmp / PROVENANCE).write_text(json.dumps(provenance, indent=1) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def build(recipe: dict[str, Any] | None = None, only: Sequence[str] = (), root: Path | None = None,
          models: Sequence[str] = ()) -> list[str]:
    """Build the tokenizer and every model of the recipe (or of `models`) whose committed copy is
    missing or stale, and those in `only` even when up to date; returns the names built. Each model is saved as it finishes, so an
    interrupted build resumes with the next one."""
    from transformers import AutoModelForCausalLM

    from lantern_nb import model_specs
    from lantern_nb.pretrain import copy_loss, lm_blocks
    from lantern_nb.train import IGNORE, CausalLMObjective, encode_chat_example, loss_curve, train

    recipe = recipe or load_recipe()
    root = root or base_dir()
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pairs = upstream_pairs(recipe)
    texts = documents(pairs)
    corpus = corpus_hash(texts)
    _log(f"upstream corpus: {len(texts)} documents ({time.perf_counter() - t0:.0f} s), sha256 {corpus[:12]}")
    tok_dir = root / "tokenizer"
    tok_stamp = json.dumps({"corpus": corpus, "vocab": recipe["tokenizer_vocab"]})
    if not (tok_dir / "stamp.json").exists() or (tok_dir / "stamp.json").read_text() != tok_stamp:
        tok = model_specs.train_tokenizer(texts + [model_specs._TARGET_SEED_TEXT] * 50, recipe["tokenizer_vocab"])
        shutil.rmtree(tok_dir, ignore_errors=True)
        tok.save_pretrained(tok_dir)
        (tok_dir / "stamp.json").write_text(tok_stamp)
        _log("tokenizer trained")
    tokenizer = base_tokenizer(root, check=False)
    built = []
    unknown = sorted((set(models) | set(only)) - set(recipe["models"]))
    if unknown:
        raise ValueError(f"not in the recipe: {', '.join(unknown)}; its models: {', '.join(recipe['models'])}")
    for name, m in recipe["models"].items():
        if models and name not in models and name not in only:
            continue
        key = _entry_key(recipe, name, corpus)
        dest = root / name
        prov_path = dest / PROVENANCE
        if name not in only and prov_path.exists() and json.loads(prov_path.read_text()).get("key") == key:
            continue
        started = time.perf_counter()
        work = root.parent / f".base-{name}.run"
        copy_phase: dict[str, Any] = {}
        if "spec" in m:
            spec = model_specs.parse_spec(m["spec"])
            model = model_specs.build_causal_lm(spec, tokenizer, seed=recipe["seed"])
            model, copy_phase = _copy_phase(recipe, m, model, tokenizer, work, name)
            rows = lm_blocks(tokenizer, texts, recipe["lm"]["seq_len"], recipe["seed"])
            rows += copy_rows(recipe, m, tokenizer, texts, len(rows))
            tc, steps, what = _train_config(recipe["lm"], recipe["seed"], m["steps"]), m["steps"], "causal LM"
        else:
            model = AutoModelForCausalLM.from_pretrained(root / m["base"], dtype=torch.float32)
            rows = []
            keep = 1 - (copy_settings(recipe, m) or {"frac": 0})["frac"]
            need = round(m["instruct_steps"] * recipe["instruct"]["batch_size"] * keep)
            for messages, answer in reading_tasks(pairs, recipe["seed"]):
                if len(rows) >= need:
                    break
                enc = encode_chat_example(tokenizer, messages, answer, recipe["instruct"]["max_length"])
                enc.pop("prompt_len", None)
                if any(y != IGNORE for y in enc["labels"]):
                    rows.append(enc)
            rows += copy_rows(recipe, m, tokenizer, texts, len(rows))
            steps, what = m["instruct_steps"], "reading tasks"
            tc = _train_config(recipe["instruct"], recipe["seed"], steps)
        _log(f"{name}: {what}, {len(rows)} rows, {steps} steps")
        res = train(model, rows, CausalLMObjective(), tc, work, pad_token_id=tokenizer.pad_token_id,
                    desc=f"base {name}")
        shutil.rmtree(work, ignore_errors=True)
        curve = loss_curve(res.log_history)
        provenance = {"key": key, "name": name, "recipe": m, "shared": {k: v for k, v in recipe.items() if k != "models"},
                      "trained_on": what, "rows": len(rows), "steps": res.steps,
                      "seconds": round(time.perf_counter() - started, 1), "corpus_sha256": corpus,
                      "final_loss": curve[-1][1] if curve else None, "loss_curve": curve,
                      "parameters": model_specs.count_parameters(res.model), "torch": torch.__version__,
                      "copy_loss": round(copy_loss(res.model, tokenizer), 4), **copy_phase}
        _save(res.model, dest, provenance, recipe["save_dtype"])
        write_manifest(root)
        built.append(name)
        _log(f"{name}: done in {provenance['seconds']:.0f} s, final loss {provenance['final_loss']}")
    write_manifest(root)
    return built


def base_tokenizer(root: Path | None = None, check: bool = True):
    """The tokenizer every base model shares, with the project's chat template."""
    from lantern_nb.model_specs import CHAT_TEMPLATE

    tok = load_tokenizer(root, check)
    tok.chat_template = CHAT_TEMPLATE
    return tok


def cli_base_models(args: argparse.Namespace) -> int:
    if args.check:
        for name in args.check:
            print(json.dumps(reading_check(name, n=args.check_n)))
        return 0
    built = build(only=args.only or (), models=args.models or ())
    total = sum(p.stat().st_size for p in base_dir().rglob("*") if p.is_file())
    print(f"built: {', '.join(built) or 'nothing (all up to date)'}; data/base is {total / 1e6:.1f} MB")
    return 0


__all__ = ["MANIFEST", "PROVENANCE", "BaseModelError", "base_dir", "base_tokenizer", "build", "load_base", "load_recipe",
           "provenance", "reading_check", "reading_tasks", "score_reading", "verify", "write_manifest"]
