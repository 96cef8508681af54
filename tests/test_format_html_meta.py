"""html-meta: landing pages' embedded metadata, layer by layer, against real fixtures."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvester import api
from harvester.errors import ParseError
from harvester.formats import FORMATS, find_format
from harvester.formats.html_meta import (
    FORMAT,
    MAX_HTML_CHARS,
    coins,
    coins_spans,
    decode_html,
    dublin_core,
    eprints,
    json_ld,
    json_ld_objects,
    load_page,
    microdata,
    open_graph,
    parse_html,
    prism,
    rdfa,
    read,
    record_from_html,
    sniff,
)
from harvester.model import Record
from tests.conftest import CORPUS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TURTLE = CORPUS / "html-metadata" / "test" / "static"
EXTRUCT = CORPUS / "extruct" / "tests" / "samples"


def page(head: str = "", body: str = "") -> str:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"


def meta(name: str, content: str) -> str:
    return f'<meta name="{name}" content="{content}">'


def record_of(html: str | bytes, url: str | None = None) -> Record:
    record = record_from_html(html, url)
    assert record is not None
    return record


def ids(record: Record, scheme: str) -> list[str]:
    return [i.value for i in record.identifiers if i.scheme == scheme]


def names(record: Record, role: str = "author") -> list[tuple[str | None, str | None]]:
    return [
        (n.family, n.given) if n.literal is None else (n.literal, None)
        for n in getattr(record, role)
    ]


# --- The corpus: Wikimedia's every-flavour page and extruct's samples ---------------------------

PREFIXES = {
    "highwirePress": "citation_",
    "bePress": "bepress_citation_",
    "dublinCore": "dc.",
    "eprints": "eprints.",
    "prism": "prism.",
}


def _grouped(html: bytes, prefix: str) -> dict[str, Any]:
    root = parse_html(html)
    grouped: dict[str, list[str]] = {}
    for key, _name, content in load_page(root).meta:
        if key.startswith(prefix):
            grouped.setdefault(key[len(prefix) :], []).append(content)
    return {k: v[0] if len(v) == 1 else v for k, v in grouped.items()}


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["turtle_article.html", "turtle_article_case.html"])
@pytest.mark.parametrize("flavour", sorted(PREFIXES))
def test_meta_tags_match_html_metadata_expectations(name: str, flavour: str) -> None:
    """Every tag of each flavour is read, in any case, with the expected value."""
    expected = json.loads((TURTLE / "turtle_article.json").read_text())[flavour]
    actual = _grouped((TURTLE / name).read_bytes(), PREFIXES[flavour])
    if name == "turtle_article_case.html":
        # That page also capitalises some values ("Article"): compare those folded.
        actual, expected = _folded(actual), _folded(expected)
    assert actual == {k.lower(): v for k, v in expected.items()}


def _folded(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k.lower(): [x.lower() for x in v] if isinstance(v, list) else v.lower()
        for k, v in values.items()
    }


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["turtle_article.html", "turtle_article_case.html"])
def test_coins_match_html_metadata_expectations(name: str) -> None:
    [span] = coins_spans(parse_html((TURTLE / name).read_bytes()))
    [expected] = json.loads((TURTLE / "turtle_article.json").read_text())["coins"]
    flat = {k: [v] for k, v in expected.items() if k != "rft"}
    for key, value in expected["rft"].items():
        flat[f"rft.{key}"] = value if isinstance(value, list) else [value]
    # Keys compare case-insensitively (KEV keys are lower-cased on reading); values exactly.
    assert {k.lower(): v for k, v in flat.items()} == {
        k: (v if k != "rft.genre" else [v[0].lower()]) for k, v in span.items()
    }


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["turtle_article.html", "turtle_article_case.html"])
def test_turtle_article_record_maps_the_highwire_expectations(name: str) -> None:
    hw = json.loads((TURTLE / "turtle_article.json").read_text())["highwirePress"]
    record = record_of((TURTLE / name).read_bytes())
    assert record.title == hw["title"]
    assert record.container_title == hw["journal_title"]
    assert ids(record, "issn") == [hw["issn"]]
    assert ids(record, "doi") == [hw["doi"]]
    assert record.issued is not None and record.issued.parts == (2012, 2, 4)
    assert names(record) == [("Lvr", "Turtle")]
    assert (record.volume, record.issue) == (hw["volume"], hw["issue"])
    assert record.page == f"{hw['firstpage']}-{hw['lastpage']}"
    assert record.publisher == hw["publisher"]
    assert record.abstract == hw["abstract"]
    assert record.type == "article-journal"
    assert record.field_sources["title"].source == "embedded:highwire"
    assert record.field_sources["issued"].raw is not None
    assert "2012-02-04" in record.field_sources["issued"].raw
    # The COinS span describes another article (another DOI): left out, and said so.
    assert "Carberry" not in json.dumps(record.model_dump(mode="json"))
    assert any("coins" in s for s in record.extra["html-meta:skipped"])
    # Open Graph only fills gaps: the tags, nothing Highwire already gave.
    assert record.keywords == ["turtles", "are", "awesome"]
    assert record.field_sources["keywords"].source == "embedded:open-graph"
    # A profile URL in dc.creator / eprints.creators_name is not a name.
    assert (
        "http://www.example.com/turtlelvr"
        in record.extra[
            "html-meta:" + ("dc.creator" if name == "turtle_article.html" else "DC.Creator")
        ]
    )


@pytest.mark.corpus
def test_each_turtle_layer_alone() -> None:
    root = parse_html((TURTLE / "turtle_article.html").read_bytes())
    dc = dublin_core(root)
    assert dc is not None and dc.title == "Turtles are AWESOME!!1"
    assert dc.issued is not None and dc.issued.parts == (2012, 2, 4)
    assert dc.type == "article-journal"  # dc.type "Text.Article"
    pr = prism(root)
    assert pr is not None and pr.container_title == "Turtles Society" and pr.page == "123"
    assert ids(pr, "doi") == ["10.1000/123"]
    ep = eprints(root)
    assert ep is not None and ep.type == "article-journal" and ep.author == []
    cs = coins(root)
    assert cs is not None and cs.title.startswith("Toward a Unified Theory")
    assert cs.container_title == "Journal of Psychoceramics"
    assert names(cs) == [("Carberry", "Josiah")]
    assert (cs.volume, cs.issue, cs.page) == ("5", "11", "1-3")
    assert ids(cs, "doi") == ["10.5555/12345678"]
    og = open_graph(root)
    assert (
        og is not None and og.type == "webpage" and og.container_title == "Awesome Turtles Website"
    )
    # The JSON-LD is an Organization (no work) plus a broken script: no layer, no error.
    assert json_ld(root) is None
    assert [o["@type"] for o in json_ld_objects(root)] == ["Organization"]


@pytest.mark.corpus
def test_turtle_errors_page_has_no_metadata() -> None:
    """Attributes misspelled everywhere and broken JSON-LD: nothing to read, no exception."""
    assert record_from_html((TURTLE / "turtle_article_errors.html").read_bytes()) is None


@pytest.mark.corpus
def test_turtle_movie() -> None:
    record = record_of((TURTLE / "turtle_movie.html").read_bytes())
    assert record.title == "Turtles of the Jungle"
    assert record.type == "motion_picture"  # DC.Type Image.Moving
    # PRISM's publicationName repeats the title: not a container.
    assert record.container_title is None


@pytest.mark.corpus
@pytest.mark.parametrize(
    "sample",
    [
        "custom.invalid/JSONLD_with_JS_comment",
        "custom.invalid/JSONLD_with_control_characters",
        "custom.invalid/JSONLD_with_control_characters_comment",
        "misc/null_ld_mock",
        "schema.org/CreativeWork.001",
    ],
)
def test_json_ld_objects_match_extruct(sample: str) -> None:
    """Broken-in-the-wild JSON-LD is repaired exactly as extruct expects; nulls dropped."""
    html = (EXTRUCT / f"{sample}.html").read_bytes()
    expected = json.loads((EXTRUCT / f"{sample}.jsonld").read_text())
    assert json_ld_objects(parse_html(html)) == expected


@pytest.mark.corpus
def test_extruct_book_in_webpage() -> None:
    html = (EXTRUCT / "schema.org" / "CreativeWork.001.html").read_bytes()
    [expected] = json.loads((EXTRUCT / "schema.org" / "CreativeWork.001.jsonld").read_text())
    book = expected["mainEntity"]
    record = record_of(html)
    assert record.type == "book"
    assert record.title == book["name"]
    assert ids(record, "isbn") == [book["isbn"]]
    assert record.publisher == book["publisher"]
    assert record.number_of_pages == book["numberOfPages"]
    assert record.issued is not None and record.issued.parts == (1991, 5, 1)
    assert record.language == "en"  # "English"
    assert record.author == []  # "/author/jd_salinger.html" is a link, not a name
    assert record.field_sources["title"].source == "embedded:json-ld"
    # The page's microdata describes two other books: skipped, not merged in.
    assert any(s.startswith("microdata:") for s in record.extra["html-meta:skipped"])
    root = parse_html(html)
    md = microdata(root)
    assert md is not None and md.title == "Rouge et le noir" and md.language == "fr"


@pytest.mark.corpus
def test_extruct_dublin_core() -> None:
    html = (EXTRUCT / "misc" / "dublincore_test.html").read_bytes()
    [expected] = json.loads((EXTRUCT / "misc" / "dublincore_test.json").read_text())
    by_name = {
        e["name"]: e["content"] for e in expected["elements"] + expected["terms"] if "name" in e
    }
    record = record_of(html)
    assert record.title == " ".join(by_name["DC.title"].split())
    assert record.abstract == by_name["DCTERMS.abstract"]
    assert record.issued is not None and record.issued.parts == (2003, 11, 1)
    assert names(record) == [(by_name["DC.creator"], None)]  # an organisation: a literal
    assert ids(record, "url") == [by_name["DC.identifier"]]
    assert record.extra["html-meta:DC.format"] == [by_name["DC.format"]]
    assert record.extra["html-meta:DCTERMS.modified"] == [by_name["DCTERMS.modified"]]
    assert record.type == "document"  # DC.type "Text" says no more than that


@pytest.mark.corpus
def test_extruct_open_graph() -> None:
    html = (EXTRUCT / "misc" / "opengraph_test.html").read_bytes()
    [expected] = json.loads((EXTRUCT / "misc" / "opengraph_test.json").read_text())
    props = dict(expected["properties"])
    record = record_of(html)
    assert record.type == "webpage"
    assert record.title == props["og:title"]
    assert record.abstract == props["og:description"]
    assert record.container_title == props["og:site_name"]
    assert ids(record, "url") == [props["og:url"]]
    assert record.issued is not None and record.issued.parts == (2012, 4, 4)
    assert record.author == []  # article:author is a profile URL
    assert all(s.source == "embedded:open-graph" for s in record.field_sources.values())


# --- A VuFind record page ------------------------------------------------------------------------


def test_vufind_record_page() -> None:
    """VuFind writes MM/DD/YYYY dates, one tag per ISSN and author, eprints.number = volume."""
    html = (FIXTURES / "html" / "vufind_article.html").read_bytes()
    record = record_of(html, "https://catalogue.example.org/Record/ex.42")
    assert record.title == "Infusion therapy in the community : a review"
    assert names(record) == [("Li", "Ai"), ("Yuan", "Tao")]
    assert record.issued is not None and record.issued.parts == (2017, 8, 1)
    assert record.field_sources["issued"].raw == "citation_date: 08/01/2017"
    assert ids(record, "doi") == ["10.1234/example.2017.042"]
    assert ids(record, "issn") == ["0028-0836", "1476-4687"]
    assert (record.volume, record.issue, record.page) == ("11", "4", "2349-2356")
    assert record.container_title == "Journal of Community Nursing"
    assert record.language == "en"
    assert record.type == "article-journal"
    assert record.extra["html-meta:eprints.number"] == ["11"]
    # RDFa fills what the tags lack: the place, and the subject heading (comma kept).
    assert record.publisher_place == "London"
    assert record.field_sources["publisher_place"].source == "embedded:rdfa"
    assert record.keywords == ["Infusions, Intravenous"]
    assert "html-meta:skipped" not in record.extra
    assert ids(record, "url") == []  # the page address is the source's business


def test_vufind_rdfa_and_coins_layers() -> None:
    root = parse_html((FIXTURES / "html" / "vufind_article.html").read_bytes())
    item = rdfa(root)
    assert item is not None
    assert item.title == "Infusion therapy in the community a review"
    assert names(item) == [("Li", "Ai"), ("Yuan", "Tao")]  # "(Author)" role dropped
    assert item.publisher == "Example Health Press"
    assert item.issued is not None and item.issued.parts == (2017,)
    assert item.type == "article"
    span = coins(root)
    assert span is not None
    assert ids(span, "doi") == ["10.1234/example.2017.042"]  # rft_id[0], PHP array syntax
    assert span.page == "2349" and span.language == "en"


def test_vufind_epoch_date_is_not_a_date() -> None:
    """PHP's strtotime failing on "c2017" makes VuFind write 01/01/1970."""
    html = page(
        meta("citation_title", "T")
        + meta("citation_date", "01/01/1970")
        + meta("DC.issued", "c2017")
    )
    record = record_of(html)
    assert record.issued is not None and record.issued.parts == (2017,)
    assert record.field_sources["issued"].source == "embedded:dublin-core"
    assert record.extra["html-meta:epoch-date"] == ["01/01/1970"]


def test_eprints_number_is_the_issue_when_a_volume_is_given() -> None:
    tags = [
        ("eprints.title", "T"),
        ("eprints.volume", "7"),
        ("eprints.number", "2"),
        ("eprints.type", "book_section"),
        ("eprints.book_title", "Big Book"),
    ]
    html = page("".join(meta(n, v) for n, v in tags))
    record = record_of(html)
    assert (record.volume, record.issue) == ("7", "2")
    assert record.type == "chapter" and record.container_title == "Big Book"


# --- Highwire details ----------------------------------------------------------------------------


def test_highwire_details() -> None:
    head = "".join(
        meta(n, v)
        for n, v in [
            ("citation_title", "On  things"),
            ("citation_author", "Smith, Jane"),
            ("citation_author", "John van der Berg"),
            ("citation_author", "World Health Organization"),
            ("citation_publication_date", "2019/03/05"),
            ("citation_doi", "https://doi.org/10.5555/ABC"),
            ("citation_isbn", "978-0-306-40615-7"),
            ("citation_pmid", "12345678"),
            ("citation_keywords", "alpha; beta;gamma"),
            ("citation_keywords", "delta"),
            ("citation_pdf_url", "https://example.org/a.pdf"),
            ("citation_abstract", "Line one.\nLine two."),
            ("citation_conference_title", "Proc. of Things"),
            ("citation_firstpage", "e101"),
        ]
    )
    record = record_of(page(head))
    assert record.title == "On things"
    assert names(record) == [
        ("Smith", "Jane"),
        ("Berg", "John"),
        ("World Health Organization", None),
    ]
    assert record.author[1].non_dropping_particle == "van der"
    assert record.issued is not None and record.issued.parts == (2019, 3, 5)
    assert ids(record, "doi") == ["10.5555/abc"]
    assert ids(record, "isbn") == ["9780306406157"]
    assert ids(record, "pmid") == ["12345678"]
    assert record.keywords == ["alpha", "beta", "gamma", "delta"]
    assert record.extra["html-meta:citation_pdf_url"] == ["https://example.org/a.pdf"]
    assert record.abstract == "Line one.\nLine two."
    assert record.type == "paper-conference" and record.container_title == "Proc. of Things"
    assert record.page == "e101"
    assert record.field_sources["author"].raw == (
        "citation_author: Smith, Jane\ncitation_author: John van der Berg\n"
        "citation_author: World Health Organization"
    )


@pytest.mark.parametrize(
    ("tags", "kind"),
    [
        ([("citation_dissertation_institution", "MIT")], "thesis"),
        (
            [
                ("citation_technical_report_institution", "NASA"),
                ("citation_technical_report_number", "TR-1"),
            ],
            "report",
        ),
        ([("citation_inbook_title", "A Book")], "chapter"),
        ([("citation_isbn", "0306406152")], "book"),
        ([("citation_journal_title", "J")], "article-journal"),
        ([], "document"),
    ],
)
def test_highwire_types(tags: list[tuple[str, str]], kind: str) -> None:
    html = page(meta("citation_title", "T") + "".join(meta(n, v) for n, v in tags))
    assert record_of(html).type == kind


def test_highwire_property_attribute_and_odd_values() -> None:
    html = page(
        '<meta property="citation_title" content="Title &amp; more">'
        '<meta name="citation_author" content="">'
        '<meta name="citation_author">'
        '<meta name="citation_date" content="not a date at all">'
        '<meta name="citation_doi" content="no doi here">'
    )
    record = record_of(html)
    assert record.title == "Title & more"
    assert record.author == []
    assert record.issued is not None and record.issued.literal == "not a date at all"
    assert record.extra["html-meta:doi"] == ["no doi here"]


# --- JSON-LD, COinS, Open Graph ------------------------------------------------------------------

GRAPH = {
    "@context": "https://schema.org",
    "@graph": [
        {"@type": "Organization", "name": "Publisher Inc."},
        {"@type": "WebSite", "name": "Site"},
        {
            "@type": "ScholarlyArticle",
            "headline": "Graphs of things",
            "author": [
                {"@type": "Person", "givenName": "Ada", "familyName": "Lovelace"},
                {"@type": "Person", "name": "Charles Babbage"},
                {"@type": "Organization", "name": "Analytical Society"},
            ],
            "datePublished": "1843-09",
            "isPartOf": {
                "@type": "PublicationIssue",
                "issueNumber": "3",
                "isPartOf": {
                    "@type": "PublicationVolume",
                    "volumeNumber": 12,
                    "isPartOf": {
                        "@type": "Periodical",
                        "name": "Scientific Memoirs",
                        "issn": ["0036-8075"],
                    },
                },
            },
            "pageStart": "666",
            "pageEnd": "731",
            "identifier": {"@type": "PropertyValue", "propertyID": "DOI", "value": "10.1000/XYZ"},
            "keywords": "engines, notes",
            "inLanguage": {"@type": "Language", "name": "English", "alternateName": "en"},
            "description": "Notes.",
            "publisher": {"@type": "Organization", "name": "Taylor"},
        },
    ],
}


def test_json_ld_graph_article() -> None:
    script = f'<script type="application/ld+json">{json.dumps(GRAPH)}</script>'
    record = record_of(page(body=script))
    assert record.type == "article-journal"
    assert record.title == "Graphs of things"
    assert names(record) == [
        ("Lovelace", "Ada"),
        ("Babbage", "Charles"),
        ("Analytical Society", None),
    ]
    assert record.issued is not None and record.issued.parts == (1843, 9)
    assert (record.container_title, record.volume, record.issue) == (
        "Scientific Memoirs",
        "12",
        "3",
    )
    assert record.page == "666-731"
    assert ids(record, "doi") == ["10.1000/xyz"]
    assert ids(record, "issn") == ["0036-8075"]
    assert record.keywords == ["engines", "notes"]
    assert record.language == "en"
    assert record.publisher == "Taylor"
    assert record.abstract == "Notes."


def test_json_ld_broken_script_is_repaired_or_ignored() -> None:
    good = '{"@type": "Book", "name": "Kept", /* note */ "isbn": "0306406152",}'
    bad = '{"@type": "Book" "name": "Lost"'
    html = page(body=f'<script type="application/ld+json">{bad}</script>'
                f'<script type="application/ld+json">{good}</script>')  # fmt: skip
    record = record_of(html)
    assert record.title == "Kept" and record.type == "book"
    assert ids(record, "isbn") == ["0306406152"]


def test_json_ld_deep_nesting_does_not_crash() -> None:
    deep = "[" * 5000 + "]" * 5000
    assert (
        record_from_html(page(body=f'<script type="application/ld+json">{deep}</script>')) is None
    )


def test_coins_book_chapter() -> None:
    kev = (
        "ctx_ver=Z39.88-2004&amp;rft_val_fmt=info%3Aofi%2Ffmt%3Akev%3Amtx%3Abook"
        "&amp;rft.genre=bookitem&amp;rft.atitle=A+chapter&amp;rft.btitle=The+Book"
        "&amp;rft.au=Doe%2C+Jane&amp;rft.au=Roe%2C+Rick&amp;rft.isbn=0-306-40615-2"
        "&amp;rft.pub=Press&amp;rft.place=Oxford&amp;rft.date=2001&amp;rft.pages=10-20"
        "&amp;rft_id=info%3Apmid%2F123456"
    )
    record = record_of(page(body=f'<span class="Z3988" title="{kev}"></span>'))
    assert record.type == "chapter"
    assert (record.title, record.container_title) == ("A chapter", "The Book")
    assert names(record) == [("Doe", "Jane"), ("Roe", "Rick")]
    assert (record.publisher, record.publisher_place, record.page) == ("Press", "Oxford", "10-20")
    assert ids(record, "isbn") == ["0306406152"] and ids(record, "pmid") == ["123456"]
    assert record.field_sources["title"].source == "embedded:coins"


def test_open_graph_fills_only_gaps() -> None:
    head = (
        meta("citation_title", "Real title")
        + meta("citation_journal_title", "J")
        + '<meta property="og:title" content="Real title | Site">'
        + '<meta property="og:type" content="article">'
        + '<meta property="og:description" content="From OG.">'
        + '<meta property="og:site_name" content="Site">'
    )
    record = record_of(page(head))
    assert record.title == "Real title"
    assert record.container_title == "J"
    assert record.type == "article-journal"
    assert record.abstract == "From OG."
    assert record.field_sources["abstract"].source == "embedded:open-graph"


def test_page_without_metadata() -> None:
    html = page("<title>Hello</title>" + meta("description", "A page") + meta("keywords", "a, b"))
    assert record_from_html(html) is None
    assert record_from_html("") is None
    assert record_from_html(b"\x00\x01\x02") is None


# --- The format: sniffing, reading, hostile input ------------------------------------------------


def test_sniff_and_registry() -> None:
    assert find_format("html-meta") is FORMAT and find_format("html") is FORMAT
    assert FORMAT.writer is None and FORMAT.read is read
    html = (FIXTURES / "html" / "vufind_article.html").read_text()
    assert sniff(html)
    assert find_format(head=html) is FORMAT
    assert sniff(page(body='<span class="Z3988" title="x"></span>'))
    assert sniff(page(body='<script type="application/ld+json">{}</script>'))
    xhtml = (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 '
        'Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n<html xmlns='
        '"http://www.w3.org/1999/xhtml"><head><meta name="DC.title" content="X"/></head></html>'
    )
    assert find_format(head=xhtml) is FORMAT
    assert record_of(xhtml).title == "X"
    assert FORMATS.aliases("html-meta") == FORMAT.aliases
    assert not sniff(page("<title>Plain</title>"))
    assert not sniff("TY  - JOUR\nTI  - citation_title\nER  - \n")
    assert not sniff("@article{k, title={<meta name=citation_title>}}")
    assert not sniff('<?xml version="1.0"?><record><meta name="citation_title"/></record>')


def test_vufind_page_text_is_not_stolen() -> None:
    """The catalogue-text reader keeps the text a person copies from a VuFind page."""
    seed = (FIXTURES / "catalogue_text" / "seed.txt").read_text()
    assert not sniff(seed)
    assert find_format(head=seed).name == "catalogue-text"


def test_read_through_api() -> None:
    html = (FIXTURES / "html" / "vufind_article.html").read_bytes()
    [record] = list(api.read(html))
    assert isinstance(record, Record) and record.doi == "10.1234/example.2017.042"
    [error] = list(api.read(page("<title>x</title>").encode(), format="html-meta"))
    assert isinstance(error, ParseError) and "no embedded metadata" in error.cause
    [empty] = list(read(io.StringIO("   "), "x.html"))
    assert isinstance(empty, ParseError)


def test_encodings() -> None:
    latin = page('<meta charset="windows-1252">' + meta("citation_title", "Café")).encode("cp1252")
    assert record_of(latin).title == "Café"
    undeclared = page(meta("citation_title", "Zoë")).encode("cp1252")
    assert record_of(undeclared).title == "Zoë"
    bom = b"\xef\xbb\xbf" + page(meta("citation_title", "Ångström")).encode()
    assert record_of(bom).title == "Ångström"
    assert decode_html("Straße".encode("utf-16"), None) == "Straße"
    assert decode_html(b"caf\xe9", "bogus-charset") == "café"


def test_no_entity_expansion_and_control_characters() -> None:
    html = (
        '<!DOCTYPE html [<!ENTITY x "EXPANDED">]><html><head>'
        '<meta name="citation_title" content="A &x; B\x00\x07">'
        '<meta name="citation_author" content="Doe,\nJane">'
        "</head></html>"
    )
    record = record_of(html)
    assert "EXPANDED" not in (record.title or "")
    assert "\x00" not in (record.title or "") and "\x07" not in (record.title or "")
    assert names(record) == [("Doe", "Jane")]


def test_huge_page_is_capped() -> None:
    head = meta("citation_title", "Big")
    filler = "<p>" + "x" * 1000 + "</p>"
    html = page(head, filler * (MAX_HTML_CHARS // len(filler) + 50))
    started = time.perf_counter()
    record = record_of(html)
    assert record.title == "Big"
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize(
    "html",
    [
        # A head of unclosed tags: a backtracking "<meta[^>]*" pattern took 30 s here.
        "<html><head>" + "<meta" * 13000,
        "<html><head>" + '<meta name="x" content="y"' * 3000,
        # Many RDFa items and one page-sized item: only the first items are looked at.
        '<html><body vocab="http://schema.org/">' + '<div typeof="Thing">x</div>' * 20000,
        '<html><body><div vocab="http://schema.org/" typeof="Book"><h1 property="name">B</h1>'
        + "<p><span>x</span></p>" * 40000,
        # A broken multi-megabyte JSON-LD script is not walked character by character.
        '<html><body><script type="application/ld+json">{"a": "'
        + "x" * 3_000_000
        + '" "b"}</script>',
    ],
)
def test_hostile_pages_stay_fast(html: str) -> None:
    started = time.perf_counter()
    sniff(html[:65536])
    result = record_from_html(html)
    assert result is None or isinstance(result, Record)
    assert time.perf_counter() - started < 5


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    result = record_from_html(data)
    assert result is None or isinstance(result, Record)


TAG_NAMES = ["citation_title", "citation_author", "citation_date", "citation_doi", "citation_issn",
             "DC.title", "DC.creator", "prism.volume", "eprints.pagerange", "og:title"]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(TAG_NAMES), st.text(max_size=40)), max_size=8))
def test_arbitrary_tag_values(tags: list[tuple[str, str]]) -> None:
    from html import escape

    html = page("".join(f'<meta name="{n}" content="{escape(v)}">' for n, v in tags))
    result = record_from_html(html)
    assert result is None or isinstance(result, Record)
    if result is not None:
        # A validated record survives a JSON round trip: no value can break an output.
        Record.model_validate_json(result.model_dump_json())


def test_second_values_are_kept_not_dropped() -> None:
    head = "".join(
        meta(n, v)
        for n, v in [
            ("citation_title", "First title"),
            ("citation_title", "Titre second"),
            ("citation_date", "Forthcoming"),
            ("citation_online_date", "2020-01-02"),
            ("citation_pdf_url", "/pdf/42"),
        ]
    )
    record = record_of(page(head), "https://journal.example.org/article/42")
    assert record.title == "First title"
    assert record.extra["html-meta:citation_title"] == ["Titre second"]
    # A real date beats the literal one; the literal is kept.
    assert record.issued is not None and record.issued.parts == (2020, 1, 2)
    assert record.extra["html-meta:citation_date"] == ["Forthcoming"]
    assert record.extra["html-meta:citation_pdf_url"] == ["https://journal.example.org/pdf/42"]
