"""Page ranges: "p.1538-1546", "1538-46", "1538–1546", "e0123456" -> "1538-1546"."""

from __future__ import annotations

import re

_PREFIX = re.compile(r"^\s*(?:pp?\.?|pages?|s\.|seiten?)\s*", re.IGNORECASE)
_RANGE = re.compile(
    r"^\s*([A-Za-z]*\d+[A-Za-z]*)\s*(?:-+|[‐‑‒–—―−]|\bto\b)\s*([A-Za-z]*\d+[A-Za-z]*)\s*$"
)


def normalize_pages(text: str) -> str:
    """Return the page range as ``first-last`` with the last page written out in full."""
    value = _PREFIX.sub("", text.strip())
    match = _RANGE.match(value)
    if match is None:
        return value.strip()
    first, last = match.group(1), match.group(2)
    if first.isdigit() and last.isdigit() and len(last) < len(first) and int(last) > 0:
        last = first[: len(first) - len(last)] + last
    return f"{first}-{last}"


def split_pages(page: str) -> tuple[str, str | None]:
    """Split a normalised range into first and last page."""
    first, sep, last = page.partition("-")
    return first, (last if sep else None)
