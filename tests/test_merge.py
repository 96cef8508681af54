"""The merge rule: which source wins each field, and provenance kept per field."""

from __future__ import annotations

import pytest

from harvester.api import read
from harvester.merge import FIELD_RULES, Layer, merge
from harvester.model import Date, FieldSource, Identifier, Name, Provenance, Record
from tests.conftest import FIXTURES


def _record(source: str, **fields: object) -> Record:
    record = Record.model_validate(fields)
    sources = {
        name: FieldSource(source=source, raw=f"raw {name} from {source}")
        for name in fields
        if name not in ("type", "identifiers")
    }
    return record.model_copy(
        update={"provenance": [Provenance(source=source)], "field_sources": sources}
    )


CATALOGUE = _record(
    "vufind",
    type="article-journal",
    title="Infusion of cells alleviates symptoms",
    author=[Name(family="Li", given="Ai")],
    container_title="Experimental and therapeutic medicine",
    volume="14",
    issue="2",
    page="1538-1546",
    issued=Date(parts=(2017, 8)),
    keywords=["Stem cells", "Spondylitis"],
    language="en",
    identifiers=[
        Identifier(scheme="issn", value="1792-0981"),
        Identifier(scheme="issn", value="1792-1015"),
        Identifier(scheme="doi", value="10.3892/etm.2017.4687"),
    ],
    extra={"vufind:callnumber": ["QH 581"]},
)
REGISTRY = _record(
    "crossref",
    type="article-journal",
    title="Infusion of umbilical cord cells alleviates symptoms",
    author=[Name(family="Li", given="A.")],
    container_title="Experimental and Therapeutic Medicine",
    volume="14",
    issue="2",
    page="1538-1546",
    issued=Date(parts=(2017, 6, 22)),
    publisher="Spandidos Publications",
    keywords=["General Medicine"],
    identifiers=[
        Identifier(scheme="issn", value="1792-0981", kind="print"),
        Identifier(scheme="issn", value="1792-1015", kind="electronic"),
        Identifier(scheme="doi", value="10.3892/etm.2017.4687"),
    ],
    extra={"crossref:license": ["CC BY-NC-ND"]},
)


def test_registry_wins_its_fields_catalogue_wins_subjects_first_layer_wins_the_rest() -> None:
    result = merge([Layer(CATALOGUE, "catalogue"), Layer(REGISTRY, "registry")])
    merged = result.record
    assert merged.container_title == "Experimental and Therapeutic Medicine"
    assert merged.issued == Date(parts=(2017, 6, 22))
    assert merged.publisher == "Spandidos Publications"
    assert merged.keywords == ["Stem cells", "Spondylitis"]
    assert merged.title == "Infusion of cells alleviates symptoms"
    assert merged.author == [Name(family="Li", given="Ai")]
    assert merged.language == "en"


def test_each_field_keeps_the_source_and_raw_value_it_came_from() -> None:
    merged = merge([Layer(CATALOGUE, "catalogue"), Layer(REGISTRY, "registry")]).record
    assert merged.field_sources["publisher"] == FieldSource(
        source="crossref", raw="raw publisher from crossref"
    )
    assert merged.field_sources["title"].source == "vufind"
    assert merged.field_sources["keywords"].source == "vufind"
    assert merged.field_sources["issued"].source == "crossref"
    assert [p.source for p in merged.provenance] == ["vufind", "crossref"]


def test_conflicts_name_the_winner_and_the_loser() -> None:
    result = merge([Layer(CATALOGUE, "catalogue"), Layer(REGISTRY, "registry")])
    by_field = {c.field: c for c in result.conflicts}
    assert set(by_field) == {"title", "author", "container_title", "issued", "keywords"}
    assert by_field["issued"].kept_source == "crossref"
    assert by_field["issued"].other_source == "vufind"
    assert by_field["issued"].to_dict()["other"]["value"] == {"parts": [2017, 8]}
    assert "publisher" not in by_field  # only one source had it: not a conflict


def test_identifiers_are_unioned_and_learn_kinds_in_catalogue_order() -> None:
    merged = merge([Layer(CATALOGUE, "catalogue"), Layer(REGISTRY, "registry")]).record
    assert [(i.scheme, i.value, i.kind) for i in merged.identifiers] == [
        ("issn", "1792-0981", "print"),
        ("issn", "1792-1015", "electronic"),
        ("doi", "10.3892/etm.2017.4687", None),
    ]


def test_a_failing_check_digit_loses_to_a_valid_identifier_of_the_same_scheme() -> None:
    bad = _record("vufind", identifiers=[Identifier(scheme="issn", value="1792-098X")])
    good = _record("crossref", identifiers=[Identifier(scheme="issn", value="1792-0981")])
    assert bad.identifiers[0].valid is False
    merged = merge([Layer(bad, "catalogue"), Layer(good, "registry")]).record
    assert [i.value for i in merged.identifiers] == ["1792-0981"]
    alone = merge([Layer(bad, "catalogue"), Layer(_record("x", title="t"), "registry")]).record
    assert [i.value for i in alone.identifiers] == ["1792-098X"]  # nothing better: kept


def test_extra_values_are_unioned_per_key() -> None:
    merged = merge([Layer(CATALOGUE, "catalogue"), Layer(REGISTRY, "registry")]).record
    assert merged.extra == {
        "vufind:callnumber": ["QH 581"],
        "crossref:license": ["CC BY-NC-ND"],
    }


def test_an_unknown_type_is_not_a_vote() -> None:
    vague = _record("embedded", title="t")
    assert vague.type == "document"
    book = _record("openlibrary", type="book", title="t")
    result = merge([Layer(vague, "embedded"), Layer(book, "catalogue")])
    assert result.record.type == "book"
    assert [c.field for c in result.conflicts] == []


def test_one_layer_is_returned_unchanged_and_none_is_an_error() -> None:
    assert merge([Layer(CATALOGUE, "catalogue")]).record == CATALOGUE
    with pytest.raises(ValueError):
        merge([])


def test_every_rule_names_a_real_field() -> None:
    assert set(FIELD_RULES) <= set(Record.model_fields)


def test_merging_the_seed_with_itself_changes_nothing_it_carries() -> None:
    seed = next(
        r
        for r in read((FIXTURES / "catalogue_text" / "seed.txt").read_bytes(), "catalogue-text")
        if isinstance(r, Record)
    )
    merged = merge([Layer(seed, "catalogue"), Layer(seed, "registry")])
    assert merged.conflicts == []
    strip = {"provenance", "field_sources"}
    assert merged.record.model_dump(exclude=strip) == seed.model_dump(exclude=strip)
