"""PII redaction applied to every message before it leaves the machine (the `openai` backend).

Emails, phone numbers, URLs and social handles become the placeholders `[EMAIL]`, `[PHONE]`,
`[URL]` and `[HANDLE]`. Social profile links (linkedin.com/in/..., github.com/..., x.com/...)
are handles, not URLs, because they identify a person. The patterns are conservative about
what a job ad or resume legitimately contains: date ranges ("2015-2019"), salaries, version
numbers and tech names such as "ASP.NET" or "Node.js" are left alone.
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

_EMAIL_RE = re.compile(
    r"[A-Za-z0-9._%+\-]+\s*(?:@|\[at\]|\(at\))\s*[A-Za-z0-9\-]+(?:\s*(?:\.|\[dot\]|\(dot\))\s*[A-Za-z0-9\-]+)*"
    r"\s*(?:\.|\[dot\]|\(dot\))\s*[A-Za-z]{2,}\b")
_SPOKEN_EMAIL_RE = re.compile(rf"\b[A-Za-z0-9._\-]+ at [A-Za-z0-9\-]+(?: dot [A-Za-z0-9\-]+)* dot (?:{_TLDS})\b")
_SOCIAL_RE = re.compile(
    r"(?:https?://)?(?:[a-z]{2,3}\.)?(?:www\.)?"
    r"(?:linkedin\.com/(?:in|pub|profile)|github\.com|gitlab\.com|twitter\.com|x\.com|instagram\.com|"
    r"facebook\.com|fb\.com|medium\.com/@?|t\.me|tiktok\.com/@?|stackoverflow\.com/users|behance\.net|"
    r"dribbble\.com|kaggle\.com)/[^\s,;)\]>\"']+", re.IGNORECASE)
_URL_RE = re.compile(
    r"(?:(?:https?|ftp)://|www\.)[^\s<>\"')\]]+"
    rf"|\b(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+(?:{_TLDS})\b(?:/[^\s<>\"')\]]*)?")
_PHONE_RE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[\s.\-]?(?:\(\d{1,4}\)[\s.\-]?)?\d{1,4}(?:[\s.\-]?\d{2,4}){1,4}"  # +44 20 7946 0958, +1-415-555-0100
    r"|(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}"  # (415) 555-0100, 415.555.0100, 415 555 0100
    r"|0\d{2,4}[\s\-]\d{3,4}[\s\-]?\d{3,4}"  # national trunk prefix: 020 7946 0958
    r")(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![\w])")
_LOCAL_PHONE_RE = re.compile(r"(?i)\b((?:phone|tel|telephone|call|mobile|cell|ph|m|t)\.?:?\s*)\d{3}[.\-]\d{4}\b")
_HANDLE_RE = re.compile(r"(?<![\w.@/\[])@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,38}[A-Za-z0-9_])?")


def _url_sub(m: re.Match[str]) -> str:
    text = m.group(0)
    if text.lower().rstrip(".") in _NOT_DOMAINS:
        return text
    trail = ""
    while text and text[-1] in ".,;:!?":
        trail, text = text[-1] + trail, text[:-1]
    return URL + trail


def _phone_sub(m: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in m.group(0))
    return PHONE if 7 <= digits <= 15 else m.group(0)


def redact(text: str) -> str:
    """`text` with emails, phone numbers, URLs and social handles replaced by placeholders."""
    if not text:
        return text
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _SPOKEN_EMAIL_RE.sub(EMAIL, text)
    text = _SOCIAL_RE.sub(HANDLE, text)
    text = _URL_RE.sub(_url_sub, text)
    text = _PHONE_RE.sub(_phone_sub, text)
    text = _LOCAL_PHONE_RE.sub(lambda m: m.group(1) + PHONE, text)
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
