"""Turning input bytes into text: BOMs, UTF-8, legacy encodings, CRLF.

UTF-8 is assumed (after any BOM). When the head of the input is not UTF-8, the encoding
is guessed once with charset-normalizer (Latin-1/Windows-1252 RIS, GBK BibTeX) and the
guess is reported. Stray bytes later in a UTF-8 stream are decoded as Windows-1252 and
counted, never crashed on. Newlines are universal: CRLF and CR read as LF.
"""

from __future__ import annotations

import codecs
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

HEAD_BYTES = 65536
_WESTERN_GUESSES = frozenset(
    {
        "ascii", "latin_1", "iso8859_1", "iso8859_2", "iso8859_3", "iso8859_4", "iso8859_9",
        "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_15", "iso8859_16", "cp1250",
        "cp1254", "cp1257", "cp850", "cp437", "mac_roman", "mac_latin2",
    }
)  # fmt: skip

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass
class DecodeStats:
    """Bytes that were not valid in the chosen encoding, per input."""

    replaced: int = 0
    notes: list[str] = field(default_factory=list)


_current = DecodeStats()


def _fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    _current.replaced += len(bad)
    return bad.decode("cp1252", errors="replace"), error.end


codecs.register_error("harvester-cp1252", _fallback)


class _PrefixedStream(io.RawIOBase):
    """A raw stream that replays ``head`` and then reads the rest of ``rest``."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        self._rest.close()
        super().close()


@dataclass
class TextInput:
    """An opened input: its name, decoded head (for sniffing) and text stream."""

    name: str
    head: str
    stream: io.TextIOWrapper
    encoding: str
    stats: DecodeStats
    path: Path | None = None
    offset: int = 0
    """Where the text starts in the file (after a BOM)."""

    def close(self) -> None:
        self.stream.close()


def detect_encoding(head: bytes) -> tuple[str, int, str | None]:
    """Return (encoding, BOM length, note) for the first bytes of an input."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, len(bom), None
    try:
        head.decode("utf-8")
        return "utf-8", 0, None
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the head is still UTF-8.
        if exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return "utf-8", 0, None
    import charset_normalizer  # lazily: only non-UTF-8 input needs it (30 ms to import)

    best = charset_normalizer.from_bytes(head).best()
    encoding = best.encoding if best is not None else "cp1252"
    if encoding in _WESTERN_GUESSES:
        # For short Latin-script text the detector cannot tell Western from Central
        # European code pages (it guesses cp1250 for French "crème"); Windows-1252 is by
        # far the commonest of them in bibliographic exports.
        encoding = "cp1252"
    return encoding, 0, f"not UTF-8: decoded as {encoding} (guessed)"


def open_input(path: str | Path | None, encoding: str | None = None) -> TextInput:
    """Open a file (or stdin for ``None`` / ``-``) as decoded text with its head."""
    if path is None or str(path) == "-":
        raw: BinaryIO = sys.stdin.buffer
        name = "<stdin>"
    else:
        name = str(path)
        raw = open(path, "rb")  # noqa: SIM115 - closed by TextInput.close
    opened = open_binary(raw, name, encoding)
    if path is not None and str(path) != "-":
        opened.path = Path(path)
    return opened


def open_binary(raw: BinaryIO, name: str, encoding: str | None = None) -> TextInput:
    """Decode ``raw``; ``encoding`` (a person's word) overrides detection, BOM aside."""
    head_bytes = raw.read(HEAD_BYTES)
    detected, skip, note = detect_encoding(head_bytes)
    if encoding is None or (skip and detected.startswith("utf")):
        encoding = detected
    else:
        note = None
    stats = DecodeStats(notes=[note] if note else [])
    global _current
    _current = stats
    buffered = io.BufferedReader(_PrefixedStream(head_bytes[skip:], raw), buffer_size=HEAD_BYTES)
    stream = io.TextIOWrapper(buffered, encoding=encoding, errors="harvester-cp1252", newline=None)
    head = head_bytes[skip:].decode(encoding, errors="replace")
    head = head.replace("\r\n", "\n").replace("\r", "\n")
    return TextInput(
        name=name, head=head, stream=stream, encoding=encoding, stats=stats, offset=skip
    )


def open_bytes(data: bytes, name: str = "<bytes>", encoding: str | None = None) -> TextInput:
    return open_binary(io.BytesIO(data), name, encoding)
