"""The catalogue-text reader: VuFind record pages (English and German) to records."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvester import api
from harvester.errors import ParseError
from harvester.formats import find_format
from harvester.formats.catalogue_text import (
    FORMAT,
    Row,
    canonical_label,
    format_to_type,
    parse_authors,
    parse_page,
    parse_page_count,
    parse_publication,
    parse_published_in,
    parse_rows,
    parse_series,
    read,
    record_from_rows,
    sniff,
)
from harvester.model import Record

CASES = FIXTURES / "catalogue_text"
TITLE = (
    "Infusion of umbilical cord mesenchymal stem cells alleviates symptoms of "
    "ankylosing spondylitis"
)
AUTHORS = [
    ("Li", "Ai"), ("Tao", "Yuan"), ("Kong", "Dexiao"), ("Zhang", "Ni"), ("Wang", "Yongjing"),
    ("Wang", "Zhilun"), ("Wang", "Yingxue"), ("Wang", "Juandong"), ("Xiao", "Juan"),
    ("Jiang", "Yang"), ("Liu", "Xiaoli"), ("Zheng", "Chengyun"),
]  # fmt: skip
PUBLISHED_IN = "Published in:Experimental and therapeutic medicine 2017-08, Vol.14 (2), p.1538-1546"


def read_text(text: str, source: str = "test.txt") -> list[Record | ParseError]:
    return list(read(io.StringIO(text, newline=""), source))


def read_case(name: str) -> list[Record | ParseError]:
    path = CASES / name
    with path.open(encoding="utf-8", newline="") as stream:
        return list(read(stream, str(path)))


def only_record(name: str) -> Record:
    (record,) = read_case(name)
    assert isinstance(record, Record), record
    return record


def semantic(record: Record) -> dict[str, object]:
    """The record without provenance (the raw rows differ between languages)."""
    return record.model_dump(exclude={"field_sources", "provenance"})


# --- The seed -------------------------------------------------------------------------------


def assert_is_seed(record: Record) -> None:
    assert record.type == "article-journal"
    assert record.title == TITLE
    assert [(a.family, a.given) for a in record.author] == AUTHORS
    assert record.container_title == "Experimental and therapeutic medicine"
    assert (record.volume, record.issue, record.page) == ("14", "2", "1538-1546")
    assert record.issued is not None and record.issued.parts == (2017, 8)
    issns = record.identifiers_of("issn")
    assert [(i.value, i.kind, i.valid) for i in issns] == [
        ("1792-0981", None, True),
        ("1792-1015", None, True),
    ]
    assert record.doi == "10.3892/etm.2017.4687"
    assert record.language == "en"
    assert record.abstract is not None
    assert record.abstract.startswith("The current study evaluated 5 patients")
    assert record.abstract.endswith("systemic evaluation of uMSC therapy.")
    assert "..." not in record.abstract
    assert record.keywords == []
    assert record.extra == {}


def test_seed_yields_the_full_record() -> None:
    assert_is_seed(only_record("seed.txt"))


def test_seed_records_where_each_field_came_from() -> None:
    record = only_record("seed.txt")
    sources = record.field_sources
    filled = {
        name
        for name, value in record
        if value not in (None, [], {}, "document") and name not in ("field_sources",)
    }
    assert filled <= set(sources), f"fields without a source: {filled - set(sources)}"
    assert {s.source for s in sources.values()} == {"catalogue-text"}
    for name in ("container_title", "issued", "volume", "issue", "page"):
        assert sources[name].raw == PUBLISHED_IN
    assert sources["title"].raw == TITLE
    assert sources["language"].raw == "Language:English"
    assert sources["type"].raw == "Format: Article"
    assert sources["author"].raw is not None
    assert sources["author"].raw.startswith("Main Authors: Li, Ai, Tao, Yuan")
    assert sources["identifiers"].raw == "ISSN:1792-0981\n1792-1015\nDOI:10.3892/etm.2017.4687"
    assert sources["abstract"].raw is not None
    assert sources["abstract"].raw.startswith("Summary:The current study")


@pytest.mark.parametrize(
    "name", ["seed-de.txt", "seed-nospace.txt", "seed-spaced.txt", "seed-crlf.txt"]
)
def test_seed_variants_yield_the_same_record(name: str) -> None:
    variant = only_record(name)
    assert_is_seed(variant)
    assert semantic(variant) == semantic(only_record("seed.txt"))


def test_german_seed_keeps_its_own_raw_rows() -> None:
    record = only_record("seed-de.txt")
    assert record.field_sources["language"].raw == "Sprache:Englisch"
    assert record.field_sources["volume"].raw == (
        "Veröffentlicht in:Experimental and therapeutic medicine 2017-08, Jg.14 (2), S.1538-1546"
    )


def test_crlf_read_raw_keeps_no_carriage_returns() -> None:
    text = (CASES / "seed.txt").read_text(encoding="utf-8").replace("\n", "\r\n")
    (record,) = read_text(text)
    assert isinstance(record, Record)
    assert_is_seed(record)
    assert all("\r" not in (s.raw or "") for s in record.field_sources.values())


def test_seed_through_the_api_is_sniffed_from_bytes() -> None:
    data = (CASES / "seed.txt").read_bytes()
    (record,) = list(api.read(data))
    assert isinstance(record, Record)
    assert_is_seed(record)
    assert record.provenance[0].raw_format == "catalogue-text"


def test_a_lone_cr_page_is_read_too() -> None:
    text = (CASES / "seed.txt").read_text(encoding="utf-8").replace("\n", "\r")
    (record,) = read_text(text)
    assert isinstance(record, Record)
    assert_is_seed(record)


# --- Summary and teaser ----------------------------------------------------------------------


def test_teaser_is_the_abstract_only_without_a_summary() -> None:
    lines = (CASES / "seed.txt").read_text(encoding="utf-8").split("\n")
    without = "\n".join(line for line in lines if not line.startswith("Summary:"))
    (record,) = read_text(without)
    assert isinstance(record, Record)
    assert record.abstract is not None
    assert record.abstract.endswith("observed in any...")
    assert record.field_sources["abstract"].raw == record.abstract


def test_page_parts_are_split() -> None:
    page = parse_page((CASES / "seed.txt").read_text(encoding="utf-8").split("\n"))
    assert page.title == TITLE
    assert page.teaser is not None and page.teaser.endswith("in any...")
    labels = [row.label for row in page.rows]
    assert labels == [
        "Saved in", "Published in", "Main Authors", "Format", "Language", "Subjects",
        "Citations", "Online Access", "Tags", "Summary", "ISSN", "DOI",
    ]  # fmt: skip
    citations = page.rows[labels.index("Citations")]
    assert citations.value == "Items that this one cites\nItems that cite this one"
    assert page.rows[labels.index("ISSN")].value == "1792-0981\n1792-1015"
    assert page.rows[labels.index("ISSN")].line == 23


def test_parse_rows_takes_plain_lines() -> None:
    rows = parse_rows(["Title of a thing", "Format:Book", "ISBN: 0387902449", "9780387902449"])
    assert [(r.label, r.value) for r in rows] == [
        ("Format", "Book"),
        ("ISBN", "0387902449\n9780387902449"),
    ]


def test_a_known_label_inside_a_summary_ends_it_but_an_unknown_one_does_not() -> None:
    record = only_record("aufsatz-de.txt")
    assert record.abstract == (
        "Die Studie untersucht, wie sich die soziale Herkunft auf Bildungsübergänge "
        "auswirkt.\nMethoden: Wir nutzen Längsschnittdaten des Nationalen Bildungspanels."
    )
    assert [i.value for i in record.identifiers_of("issn")] == ["0340-1804"]
    assert "catalogue:Methoden" not in record.extra


# --- Other kinds of records ------------------------------------------------------------------


def test_book_record() -> None:
    record = only_record("book.txt")
    assert record.type == "book"
    assert record.title == "Algebraic geometry"
    assert [(a.family, a.given) for a in record.author] == [("Hartshorne", "Robin")]
    assert (record.publisher_place, record.publisher) == ("New York", "Springer-Verlag")
    assert record.issued is not None and record.issued.parts == (1977,)
    assert record.edition == "Corr. 8th print."
    assert (record.collection_title, record.collection_number) == (
        "Graduate texts in mathematics",
        "52",
    )
    assert record.number_of_pages == "496"
    assert record.note == "Includes index."
    assert record.keywords == ["Geometry, Algebraic"]
    isbns = record.identifiers_of("isbn")
    assert [(i.value, i.kind, i.valid) for i in isbns] == [
        ("0387902449", "print", True),
        ("9780387902449", None, True),
    ]
    assert isbns[0].isbn13 == "9780387902449"
    assert record.extra == {
        "catalogue:Online Access": ["Table of contents"],
        "catalogue:Physical Description": ["xvi, 496 p. : ill. ; 25 cm."],
        "catalogue:Bibliography": ["Bibliography: p. 459-469."],
    }
    assert record.field_sources["publisher"].raw == ("Published: New York : Springer-Verlag, 1977")


def test_german_book_record() -> None:
    record = only_record("book-de.txt")
    assert record.type == "book"
    assert [(a.family, a.given) for a in record.author] == [("Brandt", "Katharina")]
    assert (record.publisher_place, record.publisher) == ("Berlin; Heidelberg", "Springer Spektrum")
    assert record.issued is not None and record.issued.parts == (2015,)
    assert record.edition == "2. Auflage"
    assert record.collection_title == "Springer-Lehrbuch"
    assert record.number_of_pages == "412"
    assert record.language == "de"
    assert record.keywords == ["Lineare Algebra", "Analytische Geometrie"]
    assert record.note == "Literaturverzeichnis: Seite 405-408"
    (isbn,) = record.identifiers_of("isbn")
    assert (isbn.value, isbn.kind, isbn.valid) == ("9783662468197", "print", True)
    # Known rows without a field keep their English label; nothing is dropped.
    assert record.extra["catalogue:Call Number"] == ["MAT 120/17"]
    assert record.extra["catalogue:Physical Description"] == [
        "XV, 412 Seiten : Illustrationen, Diagramme"
    ]


def test_wrong_issn_check_digit_is_kept_and_flagged() -> None:
    record = only_record("wrong-issn.txt")
    assert [(i.value, i.valid) for i in record.identifiers_of("issn")] == [
        ("0028-0837", False),
        ("1476-4687", True),
    ]
    assert record.issued is not None and record.issued.parts == (2001, 2, 15)
    assert (record.volume, record.issue, record.page) == ("409", "6822", "860-921")
    assert [a.literal for a in record.author] == [
        "International Human Genome Sequencing Consortium"
    ]


def test_other_authors_and_a_corporate_author() -> None:
    record = only_record("other-authors.txt")
    assert [a.model_dump(exclude_defaults=True) for a in record.author] == [
        {"family": "Pittet", "given": "Didier"},
        {"literal": "World Health Organization"},
        {"family": "Allegranzi", "given": "Benedetta"},
    ]
    assert [(e.family, e.given) for e in record.editor] == [("Boyce", "John M.")]
    assert record.keywords == ["Hand disinfection", "Cross infection > prevention & control"]
    assert record.extra["catalogue:Production Credits"] == ["WHO Patient Safety"]
    assert "Other Authors: Allegranzi" in (record.field_sources["author"].raw or "")
    assert (
        record.field_sources["editor"].raw
        == "Other Authors: Allegranzi, Benedetta\nBoyce, John M., editor."
    )


def test_german_aufsatz_in_a_journal_is_an_article() -> None:
    record = only_record("aufsatz-de.txt")
    assert record.type == "article-journal"
    assert record.container_title == "Zeitschrift für Soziologie"
    assert (record.volume, record.issue, record.page) == ("46", "2", "95-112")
    assert record.issued is not None and record.issued.parts == (2017,)
    assert [(a.family, a.given) for a in record.author] == [("Müller", "Hans"), ("Schmidt", "Anna")]
    assert record.keywords == ["Bildungsungleichheit", "Soziale Herkunft"]


# --- Broken rows, several records, no rows ----------------------------------------------------


def test_rows_before_and_after_a_broken_one_survive() -> None:
    record = only_record("broken-row.txt")
    assert record.type == "article-journal"
    assert [(a.family, a.given) for a in record.author] == [("Doe", "Jane"), ("Roe", "Richard")]
    assert record.language == "en"
    assert record.doi == "10.1000/xyz123"
    assert [i.value for i in record.identifiers_of("issn")] == ["1792-0981"]
    assert record.container_title is None
    assert record.extra == {
        "catalogue:Published in": ["Vol."],
        "catalogue:DOI": ["not a doi at all"],
        "catalogue:ISSN": ["12"],
        "catalogue:Language": ["Xyzzyqwv"],
        "catalogue:Call Number": ["QH 301 .B56"],
    }


def test_several_records_split_on_dashes_and_form_feeds() -> None:
    results = read_case("multi.txt")
    assert all(isinstance(r, Record) for r in results), results
    records = [r for r in results if isinstance(r, Record)]
    assert [r.title for r in records] == [
        TITLE,
        "Algebraic geometry",
        "WHO guidelines on hand hygiene in health care",
    ]
    assert_is_seed(records[0])
    assert semantic(records[1]) == semantic(only_record("book.txt"))


def test_a_bad_chunk_between_good_ones_is_a_located_error() -> None:
    good = "A title\nFormat: Book\nISBN: 0387902449\n"
    text = good + "----\nLoading...\n\nJust a sentence.\n\n----\n" + good + "----\n\n"
    first, bad, last = read_text(text, "pages.txt")
    assert isinstance(first, Record) and isinstance(last, Record)
    assert isinstance(bad, ParseError)
    assert (bad.source, bad.record, bad.line) == ("pages.txt", 2, 5)
    assert "no catalogue rows" in bad.cause
    assert bad.raw is not None and "Just a sentence." in bad.raw


def test_a_page_without_rows_names_the_file_and_why() -> None:
    (error,) = read_case("no-rows.txt")
    assert isinstance(error, ParseError)
    assert error.source.endswith("no-rows.txt")
    assert error.format_name == "catalogue-text"
    assert "no-rows.txt, line 1, record 1" in str(error)
    assert "Label: value" in str(error)


def test_empty_input_is_an_error_not_silence() -> None:
    (error,) = read_text("\n\n   \n----\n")
    assert isinstance(error, ParseError)
    assert error.cause == "the input is empty"


def test_unknown_rows_are_kept_not_dropped() -> None:
    text = (
        "A title\nBibliographic Details\nFormat: Book\nCall Number: QA 76.9 .A43\n"
        "Holdings Note: Second copy\nin the reading room\nISBN: 0387902449\n"
    )
    (record,) = read_text(text)
    assert isinstance(record, Record)
    assert record.extra == {
        "catalogue:Call Number": ["QA 76.9 .A43"],
        "catalogue:Holdings Note": ["Second copy\nin the reading room"],
    }
    assert [i.value for i in record.identifiers] == ["0387902449"]


def test_unknown_format_is_a_document_and_keeps_the_value() -> None:
    (record,) = read_text("A title\nFormat: Kit\nLanguage: English\n")
    assert isinstance(record, Record)
    assert record.type == "document"
    assert record.extra == {"catalogue:Format": ["Kit"]}
    assert record.field_sources["type"].raw == "Format: Kit"


def test_carrier_next_to_a_type_is_kept() -> None:
    (record,) = read_text("A title\nFormat: Book\nElectronic\nLanguage: English\n")
    assert isinstance(record, Record)
    assert record.type == "book"
    assert record.extra == {"catalogue:Format": ["Electronic"]}


def test_second_language_is_kept_in_extra() -> None:
    (record,) = read_text("A title\nFormat: Book\nLanguage: German\nEnglish\n")
    assert isinstance(record, Record)
    assert record.language == "de"
    assert record.extra == {"catalogue:Language": ["English"]}


# --- Pure rules (shared with the VuFind web source) -------------------------------------------


def test_record_from_plain_label_value_pairs() -> None:
    rows = [
        ("Veröffentlicht in", "Nature 2001-02-15, Vol.409 (6822), p.860-921"),
        ("Hauptverfasser", "Lander, Eric S.\nLinton, Lauren M."),
        ("Format", "Artikel"),
        ("ISSN", "0028-0836"),
    ]
    record = record_from_rows(rows, "Initial sequencing", source="vufind")
    assert record.type == "article-journal"
    assert [(a.family, a.given) for a in record.author] == [
        ("Lander", "Eric S."),
        ("Linton", "Lauren M."),
    ]
    assert record.field_sources["volume"].source == "vufind"
    assert record.field_sources["volume"].raw == (
        "Veröffentlicht in: Nature 2001-02-15, Vol.409 (6822), p.860-921"
    )
    assert (
        record_from_rows([Row(*rows[2], raw="Format:Artikel")], None).field_sources["type"].raw
        == "Format:Artikel"
    )


@pytest.mark.parametrize(
    ("label", "canonical"),
    [
        ("Published in", "Published in"),
        ("Veröffentlicht in", "Published in"),
        ("erschienen in:", "Published in"),
        ("Main Authors", "Main Authors"),
        ("Hauptverfasser", "Main Authors"),
        ("1. Verfasser", "Main Author"),
        ("Weitere Verfasser", "Other Authors"),
        ("Körperschaft", "Corporate Author"),
        ("Sprache", "Language"),
        ("Schlagworte", "Subjects"),
        ("Schlagwörter", "Subjects"),
        ("Veröffentlicht", "Published"),
        ("Ausgabe", "Edition"),
        ("Schriftenreihe", "Series"),
        ("Zusammenfassung", "Summary"),
        ("Beschreibung", "Physical Description"),
        ("Umfang", "Physical Description"),
        ("Anmerkungen", "Notes"),
        ("Online-Zugang", "Online Access"),
        ("Gespeichert in", "Saved in"),
        ("Zitate", "Citations"),
        ("  physical   DESCRIPTION ", "Physical Description"),
        ("Methoden", None),
    ],
)
def test_label_table(label: str, canonical: str | None) -> None:
    assert canonical_label(label) == canonical


@pytest.mark.parametrize(
    ("text", "title", "parts", "volume", "issue", "page"),
    [
        (
            "Experimental and therapeutic medicine 2017-08, Vol.14 (2), p.1538-1546",
            "Experimental and therapeutic medicine", (2017, 8), "14", "2", "1538-1546",
        ),
        (
            "Zeitschrift für Soziologie. Jg. 46 (2017), H. 2, S. 95-112",
            "Zeitschrift für Soziologie", (2017,), "46", "2", "95-112",
        ),
        ("Journal of Things, Vol. 14, no. 2, pp. 33-40", "Journal of Things", None, "14", "2",
         "33-40"),
        ("Nature 14(2):33-40, 2017", "Nature", (2017,), "14", "2", "33-40"),
        ("Nature, Aug 2017, Vol 548", "Nature", (2017, 8), "548", None, None),
        ("Archiv für Musikwissenschaft Bd. 12, Heft 3 (1955)", "Archiv für Musikwissenschaft",
         (1955,), "12", "3", None),
        ("PLoS ONE 2014, Vol.9 (3), p.e90123", "PLoS ONE", (2014,), "9", "3", "e90123"),
        ("Just a journal title", "Just a journal title", None, None, None, None),
        ("Proceedings of the 2017 Conference on Things, p. 5-9",
         "Proceedings of the 2017 Conference on Things", None, None, None, "5-9"),
        ("Lancet (London, England) 2020-03-28, Vol.395 (10229), p.1054-1062",
         "Lancet (London, England)", (2020, 3, 28), "395", "10229", "1054-1062"),
        ("Vol. 3, p. 5", None, None, "3", None, "5"),
    ],
)  # fmt: skip
def test_published_in(
    text: str,
    title: str | None,
    parts: tuple[int, ...] | None,
    volume: str | None,
    issue: str | None,
    page: str | None,
) -> None:
    container = parse_published_in(text)
    assert container.title == title
    assert (container.issued.parts if container.issued else None) == parts
    assert (container.volume, container.issue, container.page) == (volume, issue, page)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("New York : Springer-Verlag, 1977", ("New York", "Springer-Verlag", (1977,))),
        ("Berlin ; Heidelberg : Springer Spektrum, [2015]",
         ("Berlin; Heidelberg", "Springer Spektrum", (2015,))),
        ("Cambridge, Mass. : MIT Press, c2009.", ("Cambridge, Mass.", "MIT Press", (2009,))),
        ("Springer, 2010", (None, "Springer", (2010,))),
        ("2017", (None, None, (2017,))),
        ("London : Routledge", ("London", "Routledge", None)),
    ],
)  # fmt: skip
def test_publication(text: str, expected: tuple[str | None, str | None, object]) -> None:
    place, publisher, date = parse_publication(text)
    assert (place, publisher, date.parts if date else None) == expected


def test_published_in_keeps_what_it_cannot_explain() -> None:
    container = parse_published_in("Journal of Things 2017, Vol. 3, Suppl. 2, Article 45")
    assert (container.title, container.volume) == ("Journal of Things", "3")
    assert container.rest == "Suppl. 2, Article 45"
    assert parse_published_in("Nature 2017, Vol. 548, p. 1-5").rest is None
    (record,) = read_text("A title\nFormat: Article\nPublished in: J 2017, Vol. 3, Suppl. 2\n")
    assert isinstance(record, Record)
    assert record.volume == "3"
    assert record.extra == {"catalogue:Published in": ["J 2017, Vol. 3, Suppl. 2"]}


def test_series_and_page_count() -> None:
    assert parse_series("Lecture notes in computer science ; 4443") == (
        "Lecture notes in computer science",
        "4443",
    )
    assert parse_series("Springer-Lehrbuch ; Bd. 7") == ("Springer-Lehrbuch", "7")
    assert parse_series("Studies; in; things") == ("Studies; in; things", None)
    assert parse_page_count("xvi, 496 p. : ill. ; 25 cm.") == "496"
    assert parse_page_count("XV, 412 Seiten : Illustrationen") == "412"
    assert parse_page_count("1 online resource") is None


@pytest.mark.parametrize(
    ("value", "journal_like", "expected"),
    [
        ("Article", False, "article-journal"),
        ("Artikel", False, "article-journal"),
        ("Book", False, "book"),
        ("Buch", False, "book"),
        ("eBook", False, "book"),
        ("E-Book", False, "book"),
        ("Book Chapter", False, "chapter"),
        ("Buchkapitel", False, "chapter"),
        ("Aufsatz", False, "chapter"),
        ("Aufsatz", True, "article-journal"),
        ("Journal", False, "periodical"),
        ("Zeitschrift", False, "periodical"),
        ("Thesis", False, "thesis"),
        ("Abschlussarbeit", False, "thesis"),
        ("Conference Proceeding", False, "paper-conference"),
        ("Electronic", False, None),
        ("Kit", False, None),
    ],
)
def test_format_to_type(value: str, journal_like: bool, expected: str | None) -> None:
    assert format_to_type(value, journal_like=journal_like) == expected


def test_authors_with_roles_and_life_dates() -> None:
    found = parse_authors(
        "Müller, Hans (VerfasserIn)\nSchmidt, Anna [Hrsg.]\nKafka, Franz, 1883-1924\n"
        "Roe, Rita (Illustrator)\nDoe, John, translator."
    )
    assert [(n.family, n.given, role) for n, role in found] == [
        ("Müller", "Hans", "author"),
        ("Schmidt", "Anna", "editor"),
        ("Kafka", "Franz", "author"),
        ("Roe", "Rita", "other"),
        ("Doe", "John", "translator"),
    ]
    (corporate,) = parse_authors("Deutsche Forschungsgemeinschaft", corporate=True)
    assert corporate[0].literal == "Deutsche Forschungsgemeinschaft"
    # A parenthesis that names no role is part of the name (a corporate qualifier).
    found = parse_authors(
        "Deutsches Institut für Normung (Berlin)\nWHO (HerausgeberIn)", corporate=True
    )
    assert [(n.literal, role) for n, role in found] == [
        ("Deutsches Institut für Normung (Berlin)", "author"),
        ("WHO", "editor"),
    ]


def test_an_author_in_an_unknown_role_is_kept_not_made_an_author() -> None:
    (record,) = read_text("A title\nFormat: Book\nOther Authors: Roe, Rita (Illustrator)\n")
    assert isinstance(record, Record)
    assert record.author == []
    assert record.extra == {"catalogue:Other Authors": ["Roe, Rita (Illustrator)"]}


# --- Sniffing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["seed.txt", "seed-de.txt", "book.txt", "book-de.txt", "multi.txt", "seed-crlf.txt"]
)
def test_sniff_claims_catalogue_pages(name: str) -> None:
    head = (CASES / name).read_text(encoding="utf-8").replace("\r\n", "\n")
    assert sniff(head)
    assert find_format(head=head) is FORMAT


@pytest.mark.parametrize(
    "head",
    [
        "TY  - JOUR\nTI  - Title: a study\nSN  - 1792-0981\nDO  - 10.1/x\nLA  - English\nER  - \n",
        "@article{li2017,\n  title = {Format: Article},\n  issn = {1792-0981},\n"
        "  doi = {10.3892/etm.2017.4687},\n}\n",
        '[{"type": "article-journal", "ISSN": "1792-0981", "DOI": "10.1/x"}]\n',
        '{"type": "article-journal", "title": "x"}\n',
        '[\n  {\n    "ISSN": "1792-0981",\n    "DOI": "10.1/x"\n  }\n]\n',
        "Subject: hello\nDate: Mon, 1 Jan 2024\nFrom: someone\n\nISSN: only one label here\n",
        "Just some prose about a DOI: 10.1/x and nothing else.\n",
        "---\nreferences:\n- id: x\n  isbn: 0-822-32714-7\n  language: en-US\n  issn: 1234-5678\n",
        "format: article\nlanguage: English\nissn: 1792-0981\n",
    ],
)
def test_sniff_leaves_other_formats_alone(head: str) -> None:
    assert not sniff(head)


def test_registered_with_aliases() -> None:
    assert find_format("vufind-text") is FORMAT
    assert find_format("catalogue") is FORMAT
    assert find_format("catalogue-text") is FORMAT
    assert FORMAT.writer is None and FORMAT.read is read


# --- Robustness ----------------------------------------------------------------------------

_PIECES = [
    "Published in:", "Main Authors:", "Format:", "Language:", "ISSN:", "ISBN:", "DOI:",
    "Summary:", "Subjects:", "Veröffentlicht in:", "Beschreibung", "Description", "----",
    "\f", "\r", "\n", "\r\n", "\u2028", "\x00", "\ufeff", "\ud800", " Vol.", " (", ")",
    " p.", "-", "2017", "13", "Li, Ai", ", ", ":", "Loading…", "X", "1792-0981", "\t",
]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)))
def test_arbitrary_text_yields_only_records_or_parse_errors(text: str) -> None:
    results = read_text(text)
    assert results, "every input yields at least one item"
    for item in results:
        assert isinstance(item, Record | ParseError)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_through_the_api_yield_only_records_or_errors(data: bytes) -> None:
    for item in api.read(data, format="catalogue-text"):
        assert isinstance(item, Record | ParseError)


def test_fixture_files_are_all_read(tmp_path: Path) -> None:
    """Every fixture yields records only, except the page that has no rows."""
    for path in sorted(CASES.glob("*.txt")):
        results = read_case(path.name)
        errors = [r for r in results if isinstance(r, ParseError)]
        assert bool(errors) == (path.name == "no-rows.txt"), (path.name, errors)


def test_without_a_format_row_the_type_follows_the_citation() -> None:
    (article,) = read_text("A title\nPublished in: Nature 2017, Vol. 548, p. 1-5\n")
    assert isinstance(article, Record)
    assert article.type == "article-journal"
    assert article.field_sources["type"].raw == "Published in: Nature 2017, Vol. 548, p. 1-5"
    (book,) = read_text("A title\nPublished: London : Routledge, 2001\nISBN: 0387902449\n")
    assert isinstance(book, Record)
    assert book.type == "book"
    (other,) = read_text("A title\nLanguage: English\nNotes: Something\n")
    assert isinstance(other, Record)
    assert other.type == "document"
    assert "type" not in other.field_sources


_LABELS = [
    "Published in", "Veröffentlicht in", "Main Authors", "Hauptverfasser", "Other Authors",
    "Corporate Author", "Format", "Language", "Sprache", "Published", "Edition", "Series",
    "Subjects", "Summary", "ISSN", "ISBN", "DOI", "URL", "Physical Description", "Notes",
    "Online Access", "Tags", "Title", "Year of Publication", "Volume", "Issue", "Whatever",
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_LABELS), st.text(max_size=60)), max_size=12),
    st.one_of(st.none(), st.text(max_size=40)),
)
def test_record_from_rows_always_builds_a_record(
    rows: list[tuple[str, str]], title: str | None
) -> None:
    """One bad value never costs the record: the pure rules always give a Record."""
    record = record_from_rows(rows, title, teaser="Teaser...")
    assert isinstance(record, Record)
    for name in record.field_sources:
        assert name in Record.model_fields
