"""Stand-in models for developing and testing the service before the trained artifacts exist.

- `fake_models(cfg)`: deterministic pure-Python models (word overlap), optional fixed per-call
  delays; importable by a child process (`ServerProcess(models="lantern_nb.serving.testing:fake_models")`).
- `tiny_models(cfg)`: small *real* torch models wired like the trained ones — a tiny ModernBERT
  classifier (`classify.FitClassifier` + `PairEncoder`), a tiny Qwen2 explanation student
  (`explainer.Explainer`), the rule-based summarizer — random-init on a BPE trained on generated
  samples, so shapes, padding, batching and generation costs are real.
"""
from __future__ import annotations

import re
import time

import numpy as np

from lantern_nb.profiles import Profile
from lantern_nb.serving.pipeline import ServingModels

_WORD = re.compile(r"[a-z]{3,}")


def _words(text: str) -> list[str]:
    return list(dict.fromkeys(_WORD.findall(text.lower())))


class _Delay:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    def _wait(self) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)


class FakeSummarizer(_Delay):
    """The distinct words of 3+ letters: deterministic and shorter than the input."""

    def summarize(self, texts: list[str]) -> list[str]:
        self._wait()
        return [" ".join(_words(t)) for t in texts]


class FakeClassifier(_Delay):
    """Probabilities from the share of job words found in the résumé."""

    def predict_proba(self, jobs: list[str], resumes: list[str]) -> np.ndarray:
        self._wait()
        out = []
        for j, p in zip(jobs, resumes):
            jw, pw = set(_words(j)), set(_words(p))
            o = len(jw & pw) / max(len(jw), 1)
            logits = np.array([1.0 - 8 * o, 0.5, 8 * o - 1.5])
            e = np.exp(logits - logits.max())
            out.append(e / e.sum())
        return np.array(out).reshape(len(jobs), 3)


class FakeExplainer(_Delay):
    """Two lines: the label, and the words job and résumé share."""

    def explain(self, jobs: list[str], resumes: list[str], labels: list[str]) -> list[list[str]]:
        self._wait()
        return [[f"Fit is {lab}", "shared: " + (", ".join(sorted(set(_words(j)) & set(_words(p)))[:5]) or "nothing")]
                for j, p, lab in zip(jobs, resumes, labels)]


def fake_models(cfg: Profile | None = None, *, sum_delay: float = 0.0, cls_delay: float = 0.0,
                explain_delay: float = 0.0) -> ServingModels:
    """Deterministic fake models (the `cfg` argument makes this a `ServerProcess` models factory)."""
    return ServingModels(FakeSummarizer(sum_delay), FakeClassifier(cls_delay), FakeExplainer(explain_delay))


def sample_corpus(n_jobs: int = 12, pairs_per_job: int = 2, seed: int = 0) -> tuple[list[str], list[str]]:
    """Generated (job texts, résumé texts), one résumé per pair."""
    from lantern_nb.data import generate_pairs

    pairs = generate_pairs(n_jobs, pairs_per_job, seed, progress=False)
    return list(dict.fromkeys(p.job_text for p in pairs)), [p.resume_text for p in pairs]


def tiny_models(cfg: Profile | None = None, *, classifier_spec: str = "tiny-modernbert:h64-l1",
                explainer_spec: str = "tiny-qwen2:h64-l1", vocab: int = 512, max_length: int = 256,
                max_new_tokens: int | None = None, seed: int = 0) -> ServingModels:
    """Small random-init torch models behind the real wrappers (see the module docstring)."""
    import torch

    from lantern_nb import model_specs
    from lantern_nb.classify import FitClassifier as TorchClassifier
    from lantern_nb.classify import PairEncoder, ServedClassifier, downscale_structure
    from lantern_nb.explainer import Explainer
    from lantern_nb.summarizer import RuleSummarizer

    jobs, resumes = sample_corpus(seed=seed)
    tok = model_specs.train_tokenizer(jobs + resumes, vocab)
    if not getattr(tok, "chat_template", None):
        tok.chat_template = model_specs.CHAT_TEMPLATE
    cspec = model_specs.parse_spec(classifier_spec)
    backbone, ctok = model_specs.build_encoder(cspec, tok, seed)
    structure = downscale_structure(cspec)
    torch.manual_seed(seed)
    clf = ServedClassifier(TorchClassifier(backbone, structure, 32), PairEncoder(ctok, structure, max_length,
                                                                                 cspec.is_decoder), {},
                           batch_size=cfg.serving.max_batch if cfg else 32)
    lm = model_specs.build_causal_lm(explainer_spec, tok, seed=seed).eval()
    new = max_new_tokens or (cfg.serving.explain_max_new_tokens if cfg else 16)
    return ServingModels(RuleSummarizer(), clf, Explainer(lm, tok, max_new_tokens=new, max_length=max_length + new))


__all__ = ["FakeClassifier", "FakeExplainer", "FakeSummarizer", "fake_models", "sample_corpus", "tiny_models"]
