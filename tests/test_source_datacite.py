"""DataCite ``/dois/{doi}``: the mapping field by field (fixtures built from bolognese's
DataCite examples, and bolognese's DataCite JSON read in place), and the HTTP side."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator
from pytest_httpserver import HTTPServer

from harvester import api
from harvester.errors import NotFound, ParseError
from harvester.model import Date, Name, Record
from harvester.sources.datacite import DATACITE_TYPES, fetch_doi, record_from_attributes
from tests.conftest import CORPUS
from tests.recorded import HTTP, base_url, serve
from tests.strategies import hostile_text
from tests.test_source_crossref import ids, run_with

BOLOGNESE = CORPUS / "bolognese" / "spec" / "fixtures"


def attributes(case: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((HTTP / "datacite" / f"{case}.body").read_bytes())["data"][
        "attributes"
    ]
    return found


def fetched(server: HTTPServer, case: str, doi: str) -> Record:
    serve(server, f"/dois/{doi}", "datacite", case)
    return run_with(server, lambda ctx: fetch_doi(doi, ctx))


def test_blog_post_over_http_field_by_field(httpserver: HTTPServer) -> None:
    record = fetched(httpserver, "blog-post", "10.5438/4k3m-nyvg")
    assert record.type == "article-journal"  # resourceTypeGeneral Text: DataCite's citeproc type
    assert record.title == "Eating your own Dog Food"
    assert record.author == [Name(family="Fenner", given="Martin")]
    assert record.extra["datacite:author[0].ORCID"] == ["https://orcid.org/0000-0003-1419-2405"]
    assert record.publisher == "DataCite"
    assert record.issued == Date(parts=(2016, 12, 20))
    assert record.field_sources["issued"].raw == "dates Issued: 2016-12-20"
    assert record.keywords == ["datacite", "doi", "metadata"]
    assert record.abstract is not None and record.abstract.startswith("Eating your own dog food")
    assert record.extra["datacite:description.SeriesInformation"] == ["Volume(1) Series(3)"]
    assert record.extra["datacite:version"] == ["1.0"]
    assert record.extra["datacite:identifier.Local accession number"] == ["MS-49-3632-5083"]
    assert "IsPartOf DOI 10.5438/0000-00ss" in record.extra["datacite:relation"]
    assert ids(record, "doi") == [("10.5438/4k3m-nyvg", None)]
    assert ids(record, "url") == [("https://blog.datacite.org/eating-your-own-dog-food/", None)]
    (provenance,) = record.provenance
    assert provenance.source == "datacite"
    assert provenance.source_id == "10.5438/4k3m-nyvg"
    assert provenance.url == f"{base_url(httpserver)}/dois/10.5438/4k3m-nyvg"
    assert provenance.raw_format == "datacite-json"
    assert provenance.content_hash is not None


def test_software_with_an_organisation_named_without_name_type() -> None:
    record = record_from_attributes(attributes("software"), "u")
    assert record.type == "software"
    assert record.author == [Name(literal="Lab For Exosphere And Near Space Environment Studies")]
    assert record.doi == "10.5281/zenodo.2598836"  # DataCite's upper-case DOI, normalised
    assert record.issued == Date(parts=(2019, 3, 20))
    assert record.extra["datacite:rights"] == ["info:eu-repo/semantics/openAccess"]
    assert record.extra["datacite:version"] == ["1.0.0"]


def test_journal_article_takes_container_and_issn_from_related_items() -> None:
    record = record_from_attributes(attributes("journal-article"), "u")
    assert record.type == "article-journal"
    assert record.container_title == "Texas Law Review"
    assert (record.volume, record.issue) == ("74", "1")
    assert ids(record, "issn") == [("0040-4411", None)]
    assert record.issued == Date(parts=(1995, 11))
    assert record.language == "en"
    assert record.extra["datacite:contributor.HostingInstitution"] == ["Georgetown Law Library"]
    assert record.extra["datacite:title"] == [
        "Science and Uncertainty in Mass Exposure Litigation, 74 Tex. L. Rev. 1 (1995)"
    ]


def test_full_v46_example_roles_titles_publisher_object() -> None:
    record = record_from_attributes(attributes("full-v4.6"), "u")
    assert record.title == "Example Title: Example Subtitle"
    assert record.author == [
        Name(family="ExampleFamilyName", given="ExampleGivenName"),
        Name(literal="ExampleOrganization"),
    ]
    assert record.editor == [
        Name(family="Ross", given="Cody"),
        Name(family="Stathis", given="Kelly"),
    ]
    assert record.translator == [Name(family="Doe", given="Jane")]
    assert record.extra["datacite:translator[0].ORCID"] == ["https://orcid.org/0000-0003-1419-2405"]
    assert record.extra["datacite:contributor.ContactPerson"] == ["John Smith"]
    assert record.publisher == "Example Publisher"
    assert record.type == "document"  # Project has no CSL match
    assert record.extra["datacite:resourceTypeGeneral"] == ["Project"]
    assert record.extra["datacite:translated-title"] == ["Example TranslatedTitle"]
    assert record.extra["datacite:alternative-title"] == ["Example AlternativeTitle"]
    assert record.extra["datacite:size"] == ["1 MB"]
    assert record.issued == Date(parts=(2023, 1, 1))
    assert record.doi == "10.82433/b09z-4k37"


def test_monograph_isbn_pages_language_and_publication_year() -> None:
    record = record_from_attributes(attributes("monograph"), "u")
    assert record.type == "book"
    assert record.number_of_pages == "256"
    assert record.language == "de"
    assert record.field_sources["language"].raw == "GER"
    (isbn,) = record.identifiers_of("isbn")
    assert isbn.valid is False  # the example's ISBN has a wrong check digit: kept, flagged
    assert record.issued == Date(parts=(2010,))
    assert record.field_sources["issued"].raw == "publicationYear: 2010"
    assert record.author == [
        Name(family="Smith", given="John"),
        Name(literal="つまらないものですが"),
    ]
    assert record.extra["datacite:contributor.DataCollector"] == ["John Doe"]


def test_every_resource_type_general_maps_to_a_csl_type() -> None:
    for general, csl in DATACITE_TYPES.items():
        record = record_from_attributes(
            {"doi": "10.1234/x", "types": {"resourceTypeGeneral": general}}, "u"
        )
        assert record.type == csl
    record = record_from_attributes(
        {"doi": "10.1234/x", "types": {"resourceTypeGeneral": "Text", "citeproc": "no-such"}}, "u"
    )
    assert record.type == "document"


def test_not_found(httpserver: HTTPServer) -> None:
    serve(httpserver, "/dois/10.5438/nope", "datacite", "not-found")
    with pytest.raises(NotFound, match="DataCite"):
        run_with(httpserver, lambda ctx: fetch_doi("10.5438/nope", ctx))
    assert len(httpserver.log) == 1


def test_a_document_without_attributes_is_a_parse_error(httpserver: HTTPServer) -> None:
    serve(httpserver, "/dois/10.5438/x", "datacite", "no-data")
    with pytest.raises(ParseError, match=r"data\.attributes"):
        run_with(httpserver, lambda ctx: fetch_doi("10.5438/x", ctx))


def test_truncated_body_is_a_parse_error(httpserver: HTTPServer) -> None:
    body = (HTTP / "datacite" / "blog-post.body").read_bytes()
    httpserver.expect_request("/dois/10.5438/4k3m-nyvg").respond_with_data(
        body[:300], content_type="application/vnd.api+json"
    )
    with pytest.raises(ParseError, match="truncated JSON") as info:
        run_with(httpserver, lambda ctx: fetch_doi("10.5438/4k3m-nyvg", ctx))
    assert "10.5438/4k3m-nyvg" in str(info.value)


# --- bolognese's DataCite JSON, read in place ----------------------------------------------


def bolognese(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((BOLOGNESE / name).read_text(encoding="utf-8"))
    return found


@pytest.mark.corpus
def test_bolognese_datacite_json_with_orcid_as_id() -> None:
    record = record_from_attributes(bolognese("datacite.json"), "u")
    assert record.type == "article-journal"
    assert record.author == [Name(family="Fenner", given="Martin")]
    assert record.extra["datacite:author[0].ORCID"] == ["https://orcid.org/0000-0003-1419-2405"]
    assert record.issued == Date(parts=(2016, 12, 20))
    assert record.doi == "10.5438/4k3m-nyvg"


@pytest.mark.corpus
def test_bolognese_related_item_and_container() -> None:
    record = record_from_attributes(
        bolognese("datacite_with_container_and_seriesinformation_and_relateditem.json"), "u"
    )
    assert record.type == "article-journal"  # JournalArticle
    assert record.container_title == "Understanding the fictional John Smith"
    assert (record.volume, record.issue, record.page) == ("776", "1", "50-60")
    assert ids(record, "issn") == [("3034-834X", None)]


@pytest.mark.corpus
def test_bolognese_crosscite_variant_keys() -> None:
    record = record_from_attributes(bolognese("crosscite.json"), "u")
    assert record.type == "software"
    assert record.author == [Name(family="Garza", given="Kristian")]
    assert record.issued == Date(parts=(2016, 3, 27))  # "dates" as one object
    assert ids(record, "url") == [("http://zenodo.org/record/48440", None)]  # "Identifier"
    assert record.keywords == ["choice architecture", "crossover experiment", "hci"]


# --- arbitrary attributes: a record or a ParseError, and the record always writes ---------

_KEYS = [
    "creators", "titles", "publisher", "dates", "publicationYear", "types", "container",
    "descriptions", "subjects", "language", "identifiers", "alternateIdentifiers",
    "relatedIdentifiers", "relatedItems", "sizes", "version", "rightsList", "url", "contributors",
]  # fmt: skip
_SUBKEYS = [
    "name", "nameType", "givenName", "familyName", "nameIdentifiers", "nameIdentifier",
    "nameIdentifierScheme", "title", "titleType", "date", "dateType", "resourceTypeGeneral",
    "citeproc", "description", "descriptionType", "subject", "identifier", "identifierType",
    "relatedIdentifier", "relatedIdentifierType", "relationType", "relatedItemType", "volume",
    "firstPage", "lastPage", "contributorType",
]  # fmt: skip
_VALUES = st.sampled_from(
    ["Organizational", "Personal", "Issued", "Abstract", "ORCID", "ISSN", "IsPartOf", "Editor"]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 3000) | _VALUES | hostile_text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_SUBKEYS), inner, max_size=4)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=8))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_attributes_give_a_record_that_writes_or_a_parse_error(
    attrs: dict[str, Any],
) -> None:
    try:
        record = record_from_attributes({**attrs, "doi": "10.1234/X"}, "u")
    except ParseError as exc:
        assert "10.1234/x" in str(exc)
        return
    assert record.doi == "10.1234/x"
    for fmt in ("csl-json", "ris", "bibtex", "jsonl"):
        assert api.dumps([record], fmt)


@pytest.mark.corpus
def test_csl_json_output_of_datacite_records_validates_against_the_schema() -> None:
    schema = json.loads((CORPUS / "csl-schema/schemas/input/csl-data.json").read_text())
    cases = ["blog-post", "software", "journal-article", "full-v4.6", "monograph"]
    data = json.loads(api.dumps([record_from_attributes(attributes(c), "u") for c in cases], "csl"))
    errors = [f"{list(e.path)}: {e.message}" for e in Draft7Validator(schema).iter_errors(data)]
    assert not errors, errors[:3]
    assert [item["type"] for item in data] == [
        "article-journal",
        "software",
        "article-journal",
        "document",
        "book",
    ]
    assert data[2]["ISSN"] == "0040-4411"
    assert data[4]["number-of-pages"] == "256"
