"""The public API: read, write, convert. The CLI is a thin layer over these."""

from __future__ import annotations

import codecs
import io
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from harvester.errors import ConfigError, ParseError
from harvester.formats import FORMATS, Format, Loss, Writer, find_format
from harvester.formats._input import TextInput, open_bytes, open_input
from harvester.model import Record, make_provenance


@dataclass(frozen=True)
class RecordWarning:
    """A record that was kept but has a problem worth a person's look."""

    source: str
    record: int
    message: str
    record_id: str | None = None

    def describe(self) -> str:
        ident = f" ({self.record_id})" if self.record_id else ""
        return f"{self.source}, record {self.record}{ident}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "record": self.record,
            "id": self.record_id,
            "message": self.message,
        }


@dataclass
class RecordLosses:
    source: str
    record: int
    record_id: str | None
    losses: list[Loss]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "record": self.record,
            "id": self.record_id,
            "losses": [loss.to_dict() for loss in self.losses],
        }


@dataclass
class ConvertSummary:
    """What a conversion did: counts, failures, warnings and the loss report."""

    to: str
    read: int = 0
    written: int = 0
    errors: list[ParseError] = field(default_factory=list)
    warnings: list[RecordWarning] = field(default_factory=list)
    losses: list[RecordLosses] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def loss_counts(self) -> Counter[str]:
        return Counter(loss.field for item in self.losses for loss in item.losses)

    def to_dict(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "records_read": self.read,
            "records_written": self.written,
            "failed": len(self.errors),
            "errors": [e.to_dict() for e in self.errors],
            "warnings": [w.to_dict() for w in self.warnings],
            "loss_summary": dict(sorted(self.loss_counts().items())),
            "losses": [item.to_dict() for item in self.losses],
        }


class _Note(str):
    """An input-level notice (encoding guessed, bytes replaced), not a record."""


def _checked_encoding(encoding: str | None) -> str | None:
    if encoding is None:
        return None
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(f"unknown encoding {encoding!r}") from None


def _open(source: str | Path | bytes | None, encoding: str | None = None) -> TextInput:
    if isinstance(source, bytes):
        return open_bytes(source, encoding=encoding)
    return open_input(source, encoding)


def read_input(
    opened: TextInput, format_name: str | None = None
) -> tuple[Format, Iterator[Record | ParseError | _Note]]:
    """Pick the reader for an opened input and return it with its record stream."""
    if not opened.head.strip():
        fmt = find_format(format_name) if format_name else None
        empty = ParseError(
            "the input is empty", source=opened.name, format_name=fmt.name if fmt else None
        )
        return fmt or FORMATS["jsonl"], iter([empty])
    try:
        fmt = find_format(format_name, filename=opened.name, head=opened.head)
    except ConfigError:
        if format_name is not None:
            raise
        # Unrecognised content is bad input for this file, not a usage error for the run.
        known = ", ".join(f.name for f in FORMATS.values() if f.read is not None)
        unknown = ParseError(
            f"cannot tell the format (readable: {known}); name it with --from",
            source=opened.name,
        )
        return FORMATS["jsonl"], iter([unknown])
    if fmt.read is None:
        raise ParseError(f"{fmt.name} cannot be read", source=opened.name)
    return fmt, _stamped(fmt, opened)


def _stamped(fmt: Format, opened: TextInput) -> Iterator[Record | ParseError | _Note]:
    """Read, add record-level provenance, and report decoding trouble once."""
    assert fmt.read is not None
    for note in opened.stats.notes:
        yield _Note(note)
    yield from stamp(fmt, fmt.read(opened.stream, opened.name), opened.name)
    if opened.stats.replaced:
        yield _Note(
            f"{opened.stats.replaced} byte(s) were not valid {opened.encoding}; "
            "decoded as Windows-1252"
        )


def stamp(
    fmt: Format, items: Iterable[Record | ParseError], source: str
) -> Iterator[Record | ParseError]:
    """Give records without provenance the file and format they were read from."""
    for item in items:
        if isinstance(item, Record) and not item.provenance:
            item.provenance.append(make_provenance(source, item.id, fmt.name))
        yield item


def read(
    source: str | Path | bytes | None,
    format: str | None = None,
    *,
    encoding: str | None = None,
) -> Iterator[Record | ParseError]:
    """Stream the records of a file, bytes, or stdin (``None``/``-``).

    Yields ``Record`` or ``ParseError`` (one per bad record); never raises for bad data.
    ``encoding`` overrides detection (a BOM still wins).
    """
    opened = _open(source, _checked_encoding(encoding))
    try:
        _fmt, items = read_input(opened, format)
        for item in items:
            if not isinstance(item, _Note):
                yield item
    finally:
        opened.close()


def write(records: Iterable[Record], stream: TextIO, to: str, **options: Any) -> list[list[Loss]]:
    """Write ``records`` to ``stream`` in format ``to``; return each record's losses."""
    fmt = find_format(to)
    if fmt.writer is None:
        raise ParseError(f"{fmt.name} cannot be written")
    out: list[list[Loss]] = []
    with fmt.writer(stream, **options) as writer:
        for record in records:
            out.append(writer.write(record))
    return out


def dumps(records: Iterable[Record], to: str, **options: Any) -> str:
    buffer = io.StringIO()
    write(records, buffer, to, **options)
    return buffer.getvalue()


def record_warnings(record: Record, source: str, index: int) -> list[RecordWarning]:
    """Problems in a record that was kept: identifiers failing their check digit."""
    warnings = []
    for ident in record.identifiers:
        if ident.valid is False:
            warnings.append(
                RecordWarning(
                    source,
                    index,
                    f"{ident.scheme.upper()} {ident.value} is not valid (check digit or form)",
                    record.id,
                )
            )
    return warnings


def convert(
    inputs: Sequence[str | Path | None],
    to: str,
    output: TextIO,
    *,
    from_: str | None = None,
    jobs: int | None = None,
    encoding: str | None = None,
    binary_output: BinaryIO | None = None,
    **options: Any,
) -> ConvertSummary:
    """Read every input (mixed formats allowed) and write one output in format ``to``.

    Large files in formats with clear record boundaries are converted in ``jobs`` worker
    processes (default: one per core), in order, with the same result as one process.
    ``binary_output``, when given, is the byte stream ``output`` writes to, UTF-8 with no
    newline translation (``output.buffer`` of a file opened with ``newline="\\n"``):
    parallel chunks, rendered as UTF-8 by the workers, are copied to it as they are.
    """
    from harvester import parallel

    fmt = find_format(to)
    if fmt.writer is None:
        raise ParseError(f"{fmt.name} cannot be written")
    summary = ConvertSummary(to=fmt.name)
    encoding = _checked_encoding(encoding)
    with fmt.writer(output, **options) as writer:
        for source in inputs or [None]:
            opened = _open(source, encoding)
            try:
                in_fmt, items = read_input(opened, from_)
                plan = parallel.plan(opened, in_fmt, writer, jobs)
                if plan is not None:
                    opened.close()
                    parallel.run(plan, writer, summary, options, binary_output)
                    continue
                convert_items(items, writer, summary, opened.name)
            finally:
                opened.close()
    return summary


def convert_items(
    items: Iterable[Record | ParseError | _Note],
    writer: Writer,
    summary: ConvertSummary,
    source: str,
) -> None:
    """Write each record, collecting errors, warnings and losses into ``summary``."""
    index = 0
    for item in items:
        if isinstance(item, _Note):
            summary.warnings.append(RecordWarning(source, 0, str(item)))
            continue
        if isinstance(item, ParseError):
            # Errors outside any record (text between records) do not shift numbering.
            if item.record is not None:
                index += 1
            summary.errors.append(item)
            continue
        index += 1
        summary.read += 1
        summary.warnings.extend(record_warnings(item, source, index))
        losses = writer.write(item)
        summary.written += 1
        if losses:
            summary.losses.append(RecordLosses(source, index, item.id, losses))
