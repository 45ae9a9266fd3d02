"""Building the configured teacher T1, labelling a corpus with it, and the `teach` command.

`build_teacher` wires a backend (rubric | hf | openai) to the resumable call cache and, for the
offline rubric with `cfg.teacher.failure_rates`, the failure simulator that gives the filter of
notebook 02 something real to catch. `label_corpus` writes the T1 outputs artifact atomically.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
from tqdm.auto import tqdm

from lantern_nb import artifacts
from lantern_nb.profiles import Profile
from lantern_nb.schema import Pair, read_text_file, write_jsonl
from lantern_nb.teachers.base import Teacher, TeacherOutput
from lantern_nb.teachers.cache import CachedTeacher, CallCache

BACKENDS = ("rubric", "hf", "openai")


def default_cache_path(cfg: Profile) -> Path:
    """data/<profile>/t1/cache.jsonl"""
    return artifacts.data_dir(cfg.name) / "t1" / "cache.jsonl"


def build_chat_backend(cfg: Profile, backend: str) -> Any:
    """The chat backend for `hf` (cfg.teacher.model, else SmolLM2 offline) or `openai`."""
    from lantern_nb.teachers.backends import HFChatBackend, OpenAIChatBackend

    t = cfg.teacher
    if backend == "hf":
        # teacher.model names an HF model only when the profile's backend is hf (else it is e.g. gpt-4o)
        model = t.model if t.backend == "hf" else None
        return HFChatBackend(model, device=cfg.device) if model else HFChatBackend.smollm2(device=cfg.device)
    if backend == "openai":
        if not t.model:
            raise ValueError(f"the openai backend needs teacher.model (and teacher.base_url) in profile "
                             f"'{cfg.name}'; the paper profile sets gpt-4o (`--profile paper`)")
        return OpenAIChatBackend(t.base_url or "https://api.openai.com/v1", t.model, api_key_env=t.api_key_env,
                                 concurrency=t.concurrency, timeout_s=t.timeout_s, max_retries=t.max_retries)
    raise ValueError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")


def build_teacher(cfg: Profile, backend: str | None = None, cache_path: str | Path | None = None, *,
                  cache: CallCache | None = None, simulate: bool | None = None,
                  chat_backend: Any = None, progress: bool = True) -> Teacher:
    """The configured T1 behind the call cache.

    `backend` overrides `cfg.teacher.backend`; `cache_path` overrides data/<profile>/t1/cache.jsonl
    (`cache` passes an open one, e.g. `CallCache(None)` for no file). The failure simulator wraps
    the rubric when `cfg.teacher.failure_rates` is non-empty (`simulate` forces it on or off).
    `chat_backend` injects a ready backend (tests, or a model already loaded in a notebook).
    """
    name = backend or cfg.teacher.backend
    if name not in BACKENDS:
        raise ValueError(f"backend {name!r} is not one of {', '.join(BACKENDS)}")
    if cache is None:
        cache = CallCache(cache_path if cache_path is not None else default_cache_path(cfg))
    teacher: Teacher
    if name == "rubric":
        from lantern_nb.teachers.rubric import RubricTeacher

        teacher = CachedTeacher(RubricTeacher(cfg), cache, backend="rubric")
    else:
        from lantern_nb.teachers.llm import LLMTeacher

        chat = chat_backend if chat_backend is not None else build_chat_backend(cfg, name)
        teacher = LLMTeacher(chat, strategy=cfg.teacher.prompt_strategy, cache=cache,
                             max_new_tokens=cfg.teacher.max_new_tokens, progress=progress)
    if simulate is None:
        simulate = name == "rubric" and bool(cfg.teacher.failure_rates)
    if simulate:
        from lantern_nb.teachers.simulate import FailureSimulator

        teacher = FailureSimulator(teacher, cfg.teacher.failure_rates, seed=cfg.seed)
    return teacher


def label_corpus(cfg: Profile, pairs: Sequence[Pair], teacher: Teacher | None = None, batch_size: int = 32,
                 path: str | Path | None = None) -> list[TeacherOutput]:
    """Label `pairs` in batches (progress bar) and write data/<profile>/t1/outputs.jsonl atomically.
    Reruns are cheap: every call is in the cache."""
    teacher = teacher if teacher is not None else build_teacher(cfg)
    outs: list[TeacherOutput] = []
    with tqdm(total=len(pairs), desc=f"T1 {getattr(teacher, 'name', '')}", unit="pair") as bar:
        for s in range(0, len(pairs), batch_size):
            batch = list(pairs[s:s + batch_size])
            outs.extend(teacher.label(batch))
            bar.update(len(batch))
    write_jsonl(path or artifacts.artifact_path(cfg.name, "t1_outputs"), [o.to_dict() for o in outs])
    return outs


def load_outputs(cfg: Profile) -> list[TeacherOutput]:
    """The T1 outputs artifact (MissingArtifactError naming notebook 01 when absent)."""
    from lantern_nb.schema import read_jsonl

    return [TeacherOutput.from_dict(d) for d in read_jsonl(artifacts.require(cfg.name, "t1_outputs"))]


def summary_text(out: TeacherOutput) -> str:
    """A readable summary of one output for the terminal."""
    if out.result is None:
        return f"teacher output rejected: {out.error}\nraw output:\n{out.raw}"
    r = out.result
    lines = [f"Fit: {r.label} (score {r.score:.2f})", "", "Qualifications:"]
    verdicts = {e.qualification: e for e in r.evaluation}
    for q in r.qualifications:
        e = verdicts.get(q.text)
        mark = {"met": "[x]", "partial": "[~]", "missing": "[ ]"}.get(e.verdict if e else "", "[?]")
        ev = f'  <- "{e.evidence}"' if e and e.evidence else ""
        lines.append(f"  {mark} ({q.importance}) {q.text}{ev}")
    lines += ["", "Explanation:"] + [f"  - {x}" for x in r.explanation]
    return "\n".join(lines)


def compare_prompt_strategies(cfg: Profile, pairs: Sequence[Pair], backend: str = "hf", max_new_tokens: int = 256,
                              chat_backend: Any = None) -> pd.DataFrame:
    """Label `pairs` with a live LLM `backend` under the monolithic and the decomposed prompt (paper
    Sec. 3.3.1), `cfg` otherwise unchanged: per strategy the outputs that parse and pass the schema,
    and those whose label and explanation are also consistent (`filtering.check_label` / `check_explanation`).
    The model is loaded once for both (`chat_backend` passes a ready one)."""
    from lantern_nb.filtering import check_explanation, check_label

    chat = chat_backend if chat_backend is not None else build_chat_backend(cfg, backend)
    rows = []
    for strategy in ("monolithic", "decomposed"):
        teacher_cfg = dataclasses.replace(cfg.teacher, prompt_strategy=strategy, max_new_tokens=max_new_tokens)
        outs = build_teacher(dataclasses.replace(cfg, teacher=teacher_cfg), backend=backend,
                             chat_backend=chat).label(list(pairs))
        ok = [o for o in outs if o.result is not None]
        consistent = [o for o in ok if not check_label(o.result) and not check_explanation(o.result)]
        rows.append({"strategy": strategy, "pairs": len(outs), "valid JSON + schema": len(ok),
                     "label/explanation consistent": len(consistent)})
    return pd.DataFrame(rows)


def cli_teach(args: argparse.Namespace) -> int:
    """`python -m lantern_nb teach`: label one pair; `--json` prints only the output-schema JSON."""
    from lantern_nb.profiles import load_profile

    cfg = load_profile(args.profile)
    job = read_text_file(args.job_file, "job", cfg.serving.max_text_chars)
    resume = read_text_file(args.resume_file, "resume", cfg.serving.max_text_chars)
    pair = Pair(pair_id="cli", job_id="cli", job_text=job, resume_text=resume)
    # Anything a library prints while loading goes to stderr: stdout carries only the result.
    with contextlib.redirect_stdout(sys.stderr):
        teacher = build_teacher(cfg, backend=args.backend, cache=CallCache(None), simulate=False, progress=False)
        (out,) = teacher.label([pair])
    if getattr(args, "json", False):
        if out.result is None:
            print(f"error: teacher output rejected: {out.error}", file=sys.stderr)
            return 1
        print(out.result.to_json())
        return 0
    print(summary_text(out))
    return 0 if out.result is not None else 1
