"""clean_text / clean_optional: the hygiene every field goes through.

Cases are the dirt real exports carry: CRLF and BOMs from RIS files, NBSP from catalogue
HTML, U+2028 inside Crossref abstracts, decomposed accents from MARC-8 records, NULs and
lone surrogates from broken decoders.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.normalize.text import clean_optional, clean_text

TEXT_CASES = [
    ("Experimental and therapeutic medicine", "Experimental and therapeutic medicine"),
    ("  padded  ", "padded"),
    ("two  spaces", "two spaces"),
    ("tab\tseparated", "tab separated"),
    ("line\r\nbreak", "line break"),  # RIS exported on Windows
    ("line\nbreak\n", "line break"),
    ("\ufeffTitle with BOM", "Title with BOM"),
    ("non\u00a0breaking\u00a0space", "non breaking space"),  # catalogue HTML &nbsp;
    ("thin\u2009space and\u202fnarrow", "thin space and narrow"),
    ("ideographic\u3000space", "ideographic space"),
    ("abstract\u2028second line", "abstract second line"),  # Crossref JATS abstracts
    ("para\u2029graph", "para graph"),
    ("next\x85line", "next line"),
    ("vertical\vtab\fform feed", "vertical tab form feed"),
    ("file\x1cgroup\x1drecord\x1eseparators", "file group record separators"),
    ("nul\x00byte", "nulbyte"),
    ("bell\x07 and escape\x1b", "bell and escape"),
    ("delete\x7f", "delete"),
    ("C1\x80\x9fcontrols", "C1controls"),
    ("caf\u0065\u0301", "caf\u00e9"),  # MARC-8 decomposed accent -> NFC
    ("Mu\u0308ller", "M\u00fcller"),
    ("lone \ud800 surrogate", "lone \ufffd surrogate"),
    ("noncharacter\ufffe\uffff", "noncharacter"),
    ("Ζήτα Cyrillic Кириллица 漢字", "Ζήτα Cyrillic Кириллица 漢字"),
    ("right-to-left \u202eoverride", "right-to-left \u202eoverride"),  # text, kept
    ("", ""),
    ("   ", ""),
]


@pytest.mark.parametrize(("raw", "expected"), TEXT_CASES)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected
    assert clean_text(expected) == expected


MULTILINE_CASES = [
    ("first paragraph\r\n\r\nsecond", "first paragraph\nsecond"),
    ("a \n b", "a\nb"),
    ("a\u2029b\u2028c", "a\nb\nc"),
    ("  lead\n\n\ntrail  \n", "lead\ntrail"),
    ("tabs\tinside\nlines", "tabs inside\nlines"),
    ("one line", "one line"),
]


@pytest.mark.parametrize(("raw", "expected"), MULTILINE_CASES)
def test_clean_text_multiline(raw: str, expected: str) -> None:
    assert clean_text(raw, multiline=True) == expected


def test_clean_optional() -> None:
    assert clean_optional(None) is None
    assert clean_optional("") is None
    assert clean_optional(" \u00a0\ufeff ") is None
    assert clean_optional(14) == "14"
    assert clean_optional(" x ") == "x"
    assert clean_optional("a\n\nb", multiline=True) == "a\nb"


# Pieces that real exports leak into fields: controls, separators, odd spaces, BOMs.
_DIRT = [
    "\x00", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r\n", "\r", "\n", "\t",
    "\v", "\f", "\ufeff", "\ud800", "\udfff", "\u00a0", "\u2000", "\u3000", "\u0301",
    "\x7f", "\x9f", "\ufffe", " ", "  ", "e", "É", "\u0308",
]  # fmt: skip
_texts = st.one_of(
    st.text(st.characters(), max_size=40),
    st.lists(st.sampled_from(_DIRT), max_size=14).map("".join),
)


@settings(max_examples=400, deadline=None)
@given(raw=_texts, multiline=st.booleans())
def test_clean_text_properties(raw: str, multiline: bool) -> None:
    cleaned = clean_text(raw, multiline=multiline)
    assert clean_text(cleaned, multiline=multiline) == cleaned
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    assert unicodedata.is_normalized("NFC", cleaned)
    allowed = {"\n"} if multiline else set()
    for char in cleaned:
        if char in allowed:
            continue
        assert unicodedata.category(char) not in ("Cc", "Cs"), repr(char)
        assert char == " " or not char.isspace(), repr(char)
    if multiline:
        assert "\n\n" not in cleaned and " \n" not in cleaned and "\n " not in cleaned
