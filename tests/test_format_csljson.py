"""CSL-JSON: streaming reader, writer, sniffing; oracles are the official schema and citeproc-py."""

from __future__ import annotations

import io
import json
import re
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import CORPUS, FIXTURES, corpus_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from roundtrip import carried_view
from strategies import hostile_text, huge_text, records

from harvester import api
from harvester.errors import ParseError
from harvester.formats import find_format
from harvester.formats.csljson import (
    CslJsonWriter,
    citation_key,
    decode_extra,
    encode_extra,
    read,
    sniff,
)
from harvester.formats.jsonl import JsonlWriter
from harvester.model import Date, Identifier, Name, Record

CSL_FIXTURES = FIXTURES / "csljson"
SCHEMA_PATH = CORPUS / "csl-schema" / "schemas" / "input" / "csl-data.json"


# ----------------------------------------------------------------------------- helpers


def read_text(text: str, source: str = "<test>") -> list[Record | ParseError]:
    return list(read(io.StringIO(text), source))


def read_file(path: Path) -> list[Record | ParseError]:
    with path.open(encoding="utf-8") as stream:
        return list(read(stream, str(path)))


def only_records(items: list[Record | ParseError]) -> list[Record]:
    bad = [i for i in items if isinstance(i, ParseError)]
    assert not bad, [str(b) for b in bad]
    return [i for i in items if isinstance(i, Record)]


def write(records_: list[Record]) -> tuple[str, list[list[Any]]]:
    buffer = io.StringIO()
    losses = []
    with CslJsonWriter(buffer) as writer:
        for record in records_:
            losses.append(writer.write(record))
    return buffer.getvalue(), losses


def csl_view(record: Record) -> dict[str, Any]:
    """``carried_view`` without the id (the writer invents one where there is none), and
    with only the first DOI and URL: CSL-JSON has one of each, the rest is reported."""
    view = carried_view(record, "csl-json")
    view.pop("id")
    later = {
        (scheme, ident.value)
        for scheme in ("doi", "url")
        for ident in record.identifiers_of(scheme)[1:]
    }
    view["identifiers"] = [i for i in view["identifiers"] if (i[0], i[1]) not in later]
    return view


_validator: jsonschema.Draft7Validator | None = None


def assert_schema_valid(data: Any) -> None:
    global _validator
    if _validator is None:
        schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
        _validator = jsonschema.Draft7Validator(schema)
    errors = sorted(_validator.iter_errors(data), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def render_bibliography(items: list[dict[str, Any]]) -> list[str]:
    from citeproc import (
        Citation,
        CitationItem,
        CitationStylesBibliography,
        CitationStylesStyle,
        formatter,
    )
    from citeproc.source.json import CiteProcJSON

    with warnings.catch_warnings():
        # citeproc-py warns about CSL variables it does not implement (custom, ...).
        warnings.simplefilter("ignore", UserWarning)
        source = CiteProcJSON(items)
        style = CitationStylesStyle("harvard-cite-them-right", validate=False)
        bibliography = CitationStylesBibliography(style, source, formatter.plain)
        for item in items:
            bibliography.register(Citation([CitationItem(item["id"])]))
        return [str(entry) for entry in bibliography.bibliography()]


# ----------------------------------------------------------------------------- reading


def test_seed_fixture_reads_every_field() -> None:
    (record,) = only_records(read_file(CSL_FIXTURES / "seed.json"))
    assert record.type == "article-journal"
    assert [(a.family, a.given) for a in record.author][:2] == [("Li", "Ai"), ("Tao", "Yuan")]
    assert len(record.author) == 12 and record.author[-1].family == "Zheng"
    assert record.container_title == "Experimental and therapeutic medicine"
    assert (record.volume, record.issue, record.page) == ("14", "2", "1538-1546")
    assert record.issued == Date(parts=(2017, 8))
    assert [i.value for i in record.identifiers_of("issn")] == ["1792-0981", "1792-1015"]
    assert record.doi == "10.3892/etm.2017.4687"
    assert record.language == "en"
    assert record.keywords == ["cirrhosis", "stem cells"]


def test_edge_cases_map_names_dates_and_extras() -> None:
    berg, circa, nodate, season = only_records(read_file(CSL_FIXTURES / "edge-cases.json"))
    assert berg.author[0] == Name(
        family="Berg", given="Jan", non_dropping_particle="van der", suffix="Jr."
    )
    assert berg.author[1].dropping_particle == "de la"
    assert berg.author[2] == Name(literal="World Health Organization")
    assert berg.author[3] == Name(family="我妻", given="栄")
    assert berg.translator == [Name(given="Madonna")]
    # Parts and a literal on one name: parts win, the literal is kept in extra.
    assert berg.editor == [Name(family="Smith", given="Ann")]
    assert berg.extra["csl:editor[0].literal"] == ["Smith, Ann"]
    assert berg.extra["csl:author[1].parse-names"] == ["false"]
    # EDTF season codes 21/22 in date-parts; the raw text is kept.
    assert berg.issued == Date(parts=(1999,), end=(2001,), season=1)
    assert berg.extra["csl:issued.raw"] == ["Spring 1999 - Summer 2001"]
    assert berg.accessed == Date(parts=(2021, 1, 23))
    assert [i.value for i in berg.identifiers_of("isbn")] == ["9783161484100", "0306406152"]
    assert (berg.number_of_pages, berg.edition) == ("320", "2")
    assert decode_extra(berg.extra["csl:container-author"][0]) == [
        {"family": "Kent", "given": "Klark"}
    ]
    assert decode_extra(berg.extra["csl:categories"][0]) == ["history", "science"]
    # custom: entries are unpacked; one that clashes with a CSL variable stays in custom.
    assert berg.extra["csl:short_id"] == ["xyz"]
    assert decode_extra(berg.extra["csl:metadata-double-checked"][0]) is True
    assert decode_extra(berg.extra["csl:custom"][0]) == {"title": "not the title"}
    assert decode_extra(berg.extra["csl:chapter-number"][0]) == "7"

    assert circa.id == "42"
    assert circa.issued == Date(parts=(2005, 12, 15), circa=True)
    assert circa.page == "17"  # from page-first
    assert [i.value for i in circa.identifiers_of("issn")] == ["1792-0981", "1792-1015"]
    assert [(i.scheme, i.value) for i in circa.identifiers if i.scheme != "issn"] == [
        ("pmid", "12345678"),
        ("pmcid", "PMC1234567"),
        ("url", "https://example.org/paper"),
    ]
    assert nodate.issued == Date(literal="n.d. (forthcoming)")
    assert nodate.author == [Name(literal="Multi-National United")]
    assert (nodate.number, nodate.genre) == ("TR-7", "Technical report")
    assert season.issued == Date(parts=(2000,), season=3)
    assert season.note == "Line one\nLine two"
    assert season.keywords == ["alpha", "beta", "gamma"]


def test_single_object_reads_as_one_item() -> None:
    (record,) = only_records(read_file(CSL_FIXTURES / "single.json"))
    assert record.id == "ITEM-1" and record.type == "book"
    assert (record.publisher, record.publisher_place) == ("Example Press", "Berlin")


def test_objects_one_after_another_read_like_json_lines() -> None:
    text = '{"id": "a", "type": "book", "DOI": "10.1000/a"}\n{"id": "b", "type": "map"}\n'
    assert [r.id for r in only_records(read_text(text))] == ["a", "b"]


def test_truncated_last_item_keeps_the_ones_before() -> None:
    items = read_file(CSL_FIXTURES / "truncated.json")
    assert [type(i).__name__ for i in items] == ["Record", "Record", "ParseError"]
    assert [i.title for i in items[:2] if isinstance(i, Record)] == ["First", "Second"]
    error = items[2]
    assert isinstance(error, ParseError)
    assert (error.line, error.record) == (4, 3)
    assert "truncated" in error.cause and "line 4 column" in error.cause


def test_damaged_item_in_pretty_array_is_skipped_and_reading_resumes() -> None:
    items = read_file(CSL_FIXTURES / "damaged-middle.json")
    assert [type(i).__name__ for i in items] == ["Record", "ParseError", "Record"]
    first, error, last = items
    assert isinstance(first, Record) and first.title == "Before the damage"
    assert isinstance(last, Record) and last.title == "After the damage"
    assert isinstance(error, ParseError)
    assert error.record == 2 and error.line == 11
    assert "column 24" in error.cause and "delimiter" in error.cause


def test_unclosed_array_is_reported_after_the_good_items() -> None:
    items = read_text('[{"id": "a", "type": "book"},\n{"id": "b", "type": "book"}')
    assert [type(i).__name__ for i in items] == ["Record", "Record", "ParseError"]
    assert "not closed" in str(items[-1])


def test_invalid_items_are_named_and_others_survive() -> None:
    items = read_file(CSL_FIXTURES / "invalid-items.json")
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Record", *["ParseError"] * 5, "Record"]
    errors = [i for i in items if isinstance(i, ParseError)]
    assert [e.record for e in errors] == [2, 3, 4, 5, 6]
    assert [e.line for e in errors] == [3, 4, 5, 6, 7]
    assert "'not-a-type' is not a CSL item type" in errors[0].cause
    assert errors[0].cause.startswith("item 'badtype': ")
    assert "a string, not a CSL item object" in errors[1].cause
    assert "issued" in errors[2].cause and "day out of range" in errors[2].cause
    assert "author 1" in errors[3].cause and "literal" in errors[3].cause
    assert "'Aug'" in errors[4].cause
    assert errors[0].raw is not None and "not-a-type" in errors[0].raw


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("   \n  ", "empty"),
        ("not json at all", "expected an array or an object"),
        ('[{"id": "a", "type": "book"} {"id": "b"}]', "expecting ',' or ']'"),
        ('[{"id": "a", "type": "book"}] trailing', "extra data"),
        ("[1]", "a number, not a CSL item object"),
        ('[{"id": "x", "type": "book", "title": {"a": 1}}]', "title: expected text"),
        ('[{"id": "x", "type": "book", "author": "Smith, J."}]', "list of names"),
        ('[{"id": "x", "type": "book", "issued": {"date-parts": [[2000, 1, 2, 3]]}}]', "three"),
        ('[{"id": "x", "type": "book", "issued": {"date-parts": [[2000, 19]]}}]', "month"),
        ('[{"id": "x", "type": 5}]', "expected a CSL type"),
    ],
)
def test_bad_input_gives_a_located_error(text: str, expected: str) -> None:
    items = read_text(text, "bad.json")
    errors = [i for i in items if isinstance(i, ParseError)]
    assert len(errors) == 1
    assert expected in errors[0].cause
    assert errors[0].source == "bad.json" and errors[0].format_name == "csl-json"


def test_empty_array_reads_no_records() -> None:
    assert read_text("[]") == []
    assert read_text(" [ \n ] \n") == []


def test_crossref_shapes_are_accepted() -> None:
    item = {
        "type": "journal-article",
        "title": ["Main title", "Alternative"],
        "ISSN": ["0036-8075", "1095-9203"],
        "author": [{"family": "Frank", "given": "H", "affiliation": [{"name": "Pitt"}]}],
        "issued": {"date-parts": [[None]]},
    }
    (record,) = only_records(read_text(json.dumps([item])))
    assert record.type == "article-journal"
    assert record.title == "Main title"
    assert decode_extra(record.extra["csl:title"][0]) == ["Main title", "Alternative"]
    assert [i.value for i in record.identifiers_of("issn")] == ["0036-8075", "1095-9203"]
    assert decode_extra(record.extra["csl:author[0].affiliation"][0]) == [{"name": "Pitt"}]
    assert record.issued is None


def test_issn_kinds_stated_in_the_value_are_kept() -> None:
    text = '[{"id": "x", "type": "book", "ISSN": "1792-0981 (Print), 1792-1015 (Electronic)"}]'
    (record,) = only_records(read_text(text))
    issns = [(i.value, i.kind) for i in record.identifiers_of("issn")]
    assert issns == [("1792-0981", "print"), ("1792-1015", "electronic")]
    out, (losses,) = write([record])
    assert json.loads(out)[0]["ISSN"] == "1792-0981, 1792-1015"
    assert [loss.field for loss in losses] == ["identifiers.kind"]


def test_nan_is_read_as_text_and_written_as_valid_json() -> None:
    (record,) = only_records(read_text('[{"id": "x", "type": "book", "version": NaN}]'))
    assert record.extra["csl:version"] == ["NaN"]
    out, _ = write([record])
    assert json.loads(out)[0]["version"] == "NaN"


# ----------------------------------------------------------------------------- streaming


class LazyArray(io.TextIOBase):
    """A CSL-JSON array of ``count`` items made on demand, counting what was served."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.next = 0
        self.pending = "["
        self.served = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        want = size if size is not None and size >= 0 else 1 << 30
        while len(self.pending) < want and self.next <= self.count:
            if self.next == self.count:
                self.pending += "\n]\n"
            else:
                item = {
                    "id": f"id{self.next}",
                    "type": "article-journal",
                    "title": f"Title {self.next}",
                    "author": [{"family": f"Family{k}", "given": "Given"} for k in range(12)],
                    "issued": {"date-parts": [[2000 + self.next % 20, 1 + self.next % 12]]},
                }
                self.pending += ("," if self.next else "") + "\n" + json.dumps(item)
            self.next += 1
        out, self.pending = self.pending[:want], self.pending[want:]
        self.served += len(out)
        return out


def test_reader_streams_instead_of_loading_the_array() -> None:
    stream = LazyArray(100_000)
    items = read(stream, "<lazy>")
    first = [next(items) for _ in range(50)]
    assert all(isinstance(i, Record) for i in first)
    assert isinstance(first[-1], Record) and first[-1].id == "id49"
    # 50 items of ~700 characters need a chunk or two, not the 70 MB array.
    assert stream.served < 300_000


def test_reading_memory_stays_flat() -> None:
    stream = LazyArray(1_000)
    tracemalloc.start()
    try:
        count = sum(1 for item in read(stream, "<lazy>") if isinstance(item, Record))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 1_000
    assert stream.served > 600_000  # the whole array went through...
    assert peak < 1_500_000  # ...but never more than a few chunks of it at once


def test_large_single_item_across_many_chunks() -> None:
    abstract = "word " * 100_000
    text = json.dumps([{"id": "big", "type": "book", "abstract": abstract}, {"id": "next"}])
    items = only_records(read_text(text))
    assert [r.id for r in items] == ["big", "next"]
    assert items[0].abstract == abstract.strip()


def test_line_numbers_follow_the_stream_across_chunks() -> None:
    lines = ["["]
    for n in range(2_000):
        lines.append(json.dumps({"id": f"i{n}", "type": "book", "title": "x" * 50}) + ",")
    lines.append('{"id": "bad", "type": "nonsense"}')
    lines.append("]")
    items = read_text("\n".join(lines))
    error = items[-1]
    assert isinstance(error, ParseError)
    assert (error.line, error.record) == (2_002, 2_001)


# ----------------------------------------------------------------------------- writing


def seed_record() -> Record:
    (record,) = only_records(read_file(CSL_FIXTURES / "seed.json"))
    return record


def test_writer_output_shape_for_the_seed() -> None:
    out, losses = write([seed_record()])
    assert out.startswith("[\n{") and out.endswith("}\n]\n")
    (item,) = json.loads(out)
    assert list(item)[:3] == ["id", "type", "title"]
    assert item["issued"] == {"date-parts": [[2017, 8]]}
    assert item["author"][0] == {"family": "Li", "given": "Ai"}
    assert item["ISSN"] == "1792-0981, 1792-1015"
    assert item["DOI"] == "10.3892/etm.2017.4687"
    assert item["page"] == "1538-1546"
    assert item["keyword"] == "cirrhosis, stem cells"
    assert losses == [[]]


def test_zero_records_is_an_empty_array() -> None:
    out, _ = write([])
    assert json.loads(out) == []


def test_ids_are_generated_and_unique() -> None:
    record = Record(
        type="book",
        title="The Infusion of Things",
        author=[Name(family="Ló-Pez", given="Ana")],
        issued=Date(parts=(2017,)),
    )
    assert citation_key(record) == "lopez2017infusion"
    assert citation_key(Record(type="book")) == "item"
    out, losses = write([record, record, Record(type="book", id="x"), Record(type="map", id="x")])
    ids = [item["id"] for item in json.loads(out)]
    assert ids == ["lopez2017infusion", "lopez2017infusiona", "x", "xa"]
    assert losses[2] == [] and [loss.kind for loss in losses[3]] == ["changed"]


def test_losses_come_from_the_fidelity_table_and_the_writer() -> None:
    record = Record(
        type="book",
        id="r",
        title="T",
        keywords=["one, two"],
        identifiers=[
            Identifier(scheme="oclc", value="12345"),
            Identifier(scheme="doi", value="10.1000/a"),
            Identifier(scheme="doi", value="10.1000/b"),
            Identifier(scheme="issn", value="1792-0981", kind="print"),
        ],
        extra={"ris:M3": ["x"], "csl:title": ["shadow"]},
    )
    out, (losses,) = write([record])
    fields = {loss.field: loss.kind for loss in losses}
    assert fields == {
        "identifiers.oclc": "dropped",
        "identifiers.kind": "dropped",
        "extra.ris:M3": "dropped",
        "keywords": "changed",
        "identifiers.doi": "dropped",
        "extra.csl:title": "dropped",
    }
    (item,) = json.loads(out)
    assert item["DOI"] == "10.1000/a" and item["title"] == "T"


def test_dates_names_and_extras_are_restored_where_csl_has_them() -> None:
    records_ = only_records(read_file(CSL_FIXTURES / "edge-cases.json"))
    out, losses = write(records_)
    assert losses == [[], [], [], []]
    berg = json.loads(out)[0]
    assert berg["issued"] == {
        "date-parts": [[1999], [2001]],
        "season": 1,
        "raw": "Spring 1999 - Summer 2001",
    }
    assert berg["editor"] == [{"family": "Smith", "given": "Ann", "literal": "Smith, Ann"}]
    assert berg["author"][1]["parse-names"] is False
    assert berg["container-author"] == [{"family": "Kent", "given": "Klark"}]
    assert berg["categories"] == ["history", "science"]
    assert berg["chapter-number"] == "7"
    assert berg["custom"] == {
        "title": "not the title",
        "short_id": "xyz",
        "metadata-double-checked": True,
    }
    again = only_records(read_text(out))
    assert [carried_view(r, "csl-json") for r in again] == [
        carried_view(r, "csl-json") for r in records_
    ]
    assert write(again)[0] == out


def test_unknown_extras_go_to_custom_and_come_back() -> None:
    record = Record(
        type="book",
        id="r",
        extra={
            "csl:reference-count": ["76"],
            "csl:original-title": ["[]"],
            "csl:author[3].affiliation": ['[{"name":"x"}]'],
        },
    )
    out, _ = write([record])
    (item,) = json.loads(out)
    assert item["custom"] == {
        "reference-count": 76,
        "original-title": [],
        "author[3].affiliation": [{"name": "x"}],
    }
    assert write(only_records(read_text(out)))[0] == out


@pytest.mark.parametrize("value", ["plain", "12", "true", "null", "[1]", '"q"', "{", 3, 2.5])
def test_extra_encoding_round_trips(value: Any) -> None:
    assert decode_extra(encode_extra(value)) == value


def test_output_stays_valid_json_for_line_separators() -> None:
    record = Record(type="book", id="x", title="a\u2028b", abstract='q"uote\\ and \u2029')
    out, _ = write([record])
    (item,) = json.loads(out)
    assert item["title"] == record.title and item["abstract"] == record.abstract


def test_lone_surrogate_in_an_extra_key_is_replaced() -> None:
    items = only_records(read_text('[{"id": "x", "type": "book", "k\\ud800": 1}]'))
    out, _ = write(items)
    assert json.loads(out)[0]["custom"] == {"k\ufffd": 1}
    out.encode("utf-8")


def test_api_reads_and_writes_csl_json() -> None:
    data = (CSL_FIXTURES / "seed.json").read_bytes()
    (record,) = api.read(data)
    assert isinstance(record, Record)
    assert record.provenance[0].raw_format == "csl-json"
    text = api.dumps([record], "csl")
    assert json.loads(text)[0]["id"] == "li2017infusion"


# ----------------------------------------------------------------------------- sniffing


def test_sniff_claims_csl_and_not_our_jsonl() -> None:
    assert sniff((CSL_FIXTURES / "seed.json").read_text(encoding="utf-8"))
    assert sniff((CSL_FIXTURES / "single.json").read_text(encoding="utf-8"))
    assert sniff("[]")
    assert sniff('{"id": "a", "type": "book", "issued": {"date-parts": [[2000]]}}\n')
    assert sniff('{"type": "book", "DOI": "10.1/x"}')
    assert not sniff('{"type": "book", "title": "x"}')
    assert not sniff("[1, 2, 3]")
    assert not sniff('{"status": "ok", "message": {"DOI": "10.1/x", "type": "journal-article"}}')
    assert not sniff("@article{x,")
    record = seed_record().model_copy(update={"provenance": []})
    buffer = io.StringIO()
    JsonlWriter(buffer).write(record)
    ours = buffer.getvalue()
    assert not sniff(ours)
    assert find_format(head=ours).name == "jsonl"
    assert find_format(head=write([record])[0]).name == "csl-json"
    assert find_format("json").name == "csl-json"
    assert find_format(filename="x.json").name == "csl-json"


# ----------------------------------------------------------------------------- properties


@given(records())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_keeps_what_csl_carries(record: Record) -> None:
    out, (losses,) = write([record])
    (back,) = only_records(read_text(out))
    assert back.id
    assert csl_view(back) == csl_view(record)
    assert all(loss.kind == "dropped" for loss in losses)


@pytest.mark.corpus
@given(records())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_output_validates_and_renders(record: Record) -> None:
    out, _ = write([record])
    data = json.loads(out)
    assert_schema_valid(data)
    (entry,) = render_bibliography(data)
    if record.title:
        assert record.title in entry
    if record.author and record.author[0].family:
        assert record.author[0].family in entry


@pytest.mark.corpus
@given(records(text=hostile_text()))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_text_cannot_break_the_output(record: Record) -> None:
    out, (losses,) = write([record])
    data = json.loads(out)
    assert len(data) == 1
    assert_schema_valid(data)
    (back,) = only_records(read_text(out))
    if not any(loss.field == "keywords" for loss in losses):
        assert csl_view(back) == csl_view(record)


@pytest.mark.corpus
@given(records(text=huge_text()))
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_huge_values_survive(record: Record) -> None:
    out, _ = write([record])
    data = json.loads(out)
    assert_schema_valid(data)
    (back,) = only_records(read_text(out))
    assert back.title == record.title and back.abstract == record.abstract
    assert csl_view(back) == csl_view(record)


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_arbitrary_text_yields_only_records_and_parse_errors(text: str) -> None:
    for item in read_text(text):
        assert isinstance(item, Record | ParseError)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
_KEYS = st.sampled_from(
    ["id", "type", "title", "author", "editor", "issued", "accessed", "page", "page-first",
     "ISSN", "ISBN", "DOI", "URL", "keyword", "custom", "language", "volume", "x"]
)  # fmt: skip


@given(st.lists(st.dictionaries(_KEYS, _JSONISH, max_size=6), max_size=3))
@settings(max_examples=80, deadline=None)
def test_arbitrary_json_items_yield_only_records_and_parse_errors(items: list[Any]) -> None:
    for item in read_text(json.dumps(items)):
        assert isinstance(item, Record | ParseError)
        if isinstance(item, Record):
            out, _ = write([item])
            json.loads(out)


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes_through_the_api(data: bytes) -> None:
    for item in api.read(b"[" + data, "csl-json"):
        assert isinstance(item, Record | ParseError)


# ----------------------------------------------------------------------------- corpus


def _input_blocks(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    match = re.search(r">>=+ INPUT =+>>(.*?)<<=+ INPUT =+<<", text, re.DOTALL)
    assert match is not None, path
    return json.loads(match.group(1))  # type: ignore[no-any-return]


@pytest.mark.corpus
def test_corpus_bolognese_citeproc() -> None:
    (record,) = only_records(read_file(CORPUS / "bolognese/spec/fixtures/citeproc.json"))
    assert record.type == "post-weblog"
    assert record.title == "Eating your own Dog Food"
    assert record.author == [Name(family="Fenner", given="Martin")]
    assert record.translator == [Name(family="Ross", given="Cody")]
    assert record.issued == Date(parts=(2016, 12, 20))
    assert record.doi == "10.5438/4k3m-nyvg"
    assert decode_extra(record.extra["csl:categories"][0])[0] == "Phylogeny"
    for name in ("citeproc-no-author.json", "citeproc-no-categories.json"):
        (other,) = only_records(read_file(CORPUS / "bolognese/spec/fixtures" / name))
        assert other.container_title == "DataCite Blog"


@pytest.mark.corpus
def test_corpus_habanero_crossref_citeproc() -> None:
    path = CORPUS / "habanero/extracted_bodies/test_content_negotiation_citeproc_json__01.json"
    (record,) = only_records(read_file(path))
    assert record.type == "article-journal"
    assert record.title == "The Structure of Ordinary Water"
    assert record.author == [Name(family="Frank", given="Henry S.")]
    assert record.container_title == "Science"
    assert (record.volume, record.issue, record.page) == ("169", "3946", "635-641")
    assert record.issued == Date(parts=(1970, 8, 14))
    assert [i.value for i in record.identifiers_of("issn")] == ["0036-8075", "1095-9203"]
    out, _ = write([record])
    assert_schema_valid(json.loads(out))


@pytest.mark.corpus
@pytest.mark.parametrize(("name", "count"), [("bibtex-csl.json", 16), ("biblatex-csl.json", 28)])
def test_corpus_citation_js_mappings(name: str, count: int) -> None:
    path = CORPUS / "citation-js/packages/plugin-bibtex/test/mapping" / name
    raw = json.loads(path.read_text(encoding="utf-8"))
    records_ = only_records(read_file(path))
    assert len(records_) == count
    for item, record in zip(raw, records_, strict=True):
        assert record.id == item["id"] and record.type == item["type"]
        assert record.title == item["title"]
        assert [a.family for a in record.author] == [
            a.get("family") for a in item.get("author", [])
        ]
        assert record.issued is not None
        assert list(record.issued.parts) == item["issued"]["date-parts"][0]
    out, losses = write(records_)
    assert all(not loss for loss in losses)
    data = json.loads(out)
    assert_schema_valid(data)
    # Exact round trip of the items, up to normalisation the model does on purpose.
    for item, written in zip(raw, data, strict=True):
        for key in ("id", "type", "title", "author", "issued", "container-title", "publisher"):
            assert written.get(key) == item.get(key), key


@pytest.mark.corpus
def test_corpus_citation_js_core_data() -> None:
    data = json.loads((CORPUS / "citation-js/packages/core/test/data.json").read_text())
    sort_special = only_records(read_text(json.dumps(data["sortSpecial"])))
    assert [r.id for r in sort_special] == ["g", "f", "e", "d", "c", "b", "a"]
    assert sort_special[-1].author == [Name(literal="a")]
    assert sort_special[2].edition == "1"
    (invalid,) = only_records(read_text(json.dumps(data["invalid"])))
    assert invalid.extra == {"csl:invalid": ["foo"]}


@pytest.mark.corpus
@pytest.mark.parametrize(
    "path",
    corpus_files("csl-test-suite/processor-tests/humans/*.txt"),
    ids=lambda p: p.stem,
)
def test_corpus_csl_test_suite_inputs(path: Path) -> None:
    items = _input_blocks(path)
    records_ = only_records(read_text(json.dumps(items)))
    assert len(records_) == len(items)
    for item, record in zip(items, records_, strict=True):
        for name, person in zip(item.get("author", []), record.author, strict=True):
            if "literal" in name:
                assert person.literal == name["literal"]
            else:
                assert (person.family, person.given) == (name.get("family"), name.get("given"))
        issued = item.get("issued")
        if issued and issued.get("date-parts"):
            assert record.issued is not None
            year = issued["date-parts"][0][0]
            assert record.issued.year == int(year)
            if len(issued["date-parts"]) == 2:
                assert record.issued.end is not None
            if issued.get("circa"):
                assert record.issued.circa
        elif issued and issued.get("raw"):
            assert record.issued == Date(literal=issued["raw"])
    out, _ = write(records_)
    data = json.loads(out)
    assert_schema_valid(data)
    entries = render_bibliography(data)
    assert len(entries) == len(items)
    # Styles shorten long author lists: the first author of each item is always there.
    rendered = " ".join(entries)
    for item in items:
        if item.get("author"):
            first = item["author"][0]
            assert (first.get("family") or first["literal"]).split()[-1] in rendered


@pytest.mark.corpus
def test_corpus_every_csl_json_file_converts_to_schema_valid_output() -> None:
    paths = [
        CORPUS / "bolognese/spec/fixtures/citeproc.json",
        CORPUS / "bolognese/spec/fixtures/citeproc-no-author.json",
        CORPUS / "bolognese/spec/fixtures/citeproc-no-categories.json",
        CORPUS / "habanero/extracted_bodies/test_content_negotiation_citeproc_json__01.json",
        *corpus_files("citation-js/packages/plugin-bibtex/test/mapping/*-csl.json"),
    ]
    total = 0
    for path in paths:
        records_ = only_records(read_file(path))
        total += len(records_)
        out, _ = write(records_)
        data = json.loads(out)
        assert_schema_valid(data)
        assert len(render_bibliography(data)) == len(records_)
        assert write(only_records(read_text(out)))[0] == out
    assert total == 3 + 1 + 16 + 28
