"""Dates: real-world strings (RIS, PubMed, BibLaTeX, catalogues, Highwire) into CSL dates."""

from __future__ import annotations

import json
import re
import timeit
from typing import Any

import pytest
import yaml  # PyYAML comes with pybtex, a test dependency
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.model import Date
from harvester.normalize.dates import format_edtf, parse_date, parse_month, parse_season
from tests.conftest import corpus_files
from tests.strategies import hostile_text

D = Date

DATE_CASES: list[tuple[str, Date | None]] = [
    # ISO 8601 and BibLaTeX/EDTF (pandoc biblatex tests).
    ("2017", D(parts=(2017,))),
    ("2017-08", D(parts=(2017, 8))),
    ("2017-08-15", D(parts=(2017, 8, 15))),
    ("0712-12-13", D(parts=(712, 12, 13))),
    ("2017-08-15T10:00:00Z", D(parts=(2017, 8, 15))),
    ("2017-08-15 10:00:00+02:00", D(parts=(2017, 8, 15))),
    ("1999-10-14/1999-10-15", D(parts=(1999, 10, 14), end=(1999, 10, 15))),
    ("2017-08/2017-09", D(parts=(2017, 8), end=(2017, 9))),
    ("1970/1980", D(parts=(1970,), end=(1980,))),
    ("1999-10-14/", D(parts=(1999, 10, 14))),
    ("2017-22", D(parts=(2017,), season=2)),
    ("2017-21", D(parts=(2017,), season=1)),
    ("2017-30", D(parts=(2017,), season=2)),
    ("1995~", D(parts=(1995,), circa=True)),
    ("1995?", D(parts=(1995,), circa=True)),
    ("-0044-03-15", D(parts=(-44, 3, 15))),
    ("20170815", D(parts=(2017, 8, 15))),
    # RIS DA/PY/Y1 (rispy data and the RIS spec's YYYY/MM/DD/other).
    ("2017/08//", D(parts=(2017, 8))),
    ("2017///", D(parts=(2017,))),
    ("2017/08/15/", D(parts=(2017, 8, 15))),
    ("2018/4/25", D(parts=(2018, 4, 25))),
    ("2006//", D(parts=(2006,))),
    ("1948/07//", D(parts=(1948, 7))),
    ("2017///Summer", D(parts=(2017,), season=2)),
    ("2017///Aug", D(parts=(2017, 8))),
    ("2002/09/17 10:00", D(parts=(2002, 9, 17))),
    # PubMed DP and MedlineDate (biopython Tests/Medline).
    ("2017 Aug 15", D(parts=(2017, 8, 15))),
    ("2002 Sep", D(parts=(2002, 9))),
    ("2006 Mar 1", D(parts=(2006, 3, 1))),
    ("2017 Aug-Sep", D(parts=(2017, 8), end=(2017, 9))),
    ("2016 Dec-2017 Jan", D(parts=(2016, 12), end=(2017, 1))),
    ("1998 Dec 7-21", D(parts=(1998, 12, 7), end=(1998, 12, 21))),
    ("2000 Spring", D(parts=(2000,), season=1)),
    ("1995-1997", D(parts=(1995,), end=(1997,))),
    ("1995-96", D(parts=(1995,), end=(1996,))),
    ("1999/00", D(parts=(1999,), end=(2000,))),
    ("2000 Nov-2001 Feb", D(parts=(2000, 11), end=(2001, 2))),
    ("Aug 10-24, 1998", D(parts=(1998, 8, 10), end=(1998, 8, 24))),
    ("2017 Aug 30-Sep 2", D(parts=(2017, 8, 30), end=(2017, 9, 2))),
    ("March/April 2017", D(parts=(2017, 3), end=(2017, 4))),
    ("Winter 2003-2004", D(parts=(2003,), end=(2004,), season=4)),
    ("1995–1997", D(parts=(1995,), end=(1997,))),
    # Prose and catalogue forms.
    ("Aug 2017", D(parts=(2017, 8))),
    ("August 2017", D(parts=(2017, 8))),
    ("15 August 2017", D(parts=(2017, 8, 15))),
    ("August 15, 2017", D(parts=(2017, 8, 15))),
    ("Aug. 15th, 2017", D(parts=(2017, 8, 15))),
    ("Tuesday, 15 August 2017", D(parts=(2017, 8, 15))),
    ("15. März 2017", D(parts=(2017, 3, 15))),
    ("1er août 2017", D(parts=(2017, 8, 1))),
    ("15 de agosto de 2017", D(parts=(2017, 8, 15))),
    ("Okt. 2017", D(parts=(2017, 10))),
    ("Summer 2017", D(parts=(2017,), season=2)),
    ("Fall 2017", D(parts=(2017,), season=3)),
    ("Herbst 2017", D(parts=(2017,), season=3)),
    ("Spring/Summer 2017", D(parts=(2017,), season=1)),
    ("Spring 1999 - Summer 2001", D(parts=(1999,), end=(2001,), season=1)),
    ("1996, ©1995", D(parts=(1996,))),
    ("1996, c1995", D(parts=(1996,))),
    ("c1995", D(parts=(1995,))),
    ("©1995", D(parts=(1995,))),
    ("[1995]", D(parts=(1995,))),
    ("[1995?]", D(parts=(1995,), circa=True)),
    ("ca. 1995", D(parts=(1995,), circa=True)),
    ("circa 1995", D(parts=(1995,), circa=True)),
    ("c. 1995", D(parts=(1995,), circa=True)),
    ("[ca. 1850]", D(parts=(1850,), circa=True)),
    ("MDCCCXII", D(parts=(1812,))),
    # Numeric forms: US month first (Highwire citation_date), German day first.
    ("08/15/2017", D(parts=(2017, 8, 15))),
    ("8/7/2017", D(parts=(2017, 8, 7))),
    ("15/08/2017", D(parts=(2017, 8, 15))),
    ("15.08.2017", D(parts=(2017, 8, 15))),
    ("7.8.2017", D(parts=(2017, 8, 7))),
    ("08/2017", D(parts=(2017, 8))),
    ("2017.08.15", D(parts=(2017, 8, 15))),
    # No date, and what is not a date.
    ("", None),
    ("   ", None),
    ("n.d.", None),
    ("[s.a.]", None),
    ("o.J.", None),
    ("s.d.", None),
    ("no date", None),
    ("Mon, 15 Aug 2017 10:00:00 GMT", D(parts=(2017, 8, 15))),
    ("2017-13", D(literal="2017-13")),
    ("2017-99", D(literal="2017-99")),
    ("[199-?]", D(literal="[199-?]")),
    ("19uu", D(literal="19uu")),
    ("2017-02-30", D(literal="2017-02-30")),
    ("1st quarter 2017", D(literal="1st quarter 2017")),
    ("July", D(literal="July")),
    ("Bogus Date", D(literal="Bogus Date")),
    ("in press", D(literal="in press")),
    ("forthcoming", D(literal="forthcoming")),
]


@pytest.mark.parametrize(("text", "expected"), DATE_CASES)
def test_parse_date_table(text: str, expected: Date | None) -> None:
    assert parse_date(text) == expected


MONTH_CASES = [
    ("Aug", 8), ("August", 8), ("aug.", 8), ("AUG", 8), ("8", 8), ("08", 8), ("12", 12),
    ("jan", 1), ("feb", 2), ("sep", 9), ("Sept.", 9), ("dec", 12),
    ("Okt", 10), ("März", 3), ("Mär", 3), ("Mrz", 3), ("Mai", 5), ("Dezember", 12),
    ("août", 8), ("févr", 2), ("févr.", 2), ("juil.", 7), ("décembre", 12),
    ("enero", 1), ("dic", 12), ("septiembre", 9), ("giugno", 6), ("ottobre", 10),
    ("maart", 3), ("mei", 5), ("outubro", 10),
    ("13", None), ("0", None), ("", None), ("Ju", None), ("Ma", None), ("Summer", None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), MONTH_CASES)
def test_parse_month(text: str, expected: int | None) -> None:
    assert parse_month(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Spring", 1), ("summer", 2), ("Autumn", 3), ("fall", 3), ("Winter", 4), ("21", 1),
     ("24", 4), ("25", 1), ("32", 4), ("Aug", None), ("20", None)],
)  # fmt: skip
def test_parse_season(text: str, expected: int | None) -> None:
    assert parse_season(text) == expected


@pytest.mark.parametrize(
    ("date", "text"),
    [
        (D(parts=(2017,)), "2017"),
        (D(parts=(2017, 8)), "2017-08"),
        (D(parts=(2017, 8, 15)), "2017-08-15"),
        (D(parts=(1995,), circa=True), "1995~"),
        (D(parts=(1995,), end=(1997,)), "1995/1997"),
        (D(parts=(2017,), season=2), "2017-22"),
        (D(parts=(712,)), "0712"),
        (D(parts=(-44, 3, 15)), "-0044-03-15"),
        (D(literal="in press"), "in press"),
    ],
)
def test_format_edtf(date: Date, text: str) -> None:
    assert format_edtf(date) == text
    assert parse_date(text) == date


def _medline_dates() -> list[str]:
    found = []
    for path in corpus_files("biopython/Tests/Medline/*.txt", "rispy/**/*.ris"):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line[:4] in ("DP  ", "DA  ", "PY  ", "Y1  ", "EDAT", "DEP ", "DCOM"):
                found.append(line[6:].strip())
    return found


@pytest.mark.corpus
def test_corpus_medline_and_ris_dates_parse() -> None:
    """Every PubMed and RIS date line in the corpus gives a year (or is a bare month)."""
    values = _medline_dates()
    assert len(values) >= 30
    for value in values:
        date = parse_date(value)
        assert date is not None
        if value.isalpha():
            # rispy's "DA  - July": a month with no year stays literal.
            assert date == D(literal=value)
        else:
            assert date.year is not None and 1900 <= date.year <= 2030, value


def _csl_suite_dates() -> list[dict[str, Any]]:
    found = []
    for path in corpus_files("csl-test-suite/processor-tests/humans/date_*.txt"):
        text = path.read_text(encoding="utf-8")
        match = re.search(r">>=+ INPUT =+>>(.*?)<<=+ INPUT =+<<", text, re.DOTALL)
        if match is not None:
            found.extend(item["issued"] for item in json.loads(match.group(1)) if "issued" in item)
    return found


@pytest.mark.corpus
def test_csl_suite_dates_survive_edtf() -> None:
    """CSL test-suite dates (negative years, seasons, circa, ranges) as EDTF and back."""
    found = _csl_suite_dates()
    assert len(found) >= 8
    checked = 0
    for issued in found:
        raw_parts = issued.get("date-parts") or []
        if not raw_parts:
            assert parse_date(issued["raw"]) == D(literal=issued["raw"])
            continue
        start = tuple(int(p) for p in raw_parts[0])
        season = issued.get("season")
        if len(start) == 2 and start[1] > 12:
            season, start = parse_season(str(start[1])), start[:1]
        end = tuple(int(p) for p in raw_parts[1])[:1] if len(raw_parts) > 1 else None
        if end is not None and len(raw_parts[1]) > 1 and int(raw_parts[1][1]) <= 12:
            end = tuple(int(p) for p in raw_parts[1])
        date = D(parts=start, end=end, season=season, circa=bool(issued.get("circa")))
        assert parse_date(format_edtf(date)) == date
        if "raw" in issued:
            assert parse_date(issued["raw"]) == date
        checked += 1
    assert checked >= 8


@pytest.mark.corpus
def test_corpus_biblatex_dates_parse() -> None:
    """Every ``date``/``urldate``/``origdate`` in the pandoc BibLaTeX tests is a real date."""
    pattern = re.compile(r"^\s*(?:url|orig|event)?date\s*=\s*\{([^{}]*)\}", re.I | re.M)
    values = [
        m.group(1)
        for f in corpus_files("pandoc/test/command/*")
        for m in pattern.finditer(f.read_text(encoding="utf-8", errors="replace"))
    ]
    assert len(values) >= 20
    for value in values:
        date = parse_date(value)
        assert date is not None and date.parts, value


@pytest.mark.corpus
def test_dates_agree_with_pandoc_biblatex_tests() -> None:
    """Pandoc writes ``issued`` as EDTF; our EDTF for the same ``date`` field matches it.

    One known difference: an open range ("1999-10-14/") keeps only its start, as the
    record model (like CSL-JSON's date-parts) has no way to say "open".
    """
    checked = 0
    for path in corpus_files("pandoc/test/command/biblatex-*.md"):
        text = path.read_text(encoding="utf-8")
        if "% pandoc -f biblatex" not in text or "^D" not in text:
            continue
        bib, _, out = text.partition("^D")
        match = re.search(r"^---\n(.*?)^(?:---|\.\.\.)\n", out, re.S | re.M)
        if match is None:
            continue
        refs = {r["id"]: r for r in yaml.safe_load(match.group(1)).get("references", [])}
        for entry in re.finditer(r"@\w+\{([^,\s]+),", bib):
            end = bib.find("\n@", entry.end())
            body = bib[entry.end() : end if end > 0 else len(bib)]
            field = re.search(r"^\s*date\s*=\s*\{?([^{},\n]*)\}?,?\s*$", body, re.M | re.I)
            ref = refs.get(entry.group(1), {})
            if field is None or "issued" not in ref:
                continue
            date = parse_date(field.group(1))
            assert date is not None
            expected = str(ref["issued"])
            assert format_edtf(date) == expected.rstrip("/"), (path.name, field.group(1))
            checked += 1
    assert checked >= 100


def test_parse_date_is_fast() -> None:
    parse_date.cache_clear()
    texts = [f"{1900 + i % 120} {['Jan', 'Aug', 'Dec'][i % 3]} {1 + i % 28}" for i in range(3000)]
    cold = timeit.timeit(lambda: [parse_date(t) for t in texts], number=1) / len(texts)
    iso = [f"{1900 + i % 120}-{1 + i % 12:02d}" for i in range(3000)]
    cold_iso = timeit.timeit(lambda: [parse_date(t) for t in iso], number=1) / len(iso)
    # Generous bounds (2 shared cores): they catch a pathological regex, not jitter.
    assert cold < 250e-6
    assert cold_iso < 100e-6


@st.composite
def any_dates(draw: st.DrawFn) -> Date:
    """Dates with every feature ``format_edtf`` writes: precision, range, season, circa."""
    year = draw(st.integers(-9999, 9999))
    precision = draw(st.integers(1, 3))
    parts: tuple[int, ...] = (year,)
    if precision >= 2:
        parts += (draw(st.integers(1, 12)),)
    if precision == 3:
        parts += (draw(st.integers(1, 28)),)
    season = draw(st.none() | st.integers(1, 4)) if precision == 1 else None
    end = None
    if draw(st.booleans()):
        e_year = draw(st.integers(year, 9999))
        end = (e_year,) if precision == 1 else (e_year, draw(st.integers(1, 12)))
        if end == parts:
            end = None
    return Date(parts=parts, end=end, season=season, circa=draw(st.booleans()))


@settings(max_examples=300, deadline=None)
@given(any_dates())
def test_edtf_round_trip(date: Date) -> None:
    assert parse_date(format_edtf(date)) == date


date_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789-/.,:~?[]() cTZ", max_size=24),
    hostile_text(max_pieces=5),
    st.builds(
        lambda a, b, c: f"{a} {b} {c}",
        st.sampled_from(["Aug", "15", "2017", "Summer", "ca.", "©1995", "-", "n.d.", "März"]),
        st.integers(-5, 3000).map(str),
        st.sampled_from(["", "2017", "Sep", "-2018", "/", "?", "Winter"]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(date_text)
def test_parse_date_never_raises_and_is_idempotent(text: str) -> None:
    date = parse_date(text)
    assert date is None or isinstance(date, Date)
    if date is not None:
        # Writing a parsed date as EDTF and reading it again changes nothing.
        assert parse_date(format_edtf(date)) == date


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_parse_month_never_raises(text: str) -> None:
    month = parse_month(text)
    assert month is None or 1 <= month <= 12
