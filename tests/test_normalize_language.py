"""Language names and codes to BCP 47: the values catalogues, OAI feeds and RIS files use.

Rows cite the corpus where a value occurs there (oaipmh-scythe / pyoai / vufindharvest
dc:language, bolognese and habanero "language", rispy LA, MARC 008/041 in pymarc).
"""

from __future__ import annotations

import re

import langcodes
import pytest
from conftest import corpus_files
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.model import Record
from harvester.normalize.language import MARC_B_CODES, normalize_language

LANGUAGE_CASES = [
    ("English", "en"),
    ("english", "en"),
    ("ENGLISH", "en"),
    ("eng", "en"),  # dc:language, MARC 008
    ("en", "en"),
    ("EN", "en"),
    ("en-US", "en-US"),  # dc:language in vufindharvest
    ("en_US", "en-US"),  # dc:language in oaipmh-scythe (Zenodo)
    ("en-us", "en-US"),
    ("German", "de"),
    ("Deutsch", "de"),
    ("ger", "de"),  # MARC bibliographic code
    ("GER", "de"),  # <language>GER</language> in the corpus
    ("deu", "de"),
    ("de-DE", "de-DE"),
    ("fre", "fr"),
    ("fra", "fr"),
    ("français", "fr"),
    ("chi", "zh"),
    ("zho", "zh"),
    ("Chinese", "zh"),
    ("中文", "zh"),
    ("zh_CN", "zh-CN"),
    ("zh-Hans", "zh-Hans"),
    ("Dutch", "nl"),  # bolognese "language": "Dutch"
    ("Nederlands", "nl"),
    ("Russian", "ru"),
    ("italian", "it"),  # bolognese "language": "italian"
    ("Latin", "la"),
    ("ang", "ang"),  # Old English, no two-letter code
    ("Old English", "ang"),
    ("slk", "sk"),
    ("uzb", "uz"),
    ("por", "pt"),
    ("spa", "es"),
    ("rus", "ru"),
    ("tam", "ta"),
    ("ukr", "uk"),
    ("sl", "sl"),
    ("iw", "he"),  # deprecated ISO 639-1 code
    ("Swiss German", "gsw"),
    ("日本語", "ja"),
    ("Русский", "ru"),
    ("English; German", "en"),
    ("English and German", "en"),
    ("engger", "en"),  # MARC 041 $a run of codes (old practice)
    ("engund", "en"),  # pymarc marc8.dat 041
    ("und", "und"),
    ("mul", "mul"),
    ("zxx", "zxx"),
    ("nonsense", None),
    ("Germanic", None),  # a family, not German: langcodes.find alone would say "de"
    ("Klingonese dialect 7", None),
    ("Hakka Chinese", "hak"),
    ("English (US)", "en-US"),
    ("other", None),  # dc:language "other" in oaipmh-scythe
    ("xx", None),
    ("e", None),
    ("12", None),
    ("n/a", None),
    ("", None),
    ("   ", None),
]


@pytest.mark.parametrize(("text", "expected"), LANGUAGE_CASES)
def test_normalize_language(text: str, expected: str | None) -> None:
    assert normalize_language(text) == expected


@pytest.mark.parametrize(("marc", "tag"), sorted(MARC_B_CODES.items()))
def test_marc_bibliographic_codes(marc: str, tag: str) -> None:
    """Every ISO 639-2/B code maps to the code BCP 47 uses, and langcodes agrees."""
    assert normalize_language(marc) == tag
    assert normalize_language(marc.upper()) == tag
    assert str(langcodes.standardize_tag(marc)) == tag
    assert langcodes.tag_is_valid(tag)


def test_record_language_field() -> None:
    assert Record(language="English").language == "en"
    assert Record(language="ger").language == "de"
    # The model keeps what it cannot map rather than dropping it.
    assert Record(language="Klingonese dialect 7").language == "Klingonese dialect 7"


@pytest.mark.corpus
def test_corpus_language_values() -> None:
    """Every dc:language / "language" value in the corpus is a language or plainly not one."""
    files = corpus_files("**/*.xml", "**/*.json")
    assert files
    values: set[str] = set()
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        values.update(re.findall(r"<(?:dc:)?language>([^<]+)</", text))
        values.update(re.findall(r'"language"\s*:\s*"([^"]+)"', text))
    assert {"eng", "en", "en_US", "Dutch"} <= values
    unmapped = {v for v in values if normalize_language(v) is None}
    assert unmapped <= {"other"}, unmapped
    for value in values - unmapped:
        tag = normalize_language(value)
        assert tag is not None and langcodes.tag_is_valid(tag), value


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=24),
        st.sampled_from([v for v, _ in LANGUAGE_CASES]),
        st.from_regex(r"[a-zA-Z]{2,3}([-_][A-Za-z]{2,4})?", fullmatch=True),
    )
)
def test_normalize_language_is_idempotent_and_total(text: str) -> None:
    tag = normalize_language(text)
    if tag is not None:
        assert langcodes.tag_is_valid(tag)
        assert normalize_language(tag) == tag
