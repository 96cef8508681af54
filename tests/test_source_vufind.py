"""VuFind record pages and their exports, served from recorded files on loopback.

The seed record as a VuFind 10 page (English and German) with its MARCXML, RIS, BibTeX
and REST API answers must give exactly the seed goldens; with every export answering
HTML the page alone must give the same record; a challenge page is ``Blocked``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from html import escape
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from harvester import api
from harvester.errors import Blocked, NotFound, ParseError
from harvester.formats.html_meta import parse_html
from harvester.http import AsyncHttpClient, HostPolicy, HttpSettings
from harvester.merge import Layer
from harvester.model import Date, Name, Record
from harvester.sources import SOURCES
from harvester.sources._base import FetchContext, SourceSettings, Target
from harvester.sources.vufind import (
    SOURCE,
    api_record,
    detect,
    merge_layers,
    page_rows,
    parse_record_url,
)
from tests.conftest import EXPECTED
from tests.recorded import base_url, load, serve

SEED_ID = "oai:spandidos:etm.2017.4687"
RECORD = f"/vufind/Record/{SEED_ID}"
EXPORT = f"{RECORD}/Export"
API = "/vufind/api/v1/record"
ALL_EXPORTS = ("MARCXML", "RIS", "BibTeX")


@pytest.fixture
def server(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    yield httpserver
    httpserver.clear()


def fetch(server: HTTPServer, path: str) -> list[Record]:
    """Run the VuFind source on one URL of the loopback server."""

    async def main() -> list[Record]:
        client = AsyncHttpClient(
            settings=HttpSettings(backoff_base=0.01, max_attempts=2, timeout=10),
            hosts={"127.0.0.1": HostPolicy(rate=0, concurrency=8)},
        )
        try:
            ctx = FetchContext(client=client, settings=SourceSettings())
            url = base_url(server) + path
            return await SOURCE.fetch(Target("url", url, url), ctx)
        finally:
            await client.aclose()

    return asyncio.run(main())


def serve_seed(server: HTTPServer, page: str = "seed-page") -> None:
    serve(server, RECORD, "vufind", page)
    serve(server, EXPORT, "vufind", "seed-marcxml", query={"style": "MARCXML"})
    serve(server, EXPORT, "vufind", "seed-ris", query={"style": "RIS"})
    serve(server, EXPORT, "vufind", "seed-bibtex", query={"style": "BibTeX"})
    serve(server, API, "vufind", "seed-api")


def requested(server: HTTPServer) -> list[str]:
    return [f"{req.path}?{req.query_string.decode()}" for req, _ in server.log]


def golden(name: str) -> str:
    return (EXPECTED / name).read_text(encoding="utf-8")


def assert_seed_goldens(records: list[Record]) -> None:
    assert api.dumps(records, "csl-json") == golden("seed.json")
    assert api.dumps(records, "bibtex") == golden("seed.bib")
    assert api.dumps(records, "ris") == golden("seed.ris")


# --- The seed ---------------------------------------------------------------------------------


def test_seed_page_with_every_export_gives_the_goldens(server: HTTPServer) -> None:
    serve_seed(server)
    records = fetch(server, f"/vufind/Record/{SEED_ID.replace(':', '%3A')}")
    assert len(records) == 1
    assert_seed_goldens(records)
    paths = requested(server)
    for style in ALL_EXPORTS:
        assert f"{EXPORT}?style={style}" in paths
    # MARC binary is offered too, but MARCXML says the same and is read instead.
    assert f"{EXPORT}?style=MARC" not in paths
    assert any(p.startswith(API + "?id=oai%3Aspandidos%3Aetm.2017.4687&field") for p in paths)
    # The Description tab is on the page already: no second page request.
    assert not any("/Description" in p for p in paths)


def test_every_layer_is_in_the_provenance(server: HTTPServer) -> None:
    serve_seed(server)
    (record,) = fetch(server, RECORD)
    sources = [p.source for p in record.provenance]
    assert sources == [
        "vufind:page", "vufind:marcxml", "vufind:api", "vufind:ris", "vufind:bibtex",
        "vufind:embedded",
    ]  # fmt: skip
    assert all(p.source_id == SEED_ID for p in record.provenance)
    assert all(p.content_hash and p.content_hash.startswith("sha256:") for p in record.provenance)
    by_source = {p.source: p for p in record.provenance}
    assert by_source["vufind:ris"].url is not None
    assert by_source["vufind:ris"].url.endswith("/Export?style=RIS")
    assert by_source["vufind:marcxml"].raw_format == "marcxml"


def test_field_sources_name_the_layer_of_each_field(server: HTTPServer) -> None:
    serve_seed(server)
    (record,) = fetch(server, RECORD)
    fs = record.field_sources
    # The Bibliographic Details table gives the citation and the people...
    assert fs["container_title"].source == "vufind:page"
    assert fs["container_title"].raw is not None
    assert "2017-08, Vol.14 (2), p.1538-1546" in fs["container_title"].raw
    assert fs["author"].source == "vufind:page"
    assert fs["language"].source == "vufind:page"
    assert fs["type"].source == "vufind:page"
    # ...the Description tab gives the summary, with its own label.
    assert fs["abstract"].source == "vufind:description"
    assert fs["abstract"].raw is not None and fs["abstract"].raw.startswith("Summary: ")
    # Identifiers are the union, named by every layer that had any.
    assert fs["identifiers"].source.split(", ") == [
        "vufind:page",
        "vufind:marcxml",
        "vufind:api",
        "vufind:ris",
        "vufind:embedded",
    ]
    assert record.id is None  # the catalogue id is provenance, not a citation key


def test_field_sources_do_not_leak_into_the_outputs(server: HTTPServer) -> None:
    serve_seed(server)
    records = fetch(server, RECORD)
    for fmt in ("csl-json", "bibtex", "ris"):
        text = api.dumps(records, fmt)
        assert "vufind" not in text.lower()
        assert "sha256" not in text


def test_exports_answering_html_still_give_the_full_record(server: HTTPServer) -> None:
    serve(server, RECORD, "vufind", "seed-page")
    # What instances really answer: a login form, the record page again, a 404 page.
    serve(server, EXPORT, "vufind", "login", query={"style": "MARCXML"})
    serve(server, EXPORT, "vufind", "seed-page", query={"style": "RIS"})
    serve(server, EXPORT, "vufind", "not-found", query={"style": "BibTeX"})
    serve(server, API, "vufind", "not-found")
    records = fetch(server, RECORD)
    assert_seed_goldens(records)
    (record,) = records
    assert [p.source for p in record.provenance] == ["vufind:page", "vufind:embedded"]
    named = {n for fs in record.field_sources.values() for n in fs.source.split(", ")}
    assert named == {"vufind:page", "vufind:description", "vufind:embedded"}


def test_page_alone_gives_the_same_record_as_with_every_export(server: HTTPServer) -> None:
    serve_seed(server)
    (full,) = fetch(server, RECORD)
    server.clear()
    serve(server, RECORD, "vufind", "seed-page")
    serve(server, EXPORT, "vufind", "challenge")  # every export is a bot challenge
    serve(server, API, "vufind", "challenge")
    (alone,) = fetch(server, RECORD)
    keep = {"provenance", "field_sources", "extra"}
    assert alone.model_dump(exclude=keep) == full.model_dump(exclude=keep)


def test_german_page_gives_the_goldens(server: HTTPServer) -> None:
    serve(server, RECORD, "vufind", "seed-page-de")
    serve(server, EXPORT, "vufind", "login")
    serve(server, API, "vufind", "not-found")
    records = fetch(server, RECORD)
    assert_seed_goldens(records)
    assert records[0].field_sources["abstract"].raw is not None
    assert records[0].field_sources["abstract"].raw.startswith("Zusammenfassung: ")


def test_description_tab_is_fetched_when_the_page_shows_another(server: HTTPServer) -> None:
    serve(server, RECORD, "vufind", "holdings-page")
    serve(server, f"{RECORD}/Description", "vufind", "description-page")
    serve(server, EXPORT, "vufind", "not-found")
    serve(server, API, "vufind", "not-found")
    records = fetch(server, RECORD)
    assert_seed_goldens(records)
    (record,) = records
    assert f"{RECORD}/Description?" in requested(server)
    assert record.field_sources["abstract"].source == "vufind:description"
    urls = [p.url or "" for p in record.provenance]
    assert any(u.endswith("/Description") for u in urls)
    # The Holdings tab's table is about copies, not the work: not read.
    assert not any("Call Number" in key or "Copy" in key for key in record.extra)


def test_binary_marc_is_read_when_the_page_offers_no_marcxml(server: HTTPServer) -> None:
    serve(server, RECORD, "vufind", "marc-only-page")
    serve(server, EXPORT, "vufind", "seed-marc", query={"style": "MARC"})
    serve(server, EXPORT, "vufind", "seed-ris", query={"style": "RIS"})
    serve(server, EXPORT, "vufind", "seed-bibtex", query={"style": "BibTeX"})
    serve(server, API, "vufind", "seed-api")
    records = fetch(server, RECORD)
    assert_seed_goldens(records)
    assert [p.source for p in records[0].provenance][:2] == ["vufind:page", "vufind:marc"]
    assert f"{EXPORT}?style=MARCXML" not in requested(server)


# --- Blocked and missing pages ------------------------------------------------------------------


def test_challenge_page_and_challenged_exports_are_blocked(server: HTTPServer) -> None:
    serve(server, RECORD, "vufind", "challenge")
    serve(server, EXPORT, "vufind", "challenge")
    serve(server, API, "vufind", "challenge")
    with pytest.raises(Blocked):
        fetch(server, RECORD)


def test_challenge_page_with_exports_that_answer_still_gives_a_record(server: HTTPServer) -> None:
    serve(server, RECORD, "vufind", "challenge")
    serve(server, EXPORT, "vufind", "seed-marcxml", query={"style": "MARCXML"})
    serve(server, EXPORT, "vufind", "seed-ris", query={"style": "RIS"})
    serve(server, EXPORT, "vufind", "seed-bibtex", query={"style": "BibTeX"})
    serve(server, API, "vufind", "seed-api")
    (record,) = fetch(server, RECORD)
    assert record.title is not None and record.title.startswith("Infusion of umbilical cord")
    assert record.doi == "10.3892/etm.2017.4687"
    # MARC names the twelve authors with relator "verfasserin $4 aut": all authors.
    assert len(record.author) == 12
    assert record.field_sources["author"].source == "vufind:marcxml"
    assert record.field_sources["title"].source == "vufind:marcxml"
    assert [p.source for p in record.provenance] == [
        "vufind:marcxml",
        "vufind:api",
        "vufind:ris",
        "vufind:bibtex",
    ]


def test_login_form_in_the_header_does_not_block_a_record_page(server: HTTPServer) -> None:
    serve_seed(server, "inline-login-page")
    assert_seed_goldens(fetch(server, RECORD))


def test_login_wall_instead_of_the_page_is_blocked(server: HTTPServer) -> None:
    serve(server, RECORD, "vufind", "login")
    serve(server, EXPORT, "vufind", "login")
    serve(server, API, "vufind", "login")
    with pytest.raises(Blocked, match="login"):
        fetch(server, RECORD)


def test_a_record_url_outside_vufind_gives_its_embedded_metadata(server: HTTPServer) -> None:
    server.expect_request("/Record/123").respond_with_data(
        '<html><head><meta name="citation_title" content="A study of things">'
        '<meta name="citation_author" content="Doe, Jane">'
        '<meta name="citation_doi" content="10.1234/abc.5"></head>'
        "<body><h1>A study of things</h1></body></html>",
        content_type="text/html",
    )
    (record,) = fetch(server, "/Record/123")
    assert record.title == "A study of things"
    assert record.doi == "10.1234/abc.5"
    assert record.field_sources["title"].source == "vufind:embedded:highwire"
    assert record.provenance[0].source == "vufind:embedded"
    # Not VuFind: no export or API was asked for.
    assert requested(server) == ["/Record/123?"]


def test_missing_record_is_not_found(server: HTTPServer) -> None:
    serve(server, RECORD, "vufind", "not-found")
    with pytest.raises(NotFound):
        fetch(server, RECORD)


def test_a_page_with_nothing_bibliographic_is_a_parse_error(server: HTTPServer) -> None:
    server.expect_request("/Record/123").respond_with_data(
        "<html><body><h1>Welcome</h1><p>Nothing here.</p></body></html>",
        content_type="text/html",
    )
    with pytest.raises(ParseError):
        fetch(server, "/Record/123")


# --- Routes -----------------------------------------------------------------------------------

ROUTES = [
    ("https://katalog.example.org/vufind/Record/oai%3Aspandidos%3Aetm.2017.4687",
     "/vufind", "Record", "oai:spandidos:etm.2017.4687", None),
    ("https://katalog.example.org/Record/0-1005612345/Description#tabnav",
     "", "Record", "0-1005612345", "Description"),
    ("https://katalog.example.org/vufind/Record/oai:spandidos:etm.2017.4687/Details",
     "/vufind", "Record", "oai:spandidos:etm.2017.4687", "Details"),
    ("https://x.example.edu/SummonRecord/FETCH-LOGICAL-c4321-5b0e7a1",
     "", "SummonRecord", "FETCH-LOGICAL-c4321-5b0e7a1", None),
    ("https://x.example.edu/vufind/PrimoRecord/cdi_crossref_primary_10_3892_etm_2017_4687",
     "/vufind", "PrimoRecord", "cdi_crossref_primary_10_3892_etm_2017_4687", None),
    ("https://x.example.edu/EdsRecord/a9h%2C124579213/Description",
     "", "EdsRecord", "a9h,124579213", "Description"),
    ("https://x.example.edu/Search2Record/ai-49-aHR0cDovL2R4LmRvaS5vcmc",
     "", "Search2Record", "ai-49-aHR0cDovL2R4LmRvaS5vcmc", None),
    ("https://x.example.edu/Summon/Record/FETCH-merged_1234", "", "SummonRecord",
     "FETCH-merged_1234", None),
    ("https://x.example.edu/vufind/EDS/Record?id=edsarx.1234.5678", "/vufind", "EdsRecord",
     "edsarx.1234.5678", None),
    ("https://x.example.edu/Primo/Record/cdi_gale_1.2:3", "", "PrimoRecord", "cdi_gale_1.2:3",
     None),
    ("https://x.example.edu/Search2/Record/x.y%3Az", "", "Search2Record", "x.y:z", None),
    ("https://x.example.edu/Collection/hierarchy.1", "", "Collection", "hierarchy.1", None),
]  # fmt: skip


@pytest.mark.parametrize(("url", "base", "route", "record_id", "tab"), ROUTES)
def test_record_routes_are_detected(
    url: str, base: str, route: str, record_id: str, tab: str | None
) -> None:
    parsed = parse_record_url(url)
    assert parsed is not None
    assert (parsed.base, parsed.route, parsed.record_id, parsed.tab) == (
        base, route, record_id, tab
    )  # fmt: skip
    assert detect(Target("url", url, url))
    # Rebuilt URLs carry the id encoded once, as VuFind writes it.
    assert parsed.url().endswith(f"/{route}/{quote(record_id, safe='')}")


@pytest.mark.parametrize(
    "url",
    [
        "https://katalog.example.org/Search/Results?lookfor=stem+cells",
        "https://katalog.example.org/vufind/Record/",
        "https://katalog.example.org/Author/Home?author=Li%2C+Ai",
        "https://www.example.com/articles/record-123",
        "ftp://katalog.example.org/Record/123",
        "https://katalog.example.org/Summon/Search?lookfor=x",
    ],
)
def test_other_urls_are_not_vufind_records(url: str) -> None:
    assert parse_record_url(url) is None
    assert not detect(Target("url", url, url))


def test_doi_targets_are_not_vufind() -> None:
    assert not detect(Target("doi", "10.3892/etm.2017.4687", "10.3892/etm.2017.4687"))


def test_vufind_is_the_first_source() -> None:
    assert SOURCES[0] is SOURCE


# --- Pure parts -------------------------------------------------------------------------------


def test_page_rows_read_the_two_tables() -> None:
    body, _, _ = load("vufind", "seed-page")
    parts = page_rows(parse_html(body))
    assert parts.title == (
        "Infusion of umbilical cord mesenchymal stem cells alleviates symptoms of "
        "ankylosing spondylitis"
    )
    assert parts.teaser is not None and parts.teaser.endswith("in any...")
    assert parts.core is not None and parts.description is not None
    core = dict(parts.core)
    assert core["Main Authors"].split("\n")[:2] == ["Li, Ai", "Tao, Yuan"]
    assert len(core["Main Authors"].split("\n")) == 12
    assert core["Subjects"] == ""
    assert core["Citations"] == "Items that this one cites\nItems that cite this one"
    assert core["Tags"] == "Add Tag\nNo Tags, Be the first to tag this record!"
    assert dict(parts.description)["ISSN"] == "1792-0981\n1792-1015"


def test_api_record_maps_vufind_field_names() -> None:
    body, _, _ = load("vufind", "seed-api")
    record = api_record(json.loads(body))
    assert record is not None
    assert record.type == "article-journal"
    assert [a.family for a in record.author][:3] == ["Li", "Tao", "Kong"]
    assert (record.volume, record.issue, record.page) == ("14", "2", "1538-1546")
    assert record.language == "en"
    assert [i.value for i in record.identifiers_of("issn")] == ["1792-0981", "1792-1015"]
    assert record.issued is not None and record.issued.parts == (2017,)


def test_api_record_roles_and_corporate_names() -> None:
    payload = {
        "resultCount": 1,
        "status": "OK",
        "records": [
            {
                "title": "Handbuch der Katalogisierung /",
                "authors": {
                    "primary": [],
                    "corporate": {"Deutsche Nationalbibliothek": {"role": ["isb"]}},
                    "secondary": {
                        "Müller, Anna": {"role": ["edt"]},
                        "Smith, John": {"role": ["trl"]},
                        "Weber, Max": {"role": ["ill"]},
                    },
                },
                "formats": ["Book"],
                "isbns": ["978-3-16-148410-0"],
                "publishers": ["Mohr Siebeck,"],
                "placesOfPublication": ["Tübingen :"],
                "publicationDates": ["2019"],
                "series": [{"name": "Bibliothekspraxis", "number": "12"}],
                "subjects": [["Katalogisierung", "Handbuch"]],
                "physicalDescriptions": ["XII, 345 Seiten"],
            }
        ],
    }
    record = api_record(payload)
    assert record is not None
    assert record.title == "Handbuch der Katalogisierung"
    assert record.type == "book"
    assert [a.literal for a in record.author] == ["Deutsche Nationalbibliothek"]
    assert [e.family for e in record.editor] == ["Müller"]
    assert [t.family for t in record.translator] == ["Smith"]
    assert record.extra["vufind:api:secondaryAuthors"] == ["Max Weber (ill)"]
    assert (record.publisher, record.publisher_place) == ("Mohr Siebeck", "Tübingen")
    assert (record.collection_title, record.collection_number) == ("Bibliothekspraxis", "12")
    assert record.keywords == ["Katalogisierung -- Handbuch"]
    assert record.number_of_pages == "345"
    assert record.identifiers_of("isbn")[0].value == "9783161484100"


@pytest.mark.parametrize(
    "payload",
    [None, [], {"records": []}, {"records": "x"}, {"records": [{}]}, {"records": [{"title": 5}]}],
)
def test_api_record_without_data_is_none(payload: object) -> None:
    assert api_record(payload) is None


_CELLS = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=40, deadline=None)
@given(label=_CELLS, value=_CELLS, title=_CELLS, junk=st.text(max_size=200))
def test_any_table_content_gives_rows_or_nothing(
    label: str, value: str, title: str, junk: str
) -> None:
    """Hostile cells never break the row reader; rows keep their label and one-line values."""
    html = (
        f'<html><body><div id="record"><h1 property="name">{escape(title)}</h1>{junk}'
        f'<table class="table table-striped"><tr><th>{escape(label)}:</th>'
        f"<td>{escape(value)}<br>{escape(value)}</td></tr></table></div></body></html>"
    )
    root = parse_html(html)
    if root is None:
        return
    parts = page_rows(root)
    for row_label, row_value in parts.core or []:
        assert row_label and not row_label.endswith(":")
        assert all(line == " ".join(line.split()) for line in row_value.split("\n"))


def _layer(name: str, **fields: object) -> Layer:
    record = Record.model_validate(fields)
    record = record.model_copy(update={"field_sources": {}})
    return Layer(record, "catalogue", f"vufind:{name}")


def test_a_more_precise_agreeing_date_wins_but_not_an_invented_day() -> None:
    merged = merge_layers(
        [
            _layer("embedded", title="T", issued=Date(parts=(2017, 8, 1))),
            _layer("ris", issued=Date(parts=(2017, 8))),
            _layer("page", title="T", issued=Date(parts=(2017,))),
            _layer("bibtex", issued=Date(parts=(2016, 3, 4))),  # another year: ignored
        ]
    )
    assert merged.issued == Date(parts=(2017, 8))
    assert merged.field_sources["issued"].source == "vufind:ris"
    assert merged.field_sources["title"].source == "vufind:page"  # the page comes first


def test_a_longer_list_of_people_extending_the_chosen_one_wins() -> None:
    li, tao, other = (
        Name(family="Li", given="Ai"),
        Name(family="Tao", given="Yuan"),
        Name(family="Smith", given="J"),
    )
    merged = merge_layers(
        [
            _layer("page", author=[li]),
            _layer("api", author=[li, tao]),
            _layer("bibtex", author=[other, li, tao]),  # does not begin with the chosen list
        ]
    )
    assert merged.author == [li, tao]
    assert merged.field_sources["author"].source == "vufind:api"
    assert merged.id is None
