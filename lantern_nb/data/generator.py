"""Seeded synthetic job postings and candidate résumés with a latent ground-truth fit.

The label of each pair is decided first (stratified: Low / Medium / High in equal shares, paper
Sec. 4.1.1), then the résumé is built to meet the posting's requirements accordingly:

* High   - every required item met (enough years), most preferred items met;
* Medium - one or two required items missing or only partly met (fewer years, a license pending);
* Low    - a résumé from another occupation family, or one missing most required items.

The label is then *recomputed* from what the résumé actually shows (`fit_label`), so the
bookkeeping in `Pair.meta` (requirements, verdicts, evidence) is the single source of truth.
Rule: another family -> Low; a required license missing -> Low (knockout); otherwise count
the required items not fully met: 0 -> High, 1-2 -> Medium, 3+ -> Low.

Every random choice comes from `random.Random` seeded with a string derived from the run
profile's seed, so the same seed gives byte-identical text on any machine. "Present" in a
résumé means `REFERENCE_DATE`, never today.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from tqdm.auto import tqdm

from lantern_nb.data import content as C
from lantern_nb.schema import LABELS, Pair

REFERENCE_DATE: tuple[int, int] = (2025, 6)  # "Present" = June 2025, so output never depends on today
SENIORITY_YEARS: dict[str, tuple[int, int]] = {"junior": (1, 2), "mid": (3, 5), "senior": (6, 10)}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS_LONG = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")
REQ_SKILL_TEMPLATES = ("Proficiency in {x}", "Hands-on experience with {x}", "Solid working knowledge of {x}",
                       "Experience using {x}", "Demonstrated skill with {x}", "Practical experience with {x}")
PREF_SKILL_TEMPLATES = ("Experience with {x}", "Exposure to {x}", "Familiarity with {x}", "Knowledge of {x}",
                        "Prior work with {x}")
YEARS_TEMPLATES = ("{n}+ {years} of {d} experience", "At least {n} {years} of {d} experience",
                   "A minimum of {n} {years} in {d}", "{n}+ {years}' experience in {d}")
GENERATOR_VERSION = 2


@dataclass
class Req:
    """One requirement as posted in an ad."""

    key: str  # item key, or "years:<family>"
    kind: str  # years | degree | license | cert | skill | language
    importance: str  # required | preferred
    canonical: str
    ad_text: str
    years: int | None = None


@dataclass
class Job:
    job_id: str
    family: str
    title: str
    seniority: str
    company: str
    city: str
    text: str
    reqs: list[Req]
    req_chars: int
    sections: list[str]

    @property
    def required(self) -> list[Req]:
        return [r for r in self.reqs if r.importance == "required"]

    @property
    def preferred(self) -> list[Req]:
        return [r for r in self.reqs if r.importance == "preferred"]

    @property
    def required_years(self) -> int:
        return next(r.years for r in self.reqs if r.kind == "years")


@dataclass
class Resume:
    family: str
    text: str
    relevant_months: int  # months of experience in `family`
    shown: dict[str, tuple[str, str]] = field(default_factory=dict)  # item key -> (verdict, evidence)
    years_evidence: str = ""
    any_degree: str = ""  # evidence of any degree / diploma


def _fill(template: str, rng: random.Random, tool: str = "") -> str:
    """Fill achievement placeholders, each occurrence drawn independently."""
    ranges = {"n": (2, 9), "pct": (12, 45), "k": (40, 400), "quota": (104, 148), "picks": (150, 420),
              "rank": (1, 3), "ratio": (4, 6)}

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name == "tool":
            return tool
        lo, hi = ranges[name]
        return str(rng.randint(lo, hi))

    return re.sub(r"\{(\w+)\}", sub, template)


def _lower_first(phrase: str) -> str:
    word = phrase.split(" ", 1)[0]
    if len(word) > 1 and word[0].isupper() and word[1:].replace("'", "").replace("-", "").isalpha() and word[1:].islower():
        return phrase[0].lower() + phrase[1:]
    return phrase


def _join(phrases: list[str], conj: str = "and") -> str:
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + f", {conj} " + phrases[-1]


def _add_months(ym: tuple[int, int], months: int) -> tuple[int, int]:
    total = ym[0] * 12 + ym[1] - 1 + months
    return total // 12, total % 12 + 1


def _company(rng: random.Random, fam: C.Family) -> str:
    return f"{rng.choice(C.COMPANY_PREFIXES)} {rng.choice(fam.company_suffixes)}"


def _years_phrase(months: int) -> str:
    y, r = divmod(months, 12)
    if y == 0:
        return f"{months} months"
    if r >= 9:
        return f"nearly {y + 1} years"
    if r >= 3:
        return f"over {y} year{'s' if y > 1 else ''}"
    return f"{y} year{'s' if y > 1 else ''}"


# ---------------------------------------------------------------------------------------------
# Job postings
# ---------------------------------------------------------------------------------------------
def _requirements(rng: random.Random, fam: C.Family, seniority: str) -> list[Req]:
    n = rng.randint(*SENIORITY_YEARS[seniority])
    domain = rng.choice(fam.years_domain)
    years_word = "year" if n == 1 else "years"
    ad = rng.choice(YEARS_TEMPLATES).format(n=n, years=years_word, d=domain)
    if n == 1:
        ad = ad.replace("1+ year'", "1+ year's")
    reqs = [Req(f"years:{fam.key}", "years", "required", f"{n}+ {years_word} of {domain} experience", ad, years=n)]
    used = set()

    def add(key: str, importance: str) -> None:
        if key in used:
            return
        used.add(key)
        item = C.ITEMS[key]
        if item.kind == "skill" and not item.full:
            tpl = REQ_SKILL_TEMPLATES if importance == "required" else PREF_SKILL_TEMPLATES
            ad_text = rng.choice(tpl).format(x=rng.choice(item.job))
        else:
            ad_text = rng.choice(item.job)
        reqs.append(Req(key, item.kind, importance, item.canonical, ad_text))

    if rng.random() < fam.degree_required_p:
        add(fam.degree, "required")
    elif rng.random() < 0.6:
        add(fam.degree, "preferred")
    for key, importance, p in fam.extra_degrees + fam.credentials:
        if rng.random() < p:
            add(key, importance)
    skills = rng.sample(fam.skills, len(fam.skills))
    n_req, n_pref = rng.randint(3, 5), rng.randint(1, 3)
    for key in skills[:n_req]:
        add(key, "required")
    for key in skills[n_req:n_req + n_pref]:
        add(key, "preferred")
    if rng.random() < fam.languages_p:
        add(rng.choice(C.LANGUAGE_KEYS), "required" if rng.random() < 0.5 else "preferred")
    rest = [k for k in skills if k not in used]
    while sum(r.importance == "required" for r in reqs) < 5 and rest:
        add(rest.pop(0), "required")
    while sum(r.importance == "preferred" for r in reqs) < 2 and rest:
        add(rest.pop(0), "preferred")
    head, tail = reqs[:1], reqs[1:]
    rng.shuffle(tail)
    tail.sort(key=lambda r: {"degree": 0, "license": 1, "cert": 2, "skill": 3, "language": 4}[r.kind] + rng.random() * 3)
    return head + tail if rng.random() < 0.75 else tail[:1] + head + tail[1:]


def _pay_line(rng: random.Random, fam: C.Family, seniority: str) -> str:
    lo, hi = fam.pay[seniority]
    a = rng.randint(lo, (lo + hi) // 2)
    b = rng.randint(max(a + 1, (lo + hi) // 2), hi)
    if hi < 1000:
        rng_text = f"${a}.{rng.choice(['00', '50'])} - ${b}.{rng.choice(['00', '50'])} per hour"
    else:
        a, b = round(a, -3), round(b, -3)
        rng_text = rng.choice([f"${a:,} - ${b:,} per year", f"${a // 1000}K-${b // 1000}K annually",
                               f"${a:,}–${b:,} base salary"])
    return rng.choice([f"Pay range: {rng_text}", f"Compensation: {rng_text}",
                       f"The expected range for this position is {rng_text}; final offers depend on experience and location.",
                       f"Salary: {rng_text}"])


def make_job(rng: random.Random, fam: C.Family, job_id: str) -> Job:
    """Render one job ad with all the sections a real posting has."""
    seniority = rng.choices(("junior", "mid", "senior"), weights=(3, 4, 3))[0]
    title = rng.choice(fam.titles[seniority])
    company = _company(rng, fam)
    city, state = rng.choice(C.CITIES)
    reqs = _requirements(rng, fam, seniority)
    bullet = rng.choice(("- ", "• ", "* "))
    style = rng.choice(("{h}", "{h}:", "## {h}", "{H}"))

    def header(h: str) -> str:
        h = h.format(company=company)
        return style.format(h=h, H=h.upper())

    def bullets(lines: Iterable[str]) -> str:
        return "\n".join(bullet + line for line in lines)

    sections: list[tuple[str, str]] = []
    title_line = rng.choice((title, f"{title} — {city}, {state}", f"Job title: {title}", f"{company} is hiring: {title}"))
    sections.append(("title", title_line))
    mode = rng.choice(("On-site", "Hybrid", "Hybrid (3 days in office)", "On-site", "Remote (US)"))
    if fam.shift_work or fam.key == "teaching":
        mode = "On-site"
    pay_in_meta = rng.random() < 0.35
    if rng.random() < 0.6:
        parts = [f"Location: {city}, {state} ({mode})", rng.choice(("Full-time", "Full-time, permanent", "Employment type: Full-time"))]
        if pay_in_meta:
            parts.append(_pay_line(rng, fam, seniority).split(": ", 1)[-1].split(";")[0])
        sections.append(("meta", " | ".join(parts)))
    about = rng.choice(C.ABOUT_TEMPLATES).format(
        company=company, industry=rng.choice(fam.industries), city=city, founded=rng.randint(1952, 2016),
        size=rng.choice(("120", "300", "850", "1,500", "4,000", "60", "2,200")), region=rng.choice(("the Midwest", "the Southwest", "North America", "the Mountain West", "the Southeast", "the country")),
        age=rng.choice((10, 15, 20, 25, 40)))
    extras = rng.sample(C.ABOUT_EXTRA, rng.randint(1, 3))
    about_sec = ("about", header(rng.choice(C.ABOUT_HEADERS)) + "\n" + " ".join([about, *extras]))
    about_last = rng.random() < 0.2
    if not about_last:
        sections.append(about_sec)
    if rng.random() < 0.75:
        role = rng.choice(C.ROLE_TEMPLATES).format(title=title, team=rng.choice(C.TEAMS[fam.key]), city=city,
                                                   manager=rng.choice(C.MANAGERS), schedule=rng.choice(("full-time", "permanent, full-time")))
        sections.append(("role", header(rng.choice(C.ROLE_HEADERS)) + "\n" + role))
    resp = rng.sample(fam.responsibilities, rng.randint(5, min(7, len(fam.responsibilities))))
    sections.append(("responsibilities", header(rng.choice(C.RESP_HEADERS)) + "\n" + bullets(resp)))

    required = [r for r in reqs if r.importance == "required"]
    preferred = [r for r in reqs if r.importance == "preferred"]
    if rng.random() < 0.7:
        req_body = bullets(r.ad_text for r in required)
    else:
        phrases = [_lower_first(re.sub(r" required$", "", r.ad_text)) for r in required]
        intro = rng.choice(("To be successful in this role you will need ", "We're looking for someone with ",
                            "The ideal candidate brings ", "You should have "))
        req_body = intro + _join(phrases) + "."
    sections.append(("requirements", header(rng.choice(C.REQ_HEADERS)) + "\n" + req_body))
    pref_header = rng.choice(C.PREF_HEADERS)
    if rng.random() < 0.7:
        pref_body = bullets(r.ad_text for r in preferred)
    else:
        x = _join([_lower_first(r.ad_text) for r in preferred], "or")
        options = [f"Bonus points if you have {x}.", f"It's a plus if you also bring {x}.", f"{x[0].upper() + x[1:]} would be a plus."]
        pref_body = rng.choice([o for o in options if not o.lower().startswith(pref_header.lower())])
    sections.append(("preferred", header(pref_header) + "\n" + pref_body))

    perks = [b.format(match=rng.choice((3, 4, 5, 6)), pto=rng.choice((15, 18, 20, 25)), tuition=rng.choice(("2,500", "5,250", "4,000")))
             for b in rng.sample(C.BENEFITS, rng.randint(5, 8))]
    sections.append(("benefits", header(rng.choice(C.BENEFIT_HEADERS)) + "\n" + bullets(perks)))
    tail_lines = []
    if fam.shift_work and rng.random() < 0.8:
        tail_lines.append(rng.choice(C.SHIFT_LINES))
    if not pay_in_meta and rng.random() < 0.6:
        tail_lines.append(_pay_line(rng, fam, seniority))
    if tail_lines:
        sections.append(("pay", "\n".join(tail_lines)))
    if about_last:
        sections.append(about_sec)
    sections.append(("eeo", rng.choice(C.EEO_TEXTS).format(company=company)))
    apply = rng.choice(C.APPLY_LINES)
    if apply:
        sections.append(("apply", apply))
    req_chars = sum(len(s) for k, s in sections if k in ("requirements", "preferred"))
    if rng.random() < 0.3 or req_chars > 0.28 * len("\n\n".join(s for _, s in sections)):
        why = header(rng.choice(C.WHY_HEADERS)) + "\n" + " ".join(rng.sample(C.WHY_SENTENCES, rng.randint(2, 4)))
        sections.insert(next(i for i, (k, _) in enumerate(sections) if k == "benefits"), ("why", why))
    text = "\n\n".join(s for _, s in sections)
    return Job(job_id, fam.key, title, seniority, company, f"{city}, {state}", text, reqs, req_chars, [k for k, _ in sections])


# ---------------------------------------------------------------------------------------------
# Résumés
# ---------------------------------------------------------------------------------------------
def _level_for(months: int) -> str:
    return "junior" if months < 36 else "mid" if months < 84 else "senior"


def _split_months(rng: random.Random, total: int) -> list[int]:
    """Split `total` relevant months into 1-3 roles, oldest first."""
    k = 1 if total < 30 else rng.choice((2, 2, 3)) if total < 96 else rng.choice((2, 3, 3))
    if k == 1:
        return [total]
    cuts = sorted(rng.sample(range(6, total - 5), k - 1)) if total > 12 * k else [total // k * (i + 1) for i in range(k - 1)]
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, total])]
    return [p for p in parts if p > 0]


def make_resume(rng: random.Random, fam: C.Family, relevant_months: int, show: dict[str, str],
                avoid: set[str], current_title: str | None = None) -> Resume:
    """Render a resume for `fam` showing exactly the items in `show` (key -> met|partial).

    Items in `avoid` never appear (not even as filler skills); years come from dated roles
    that add up to `relevant_months`.
    """
    resume = Resume(fam.key, "", relevant_months)
    bullet = rng.choice(("- ", "• ", "* "))
    style = rng.choice(("{h}", "{H}", "{h}:", "## {h}"))

    def header(h: str) -> str:
        return style.format(h=h, H=h.upper())

    def phrase(key: str, verdict: str) -> str:
        item = C.ITEMS[key]
        options = item.resume if verdict == "met" else item.partial
        text = rng.choice(options)
        resume.shown[key] = (verdict, text)
        return text

    met_skills = [k for k, v in show.items() if C.ITEMS[k].kind == "skill" and v == "met"]
    fillers = [k for k in fam.skills if k not in show and k not in avoid]
    fillers = rng.sample(fillers, min(len(fillers), rng.randint(4, 6) if relevant_months >= 12 else rng.randint(0, 2)))
    skill_aliases = {k: phrase(k, "met") for k in met_skills + fillers}

    # ---- career: dated roles, newest first ---------------------------------------------------
    fmt = rng.choice(("a", "b", "c", "d"))
    date_fmt = rng.choice(("mon", "num", "year", "long"))

    def fmt_date(ym: tuple[int, int] | None) -> str:
        if ym is None:
            return "Present"
        y, m = ym
        return {"mon": f"{MONTHS[m - 1]} {y}", "num": f"{m:02d}/{y}", "year": f"{y}", "long": f"{MONTHS_LONG[m - 1]} {y}"}[date_fmt]

    end: tuple[int, int] = REFERENCE_DATE
    current = rng.random() < 0.85
    if not current:
        end = _add_months(end, -rng.randint(1, 5))
    parts = _split_months(rng, relevant_months) if relevant_months > 0 else []
    roles: list[dict[str, Any]] = []
    acc = 0
    for i, months in enumerate(parts):
        level = _level_for(acc + months // 2)
        title = rng.choice(fam.titles[level])
        roles.append({"title": title, "months": months, "relevant": True})
        acc += months
    if roles and current_title:
        roles[-1]["title"] = current_title
    n_other = 2 if relevant_months < 12 else 1 if relevant_months < 48 or rng.random() < 0.25 else 0
    for other_title, other_emp in rng.sample(C.OTHER_JOBS, n_other):
        roles.insert(0, {"title": other_title, "employer": other_emp, "months": rng.randint(10, 30), "relevant": False})
    roles.reverse()  # newest first
    tool_keys = rng.sample(list(skill_aliases), min(2, len(skill_aliases)))
    lines: list[str] = []
    for i, role in enumerate(roles):
        start = _add_months(end, -role["months"])
        employer = role.get("employer") or _company(rng, fam)
        city, state = rng.choice(C.CITIES)
        end_txt = "Present" if (i == 0 and current) else fmt_date(end)
        span = f"{fmt_date(start)} – {end_txt}" if date_fmt != "year" else f"{start[0]}-{end_txt}"
        head = {"a": f"{role['title']}, {employer} — {span}", "b": f"{role['title']} | {employer} | {span}",
                "c": f"{employer} — {role['title']} ({span})", "d": f"{role['title']}\n{employer}, {city}, {state} · {span}"}[fmt]
        if role["relevant"] and not resume.years_evidence:
            resume.years_evidence = head.replace("\n", ", ")
        body = []
        if role["relevant"]:
            pool = [_fill(b, rng) for b in rng.sample(fam.bullets, min(len(fam.bullets), rng.randint(2, 4) if i else rng.randint(3, 5)))]
            if tool_keys:
                key = tool_keys.pop(0)
                alias = rng.choice(C.ITEMS[key].resume)
                templates = fam.tool_bullets if key in C.TOOL_SKILLS else C.PRACTICE_BULLETS
                pool.insert(rng.randint(0, len(pool)), _fill(rng.choice(templates), rng, tool=alias))
            body = pool
        else:
            body = rng.sample(C.OTHER_JOB_BULLETS, 3)
        lines.append(head + "\n" + "\n".join(bullet + b for b in body))
        end = _add_months(start, -rng.randint(0, 4))
    career_start_year = _add_months(end, 0)[0]

    # ---- header and summary -------------------------------------------------------------------
    cur_title = roles[0]["title"] if roles[0]["relevant"] else (rng.choice(fam.titles["junior"]) + " candidate")
    focus = rng.choice(fam.focus)
    tags = [skill_aliases[k] for k in list(skill_aliases)[:3]]
    headline = rng.choice((
        f"{cur_title} | " + " · ".join(tags) if tags else f"{cur_title} | {focus}",
        f"{cur_title} — {focus}",
        f"{cur_title} focused on {focus}",
        f"{rng.choice(('Experienced', 'Dependable', 'Results-driven', 'Versatile')) if relevant_months >= 24 else 'Aspiring'} {cur_title}",
    ))
    where = rng.choice(C.CITIES)
    loc_line = rng.choice((f"{where[0]}, {where[1]}", f"Based in {where[0]}, {where[1]} · open to relocation",
                           f"{where[0]}, {where[1]} (open to hybrid)", ""))
    if relevant_months >= 6:
        lead = rng.choice((f"{rng.choice(('Dedicated', 'Hands-on', 'Detail-oriented', 'Motivated'))} professional with {_years_phrase(relevant_months)} of experience in {focus}.",
                           f"{_years_phrase(relevant_months)[0].upper() + _years_phrase(relevant_months)[1:]} in {rng.choice(fam.years_domain)}, most recently as {cur_title}.",
                           f"{cur_title} bringing {_years_phrase(relevant_months)} of {rng.choice(fam.years_domain)} experience."))
    else:
        lead = rng.choice((f"Early-career candidate eager to grow in {focus}.",
                           f"Career changer moving into {focus}, with strong work habits from previous roles.",
                           f"Motivated newcomer to {rng.choice(fam.years_domain)}, ready to learn quickly."))
    summary = " ".join([lead, rng.choice(fam.strengths) + ".", rng.choice(C.SUMMARY_EXTRA),
                        rng.choice(("Looking for a team where I can keep growing.", "Seeking a role with more ownership.",
                                    "Open to new challenges.", ""))]).strip()

    # ---- education, credentials, skills, languages -------------------------------------------
    edu: list[str] = []
    grad = career_start_year - rng.choice((0, 0, 1))
    degree_keys = [k for k in show if C.ITEMS[k].kind == "degree"]
    for key in degree_keys:
        item = C.ITEMS[key]
        text = phrase(key, show[key])
        if item.any_degree:
            school = f"{rng.choice(C.CITIES)[0]} High School"
        else:
            school = f"{rng.choice(C.CITIES)[0]} {rng.choice(C.SCHOOL_STEMS)}"
        year = "" if "progress" in text else f", {grad if key != 'deg_ms_quant' else min(grad + rng.randint(2, 5), REFERENCE_DATE[0])}"
        edu.append(rng.choice((f"{text}, {school}{year}", f"{school} — {text}{year}")))
        resume.any_degree = resume.any_degree or text
    if not degree_keys and "hs_diploma" not in avoid:
        deg = C.ITEMS[fam.degree]
        if deg.unrelated and rng.random() < 0.5:
            text = rng.choice(deg.unrelated)
            edu.append(f"{text}, {rng.choice(C.CITIES)[0]} {rng.choice(C.SCHOOL_STEMS)}, {grad}")
            resume.any_degree = text
        elif deg.any_degree or rng.random() < 0.5:
            text = rng.choice(("High School Diploma", "GED"))
            edu.append(f"{text}, {rng.choice(C.CITIES)[0]} High School, {grad}" if text != "GED" else f"GED, {grad}")
            resume.any_degree = text
    creds = []
    for key, verdict in show.items():
        if C.ITEMS[key].kind in ("license", "cert"):
            text = phrase(key, verdict)
            if verdict == "met" and rng.random() < 0.5:
                text += rng.choice((f" (exp. {REFERENCE_DATE[0] + rng.randint(1, 3)})", f", since {min(max(grad, 2008) + rng.randint(0, 4), REFERENCE_DATE[0])}", " — active"))
            creds.append(text)
    langs = [phrase(k, v) for k, v in show.items() if C.ITEMS[k].kind == "language"]

    blocks = [headline]
    if loc_line:
        blocks[0] += "\n" + loc_line
    blocks.append(header(rng.choice(("Summary", "Professional Summary", "Profile", "About me"))) + "\n" + summary)
    blocks.append(header(rng.choice(("Experience", "Work History", "Professional Experience", "Employment"))) + "\n" + "\n\n".join(lines))
    if relevant_months < 30:
        extra = rng.sample(C.EARLY_CAREER_LINES, 3)
        blocks.append(header(rng.choice(("Training & Projects", "Activities", "Additional Experience"))) + "\n" + "\n".join(bullet + e for e in extra)
                      + "\n" + rng.choice(C.AVAILABILITY_LINES))
    if edu:
        blocks.append(header("Education") + "\n" + "\n".join(edu))
    if creds:
        blocks.append(header(rng.choice(("Licenses & Certifications", "Certifications", "Credentials"))) + "\n" + "\n".join(bullet + c for c in creds))
    skills = list(skill_aliases.values())
    rng.shuffle(skills)
    skill_block = rng.choice((", ".join(skills), " · ".join(skills), " | ".join(skills)))
    blocks.append(header(rng.choice(("Skills", "Core Skills", "Technical Skills", "Tools & Skills"))) + "\n" + skill_block)
    if langs:
        blocks.append(header("Languages") + "\n" + ", ".join(["English (native)", *langs] if rng.random() < 0.6 else langs))
    resume.text = "\n\n".join(blocks)
    return resume


# ---------------------------------------------------------------------------------------------
# Verdicts and label
# ---------------------------------------------------------------------------------------------
def years_verdict(required_years: int, months: int) -> str:
    """met: enough years; partial: at least half; missing: less than half."""
    if months >= 12 * required_years:
        return "met"
    return "partial" if months >= 6 * required_years else "missing"


def evaluate(job: Job, resume: Resume) -> list[dict[str, Any]]:
    """Verdict and evidence for each posted requirement, from what the résumé shows."""
    out = []
    for r in job.reqs:
        if r.kind == "years":
            months = resume.relevant_months if resume.family == job.family else 0
            verdict = years_verdict(r.years or 0, months)
            evidence = resume.years_evidence if verdict != "missing" else None
        elif r.key in resume.shown:
            verdict, evidence = resume.shown[r.key]
        elif C.ITEMS[r.key].any_degree and resume.any_degree:
            verdict, evidence = "met", resume.any_degree
        else:
            verdict, evidence = "missing", None
        out.append({"text": r.canonical, "ad_text": r.ad_text, "importance": r.importance, "kind": r.kind,
                    "verdict": verdict, "evidence": evidence})
    return out


def fit_label(same_family: bool, evaluation: list[dict[str, Any]]) -> str:
    """The latent ground-truth label (module docstring) from per-requirement verdicts."""
    if not same_family:
        return "Low"
    req = [e for e in evaluation if e["importance"] == "required"]
    if any(e["kind"] == "license" and e["verdict"] == "missing" for e in req):
        return "Low"
    gaps = sum(e["verdict"] != "met" for e in req)
    return "High" if gaps == 0 else "Medium" if gaps <= 2 else "Low"


def fit_score(label: str, evaluation: list[dict[str, Any]]) -> float:
    """A score in [0, 1] inside the label's band (Low < 0.4 <= Medium < 0.7 <= High)."""
    value = {"met": 1.0, "partial": 0.5, "missing": 0.0}
    req = [value[e["verdict"]] for e in evaluation if e["importance"] == "required"]
    pref = [value[e["verdict"]] for e in evaluation if e["importance"] == "preferred"]
    raw = 0.8 * (sum(req) / max(len(req), 1)) + 0.2 * (sum(pref) / max(len(pref), 1))
    lo, hi = {"Low": (0.0, 0.39), "Medium": (0.4, 0.69), "High": (0.7, 1.0)}[label]
    return round(lo + (hi - lo) * raw, 3)


# ---------------------------------------------------------------------------------------------
# Pair construction per target label
# ---------------------------------------------------------------------------------------------
def _pref_show(rng: random.Random, job: Job, p: float, at_least: int = 0) -> dict[str, str]:
    keys = [r.key for r in job.preferred]
    chosen = [k for k in keys if rng.random() < p]
    for k in keys:
        if len(chosen) >= at_least:
            break
        if k not in chosen:
            chosen.append(k)
    return {k: "met" for k in chosen}


def _gap_verdict(rng: random.Random, r: Req) -> str | None:
    """How a required item becomes a (non-knockout) gap: partial or missing; None if it cannot."""
    if r.kind == "license":
        return "partial" if C.ITEMS[r.key].partial else None
    if r.kind == "years":
        return "partial"
    item = C.ITEMS[r.key]
    if item.partial and rng.random() < 0.6:
        return "partial"
    return "missing"


def _months_for(rng: random.Random, years: int, verdict: str) -> int:
    if verdict == "met":
        return 12 * years + rng.randint(0, 60)
    if verdict == "partial":
        return rng.randint(6 * years, 12 * years - 1)
    return rng.randint(0, max(0, 6 * years - 1)) if rng.random() < 0.6 else 0


def _same_family_resume(rng: random.Random, job: Job, gaps: dict[str, str], pref_p: float, pref_min: int,
                        title: str | None) -> Resume:
    fam = C.FAMILIES[job.family]
    show: dict[str, str] = {}
    for r in job.required:
        if r.kind == "years":
            continue
        verdict = gaps.get(r.key, "met")
        if verdict != "missing":
            show[r.key] = verdict
    show.update({k: v for k, v in _pref_show(rng, job, pref_p, pref_min).items() if k not in show and k not in gaps})
    if any(C.ITEMS[k].kind == "degree" for k in gaps if not k.startswith("years:")):
        show = {k: v for k, v in show.items() if C.ITEMS[k].kind != "degree" or k in gaps}
    avoid = {r.key for r in job.reqs if r.kind != "years"} - set(show)
    months = _months_for(rng, job.required_years, gaps.get(f"years:{job.family}", "met"))
    return make_resume(rng, fam, months, show, avoid, current_title=title)


def _other_family_resume(rng: random.Random, job: Job) -> Resume:
    other = rng.choice([k for k in C.FAMILIES if k != job.family])
    pseudo = make_job(rng, C.FAMILIES[other], "pseudo")
    return _same_family_resume(rng, pseudo, {}, 0.5, 0, None)


def make_pair_resume(rng: random.Random, job: Job, target: str, hard_negative: bool = False) -> tuple[Resume, str]:
    """Build a résumé for `job` aimed at `target`; returns (résumé, low_kind)."""
    required = job.required
    if hard_negative:
        lic = [r for r in required if r.kind == "license"]
        if lic and rng.random() < 0.5:
            gaps = {lic[0].key: "missing"}
            if rng.random() < 0.5:
                gaps[f"years:{job.family}"] = "partial"
            return _same_family_resume(rng, job, gaps, 0.5, 0, job.title), "knockout"
        others = [r for r in required if r.kind not in ("years", "license")]
        gaps = {f"years:{job.family}": "partial"}
        for r in rng.sample(others, min(2, len(others))):
            gaps[r.key] = _gap_verdict(rng, r) or "missing"
        return _same_family_resume(rng, job, gaps, 0.5, 0, job.title), "too_junior"
    if target == "High":
        n_pref = len(job.preferred)
        return _same_family_resume(rng, job, {}, 0.75, math.ceil(n_pref / 2), job.title if rng.random() < 0.4 else None), ""
    if target == "Medium":
        candidates = [r for r in required if r.kind != "license" or C.ITEMS[r.key].partial]
        k = min(rng.choice((1, 1, 2)), len(candidates))
        gaps = {}
        for r in rng.sample(candidates, k):
            gaps[r.key] = _gap_verdict(rng, r) or "partial"
        return _same_family_resume(rng, job, gaps, 0.4, 0, None), ""
    if rng.random() < 0.5:
        return _other_family_resume(rng, job), "other_family"
    others = [r for r in required if r.kind != "years"]
    gaps = {f"years:{job.family}": "missing"}
    for r in rng.sample(others, min(len(others), rng.randint(2, 3))):
        gaps[r.key] = "missing"
    return _same_family_resume(rng, job, gaps, 0.2, 0, None), "underqualified"


def make_pair(rng: random.Random, job: Job, pair_id: str, target: str, hard_negative: bool = False) -> Pair:
    """One (job, résumé) pair with its latent label and full bookkeeping in `meta`."""
    resume, low_kind = make_pair_resume(rng, job, target, hard_negative)
    evaluation = evaluate(job, resume)
    label = fit_label(resume.family == job.family, evaluation)
    if not hard_negative and label != target:
        raise RuntimeError(f"generator bug: {pair_id} aimed at {target} but its résumé is {label}")
    meta = {
        "source": "synthetic",
        "family": job.family,
        "title": job.title,
        "seniority": job.seniority,
        "company": job.company,
        "location": job.city,
        "required": [r.canonical for r in job.required],
        "preferred": [r.canonical for r in job.preferred],
        "requirements": evaluation,
        "met": [e["text"] for e in evaluation if e["verdict"] == "met"],
        "partial": [e["text"] for e in evaluation if e["verdict"] == "partial"],
        "missing": [e["text"] for e in evaluation if e["verdict"] == "missing"],
        "required_years": job.required_years,
        "resume_family": resume.family,
        "resume_years": round(resume.relevant_months / 12, 2),
        "hard_negative": hard_negative,
        "low_kind": low_kind if label == "Low" else "",
        "latent_label": label,
        "score": fit_score(label, evaluation),
        "req_chars": job.req_chars,
        "job_sections": job.sections,
        "reference_date": f"{REFERENCE_DATE[0]}-{REFERENCE_DATE[1]:02d}-01",
    }
    return Pair(pair_id=pair_id, job_id=job.job_id, job_text=job.text, resume_text=resume.text, label=label, meta=meta)


def _family_order(seed: int, stream: str) -> list[str]:
    keys = sorted(C.FAMILIES)
    random.Random(f"{seed}:{stream}:families").shuffle(keys)
    return keys


def generate_pairs(n_jobs: int, pairs_per_job: int, seed: int, stream: str = "base",
                   id_prefix: str = "j", progress: bool = True) -> list[Pair]:
    """D_base: `n_jobs` postings (families balanced) x `pairs_per_job` résumés, labels stratified."""
    fams = _family_order(seed, stream)
    pairs: list[Pair] = []
    for j in tqdm(range(n_jobs), desc=f"jobs ({stream})", disable=not progress or None, leave=False):
        rng = random.Random(f"{seed}:{stream}:{j}")
        job = make_job(rng, C.FAMILIES[fams[j % len(fams)]], f"{id_prefix}{j:05d}")
        targets = [LABELS[(j * pairs_per_job + t) % 3] for t in range(pairs_per_job)]
        rng.shuffle(targets)
        pairs.extend(make_pair(rng, job, f"{job.job_id}-p{t}", target) for t, target in enumerate(targets))
    return pairs


def generate_cls_pairs(n_pairs: int, pairs_per_job: int, hard_negative_frac: float, seed: int,
                       progress: bool = True) -> list[Pair]:
    """D_cls: unlabelled-classifier corpus on NEW postings; a share are hard negatives.

    Hard negatives imitate user-interaction negatives (paper Sec. 4.1.1): same family and title,
    plausible, but missing a license or too junior and missing key items - latent label Low.
    """
    n_hard = round(hard_negative_frac * n_pairs)
    kinds = ["hard"] * n_hard + [LABELS[i % 3] for i in range(n_pairs - n_hard)]
    random.Random(f"{seed}:cls:kinds").shuffle(kinds)
    fams = _family_order(seed, "cls")
    n_jobs = math.ceil(n_pairs / max(pairs_per_job, 1))
    pairs: list[Pair] = []
    for j in tqdm(range(n_jobs), desc="jobs (cls)", disable=not progress or None, leave=False):
        rng = random.Random(f"{seed}:cls:{j}")
        job = make_job(rng, C.FAMILIES[fams[j % len(fams)]], f"c{j:06d}")
        for t, kind in enumerate(kinds[j * pairs_per_job:(j + 1) * pairs_per_job]):
            hard = kind == "hard"
            pairs.append(make_pair(rng, job, f"{job.job_id}-p{t}", "Low" if hard else kind, hard_negative=hard))
    return pairs
