"""PII redaction applied to every message before it leaves the machine (the `openai` backend).

Emails, phone numbers, URLs and social handles become the placeholders `[EMAIL]`, `[PHONE]`,
`[URL]` and `[HANDLE]`. Social-network account links (linkedin.com/in/..., github.com/..., x.com/...)
are handles, not URLs, because they identify a person. The patterns are conservative about
what a job ad or resume legitimately contains: date ranges ("2015-2019"), salaries, version
numbers and tech names such as "ASP.NET" or "Node.js" are left alone.

Phone numbers: a candidate is a run of digit groups joined by a space, dot, dash or slash, with
an optional `+`, parenthesised area code and extension ("x42"). It is a phone when it has at most
15 digits, is not date-shaped (only years and 1-2 digit groups: "2019 - 2023", "03.2019-05.2021")
and either
- starts with `+` and has 9+ digits; or
- follows a phone cue (phone, tel, mobile, cell, call, ph, m, t, whatsapp, fax, contact, ..., with
  or without ":") and has 8+ digits as a bare run (DK/NO/SG/HK numbers have 8), 7+ separated
  ("Tel: 555-0100") unless amount-shaped ("call 1 000 000 people"); or
- has 9+ digits in a national shape: `00` + country code; a `0` trunk prefix then groups of 2+
  digits, at most 12 digits, exactly five if all pairs (FR, DE, NL, UK, AU, JP); a parenthesised
  area code (BR, AU, US); NANP 3-3-4 or 1-3-3-4; Indian 5 5 starting with 6-9.
  Here the separators after the first must be of one style.
A spaced " - " or " / " may only follow the first group (except after `+`: never), so lists and
time or date ranges never join into one number.
A run holding several numbers ("06 12 34 56 78/07 12 34 56 78") has each one redacted.

Deliberately kept, because ids, amounts and dates look the same: a bare digit run without `+`
or cue ("Req ID 4155550177", also "0612345678"); 3-3-3 groups ("612 345 678" reads as
612,345,678); 8 or fewer separated digits without a cue ("2345 6789").
"""
from __future__ import annotations

import re
from typing import Any, Iterable

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
URL = "[URL]"
HANDLE = "[HANDLE]"

_TLDS = ("com|org|net|io|dev|co|ai|app|edu|gov|me|info|biz|us|uk|de|fr|es|it|nl|ca|au|in|ch|se|no|dk|"
         "fi|pl|jp|cn|br|eu|tech|site|online|xyz|page|blog|ly|gg|tv")
_NOT_DOMAINS = {"asp.net", "ado.net", "vb.net", "node.js", "vue.js", "next.js", "react.js"}

# Length bounds (64-char local part, 63-char DNS label, 10 labels) keep every pattern linear in the
# text length.
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9._%+\-]{1,64}\s*(?:@|\[at\]|\(at\))\s*[A-Za-z0-9\-]+"
    r"(?:\s*(?:\.|\[dot\]|\(dot\))\s*[A-Za-z0-9\-]+)*\s*(?:\.|\[dot\]|\(dot\))\s*[A-Za-z]{2,}\b")
_SPOKEN_EMAIL_RE = re.compile(
    rf"\b[A-Za-z0-9._\-]{{1,64}} at [A-Za-z0-9\-]+(?: dot [A-Za-z0-9\-]+)* dot (?:{_TLDS})\b")
_SOCIAL_RE = re.compile(
    r"(?:https?://)?(?:[a-z]{2,3}\.)?(?:www\.)?"
    r"(?:linkedin\.com/(?:in|pub|profile)|github\.com|gitlab\.com|twitter\.com|x\.com|instagram\.com|"
    r"facebook\.com|fb\.com|medium\.com/@?|t\.me|tiktok\.com/@?|stackoverflow\.com/users|behance\.net|"
    r"dribbble\.com|kaggle\.com)/[^\s,;)\]>\"']+", re.IGNORECASE)
_URL_RE = re.compile(
    r"(?:(?:https?|ftp)://|www\.)[^\s<>\"')\]]+"
    rf"|\b(?:[a-z0-9](?:[a-z0-9\-]{{0,61}}[a-z0-9])?\.){{1,10}}(?:{_TLDS})\b(?:/[^\s<>\"')\]]*)?")
_HANDLE_RE = re.compile(r"(?<![\w.@/\[])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,38}[A-Za-z0-9_])?")

_CUES = (r"phone|t[eé]l[eé]phone|telefon|tel[eé]fono|t[eé]l|mobile|mobil|mob|cellphone|cellular|cell|celular|handy|"
         r"portable|whatsapp|fax|contact|sms|ph|m|t|call(?:\s{1,3}me)?(?:\s{1,3}(?:at|on))?")
_SEP = r"(?:[ \u00a0]?[/\-][ \u00a0]?|[ .\u00a0])"
_PAREN = r"\(\d{1,5}\)[ \u00a0.\-]?"
_PHONE_RE = re.compile(
    rf"(?P<lead>\b(?:{_CUES})\b\.?(?:\s{{0,3}}(?:number|num|nr|no)\b\.?|\s{{0,3}}(?:n°|#))?"
    r"\s{0,3}(?:[:#\-–]\s{0,3})?)?"
    rf"(?<![\w+])(?P<num>(?:\+[ \u00a0]?)?(?:{_PAREN})?\d+(?:(?:{_SEP}|(?=\())(?:{_PAREN})?\d+)*)"
    r"(?P<ext>[ \u00a0]?(?:ext(?:ension)?\.?|x)[ \u00a0]?\d{1,5}\b)?",
    re.IGNORECASE)
_GROUP_RE = re.compile(r"\((\d+)\)|(\d+)")
_MAX_GROUPS = 8  # the most digit groups one phone number is written in ("+33 6 12 34 56 78" has 6)


def _url_sub(m: re.Match[str]) -> str:
    text = m.group(0)
    if text.lower().rstrip(".") in _NOT_DOMAINS:
        return text
    trail = ""
    while text and text[-1] in ".,;:!?":
        trail, text = text[-1] + trail, text[:-1]
    return URL + trail


def _date_like(groups: list[str]) -> bool:
    """Only years and 1-2 digit groups, with at least one year: "2019-2023", "15.01.2023"."""
    years = sum(len(g) == 4 and g[:2] in ("19", "20") for g in groups)
    return years > 0 and years + sum(len(g) <= 2 for g in groups) == len(groups)


def _thousands(groups: list[str]) -> bool:
    """Grouped like an amount: "1 000 000", "120.000.000"."""
    return groups[0][0] != "0" and len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])


def _is_phone(groups: list[str], paren_first: bool, seps: list[str], plus: bool, cue: bool) -> bool:
    """Whether digit `groups`, joined by `seps`, are a phone number under the module's rules."""
    digits = "".join(groups)
    n = len(digits)
    if not 7 <= n <= 15 or _date_like(groups):
        return False
    spaced = [s != s.strip() and s.strip() != "" for s in seps]  # " - ", " / "
    if plus and n >= 9 and not any(spaced):
        return True
    if any(spaced[1:]):
        return False
    if cue:
        return n >= 8 if len(groups) == 1 else n >= 9 or not _thousands(groups)
    if plus or len(groups) == 1 or n < 9 or len(set(seps[1:])) > 1:
        return False
    first, lens = groups[0], [len(g) for g in groups]
    if digits.startswith("00"):
        return digits[2] != "0"
    if paren_first:
        return 2 <= len(first) <= 4 and n <= 12 and min(lens[1:]) >= 3
    if first[0] == "0":
        if not 2 <= len(first) <= 6 or n > 12 or min(lens[1:]) < 2 or max(lens) > 8:
            return False
        return set(lens) != {2} or n == 10
    if lens == [3, 3, 4] and first[0] in "23456789" or lens == [1, 3, 3, 4] and first == "1":
        return True
    return lens == [5, 5] and first[0] in "6789" and seps[0] in (" ", "\u00a0")


def _phone_sub(m: re.Match[str]) -> str:
    """The match with each phone-shaped stretch of its digit run replaced; the cue is kept."""
    num, base = m.group("num"), m.start("num") - m.start()
    plus, cue = num.startswith("+"), m.group("lead") is not None
    toks = list(_GROUP_RE.finditer(num))
    groups = [t.group(1) or t.group(2) for t in toks]
    seps = [num[a.end():b.start()] for a, b in zip(toks, toks[1:])]
    ends = [0]
    for g in groups:
        ends.append(ends[-1] + len(g))
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(toks):
        for j in range(min(len(toks), i + _MAX_GROUPS), i, -1):
            if 7 <= ends[j] - ends[i] <= 15 and _is_phone(groups[i:j], toks[i].group(1) is not None, seps[i:j - 1],
                                                          plus and i == 0, cue):
                spans.append((0 if i == 0 else toks[i].start(), toks[j - 1].end()))
                i = j
                break
        else:
            i += 1
    if not spans:
        return m.group(0)
    text = m.group(0)
    if spans[-1][1] == len(num) and m.group("ext"):
        spans[-1] = (spans[-1][0], len(num) + len(m.group("ext")))
    out, pos = [text[:base]], base
    for a, b in spans:
        out += [text[pos:base + a], PHONE]
        pos = base + b
    out.append(text[pos:])
    return "".join(out)


def redact(text: str) -> str:
    """`text` with emails, phone numbers, URLs and social handles replaced by placeholders."""
    if not text:
        return text
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _SPOKEN_EMAIL_RE.sub(EMAIL, text)
    text = _SOCIAL_RE.sub(HANDLE, text)
    text = _URL_RE.sub(_url_sub, text)
    text = _PHONE_RE.sub(_phone_sub, text)
    return _HANDLE_RE.sub(HANDLE, text)


def redact_messages(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of chat `messages` with every string `content` redacted."""
    out = []
    for msg in messages:
        msg = dict(msg)
        if isinstance(msg.get("content"), str):
            msg["content"] = redact(msg["content"])
        out.append(msg)
    return out
