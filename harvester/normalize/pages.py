"""Page ranges and page counts.

``normalize_pages`` turns what sources write ("p.1538-1546", "pp. 1538-46", "1538–1546",
"S. 12-15", "431--456, 791--823") into CSL's ``first-last`` with the last page written
out in full; what it does not recognise as pages it returns as written (stripped), so no
value is lost and the function stays idempotent. ``parse_page_count`` reads the extent of
a book ("xii, 245 p.", "245 S.", "1 online resource (245 pages)") for ``number_of_pages``.
"""

from __future__ import annotations

import re

# A page: up to three letters, digits, up to two letters ("1538", "S12", "A12", "e0123456",
# "12a"), or a lower/upper-case Roman numeral ("xii").
_PAGE = r"(?:[A-Za-z]{0,3}[0-9]+[A-Za-z]{0,2}|[ivxlcdm]+|[IVXLCDM]+)"
_DASH = r"(?:-{1,3}|[‐‑‒–—―−]|\s+to\s+)"
_ITEM = re.compile(
    rf"(?P<first>{_PAGE})"
    rf"(?:\s*(?P<follow>ff?\.|ff?$)"  # "1538f.", "1538 ff." (and following pages)
    rf"|\s*(?P<dash>{_DASH})\s*(?P<last>{_PAGE})?)?",
)
# "p.", "pp.", "page(s)", "pag.", German "S."/"Seite(n)", Nordic/Slavic "s."/"ss."/"str.";
# a label needs a dot, colon or space after it, so "S1-S10" (supplement pages) keeps its S.
_LABEL = re.compile(
    r"(?:pp|p|pgs|pg|pages|page|pag|seiten|seite|s|ss|str|bl)(?:\.\s*|:\s*|\s+)", re.IGNORECASE
)
_SPLIT_PREFIX = re.compile(r"([A-Za-z]*)([0-9]+)$")


def _expand(first: str, last: str) -> str:
    """Write an abbreviated last page in full: ("1538", "46") -> "1546", ("S1", "10") -> "S10"."""
    head = _SPLIT_PREFIX.match(first)
    if head is None or not (last.isascii() and last.isdigit()):
        return last
    letters, digits = head.groups()
    if len(last) < len(digits) and last[0] != "0":
        full = digits[: len(digits) - len(last)] + last
        if int(full) < int(digits):
            # "198-2" means 198-202: the abbreviated part rolled over.
            head_digits = digits[: len(digits) - len(last)]
            full = str(int(head_digits) + 1).zfill(len(head_digits)) + last
        last = full
    return letters + last


def _normalize_item(item: str) -> str | None:
    match = _ITEM.fullmatch(item)
    if match is None:
        return None
    first = match.group("first")
    if match.group("follow"):
        return first + match.group("follow").rstrip(".") + "."
    last = match.group("last")
    if last is None:
        return first  # "1538" or the open range "1538-"
    return f"{first}-{_expand(first, last)}"


def normalize_pages(text: str) -> str:
    """Return pages as ``first-last`` (last page in full), lists as ``a-b, c``.

    Unrecognised text is returned stripped but otherwise as written.
    """
    value = text.strip()
    if value.isascii() and value.isdigit():
        return value
    first, dash, last = value.partition("-")
    if (
        dash
        and first.isascii()
        and first.isdigit()
        and last.isascii()
        and last.isdigit()
        and len(last) >= len(first)
    ):
        return value  # Already "1538-1546": the common case, no regex.
    body = value
    label = _LABEL.match(body)
    if label is not None:
        body = body[label.end() :]
    if body.endswith(".") and body[-2:-1].isdigit():
        body = body[:-1]  # "pp. 1538-46." at the end of a citation
    items = [_normalize_item(part.strip()) for part in body.split(",")]
    if not items or any(item is None for item in items):
        return value
    return ", ".join(item for item in items if item is not None)


def split_pages(page: str) -> tuple[str, str | None]:
    """Split a normalised page value into first and last page.

    Only a single range splits ("1538-1546" -> ("1538", "1546")); a single page, a list
    ("1538-1546, 1550") or anything else comes back whole as the first page, so a writer
    that joins first and last with "-" gives back exactly the value it was given.
    """
    if "," not in page:
        first, dash, last = page.partition("-")
        if dash and first and last and "-" not in last:
            return first, last
    return page, None


_COUNT_UNIT = re.compile(
    r"\b(?:p|pp|pages?|pgs?|S|Seiten?|s|ss|str|stron|pág|págs|páginas|leaves|l|f|Bl|feuillets)"
    r"(?:\.|\b)"
)
_COUNT_NUMBER = re.compile(r"(\[?)([0-9]+)(\]?)")
_ROMAN = re.compile(r"\b[ivxlcdm]+\b|\b[IVXLCDM]+\b")


def parse_page_count(text: str) -> str | None:
    """The number of pages in an extent statement, or None when it states none.

    "245 p.", "xii, 245 pages", "245 S.", "XXIV, 329 S. ;", "1 online resource (245 pages)"
    all give "245": the last arabic number before the page unit, unbracketed where there
    is one ("[8], 245 p." -> "245"). Roman-only front matter ("xii p.") gives "xii"; "p.
    cm." (a count left blank) and "6 Bd." (volumes) give None. A bare number is a count.
    """
    value = text.strip()
    if value.isascii() and value.isdigit():
        return value.lstrip("0") or None
    unit = _COUNT_UNIT.search(value)
    if unit is None:
        return None
    segment = value[: unit.start()]
    for stop in "(;:":
        segment = segment.rsplit(stop, 1)[-1]
    numbers = _COUNT_NUMBER.findall(segment)
    plain = [digits for open_, digits, close in numbers if not (open_ or close)]
    chosen = plain or [digits for _, digits, _ in numbers]
    if chosen:
        return chosen[-1].lstrip("0") or None
    roman = _ROMAN.findall(segment)
    return roman[-1] if roman else None
