"""The PubMed source against a real HTTP server on loopback serving recorded E-utilities answers."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from harvester import api
from harvester.errors import Blocked, FetchError, NotFound
from harvester.http import AsyncHttpClient, HostPolicy, HttpSettings
from harvester.model import Record
from harvester.sources import find_source, parse_target
from harvester.sources._base import FetchContext, SourceSettings, Target
from harvester.sources.pubmed import SOURCE, fetch, fetch_many
from tests.conftest import CORPUS
from tests.recorded import HTTP, base_url, load, serve

EFETCH = "/eutils/efetch.fcgi"
IDCONV = "/idconv/"
CSL_SCHEMA = CORPUS / "csl-schema" / "schemas" / "input" / "csl-data.json"


def context(server: HTTPServer, *, api_key: str | None = "s3cret-key") -> FetchContext:
    base = base_url(server)
    settings = SourceSettings(mailto="librarian@example.org", ncbi_api_key=api_key)
    settings.urls.update(eutils=f"{base}/eutils", idconv=f"{base}/idconv")
    client = AsyncHttpClient(
        hosts={"127.0.0.1": HostPolicy(rate=0, concurrency=8)},
        settings=HttpSettings(backoff_base=0.01),
    )
    return FetchContext(client=client, settings=settings)


def run_many(
    server: HTTPServer, targets: Sequence[Target], **options: Any
) -> dict[Target, list[Record] | FetchError]:
    async def main() -> dict[Target, list[Record] | FetchError]:
        ctx = context(server, **options)
        try:
            return await fetch_many(targets, ctx)
        finally:
            await ctx.client.aclose()

    return asyncio.run(main())


def pmids(*values: str) -> list[Target]:
    return [parse_target(f"pmid:{v}") for v in values]


def requests_to(server: HTTPServer, path: str) -> list[Request]:
    return [request for request, _response in server.log if request.path == path]


TEMPLATE = (HTTP / "pubmed" / "efetch_one.body").read_text(encoding="utf-8")
_ARTICLE = re.search(r"<PubmedArticle>.*</PubmedArticle>", TEMPLATE, re.S)
assert _ARTICLE is not None


def efetch_answer(request: Request) -> Response:
    """A PubmedArticleSet holding the recorded article once per requested PMID, except
    PMIDs ending in 7, which PubMed "does not have"."""
    assert _ARTICLE is not None
    ids = request.args["id"].split(",")
    articles = [
        _ARTICLE.group(0).replace(">9997<", f">{pmid}<") for pmid in ids if not pmid.endswith("7")
    ]
    head = TEMPLATE[: TEMPLATE.index("<PubmedArticleSet>")]
    body = head + "<PubmedArticleSet>\n" + "\n".join(articles) + "\n</PubmedArticleSet>\n"
    return Response(body, content_type="text/xml; charset=UTF-8")


def test_450_pmids_cost_exactly_three_requests_and_each_target_gets_its_answer(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request(EFETCH).respond_with_handler(efetch_answer)
    values = [str(100000 + i) for i in range(450)]
    targets = pmids(*values)
    results = run_many(httpserver, targets)

    sent = requests_to(httpserver, EFETCH)
    assert len(sent) == 3
    assert sorted(len(r.args["id"].split(",")) for r in sent) == [50, 200, 200]
    assert sorted(i for r in sent for i in r.args["id"].split(",")) == sorted(values)
    assert set(results) == set(targets)
    for target in targets:
        outcome = results[target]
        if target.value.endswith("7"):
            assert isinstance(outcome, NotFound), target
            assert target.value in str(outcome)
        else:
            assert isinstance(outcome, list) and len(outcome) == 1, target
            (record,) = outcome
            assert record.id == target.value
            assert record.title is not None and record.title.startswith("Magnetic studies")
            (provenance,) = record.provenance
            assert provenance.source == "pubmed" and provenance.source_id == target.value
            assert provenance.raw_format == "pubmed-xml"
            assert provenance.content_hash is not None
            assert record.field_sources["title"].source == "pubmed"
    assert sum(isinstance(o, NotFound) for o in results.values()) == 45


def test_tool_email_and_api_key_are_sent_and_the_key_stays_out_of_provenance(
    httpserver: HTTPServer,
) -> None:
    serve(httpserver, EFETCH, "pubmed", "efetch_two")
    results = run_many(httpserver, pmids("12091962", "9997"))
    (request,) = requests_to(httpserver, EFETCH)
    assert request.args["db"] == "pubmed" and request.args["retmode"] == "xml"
    assert request.args["id"] == "12091962,9997"
    assert request.args["tool"] == "harvester"
    assert request.args["email"] == "librarian@example.org"
    assert request.args["api_key"] == "s3cret-key"
    assert "harvester" in request.headers["User-Agent"]
    for outcome in results.values():
        assert isinstance(outcome, list)
        url = outcome[0].provenance[0].url
        assert url is not None and "s3cret" not in url and "id=" in url


def test_no_api_key_configured_sends_none(httpserver: HTTPServer) -> None:
    serve(httpserver, EFETCH, "pubmed", "efetch_two")
    run_many(httpserver, pmids("9997"), api_key=None)
    (request,) = requests_to(httpserver, EFETCH)
    assert "api_key" not in request.args and request.args["tool"] == "harvester"


def test_a_pmid_absent_from_the_answer_is_not_found_for_that_target_only(
    httpserver: HTTPServer,
) -> None:
    serve(httpserver, EFETCH, "pubmed", "efetch_two")
    present, absent, other = pmids("12091962", "31415926", "9997")
    results = run_many(httpserver, [present, absent, other])
    assert isinstance(results[absent], NotFound)
    assert "31415926" in str(results[absent])
    assert isinstance(results[present], list) and results[present][0].id == "12091962"
    assert isinstance(results[other], list) and results[other][0].id == "9997"


def test_pmcids_go_through_the_id_converter_then_efetch(httpserver: HTTPServer) -> None:
    serve(httpserver, IDCONV, "pubmed", "idconv")
    serve(httpserver, EFETCH, "pubmed", "efetch_pmc")
    found, unknown = parse_target("PMC5442267"), parse_target("pmcid:PMC0000001")
    also_pmid = parse_target("pmid:27797938")
    results = run_many(httpserver, [found, unknown, also_pmid])

    (conversion,) = requests_to(httpserver, IDCONV)
    assert conversion.args["ids"] == "PMC5442267,PMC0000001"
    assert conversion.args["format"] == "json"
    assert conversion.args["tool"] == "harvester"
    assert conversion.args["email"] == "librarian@example.org"
    (efetch,) = requests_to(httpserver, EFETCH)
    assert efetch.args["id"] == "27797938"  # one PMID, asked once for both targets

    record = results[found]
    assert isinstance(record, list) and record[0].id == "27797938"
    assert ("pmcid", "PMC5442267") in [(i.scheme, i.value) for i in record[0].identifiers]
    assert isinstance(results[also_pmid], list)
    assert isinstance(results[unknown], NotFound)
    assert "Identifier not found in PMC" in str(results[unknown])


def test_the_older_id_converter_shape_is_read_too(httpserver: HTTPServer) -> None:
    serve(httpserver, IDCONV, "pubmed", "idconv_v1")
    serve(httpserver, EFETCH, "pubmed", "efetch_pmc")
    target = parse_target("pmcid:PMC5442267")
    outcome = run_many(httpserver, [target])[target]
    assert isinstance(outcome, list) and outcome[0].id == "27797938"


@pytest.mark.parametrize(
    ("case", "error", "words"),
    [
        ("efetch_html", Blocked, "HTML page served where xml was expected"),
        ("efetch_error", FetchError, "E-utilities error: Cannot retrieve history data"),
    ],
)
def test_an_error_answer_is_a_clear_error_for_every_target_of_the_batch(
    httpserver: HTTPServer, case: str, error: type[FetchError], words: str
) -> None:
    serve(httpserver, EFETCH, "pubmed", case)
    targets = pmids("12091962", "9997")
    results = run_many(httpserver, targets)
    for target in targets:
        outcome = results[target]
        assert isinstance(outcome, error), outcome
        assert not isinstance(outcome, NotFound)
        assert words in str(outcome)


def test_a_truncated_answer_keeps_the_complete_records(httpserver: HTTPServer) -> None:
    serve(httpserver, EFETCH, "pubmed", "efetch_truncated")
    first, second = pmids("12091962", "9997")
    results = run_many(httpserver, [first, second])
    assert isinstance(results[first], list)
    broken = results[second]
    assert isinstance(broken, FetchError) and not isinstance(broken, NotFound)
    assert "not usable PubMed XML" in str(broken)


def test_server_errors_reach_every_target_and_404_is_not_found(httpserver: HTTPServer) -> None:
    httpserver.expect_request(EFETCH).respond_with_data("nope", status=400)
    targets = pmids("1", "2")
    results = run_many(httpserver, targets)
    assert all(isinstance(results[t], FetchError) for t in targets)
    assert all(getattr(results[t], "status", None) == 400 for t in targets)


def test_single_fetch_raises_the_targets_error(httpserver: HTTPServer) -> None:
    serve(httpserver, EFETCH, "pubmed", "efetch_two")

    async def main() -> None:
        ctx = context(httpserver)
        try:
            records = await fetch(parse_target("pmid:9997"), ctx)
            assert [r.id for r in records] == ["9997"]
            with pytest.raises(NotFound):
                await fetch(parse_target("pmid:123"), ctx)
        finally:
            await ctx.client.aclose()

    asyncio.run(main())


def test_registered_for_pmids_and_pmcids() -> None:
    assert find_source(parse_target("pmid:1")) is SOURCE
    assert find_source(parse_target("PMC1")) is SOURCE
    assert SOURCE.batch_size == 200 and SOURCE.fetch_many is not None


@pytest.mark.corpus
def test_fetched_records_are_schema_valid_csl_json(httpserver: HTTPServer) -> None:
    serve(httpserver, EFETCH, "pubmed", "efetch_collective")
    target = parse_target("pmid:29963580")
    outcome = run_many(httpserver, [target])[target]
    assert isinstance(outcome, list)
    data = json.loads(api.dumps(outcome, "csl-json"))
    validator = jsonschema.Draft7Validator(json.loads(CSL_SCHEMA.read_text(encoding="utf-8")))
    assert not [e.message for e in validator.iter_errors(data)]
    (item,) = data
    assert item["type"] == "article-journal"
    assert item["DOI"] == "10.1117/1.jmi.5.2.026002"
    assert item["container-title"] == "Journal of medical imaging (Bellingham, Wash.)"
    assert item["issued"]["date-parts"] == [[2018, 4]]
    assert {"literal": "Canadian Respiratory Research Network"} in item["author"]


def test_recorded_cases_are_complete() -> None:
    folder = Path(HTTP / "pubmed")
    for body in folder.glob("*.body"):
        data, status, headers = load("pubmed", body.stem)
        assert data and status == 200 and "Content-Type" in headers


def test_through_the_fetch_pipeline_450_pmids_are_still_three_requests(
    httpserver: HTTPServer,
) -> None:
    from harvester.fetch import fetch as fetch_targets

    httpserver.expect_request(EFETCH).respond_with_handler(efetch_answer)
    settings = SourceSettings(mailto="librarian@example.org")
    settings.urls["eutils"] = f"{base_url(httpserver)}/eutils"
    texts = [f"pmid:{200000 + i}" for i in range(450)]
    run = fetch_targets(
        texts,
        settings=settings,
        http_settings=HttpSettings(backoff_base=0.01),
        hosts={"127.0.0.1": HostPolicy(rate=0, concurrency=8)},
        sources=[SOURCE],
    )
    outcomes = list(run)
    assert len(requests_to(httpserver, EFETCH)) == 3
    assert [o.target.value if o.target else None for o in outcomes] == [t[5:] for t in texts]
    for outcome in outcomes:
        assert outcome.target is not None
        if outcome.target.value.endswith("7"):
            assert isinstance(outcome.error, NotFound)
        else:
            assert outcome.error is None and [r.id for r in outcome.records] == [
                outcome.target.value
            ]


def test_an_unusable_id_converter_answer_fails_only_the_pmcid_targets(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request(IDCONV).respond_with_data(
        '{"status": "ok", "records": [', content_type="application/json"
    )
    serve(httpserver, EFETCH, "pubmed", "efetch_two")
    pmcid, pmid = parse_target("PMC5442267"), parse_target("pmid:9997")
    results = run_many(httpserver, [pmcid, pmid])
    assert isinstance(results[pmcid], FetchError) and "invalid JSON" in str(results[pmcid])
    assert isinstance(results[pmid], list)
