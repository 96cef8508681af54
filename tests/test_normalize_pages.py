"""Page ranges and page counts: real-world strings from the shared corpus, and properties.

Table rows cite where a string comes from: biopython (PubMed MedlinePgn and MEDLINE PG),
habanero (Crossref "page"), rispy (SP), pandoc (BibLaTeX pages and its expected CSL),
citation-js, pymarc / vufind-marc (MARC 300 $a extents), the seed catalogue record.
"""

from __future__ import annotations

import re

import pytest
from conftest import corpus_files
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.model import Record
from harvester.normalize.pages import normalize_pages, parse_page_count, split_pages

PAGE_CASES = [
    # The issue's own examples and the seed record
    ("p.1538-1546", "1538-1546"),
    ("pp. 1538-46", "1538-1546"),
    ("1538-46", "1538-1546"),
    ("1538–1546", "1538-1546"),
    ("1538—1546", "1538-1546"),
    ("1538 - 1546", "1538-1546"),
    ("1538 – 1546", "1538-1546"),
    ("S1-S10", "S1-S10"),
    ("S1-10", "S1-S10"),
    ("e0123456", "e0123456"),
    ("123-9", "123-129"),
    ("1538-", "1538"),
    ("xii-xv", "xii-xv"),
    ("XII-XV", "XII-XV"),
    ("1538-1546, 1550", "1538-1546, 1550"),
    ("1538-1546,1550", "1538-1546, 1550"),
    ("A12-A14", "A12-A14"),
    ("1538f.", "1538f."),
    ("1538 ff.", "1538ff."),
    ("Seiten 12-15", "12-15"),
    ("S. 12-15", "12-15"),
    ("S. 12 f.", "12f."),
    # biopython MEDLINE PG lines and PubMed MedlinePgn elements
    ("1453-4", "1453-1454"),
    ("2308-10", "2308-2310"),
    ("296-302", "296-302"),
    ("5795-813", "5795-5813"),
    ("616-7", "616-617"),
    ("113-25", "113-125"),
    ("117-23", "117-123"),
    ("179-91", "179-191"),
    ("244-55", "244-255"),
    ("311-9", "311-319"),
    ("026002", "026002"),
    ("1116-1122", "1116-1122"),
    # habanero Crossref "page" values
    ("e33693", "e33693"),
    ("4:1-4:10", "4:1-4:10"),
    ("01-02", "01-02"),
    ("635-641", "635-641"),
    # rispy SP values
    ("e0815341", "e0815341"),
    ("e0815", "e0815"),
    # pandoc biblatex-angenendt: BibTeX "--" ranges, CSL expects "431-456, 791-823"
    ("431--456, 791--823", "431-456, 791-823"),
    ("82---109", "82-109"),
    # a citation's trailing full stop; a page label with a colon
    ("pp. 1538-46.", "1538-1546"),
    ("pages: 5-9", "5-9"),
    ("Page 12", "12"),
    # the abbreviated last page rolled over a hundred
    ("198-2", "198-202"),
    ("1299-302", "1299-1302"),
    # kept as written: not a range we understand, or the numbers are odd
    ("iii, 245 p.", "iii, 245 p."),
    ("1546-1538", "1546-1538"),
    ("12a-13b", "12a-13b"),
    ("p. cm.", "p. cm."),
    ("passim", "passim"),
    ("  ", ""),
]


@pytest.mark.parametrize(("text", "expected"), PAGE_CASES)
def test_normalize_pages(text: str, expected: str) -> None:
    assert normalize_pages(text) == expected
    assert normalize_pages(expected) == expected


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("1538-1546", ("1538", "1546")),
        ("S1-S10", ("S1", "S10")),
        ("xii-xv", ("xii", "xv")),
        ("4:1-4:10", ("4:1", "4:10")),
        ("e0123456", ("e0123456", None)),
        ("1538", ("1538", None)),
        ("1538f.", ("1538f.", None)),
        ("1538-1546, 1550", ("1538-1546, 1550", None)),
        ("-5", ("-5", None)),
        ("1-2-3", ("1-2-3", None)),
    ],
)
def test_split_pages(page: str, expected: tuple[str, str | None]) -> None:
    assert split_pages(page) == expected
    first, last = split_pages(page)
    assert (f"{first}-{last}" if last is not None else first) == page


COUNT_CASES = [
    ("245 p.", "245"),
    ("xii, 245 pages", "245"),
    ("245 S.", "245"),
    ("245 Seiten", "245"),
    ("1 online resource (245 pages)", "245"),
    ("[8], 245 p.", "245"),
    ("245", "245"),
    ("xii p.", "xii"),
    # pymarc marc.dat / test.dat 300 $a
    ("xxiv, 321 p. ;", "321"),
    ("xxxvii, 1255 p. :", "1255"),
    ("xix 538 p. :", "538"),
    ("39 p. :", "39"),
    ("192 p. ;", "192"),
    ("p. cm.", None),
    ("p.", None),
    # vufind-marc 300 $a (German and French catalogues)
    ("154 S., VI Bl. Falttaf. ;", "154"),
    ("XXIV, 329 S. ;", "329"),
    ("VII, 601 S. ;", "601"),
    ("814 p. ;", "814"),
    ("4 Bücher in 1 Bd. (362 S., [1] Bl. Taf., [1] Bl. Falttaf.) ;", "362"),
    ("6 Bd. ;", None),
    ("[5] vol. :", None),
    ("Online-Ressource", None),
    ("1 Schachtel :", None),
    ("volumes :", None),
    ("1 videocassette (ca. 1000 min.) :", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "expected"), COUNT_CASES)
def test_parse_page_count(text: str, expected: str | None) -> None:
    assert parse_page_count(text) == expected


def test_record_uses_normalize_pages() -> None:
    assert Record(page="pp. 1538–46").page == "1538-1546"
    assert Record(page="  ").page is None


@pytest.mark.corpus
def test_pubmed_medline_pages_match_start_and_end_pages() -> None:
    """PubMed writes MedlinePgn abbreviated and StartPage/EndPage in full: they must agree."""
    files = corpus_files("biopython/Tests/Entrez/pubmed*.xml")
    checked = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        for pagination in re.findall(r"<Pagination>(.*?)</Pagination>", text, re.S):
            medline = re.search(r"<MedlinePgn>([^<]+)<", pagination)
            start = re.search(r"<StartPage>([^<]+)<", pagination)
            end = re.search(r"<EndPage>([^<]+)<", pagination)
            if medline and start and end:
                assert normalize_pages(medline.group(1)) == f"{start.group(1)}-{end.group(1)}"
                checked += 1
    assert checked >= 3


@pytest.mark.corpus
def test_corpus_page_values_are_stable() -> None:
    """Every page value in Crossref JSON and RIS corpus files normalises idempotently."""
    files = corpus_files("habanero/**/*.json", "rispy/**/*.ris", "citation-js/**/*.json")
    assert files
    seen = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        values = re.findall(r'"page"\s*:\s*"([^"]*)"', text)
        values += re.findall(r"^(?:SP|PG)  - (.+)$", text, re.M)
        for value in values:
            once = normalize_pages(value)
            assert normalize_pages(once) == once, value
            assert "–" not in once and "--" not in once
            seen += 1
    assert seen > 20


_PAGEISH = st.lists(
    st.sampled_from([*"0123456789-–—, pSsfxivA.e:", "pp. ", "S. ", "ff."]), max_size=14
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=40), _PAGEISH))
def test_normalize_pages_is_idempotent_and_splits_back(text: str) -> None:
    once = normalize_pages(text)
    assert normalize_pages(once) == once
    first, last = split_pages(once)
    if last is not None:
        assert normalize_pages(f"{first}-{last}") == once
    parse_page_count(text)


@settings(max_examples=200, deadline=None)
@given(first=st.integers(1, 99999), short=st.integers(1, 9999))
def test_abbreviated_last_page_is_the_next_page_ending_so(first: int, short: int) -> None:
    """ "1538-46": the last page is the smallest page >= the first that ends in "46"."""
    result = normalize_pages(f"pp. {first}–{short}")
    digits = len(str(short))
    if digits >= len(str(first)):
        assert result == f"{first}-{short}"  # written in full: kept, even if backwards
        return
    step = 10**digits
    last = first - first % step + short
    if last < first:
        last += step
    assert result == f"{first}-{last}"
