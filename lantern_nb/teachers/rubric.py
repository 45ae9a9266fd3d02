"""The offline rule-based teacher T1: the decomposed protocol of Sec. 3.3.1 performed on text.

(a) Extraction - `extract_requirements(job_text)`: items under qualification-like headings
    (many heading variants, bullets, numbered lists, inline "Requirements: ..."), plus
    requirement sentences in prose ("You should have 3+ years of ..., a valid CDL and ...") split
    into clauses; importance from the heading (required / preferred sections) and item markers
    ("preferred", "nice to have", "a plus", "bonus", "ideally").
(b) Evaluation - each qualification against the résumé: lexicon matching with synonyms
    (`lexicon.py`) of skills, tools, degrees (level and field), licenses, certifications and
    languages; years of experience from dated experience lines (overlaps merged, "Present" =
    `REFERENCE_DATE` so results are deterministic), counting only roles relevant to the
    requirement's domain. Verdict met / partial / missing with verbatim evidence: an exact
    substring of the résumé (the matching line, or its sentence when the line is long).
(c) Summary - the scoring rule:
      value(met) = 1, value(partial) = 0.5, value(missing) = 0;
      R = mean value of required qualifications, P = mean value of preferred ones;
      score = 0.85 * R + 0.15 * P   (score = R or P when only one kind exists);
      hard rules: a missing *required* license caps the score at 0.44 (Low: one cannot legally
      do the job), a missing required certification or degree at 0.80 (at most Medium);
      label = High if score >= 0.85, Medium if score >= 0.55, else Low.
    High thus means (nearly) every required qualification is met.
    Explanation: one line per key qualification ("Meets ...", "Partially meets ...",
    "Missing ..."), required first, at most 7, then one summary line.

It is deliberately a good but imperfect teacher: it reads real job ads and resumes, not only
the synthetic generator's output, and its mistakes are those of a keyword matcher.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Sequence

from lantern_nb.profiles import Profile
from lantern_nb.schema import Evaluation, FitResult, Pair, Qualification
from lantern_nb.teachers.base import TeacherOutput
from lantern_nb.teachers.lexicon import BY_NAME, TERMS, Term, TermMatch, ancestors, find_terms, occupation_families

REFERENCE_DATE: tuple[int, int] = (2025, 6)  # "Present" in dated experience lines = 2025-06-01
HIGH_THRESHOLD = 0.85
MEDIUM_THRESHOLD = 0.55
HARD_CAP = 0.80
REQUIRED_WEIGHT = 0.85
VALUE = {"met": 1.0, "partial": 0.5, "missing": 0.0}
LICENSE_CAP = 0.44
MAX_EXPLANATION_LINES = 8

# --------------------------------------------------------------------------------------------
# text helpers

_BULLET_RE = re.compile(r"^\s*(?:[-*•●▪◦·‣∙■□➢➤►✓✔>]+|\d{1,2}[.)](?!\d)|\([a-z]\)|[a-z]\)|o(?=\s))\s*")
_ABBREV_RE = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|Sr|Jr|Dr|Mr|Ms|Mrs|St|No|approx|incl|min|max|yrs?|Inc|Co|Ltd|"
                        r"[A-Z])\.|(?:[A-Z]\.){2,})$")
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z+#.'’-]*[A-Za-z+#]|[A-Za-z]")


def _strip_bullet(line: str) -> str:
    return _BULLET_RE.sub("", line, count=1).strip()


def _is_bullet(line: str) -> bool:
    return bool(re.match(r"^\s*(?:[-*•●▪◦·‣∙■□➢➤►✓✔]+|\d{1,2}[.)]|o)\s+", line))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, not splitting after e.g., B.S., Sr. and the like."""
    spans, start = [], 0
    for m in re.finditer(r"(?<=[.!?])\s+(?=[A-Z0-9(\"“])", text):
        if _ABBREV_RE.search(text[start:m.start()]):
            continue
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def split_sentences(text: str) -> list[str]:
    return [text[s:e].strip() for s, e in sentence_spans(text)]


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9+#]+", " ", text.lower()).strip()


_STOP = set("""a an the and or of in on at to for with by from as is are be been being this that these those
it its you your our we us they their them he she his her will would should must can could may might
have has had having do does did not no nor any all some such other than into over under per via etc
ie eg plus also including include includes within across about who whom which what when where while
able ability strong excellent good solid proven demonstrated working work knowledge understanding
experience experienced years year yrs professional relevant related similar equivalent hands required
preferred preference minimum least more skills skill proficiency proficient familiarity familiar
candidate candidates ideal role position job team environment setting field industry new background
using use used well highly ideally bonus nice level high previous prior basic advanced""".split())


def _stem(w: str) -> str:
    w = w.lower().strip(".'’-")
    for suf in ("ing", "ies", "ed", "es", "s"):
        if len(w) > len(suf) + 3 and w.endswith(suf):
            return w[: -len(suf)] + ("y" if suf == "ies" else "")
    return w


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD_RE.findall(text) if w.lower() not in _STOP and len(w) > 2}


# --------------------------------------------------------------------------------------------
# (a) requirement extraction

_PREF_MARK_RE = re.compile(
    r"\b(?:preferred|preferably|preference|nice[\s-]to[\s-]haves?|(?:is |are |would be )?an? (?:big |huge |strong )?plus|"
    r"pluses|bonus(?: points)?|ideally|desired|desirable|advantageous|an advantage|not required|"
    r"would be (?:great|nice|helpful|beneficial)|is helpful|helpful but|good to have|extra credit|even better)\b",
    re.IGNORECASE)

_HEAD_PREF_RE = re.compile(r"prefer|nice|bonus|plus|desir|ideal(?:ly)?\b|good to have|extra|even better|"
                           r"stand ?out|great if|additional|optional|asset", re.IGNORECASE)
_HEAD_DROP_RE = re.compile(
    r"about (?:us|the company|the team|our|[A-Z])|who we are|our (?:company|mission|story|values|culture|team)|"
    r"benefit|perk|what we offer|we offer|why (?:join|work)|compensation|salary|pay\b|pay range|wage|"
    r"equal (?:employment|opportunity)|\beeo|diversity|inclusion|accommodation|how to apply|to apply|"
    r"application process|apply now|location|schedule|hours|shift|work environment|our offer|"
    r"life at|culture|disclaimer|legal|privacy|the company|company overview|job type|employment type|"
    r"travel|reports to|department|why you(?:'|’)?ll love|why you will love|in it for you|what you(?:'|’)?ll get|"
    r"what you get|rewards|package|how we support|working (?:here|at|with us)|join us|join our|next steps|"
    r"hiring process|interview process|ready to apply|our process|who you(?:'|’)?ll work with|the team\b|"
    r"growth and development|learning and development|onboarding", re.IGNORECASE)
_HEAD_DUTY_RE = re.compile(
    r"responsibilit|duties|what you(?:'|’)?ll do|what you will do|the role|about the (?:role|job|position)|"
    r"role overview|job description|overview|summary|your impact|day[- ]to[- ]day|day in the life|"
    r"key (?:tasks|accountabilities)|essential functions|accountabilit|mission|the opportunity|position",
    re.IGNORECASE)
_HEAD_REQ_RE = re.compile(
    r"qualif|requirement|required|must|need|looking for|seeking|skills|experience|education|about you|"
    r"who you are|you have|you are|you bring|you(?:'|’)?ll bring|your (?:profile|background|skills)|"
    r"certif|licen[cs]|abilit|competenc|knowledge|ideal candidate|physical|prerequisite|eligib|essential|"
    r"criteria|person spec|to be successful|what it takes|credential|background|expertise|tech stack|"
    r"technologies|tools|languages?", re.IGNORECASE)


def _header_kind(line: str) -> tuple[str, str] | None:
    """(kind, remainder) when `line` is a section heading; kind is required | preferred | duty | drop."""
    raw = line.strip()
    if not raw or _is_bullet(raw):
        return None
    md = bool(re.match(r"^#{1,6}\s", raw)) or bool(re.fullmatch(r"\*\*.+\*\*:?|__.+__:?", raw))
    text = re.sub(r"^#{1,6}\s*|^\*\*|\*\*:?$|\*\*(?=:)|^__|__:?$", "", raw).strip()
    remainder = ""
    m = re.match(r"^([^:.!?]{2,60}):\s*(.*)$", text)
    if m:
        head, remainder = m.group(1).strip(), m.group(2).strip()
    else:
        head = text.rstrip(":").strip()
    words = head.split()
    if not words or len(words) > 9:
        return None
    letters = re.sub(r"[^A-Za-z]", "", head)
    is_caps = len(letters) >= 3 and letters.isupper()
    looks = bool(m) or md or is_caps or (raw.endswith(":") and len(words) <= 9)
    if not looks and len(words) <= 5 and not re.search(r"[.,;!]$", head) and head[:1].isupper():
        looks = any(r.search(head) for r in (_HEAD_REQ_RE, _HEAD_PREF_RE, _HEAD_DROP_RE, _HEAD_DUTY_RE)) \
            and not _years_spans(head) and not find_terms(
                head, ["skill", "license", "certification", "degree", "language", "soft"])
    if not looks:
        return None
    if m and not (_HEAD_REQ_RE.search(head) or _HEAD_PREF_RE.search(head) or _HEAD_DROP_RE.search(head)
                  or _HEAD_DUTY_RE.search(head)):
        return None
    if _HEAD_PREF_RE.search(head) and not re.search(r"\bminimum|basic\b", head, re.IGNORECASE):
        kind = "preferred"
    elif _HEAD_REQ_RE.search(head) and not re.search(r"about (?:us|the company)|benefit|perk|offer",
                                                        head, re.IGNORECASE):
        kind = "required"
    elif _HEAD_DROP_RE.search(head):
        kind = "drop"
    elif _HEAD_DUTY_RE.search(head):
        kind = "duty"
    else:
        kind = "duty" if not m else "drop"
    return kind, remainder


_BOILER_RE = re.compile(
    r"equal opportunity|regardless of|without regard|race,? colou?r|sexual orientation|veteran status|"
    r"reasonable accommodation|e-?verify|401\s*\(?k|health insurance|dental|vision insurance|paid time off|"
    r"\bPTO\b|tuition|salary range|pay range|per hour|\$\s?\d|competitive (?:pay|salary|compensation)|"
    r"apply (?:now|today|online)|click apply|we offer|we provide|our benefits|employee discount|"
    r"parental leave|stock options|equity|wellness|gym|snacks|visa sponsorship is|fair chance|insurance|"
    r"stipend|reimburse|savings accounts?|retirement|pension|employee assistance|mental[- ]health|"
    r"rolling basis|onboarding (?:plan|program)|mentorship program|paid (?:holidays|leave|training)|"
    r"sick (?:days|leave)|vacation|sign-on bonus|relocation (?:assistance|package)|resource groups|"
    r"submit your (?:resume|application)|send (?:us )?your (?:resume|cv)|company-paid|employer-paid|"
    r"matching contributions?|profit sharing|commuter benefits|free (?:parking|lunch|meals)|team events|"
    r"new hires (?:get|receive)|first (?:ninety|90|thirty|30|sixty|60) days|we (?:celebrate|measure)",
    re.IGNORECASE)
_CUE_RE = re.compile(
    r"\b(?:must|required|requires?|requirement|you(?:'|’)?(?:ll| will| should| must)? (?:have|bring|need|possess)|"
    r"we(?:'|’)?re looking for|we are looking for|looking for (?:someone|a|an|candidates)|ideal candidate|"
    r"successful candidate|candidates? (?:should|must|will) (?:have|be)|applicants? (?:should|must)|"
    r"minimum of|at least|years?(?:'|’)? (?:of )?experience|\d+\+? ?(?:years?|yrs)|preferred|a plus|nice to have|"
    r"proficien|fluen|bilingual|degree|diploma|licen[cs]e|certifi|familiar(?:ity)? with|knowledge of|"
    r"experience (?:with|in|using|as)|ability to|able to|comfortable with|skilled in|expertise in|background in)\b",
    re.IGNORECASE)
_STRONG_CUE_RE = re.compile(
    r"\b(?:must (?:have|be|hold|possess)|is required|are required|required\b|requires?|minimum of|at least \d|"
    r"\d+\+? ?(?:years?|yrs)|degree|diploma|licen[cs]e|certifi|you(?:'|’)?(?:ll| will| should| must)? (?:have|bring|need|possess)|"
    r"looking for (?:someone|a candidate|candidates)|ideal candidate|preferred|a plus|nice to have)\b",
    re.IGNORECASE)
_QUALIFYING_RE = re.compile(
    r"\b(?:experience|knowledge|abilit|skill|proficien|familiar|degree|diploma|licen[cs]|certif|fluen|bilingual|expert|"
    r"understanding|background|expertise|track record|comfortable|capable|able to|years?|trained|training|"
    r"education|graduate|record|authorized|eligible|clearance|lift)", re.IGNORECASE)
_LEADIN_RE = re.compile(
    r"^(?:(?:to (?:be successful|succeed)(?: in this role)?|in addition|additionally|also|ideally|finally|"
    r"for this role|as a minimum),?\s*)?"
    r"(?:(?:you|candidates?|applicants?|the (?:ideal|successful|right) candidate)(?:'|’)?(?:ll| will| should| must| need to)?"
    r"(?: also)? (?:have|has|bring|brings|need|needs|possess|possesses|hold|holds|be|is|are|demonstrate)(?: to have)?|"
    r"we(?:'|’)?(?:re| are)(?: also)? (?:looking for|seeking|hoping for|after)(?: (?:someone|a candidate|candidates|"
    r"a person|people|an? [\w-]+(?: [\w-]+)?))?(?: (?:with|who (?:has|have|is|are|brings?|can)))?|"
    r"(?:this|the) (?:role|position|job) (?:requires|needs|calls for)|requirements? (?:include|are)|"
    r"(?:must|should) have|(?:it is |it's )?required(?: that you have)?:?)\s*:?\s*",
    re.IGNORECASE)
_CLAUSE_START = (r"(?:an? |the |\d|at least |minimum |experience|knowledge|ability|abilities|strong |excellent |"
                 r"proficiency|proficient|familiarity|familiar|valid |current |active |solid |good |demonstrated |proven |"
                 r"working knowledge|hands-on|fluency|fluent|bachelor|master|associate|high school|ged|degree|"
                 r"certification|certified|license|licensure|comfort|willingness|availability|available|"
                 r"understanding|excellent|great |basic |advanced |expertise|previous |prior |some |"
                 r"one |two |three |four |five |six |seven |eight |ten |"
                 r"(?:has|have|is|knows|understands|applies|uses|can|brings|holds|possesses|demonstrates|speaks) )")
_SPLIT_RE = re.compile(r";\s*|,\s*(?:and |as well as |plus )?(?=" + _CLAUSE_START + r")|\s+(?:and|as well as|plus)\s+(?="
                       + _CLAUSE_START + r")", re.IGNORECASE)


def _importance(text: str, default: str) -> str:
    text = re.sub(r"\([^)]*\)", " ", text)
    if _PREF_MARK_RE.search(text) and not re.search(r"\b(?:required|must)\b", text, re.IGNORECASE):
        return "preferred"
    if default == "preferred" and re.search(r"\b(?:required|must have|mandatory)\b", text, re.IGNORECASE):
        return "required"
    return default


def _clean_item(text: str) -> str:
    text = _strip_bullet(text)
    text = re.sub(r"^(?:an?|the)\s+(?=\S)", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^\*\*|\*\*$", "", text).strip()
    text = re.sub(r"\s+", " ", text).strip(" ;,")
    text = re.sub(r"[.;:]+$", "", text).strip()
    return text[:1].upper() + text[1:] if text else text


def _rephrase(text: str) -> str:
    """Full statement for a short fragment ("SQL" -> "Experience with SQL"), per the extraction guideline."""
    words = text.split()
    if len(words) > 4 or _QUALIFYING_RE.search(text) or _years_spans(text):
        return text
    terms = [m for m in find_terms(text) if m.term.category != "field"]
    rest = text
    for m in sorted(terms, key=lambda m: -m.start):
        rest = rest[:m.start] + rest[m.end:]
    if not terms or len([w for w in re.findall(r"[A-Za-z]+", rest) if w.lower() not in ("and", "or")]) > 1:
        return text
    cat = terms[0].term.category
    if cat in ("license", "certification", "degree"):
        return text if re.search(r"\b(?:valid|active|current|hold)\b", text, re.I) else f"{text} (held)"
    if cat == "language":
        return f"Fluency in {text}"
    if cat == "soft":
        return f"Strong {text[:1].lower() + text[1:]}" if not text.lower().startswith("strong") else text
    return f"Experience with {text}"


def _split_prose(sentence: str) -> list[str]:
    """A requirement sentence -> its distinct qualification clauses (lead-in phrase removed)."""
    s = _LEADIN_RE.sub("", sentence.strip(), count=1)
    parts = [p for p in _SPLIT_RE.split(s) if p and p.strip()]
    out = []
    for p in parts:
        p = p.strip(" ,.;:")
        if len(p.split()) < 2 and not find_terms(p):
            continue
        out.append(p)
    return out or [s.strip(" ,.;:")]


_NEGATED_RE = re.compile(r"\b(?:is |are )?not (?:required|necessary|needed|mandatory|a requirement)\b|"
                         r"\bno (?:prior |previous )?(?:experience|degree)(?: is)? (?:required|necessary|needed)\b",
                         re.IGNORECASE)


def _is_qualification(text: str) -> bool:
    if _BOILER_RE.search(text) or _NEGATED_RE.search(text):
        return False
    if _QUALIFYING_RE.search(text) or _years_spans(text):
        return True
    return any(m.term.category != "field" for m in find_terms(text))


_COMPANY_RE = re.compile(r"\b(?:we|our|us)\b", re.IGNORECASE)
_SEEKING_RE = re.compile(r"\bwe(?:'|’)?(?:re| are| will be)? (?:also )?(?:looking|seeking|hiring|require|need|want|expect)|"
                         r"\bwe(?:'|’)?d love|\bjoin our", re.IGNORECASE)
_TAIL_RE = re.compile(r"[,;(]\s*(?=[^,;()]*\b(?:preferred|preferably|a plus|ideally|nice to have|bonus|desired)\b"
                      r"[^,;()]*\)?$)", re.IGNORECASE)


def _about_company(sentence: str) -> bool:
    """A sentence about the employer ("For 30 years we have ...") rather than the candidate."""
    return bool(_COMPANY_RE.search(sentence)) and not _SEEKING_RE.search(sentence)


def _split_pref_tail(text: str, default: str) -> list[tuple[str, str]]:
    """'2+ years of X, ICU experience preferred' -> [(head, default), (tail, 'preferred')].

    A trailing preferred aside that is not a qualification of its own ('ideally in hospitality')
    stays in the item, which keeps the head's importance.
    """
    m = _TAIL_RE.search(text)
    if not m or m.start() < 8:
        return [(text, _importance(text, default))]
    head, tail = text[:m.start()].strip(), text[m.end():].strip(" )")
    if _PREF_MARK_RE.search(head) or not _is_qualification(head):
        return [(text, _importance(text, default))]
    head_imp = _importance(head, default)
    standalone = (len(tail.split()) >= 2 and not re.match(r"(?:ideally|preferably|especially|in|with|at|for)\b",
                                                           tail, re.IGNORECASE)
                  and (any(t.term.category != "field" for t in find_terms(tail)) or _years_spans(tail)))
    if standalone:
        return [(head, head_imp), (tail, "preferred")]
    return [(text, head_imp)]


@dataclass
class _Item:
    text: str
    importance: str
    source: str  # section | prose | inline


def _job_lines(job_text: str) -> list[str]:
    text = job_text.replace("\r\n", "\n").replace("\r", "\n")
    lines: list[str] = []
    for line in text.split("\n"):
        # "Requirements: - a - b" on one line and "•" separated lists
        pieces = re.split(r"\s+[•●▪]\s+", line)
        lines.extend(pieces if len(pieces) > 1 else [line])
    return lines


def _prose_items(sentence: str, default: str) -> list[_Item]:
    """Qualification clauses of one requirement sentence; a preferred marker applies to the
    clause it is in (or to the whole sentence when it closes it, as in "X and Y are a plus")."""
    clauses = [c for c in _split_prose(sentence) if _is_qualification(c)]
    out = []
    whole = _importance(sentence, default)
    for c in clauses:
        imp = _importance(c, default)
        if imp == default and whole != default and len(clauses) > 1 and not re.search(r"[;]", sentence):
            tail_marked = _PREF_MARK_RE.search(clauses[-1]) and _PREF_MARK_RE.search(sentence[-40:])
            imp = whole if tail_marked and not re.search(r",", sentence) else imp
        out.append(_Item(_clean_item(c), imp, "prose"))
    return out


@lru_cache(maxsize=4096)
def _extract_cached(job_text: str) -> tuple[tuple[str, str, str], ...]:
    items: list[_Item] = []
    section: str | None = None
    first = True
    for line in _job_lines(job_text):
        if not line.strip():
            continue
        head = _header_kind(line)
        if first:
            first = False
            if (head and not line.rstrip().endswith(":") and not _HEAD_REQ_RE.match(line.strip())) or (
                    not head and job_title(line) == re.sub(r"^#+\s*|\*\*", "", line).strip()):
                continue
        if head:
            kind, remainder = head
            if not remainder or len(remainder.split()) < 6:
                section = kind
            if remainder and kind in ("required", "preferred"):
                for part in (_split_prose(remainder) if not re.search(r",|;", remainder) or len(remainder) > 80
                             else re.split(r"\s*[;,]\s*", remainder)):
                    if part.strip():
                        items.append(_Item(_clean_item(part), _importance(part, kind), "inline"))
            continue
        body = _strip_bullet(line)
        if section in ("required", "preferred"):
            if _is_bullet(line) or len(body.split()) <= 25:
                pieces = [p for p in re.split(r";\s+", body) if p.strip()]
                pieces = pieces if len(pieces) > 1 and all(_is_qualification(p) for p in pieces) else [body]
                for p in pieces:
                    if _BOILER_RE.search(p) or (not _is_bullet(line) and _about_company(p)):
                        continue
                    for part, imp in _split_pref_tail(p, section):
                        items.append(_Item(_clean_item(part), imp, "section"))
            else:
                for sent in split_sentences(body):
                    if _BOILER_RE.search(sent) or _about_company(sent) or not (
                            _CUE_RE.search(sent) or _is_qualification(sent)):
                        continue
                    items.extend(_prose_items(sent, section))
        elif section != "drop":
            cue = _STRONG_CUE_RE if section == "duty" else _CUE_RE
            for sent in split_sentences(body):
                if _BOILER_RE.search(sent) or _about_company(sent) or not cue.search(sent):
                    continue
                items.extend(_prose_items(sent, "required"))
    seen: set[str] = set()
    out: list[tuple[str, str, str]] = []
    for it in items:
        text = _rephrase(it.text)
        key = _norm(text)
        if len(key) < 2 or key in seen:
            continue
        seen.add(key)
        out.append((text, it.importance, it.source))
    return tuple(out)


def extract_requirements(job_text: str) -> list[Qualification]:
    """Step (a): the job's qualifications with importance, in order of appearance."""
    return [Qualification(text=t, importance=imp) for t, imp, _ in _extract_cached(job_text or "")]


def job_title(job_text: str) -> str | None:
    """The posting's title when its first line (or a 'Job title:' line) looks like one."""
    for line in job_text.splitlines():
        m = re.match(r"^\s*(?:job\s+title|title|position|role)\s*[:\-]\s*(.{2,80})$", line, re.IGNORECASE)
        if m:
            return m.group(1).strip()
    for line in job_text.splitlines():
        s = re.sub(r"^#+\s*|\*\*", "", line).strip()
        if not s:
            continue
        if len(s.split()) <= 12 and not re.search(r"[.!?]$", s) and not _header_kind(s):
            return s
        return None
    return None


# --------------------------------------------------------------------------------------------
# years of experience

_NUMWORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
             "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20}
_NUM = r"(\d{1,2}(?:\.\d)?|" + "|".join(_NUMWORDS) + r")"
_YEARS_RE = re.compile(
    r"(?:(?:at least|minimum(?: of)?|min\.?|over|more than|a minimum of)\s+)?" + _NUM +
    r"(?:\s*\(\d{1,2}\))?\s*(?:\+|plus)?\s*(?:(?:-|–|to|or more)\s*" + _NUM + r"?\s*\+?)?\s*(?:years?|yrs?)\b"
    r"(?:['’])?(?!\s+(?:old|of age))", re.IGNORECASE)


def _num(s: str | None) -> float | None:
    if s is None:
        return None
    s = s.lower()
    return float(_NUMWORDS[s]) if s in _NUMWORDS else float(s)


def _years_spans(text: str) -> list[tuple[float, int, int]]:
    out = []
    for m in _YEARS_RE.finditer(text):
        before = text[max(0, m.start() - 12): m.start()].lower()
        after = text[m.end(): m.end() + 14].lower()
        if "within" in before or "age" in after[:8] or re.match(
                r"\s*(?:degree|college|university|program|institution|accredited|bachelor|contract|plan)", after):
            continue
        n = _num(m.group(1))
        if n is not None and 0 < n <= 40:
            out.append((n, m.start(), m.end()))
    return out


_MONTHS = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
           "nov": 11, "dec": 12}
_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|" \
         r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
_DATE = r"(?:" + _MONTH + r",?\s+(?:19|20)\d{2}|\d{1,2}/(?:19|20)\d{2}|(?:19|20)\d{2}-\d{2}(?!\d)|(?:19|20)\d{2})"
_END = r"(?:" + _DATE + r"|present|current|now|today|ongoing|date)"
_RANGE_RE = re.compile(r"(" + _DATE + r")\s*(?:-|–|—|to|until|through|thru)\s*(" + _END + r")", re.IGNORECASE)
_SINCE_RE = re.compile(r"\bsince\s+(" + _DATE + r")", re.IGNORECASE)


def _parse_date(s: str, end: bool) -> int | None:
    """Month index (year*12 + month-1); an end date with a month counts its whole month."""
    s = s.strip().lower()
    if s in ("present", "current", "now", "today", "ongoing", "date"):
        return REFERENCE_DATE[0] * 12 + REFERENCE_DATE[1] - 1
    m = re.match(r"([a-z]+)\.?,?\s+(\d{4})", s)
    if m:
        return int(m.group(2)) * 12 + _MONTHS.get(m.group(1)[:3], 1) - 1 + (1 if end else 0)
    m = re.match(r"(\d{1,2})/(\d{4})", s) or None
    if m:
        return int(m.group(2)) * 12 + int(m.group(1)) - 1 + (1 if end else 0)
    m = re.match(r"(\d{4})-(\d{2})", s)
    if m:
        return int(m.group(1)) * 12 + int(m.group(2)) - 1 + (1 if end else 0)
    m = re.match(r"(\d{4})", s)
    if m:
        return int(m.group(1)) * 12
    return None


def merge_months(intervals: Sequence[tuple[int, int]]) -> int:
    """Total months covered by the intervals, overlaps counted once."""
    total, cur_s, cur_e = 0, None, None
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


# --------------------------------------------------------------------------------------------
# the résumé

_RESUME_HEADS = {
    "experience": r"experience|employment|work history|career|professional background|positions held|"
                  r"relevant experience|work|history",
    "education": r"education|academic|degrees?|schooling|training and education|qualifications",
    "certifications": r"certific|licen[cs]|credential|accreditation",
    "skills": r"skills|technical|technologies|tools|competenc|expertise|proficienc|strengths|abilities",
    "languages": r"languages?",
    "summary": r"summary|profile|objective|about|overview",
    "other": r"projects?|volunteer|awards|honou?rs|interests|publications|references|activities|affiliations",
}


@dataclass
class Role:
    start: int
    end: int
    line_start: int  # char offset of the date line in the résumé
    line_end: int
    context: str  # title + date line + description
    title_span: tuple[int, int]  # char span of the title (or date) line
    title: str = ""  # title line(s) through the date line

    @property
    def months(self) -> int:
        return max(0, self.end - self.start)


@dataclass
class Resume:
    text: str
    lines: list[tuple[int, int, str]]  # (start, end, section) per non-empty line
    roles: list[Role]
    terms: dict[str, TermMatch]
    stated_years: list[tuple[float, int, int]] = field(default_factory=list)

    def total_months(self) -> int:
        return merge_months([(r.start, r.end) for r in self.roles])


def _resume_section(line: str) -> str | None:
    s = re.sub(r"^#+\s*|\*\*", "", line).strip().rstrip(":").strip()
    if not s or len(s.split()) > 4 or _is_bullet(line) or re.search(r"[.,;]$|\d", s):
        return None
    for name, pat in _RESUME_HEADS.items():
        if re.fullmatch(r"(?:[\w&]+\s+){0,2}(?:" + pat + r")(?:\s+[\w&]+){0,2}", s, re.IGNORECASE):
            return name
    return None


@lru_cache(maxsize=4096)
def parse_resume(text: str) -> Resume:
    """Lines with their resume section, dated roles (education dates excluded) and lexicon terms."""
    lines: list[tuple[int, int, str]] = []
    section = "summary"
    pos = 0
    for raw in text.split("\n"):
        start, end = pos, pos + len(raw)
        pos = end + 1
        if not raw.strip():
            continue
        head = _resume_section(raw)
        if head:
            section = head
            continue
        lstrip = len(raw) - len(raw.lstrip())
        lines.append((start + lstrip, start + len(raw.rstrip()), section))
    date_lines: list[tuple[int, int, int]] = []  # (line idx, start month, end month)
    for i, (s, e, sec) in enumerate(lines):
        if sec in ("education", "certifications"):
            continue
        line = text[s:e]
        m = _RANGE_RE.search(line)
        start = end = None
        if m:
            start, end = _parse_date(m.group(1), False), _parse_date(m.group(2), True)
        else:
            m2 = _SINCE_RE.search(line)
            if m2:
                start, end = _parse_date(m2.group(1), False), _parse_date("present", True)
        if start is None or end is None or end <= start:
            continue
        if sec != "experience" and any(t.term.category == "degree" and (t.term.level or 0) >= 2
                                       for t in find_terms(line, ["degree"])):
            continue
        date_lines.append((i, start, end))
    roles: list[Role] = []
    date_idx = {d[0] for d in date_lines}
    for k, (i, start, end) in enumerate(date_lines):
        s, e, _ = lines[i]
        line = text[s:e]
        rest = _RANGE_RE.sub(" ", line)
        title_i = i
        if len(content_words(rest)) < 2 and i > 0 and (i - 1) not in date_idx and not _is_bullet(text[lines[i - 1][0]:lines[i - 1][1]]):
            title_i = i - 1
        nxt = date_lines[k + 1][0] if k + 1 < len(date_lines) else len(lines)
        stop = nxt
        if k + 1 < len(date_lines):
            nline = text[lines[nxt][0]:lines[nxt][1]]
            if len(content_words(_RANGE_RE.sub(" ", nline))) < 2 and nxt - 1 > i:
                stop = nxt - 1
        desc_end = i + 1
        while desc_end < stop and lines[desc_end][2] == lines[i][2]:
            desc_end += 1
        ctx_lines = [text[lines[j][0]:lines[j][1]] for j in range(title_i, desc_end)]
        roles.append(Role(start, end, s, e, "\n".join(ctx_lines), (lines[title_i][0], lines[title_i][1]),
                          text[lines[title_i][0]:e]))
    terms = {m.term.canonical: m for m in find_terms(text)}
    stated = []
    for n, a, b in _years_spans(text):
        tail = text[b:b + 40].lower()
        if re.match(r"\s*(?:of\s+)?(?:[\w-]+\s+){0,3}(?:experience|in|as|working)", tail):
            stated.append((n, a, b))
    return Resume(text, lines, roles, terms, stated)


def evidence_at(resume: Resume, start: int, end: int) -> str:
    """The verbatim résumé line around [start, end); its sentence when the line is long."""
    text = resume.text
    ls = text.rfind("\n", 0, start) + 1
    le = text.find("\n", end)
    le = len(text) if le == -1 else le
    line = text[ls:le]
    off = ls
    if len(line) > 180:
        for s, e in sentence_spans(line):
            if s + off <= start < e + off:
                line, off = line[s:e], off + s
                break
    stripped = _strip_bullet(line).strip()
    return stripped if stripped and stripped in text else line.strip()


# --------------------------------------------------------------------------------------------
# (b) evaluation

@dataclass
class Check:
    """One facet of a qualification (a term, a degree, a years requirement) and its verdict."""

    kind: str
    name: str
    verdict: str
    evidence_span: tuple[int, int] | None = None
    note: str = ""


def _resume_has(resume: Resume, term: Term) -> tuple[str, TermMatch | None]:
    """'met' when the résumé names the term or a more specific member of its family,
    'partial' when it names a sibling or the more general parent, else 'missing'."""
    if term.canonical in resume.terms:
        return "met", resume.terms[term.canonical]
    for m in resume.terms.values():
        if term.canonical in ancestors(m.term):
            return "met", m
    anc = ancestors(term)
    for m in resume.terms.values():
        if m.term.canonical in anc:
            return "partial", m
        if anc and anc[0] in ancestors(m.term) and m.term.category == term.category:
            return "partial", m
    return "missing", None


_FIELD_GROUPS = [
    {"computer science", "engineering", "mechanical engineering", "electrical engineering", "civil engineering",
     "industrial engineering", "aerospace engineering", "chemical engineering", "mathematics", "statistics",
     "data science", "physics"},
    {"business administration", "accounting", "finance", "economics", "marketing", "communications",
     "supply chain management", "human resources"},
    {"nursing", "biology", "chemistry", "psychology"},
    {"education", "English", "mathematics", "psychology"},
]


_FIELD_NAMES = {s.lower() for t in TERMS if t.category == "field" for s in t.synonyms}


def _degree_check(q_text: str, q_terms: list[TermMatch], resume: Resume) -> Check | None:
    degs = [m.term for m in q_terms if m.term.category == "degree"]
    if not degs:
        return None
    req_level = min(t.level or 3 for t in degs)
    optional = [(a.start(), a.end()) for a in re.finditer(r"\([^)]*\)", q_text) if _PREF_MARK_RE.search(a.group(0))]
    fields = {m.term.canonical for m in q_terms if m.term.category == "field"
              and not any(a <= m.start < b for a, b in optional)} | {t.field for t in degs if t.field}
    related = bool(re.search(r"\b(?:related|relevant|similar|equivalent|technical|quantitative|STEM)\b", q_text, re.I))
    alt_exp = bool(re.search(r"equivalent (?:work |practical |professional )?experience|or equivalent|"
                             r"combination of education and experience|in lieu", q_text, re.I))
    best: tuple[int, Check] | None = None
    for s, e, sec in resume.lines:
        line = resume.text[s:e]
        pdegs = find_terms(line, ["degree", "field"])
        plevels = [m.term.level or 0 for m in pdegs if m.term.category == "degree"]
        if not plevels:
            continue
        if sec not in ("education", "certifications", "summary") and max(plevels) <= 1:
            continue
        level = max(plevels)
        dm = next(m for m in pdegs if m.term.category == "degree" and m.term.level == level)
        pfields = {m.term.canonical for m in pdegs if m.term.category == "field"} | \
                  {m.term.field for m in pdegs if m.term.category == "degree" and m.term.field}
        pfields |= {a for f in list(pfields) for a in ancestors(BY_NAME[f])} if pfields else set()
        field_ok = not fields or bool(fields & pfields) or (
            related and any(fields & g and pfields & g for g in _FIELD_GROUPS))
        near = any(fields & g and pfields & g for g in _FIELD_GROUPS)
        if level >= req_level and field_ok:
            verdict, rank, note = "met", 3, ""
        elif level >= req_level and near:
            verdict, rank, note = "partial", 2, "degree in a neighbouring field"
        elif level == req_level - 1 and level >= 2:
            verdict, rank, note = "partial", 1, "lower degree level"
        else:
            continue
        chk = Check("degree", dm.term.canonical, verdict, (s + dm.start, s + dm.end), note)
        if best is None or rank > best[0]:
            best = (rank, chk)
    if best:
        return best[1]
    if alt_exp and resume.total_months() >= 48:
        role = max(resume.roles, key=lambda r: r.months)
        return Check("degree", degs[0].canonical, "partial", role.title_span, "equivalent experience instead")
    return Check("degree", degs[0].canonical, "missing")


def _relevant(role: Role, q_text: str, families: set[str], hard_terms: list[Term], domain: set[str]) -> bool:
    """A role counts towards "N years of X" when its title is in X's occupation family, its
    title or duties name one of X's skills/tools, or they share most of X's domain words."""
    ctx = role.context
    if families and families & occupation_families(role.title):
        return True
    ctx_terms = {m.term.canonical: m.term for m in find_terms(ctx)}
    for t in hard_terms:
        if t.canonical in ctx_terms or any(t.canonical in ancestors(ct) for ct in ctx_terms.values()):
            return True
    return bool(domain) and len(domain & content_words(ctx)) >= max(1, (len(domain) + 1) // 2)


_GENERIC_DOMAIN = {"professional", "relevant", "related", "work", "industry", "experience", "year", "role",
                   "full", "time", "full-time", "paid", "progressive", "combined", "total", "post", "including",
                   "direct", "increas", "responsibility", "least", "minimum", "overall", "environment", "setting",
                   "fast-paced", "similar", "field", "hand", "hands-on", "practical", "demonstrat", "recent"}


def _years_check(q_text: str, q_terms: list[TermMatch], resume: Resume) -> Check | None:
    spans = _years_spans(q_text)
    if not spans:
        return None
    need, a, b = spans[0]
    q_text = re.split(r"[,;(]\s*(?:ideally|preferably|especially|with a preference|bonus)\b", q_text, flags=re.I)[0]
    q_terms = [m for m in q_terms if m.start < len(q_text)]
    families = occupation_families(q_text) - {"management"} if not re.search(
        r"\b(?:manag|supervis|lead)", q_text, re.I) else occupation_families(q_text)
    hard_terms = [m.term for m in q_terms if m.term.category in ("skill", "license", "certification")]
    domain = content_words(q_text) - _GENERIC_DOMAIN - {_stem(w) for w in _NUMWORDS}
    domain = {w for w in domain if not w.isdigit()}
    generic = not families and not hard_terms and not domain
    rel = [r for r in resume.roles if generic or _relevant(r, q_text, families, hard_terms, domain)]
    total = resume.total_months() / 12.0
    rel_years = merge_months([(r.start, r.end) for r in rel]) / 12.0
    ev_role = max(rel, key=lambda r: r.months) if rel else (max(resume.roles, key=lambda r: r.months)
                                                            if resume.roles else None)
    span = ev_role.title_span if ev_role else None
    if not resume.roles and resume.stated_years:
        n, sa, sb = max(resume.stated_years)
        rel_years = total = n
        span = (sa, sb)
    note = f"{rel_years:.1f} years relevant" + (f" of {total:.1f} total" if total - rel_years >= 0.5 else "")
    if rel_years >= need - 0.25:
        verdict = "met"
    elif rel_years >= 0.5 * need:
        verdict = "partial"
    else:
        verdict = "missing"
        span = span if rel_years > 0 else None
    return Check("years", f"{need:g}+ years", verdict, span, note)


_OR_RE = re.compile(r"\bor\b|/|\beither\b|\bone of\b|\bsuch as\b|\be\.g\.|\blike\b|\bincluding\b|"
                    r"\bany\b|\bat least one\b|\bone or more\b|\bfor example\b|\bsimilar\b", re.IGNORECASE)
_AND_RE = re.compile(r"\band\b|;|\bplus\b|\bas well as\b|\balong with\b", re.IGNORECASE)


def _alternative_groups(text: str, hard: list[Term], q_terms: list[TermMatch]) -> list[list[Term]]:
    """Hard terms grouped into alternatives: 'Python and one of Go or Java' -> [[Python], [Go, Java]].

    Terms joined by 'and' / ';' start a new group; a comma list ending in 'or' (or introduced by
    'such as', 'e.g.', 'one of') is one group of alternatives; otherwise each term is its own group.
    """
    pos = {m.term.canonical: m for m in q_terms}
    ordered = sorted(hard, key=lambda t: pos[t.canonical].start)
    runs: list[list[Term]] = [[ordered[0]]]
    kinds: list[bool] = [bool(_OR_RE.search(text[max(0, pos[ordered[0].canonical].start - 14):pos[ordered[0].canonical].start]))]
    for prev, cur in zip(ordered, ordered[1:]):
        between = text[pos[prev.canonical].end:pos[cur.canonical].start]
        if _OR_RE.search(between):
            runs[-1].append(cur)
            kinds[-1] = True
        elif _AND_RE.search(between) or len(between) > 40:
            runs.append([cur])
            kinds.append(bool(_OR_RE.search(between)))
        else:
            runs[-1].append(cur)
    groups: list[list[Term]] = []
    for run, is_or in zip(runs, kinds):
        groups.extend([run] if is_or else [[t] for t in run])
    return groups


def _term_check(t: Term, resume: Resume) -> Check:
    if t.canonical == "English" and "English" not in resume.terms:
        first = resume.lines[0] if resume.lines else None
        return Check("language", t.canonical, "met", first[:2] if first else None, "profile written in English")
    verdict, m = _resume_has(resume, t)
    return Check(t.category, t.canonical, verdict, (m.start, m.end) if m else None)


def _overlap_check(q_text: str, resume: Resume) -> Check:
    words = content_words(q_text)
    best = (0.0, None)
    for s, e, _ in resume.lines:
        for ss, se in sentence_spans(resume.text[s:e]):
            ov = len(words & content_words(resume.text[s + ss:s + se]))
            ratio = ov / max(1, len(words))
            if ov and ratio > best[0]:
                best = (ratio, (s + ss, s + ss + 1))
    ratio, span = best
    if ratio >= 0.5 and len(words) >= 1:
        return Check("keywords", "keywords", "met", span)
    if ratio >= 0.25:
        return Check("keywords", "keywords", "partial", span)
    return Check("keywords", "keywords", "missing")


def evaluate_qualification(q: Qualification, resume: Resume) -> tuple[Evaluation, list[Check]]:
    """Step (b) for one qualification: facet checks combined into one verdict with evidence."""
    q_terms = find_terms(q.text)
    checks: list[Check] = []
    deg = _degree_check(q.text, q_terms, resume)
    if deg:
        checks.append(deg)
    yrs = _years_check(q.text, q_terms, resume)
    if yrs:
        checks.append(yrs)
    by_cat: dict[str, list[Term]] = {}
    for m in q_terms:
        if m.term.category in ("degree", "field"):
            continue
        by_cat.setdefault("soft" if m.term.category == "soft" else "hard", []).append(m.term)
    hard = by_cat.get("hard", [])
    hard = [t for t in hard if not any(a in {h.canonical for h in hard} for a in ancestors(t))]
    if deg:  # "BS in statistics, math or CS": subject names here are degree fields, not skills
        hard = [t for t in hard if t.canonical.lower() not in _FIELD_NAMES]
    if yrs:  # in "N years of X experience" the skills name the domain X (used for relevance)
        hard = [t for t in hard if t.category != "skill"]
    if hard:
        for group in _alternative_groups(q.text, hard, q_terms):
            checks_g = [_term_check(t, resume) for t in group]
            checks.append(max(checks_g, key=lambda c: VALUE[c.verdict]))
    soft = by_cat.get("soft", [])
    if soft and not hard and not deg and not yrs:
        for t in soft:
            verdict, m = _resume_has(resume, t)
            if verdict == "missing" and resume.roles:
                verdict = "partial"
            checks.append(Check("soft", t.canonical, verdict, (m.start, m.end) if m else None,
                                "" if m else "not stated; inferred from work history"))
    if not checks:
        checks.append(_overlap_check(q.text, resume))
    verdicts = {c.verdict for c in checks}
    if verdicts == {"met"}:
        verdict = "met"
    elif verdicts == {"missing"}:
        verdict = "missing"
    else:
        met_share = sum(VALUE[c.verdict] for c in checks) / len(checks)
        verdict = "partial" if met_share > 0 else "missing"
    evidence = None
    if verdict != "missing":
        ranked = sorted((c for c in checks if c.evidence_span), key=lambda c: -VALUE[c.verdict])
        if ranked:
            evidence = evidence_at(resume, *ranked[0].evidence_span)
    return Evaluation(qualification=q.text, verdict=verdict, evidence=evidence), checks


# --------------------------------------------------------------------------------------------
# (c) summary

_MARKER_TAIL_RE = re.compile(r"[\s,;(]*(?:\(?(?:is |are )?(?:strongly |highly )?(?:required|preferred|a plus|"
                             r"a big plus|nice to have|a bonus|desired|desirable)\)?)$", re.IGNORECASE)
_LOWER_FIRST = set("""ability able experience strong excellent solid proven demonstrated working knowledge proficiency
proficient familiarity familiar current valid active advanced basic good hands-on understanding at a an the
minimum two three four five one bachelor's master's associate's bachelor master high typing fluency fluent
bilingual background must previous prior some degree certification license has have is knows understands
applies uses can brings holds possesses demonstrates speaks""".split()) | {
    w.split()[0].lower() for t in TERMS for w in t.synonyms if w[:1].islower()}


def _short(text: str, limit: int = 90) -> str:
    """A qualification as a phrase for an explanation line: markers dropped, lower-cased, clipped."""
    t = _MARKER_TAIL_RE.sub("", text.strip().rstrip(".")).strip() or text.strip()
    first = t.split(" ", 1)[0]
    if first.lower() in _LOWER_FIRST and first[1:] == first[1:].lower():
        t = t[:1].lower() + t[1:]
    if len(t) > limit:
        t = t[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "..."
    return t


def score_evaluation(quals: Sequence[Qualification], evals: Sequence[Evaluation],
                     checks: Sequence[Sequence[Check]] | None = None) -> tuple[float, str, dict[str, Any]]:
    """The documented scoring rule (module docstring) -> (score, label, details)."""
    req = [VALUE[e.verdict] for q, e in zip(quals, evals) if q.importance == "required"]
    pref = [VALUE[e.verdict] for q, e in zip(quals, evals) if q.importance == "preferred"]
    r = sum(req) / len(req) if req else None
    p = sum(pref) / len(pref) if pref else None
    if r is not None and p is not None:
        score = REQUIRED_WEIGHT * r + (1 - REQUIRED_WEIGHT) * p
    else:
        score = r if r is not None else (p if p is not None else 0.0)
    capped = None
    if checks is not None:
        for q, e, cs in zip(quals, evals, checks):
            if q.importance != "required":
                continue
            missing = {c.kind for c in cs if c.verdict == "missing"}
            if "license" in missing:
                capped = "license"
            elif missing & {"certification", "degree"} and capped is None:
                capped = "credential"
    if capped == "license":
        score = min(score, LICENSE_CAP)
    elif capped:
        score = min(score, HARD_CAP)
    score = round(score, 3)
    label = "High" if score >= HIGH_THRESHOLD else "Medium" if score >= MEDIUM_THRESHOLD else "Low"
    return score, label, {"required_share": r, "preferred_share": p, "hard_cap": capped}


def _line(q: Qualification, e: Evaluation, cs: Sequence[Check]) -> str:
    what = _short(q.text)
    tag = " (preferred)" if q.importance == "preferred" else ""
    note = next((c.note for c in cs if c.kind == "years" and c.note), "")
    note = note or next((c.note for c in cs if c.note and c.verdict != "met"), "")
    if e.verdict == "met":
        return f"Meets {what}{tag}" + (f" ({note})" if note and any(c.kind == "years" for c in cs) else "")
    if e.verdict == "partial":
        return f"Partially meets {what}{tag}" + (f" ({note})" if note else "")
    return f"Missing {what}{tag}" + (f" ({note})" if note and any(c.kind == "years" for c in cs) else "")


def explain(quals: Sequence[Qualification], evals: Sequence[Evaluation], checks: Sequence[Sequence[Check]],
            label: str) -> list[str]:
    """Explanation lines: key qualifications (required first, gaps before met ones so a truncated list
    still shows why the fit is not High, hard facts before soft skills), then a summary."""
    order = sorted(range(len(quals)), key=lambda i: (quals[i].importance != "required", evals[i].verdict == "met",
                                                     all(c.kind == "soft" for c in checks[i]), i))
    lines = [_line(quals[i], evals[i], checks[i]) for i in order[:MAX_EXPLANATION_LINES - 1]]
    req = [e for q, e in zip(quals, evals) if q.importance == "required"]
    pref = [e for q, e in zip(quals, evals) if q.importance == "preferred"]
    summary = f"Overall {label.lower()} fit: meets {sum(e.verdict == 'met' for e in req)} of {len(req)} " \
              f"required qualifications"
    if any(e.verdict == "partial" for e in req):
        summary += f" ({sum(e.verdict == 'partial' for e in req)} partially)"
    if pref:
        summary += f" and {sum(e.verdict == 'met' for e in pref)} of {len(pref)} preferred"
    lines.append(summary)
    return lines


def assess(job_text: str, resume_text: str) -> tuple[FitResult, dict[str, Any]]:
    """The whole decomposed protocol for one pair -> (result, intermediate steps)."""
    quals = extract_requirements(job_text)
    if not quals:
        title = job_title(job_text) or "the role"
        quals = [Qualification(text=f"Relevant experience for {title}", importance="required")]
    resume = parse_resume(resume_text)
    evals, checks = [], []
    for q in quals:
        e, cs = evaluate_qualification(q, resume)
        evals.append(e)
        checks.append(cs)
    score, label, details = score_evaluation(quals, evals, checks)
    result = FitResult(qualifications=quals, evaluation=evals, label=label, score=score,
                       explanation=explain(quals, evals, checks, label))
    steps = {
        "extraction": [asdict(q) for q in quals],
        "evaluation": [{**asdict(e), "checks": [{"kind": c.kind, "name": c.name, "verdict": c.verdict,
                                                 "note": c.note} for c in cs]}
                       for e, cs in zip(evals, checks)],
        "resume": {"roles": len(resume.roles), "total_years": round(resume.total_months() / 12, 2)},
        "score": {"score": score, "label": label, **details},
    }
    return result, steps


class RubricTeacher:
    """Deterministic offline T1 (Teacher protocol): `label(pairs)` runs `assess` on each pair."""

    name = "rubric"

    def __init__(self, cfg: Profile | None = None):
        self.cfg = cfg

    def label(self, pairs: Sequence[Pair]) -> list[TeacherOutput]:
        out = []
        for p in pairs:
            result, steps = assess(p.job_text, p.resume_text)
            out.append(TeacherOutput(pair_id=p.pair_id, raw=json.dumps(result.to_dict(), ensure_ascii=False),
                                     result=result, meta={"steps": steps}))
        return out
