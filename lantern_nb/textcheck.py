"""The one check every user-supplied text passes (job ads, résumés): size, control bytes, markup.

A job ad or résumé reaches the package through the CLIs (`compress`, `teach`, `fit`), the HTTP
service and the notebook widget; all of them call `check_text` (files via `read_text_file`), so
they refuse the same inputs with the same one-line message naming the problem, the input and
the fix. The size limit is the run profile's `serving.max_text_chars`; a file's size is taken
from `stat` before it is read, so a huge file is refused at once. Every rule runs on at most
`max_chars` characters, so a refusal takes milliseconds whatever the input size.
"""
from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_DOC_START_RE = re.compile(r"\s*(?:<!doctype\b|<html\b|<\?xml\b)", re.IGNORECASE)
_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9:._-]*(?:\s[^<>]*)?/?>|<![^<>]*>|<\?[^<>]*\?>")
_OPEN_TAG_RE = re.compile(r"<[A-Za-z][A-Za-z0-9:._-]*(?:\s[^<>]*)?>")
_CLOSE_TAG_END_RE = re.compile(r"</[A-Za-z][A-Za-z0-9:._-]*\s*>\Z")
MARKUP_SHARE = 0.5  # tags making up more than this share of the non-space characters: a markup file
UTF8_MAX_BYTES_PER_CHAR = 4
_HTML_FIX = ("save it as plain text (e.g. copy the text from the browser, or `python -m html2text` / "
             "`lynx -dump`)")


class TextRefused(ValueError):
    """A text the package will not process; `status` is the HTTP status the service answers with
    (413 too large, 422 unusable content) and `code` a short machine-readable reason."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@functools.lru_cache(maxsize=1)
def default_max_chars() -> int:
    """The cpu profile's `serving.max_text_chars`: the limit where no run profile is given."""
    from lantern_nb.profiles import load_profile

    return load_profile("cpu").serving.max_text_chars


def _too_long(subject: str, size: str, max_chars: int) -> TextRefused:
    return TextRefused(413, "text_too_long",
                       f"{subject} has {size}, over the limit of {max_chars} characters (serving.max_text_chars); "
                       f"shorten it (for a job, keep the requirements section)")


def _binary(subject: str, where: str, path: str | Path | None) -> TextRefused:
    fix = (f"if it is UTF-16 text convert it: `iconv -f utf-16 -t utf-8 {shlex.quote(str(path))} > "
           f"{shlex.quote(str(path) + '.utf8')}`, if it is a PDF or Word file save it as plain text"
           if path is not None else "send plain text (this looks like a binary file's content)")
    return TextRefused(422, "binary_text", f"{subject} contains NUL bytes (first at {where}), so it is binary, "
                                           f"not text; {fix}")


def markup_share(text: str) -> float:
    """Share of the non-whitespace characters that sit inside HTML/XML tags."""
    dense = sum(1 for ch in text if not ch.isspace())
    if not dense:
        return 0.0
    tagged = sum(len(m.group(0)) - m.group(0).count(" ") for m in _TAG_RE.finditer(text))
    return tagged / dense


def _markup_reason(text: str) -> str | None:
    """Why `text` looks like an HTML/XML document rather than plain text, or None."""
    start = _DOC_START_RE.match(text)
    if start is not None:
        return f"is an HTML/XML document (it starts with '{start.group(0).strip()}')"
    stripped = text.strip()
    if _OPEN_TAG_RE.match(stripped) and _CLOSE_TAG_END_RE.search(stripped[-200:]):
        return "is an HTML/XML document (it is wrapped in tags)"
    share = markup_share(text)
    if share > MARKUP_SHARE:
        return f"is mostly HTML/XML markup ({share:.0%} of it is tags)"
    return None


def check_text(text: str, what: str, max_chars: int | None = None, *, path: str | Path | None = None) -> str:
    """Return `text` unchanged if it is usable plain text, else raise `TextRefused`.

    `what` names the text in the message ("job", "resume", "field 'text'"); with `path` the
    message names the file and the fixes are file commands. Rules, in order: not empty or
    whitespace only; at most `max_chars` characters (default `default_max_chars()`); no NUL
    and no control characters except tab, newline, carriage return and form feed; not an
    HTML/XML document (starts with `<!DOCTYPE`, `<html` or `<?xml`, is wrapped in tags, or
    more than half of its non-space characters are tags).
    """
    limit = default_max_chars() if max_chars is None else max_chars
    subject = f"{what} file {path}" if path is not None else what
    if not text.strip():
        if path is not None:
            raise TextRefused(422, "empty_text", f"{what} file is empty: {path}; put the {what} text in it")
        raise TextRefused(422, "empty_text", f"{what} is empty or whitespace only; put the text in it")
    if len(text) > limit:
        raise _too_long(subject, f"{len(text)} characters", limit)
    nul = text.find("\0")
    if nul >= 0:
        raise _binary(subject, f"character {nul}", path)
    m = _CONTROL_RE.search(text)
    if m is not None:
        raise TextRefused(422, "control_characters",
                          f"{subject} contains control character U+{ord(m.group(0)):04X} at character {m.start()} "
                          f"(binary or corrupted text); save it as plain text without control characters")
    reason = _markup_reason(text)
    if reason is not None:
        raise TextRefused(422, "markup_text", f"{subject} {reason}, not plain text; {_HTML_FIX}")
    return text


def read_text_file(path: str | Path, what: str, max_chars: int | None = None) -> str:
    """A user's UTF-8 text file (a job ad, a résumé) that passed `check_text`.

    The size comes from `stat` first: a file whose bytes could not fit in `max_chars` characters
    is refused without being read, and no more than that many bytes are ever read. A leading
    UTF-8 byte-order mark (Windows editors) is dropped.
    """
    p = Path(path)
    limit = default_max_chars() if max_chars is None else max_chars
    if not p.is_file():
        raise FileNotFoundError(f"{what} file not found: {p} (missing or not a regular file); "
                                f"pass the path to a text file")
    max_bytes = UTF8_MAX_BYTES_PER_CHAR * limit + 3  # + a 3-byte BOM
    size = p.stat().st_size
    if size > max_bytes:
        raise _too_long(f"{what} file {p}", f"{size} bytes", limit)
    with p.open("rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_long(f"{what} file {p}", f"over {max_bytes} bytes", limit)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        src, dst = shlex.quote(str(p)), shlex.quote(str(p) + ".utf8")
        if b"\0" in data:  # latin-1 text has no NULs; UTF-16 (or a binary file) does
            guess, name, enc = "; it has NUL bytes, so it is likely UTF-16 or binary", "UTF-16", "utf-16"
        else:
            guess, name, enc = "", "latin-1", "latin1"
        raise TextRefused(422, "not_utf8",
                          f"{what} file {p} is not UTF-8 text (bad byte at offset {e.start}{guess}); if it is "
                          f"{name} text convert it: `iconv -f {enc} -t utf-8 {src} > {dst}`, if it is a PDF or "
                          f"Word file save it as plain text") from None
    return check_text(text, what, limit, path=p)
