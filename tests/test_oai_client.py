"""The OAI-PMH client against a real HTTP server on loopback (never a patched client)."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from harvester.errors import FetchError, RateLimited
from harvester.http import HttpClient, HttpSettings, TokenBucket, parse_retry_after, user_agent
from harvester.oai import OAIClient, format_datestamp
from harvester.oai.client import parse_records_page, peek_token
from harvester.oai.errors import (
    BadArgument,
    BadResumptionToken,
    CannotDisseminateFormat,
    IdDoesNotExist,
    NoSetHierarchy,
    OAIProtocolError,
    UnknownOAIError,
)
from tests.conftest import CORPUS, FIXTURES
from tests.oai_server import FakeRepository, make_records

SICKLE = CORPUS / "sickle" / "sickle" / "tests" / "sample_data"
SCYTHE = CORPUS / "oaipmh-scythe" / "extracted_bodies"
VUFINDHARVEST = CORPUS / "vufindharvest" / "tests" / "fixtures"
HTTP = FIXTURES / "http" / "oai"


def fast(**overrides: float) -> HttpSettings:
    """No rate limit on loopback, short waits: tests must not sleep for real."""
    settings = HttpSettings(
        default_rate=0, backoff_base=0.01, backoff_max=0.05, retry_after_max=0.05, timeout=10
    )
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


def url(server: HTTPServer, path: str) -> str:
    """Loopback by address: "localhost" may try ::1 first and cost a timeout."""
    return f"http://127.0.0.1:{server.port}{path}"


def serve_file(server: HTTPServer, path: Path, status: int = 200, **query: str) -> None:
    server.expect_request("/oai", query_string=query or None).respond_with_data(
        path.read_bytes(), status=status, content_type="text/xml; charset=utf-8"
    )


def serve_fixture(server: HTTPServer, name: str, **query: str) -> None:
    headers = json.loads((HTTP / f"{name}.headers.json").read_text())
    server.expect_request("/oai", query_string=query or None).respond_with_data(
        (HTTP / f"{name}.body").read_bytes(),
        status=headers["status"],
        content_type=headers["Content-Type"],
    )


@pytest.fixture
def client(httpserver: HTTPServer) -> OAIClient:
    return OAIClient(url(httpserver, "/oai"), settings=fast())


# --- recorded real responses --------------------------------------------------------------


@pytest.mark.corpus
def test_identify_real_response(httpserver: HTTPServer, client: OAIClient) -> None:
    serve_file(httpserver, SICKLE / "Identify.xml", verb="Identify")
    info = client.identify()
    assert info.repository_name == "A Test Repository"
    assert info.granularity == "YYYY-MM-DD"
    assert info.deleted_record == "persistent"
    assert info.earliest_datestamp == "1970-01-01T00:00:00Z"
    assert info.admin_emails == ("john.doe@example.com",)
    assert client.granularity == "YYYY-MM-DD"


@pytest.mark.corpus
def test_list_records_follows_resumption_tokens(httpserver: HTTPServer, client: OAIClient) -> None:
    serve_file(httpserver, SICKLE / "ListRecords.xml", verb="ListRecords", metadataPrefix="oai_dc")
    for name in ("ListRecords2.xml", "ListRecords3.xml", "ListRecords4.xml"):
        serve_file(httpserver, SICKLE / name, verb="ListRecords", resumptionToken=name)
    records = list(client.list_records("oai_dc"))
    assert len(records) == 8
    assert records[0].header.deleted is True
    assert records[0].metadata is None
    assert records[1].header.identifier == "oai:test.example.com:1585322"
    assert records[1].metadata is not None
    assert records[1].raw.startswith(b"<record")
    assert len(httpserver.log) == 4


@pytest.mark.corpus
def test_real_zenodo_page_with_token_attributes(httpserver: HTTPServer, client: OAIClient) -> None:
    serve_file(
        httpserver, SCYTHE / "list_records__00.xml", verb="ListRecords", metadataPrefix="oai_dc"
    )
    page = next(client.pages("ListRecords", {"metadataPrefix": "oai_dc"}))
    assert len(page.items) == 50
    assert page.token is not None
    assert page.token.complete_list_size == 1345244
    assert page.token.cursor == 0
    assert page.token.expiration_date == "2026-08-13T18:20:51Z"
    assert page.token.value.startswith(".eJyNjtFugjAYhd_lv8alLSqDxAvdaDcVNkCocGMqBcXW4VAD0fjucz")


@pytest.mark.corpus
def test_no_records_match_is_an_empty_success(httpserver: HTTPServer, client: OAIClient) -> None:
    serve_file(httpserver, SICKLE / "noRecordsMatch.xml")
    assert list(client.list_records("oai_dc")) == []


@pytest.mark.corpus
def test_no_records_match_with_http_422_is_empty(httpserver: HTTPServer, client: OAIClient) -> None:
    serve_file(httpserver, SCYTHE / "list_records__02_http422.xml", status=422)
    assert list(client.list_records("oai_dc")) == []


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("path", "status", "error"),
    [
        (SICKLE / "badArgument.xml", 200, BadArgument),
        (SICKLE / "badResumptionToken.xml", 200, BadResumptionToken),
        (SICKLE / "cannotDisseminateFormat.xml", 200, CannotDisseminateFormat),
        (SICKLE / "idDoesNotExist.xml", 200, IdDoesNotExist),
        (SICKLE / "noSetHierarchy.xml", 200, NoSetHierarchy),
        (SCYTHE / "list_records__10_http422.xml", 422, BadResumptionToken),
        (SCYTHE / "list_records__03_http422.xml", 422, BadArgument),
        (VUFINDHARVEST / "token_error_response.xml", 200, BadResumptionToken),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
def test_protocol_errors_raise_their_class(
    httpserver: HTTPServer, client: OAIClient, path: Path, status: int, error: type[Exception]
) -> None:
    serve_file(httpserver, path, status=status)
    with pytest.raises(error) as caught:
        list(client.list_records("oai_dc", resumption_token="x"))
    assert isinstance(caught.value, OAIProtocolError)
    assert caught.value.code in str(caught.value)


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("path", "code"),
    [
        (SICKLE / "undefinedError.xml", "undefinedError"),
        (VUFINDHARVEST / "arbitrary_error_response.xml", "foo"),
    ],
    ids=["sickle", "vufindharvest"],
)
def test_undefined_error_codes_are_kept(
    httpserver: HTTPServer, client: OAIClient, path: Path, code: str
) -> None:
    serve_file(httpserver, path)
    with pytest.raises(UnknownOAIError) as caught:
        client.identify()
    assert caught.value.code == code


@pytest.mark.corpus
def test_get_record_and_id_does_not_exist(httpserver: HTTPServer, client: OAIClient) -> None:
    serve_file(
        httpserver,
        SICKLE / "GetRecord.xml",
        verb="GetRecord",
        identifier="a",
        metadataPrefix="oai_dc",
    )
    serve_file(
        httpserver,
        SCYTHE / "id_does_not_exist__00_http422.xml",
        status=422,
        verb="GetRecord",
        identifier="b",
        metadataPrefix="oai_dc",
    )
    record = client.get_record("a")
    assert record.header.identifier
    assert record.metadata is not None
    with pytest.raises(IdDoesNotExist):
        client.get_record("b")


@pytest.mark.corpus
def test_list_sets_metadata_formats_identifiers(httpserver: HTTPServer, client: OAIClient) -> None:
    serve_file(httpserver, SICKLE / "ListSets.xml", verb="ListSets")
    serve_file(httpserver, SICKLE / "ListMetadataFormats.xml", verb="ListMetadataFormats")
    serve_file(
        httpserver, SICKLE / "ListIdentifiers.xml", verb="ListIdentifiers", metadataPrefix="oai_dc"
    )
    serve_file(
        httpserver,
        SICKLE / "ListIdentifiers2.xml",
        verb="ListIdentifiers",
        resumptionToken="ListIdentifiers2.xml",
    )
    sets = list(client.list_sets())
    assert sets and all(s.spec for s in sets)
    formats = client.list_metadata_formats()
    assert "oai_dc" in {f.prefix for f in formats}
    assert all(f.namespace for f in formats)
    headers = list(client.list_identifiers("oai_dc"))
    assert len(headers) == 4
    assert all(h.identifier and h.datestamp for h in headers)


# --- our own fixtures: repairs and endings ------------------------------------------------


def test_control_characters_are_repaired_and_counted(
    httpserver: HTTPServer, client: OAIClient
) -> None:
    serve_fixture(httpserver, "ListRecords_control_chars")
    page = next(client.pages("ListRecords", {"metadataPrefix": "oai_dc"}))
    assert len(page.items) == 2
    assert page.repaired == 4
    assert client.repaired == 4
    title = page.items[0].metadata.find("{http://purl.org/dc/elements/1.1/}title").text
    assert title == "Radioactivity study"
    assert page.token is not None and page.token.value == ""


def test_empty_final_token_ends_cleanly(httpserver: HTTPServer, client: OAIClient) -> None:
    serve_fixture(httpserver, "ListRecords_control_chars")
    assert len(list(client.list_records("oai_dc"))) == 2
    assert len(httpserver.log) == 1


def test_repeated_token_ends_cleanly(httpserver: HTTPServer, client: OAIClient) -> None:
    serve_fixture(
        httpserver, "ListRecords_repeated_token", verb="ListRecords", metadataPrefix="oai_dc"
    )
    serve_fixture(
        httpserver, "ListRecords_repeated_token", verb="ListRecords", resumptionToken="same-token"
    )
    records = list(client.list_records("oai_dc"))
    assert [r.header.identifier for r in records] == ["oai:fx:4", "oai:fx:4"]
    assert len(httpserver.log) == 2  # asked once with the token, saw it again, stopped


def test_broken_record_is_salvaged_and_reported(httpserver: HTTPServer, client: OAIClient) -> None:
    serve_fixture(httpserver, "ListRecords_broken_record")
    page = next(client.pages("ListRecords", {"metadataPrefix": "oai_dc"}))
    assert [r.header.identifier for r in page.items] == ["oai:fx:1", "oai:fx:3"]
    assert len(page.broken) == 1
    assert page.broken[0].identifier == "oai:fx:2"
    assert b"Broken <i>unclosed" in page.broken[0].raw
    assert page.token is not None and page.token.value == "next-page"


def test_unreadable_page_is_a_parse_error(httpserver: HTTPServer, client: OAIClient) -> None:
    httpserver.expect_request("/oai").respond_with_data(
        b"<html><body>Maintenance", content_type="text/html"
    )
    with pytest.raises(Exception) as caught:
        list(client.list_records("oai_dc"))
    assert type(caught.value).__name__ == "ParseError"


@pytest.mark.corpus
def test_broken_sickle_response_is_a_parse_error(httpserver: HTTPServer, client: OAIClient) -> None:
    serve_file(httpserver, SICKLE / "ListRecordsBroken.xml")
    with pytest.raises(Exception) as caught:
        list(client.list_records("oai_dc"))
    assert type(caught.value).__name__ == "ParseError"


def test_from_until_in_the_declared_granularity(httpserver: HTTPServer) -> None:
    repo = FakeRepository(make_records(5), granularity="YYYY-MM-DD")
    httpserver.expect_request("/oai").respond_with_handler(repo.handle)
    client = OAIClient(url(httpserver, "/oai"), settings=fast())
    from datetime import UTC, datetime

    list(
        client.list_records(
            "oai_dc", from_=datetime(2020, 1, 1, 12, 30, tzinfo=UTC), until="2020-01-02T00:00:00Z"
        )
    )
    assert repo.log[0] == {"verb": "Identify"}
    assert repo.log[1]["from"] == "2020-01-01"
    assert repo.log[1]["until"] == "2020-01-02"
    assert format_datestamp("2020-01-01", "YYYY-MM-DDThh:mm:ssZ") == "2020-01-01T00:00:00Z"


# --- the HTTP layer ---------------------------------------------------------------------


def test_503_with_retry_after_is_retried(httpserver: HTTPServer) -> None:
    repo = FakeRepository(
        make_records(250), unavailable={2: "1", 3: "Wed, 21 Oct 2015 07:28:00 GMT"}
    )
    httpserver.expect_request("/oai").respond_with_handler(repo.handle)
    http = HttpClient(fast())
    client = OAIClient(url(httpserver, "/oai"), http=http)
    records = list(client.list_records("oai_dc"))
    assert len(records) == 250
    assert http.retries == 2


@pytest.mark.parametrize("with_length", [True, False], ids=["content-length", "until-close"])
def test_dropped_connection_mid_body_is_retried(httpserver: HTTPServer, with_length: bool) -> None:
    repo = FakeRepository(make_records(250), drop_at={2}, drop_with_length=with_length)
    httpserver.expect_request("/oai").respond_with_handler(repo.handle)
    http = HttpClient(fast())
    client = OAIClient(url(httpserver, "/oai"), http=http)
    records = list(client.list_records("oai_dc"))
    assert [r.header.identifier for r in records] == [f"oai:test:{i:06d}" for i in range(250)]
    assert http.retries == 1


def test_retries_give_up_with_a_fetch_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oai").respond_with_data("down", status=503)
    http = HttpClient(fast(max_attempts=3))
    with pytest.raises(FetchError) as caught:
        http.get(url(httpserver, "/oai"))
    assert caught.value.status == 503
    assert len(httpserver.log) == 3


def test_429_gives_up_as_rate_limited(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oai").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "2"}
    )
    with pytest.raises(RateLimited) as caught:
        HttpClient(fast(max_attempts=2)).get(url(httpserver, "/oai"))
    assert caught.value.retry_after == 2.0


@pytest.mark.parametrize("status", [400, 401, 403, 500])
def test_other_errors_are_not_retried(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/x").respond_with_data("no", status=status)
    with pytest.raises(FetchError) as caught:
        HttpClient(fast()).get(url(httpserver, "/x"))
    assert caught.value.status == status
    assert len(httpserver.log) == 1


def test_not_found(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data("gone", status=410)
    from harvester.errors import NotFound

    with pytest.raises(NotFound):
        HttpClient(fast()).get(url(httpserver, "/x"))


def test_body_cap_and_redirect_cap(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big").respond_with_data(b"x" * 5000)
    with pytest.raises(FetchError, match="larger than"):
        HttpClient(fast(max_body_bytes=1000)).get(url(httpserver, "/big"))
    httpserver.expect_request("/loop").respond_with_response(
        Response(status=302, headers={"Location": "/loop"})
    )
    with pytest.raises(FetchError, match="redirects"):
        HttpClient(fast()).get(url(httpserver, "/loop"))


def test_user_agent_names_tool_version_and_contact(httpserver: HTTPServer) -> None:
    seen: list[str] = []

    def handle(request: Request) -> Response:
        seen.append(request.headers.get("User-Agent", ""))
        return Response("ok")

    httpserver.expect_request("/ua").respond_with_handler(handle)
    HttpClient(
        fast(),
    ).get(url(httpserver, "/ua"))
    settings = fast()
    settings.contact = "ops@example.org"
    HttpClient(settings).get(url(httpserver, "/ua"))
    assert seen[0].startswith("harvester/0.1.0 (+https://")
    assert seen[1].endswith("mailto:ops@example.org)")
    assert user_agent("a@b.c") == seen[1].replace("ops@example.org", "a@b.c")


def test_retry_after_parsing() -> None:
    from datetime import UTC, datetime

    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now=now) == 120.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_token_bucket_rate_limits_per_host() -> None:
    clock = [0.0]
    bucket = TokenBucket(HttpSettings(default_rate=1.0, rates={"fast": 0}), clock=lambda: clock[0])
    assert bucket.delay("slow.example") == 0.0
    assert bucket.delay("slow.example") == pytest.approx(1.0)
    assert bucket.delay("other.example") == 0.0  # buckets are per host
    clock[0] = 5.0
    assert bucket.delay("slow.example") == 0.0
    assert all(bucket.delay("fast") == 0.0 for _ in range(100))


def test_default_rate_limit_really_waits(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/r").respond_with_data("ok")
    http = HttpClient(fast(default_rate=5.0))
    started = time.perf_counter()
    for _ in range(8):  # a burst of 5, then 3 more at 5/s
        http.get(url(httpserver, "/r"))
    assert time.perf_counter() - started >= 0.5


def test_memory_stays_flat_while_paging(httpserver: HTTPServer) -> None:
    repo = FakeRepository(make_records(1500), page_size=100)
    httpserver.expect_request("/oai").respond_with_handler(repo.handle)
    client = OAIClient(url(httpserver, "/oai"), settings=fast())
    tracemalloc.start()
    count = 0
    peak_at_100 = 0
    for record in client.list_records("oai_dc"):
        count += 1
        del record
        if count == 150:
            peak_at_100 = tracemalloc.get_traced_memory()[1]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 1500
    assert peak < peak_at_100 * 1.5  # ten times the records, not ten times the memory


def test_an_html_404_is_a_fetch_error_with_its_status(
    httpserver: HTTPServer, client: OAIClient
) -> None:
    httpserver.expect_request("/oai").respond_with_data(
        "<html><body>Not here", status=404, content_type="text/html"
    )
    with pytest.raises(FetchError) as caught:
        client.identify()
    assert caught.value.status == 404


MARC_PAGE = """<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><responseDate>2026-01-01</responseDate>
<ListRecords>{records}<resumptionToken cursor="0">page-2</resumptionToken>
</ListRecords></OAI-PMH>"""


def _marc_record(n: int, title: str, close: bool = True) -> str:
    end = "</record>" if close else ""
    return (
        f"<record><header><identifier>oai:m:{n}</identifier><datestamp>2026-01-0{n}</datestamp>"
        '</header><metadata><record xmlns="http://www.loc.gov/MARC21/slim">'
        "<leader>00000nam a2200000 a 4500</leader>"
        f'<datafield tag="245" ind1="0" ind2="0"><subfield code="a">{title}</subfield>'
        f"</datafield></record></metadata>{end}"
    )


@pytest.mark.parametrize("close_broken", [True, False], ids=["bad-inside", "record-unclosed"])
def test_broken_marc_page_quarantines_only_what_is_broken(
    httpserver: HTTPServer, client: OAIClient, close_broken: bool
) -> None:
    records = [_marc_record(1, "One"), _marc_record(2, "Two <b>bold", close_broken)]
    if close_broken:
        records.append(_marc_record(3, "Three"))
    body = MARC_PAGE.format(records="".join(records))
    httpserver.expect_request("/oai").respond_with_data(body, content_type="text/xml")
    page = next(client.pages("ListRecords", {"metadataPrefix": "marc21"}))
    kept = [r.header.identifier for r in page.items]
    assert kept == (["oai:m:1", "oai:m:3"] if close_broken else ["oai:m:1"])
    assert [b.identifier for b in page.broken] == ["oai:m:2"]
    assert page.token is not None and page.token.value == "page-2"


# --- the token guess that lets the next request start before the parse ---------------------


def _list_page(tail: str, records: str = "") -> bytes:
    return (
        '<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        f"<ListRecords>{records}{tail}</ListRecords></OAI-PMH>"
    ).encode()


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ('<resumptionToken cursor="0" completeListSize="9">abc|100</resumptionToken>', "abc|100"),
        ("<resumptionToken>\n  spaced \n</resumptionToken>", "spaced"),
        ("<resumptionToken>a&amp;b=&#99;&lt;</resumptionToken>", "a&b=c<"),
        ("<resumptionToken><![CDATA[x&y]]></resumptionToken>", "x&y"),
        (
            '<oai:resumptionToken xmlns:oai="http://www.openarchives.org/OAI/2.0/">p</oai:resumptionToken>',
            "p",
        ),
        ('<resumptionToken completeListSize="9" cursor="8"/>', None),
        ("<resumptionToken></resumptionToken>", None),
        ("", None),
    ],
)
def test_peek_token_reads_the_token_without_parsing(tail: str, expected: str | None) -> None:
    body = _list_page(tail)
    assert peek_token(body) == expected
    # Wherever the guess is right, it is what the parser finds.
    parsed = parse_records_page(body, "u").token
    if expected is not None:
        assert parsed is not None and parsed.value == expected


def test_peek_token_takes_the_last_one_after_the_records() -> None:
    decoy = "<record><metadata><![CDATA[<resumptionToken>fake</resumptionToken>]]></metadata>"
    body = _list_page("<resumptionToken>real</resumptionToken>", decoy + "</record>")
    assert peek_token(body) == "real"
    # A decoy on a last page makes a wrong guess: the pipeline checks guesses against this.
    last = _list_page("", decoy + "</record>")
    assert peek_token(last) == "fake"
    assert parse_records_page(last, "u").token is None
