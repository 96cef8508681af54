"""JSON Lines: our own model, lossless."""

from __future__ import annotations

from hypothesis import given, settings
from strategies import hostile_text, records

from harvester import api
from harvester.errors import ParseError
from harvester.model import Record


@given(records(text=hostile_text()))
@settings(max_examples=60, deadline=None)
def test_jsonl_round_trip_is_exact(record: Record) -> None:
    text = api.dumps([record], "jsonl")
    assert text.count("\n") == 1
    (back,) = api.read(text.encode("utf-8"), "jsonl")
    assert isinstance(back, Record)
    # Reading stamps where the record came from; everything else is as written.
    assert back.provenance[0].raw_format == "jsonl"
    assert back.model_copy(update={"provenance": []}) == record


def test_bad_line_is_located_and_others_survive() -> None:
    good = Record(title="Good", type="book").model_dump_json(by_alias=True)
    data = f'{good}\n{{"title": 5, "type": "nonsense"}}\nnot json\n{good}\n'.encode()
    items = list(api.read(data, "jsonl"))
    assert [type(i).__name__ for i in items] == ["Record", "ParseError", "ParseError", "Record"]
    bad = items[1]
    assert isinstance(bad, ParseError)
    assert bad.line == 2 and bad.record == 2
    assert "type" in bad.cause or "title" in bad.cause
