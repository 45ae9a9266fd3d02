"""Teacher prompts (paper Sec. 3.3.1): our own texts with the paper's five-section structure.

Sections: Task Instruction, Job Information Extraction Guidelines, Evaluation Guidelines,
Reasoning Guidelines, Output Guidelines. Two strategies use the same content:

* `monolithic_messages` - one long prompt asking for the whole output JSON at once;
* the decomposed chain the paper recommends - `extract_messages` (job -> qualifications),
  `evaluate_messages` (résumé + qualifications -> verdicts), `summarize_fit_messages`
  (qualifications + verdicts -> label, score, explanation). Each step sees only the guidelines
  and inputs it needs, so every call is shorter and more focused.

`explanation_messages` is the compact prompt of the explanation model (T2 and the distilled
students), which must fit tiny models with a ~768-token context.
"""
from __future__ import annotations

import json
import re
from typing import Any, Sequence

Messages = list[dict[str, str]]

SECTION_TITLES: tuple[str, ...] = (
    "Task Instruction",
    "Job Information Extraction Guidelines",
    "Evaluation Guidelines",
    "Reasoning Guidelines",
    "Output Guidelines",
)

TASK_INSTRUCTION = """\
You are an experienced recruiter assessing job-person fit. Given a job description and a
candidate profile, decide how well the candidate meets the job's qualifications. Judge only
from the texts provided; never assume skills, degrees or experience that are not written."""

EXTRACTION_GUIDELINES = """\
- Look for sections titled "Qualifications", "Requirements", "What you'll need", "Must have",
  "Nice to have", "Preferred", "Skills" or similar, and treat their items as qualifications.
- When the qualifications are listed (bullets, numbers, one per line), copy each item verbatim.
- When they are written in prose, infer each distinct qualification from the sentences
  (years of experience, skills, tools, degrees, licenses, certifications, languages).
- Rephrase very short or ambiguous fragments (e.g. "SQL") into a full statement
  (e.g. "Experience with SQL"), without adding requirements the job does not state.
- Keep every indicator of importance: mark an item "preferred" when it sits under a preferred /
  nice-to-have / bonus heading or says "preferred", "a plus", "ideally", "nice to have";
  otherwise mark it "required".
- Ignore company description, benefits, salary, perks and legal boilerplate (equal opportunity
  statements); responsibilities are not qualifications unless they state a requirement."""

EVALUATION_GUIDELINES = """\
- Evaluate the candidate against every extracted qualification, one at a time.
- verdict "met": the profile clearly satisfies it (same skill, a synonym such as k8s for
  Kubernetes, an equal or higher degree, enough years of relevant experience).
- verdict "partial": related but weaker evidence (fewer years than asked, a neighbouring tool,
  a degree in a different field, the skill mentioned without practical use).
- verdict "missing": nothing in the profile supports it.
- Count years of experience from the dated roles relevant to the qualification; treat
  "Present" as the current date and do not double-count overlapping roles.
- evidence: copy the exact line or phrase from the profile that supports the verdict,
  character for character; use null when the verdict is "missing"."""

REASONING_GUIDELINES = """\
- Think step by step before deciding: first reason about which qualifications the job asks for,
  then about how the profile meets each one, then decide.
- Weigh required qualifications more than preferred ones; a missing required license, degree
  or certification is a serious gap.
- label "High": meets (nearly) all required qualifications; "Medium": meets a good share but
  has notable gaps; "Low": misses most required qualifications.
- score: a number between 0 and 1 consistent with the label (High >= 0.75, Low < 0.45).
- explanation: short lines (at most 8), one per key qualification ("Meets ...",
  "Partially meets ...", "Missing ..."), then one summary line. Each line must agree with the
  verdicts and the label."""

OUTPUT_GUIDELINES_FULL = """\
Return only one JSON object, no other text, with exactly these keys:
{"qualifications": [{"text": str, "importance": "required" | "preferred"}],
 "evaluation": [{"qualification": str, "verdict": "met" | "partial" | "missing",
                 "evidence": str | null}],
 "label": "Low" | "Medium" | "High",
 "score": float in [0, 1],
 "explanation": [str, ...]}"""

OUTPUT_GUIDELINES_EXTRACT = """\
Return only one JSON object, no other text:
{"qualifications": [{"text": str, "importance": "required" | "preferred"}]}"""

OUTPUT_GUIDELINES_EVALUATE = """\
Return only one JSON object, no other text, with one entry per qualification, in order:
{"evaluation": [{"qualification": str, "verdict": "met" | "partial" | "missing",
                 "evidence": str | null}]}"""

OUTPUT_GUIDELINES_SUMMARIZE = """\
Return only one JSON object, no other text:
{"label": "Low" | "Medium" | "High", "score": float in [0, 1], "explanation": [str, ...]}"""

EXPLANATION_SYSTEM = "Assess job-person fit. Reply 'Fit: Low|Medium|High', then one '- ' line per reason."


def _section(title: str, body: str) -> str:
    return f"## {title}\n{body}"


def _system(*sections: tuple[str, str]) -> str:
    return "\n\n".join(_section(t, b) for t, b in sections)


def monolithic_messages(job_text: str, resume_text: str) -> Messages:
    """One prompt with all five sections asking for the full output JSON in one call."""
    system = _system(
        ("Task Instruction", TASK_INSTRUCTION),
        ("Job Information Extraction Guidelines", EXTRACTION_GUIDELINES),
        ("Evaluation Guidelines", EVALUATION_GUIDELINES),
        ("Reasoning Guidelines", REASONING_GUIDELINES),
        ("Output Guidelines", OUTPUT_GUIDELINES_FULL),
    )
    user = f"Job description:\n{job_text.strip()}\n\nCandidate profile:\n{resume_text.strip()}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def extract_messages(job_text: str) -> Messages:
    """Chain step (a): extract the job's qualifications with their importance."""
    system = _system(
        ("Task Instruction", "Extract the qualifications a candidate needs for this job. "
                             "This is the first step of a job-person fit assessment."),
        ("Job Information Extraction Guidelines", EXTRACTION_GUIDELINES),
        ("Reasoning Guidelines", "- Reason about where the qualifications are stated and which are "
                                 "required or preferred before writing the list."),
        ("Output Guidelines", OUTPUT_GUIDELINES_EXTRACT),
    )
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"Job description:\n{job_text.strip()}"}]


def _as_json(obj: Any) -> str:
    return obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)


def evaluate_messages(resume_text: str, qualifications_json: str | Any) -> Messages:
    """Chain step (b): judge the résumé against each qualification from step (a)."""
    system = _system(
        ("Task Instruction", "Evaluate how a candidate profile meets each job qualification. "
                             "The qualifications were extracted from the job in a previous step."),
        ("Evaluation Guidelines", EVALUATION_GUIDELINES),
        ("Reasoning Guidelines", "- For each qualification, reason about the most relevant lines of "
                                 "the profile before giving the verdict."),
        ("Output Guidelines", OUTPUT_GUIDELINES_EVALUATE),
    )
    user = (f"Qualifications:\n{_as_json(qualifications_json)}\n\n"
            f"Candidate profile:\n{resume_text.strip()}")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def summarize_fit_messages(qualifications_json: str | Any, evaluation_json: str | Any) -> Messages:
    """Chain step (c): the final label, score and explanation, reusing steps (a) and (b)."""
    system = _system(
        ("Task Instruction", "Summarize a job-person fit assessment: give the fit level and a short "
                             "explanation from the extracted qualifications and their evaluation."),
        ("Reasoning Guidelines", REASONING_GUIDELINES),
        ("Output Guidelines", OUTPUT_GUIDELINES_SUMMARIZE),
    )
    user = (f"Qualifications:\n{_as_json(qualifications_json)}\n\n"
            f"Evaluation:\n{_as_json(evaluation_json)}")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def decomposed_chain(job_text: str, resume_text: str, qualifications_json: str | Any = "[]",
                     evaluation_json: str | Any = "[]") -> list[Messages]:
    """The three chain prompts for one pair; pass the real step outputs to size steps (b), (c)."""
    return [extract_messages(job_text),
            evaluate_messages(resume_text, qualifications_json),
            summarize_fit_messages(qualifications_json, evaluation_json)]


def explanation_messages(job_text: str, resume_text: str) -> Messages:
    """The explanation model's compact prompt; `job_text` is normally the compressed job."""
    user = f"Job requirements:\n{job_text.strip()}\n\nCandidate profile:\n{resume_text.strip()}"
    return [{"role": "system", "content": EXPLANATION_SYSTEM}, {"role": "user", "content": user}]


_TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_MESSAGE_OVERHEAD = 4  # role marker and separators per chat message


def count_tokens(messages: Sequence[dict[str, str]], tokenizer: Any = None) -> int:
    """Token count of a chat prompt: the tokenizer's chat template when given, else an
    approximation (words and punctuation marks, plus a few tokens per message)."""
    if tokenizer is not None:
        if getattr(tokenizer, "chat_template", None):
            ids = tokenizer.apply_chat_template(list(messages), tokenize=True, add_generation_prompt=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
            return len(ids)
        return sum(len(tokenizer.encode(m["content"])) + _MESSAGE_OVERHEAD for m in messages)
    return sum(len(_TOKEN_RE.findall(m["content"])) + _MESSAGE_OVERHEAD for m in messages)
