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


# Every phone format, as written in resumes and job ads; each is embedded in every template.
MUST_REDACT = [
    "Phone: 4155550177",  # reported: 10 digits, no separators, after a cue
    "06 12 34 56 78",  # reported: French pairs
    "06.12.34.56.78",
    "+33 6 12 34 56 78",
    "0033 6 12 34 56 78",
    "+33612345678",
    "Tél. : 06 12 34 56 78",
    "030 1234 5678",  # German
    "0171 1234567",
    "030/1234567",
    "Telefon: 0171/1234567",
    "+49 171 1234567",
    "06-12345678",  # Dutch
    "+31 6 12345678",
    "+91 98765 43210",  # Indian
    "98765 43210",
    "+91-9876543210",
    "0412 345 678",  # Australian
    "(02) 9876 5432",
    "+61 412 345 678",
    "07700 900123",  # UK
    "+44 (0)20 7946 0958",
    "0800 123 4567",
    "(11) 91234-5678",  # Brazilian
    "+55 (11) 91234-5678",
    "03-1234-5678",  # Japanese
    "090-1234-5678",
    "+81 3-1234-5678",
    "415-555-0177",  # US
    "(415) 555-0177",
    "1-800-555-0199",
    "+1(415)555-0100",
    "+1 415 555 0177 ext. 42",
    "415.555.0177 x42",
    "+34 612 345 678",  # Spanish, 3-3-3 only with + or a cue
    "Phone: 612 345 678",
    "Tel 0612345678",
    "tel.0612345678",
    "Mobile: +33 6 12 34 56 78",
    "WhatsApp 919876543210",
    "M: 0612345678",
    "T. 030 12345678",
    "Fax: 020 7946 0958",
    "Cell #4155550177",
    "Phone no. 4155550177",
    "call me at 4155550177",
    "ph 4155550177",
    "Mobil: 91234567",  # 8-digit national number after a cue
    "06 12 34 56 78 / 07 12 34 56 78",  # two numbers in one run
    "06 12 34 56 78/07 12 34 56 78",
    "Phone: 0612345678 0712345678",
]
TEMPLATES = ["{}", "Reach me on {} any time.", "Jane Doe | {} | Lyon"]

# Job and resume text that looks numeric but is not a phone; must come back byte-identical.
MUST_KEEP = [
    "Senior Engineer 2015-2019",
    "2019 - 2023",
    "2015–2019",
    "Call center agent 2016-2020, 50 calls/day",
    "Mobile development 2019-2023",
    "Mobile 2019-2023",
    "Tel Aviv office, 2018 - 2022",
    "Ph.D. 2015-2019, M.Sc. 2012 - 2014",
    "Salary $120,000 per year",
    "€45.000 - €55.000",
    "Salary: 45 000 - 55 000 EUR",
    "120000",
    "1 000 000 users, budget of 120.000.000 EUR, 1 000 000 000 in revenue",
    "Contact 1 000 000 customers",
    "+1 000 000 users",
    "Req ID 4155550177",  # bare run without cue: ids and order numbers look like this
    "Invoice 0612345678",
    "Order #4155550177",
    "612 345 678",
    "Python 3.11, Python 3.11.4, Node 18.17.1",
    "v2.10.4, v1.2.3-rc.4",
    "1.2.3.4 and 192.168.100.200",
    "3.14159265358979",
    "ISO 9001:2015",
    "ISO 27001",
    "ISO/IEC 27001:2013, IEC 62443-3-3, EN 1090-2:2018",
    "ISBN 978-3-16-148410-0",
    "Grew revenue 35% and margin 12.5%",
    "100-2000 employees",
    "2,000-5,000 employees",
    "75008 Paris",
    "SW1A 1AA",
    "Postcodes 75001-75020",
    "9:00-17:30",
    "9:00 - 17:30",
    "08.30-12.00 / 13.30-17.30",
    "2023-01-15",
    "2023-01-15 09:30",
    "15.01.2023",
    "01/15/2023",
    "15/01/2023 - 20/01/2023",
    "01.2020 - 12.2023",
    "03.2019-05.2021",
    "01.01.2020-31.12.2023",
    "2015 2016 2017 2018",
    "Java 8 11 17 21",
    "1920 x 1080",
    "pH 7.4",
    "UTC+01:00",
    "C++ 17, 5+ years",
]


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("phone", MUST_REDACT)
def test_phone_formats_are_redacted(phone: str, template: str) -> None:
    out = redact(template.format(phone))
    assert "[PHONE]" in out
    assert not any(c.isdigit() for c in out), out


@pytest.mark.parametrize("text", MUST_KEEP)
def test_numbers_that_are_not_phones_are_kept(text: str) -> None:
    assert redact(text) == text


def test_phone_cue_and_neighbours_survive() -> None:
    assert redact("Phone: 4155550177, ID 4155550177") == "Phone: [PHONE], ID 4155550177"
    assert redact("Paris 75008, tel 06 12 34 56 78 / 07 12 34 56 78.") == "Paris 75008, tel [PHONE] / [PHONE]."
    assert redact("+1 415 555 0177 ext. 42 (2019-2023)") == "[PHONE] (2019-2023)"

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
