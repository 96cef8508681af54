"""Text hygiene shared by every field: Unicode NFC, control characters, line separators."""

from __future__ import annotations

import re
import unicodedata

# Every code point Python's str.splitlines() treats as a line boundary, plus tab.
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
# C0/C1 controls that carry no text (tab and line breaks are handled separately),
# the BOM / zero-width no-break space, and noncharacters that some exporters leak.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\ufeff\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_BREAKS = re.compile(f"[{_LINE_BREAKS}]+")
_BREAK_RUNS = re.compile(r"[ ]*\n[ \n]*")


def clean_text(value: str, *, multiline: bool = False) -> str:
    """Return ``value`` as clean single-line (or paragraph) text.

    Lone surrogates become U+FFFD (they cannot be encoded anywhere), controls and BOMs
    are removed, every line separator becomes a space (or, with ``multiline``, one
    ``\\n`` between paragraphs), runs of spaces collapse, and the result is NFC.
    """
    if value.isprintable():
        # Fast path for the common case: no controls, separators or odd spaces (all
        # non-printable), so at most runs of spaces to collapse and NFC to apply.
        if "  " in value or value[:1] == " " or value[-1:] == " ":
            value = _SPACES.sub(" ", value).strip()
        if value.isascii() or unicodedata.is_normalized("NFC", value):
            return value
        return unicodedata.normalize("NFC", value)
    if _SURROGATE.search(value):
        value = _SURROGATE.sub("\ufffd", value)
    value = _CONTROL.sub("", value)
    if multiline:
        value = _BREAKS.sub("\n", value)
        value = _SPACES.sub(" ", value)
        value = _BREAK_RUNS.sub("\n", value)
    else:
        value = _BREAKS.sub(" ", value)
        value = _SPACES.sub(" ", value)
    value = value.strip()
    if not value.isascii():
        value = unicodedata.normalize("NFC", value)
    return value


def is_clean(value: str) -> bool:
    """Cheap test for text ``clean_text`` would return unchanged (the common case)."""
    return (
        value.isprintable()
        and value[:1] != " "
        and value[-1:] != " "
        and "  " not in value
        and (value.isascii() or unicodedata.is_normalized("NFC", value))
    )


def clean_optional(value: object, *, multiline: bool = False) -> str | None:
    """``clean_text`` for optional fields: ``None`` and empty results become ``None``."""
    if value is None:
        return None
    if type(value) is str and value and is_clean(value):
        return value
    text = clean_text(str(value), multiline=multiline)
    return text or None
