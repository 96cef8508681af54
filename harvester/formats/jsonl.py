"""JSON Lines of our own model: one ``Record`` per line, lossless (provenance included)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

from pydantic import ValidationError

from harvester.errors import ParseError
from harvester.formats._base import Format, Loss, ReadResult, Writer, describe_validation_error
from harvester.model import Record

NAME = "jsonl"
_OWN_KEYS = {field.alias or name for name, field in Record.model_fields.items()}


def read(stream: TextIO, source: str) -> Iterator[ReadResult]:
    index = 0
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        index += 1
        try:
            yield Record.model_validate_json(line)
        except ValidationError as exc:
            yield ParseError(
                describe_validation_error(exc),
                source=source,
                line=lineno,
                record=index,
                raw=line,
                format_name=NAME,
            )


class JsonlWriter(Writer):
    format_name = NAME

    def write(self, record: Record) -> list[Loss]:
        self.stream.write(
            record.model_dump_json(
                by_alias=True, exclude_defaults=True, exclude_computed_fields=True
            )
        )
        self.stream.write("\n")
        self.count += 1
        return []


def sniff(head: str) -> bool:
    first = head.lstrip().split("\n", 1)[0]
    if not first.startswith("{"):
        return False
    try:
        data = json.loads(first)
    except ValueError:
        return False
    # Only our own keys: CSL-JSON has DOI, ISSN, "date-parts" and others we never write.
    if not isinstance(data, dict) or not data:
        return False
    issued = data.get("issued")
    if isinstance(issued, dict) and "date-parts" in issued:
        return False
    return set(data) <= _OWN_KEYS


FORMAT = Format(
    name=NAME,
    title="JSON Lines (harvester's own record model, lossless)",
    extensions=(".jsonl", ".ndjson"),
    media_type="application/x-ndjson",
    read=read,
    writer=JsonlWriter,
    sniff=sniff,
    record_start=rb"\s*\{",
)
