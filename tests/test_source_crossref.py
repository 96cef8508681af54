"""Crossref ``/works/{doi}``: the mapping field by field on real works, and the HTTP side
(404, invalid and truncated JSON, conditional re-checks) against a loopback server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from harvester import api
from harvester.errors import NotFound, ParseError
from harvester.http import AsyncHttpClient, HostPolicy, HttpSettings
from harvester.merge import Layer, merge
from harvester.model import Date, Name, Record
from harvester.sources._base import FetchContext, SourceSettings
from harvester.sources.crossref import (
    CROSSREF_TYPES,
    WorkResult,
    content_bytes,
    date_from_parts,
    fetch_work,
    jats_to_text,
    record_from_work,
)
from tests.conftest import CORPUS, SEED
from tests.recorded import HTTP, base_url, load, serve
from tests.strategies import hostile_text

T = TypeVar("T")
HABANERO = CORPUS / "habanero" / "extracted_bodies"
CSL_SCHEMA = CORPUS / "csl-schema" / "schemas" / "input" / "csl-data.json"
SEED_DOI = "10.3892/etm.2017.4687"


def run_with(
    server: HTTPServer, job: Callable[[FetchContext], Awaitable[T]], *, mailto: str | None = None
) -> T:
    """Run ``job`` with a fresh client whose every base URL is the loopback server."""

    async def main() -> T:
        base = base_url(server)
        settings = SourceSettings(mailto=mailto)
        settings.urls.update(crossref=base, datacite=base, doi=base)
        client = AsyncHttpClient(
            HttpSettings(backoff_base=0.01, max_attempts=3, timeout=10),
            hosts={"127.0.0.1": HostPolicy(rate=0, concurrency=8)},
        )
        try:
            return await job(FetchContext(client=client, settings=settings))
        finally:
            await client.aclose()

    return asyncio.run(main())


def habanero_work(name: str) -> dict[str, Any]:
    message: dict[str, Any] = json.loads((HABANERO / name).read_text(encoding="utf-8"))["message"]
    return message


def habanero_item(name: str, doi: str) -> dict[str, Any]:
    items = json.loads((HABANERO / name).read_text(encoding="utf-8"))["message"]["items"]
    found: dict[str, Any] = next(i for i in items if i["DOI"] == doi)
    return found


def fixture_message(case: str) -> dict[str, Any]:
    message: dict[str, Any] = json.loads((HTTP / "crossref" / f"{case}.body").read_bytes())[
        "message"
    ]
    return message


def ids(record: Record, scheme: str) -> list[tuple[str, str | None]]:
    return [(i.value, i.kind) for i in record.identifiers_of(scheme)]


# --- the mapping, on real works from the corpus (read in place) ----------------------------


@pytest.mark.corpus
def test_plos_one_work_field_by_field() -> None:
    record = record_from_work(habanero_work("test_works_with_one_id__00.json"), "u")
    assert record.type == "article-journal"
    assert record.title == (
        "Methylphenidate Exposure Induces Dopamine Neuron Loss and Activation of Microglia "
        "in the Basal Ganglia of Mice"
    )
    assert record.container_title == "PLoS ONE"
    assert record.container_title_short == "PLoS ONE"
    assert record.author[0] == Name(family="Sadasivan", given="Shankar")
    assert record.editor == [Name(family="Borlongan", given="Cesario V.")]
    assert record.issued == Date(parts=(2012, 3, 21))  # published-online: no print date
    assert (record.volume, record.issue, record.page) == ("7", "3", "e33693")
    assert record.publisher == "Public Library of Science (PLoS)"
    assert record.language == "en"
    assert ids(record, "doi") == [("10.1371/journal.pone.0033693", None)]
    assert ids(record, "issn") == [("1932-6203", "electronic")]
    assert ids(record, "url") == [("https://dx.plos.org/10.1371/journal.pone.0033693", None)]
    assert record.extra["crossref:license"] == ["http://creativecommons.org/licenses/by/4.0/"]
    assert record.extra["crossref:type"] == ["journal-article"]
    assert record.extra["crossref:reference-count"] == ["70"]


@pytest.mark.corpus
def test_print_date_wins_over_online_and_jats_abstract_becomes_text() -> None:
    record = record_from_work(habanero_work("test_works_with_many_ids__01.json"), "u")
    assert record.issued == Date(parts=(1997, 7))
    assert record.extra["crossref:published-online"] == ["2005-02-18"]
    assert record.field_sources["issued"].raw == "published-print: [[1997, 7]]"
    assert ids(record, "issn") == [("0736-0266", "print"), ("1554-527X", "electronic")]
    assert record.abstract is not None
    assert record.abstract.startswith("Twenty‐two beagles were divided")
    assert "(p < 0.001)" in record.abstract  # character references decoded
    assert "<" not in record.abstract.replace("(p < 0.001)", "").replace("(p < 0.05)", "")
    assert "Abstract" not in record.abstract[:20]  # the JATS heading is not text
    raw_abstract = record.field_sources["abstract"].raw
    assert raw_abstract is not None and raw_abstract.startswith("<jats:title>Abstract")
    assert record.author[0] == Name(family="Lieber", given="Richard L.")
    assert record.page == "519-527"


@pytest.mark.corpus
def test_article_number_is_number_and_there_is_no_page() -> None:
    record = record_from_work(habanero_work("test_works_with_many_ids__02.json"), "u")
    assert record.number == "16696"
    assert record.page is None
    assert record.issued == Date(parts=(2015, 11, 19))
    assert record.container_title_short == "Sci Rep"


@pytest.mark.corpus
def test_proceedings_paper_with_null_date_parts_has_no_issued() -> None:
    message = habanero_work("test_works_with_many_ids__03.json")
    assert message["issued"] == {"date-parts": [[None]]}
    record = record_from_work(message, "u")
    assert record.type == "paper-conference"
    assert record.issued is None
    assert record.extra["crossref:event"] == [
        "23rd International Conference on Distributed Computing Systems Workshops, 2003."
    ]
    assert record.page == "877-882"


@pytest.mark.corpus
def test_funders_and_alternative_ids_are_kept_in_extra() -> None:
    record = record_from_work(habanero_work("test_works_with_many_ids__00.json"), "u")
    assert record.extra["crossref:funder"] == [
        "Ministry of Education, Science and Technology (10.13039/501100004085)",
        "Stem Cell Research Center",
    ]
    assert record.extra["crossref:alternative-id"] == ["S0197458010001570"]
    assert ids(record, "issn") == [("0197-4580", "print")]
    assert record.issued == Date(parts=(2012, 3))


@pytest.mark.corpus
def test_book_chapter_with_isbn_kind_and_publisher_location() -> None:
    chapter = habanero_item("test_cursor__00.json", "10.1007/978-1-4302-0197-7_9")
    record = record_from_work(chapter, "u")
    assert record.type == "chapter"
    assert record.container_title == "Practical JavaScript™, DOM Scripting, and Ajax Projects"
    assert record.publisher == "Apress"
    assert record.publisher_place == "Berkeley, CA"
    assert ids(record, "isbn") == [("9781590598160", "print")]
    assert record.page == "305-349"
    assert ids(record, "url") == [("http://link.springer.com/10.1007/978-1-4302-0197-7_9", None)]
    electronic = habanero_item("test_cursor__00.json", "10.1007/978-1-4842-6700-4_5")
    assert ids(record_from_work(electronic, "u"), "isbn") == [("9781484267004", "electronic")]


@pytest.mark.corpus
def test_types_of_every_work_in_the_corpus_map_to_csl() -> None:
    items = json.loads((HABANERO / "test_cursor__00.json").read_text())["message"]["items"]
    seen = {item["type"]: record_from_work(item, "u").type for item in items}
    assert seen == {
        "book-chapter": "chapter",
        "reference-entry": "entry",
        "proceedings-article": "paper-conference",
        "dataset": "dataset",
        "journal-article": "article-journal",
        "posted-content": "article",
    }


@pytest.mark.corpus
def test_orcids_are_kept_in_author_order() -> None:
    items = json.loads((HABANERO / "test_works_field_query_publisher_name__00.json").read_text())
    record = record_from_work(items["message"]["items"][0], "u")
    assert [a.family for a in record.author] == ["Fernandes", "Barichello", "Rocha"]
    assert record.extra["crossref:author[0].ORCID"] == ["https://orcid.org/0000-0003-2035-6832"]
    assert record.extra["crossref:author[2].ORCID"] == ["https://orcid.org/0009-0007-1876-0197"]
    assert record.abstract is not None and record.abstract.startswith("O presente texto")


# --- the mapping, on hand-made messages for what the corpus lacks ---------------------------


def test_organisation_names_suffixes_translators_and_chairs() -> None:
    record = record_from_work(
        {
            "DOI": "10.1234/ABC",
            "type": "monograph",
            "title": ["Water"],
            "subtitle": ["A study"],
            "author": [
                {"name": "The Water Consortium", "sequence": "first"},
                {"given": "John", "family": "Smith", "suffix": "Jr.", "ORCID": "x"},
            ],
            "translator": [{"given": "Ana", "family": "Lima"}],
            "chair": [{"given": "Mo", "family": "Chen"}],
            "edition-number": "2",
            "subject": ["Hydrology", "Hydrology", "Chemistry"],
            "language": "eng",
        },
        "u",
    )
    assert record.type == "book"
    assert record.title == "Water: A study"
    assert record.author == [
        Name(literal="The Water Consortium"),
        Name(family="Smith", given="John", suffix="Jr."),
    ]
    assert record.extra["crossref:author[1].ORCID"] == ["x"]
    assert record.translator == [Name(family="Lima", given="Ana")]
    assert record.extra["crossref:chair"] == ["Mo Chen"]
    assert record.edition == "2"
    assert record.keywords == ["Hydrology", "Chemistry"]
    assert record.language == "en"
    assert record.field_sources["language"].raw == "eng"
    assert record.doi == "10.1234/abc"


def test_every_crossref_type_maps_to_a_csl_type_and_unknown_is_document() -> None:
    for crossref_type, csl_type in CROSSREF_TYPES.items():
        record = record_from_work({"DOI": "10.1234/x", "type": crossref_type}, "u")
        assert record.type == csl_type
    assert record_from_work({"DOI": "10.1234/x", "type": "hologram"}, "u").type == "document"


def test_raw_page_is_kept_when_normalising_changes_it() -> None:
    record = record_from_work({"DOI": "10.1234/x", "page": "1538-46"}, "u")
    assert record.page == "1538-1546"
    assert record.field_sources["page"].raw == "1538-46"
    assert (
        record_from_work({"DOI": "10.1234/x", "page": "1-9"}, "u").field_sources["page"].raw is None
    )


def test_date_parts_ranges_strings_and_impossible_values() -> None:
    assert date_from_parts({"date-parts": [[2017, 8, 31], [2017, 9, 2]]}) == Date(
        parts=(2017, 8, 31), end=(2017, 9, 2)
    )
    assert date_from_parts({"date-parts": [["2017", "8"]]}) == Date(parts=(2017, 8))
    assert date_from_parts({"date-parts": [[2017, 13]]}) is None
    assert date_from_parts({"date-parts": [[None]]}) is None
    assert date_from_parts({"date-parts": []}) is None
    assert date_from_parts("2017") is None
    # An impossible print date falls through to the online one.
    record = record_from_work(
        {
            "DOI": "10.1234/x",
            "published-print": {"date-parts": [[2017, 2, 30]]},
            "published-online": {"date-parts": [[2017, 1, 5]]},
        },
        "u",
    )
    assert record.issued == Date(parts=(2017, 1, 5))


def test_a_work_without_a_doi_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="no DOI"):
        record_from_work({"title": ["x"]}, "http://example/works/x")


def test_content_hash_ignores_reindexing() -> None:
    message = fixture_message("seed")
    later = {**message, "indexed": {"date-parts": [[2030, 1, 1]]}, "score": 7}
    assert content_bytes(message) == content_bytes(later)
    first = record_from_work(message, "u").provenance[0].content_hash
    assert first == record_from_work(later, "u").provenance[0].content_hash
    changed = record_from_work({**message, "volume": "15"}, "u").provenance[0].content_hash
    assert changed != first


# --- JATS abstracts ------------------------------------------------------------------------


def test_structured_jats_abstract_keeps_paragraphs_and_section_titles() -> None:
    markup = (
        "<jats:sec><jats:title>Background</jats:title><jats:p>Water is <jats:italic>odd"
        "</jats:italic>.</jats:p></jats:sec><jats:sec><jats:title>Results</jats:title>"
        "<jats:p>It is <mml:math><mml:mi>H</mml:mi></mml:math>2O.</jats:p></jats:sec>"
    )
    assert jats_to_text(markup) == "Background\nWater is odd.\nResults\nIt is H2O."


def test_jats_with_html_entities_falls_back_to_text() -> None:
    text = jats_to_text("<jats:p>A&nbsp;b &amp; c</jats:p><jats:p>second</jats:p>")
    assert text == "A b & c\nsecond"


def test_fallback_keeps_a_bare_less_than_sign() -> None:
    text = jats_to_text("<jats:p>p < 0.05 and q > 1 &nbsp;<jats:bold>x</jats:bold></jats:p>")
    assert text == "p < 0.05 and q > 1 x"


def test_hostile_abstract_expands_no_entity() -> None:
    markup = '<!DOCTYPE x [<!ENTITY boom "EXPANDED">]><jats:p>&boom;</jats:p>'
    text = jats_to_text(markup) or ""
    assert "EXPANDED" not in text
    assert "<jats:p>" not in text


def test_plain_text_abstract_passes_through() -> None:
    assert jats_to_text("Just text &amp; more") == "Just text & more"
    assert jats_to_text("<jats:title>Abstract</jats:title>") is None


# --- over HTTP -----------------------------------------------------------------------------


def test_seed_work_over_http_with_mailto_and_provenance(httpserver: HTTPServer) -> None:
    serve(httpserver, f"/works/{SEED_DOI}", "crossref", "seed", query={"mailto": "me@example.org"})
    result = run_with(httpserver, lambda ctx: fetch_work(SEED_DOI, ctx), mailto="me@example.org")
    record = result.record
    assert record is not None and not result.not_modified
    assert result.etag == '"seed-v1"'
    assert record.publisher == "Spandidos Publications"
    assert ids(record, "issn") == [("1792-0981", "print"), ("1792-1015", "electronic")]
    assert len(record.author) == 12
    assert record.author[0] == Name(family="Li", given="Ai")
    assert record.author[-1] == Name(family="Zheng", given="Chengyun")
    assert record.container_title == "Experimental and Therapeutic Medicine"
    assert (record.volume, record.issue, record.page) == ("14", "2", "1538-1546")
    assert record.issued == Date(parts=(2017, 8))
    assert record.doi == SEED_DOI
    (provenance,) = record.provenance
    assert provenance.source == "crossref"
    assert provenance.source_id == SEED_DOI
    assert provenance.url == f"{base_url(httpserver)}/works/{SEED_DOI}"
    assert provenance.raw_format == "crossref-json"
    assert provenance.content_hash is not None and provenance.content_hash.startswith("sha256:")
    assert set(record.field_sources) >= {"title", "author", "issued", "publisher", "identifiers"}
    assert all(fs.source == "crossref" for fs in record.field_sources.values())


def test_seed_enrichment_adds_publisher_and_learns_issn_kinds(httpserver: HTTPServer) -> None:
    serve(httpserver, f"/works/{SEED_DOI}", "crossref", "seed")
    catalogue = next(iter(api.read(SEED, "catalogue-text")))
    assert isinstance(catalogue, Record) and catalogue.publisher is None
    result = run_with(httpserver, lambda ctx: fetch_work(SEED_DOI, ctx))
    assert result.record is not None
    merged = merge(
        [Layer(catalogue, "catalogue", "catalogue"), Layer(result.record, "registry", "crossref")]
    ).record
    assert merged.publisher == "Spandidos Publications"
    assert merged.field_sources["publisher"].source == "crossref"
    assert ids(merged, "issn") == [("1792-0981", "print"), ("1792-1015", "electronic")]


def test_dois_with_url_special_characters_are_escaped_in_the_path(httpserver: HTTPServer) -> None:
    doi = "10.1002/(sici)1097-4636(199812)43:4<448::aid-jbm13>3.0.co;2-5#x?y"
    body = (
        (HTTP / "crossref" / "plos-one.body")
        .read_bytes()
        .replace(b"10.1371/journal.pone.0033693", doi.encode())
    )
    httpserver.expect_request(f"/works/{doi}").respond_with_data(
        body, content_type="application/json"
    )
    result = run_with(httpserver, lambda ctx: fetch_work(doi, ctx))
    assert result.record is not None and result.record.doi == doi
    raw_path = httpserver.log[0][0].environ["RAW_URI"]
    assert "%3C448" in raw_path and "%23x%3Fy" in raw_path


def test_not_found_is_reported_without_retry(httpserver: HTTPServer) -> None:
    serve(httpserver, "/works/10.1371/nope", "crossref", "not-found")
    with pytest.raises(NotFound, match=r"10\.1371/nope") as info:
        run_with(httpserver, lambda ctx: fetch_work("10.1371/nope", ctx))
    assert info.value.status == 404
    assert len(httpserver.log) == 1


@pytest.mark.parametrize(
    ("case", "words"), [("invalid-json", "invalid JSON"), ("truncated", "truncated JSON")]
)
def test_bad_json_is_a_clear_error_naming_doi_and_url(
    httpserver: HTTPServer, case: str, words: str
) -> None:
    doi = "10.1371/journal.pone.0033693"
    serve(httpserver, f"/works/{doi}", "crossref", case)
    with pytest.raises(ParseError) as info:
        run_with(httpserver, lambda ctx: fetch_work(doi, ctx))
    message = str(info.value)
    assert words in message
    assert doi in message
    assert f"{base_url(httpserver)}/works/{doi}" in message


def test_wrong_message_type_is_a_parse_error(httpserver: HTTPServer) -> None:
    serve(httpserver, "/works/10.1126/x", "crossref", "agency-crossref")
    with pytest.raises(ParseError, match="'work' message"):
        run_with(httpserver, lambda ctx: fetch_work("10.1126/x", ctx))


def test_conditional_recheck_answers_not_modified(httpserver: HTTPServer) -> None:
    doi = "10.1371/journal.pone.0033693"
    body, status, headers = load("crossref", "not-modified")
    httpserver.expect_request(
        f"/works/{doi}", headers={"If-None-Match": '"plos-one-v1"'}
    ).respond_with_data(body, status=status, headers=headers)
    serve(httpserver, f"/works/{doi}", "crossref", "plos-one")

    async def both(ctx: FetchContext) -> tuple[WorkResult, WorkResult]:
        fresh = await fetch_work(doi, ctx)
        again = await fetch_work(
            doi, ctx, etag=fresh.etag, last_modified="Wed, 21 Oct 2026 07:28:00 GMT"
        )
        return fresh, again

    fresh, again = run_with(httpserver, both)
    assert fresh.status == 200 and fresh.record is not None and fresh.etag == '"plos-one-v1"'
    assert fresh.last_modified == "Tue, 16 Jun 2026 13:19:40 GMT"
    assert again.not_modified and again.record is None
    assert again.etag == '"plos-one-v1"'
    assert again.last_modified == "Wed, 21 Oct 2026 07:28:00 GMT"
    sent = httpserver.log[1][0]
    assert sent.headers["If-None-Match"] == '"plos-one-v1"'
    assert sent.headers["If-Modified-Since"] == "Wed, 21 Oct 2026 07:28:00 GMT"
    assert "If-None-Match" not in httpserver.log[0][0].headers


@pytest.mark.corpus
def test_csl_json_output_of_crossref_records_validates_against_the_schema() -> None:
    validator = jsonschema.Draft7Validator(json.loads(CSL_SCHEMA.read_text(encoding="utf-8")))
    records = [record_from_work(fixture_message(case), "u") for case in _WORK_CASES]
    data = json.loads(api.dumps(records, "csl-json"))
    assert len(data) == len(_WORK_CASES)
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(data)]
    assert not errors, errors[:3]
    seed = data[_WORK_CASES.index("seed")]
    assert seed["publisher"] == "Spandidos Publications"
    assert seed["issued"] == {"date-parts": [[2017, 8]]}
    assert seed["ISSN"] == "1792-0981, 1792-1015"


_WORK_CASES = [
    "seed",
    "plos-one",
    "jor-abstract",
    "srep-article-number",
    "neurobiol-funder",
    "proceedings-no-date",
    "book-chapter",
    "posted-content",
    "orcid-portuguese",
]


# --- arbitrary messages: a record or a ParseError, and the record always writes -----------

_SUBKEYS = ["date-parts", "value", "type", "given", "family", "name", "ORCID", "URL", "primary"]
_WORK_KEYS = [
    "type", "title", "subtitle", "container-title", "short-container-title", "author",
    "editor", "translator", "chair", "published-print", "published-online", "issued",
    "volume", "issue", "page", "article-number", "publisher", "publisher-location", "ISSN",
    "issn-type", "ISBN", "isbn-type", "URL", "resource", "language", "abstract", "subject",
    "license", "funder", "event", "institution", "edition-number", "short-title",
]  # fmt: skip
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 3000) | hostile_text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_SUBKEYS), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from(_WORK_KEYS), _JSON, max_size=8))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_message_gives_a_record_that_writes_or_a_parse_error(message: dict[str, Any]) -> None:
    try:
        record = record_from_work({**message, "DOI": "10.1234/x"}, "u")
    except ParseError as exc:
        assert "10.1234/x" in str(exc)
        return
    assert record.doi == "10.1234/x"
    for fmt in ("csl-json", "ris", "bibtex", "jsonl"):
        assert api.dumps([record], fmt)
