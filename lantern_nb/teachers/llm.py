"""`LLMTeacher`: teacher T1 as a chat model running the paper's prompts (Sec. 3.3.1).

* `monolithic` -- one call per pair asking for the whole output JSON.
* `decomposed` -- the chain the paper recommends: (a) extract the job's qualifications, (b)
  evaluate the résumé against them, (c) summarise into label, score and explanation. Each step
  is batched across pairs; pairs sharing a job share step (a). The final JSON is assembled from
  the steps: qualifications from (a), evaluation from (b), label/score/explanation from (c).

Every call goes through the `CallCache` (key = backend, model, messages, decoding params), so a
rerun or a resumed run repeats no completed call. A step that fails to parse yields
`TeacherOutput(result=None, error="<step>: <reason>")` with the raw text kept.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from tqdm.auto import tqdm

from lantern_nb import prompts
from lantern_nb.schema import Pair
from lantern_nb.teachers.backends import BackendError, ChatBackend, Messages
from lantern_nb.teachers.base import TeacherOutput
from lantern_nb.teachers.cache import CallCache
from lantern_nb.teachers.parse import (ParseError, assemble_fit_result, parse_evaluation, parse_fit_result,
                                       parse_qualifications, parse_summary)

STRATEGIES = ("decomposed", "monolithic")


def _dicts(items: Sequence[Any]) -> list[dict[str, Any]]:
    return [dict(vars(x)) if not isinstance(x, dict) else dict(x) for x in items]


class LLMTeacher:
    """A Teacher over a chat backend; see the module docstring for the two strategies."""

    def __init__(self, backend: ChatBackend, strategy: str = "decomposed", cache: CallCache | None = None,
                 max_new_tokens: int = 1024, name: str | None = None, chunk_size: int = 16,
                 progress: bool = False) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
        self.backend = backend
        self.strategy = strategy
        self.cache = cache if cache is not None else CallCache(None)
        self.max_new_tokens = max_new_tokens
        self.name = name or f"{backend.name}:{backend.model}:{strategy}"
        self.chunk_size = max(1, chunk_size)
        self.progress = progress
        self.calls = 0  # completions received from the backend (cache misses)
        self.failures: dict[str, str] = {}  # cache key -> per-request backend error

    def _key(self, messages: Messages) -> str:
        params = {"max_new_tokens": self.max_new_tokens, **self.backend.decoding_params()}
        return self.cache.key(self.backend.name, self.backend.model, messages, params)

    def complete(self, batch: list[Messages], step: str = "call") -> tuple[list[str | None], list[bool]]:
        """Completions for `batch` through the cache: duplicates are sent once, misses go to the
        backend in chunks of `chunk_size` (the progress bar's unit), and each result is stored the
        moment its request completes, so a kill repeats no finished call. Returns (texts,
        cache_hit flags); a text is None where the backend rejected that one request
        (`BackendError.per_request`), the reason in `failures`."""
        keys = [self._key(m) for m in batch]
        results: dict[str, str] = {}
        hit = {}
        for k in keys:
            if k not in hit:
                v = self.cache.get(k)
                hit[k] = v is not None
                if v is not None:
                    results[k] = v
        todo: dict[str, Messages] = {}
        for k, m in zip(keys, batch):
            if k not in results and k not in todo:
                todo[k] = m
        items = list(todo.items())
        meta = {"backend": self.backend.name, "model": self.backend.model, "step": step}

        def store(key: str, text: str) -> None:
            self.calls += 1
            self.cache.put(key, text, meta)
            results[key] = text

        chunks = range(0, len(items), self.chunk_size)
        for s in tqdm(chunks, desc=f"{self.backend.name} {step}", disable=not self.progress or len(chunks) < 2):
            part = items[s:s + self.chunk_size]
            try:
                texts = self.backend.complete([m for _, m in part], self.max_new_tokens,
                                              on_result=lambda i, text, part=part: store(part[i][0], text))
                for (k, _), text in zip(part, texts):
                    if k not in results:  # a backend that returns results without reporting them
                        store(k, text)
            except BackendError as e:
                if not e.per_request:
                    raise
                for k, m in part:
                    if k not in results:
                        text = self._one_by_one(k, m)
                        if text is not None:  # a per-request failure is not cached: a rerun tries again
                            store(k, text)
        return [results.get(k) for k in keys], [hit[k] for k in keys]

    def _one_by_one(self, key: str, messages: Messages) -> str | None:
        """One request alone; a per-request backend error is remembered for the output."""
        try:
            return self.backend.complete([messages], self.max_new_tokens)[0]
        except BackendError as e:
            if not e.per_request:
                raise
            self.failures[key] = str(e)
            return None

    def _failed(self, messages: Messages) -> str:
        return f"backend error: {self.failures.get(self._key(messages), 'no completion')}"

    def label(self, pairs: Sequence[Pair]) -> list[TeacherOutput]:
        if self.strategy == "monolithic":
            return self._monolithic(pairs)
        return self._decomposed(pairs)

    def _monolithic(self, pairs: Sequence[Pair]) -> list[TeacherOutput]:
        batch = [prompts.monolithic_messages(p.job_text, p.resume_text) for p in pairs]
        texts, hits = self.complete(batch, "monolithic")
        outs = []
        for p, m, raw, h in zip(pairs, batch, texts, hits):
            meta = {"strategy": "monolithic", "teacher": self.name, "cache_hits": int(h)}
            if raw is None:
                outs.append(TeacherOutput(p.pair_id, "", None, f"monolithic: {self._failed(m)}", meta))
                continue
            try:
                outs.append(TeacherOutput(p.pair_id, raw, parse_fit_result(raw), None, meta))
            except ParseError as e:
                outs.append(TeacherOutput(p.pair_id, raw, None, f"monolithic: {e.reason}", meta))
        return outs

    def _decomposed(self, pairs: Sequence[Pair]) -> list[TeacherOutput]:
        n = len(pairs)
        steps: list[dict[str, str]] = [{} for _ in range(n)]
        hits = [0] * n
        errors: list[str | None] = [None] * n

        def step(name: str, live: list[int], batch: list[Messages], parse: Any) -> dict[int, Any]:
            """Run one chain step for the pairs in `live`; a failure marks its pair with the reason."""
            parsed: dict[int, Any] = {}
            texts, h = self.complete(batch, name)
            for i, m, raw, hh in zip(live, batch, texts, h):
                if raw is None:
                    errors[i] = f"{name}: {self._failed(m)}"
                    continue
                steps[i][name], hits[i] = raw, hits[i] + hh
                try:
                    parsed[i] = parse(raw)
                except ParseError as e:
                    errors[i] = f"{name}: {e.reason}"
            return parsed

        live = list(range(n))
        quals = step("extract", live, [prompts.extract_messages(p.job_text) for p in pairs], parse_qualifications)
        live = [i for i in live if errors[i] is None]
        q_json = {i: json.dumps({"qualifications": _dicts(quals[i])}, ensure_ascii=False) for i in live}
        evals = step("evaluate", live, [prompts.evaluate_messages(pairs[i].resume_text, q_json[i]) for i in live],
                     parse_evaluation)
        live = [i for i in live if errors[i] is None]
        e_json = {i: json.dumps({"evaluation": _dicts(evals[i])}, ensure_ascii=False) for i in live}
        summaries = step("summarize", live, [prompts.summarize_fit_messages(q_json[i], e_json[i]) for i in live],
                         parse_summary)

        outs = []
        for i, p in enumerate(pairs):
            meta = {"strategy": "decomposed", "teacher": self.name, "steps": steps[i], "cache_hits": hits[i]}
            if errors[i] is not None:
                failed = errors[i].split(":", 1)[0]
                outs.append(TeacherOutput(p.pair_id, steps[i].get(failed, ""), None, errors[i], meta))
                continue
            result = assemble_fit_result(quals[i], evals[i], summaries[i])
            outs.append(TeacherOutput(p.pair_id, result.to_json(), result, None, meta))
        return outs
