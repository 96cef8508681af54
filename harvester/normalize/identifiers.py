"""Identifier parsing: DOI, ISSN, ISBN, PMID, PMCID, URL and friends.

Check digits come from python-stdnum (well kept, covers ISSN/ISBN); the extraction rules
(prefixes, URLs, several values in one string) are ours.
"""

from __future__ import annotations

import re

from stdnum import isbn as _isbn
from stdnum import issn as _issn

_DOI_PREFIX = re.compile(
    r"^\s*(?:(?:https?://)?(?:dx\.)?doi\.org/|doi:\s*|info:doi/|urn:doi:)",
    re.IGNORECASE,
)
_DOI = re.compile(r"10\.\d{4,9}/\S+")
_ISSN = re.compile(r"\b(\d{4})\s*[-‐‑–]?\s*(\d{3}[\dXx])\b")


def parse_doi(text: str) -> str | None:
    """Return the bare, lower-cased DOI in ``text`` (DOIs are case-insensitive), or None."""
    value = _DOI_PREFIX.sub("", text.strip())
    match = _DOI.search(value)
    if match is None:
        return None
    doi = match.group(0).rstrip(".,;")
    return doi.lower()


def check_issn(value: str) -> bool:
    """True when ``value`` (``NNNN-NNNC``) has a correct check digit."""
    return bool(_issn.is_valid(value))


def find_issns(text: str) -> list[str]:
    """Every ISSN-shaped value in ``text``, formatted ``NNNN-NNNC``, in order."""
    return [f"{a}-{b.upper()}" for a, b in _ISSN.findall(text)]


def format_isbn(value: str) -> str:
    """Compact ISBN (digits and X), no hyphens."""
    return str(_isbn.compact(value))


def check_isbn(value: str) -> bool:
    return bool(_isbn.is_valid(value))


def isbn13(value: str) -> str | None:
    """The ISBN-13 form of a valid ISBN-10 or -13, else None."""
    try:
        return str(_isbn.to_isbn13(_isbn.validate(value)))
    except Exception:
        return None


def normalize_identifier(scheme: str, value: str) -> tuple[str, bool | None]:
    """Normalise ``value`` for ``scheme``; return it with its check-digit validity.

    Validity is ``None`` for schemes without a check digit.
    """
    value = value.strip()
    if scheme == "doi":
        doi = parse_doi(value)
        return (doi, True) if doi else (value, False)
    if scheme == "issn":
        found = find_issns(value)
        if found:
            return found[0], check_issn(found[0])
        return value, False
    if scheme == "isbn":
        compact = format_isbn(value)
        return compact, check_isbn(compact)
    if scheme == "pmid":
        digits = re.sub(r"^\s*pmid:\s*", "", value, flags=re.IGNORECASE)
        return digits, digits.isdigit()
    if scheme == "pmcid":
        m = re.search(r"(?:PMC)?(\d+)", value, re.IGNORECASE)
        return (f"PMC{m.group(1)}", True) if m else (value, False)
    return value, None
