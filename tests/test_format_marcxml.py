"""MARCXML reader: the MARC 21 mapping, real files, and hostile input."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.errors import ParseError
from harvester.formats import find_format
from harvester.formats.marcxml import parse_773g, read
from harvester.model import Record
from tests.conftest import CORPUS, FIXTURES

ARTICLE = FIXTURES / "xml" / "marc" / "article.xml"


def records(path: Path) -> list[Record | ParseError]:
    with open(path, encoding="utf-8") as stream:
        return list(read(stream, path.name))


def test_article_mapping() -> None:
    article, book, bare = records(ARTICLE)
    assert isinstance(article, Record) and isinstance(book, Record) and isinstance(bare, Record)
    assert article.type == "article-journal"
    assert article.id == "art-0001"
    assert article.title == "Nanometre-scale thermometry in a living cell: a quantum approach"
    assert article.title_short == "Nanometre-scale thermometry in a living cell"
    assert [n.display() for n in article.author] == [
        "Anna Müller",
        "Wei Li",
        "Max-Planck-Gesellschaft. Institut für Quantenoptik",
    ]
    assert [n.family for n in article.editor] == ["Smith"]
    assert [n.family for n in article.translator] == ["Dupont"]
    assert article.container_title == "Nature"
    assert (article.volume, article.issue, article.page) == ("500", "7460", "54-58")
    assert article.issued is not None and article.issued.parts == (2019,)
    assert (article.publisher, article.publisher_place) == ("Nature Publishing Group", "London")
    assert article.language == "de"  # 008/35-37 before 041
    assert article.abstract == "Sensitive probing of temperature variations on nanometre scales."
    assert article.keywords == ["Thermometry -- Methods", "Quantum sensing"]
    assert article.doi == "10.1038/nature12373"
    schemes = {(i.scheme, i.value, i.kind) for i in article.identifiers}
    assert ("issn", "0028-0836", "linking") in schemes
    assert ("issn", "1476-4687", None) in schemes
    assert ("oclc", "12345678", None) in schemes
    assert ("url", "https://example.org/fulltext.pdf", None) in schemes
    assert article.extra["marc:999"] == ["=999 \\\\$alocal data"]
    assert "marc:264" in article.extra  # the copyright date statement is kept, not used


def test_book_mapping() -> None:
    _article, book, bare = records(ARTICLE)
    assert isinstance(book, Record) and isinstance(bare, Record)
    assert book.type == "thesis"  # a 502 dissertation note wins over the leader
    assert [n.literal for n in book.author] == ["World Health Organization"]
    assert book.title == "World report on ageing"
    assert book.edition == "2nd ed."
    assert (book.publisher, book.publisher_place) == ("WHO", "Geneva")
    assert book.issued is not None and book.issued.parts == (2020,)
    assert (book.collection_title, book.collection_number) == ("Technical report series", "no. 12")
    assert [i.value for i in book.identifiers_of("isbn")] == ["9780306406157", "0306406152"]
    assert book.language == "en"
    assert (bare.type, bare.title) == ("book", "Only a title")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Vol. 12, no. 3 (2010), p. 45-67",
            {"volume": "12", "issue": "3", "page": "45-67", "year": "2010"},
        ),
        ("12(3):45-67", {"volume": "12", "issue": "3", "page": "45-67"}),
        (
            "Jg. 5, H. 2 (1999), S. 10-20",
            {"volume": "5", "issue": "2", "page": "10-20", "year": "1999"},
        ),
        ("45 (2016), S. 163-170", {"volume": "45", "page": "163-170", "year": "2016"}),
        ("v. 7 n. 1 p. 3", {"volume": "7", "issue": "1", "page": "3"}),
        ("2010, p. 5-9", {"page": "5-9", "year": "2010"}),
        ("Supplement", {}),
    ],
)
def test_773g(text: str, expected: dict[str, str]) -> None:
    assert parse_773g(text) == expected


def test_registered_read_only_and_sniffed() -> None:
    fmt = find_format("marc21")
    assert fmt.name == "marcxml"
    assert fmt.read is not None and fmt.writer is None
    head = ARTICLE.read_text()[:500]
    assert find_format(head=head).name == "marcxml"


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("relative", "count"),
    [
        ("vufind-marc/tests/fixtures/marc/marc_collection.xml", 2),
        ("vufind-marc/tests/fixtures/marc/marcreader.xml", None),
        ("pymarc/test/batch.xml", 2),
        ("pymarc/test/utf8.xml", None),
        ("vufindharvest/tests/fixtures/marc.xml", 100),
    ],
)
def test_real_files_read_without_errors(relative: str, count: int | None) -> None:
    found = records(CORPUS / relative)
    assert found
    assert all(isinstance(r, Record) for r in found), [
        r for r in found if not isinstance(r, Record)
    ]
    assert all(r.title for r in found if isinstance(r, Record))
    if count is not None:
        assert len(found) == count


@pytest.mark.corpus
def test_real_record_values() -> None:
    first = records(CORPUS / "pymarc/test/batch.xml")[0]
    assert isinstance(first, Record)
    assert first.title == "The Great Ray Charles"
    assert first.publisher == "Atlantic"
    assert first.type == "song"  # leader/06 "j": a musical sound recording
    harvested = records(CORPUS / "vufindharvest/tests/fixtures/marc.xml")[0]
    assert isinstance(harvested, Record)
    assert harvested.author[0].family == "Loen"
    assert harvested.author[0].given == "Johann Michael"


@pytest.mark.corpus
def test_invalid_collection_is_a_located_error() -> None:
    found = records(CORPUS / "vufind-marc/tests/fixtures/marc/invalid_marc_collection.xml")
    errors = [r for r in found if isinstance(r, ParseError)]
    assert errors
    assert errors[-1].format_name == "marcxml"
    assert errors[-1].source == "invalid_marc_collection.xml"


def test_evil_documents_are_refused() -> None:
    for path in sorted((FIXTURES / "xml" / "evil").glob("*.xml")):
        found = list(read(io.StringIO(path.read_text()), path.name))
        assert len(found) == 1 and isinstance(found[0], ParseError)
        assert "refused" in found[0].cause


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_yield_only_records_or_errors(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    for item in read(
        io.StringIO("<collection xmlns='http://www.loc.gov/MARC21/slim'>" + text), "x"
    ):
        assert isinstance(item, Record | ParseError)


def _with_700(*subfields: tuple[str, str]) -> Record:
    inner = "".join(f'<subfield code="{c}">{v}</subfield>' for c, v in subfields)
    xml = (
        '<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nab a2200000 c 4500</leader>'
        '<controlfield tag="001">x</controlfield>'
        '<datafield tag="245" ind1="1" ind2="0"><subfield code="a">T</subfield></datafield>'
        f'<datafield tag="700" ind1="1" ind2=" ">{inner}</datafield></record>'
    )
    (record,) = list(read(io.StringIO(xml), "roles.xml"))
    assert isinstance(record, Record)
    return record


@pytest.mark.parametrize(
    ("subfields", "role"),
    [
        ((("e", "verfasserin"), ("4", "aut")), "author"),
        ((("e", "Verfasser"),), "author"),
        ((("e", "Autorin"),), "author"),
        ((("4", "http://id.loc.gov/vocabulary/relators/edt"),), "editor"),
        ((("e", "Herausgeberin"), ("4", "edt")), "editor"),
        ((("e", "Übersetzerin"),), "translator"),
        ((("e", "Verfasser"), ("4", "ths")), "other"),  # a thesis adviser, whatever $e says
        ((("e", "Illustrator"),), "other"),
        ((), "author"),
    ],
)
def test_relator_codes_settle_the_role_before_free_text(
    subfields: tuple[tuple[str, str], ...], role: str
) -> None:
    record = _with_700(("a", "Muster, Erika"), *subfields)
    names = {
        "author": record.author,
        "editor": record.editor,
        "translator": record.translator,
    }
    for kind, found in names.items():
        assert [n.family for n in found] == (["Muster"] if kind == role else [])
    assert ("marc:700" in record.extra) == (role == "other")
