"""The exception tree: every error the package raises on purpose is a ``HarvesterError``.

Foreign exceptions (lxml, json, sqlite3, httpx) are mapped at the module boundary with
``raise ... from exc`` so ``__cause__`` keeps the original.
"""

from __future__ import annotations


class HarvesterError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(HarvesterError):
    """A usage or configuration problem (unknown format, bad option): exit code 2."""


class ParseError(HarvesterError):
    """One record (or the whole input) could not be read.

    Readers *yield* these instead of raising, so one bad record never aborts a batch.

    Attributes:
        source: file name, URL or ``<stdin>``.
        line: 1-based line where the bad record starts, when known.
        record: 1-based index of the record in its input, when known.
        raw: the raw chunk that failed (truncated to 500 characters).
        cause: what is wrong, in words.
    """

    def __init__(
        self,
        cause: str,
        *,
        source: str = "<input>",
        line: int | None = None,
        record: int | None = None,
        raw: str | None = None,
        format_name: str | None = None,
    ) -> None:
        self.cause = cause
        self.source = source
        self.line = line
        self.record = record
        self.raw = raw[:500] if raw is not None else None
        self.format_name = format_name
        super().__init__(self.describe())

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only fields survive pickling (worker processes send errors back).
        return (
            _rebuild_parse_error,
            (self.cause, self.source, self.line, self.record, self.raw, self.format_name),
        )

    def relocate(self, *, line_offset: int = 0, record_offset: int = 0) -> None:
        """Shift the position of an error found in a chunk to its place in the whole input."""
        if self.line is not None:
            self.line += line_offset
        if self.record is not None:
            self.record += record_offset
        self.args = (self.describe(),)

    def location(self) -> str:
        parts = [self.source]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.record is not None:
            parts.append(f"record {self.record}")
        return ", ".join(parts)

    def describe(self) -> str:
        fmt = f" ({self.format_name})" if self.format_name else ""
        return f"{self.location()}{fmt}: {self.cause}"

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "line": self.line,
            "record": self.record,
            "format": self.format_name,
            "cause": self.cause,
            "raw": self.raw,
        }


def _rebuild_parse_error(
    cause: str,
    source: str,
    line: int | None,
    record: int | None,
    raw: str | None,
    format_name: str | None,
) -> ParseError:
    return ParseError(
        cause, source=source, line=line, record=record, raw=raw, format_name=format_name
    )


class FetchError(HarvesterError):
    """A network fetch failed for good (after retries)."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class RateLimited(FetchError):
    """The server said 429 and we gave up waiting."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, url=url, status=status)


class NotFound(FetchError):
    """The server says the thing does not exist (404/410)."""


class Blocked(FetchError):
    """A bot challenge, login wall or error page was served where data was expected."""


class OAIError(HarvesterError):
    """An OAI-PMH protocol error answered by the repository."""


class StoreError(HarvesterError):
    """The embedded store could not be read or written."""
