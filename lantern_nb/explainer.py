"""The explanation module as served (paper Sec. 3.5.3): reasons for a given fit label."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from lantern_nb.checkpoints import META_FILE, load_model
from lantern_nb.generation import generate
from lantern_nb.schema import parse_explanation


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

    def explain(self, jobs: Sequence[str], resumes: Sequence[str], labels: Sequence[str]) -> list[list[str]]:
        """One list of explanation lines per (job, résumé, label)."""
        if not len(jobs) == len(resumes) == len(labels):
            raise ValueError(f"explain: {len(jobs)} jobs, {len(resumes)} résumés, {len(labels)} labels")
        rows = [{"job_text": j, "resume_text": r} for j, r in zip(jobs, resumes)]
        texts = generate(self.model, self.tokenizer, rows, self.max_new_tokens, self.batch_size,
                         prefixes=[f"Fit: {lab}\n" for lab in labels], max_length=self.max_length,
                         compress=self.compress, desc="explain")
        return [parse_explanation(t)[1] for t in texts]


def load_explainer(path: str | Path, max_new_tokens: int = 128, device: str | torch.device | None = None) -> Explainer:
    """An `Explainer` over the model directory `path` (max_length from its meta when saved)."""
    model, tokenizer = load_model(path, device)
    meta_path = Path(path) / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return Explainer(model, tokenizer, max_new_tokens=max_new_tokens, max_length=int(meta.get("max_length", 768)))
