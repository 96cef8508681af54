"""PubMed XML reader: field-by-field on real efetch files, books, errors, hostile input."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester import api
from harvester.errors import ParseError
from harvester.formats import find_format
from harvester.formats.pubmed import iter_articles, read
from harvester.model import Record
from tests.conftest import CORPUS, FIXTURES

HTTP = FIXTURES / "http" / "pubmed"
BIOPYTHON = CORPUS / "biopython" / "Tests" / "Entrez"
EUTILS = CORPUS / "eutils-json" / "samples"
CSL_SCHEMA = CORPUS / "csl-schema" / "schemas" / "input" / "csl-data.json"
BOOK = FIXTURES / "pubmed" / "book_chapter.xml"


def records(path: Path) -> list[Record | ParseError]:
    with open(path, encoding="utf-8") as stream:
        return list(read(stream, path.name))


def only_records(path: Path) -> list[Record]:
    items = records(path)
    assert all(isinstance(i, Record) for i in items), items
    return [i for i in items if isinstance(i, Record)]


def idents(record: Record) -> list[tuple[str, str, str | None]]:
    return [(i.scheme, i.value, i.kind) for i in record.identifiers]


def test_season_date_start_end_pages_print_and_linking_issn() -> None:
    aids, magnetic = only_records(HTTP / "efetch_two.body")
    assert aids.id == "12091962"
    assert aids.type == "article-journal"
    # The final period NLM adds is removed; a period inside the title stays.
    assert aids.title == "The treatment of AIDS behind the walls of correctional facilities"
    assert magnetic.title == (
        "Magnetic studies of Chromatium flavocytochrome C552. "
        "A mechanism for heme-flavin interaction"
    )
    assert aids.container_title == "Social justice (San Francisco, Calif.)"
    assert aids.container_title_short == "Soc Justice"
    assert (aids.volume, aids.issue, aids.page) == ("17", "1", "113-125")
    assert aids.issued is not None
    assert (aids.issued.parts, aids.issued.season) == ((1990,), 1)
    assert magnetic.issued is not None and magnetic.issued.parts == (1976, 9, 28)
    # ISSN Print and ISSNLinking are the same number: one identifier, the print kind.
    assert ("issn", "1043-1578", "print") in idents(aids)
    assert [(n.family, n.given) for n in aids.author] == [("Olivero", "J Michael")]
    assert aids.language == "en"
    assert aids.keywords[:2] == ["AIDS Serodiagnosis", "Acquired Immunodeficiency Syndrome"]
    assert "Legal Approach" in aids.keywords  # KeywordList after MeSH
    assert aids.extra["pubmed:publication-type"] == ["Journal Article", "Review"]
    assert aids.note == "14 fn.\nKIE BoB Subject Heading: AIDS\n63 refs."
    assert ("doi", "10.1016/0005-2795(76)90109-4", None) in idents(magnetic)
    assert magnetic.extra["pubmed:pii"] == ["0005-2795(76)90109-4"]
    assert "Iron/analysis" in magnetic.extra["pubmed:mesh"]
    assert magnetic.abstract is not None and magnetic.abstract.startswith("Electron paramagnetic")


def test_labelled_abstract_electronic_issn_pmcid_and_inline_markup() -> None:
    (record,) = only_records(HTTP / "efetch_pmc.body")
    assert ("pmid", "27797938", None) in idents(record)
    assert ("pmcid", "PMC5442267", None) in idents(record)
    assert ("issn", "1468-3288", "electronic") in idents(record)
    assert ("issn", "0017-5749", "linking") in idents(record)
    assert record.doi == "10.1136/gutjnl-2016-312510"
    assert record.abstract is not None
    paragraphs = record.abstract.split("\n")
    assert [p.split(":", 1)[0] for p in paragraphs] == [
        "OBJECTIVE",
        "DESIGN",
        "RESULTS",
        "CONCLUSIONS",
    ]
    assert "<i>" not in record.abstract and "TERT" in record.abstract
    assert record.title is not None and record.title.startswith("Leucocyte telomere length")
    assert record.issued is not None and record.issued.parts == (2017, 6)


def test_collective_name_orcid_and_mathml() -> None:
    (record,) = only_records(HTTP / "efetch_collective.body")
    assert record.author[-1].literal == "Canadian Respiratory Research Network"
    assert [(n.family, n.given) for n in record.author[:2]] == [
        ("Guo", "Fumin"),
        ("Capaldi", "Dante"),
    ]
    assert record.extra["pubmed:orcid"][0] == "Dante Capaldi: https://orcid.org/0000-0002-4590-7461"
    assert record.page == "026002"
    assert record.abstract is not None and "mml" not in record.abstract
    assert "He 3 / Xe 129" in " ".join(record.abstract.split())
    assert record.extra["pubmed:ArticleDate"] == ["2018-06-28 (electronic)"]
    assert "received 2017-12-12" in record.extra["pubmed:history"]


def test_book_chapter_editors_publisher_isbn() -> None:
    (record,) = only_records(BOOK)
    assert record.type == "chapter"
    assert record.title == "Alpha-Thalassemia"
    assert record.container_title == "GeneReviews®"
    assert [(n.family, n.given) for n in record.author] == [("Origa", "Raffaella")]
    assert [(n.family, n.given) for n in record.editor] == [
        ("Adam", "Margaret P"),
        ("Feldman", "J."),
    ]
    assert (record.publisher, record.publisher_place) == (
        "University of Washington, Seattle",
        "Seattle (WA)",
    )
    assert record.issued is not None and record.issued.parts == (1993,)
    assert ("isbn", "9780306406157", None) in idents(record)
    assert record.extra["pubmed:bookaccession"] == ["NBK1435"]
    assert record.abstract == "CLINICAL CHARACTERISTICS: Alpha-thalassemia has two forms."


def test_invalid_author_is_kept_out_of_the_authors_but_not_dropped() -> None:
    (record,) = only_records(BOOK)
    assert "Name Wrong" not in [n.display() for n in record.author]
    assert len(record.author) == 1
    assert record.extra["pubmed:invalid-author"] == ["Name Wrong"]


@pytest.mark.parametrize(
    ("pub_date", "parts", "end", "extra"),
    [
        ("<MedlineDate>1998 Dec-1999 Jan</MedlineDate>", (1998, 12), (1999, 1), None),
        ("<MedlineDate>2000 Spring-Summer</MedlineDate>", (2000,), None, None),
        ("<MedlineDate>2010 1st Quart</MedlineDate>", (2010,), None, "2010 1st Quart"),
        ("<Year>2019</Year><Month>11</Month><Day>5</Day>", (2019, 11, 5), None, None),
    ],
)
def test_medline_dates(
    pub_date: str, parts: tuple[int, ...], end: tuple[int, ...] | None, extra: str | None
) -> None:
    xml = (
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article><Journal>"
        f"<JournalIssue><PubDate>{pub_date}</PubDate></JournalIssue><Title>J</Title></Journal>"
        "<ArticleTitle>[Ein Titel.]</ArticleTitle><Pagination><StartPage>5</StartPage>"
        "<EndPage>9</EndPage></Pagination><AuthorList><Author><LastName>Li</LastName>"
        "<Initials>XY</Initials><Suffix>Jr</Suffix></Author></AuthorList>"
        "<Language>ger</Language><Language>eng</Language>"
        "</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"
    )
    (record,) = list(read(io.StringIO(xml), "x"))
    assert isinstance(record, Record)
    assert record.issued is not None
    assert (record.issued.parts, record.issued.end) == (parts, end)
    assert record.extra.get("pubmed:pubdate") == ([extra] if extra else None)
    assert record.title == "Ein Titel"  # NLM's brackets for a translated title removed
    assert record.page == "5-9"
    assert [(n.family, n.given, n.suffix) for n in record.author] == [("Li", "X. Y.", "Jr")]
    assert (record.language, record.extra["pubmed:language"]) == ("de", ["eng"])


def test_an_error_document_is_a_located_parse_error() -> None:
    (error,) = records(HTTP / "efetch_error.body")
    assert isinstance(error, ParseError)
    assert error.cause.startswith("E-utilities error: Cannot retrieve history data")
    assert error.line == 4


def test_a_truncated_answer_keeps_the_records_before_the_break() -> None:
    items = records(HTTP / "efetch_truncated.body")
    assert isinstance(items[0], Record) and items[0].id == "12091962"
    assert isinstance(items[-1], ParseError) and items[-1].record == 2


def test_a_bad_record_is_an_error_with_its_pmid_and_the_next_one_is_read() -> None:
    xml = (
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>5</PMID></MedlineCitation>"
        "</PubmedArticle><PubmedArticle><MedlineCitation><PMID>6</PMID><Article>"
        "<ArticleTitle>Fine.</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
        "</PubmedArticleSet>"
    )
    items = list(iter_articles([xml.encode()], "x"))
    assert [pmid for pmid, _ in items] == ["5", "6"]
    assert isinstance(items[0][1], ParseError) and items[0][1].raw == "PMID 5"
    assert isinstance(items[1][1], Record) and items[1][1].title == "Fine"


def test_other_xml_is_named_not_silently_empty() -> None:
    (error,) = list(read(io.StringIO("<pmc-articleset><article/></pmc-articleset>"), "x"))
    assert isinstance(error, ParseError) and "<pmc-articleset>" in error.cause


def test_registered_sniffed_and_read_through_the_api() -> None:
    fmt = find_format("pubmed-xml")
    assert fmt.read is not None and fmt.writer is None
    assert find_format("pubmed") is fmt
    head = (HTTP / "efetch_two.body").read_text()[:400]
    assert find_format(head=head) is fmt
    items = list(api.read(HTTP / "efetch_two.body"))
    assert [i.id for i in items if isinstance(i, Record)] == ["12091962", "9997"]


def test_entity_declarations_are_still_refused() -> None:
    xml = (
        '<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [<!ENTITY x "boom">]>'
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
        "<ArticleTitle>&x;</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
        "</PubmedArticleSet>"
    )
    (error,) = list(read(io.StringIO(xml), "x"))
    assert isinstance(error, ParseError) and "entit" in error.cause


def test_hostile_values_cannot_break_an_output_format() -> None:
    xml = (
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>7</PMID><Article>"
        "<ArticleTitle>}{ \\end ER  - x\nTY  - BOOK &lt;script&gt;</ArticleTitle>"
        "</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"
    )
    (record,) = list(read(io.StringIO(xml), "x"))
    assert isinstance(record, Record)
    for fmt in ("ris", "bibtex", "csl-json"):
        text = api.dumps([record], fmt)
        (back,) = list(api.read(text.encode("utf-8"), fmt))
        assert isinstance(back, Record), (fmt, back)
        assert back.title == record.title, fmt


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_arbitrary_bytes_give_records_or_errors(data: bytes, wrapped: bool) -> None:
    chunk = b"<PubmedArticleSet>" + data if wrapped else data
    for _pmid, item in iter_articles([chunk], "x"):
        assert isinstance(item, Record | ParseError)


_FIELD = st.sampled_from(
    [
        "ArticleTitle",
        "Volume",
        "LastName",
        "ForeName",
        "CollectiveName",
        "MedlinePgn",
        "MedlineDate",
        "Year",
        "Month",
        "Language",
        "AbstractText",
        "ISSN",
        "Keyword",
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_FIELD, st.text(max_size=30)), max_size=6))
def test_arbitrary_field_text_gives_a_record_or_an_error(fields: list[tuple[str, str]]) -> None:
    from xml.sax.saxutils import escape

    def legal(text: str) -> str:
        return "".join(c for c in text if c in "\t\n\r" or (" " <= c <= "\ud7ff"))

    inner = "".join(f"<{tag}>{escape(legal(text))}</{tag}>" for tag, text in fields)
    xml = (
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
        f"<Journal><JournalIssue><PubDate>{inner}</PubDate></JournalIssue></Journal>"
        f"{inner}<AuthorList><Author>{inner}</Author></AuthorList>"
        f"<Abstract>{inner}</Abstract><Pagination>{inner}</Pagination>"
        "</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"
    )
    items = list(read(io.StringIO(xml), "x"))
    assert len(items) == 1 and isinstance(items[0], Record | ParseError)


def _csl_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(CSL_SCHEMA.read_text(encoding="utf-8")))


@pytest.mark.corpus
def test_every_corpus_efetch_file_reads_and_writes_schema_valid_csl_json() -> None:
    validator = _csl_validator()
    paths = sorted(BIOPYTHON.glob("pubmed*.xml")) + sorted(EUTILS.glob("efetch.pubmed*.xml"))
    assert len(paths) == 9
    total = 0
    for path in paths:
        items = only_records(path)
        total += len(items)
        data: Any = json.loads(api.dumps(items, "csl-json"))
        errors = list(validator.iter_errors(data))
        assert not errors, (path.name, [e.message for e in errors[:3]])
        for item, written in zip(items, data, strict=True):
            assert written["title"] == item.title
            assert written["PMID"] == item.id
    assert total == 13


@pytest.mark.corpus
def test_corpus_book_article_is_a_book_with_editors() -> None:
    (book,) = only_records(EUTILS / "efetch.pubmedbook.xml")
    assert (book.type, book.title) == ("book", "GeneReviews™")
    assert [n.family for n in book.editor] == ["Pagon", "Bird", "Dolan", "Stephens", "Adam"]
    assert book.publisher == "University of Washington, Seattle"
    assert len(book.extra["pubmed:Sections"]) > 100  # one entry per section title


@pytest.mark.corpus
def test_corpus_files_read_from_bytes_and_text_alike() -> None:
    path = BIOPYTHON / "pubmed6.xml"
    from_bytes = [r for _, r in iter_articles([path.read_bytes()], "x")]
    from_text = records(path)
    assert [r.model_dump() for r in from_bytes if isinstance(r, Record)] == [
        r.model_dump() for r in from_text if isinstance(r, Record)
    ]


def test_preprints_and_invalid_elocations() -> None:
    xml = (
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>9</PMID><Article>"
        "<ArticleTitle>A preprint.</ArticleTitle>"
        '<ELocationID EIdType="doi" ValidYN="N">10.1101/wrong</ELocationID>'
        '<ELocationID EIdType="doi" ValidYN="Y">10.1101/2020.01.01.123456</ELocationID>'
        "<PublicationTypeList><PublicationType>Preprint</PublicationType>"
        "</PublicationTypeList></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"
    )
    (record,) = list(read(io.StringIO(xml), "x"))
    assert isinstance(record, Record)
    assert record.type == "article"
    assert [i.value for i in record.identifiers_of("doi")] == ["10.1101/2020.01.01.123456"]
    assert record.extra["pubmed:doi"] == ["10.1101/wrong"]
