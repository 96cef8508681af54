"""The DOI source: the agency lookup remembered per prefix, and routing to Crossref,
DataCite or DOI content negotiation, against a loopback server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from harvester.errors import Blocked, NotFound, ParseError
from harvester.model import Date, Name, Record
from harvester.sources import find_source, parse_target
from harvester.sources._base import FetchContext, Target
from harvester.sources.doi import (
    CSL_MEDIA_TYPE,
    MEMO_KEY,
    SOURCE,
    agency_for,
    detect,
    doi_of,
    fetch_record,
)
from tests.recorded import load, serve
from tests.test_source_crossref import run_with

PLOS_AGENCY = re.compile(r"^/works/10\.1371/[^/]+/agency$")
PLOS_WORK = re.compile(r"^/works/10\.1371/[^/]+$")
SCIENCE = "10.1126/science.169.3946.635"


def agency_requests(server: HTTPServer) -> list[str]:
    return [request.path for request, _ in server.log if request.path.endswith("/agency")]


def serve_plos(server: HTTPServer) -> None:
    serve(server, PLOS_AGENCY, "crossref", "agency-crossref")  # type: ignore[arg-type]
    serve(server, PLOS_WORK, "crossref", "plos-one")  # type: ignore[arg-type]


@pytest.fixture
def threaded() -> Iterator[HTTPServer]:
    """A server answering connections in parallel, as the concurrent fetches expect."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def test_one_agency_request_per_prefix_for_many_concurrent_dois(threaded: HTTPServer) -> None:
    httpserver = threaded
    serve_plos(httpserver)
    dois = [f"10.1371/journal.pone.{n:07d}" for n in range(40)]

    async def job(ctx: FetchContext) -> list[Record]:
        return list(await asyncio.gather(*(fetch_record(d, ctx) for d in dois)))

    records = run_with(httpserver, job)
    assert len(records) == 40
    assert all(r.provenance[0].source == "crossref" for r in records)
    assert len(agency_requests(httpserver)) == 1
    assert len(httpserver.log) == 41


def test_each_prefix_is_asked_once(httpserver: HTTPServer) -> None:
    serve_plos(httpserver)
    serve(httpserver, f"/works/{SCIENCE}/agency", "crossref", "agency-medra")
    serve(httpserver, f"/{SCIENCE}", "doi", "csl-science")

    async def job(ctx: FetchContext) -> dict[str, str]:
        for doi in ("10.1371/a", "10.1371/b", SCIENCE, "10.1371/c", SCIENCE):
            await agency_for(doi, ctx)
        memo: dict[str, str] = ctx.memo[MEMO_KEY]
        return memo

    memo = run_with(httpserver, job)
    assert memo == {"10.1371": "crossref", "10.1126": "medra"}
    assert len(agency_requests(httpserver)) == 2


def test_a_failed_lookup_is_not_remembered(httpserver: HTTPServer) -> None:
    body, _, headers = load("crossref", "not-found")
    httpserver.expect_request("/works/10.1371/gone/agency").respond_with_data(
        body, status=404, headers=headers
    )
    serve_plos(httpserver)

    async def job(ctx: FetchContext) -> list[Record | BaseException]:
        # The first DOI's lookup is in flight when the others arrive; it fails, and one of
        # the waiting DOIs asks again for the prefix.
        tasks = (fetch_record(d, ctx) for d in ("10.1371/gone", "10.1371/x1", "10.1371/x2"))
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    gone, first, second = run_with(httpserver, job)
    assert isinstance(gone, NotFound) and "10.1371/gone" in str(gone)
    assert isinstance(first, Record) and isinstance(second, Record)
    assert len(agency_requests(httpserver)) == 2


def test_datacite_dois_go_to_datacite(httpserver: HTTPServer) -> None:
    serve(httpserver, "/works/10.5438/4k3m-nyvg/agency", "crossref", "agency-datacite")
    serve(httpserver, "/dois/10.5438/4k3m-nyvg", "datacite", "blog-post")
    record = run_with(httpserver, lambda ctx: fetch_record("10.5438/4k3m-nyvg", ctx))
    assert record.provenance[0].source == "datacite"
    assert record.title == "Eating your own Dog Food"
    assert [r.path for r, _ in httpserver.log] == [
        "/works/10.5438/4k3m-nyvg/agency",
        "/dois/10.5438/4k3m-nyvg",
    ]


def test_other_agencies_go_through_content_negotiation(httpserver: HTTPServer) -> None:
    serve(httpserver, f"/works/{SCIENCE}/agency", "crossref", "agency-medra")
    body, status, headers = load("doi", "csl-science")
    httpserver.expect_request(f"/{SCIENCE}", headers={"Accept": CSL_MEDIA_TYPE}).respond_with_data(
        body, status=status, headers=headers
    )
    record = run_with(httpserver, lambda ctx: fetch_record(SCIENCE, ctx))
    assert record.title == "The Structure of Ordinary Water"
    assert record.author == [Name(family="Frank", given="Henry S.")]
    assert record.container_title == "Science"
    assert (record.volume, record.issue, record.page) == ("169", "3946", "635-641")
    assert record.issued == Date(parts=(1970, 8, 14))
    assert record.type == "article-journal"
    assert record.doi == SCIENCE
    (provenance,) = record.provenance
    assert (provenance.source, provenance.source_id, provenance.raw_format) == (
        "doi-cn",
        SCIENCE,
        "csl-json",
    )
    assert all(fs.source == "doi-cn" for fs in record.field_sources.values())


def test_content_negotiation_answered_with_html_is_blocked(httpserver: HTTPServer) -> None:
    serve(httpserver, f"/works/{SCIENCE}/agency", "crossref", "agency-medra")
    serve(httpserver, f"/{SCIENCE}", "doi", "landing-page")
    with pytest.raises(Blocked, match="HTML page"):
        run_with(httpserver, lambda ctx: fetch_record(SCIENCE, ctx))


def test_content_negotiation_with_broken_json_is_a_parse_error(httpserver: HTTPServer) -> None:
    serve(httpserver, f"/works/{SCIENCE}/agency", "crossref", "agency-medra")
    body, _, headers = load("doi", "csl-science")
    httpserver.expect_request(f"/{SCIENCE}").respond_with_data(body[:200], headers=headers)
    with pytest.raises(ParseError) as info:
        run_with(httpserver, lambda ctx: fetch_record(SCIENCE, ctx))
    assert SCIENCE in str(info.value)


def test_an_unknown_doi_is_not_found_at_the_agency_lookup(httpserver: HTTPServer) -> None:
    serve(httpserver, "/works/10.9999/nothing/agency", "crossref", "not-found")
    with pytest.raises(NotFound, match="any DOI agency") as info:
        run_with(httpserver, lambda ctx: fetch_record("10.9999/nothing", ctx))
    assert info.value.status == 404
    assert len(httpserver.log) == 1


def test_an_agency_answer_without_an_id_is_a_parse_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/works/10.1371/x/agency").respond_with_json(
        {"status": "ok", "message-type": "work-agency", "message": {"DOI": "10.1371/x"}}
    )
    with pytest.raises(ParseError, match="no agency id"):
        run_with(httpserver, lambda ctx: fetch_record("10.1371/x", ctx))


def test_detect_dois_and_registry_api_urls() -> None:
    assert doi_of(parse_target("https://doi.org/10.3892/ETM.2017.4687")) == "10.3892/etm.2017.4687"
    assert doi_of(parse_target("https://api.crossref.org/works/10.3892/etm.2017.4687")) == (
        "10.3892/etm.2017.4687"
    )
    assert doi_of(parse_target("https://api.crossref.org/v1/works/10.1371/x/agency")) == (
        "10.1371/x"
    )
    assert doi_of(parse_target("https://api.datacite.org/dois/10.5438%2F4K3M-NYVG")) == (
        "10.5438/4k3m-nyvg"
    )
    assert not detect(parse_target("https://example.org/works/10.1371/x"))
    assert not detect(parse_target("https://api.crossref.org/members/340"))
    assert not detect(parse_target("pmid:123"))
    assert find_source(parse_target("doi:10.1371/journal.pone.0033693")) is SOURCE
    assert find_source(parse_target("https://api.crossref.org/works/10.1371/x")) is SOURCE


def test_fetch_an_api_url_target(httpserver: HTTPServer) -> None:
    serve_plos(httpserver)
    target = parse_target("https://api.crossref.org/works/10.1371/journal.pone.0033693")
    (record,) = run_with(httpserver, lambda ctx: SOURCE.fetch(target, ctx))
    assert record.doi == "10.1371/journal.pone.0033693"
    with pytest.raises(ParseError, match="not a DOI"):
        run_with(httpserver, lambda ctx: SOURCE.fetch(Target("isbn", "123", "isbn:123"), ctx))


def test_seed_doi_through_the_source_as_enrich_fetches_it(httpserver: HTTPServer) -> None:
    doi = "10.3892/etm.2017.4687"
    serve(httpserver, f"/works/{doi}/agency", "crossref", "agency-seed")
    serve(httpserver, f"/works/{doi}", "crossref", "seed")
    (record,) = run_with(httpserver, lambda ctx: SOURCE.fetch(parse_target(doi), ctx))
    assert record.publisher == "Spandidos Publications"
    assert [(i.value, i.kind) for i in record.identifiers_of("issn")] == [
        ("1792-0981", "print"),
        ("1792-1015", "electronic"),
    ]
    assert record.provenance[0].source == "crossref"
