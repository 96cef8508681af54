"""The read loop shared by the XML formats (MARCXML, MODS, Dublin Core).

Each element that is a record becomes a ``Record`` or a located ``ParseError``; the parse
continues after a bad record, and a document that breaks off is reported once, at the
record where it broke.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TextIO

from pydantic import ValidationError

from harvester.errors import ParseError
from harvester.formats._base import ReadResult, describe_validation_error
from harvester.model import Record
from harvester.xml import Element, iterparse, release


def read_records(
    stream: TextIO,
    source: str,
    *,
    format_name: str,
    to_record: Callable[[Element], Record],
    tag: str | None = None,
    is_record: Callable[[Element], bool] | None = None,
) -> Iterator[ReadResult]:
    """Stream records from the elements named ``tag`` (or accepted by ``is_record``)."""
    index = 0
    try:
        for _event, element in iterparse(stream, source=source, tag=tag):
            if is_record is not None and not is_record(element):
                continue
            index += 1
            try:
                yield to_record(element)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                cause = (
                    describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
                )
                yield ParseError(
                    cause,
                    source=source,
                    line=element.sourceline,
                    record=index,
                    format_name=format_name,
                )
            release(element)
    except ParseError as exc:
        yield ParseError(
            exc.cause, source=source, line=exc.line, record=index + 1, format_name=format_name
        )


def tidy_name(text: str) -> str:
    """Drop cataloguing punctuation and life dates: "Vico, Giambattista, 1668-1744." -> ...

    Shared by MARCXML and Dublin Core (repositories copy catalogue headings into
    ``dc:creator``); kept here so reading Dublin Core does not import pymarc.
    """
    text = _LIFE_DATES.sub("", text.strip()).rstrip(", ")
    # A final period ends the heading, unless it ends an initial ("Smith, J.").
    if text.endswith(".") and len(text.rsplit(None, 1)[-1]) > 2:
        text = text[:-1]
    return text


_LIFE_DATES = re.compile(r",?\s*(?:b\.|d\.|ca\.)?\s*\d{3,4}\??-(?:\d{3,4}\??)?\.?$")
