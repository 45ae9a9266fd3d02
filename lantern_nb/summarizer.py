"""The JD summarizer (paper Sec. 3.5.1): a small decoder fine-tuned to reproduce the extraction.

Input: a chat asking to extract the requirements + the full job text; target: the rule-based
extractor's output `compress_job(job_text)`. Trained through the project's one loop
(`train.train` + `CausalLMObjective`) from a pretrained start (`pretrain.pretrained_decoder`).
`Summarizer.summarize` is batched greedy decoding; `RuleSummarizer` wraps the extractor itself,
the fallback the serving module can use when the tiny model's ROUGE is poor on CPU.
"""
from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from lantern_nb import artifacts
from lantern_nb.profiles import Profile

INSTRUCTION = ("Extract the requirements of this job posting: the role, then 'Required:' and "
               "'Preferred:' lists with one qualification per '- ' line.")


def jd_summary_messages(job_text: str) -> list[dict[str, str]]:
    """The summarizer's chat prompt for one job posting."""
    return [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": job_text.strip()}]


class RuleSummarizer:
    """The rule-based extractor (`compress.compress_job`) behind the `summarize(texts)` protocol."""

    kind = "rule"

    def summarize(self, texts: list[str]) -> list[str]:
        from lantern_nb.compress import compress_job

        return [compress_job(t) for t in texts]


class Summarizer:
    """A fine-tuned decoder: `summarize(texts)` is batched greedy decoding (left padding)."""

    kind = "model"

    def __init__(self, model: torch.nn.Module, tokenizer, max_new_tokens: int = 128, max_length: int = 768,
                 batch_size: int = 16):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.max_new_tokens, self.max_length, self.batch_size = max_new_tokens, max_length, batch_size

    def _prompt_ids(self, text: str) -> list[int]:
        from lantern_nb.train import encode_chat_example

        budget = max(32, self.max_length - self.max_new_tokens)
        return encode_chat_example(self.tokenizer, jd_summary_messages(text), None, budget)["input_ids"]

    @torch.inference_mode()
    def summarize(self, texts: list[str], progress: bool = False) -> list[str]:
        """Greedy summaries of `texts` under an explicit greedy config (the checkpoint's is ignored)."""
        from lantern_nb.generation import greedy_generation_config

        tok = self.tokenizer
        eos = tok.eos_token_id
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos
        prompts = [self._prompt_ids(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(prompts[i]))
        out = [""] * len(texts)
        device = next(self.model.parameters()).device
        gen_cfg = greedy_generation_config(self.max_new_tokens, eos, pad)
        for s in tqdm(range(0, len(order), self.batch_size), desc="summarize", disable=not progress, leave=False):
            idx = order[s:s + self.batch_size]
            w = max(len(prompts[i]) for i in idx)
            ids = torch.tensor([[pad] * (w - len(prompts[i])) + prompts[i] for i in idx], device=device)
            mask = torch.tensor([[0] * (w - len(prompts[i])) + [1] * len(prompts[i]) for i in idx], device=device)
            gen = self.model.generate(input_ids=ids, attention_mask=mask, generation_config=gen_cfg)
            for j, i in enumerate(idx):
                new = gen[j, w:].tolist()
                if eos in new:
                    new = new[:new.index(eos)]
                out[i] = tok.decode(new, skip_special_tokens=True).strip()
        return out


def job_splits(cfg: Profile) -> tuple[list[str], list[str]]:
    """Distinct job texts: (train jobs from D_base train/val + D_cls, held-out jobs of the D_base test split)."""
    from lantern_nb.data import load_cls_pairs, load_pairs

    test = list(dict.fromkeys(p.job_text for p in load_pairs(cfg.name, "test")))
    held = set(test)
    pool = [p.job_text for p in load_pairs(cfg.name) + load_cls_pairs(cfg.name) if p.split != "test"]
    train = [t for t in dict.fromkeys(pool) if t not in held]
    random.Random(cfg.seed).shuffle(train)
    if cfg.summarizer.train_jobs > 0:
        train = train[: cfg.summarizer.train_jobs]
    return train, test[: cfg.summarizer.eval_n]


def evaluate_summarizer(summarizer: Any, jobs: Sequence[str]) -> dict[str, Any]:
    """ROUGE of the summaries against the extractor's output, the length reduction and the speed."""
    from lantern_nb.compress import compress_job
    from lantern_nb.metrics import rouge

    refs = [compress_job(j) for j in jobs]
    t0 = time.perf_counter()
    preds = summarizer.summarize(list(jobs))
    seconds = time.perf_counter() - t0
    r = rouge(preds, refs)
    chars_in = sum(len(j) for j in jobs)
    return {**{k: float(v) for k, v in r.items()},
            "length_reduction": 1 - sum(len(p) for p in preds) / max(1, chars_in),
            "extractor_length_reduction": 1 - sum(len(x) for x in refs) / max(1, chars_in),
            "jobs_per_s": len(jobs) / max(seconds, 1e-9), "n": len(jobs),
            "examples": [{"job": j, "extractor": x, "model": p} for j, x, p in list(zip(jobs, refs, preds))[:3]]}


def train_summarizer(cfg: Profile, work_dir: str | Path | None = None,
                     save_to: str | Path | None | bool = True) -> tuple[Summarizer, dict[str, Any]]:
    """Fine-tune `cfg.models.summarizer` on (job -> compress_job(job)) (`fit_summarizer`; under a launcher,
    step summarizer, as `python -m lantern_nb train summarizer`); save it as artifact "summarizer"
    (`save_to=True`), to another folder, or not at all (None).

    Returns the model-based summarizer and its metrics (ROUGE vs the extractor on held-out jobs,
    length reduction, training time, the rule extractor's own speed for comparison, and under
    `result` the `train.TrainResult`, left out of the saved metrics).
    """
    from lantern_nb import launcher, model_specs

    sc = cfg.summarizer
    tok = model_specs.get_tokenizer(cfg)
    train_jobs, held = job_splits(cfg)
    out_dir = Path(work_dir) if work_dir else artifacts.data_dir(cfg.name) / "summarizer_run"
    mode = launcher.launcher(cfg, step="summarizer")
    if mode is not None:
        res = _launched_fit(cfg, out_dir, mode)
    else:
        res = fit_summarizer(cfg, out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    summ = Summarizer(res.model.eval(), tok, sc.max_new_tokens, sc.max_length)
    metrics = evaluate_summarizer(summ, held)
    rule = evaluate_summarizer(RuleSummarizer(), held)
    metrics.update(train_seconds=res.seconds, train_jobs=len(train_jobs), steps=res.steps,
                   rule_jobs_per_s=rule["jobs_per_s"], spec=cfg.models.summarizer)
    if save_to:
        save_summarizer(summ, artifacts.artifact_path(cfg.name, "summarizer") if save_to is True else save_to,
                        {k: v for k, v in metrics.items() if k != "examples"})
    metrics["result"] = res
    return summ, metrics


def fit_summarizer(cfg: Profile, work_dir: str | Path, save_final: str | Path | None = None):
    """The summarizer's training alone (train-split jobs -> `compress_job`, the one training loop), without
    evaluation or export; `python -m lantern_nb train summarizer` runs it under a launcher. Returns the
    `train.TrainResult`; `save_final` also saves the trained model there (gathered from shards)."""
    from lantern_nb import model_specs, pretrain
    from lantern_nb.compress import compress_job
    from lantern_nb.train import CausalLMObjective, TrainConfig, encode_chat_example, train

    sc = cfg.summarizer
    tok = model_specs.get_tokenizer(cfg)
    model = pretrain.pretrained_decoder(cfg, cfg.models.summarizer, tok)
    rows = [encode_chat_example(tok, jd_summary_messages(j), compress_job(j), sc.max_length) for j in job_splits(cfg)[0]]
    for r in rows:
        r.pop("prompt_len", None)
    return train(model, rows, CausalLMObjective(), TrainConfig.from_section(sc, cfg.seed), Path(work_dir),
                 pad_token_id=tok.pad_token_id, desc="summarizer", save_final=save_final)


def _launched_fit(cfg: Profile, work_dir: Path, mode: str):
    """`fit_summarizer` as `python -m lantern_nb train summarizer --save-model` under `accelerate launch`,
    the trained model loaded back onto this process's device."""
    from lantern_nb import launcher, model_specs
    from lantern_nb.profiles import overrides_of

    result = launcher.launched_train(cfg, "summarizer", mode, work_dir, overrides_of(cfg), extra=["--save-model"])
    model = launcher.load_launched(work_dir / "final", model_specs.pick_device(cfg.device))
    return launcher.train_result(result, model)


def save_summarizer(summ: Summarizer, path: str | Path, metrics: dict[str, Any] | None = None) -> Path:
    """Save model + tokenizer + settings (atomic, via checkpoints.save_model)."""
    from lantern_nb.checkpoints import save_model

    meta = {"max_new_tokens": summ.max_new_tokens, "max_length": summ.max_length, "instruction": INSTRUCTION,
            "metrics": json.loads(json.dumps(metrics or {}, default=float))}
    return Path(save_model(summ.model, summ.tokenizer, path, meta))


def load_summarizer(path: str | Path, batch_size: int = 16, device: str | torch.device | None = None) -> Summarizer:
    """The fine-tuned summarizer saved at `path` (artifact "summarizer")."""
    from lantern_nb.checkpoints import META_FILE, load_model

    path = Path(path)
    meta = json.loads((path / META_FILE).read_text()) if (path / META_FILE).exists() else {}
    model, tok = load_model(path, device)
    return Summarizer(model, tok, int(meta.get("max_new_tokens", 128)), int(meta.get("max_length", 768)), batch_size)
