"""On-policy / mixed-policy distillation (GKD, DistiLLM-style; beyond the paper).

With probability `lmbda` per optimisation call (a seeded RNG per step, so CPU runs are
reproducible) the batch's reference answers are replaced for the KD term by the student's own
continuations of the prompt, sampled at `temperature` (Gumbel-max noise from a seeded
`torch.Generator` on top of `generate`'s greedy step, so sampling never touches the global RNG),
stopping at EOS. The teacher scores those sequences and the divergence is taken on the
generated tokens only: the prompt and everything after the first EOS are masked; the EOS itself
is a target (the student must learn where to stop).

Choice: the CE term stays on the reference answers, so an on-policy step's loss is
`lambda_sft * CE(reference) + lambda_kd * KD(student samples)`; the KD term is the mean over the
micro-batch's generated tokens, weighted by the micro-batch's share of the step's reference
tokens (so gradient accumulation weighs micro-batches as the off-policy loss does). With
`lmbda = 0` every step is the paper's off-policy KD, computed by `DistillObjective` itself.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from lantern_nb.kd.divergences import check_kind
from lantern_nb.kd.losses import DistillObjective, KdTerms, kd_loss_chunked, kd_loss_naive
from lantern_nb.train import IGNORE, PadCollator, answer_rows, chunked_cross_entropy, freeze, lm_head_weight


class GumbelSampler(LogitsProcessor):
    """Turns greedy decoding into seeded sampling from softmax(scores / T) (Gumbel-max trick).

    Tokens at or beyond `vocab_limit` (ids the teacher cannot score) are never chosen.
    """

    def __init__(self, generator: torch.Generator, temperature: float, vocab_limit: int | None = None):
        self.generator, self.temperature, self.vocab_limit = generator, temperature, vocab_limit

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.float()
        if self.vocab_limit is not None and self.vocab_limit < scores.shape[-1]:
            scores[:, self.vocab_limit:] = float("-inf")
        if self.temperature <= 0:
            return scores
        u = torch.rand(scores.shape, generator=self.generator, device=self.generator.device)
        gumbel = -torch.log(-torch.log(u.clamp_(1e-20, 1.0 - 1e-7)))
        return scores / self.temperature + gumbel.to(scores.device)


def prompts_of(inputs: dict[str, torch.Tensor]) -> list[list[int]]:
    """The prompt token ids of every row: `input_ids[:prompt_len]`.

    `prompt_len` comes from the rows (encode_chat_example returns it); without it, it is found
    from the pre-shifted labels (the first target sits at position prompt_len - 1).
    """
    ids = inputs["input_ids"]
    if "prompt_len" in inputs:
        lengths = inputs["prompt_len"].reshape(-1).tolist()
    else:
        valid = inputs["labels"].ne(IGNORE)
        if not bool(valid.any(-1).all()):
            raise ValueError("a row without answer tokens has no prompt length; pass `prompt_len` in the rows")
        lengths = (valid.int().argmax(-1) + 1).tolist()
    return [ids[i, :int(n)].tolist() for i, n in enumerate(lengths)]


@torch.no_grad()
def sample_continuations(model: torch.nn.Module, prompts: list[list[int]], max_new_tokens: int,
                         temperature: float, generator: torch.Generator, eos_token_id: int, pad_token_id: int,
                         vocab_limit: int | None = None) -> list[list[int]]:
    """Sampled continuations of `prompts` (left-padded, one batched `generate`), each cut after
    its first EOS (kept); a row without EOS keeps all `max_new_tokens` tokens.

    `GumbelSampler` is the only processor: the rest of the decoding is the explicit greedy config,
    so the checkpoint's generation_config (penalties, top-k/top-p) never alters the samples."""
    from lantern_nb.generation import greedy_generation_config

    device = next(model.parameters()).device
    width = max(len(p) for p in prompts)
    input_ids = torch.tensor([[pad_token_id] * (width - len(p)) + p for p in prompts], device=device)
    attn = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    was_training = model.training
    model.eval()
    try:
        out = model.generate(input_ids=input_ids, attention_mask=attn,
                             generation_config=greedy_generation_config(max_new_tokens, eos_token_id, pad_token_id),
                             logits_processor=LogitsProcessorList([GumbelSampler(generator, temperature,
                                                                                 vocab_limit)]))
    finally:
        model.train(was_training)
    result = []
    for row in out[:, width:].tolist():
        result.append(row[:row.index(eos_token_id) + 1] if eos_token_id in row else row)
    return result


def onpolicy_batch(prompts: list[list[int]], continuations: list[list[int]], pad_token_id: int
                   ) -> dict[str, torch.Tensor]:
    """Right-padded batch of prompt + continuation with pre-shifted labels on the continuation only."""
    rows = []
    for p, c in zip(prompts, continuations):
        ids = p + c
        labels = [IGNORE] * len(ids)
        for t in range(len(p) - 1, len(ids) - 1):
            labels[t] = ids[t + 1]
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return PadCollator(pad_token_id)(rows)


@dataclass
class OnPolicyDistillObjective(KdTerms):
    """Mixed-policy KD: with probability `lmbda` the KD term is taken on student samples.

    `sample_temperature` is the sampling temperature (0 = greedy); `temperature` the divergence's.
    `eos_token_id` / `pad_token_id` default to the student's config. `logs` report `onpolicy`
    (1 on a student-sampled step) and `gen_tokens` (mean sampled length incl. EOS).
    """

    teacher: torch.nn.Module
    lmbda: float = 0.5
    sample_temperature: float = 1.0
    max_new_tokens: int = 64
    seed: int = 0
    impl: str = "chunked"
    eos_token_id: int | None = None
    pad_token_id: int | None = None
    step: int = field(default=0, init=False)
    offpolicy: DistillObjective = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_kind(self.kind, self.beta, self.alpha)
        if not 0.0 <= self.lmbda <= 1.0:
            raise ValueError(f"lmbda must be in [0, 1], got {self.lmbda}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        freeze(self.teacher)
        self.offpolicy = DistillObjective(self.teacher, kind=self.kind, lambda_sft=self.lambda_sft,
                                          lambda_kd=self.lambda_kd, beta=self.beta, alpha=self.alpha,
                                          temperature=self.temperature, impl=self.impl,
                                          chunk_size=self.chunk_size)

    def use_student_samples(self, step: int) -> bool:
        """The seeded coin flip of `step` (independent of every other RNG)."""
        return self.lmbda > 0 and random.Random(self.seed * 1_000_003 + step).random() < self.lmbda

    def generator(self, step: int, device: torch.device) -> torch.Generator:
        return torch.Generator(device=device).manual_seed(self.seed * 1_000_003 + step + 7_919)

    def _ids(self, model: torch.nn.Module) -> tuple[int, int]:
        config = getattr(model, "config", None)
        eos = self.eos_token_id if self.eos_token_id is not None else getattr(config, "eos_token_id", None)
        pad = self.pad_token_id if self.pad_token_id is not None else getattr(config, "pad_token_id", None)
        if isinstance(eos, (list, tuple)):
            eos = eos[0]
        if eos is None:
            raise ValueError("on-policy sampling needs eos_token_id (none given, none in the student's config)")
        return int(eos), int(eos if pad is None else pad)

    def sample_batch(self, model: torch.nn.Module, inputs: dict[str, torch.Tensor], step: int
                     ) -> dict[str, torch.Tensor]:
        """The on-policy batch of `step`: prompts + seeded student samples, labels on the samples."""
        eos, pad = self._ids(model)
        prompts = prompts_of(inputs)
        device = inputs["input_ids"].device
        vocab = min(lm_head_weight(model).shape[0], lm_head_weight(self.teacher).shape[0])
        conts = sample_continuations(model, prompts, self.max_new_tokens, self.sample_temperature,
                                     self.generator(step, device), eos, pad, vocab)
        return {k: v.to(device) for k, v in onpolicy_batch(prompts, conts, pad).items()}

    def __call__(self, model, inputs, num_items):
        step, self.step = self.step, self.step + 1
        if not self.use_student_samples(step):
            loss, logs = self.offpolicy(model, inputs, num_items)
            return loss, {**logs, "onpolicy": 0.0}
        denom = max(float(num_items), 1.0)
        weight = lm_head_weight(model)
        hidden, labels = answer_rows(model, inputs)
        ce = chunked_cross_entropy(hidden, weight, labels, self.chunk_size)
        gen = self.sample_batch(model, inputs, step)
        s_hidden, g_labels = answer_rows(model, gen)
        n_gen = int(g_labels.numel())
        with torch.no_grad():
            self.teacher.eval()
            t_hidden, _ = answer_rows(self.teacher, gen)
        fn = kd_loss_chunked if self.impl == "chunked" else kd_loss_naive
        kd, _ = fn(s_hidden, weight, t_hidden, lm_head_weight(self.teacher).detach(), g_labels,
                   kind=self.kind, lambda_sft=0.0, lambda_kd=1.0, beta=self.beta, alpha=self.alpha,
                   temperature=self.temperature, chunk_size=self.chunk_size, num_items=n_gen)
        share = float(labels.numel()) / denom
        loss = self.lambda_sft * ce / denom + self.lambda_kd * share * kd
        logs: dict[str, Any] = {"ce": float(ce.detach()) / denom, "kd": float(kd.detach()), "onpolicy": 1.0,
                                "gen_tokens": n_gen / max(len(gen["labels"]), 1)}
        return loss, logs
