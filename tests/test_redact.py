"""PII redaction: every email, phone, URL and handle becomes a placeholder; job text survives."""
from __future__ import annotations

import pytest

from lantern_nb.redact import redact, redact_messages

PII = [
    ("jane.doe+jobs@example.co.uk", "[EMAIL]"),
    ("j_smith@mail.company.com", "[EMAIL]"),
    ("jane[at]gmail[dot]com", "[EMAIL]"),
    ("jane at gmail dot com", "[EMAIL]"),
    ("+1 (415) 555-0100", "[PHONE]"),
    ("+1-415-555-0100", "[PHONE]"),
    ("+44 20 7946 0958", "[PHONE]"),
    ("+49 30 12345678", "[PHONE]"),
    ("(212) 555-0199", "[PHONE]"),
    ("415.555.0123", "[PHONE]"),
    ("415 555 0123", "[PHONE]"),
    ("020 7946 0958", "[PHONE]"),
    ("Tel: 555-0100", "[PHONE]"),
    ("https://careers.acme.com/jobs?id=42", "[URL]"),
    ("www.janedoe.dev", "[URL]"),
    ("janedoe.io/portfolio", "[URL]"),
    ("linkedin.com/in/jane-doe-123", "[HANDLE]"),
    ("https://www.linkedin.com/in/jane-doe/", "[HANDLE]"),
    ("github.com/janedoe", "[HANDLE]"),
    ("https://twitter.com/jane_doe", "[HANDLE]"),
    ("@janedoe_dev", "[HANDLE]"),
]


@pytest.mark.parametrize("pii,placeholder", PII)
def test_each_kind_is_replaced(pii: str, placeholder: str) -> None:
    out = redact(f"Contact: {pii} (thanks)")
    assert placeholder in out
    assert pii not in out


def test_ordinary_resume_text_is_kept() -> None:
    text = ("Senior Engineer, 2015-2019; 2019 - Present. Salary $120,000. Python 3.11, ASP.NET, Node.js, C#, "
            "C++. ISO 9001:2015 audits. Grew revenue 35% for 100-2000 employee firms. 5+ years of SQL.")
    assert redact(text) == text


def test_full_resume_leaves_no_pii() -> None:
    resume = """Jane Doe
jane.doe@example.com | +1 (415) 555-0100 | linkedin.com/in/janedoe | github.com/jdoe | @jdoe
Portfolio: https://janedoe.dev/work
Experience: Data Engineer at Acme (2018-2023). Call me at 415-555-0199."""
    out = redact(resume)
    for bit in ("jane.doe@", "555-0100", "555-0199", "linkedin.com", "github.com", "@jdoe", "janedoe.dev"):
        assert bit not in out
    assert "Data Engineer at Acme (2018-2023)" in out


def test_redact_messages_copies() -> None:
    msgs = [{"role": "user", "content": "mail a@b.io"}]
    out = redact_messages(msgs)
    assert out[0]["content"] == "mail [EMAIL]"
    assert msgs[0]["content"] == "mail a@b.io"
