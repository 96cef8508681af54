"""The embedded source against a real loopback HTTP server serving recorded landing pages."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Coroutine
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from harvester.errors import Blocked, NotFound, ParseError
from harvester.fetch import failure_reason
from harvester.http import AsyncHttpClient, HostPolicy, HttpSettings
from harvester.model import Record
from harvester.sources import SOURCES, find_source, parse_target
from harvester.sources._base import FetchContext, SourceSettings
from harvester.sources.embedded import SOURCE, NoEmbeddedMetadata, detect, fetch
from tests.recorded import base_url, load, serve

SOURCE_DIR = "embedded"


def run(coro_factory: Any) -> Any:
    async def main() -> Any:
        client = AsyncHttpClient(
            hosts={"127.0.0.1": HostPolicy(rate=0, concurrency=8)},
            settings=HttpSettings(backoff_base=0.01, max_attempts=2),
        )
        ctx = FetchContext(client=client, settings=SourceSettings())
        try:
            coro: Coroutine[Any, Any, Any] = coro_factory(ctx)
            return await coro
        finally:
            await client.aclose()

    return asyncio.run(main())


def fetch_page(server: HTTPServer, path: str) -> list[Record]:
    target = parse_target(f"{base_url(server)}{path}")
    result: list[Record] = run(lambda ctx: fetch(target, ctx))
    return result


def ids(record: Record, scheme: str) -> list[str]:
    return [i.value for i in record.identifiers if i.scheme == scheme]


def test_registered_last_for_any_url() -> None:
    assert SOURCES[-1] is SOURCE
    assert SOURCE.kind == "embedded"
    assert detect(parse_target("https://journal.example.org/article/1"))
    assert not detect(parse_target("10.5555/abc"))
    assert not detect(parse_target("isbn:9780306406157"))
    assert find_source(parse_target("https://journal.example.org/article/1")) is SOURCE


def test_highwire_journal_page(httpserver: HTTPServer) -> None:
    serve(httpserver, "/article/42", SOURCE_DIR, "highwire-journal")
    [record] = fetch_page(httpserver, "/article/42")
    assert record.type == "article-journal"
    assert record.title == "Night-time photosynthesis in desert mosses"
    assert [(n.family, n.given) for n in record.author] == [
        ("García-López", "María"),
        ("Adeyemi", "Oluwaseun"),
        ("Berg", "Pieter"),
    ]
    assert record.issued is not None and record.issued.parts == (2021, 6, 15)
    assert (record.container_title, record.container_title_short) == (
        "Journal of Arid Botany",
        "J. Arid Bot.",
    )
    assert (record.volume, record.issue, record.page) == ("17", "3", "201-214")
    assert ids(record, "issn") == ["0028-0836", "1476-4687"]
    assert ids(record, "doi") == ["10.5555/jab.2021.0042"]
    assert ids(record, "pmid") == ["34123456"]
    assert ids(record, "url") == ["https://journal.example.org/article/10.5555/jab.2021.0042"]
    assert record.keywords == ["bryophytes", "CAM photosynthesis", "drought tolerance"]
    # The reference list's COinS describes a cited paper: not merged.
    assert "10.5555/al.1998.1" not in ids(record, "doi")
    assert record.extra["html-meta:skipped"] == ["coins: another DOI (10.5555/al.1998.1)"]
    # Provenance: the source, the page, a hash of the bytes; each field names its layer.
    body, _, _ = load(SOURCE_DIR, "highwire-journal")
    [prov] = record.provenance
    assert prov.source == "embedded" and prov.raw_format == "html-meta"
    assert prov.url == f"{base_url(httpserver)}/article/42"
    assert prov.source_id == "https://journal.example.org/article/10.5555/jab.2021.0042"
    assert prov.fetched_at is not None
    assert prov.content_hash == "sha256:" + hashlib.sha256(body).hexdigest()
    assert record.field_sources["issued"].source == "embedded:highwire"
    assert record.field_sources["issued"].raw == "citation_publication_date: 2021/06/15"
    [request] = [r for r, _ in httpserver.log]
    assert request.headers["User-Agent"].startswith("harvester/")


def test_json_ld_only_page(httpserver: HTTPServer) -> None:
    serve(httpserver, "/records/8817", SOURCE_DIR, "jsonld-only")
    [record] = fetch_page(httpserver, "/records/8817")
    assert record.type == "chapter"
    assert record.title == "Reading lists and the long tail"
    assert record.container_title == "Libraries in the Digital Age"
    assert [(n.family, n.given) for n in record.author] == [
        ("Solberg", "Ingrid"),
        ("Mensah", "Kwame"),
    ]
    assert [(n.family, n.given) for n in record.editor] == [("Okafor", "Hannah")]
    assert record.issued is not None and record.issued.parts == (2019, 11)
    assert (record.page, record.publisher, record.publisher_place) == (
        "45-67",
        "Facet Example",
        "London",
    )
    assert record.language == "en-GB"
    assert ids(record, "doi") == ["10.5555/lda.2019.3"]
    assert ids(record, "isbn") == ["9780306406157"]
    # No canonical link: the address we fetched is the page's URL.
    assert ids(record, "url") == [f"{base_url(httpserver)}/records/8817"]
    assert {s.source for k, s in record.field_sources.items() if k != "identifiers"} == {
        "embedded:json-ld"
    }


def test_coins_only_page(httpserver: HTTPServer) -> None:
    serve(httpserver, "/lists/item/42", SOURCE_DIR, "coins-only")
    [record] = fetch_page(httpserver, "/lists/item/42")
    assert record.type == "book"
    assert record.title == "A history of the card catalogue"
    assert [(n.family, n.given) for n in record.author] == [("Krajewski", "Markus")]
    assert record.issued is not None and record.issued.parts == (2011,)
    assert (record.publisher, record.publisher_place, record.edition) == (
        "MIT Press",
        "Cambridge, Mass.",
        "1st ed.",
    )
    assert record.number_of_pages == "216"
    assert ids(record, "isbn") == ["0262015897"]
    assert record.field_sources["title"].source == "embedded:coins"


def test_charset_from_the_http_header(httpserver: HTTPServer) -> None:
    serve(httpserver, "/old", SOURCE_DIR, "latin1")
    [record] = fetch_page(httpserver, "/old")
    assert record.title == "Café culture in Zürich"
    assert [(n.family, n.given) for n in record.author] == [("Müller", "Jürgen")]


@pytest.mark.parametrize("case", ["no-metadata", "pdf"])
def test_page_without_metadata(httpserver: HTTPServer, case: str) -> None:
    serve(httpserver, "/page", SOURCE_DIR, case)
    url = f"{base_url(httpserver)}/page"
    with pytest.raises(
        NoEmbeddedMetadata, match=r"no embedded metadata at http://127\.0\.0\.1"
    ) as info:
        fetch_page(httpserver, "/page")
    assert isinstance(info.value, ParseError)
    assert info.value.source == url and info.value.format_name == "html-meta"
    assert failure_reason(info.value) == "parse"
    assert len(httpserver.log) == 1  # an answer, not a fault: no retry


@pytest.mark.parametrize("case", ["challenge", "challenge-403"])
def test_bot_challenge_is_blocked(httpserver: HTTPServer, case: str) -> None:
    """A Turnstile page is never parsed, though it carries a citation_title."""
    serve(httpserver, "/article/42", SOURCE_DIR, case)
    with pytest.raises(Blocked) as info:
        fetch_page(httpserver, "/article/42")
    assert failure_reason(info.value) == "blocked"


def test_not_found(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/gone").respond_with_data("Not here", status=404)
    with pytest.raises(NotFound):
        fetch_page(httpserver, "/gone")


def test_redirect_gives_the_final_page(httpserver: HTTPServer) -> None:
    serve(httpserver, "/records/8817", SOURCE_DIR, "jsonld-only")
    httpserver.expect_request("/r/8817").respond_with_data(
        "", status=301, headers={"Location": f"{base_url(httpserver)}/records/8817"}
    )
    [record] = fetch_page(httpserver, "/r/8817")
    assert record.title == "Reading lists and the long tail"
    assert record.provenance[0].url == f"{base_url(httpserver)}/records/8817"
