"""The Open Library source against a real loopback HTTP server (constructed Books API answers)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from harvester import api
from harvester.errors import Blocked, FetchError, NotFound
from harvester.http import AsyncHttpClient, HostPolicy, HttpSettings
from harvester.model import Record
from harvester.sources import find_source, parse_target
from harvester.sources._base import FetchContext, SourceSettings, Target
from harvester.sources.openlibrary import BATCH_SIZE, SOURCE, fetch, fetch_many, to_record
from tests.conftest import CORPUS
from tests.recorded import base_url, load, serve

BOOKS = "/ol/api/books"
CSL_SCHEMA = CORPUS / "csl-schema" / "schemas" / "input" / "csl-data.json"
SAWYER = parse_target("isbn:0-451-52653-8")
ALGORITHMS = parse_target("ISBN 978-0-262-03384-8")


def context(server: HTTPServer) -> FetchContext:
    settings = SourceSettings()
    settings.urls["openlibrary"] = f"{base_url(server)}/ol"
    client = AsyncHttpClient(
        hosts={"127.0.0.1": HostPolicy(rate=0, concurrency=8)},
        settings=HttpSettings(backoff_base=0.01),
    )
    return FetchContext(client=client, settings=settings)


def run_many(
    server: HTTPServer, targets: Sequence[Target]
) -> dict[Target, list[Record] | FetchError]:
    async def main() -> dict[Target, list[Record] | FetchError]:
        ctx = context(server)
        try:
            return await fetch_many(targets, ctx)
        finally:
            await ctx.client.aclose()

    return asyncio.run(main())


def one(outcome: list[Record] | FetchError) -> Record:
    assert isinstance(outcome, list), outcome
    (record,) = outcome
    return record


def test_two_isbns_in_one_request_mapped_field_by_field(httpserver: HTTPServer) -> None:
    serve(httpserver, BOOKS, "openlibrary", "books_two")
    results = run_many(httpserver, [SAWYER, ALGORITHMS])
    ((request, _),) = httpserver.log
    assert request.args["bibkeys"] == "ISBN:0451526538,ISBN:9780262033848"
    assert (request.args["format"], request.args["jscmd"]) == ("json", "data")

    sawyer = one(results[SAWYER])
    assert sawyer.type == "book"
    assert sawyer.title == "The adventures of Tom Sawyer"
    assert [(n.family, n.given) for n in sawyer.author] == [("Twain", "Mark")]
    assert (sawyer.publisher, sawyer.publisher_place) == ("Signet Classic", "New York")
    assert sawyer.issued is not None and sawyer.issued.parts == (1997,)
    assert sawyer.number_of_pages == "216"
    assert sawyer.keywords == ["Sawyer, Tom (Fictitious character)", "Fiction", "Missouri"]
    assert sawyer.note == "Includes bibliographical references (p. 213-216)."
    schemes = [(i.scheme, i.value) for i in sawyer.identifiers]
    assert ("isbn", "0451526538") in schemes and ("lccn", "93005405") in schemes
    assert ("url", "https://openlibrary.org/books/OL1017798M/The_adventures_of_Tom_Sawyer") in (
        schemes
    )
    assert sawyer.extra["openlibrary:lc_classifications"] == ["PS1306 .A1 1997"]
    assert sawyer.extra["openlibrary:goodreads"] == ["1929684"]
    assert sawyer.id == "/books/OL1017798M"
    (provenance,) = sawyer.provenance
    assert (provenance.source, provenance.source_id) == ("openlibrary", "ISBN:0451526538")
    assert sawyer.field_sources["issued"].raw == "1997"

    algorithms = one(results[ALGORITHMS])
    assert algorithms.title == "Introduction to algorithms: third edition"
    assert [n.family for n in algorithms.author] == ["Cormen", "Leiserson", "Rivest", "Stein"]
    assert algorithms.publisher == "MIT Press"
    assert algorithms.extra["openlibrary:publisher"] == ["McGraw-Hill"]
    assert algorithms.issued is not None and algorithms.issued.parts == (2009, 7, 31)
    assert algorithms.number_of_pages == "1292"  # from "xix, 1292 p. :"
    isbns = [i.value for i in algorithms.identifiers_of("isbn")]
    assert isbns == ["0262033844", "0262533057", "9780262033848", "9780262533058"]
    assert [i.value for i in algorithms.identifiers_of("oclc")] == ["311310321"]
    assert algorithms.extra["openlibrary:table_of_contents"][0] == "Foundations"


def test_an_isbn_without_entry_is_not_found_for_that_target_only(httpserver: HTTPServer) -> None:
    serve(httpserver, BOOKS, "openlibrary", "books_two")
    missing = parse_target("isbn:9780306406157")
    results = run_many(httpserver, [SAWYER, missing])
    assert isinstance(results[missing], NotFound) and "9780306406157" in str(results[missing])
    assert one(results[SAWYER]).title == "The adventures of Tom Sawyer"


def test_an_empty_answer_is_not_found_for_all(httpserver: HTTPServer) -> None:
    serve(httpserver, BOOKS, "openlibrary", "books_empty")
    results = run_many(httpserver, [SAWYER, ALGORITHMS])
    assert all(isinstance(o, NotFound) for o in results.values())


@pytest.mark.parametrize(
    ("case", "error", "words"),
    [
        ("books_html", Blocked, "HTML page served where json was expected"),
        ("books_truncated", FetchError, "invalid JSON"),
    ],
)
def test_unusable_answers_are_clear_errors(
    httpserver: HTTPServer, case: str, error: type[FetchError], words: str
) -> None:
    serve(httpserver, BOOKS, "openlibrary", case)
    results = run_many(httpserver, [SAWYER, ALGORITHMS])
    for outcome in results.values():
        assert isinstance(outcome, error) and not isinstance(outcome, NotFound)
        assert words in str(outcome)


def test_many_isbns_are_batched(httpserver: HTTPServer) -> None:
    def answer(request: Request) -> Response:
        keys = request.args["bibkeys"].split(",")
        return Response(
            json.dumps({k: {"title": f"Book {k[5:]}"} for k in keys if not k.endswith("7")}),
            content_type="application/json",
        )

    httpserver.expect_request(BOOKS).respond_with_handler(answer)
    targets = [parse_target(f"isbn:{978000000000 + i:012d}0") for i in range(120)]
    results = run_many(httpserver, targets)
    assert len(httpserver.log) == -(-120 // BATCH_SIZE)
    for target in targets:
        outcome = results[target]
        if target.value.endswith("7"):
            assert isinstance(outcome, NotFound)
        else:
            assert one(outcome).title == f"Book {target.value}"


def test_odd_values_are_kept_in_extra_not_fatal() -> None:
    record = to_record(
        {
            "title": "T",
            "authors": [{"name": "---"}, {"name": "Ada Lovelace"}],
            "identifiers": {"isbn_13": ["   -  "], "oclc": ["not a number"]},
            "number_of_pages": "300",
        }
    )
    assert [n.family for n in record.author] == ["Lovelace"]
    assert record.extra["openlibrary:author"] == ["---"]
    assert record.extra["openlibrary:oclc"] == ["not a number"]
    assert record.extra["openlibrary:isbn_13"] == ["-"]
    assert record.identifiers_of("isbn") == []
    assert record.number_of_pages == "300"


def test_a_bad_entry_fails_alone(httpserver: HTTPServer) -> None:
    body: dict[str, Any] = {"ISBN:0451526538": {"title": "Fine"}, "ISBN:9780262033848": ["x"]}
    httpserver.expect_request(BOOKS).respond_with_json(body)
    results = run_many(httpserver, [SAWYER, ALGORITHMS])
    assert one(results[SAWYER]).title == "Fine"
    assert isinstance(results[ALGORITHMS], FetchError)


def test_hostile_strings_stay_inside_their_field() -> None:
    record = to_record(
        {"title": "x}\nER  - \n@book{evil,", "authors": [{"name": "Robert'); DROP--"}]}
    )
    for fmt in ("ris", "bibtex", "csl-json"):
        text = api.dumps([record], fmt)
        (back,) = list(api.read(text.encode("utf-8"), fmt))
        assert isinstance(back, Record), (fmt, back)
        assert back.title == record.title, fmt


def test_single_fetch_and_registration(httpserver: HTTPServer) -> None:
    serve(httpserver, BOOKS, "openlibrary", "books_two")
    assert find_source(SAWYER) is SOURCE

    async def main() -> None:
        ctx = context(httpserver)
        try:
            assert [r.title for r in await fetch(SAWYER, ctx)] == ["The adventures of Tom Sawyer"]
            with pytest.raises(NotFound):
                await fetch(parse_target("isbn:9780306406157"), ctx)
        finally:
            await ctx.client.aclose()

    asyncio.run(main())


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=4,
)
_KEYS = st.sampled_from(
    [
        "title",
        "subtitle",
        "authors",
        "publishers",
        "publish_places",
        "publish_date",
        "url",
        "number_of_pages",
        "pagination",
        "identifiers",
        "subjects",
        "notes",
        "key",
        "excerpts",
        "classifications",
        "links",
        "table_of_contents",
        "subject_places",
        "by_statement",
    ]
)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(_KEYS, _JSON | st.lists(st.fixed_dictionaries({"name": _JSON}))))
def test_any_json_entry_gives_a_record_or_a_value_error(entry: dict[str, Any]) -> None:
    try:
        record = to_record(entry)
    except ValueError:
        return
    assert record.type == "book"


@pytest.mark.corpus
def test_records_are_schema_valid_csl_json(httpserver: HTTPServer) -> None:
    serve(httpserver, BOOKS, "openlibrary", "books_two")
    results = run_many(httpserver, [SAWYER, ALGORITHMS])
    records = [one(results[SAWYER]), one(results[ALGORITHMS])]
    data = json.loads(api.dumps(records, "csl-json"))
    validator = jsonschema.Draft7Validator(json.loads(CSL_SCHEMA.read_text(encoding="utf-8")))
    assert not [e.message for e in validator.iter_errors(data)]
    assert data[1]["ISBN"].startswith("0262033844")


def test_recorded_cases_load() -> None:
    for case in ("books_two", "books_empty", "books_truncated", "books_html"):
        body, status, headers = load("openlibrary", case)
        assert body and status == 200 and headers["Content-Type"]
