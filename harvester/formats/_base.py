"""What every format module provides, and the streaming writer lifecycle."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, TextIO

from pydantic import ValidationError

from harvester.errors import ParseError
from harvester.model import Record

ReadResult = Record | ParseError
"""What readers yield: a record, or a located error for one record, and they keep going."""

Reader = Callable[[TextIO, str], Iterator[ReadResult]]
"""``read(stream, source_name)``: stream records from decoded text."""


@dataclass(frozen=True)
class Loss:
    """One field a writer could not express exactly for one record.

    ``kind`` is ``dropped`` (the format has no place for it) or ``changed`` (written, but
    not as it was: a type approximated, characters replaced).
    """

    field: str
    reason: str
    kind: str = "dropped"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "kind": self.kind, "reason": self.reason}


class Writer(ABC):
    """Streaming writer: ``open()``, ``write(record)`` per record, ``close()``.

    A writer never holds more than one record; ``write`` returns the loss report for
    that record (empty when the format carried everything).
    """

    format_name: ClassVar[str] = ""
    item_separator: ClassVar[str] = ""
    """What goes between two records' text (",\n" in a JSON array): parallel chunks join on it."""

    def __init__(self, stream: TextIO, **options: Any) -> None:
        self.stream = stream
        self.options = options
        self.count = 0
        self.fragment_mode = False
        """True in a parallel worker: the writer renders a chunk for the parent to join."""

    def open(self) -> None:  # noqa: B027 - most formats have no header
        """Write whatever comes before the first record."""

    @abstractmethod
    def write(self, record: Record) -> list[Loss]:
        """Write one record; return what of it the format could not carry."""

    def fragment_state(self) -> object:
        """What a worker's writer must tell the parent about the records it wrote.

        Parallel conversion renders chunks in separate writers; a format whose text
        depends on earlier records (BibTeX's unique keys) returns what the parent needs
        to make the chunks agree, and fixes the text in :meth:`absorb`.
        """
        return None

    def absorb(self, data: bytes, state: object) -> bytes:
        """Adjust a worker's rendered chunk (UTF-8, see :meth:`fragment_state`) before
        writing it. Chunks stay bytes from worker to output: most need no change."""
        return data

    def close(self) -> None:
        """Write whatever comes after the last record and flush."""
        self.stream.flush()

    def __enter__(self) -> Writer:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def renamed_entries(
    state: object, assign: Callable[[str], str], start: int = 0
) -> dict[int, tuple[str, str]]:
    """Which of a worker's entries a one-process run would have named differently.

    ``state`` is the worker's (base key, key written) per entry; ``assign`` gives the
    final key for a base in the output so far. Maps entry number to (written, final).
    """
    assert isinstance(state, list)
    renamed: dict[int, tuple[str, str]] = {}
    for number, (base, written) in enumerate(state, start=start):
        final = assign(base)
        if final != written:
            renamed[number] = (written, final)
    return renamed


@dataclass(frozen=True)
class Format:
    """A registered format: how to recognise it, read it and write it."""

    name: str
    title: str
    extensions: tuple[str, ...]
    media_type: str
    read: Reader | None = None
    writer: type[Writer] | None = None
    sniff: Callable[[str], bool] | None = None
    aliases: tuple[str, ...] = field(default=())
    prelude: Callable[[str], str] | None = None
    """For parallel conversion: what a chunk needs from the text before it (BibTeX's
    ``@string`` macros), as text that moves no line number when put in front."""
    prelude_hint: bytes | None = None
    """A regex over UTF-8 bytes that matches in any text ``prelude`` finds something in:
    the parallel planner decodes and scans only the chunks it matches. None: all."""
    record_start: bytes | None = None
    """A regex matching a line that can only start a record; lets big files be split for
    parallel conversion. None: the format is always read in one piece."""


def describe_validation_error(exc: ValidationError) -> str:
    """A one-line cause for a record the model refused: the first problem and a count."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "record"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"
