"""Dates as bibliographies write them: ISO, RIS ``DA``, PubMed, catalogue, US, German.

Rules (each is table-tested in ``tests/test_normalize_dates.py``):

* ``parse_date`` returns ``None`` for blank text and for explicit "no date" markers
  (``n.d.``, ``[s.a.]``, ``o.J.``, ``s.d.``, ``sine anno``): the source says there is no
  date, and every writer has its own way to say so. Text that is not a date becomes
  ``Date(literal=text)``; it never raises.
* Seasons use CSL's numbers (1 spring, 2 summer, 3 autumn/fall, 4 winter) and EDTF's
  codes 21-24 (and the hemisphere codes 25-32) in ``2017-22``. A season pair
  ("Spring/Summer 2017") keeps the first season: CSL has no season ranges.
* ``ca. 1995``, ``circa 1995``, ``c. 1995``, ``[1995?]``, ``1995?``, ``1995~`` set
  ``circa``. ``c1995``, ``©1995`` and ``p1995`` (no space) are copyright and
  phonogram dates as library catalogues write them (AACR2/ISBD), so they give the year
  without ``circa``; ``1996, ©1995`` is the publication year 1996.
* Slashes and hyphens between numbers read month first (``08/15/2017``, as US sources
  and VuFind's Highwire ``citation_date`` write it) unless the first number cannot be a
  month; dots read day first (``15.08.2017``).
* Ranges (``1995-1997``, ``2017-08/2017-09``, ``2017 Aug-Sep``, ``2016 Dec-2017 Jan``,
  ``1998 Dec 7-21``, ``Aug 10-24, 1998``) fill the missing parts of one side from the
  other; ``1995-96`` and ``1999/00`` abbreviate the end year (up to ten years on). An open
  range (BibLaTeX ``1999-10-14/``) keeps its start: CSL dates cannot say "open".
* MARC decades and centuries (``199-``, ``19uu``), ``2017-13`` and impossible days are
  literals; roman-numeral years (``MDCCCXII``) are read.
* :func:`format_edtf` writes ISO 8601 / EDTF (``2017-08``, ``1995~``, ``1995/1997``,
  ``2017-22``, ``-0044``) and :func:`parse_date` reads all of it back unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache

from harvester.model import Date, make_date
from harvester.normalize.text import clean_text

__all__ = ["format_edtf", "parse_date", "parse_month", "parse_season"]

_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("january", "januar", "jänner", "janvier", "enero", "gennaio", "januari", "janeiro"),
    2: ("february", "februar", "feber", "février", "fevrier", "febrero", "febbraio",
        "februari", "fevereiro"),
    3: ("march", "märz", "maerz", "mars", "marzo", "maart", "março", "marco"),
    4: ("april", "avril", "abril", "aprile"),
    5: ("may", "mai", "mayo", "maggio", "mei", "maio"),
    6: ("june", "juni", "juin", "junio", "giugno", "junho"),
    7: ("july", "juli", "juillet", "julio", "luglio", "julho"),
    8: ("august", "août", "aout", "agosto", "augustus"),
    9: ("september", "septembre", "septiembre", "setiembre", "settembre", "setembro"),
    10: ("october", "oktober", "octobre", "octubre", "ottobre", "outubro"),
    11: ("november", "novembre", "noviembre", "novembro"),
    12: ("december", "dezember", "décembre", "decembre", "diciembre", "dicembre", "dezembro"),
}  # fmt: skip
# Abbreviations that are not prefixes of a full name above.
_MONTH_ABBREVIATIONS = {"mrz": 3, "mär": 3, "mae": 3, "sept": 9, "dic": 12}


def _build_months() -> dict[str, int]:
    table: dict[str, int] = {}
    ambiguous: set[str] = set()
    for number, names in _MONTH_NAMES.items():
        for name in names:
            for end in range(3, len(name) + 1):
                prefix = name[:end]
                if prefix in table and table[prefix] != number:
                    ambiguous.add(prefix)
                table.setdefault(prefix, number)
    for prefix in ambiguous:
        del table[prefix]
    table.update(_MONTH_ABBREVIATIONS)
    for number in range(1, 13):
        table[str(number)] = number
        table[f"{number:02d}"] = number
    return table


_MONTHS = _build_months()

_SEASONS = {
    "spring": 1, "frühling": 1, "frühjahr": 1, "fruehjahr": 1, "printemps": 1,
    "primavera": 1, "lente": 1,
    "summer": 2, "sommer": 2, "été": 2, "ete": 2, "verano": 2, "estate": 2, "zomer": 2,
    "verão": 2,
    "autumn": 3, "fall": 3, "herbst": 3, "automne": 3, "otoño": 3, "otono": 3,
    "autunno": 3, "herfst": 3, "outono": 3,
    "winter": 4, "hiver": 4, "invierno": 4, "inverno": 4,
}  # fmt: skip
# EDTF level 2 season codes: 21-24, then north (25-28) and south (29-32) hemisphere.
_EDTF_SEASON_BASE = 21

# Explicit "no date" markers (compared lower-cased, whole value).
_NO_DATE = frozenset({
    "nd", "n.d.", "n. d.", "[n.d.]", "(n.d.)", "nodate", "no date", "s.a.", "[s.a.]",
    "(s.a.)", "s. a.", "s.d.", "s. d.", "[s.d.]", "(s.d.)", "o.j.", "o. j.", "[o.j.]",
    "(o.j.)", "ohne jahr", "sine anno", "sans date", "sin fecha", "undated", "[undated]",
})  # fmt: skip

# Words that carry no date information.
_NOISE = frozenset({
    "of", "the", "de", "del", "di", "du", "im", "in", "le", "la", "el", "st", "nd", "rd",
    "th", "er", "e", "o", "a", "den", "am",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    "mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun",
    "published", "publ", "pub", "printed", "issued", "copyright",
})  # fmt: skip

_ISO = re.compile(
    r"^(-?\d{4}|Y-?\d{5,})(?:-(\d{2})(?:-(\d{2}))?)?"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
_RIS = re.compile(r"^(\d{4})/(\d{0,2})/(\d{0,2})/?(.*)$")
_TIME = re.compile(
    r"[T ]?\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[ap]\.?m\.?)?\s*"
    r"(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_COPYRIGHT_TAIL = re.compile(
    r"[,;]?\s*\[?(?:©|℗|\(c\)|c|p|cop\.?|copyright)\s*\d{4}\]?\s*\.?$", re.IGNORECASE
)
_COMMA_COPYRIGHT = re.compile(r",\s*c\d{4}")
_US_DATE = re.compile(r"\d/\d{1,2}/\d")
_COPYRIGHT_ONLY = re.compile(r"^(?:©|℗|\(c\)|c|p|cop\.\s*|copyright\s*)(\d{4})\.?$", re.IGNORECASE)
_CIRCA = re.compile(r"^(?:ca\.?|circa|c\.|approx\.?|about|um|env\.?|vers)\s*", re.IGNORECASE)
_TOKENS = re.compile(r"\d+|[^\W\d_]+|[./\-]")
_ROMAN = re.compile(r"^M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})$")
_ROMAN_VALUES = {"M": 1000, "D": 500, "C": 100, "L": 50, "X": 10, "V": 5, "I": 1}
_DASHES = str.maketrans({"–": "-", "—": "-", "‐": "-", "‑": "-", "‒": "-", "−": "-"})

_Partial = tuple[int | None, int | None, int | None, int | None]  # year, month, day, season


def parse_month(text: str) -> int | None:
    """Month number for ``Aug``, ``August``, ``aug.``, ``8``, ``08``, ``März``, ``août``...

    Names and abbreviations in English, German, French, Spanish, Italian, Dutch and
    Portuguese (any unambiguous prefix of three letters or more), BibTeX month macros,
    and the numbers 1-12.
    """
    key = text.strip().strip(".").strip().lower()
    return _MONTHS.get(key)


def parse_season(text: str) -> int | None:
    """CSL season number (1-4) for a season word or an EDTF season code (21-32)."""
    key = text.strip().strip(".").lower()
    if key in _SEASONS:
        return _SEASONS[key]
    if key.isdigit() and 21 <= int(key) <= 32:
        return (int(key) - _EDTF_SEASON_BASE) % 4 + 1
    return None


def _roman(text: str) -> int | None:
    if not text or not _ROMAN.match(text):
        return None
    total = 0
    for a, b in zip(text, [*text[1:], ""], strict=True):
        value = _ROMAN_VALUES[a]
        total += -value if b and _ROMAN_VALUES[b] > value else value
    return total


def _partial(text: str) -> _Partial | None:
    """Read one date (no range) into optional year, month, day, season; None if not a date."""
    year: int | None = None
    month: int | None = None
    day: int | None = None
    season: int | None = None
    numbers: list[str] = []
    separators: list[str] = []
    for token in _TOKENS.findall(text):
        if token in "./-":
            separators.append(token)
            continue
        if token.isdigit():
            numbers.append(token)
            continue
        low = token.lower()
        if low in ("st", "nd", "rd", "th") and numbers:
            continue
        found = _MONTHS.get(low)
        if found is not None:
            if month is not None:
                return None
            month = found
            continue
        found = _SEASONS.get(low)
        if found is not None:
            if season is None:
                season = found
            continue
        if low in _NOISE:
            continue
        return None
    if any(len(n) > 4 for n in numbers) and not (len(numbers) == 1 and len(numbers[0]) == 8):
        return None  # five-digit years are EDTF "Y" years; other long numbers are not dates
    if month is not None or season is not None:
        # A month or season word: a long number is the year, a short one the day.
        for number in numbers:
            value = int(number)
            if len(number) >= 3 or value > 31:
                if year is not None:
                    return None
                year = value
            elif day is None and month is not None:
                day = value
            else:
                return None
        if season is not None and (month is not None or day is not None):
            return None
        return year, month, day, season
    if not numbers:
        return None
    if len(numbers) == 1:
        number = numbers[0]
        if len(number) == 8 and number.isdigit():
            return int(number[:4]), int(number[4:6]), int(number[6:]), None
        if 3 <= len(number) <= 4:
            return int(number), None, None, None
        return None
    values = [int(n) for n in numbers]
    if sum(len(n) >= 3 for n in numbers) != 1:
        return None
    if len(numbers[0]) >= 3:
        # Year first: 2017-08, 2017.08.15, 2017 8 15.
        if len(values) > 3:
            return None
        if len(values) == 2 and 21 <= values[1] <= 32 and len(numbers[1]) == 2:
            return values[0], None, None, parse_season(numbers[1])
        return values[0], values[1], (values[2] if len(values) == 3 else None), None
    if len(numbers[-1]) >= 3:
        if len(values) == 2:
            return values[1], values[0], None, None
        if len(values) != 3:
            return None
        first, second = values[0], values[1]
        day_first = "." in separators or first > 12
        if day_first:
            return values[2], second, first, None
        return values[2], first, second, None
    return None


def _make(start: _Partial, end: _Partial | None, circa: bool) -> Date:
    year, month, day, season = start
    if year is None:
        raise ValueError("no year")
    if day is not None and month is None:
        raise ValueError("a day needs a month")
    parts = tuple(p for p in (year, month, day) if p is not None)
    end_parts: tuple[int, ...] | None = None
    if end is not None:
        e_year, e_month, e_day, _ = end
        if e_year is None or (e_day is not None and e_month is None):
            raise ValueError("an incomplete range end")
        end_parts = tuple(p for p in (e_year, e_month, e_day) if p is not None)
        if end_parts == parts:
            end_parts = None
    return make_date(parts=parts, end=end_parts, season=season, circa=circa)


def _fill(left: _Partial, right: _Partial) -> tuple[_Partial, _Partial]:
    """Complete a range's sides from each other: "2017 Aug-Sep", "1998 Dec 7-21"."""
    l_year, l_month, l_day, l_season = left
    r_year, r_month, r_day, r_season = right
    if (
        l_year is not None
        and l_month is None
        and r_year is None
        and r_month is None
        and r_day is not None
        and r_season is None
    ):
        # "1995/96", "1995-96": an abbreviated end year.
        r_year, r_day = l_year - l_year % 100 + r_day, None
        if r_year <= l_year:
            r_year += 100  # "1999-00"
        if r_year - l_year > 10:
            raise ValueError("not an abbreviated end year")
    if r_year is None:
        r_year = l_year
    if l_year is None:
        l_year = r_year
    if r_month is None and r_day is not None:
        r_month = l_month
    if l_month is None and l_day is not None:
        l_month = r_month
    return (l_year, l_month, l_day, l_season), (r_year, r_month, r_day, r_season)


def _iso_partial(text: str) -> _Partial | None:
    match = _ISO.match(text)
    if match is None:
        return None
    year_text, month, day = match.groups()
    year = int(year_text.lstrip("Y"))
    if month is not None and day is None and 21 <= int(month) <= 32:
        return year, None, None, parse_season(month)
    if month is not None and not 1 <= int(month) <= 12:
        return None  # "1995-96" is a range, "2017-13" nothing
    return year, (int(month) if month else None), (int(day) if day else None), None


def _range_side(text: str) -> _Partial | None:
    text = text.strip(" ,")
    if not text:
        return None
    iso = _iso_partial(text)
    if iso is not None:
        return iso
    if text.isdigit() and len(text) <= 2:
        return None, None, int(text), None
    day, _, year = text.partition(" ")
    if day.rstrip(",").isdigit() and len(day.rstrip(",")) <= 2 and year.isdigit():
        return int(year), None, int(day.rstrip(",")), None  # "Aug 10-24, 1998"
    return _partial(text)


def _split_range(value: str) -> tuple[str, str] | None:
    """Split ``value`` at its range separator ("/" or a dash between dates), if any."""
    if value.count("/") == 1 and _US_DATE.search(value) is None:
        left, _, right = value.partition("/")
        return left, right
    if " - " in value:
        left, _, right = value.partition(" - ")
        return left, right
    pieces = value.split("-")
    if len(pieces) == 2:
        return pieces[0], pieces[1]
    if len(pieces) in (4, 6) and all(p.isdigit() for p in pieces):
        # "2017-08-2017-09": ISO dates joined by a hyphen.
        half = len(pieces) // 2
        return "-".join(pieces[:half]), "-".join(pieces[half:])
    return None


def _parse(value: str) -> Date | None:
    iso = _iso_partial(value)
    if iso is not None:
        return _make(iso, None, False)
    if value.lower() in _NO_DATE:
        return None
    text = value.translate(_DASHES)
    match = _RIS.match(text)
    if match is not None:
        return _ris(*match.groups())
    if "©" in text or "℗" in text or _COMMA_COPYRIGHT.search(text):
        text = _COPYRIGHT_TAIL.sub("", text).strip() or text
    copyright_year = _COPYRIGHT_ONLY.match(text)
    if copyright_year is not None:
        return make_date(parts=(int(copyright_year.group(1)),))
    circa = False
    if text[:1] in "[(" and text[-1:] in "])":
        text = text[1:-1].strip()
    if "?" in text or "~" in text or "%" in text:
        circa = True
        text = text.replace("?", "").replace("~", "").replace("%", "").strip()
    stripped = _CIRCA.sub("", text)
    if stripped != text:
        circa = True
        text = stripped
    text = text.replace("[", " ").replace("]", " ").strip(" .,()")
    if not text:
        return None
    if text[-1] in "-uUxX" and text[-2:-1].isdigit():
        raise ValueError("a decade or century (MARC 199-, 19uu) is not a date")
    if ":" in text:
        text = _TIME.sub(" ", text).strip()
    if text.isalpha() and text.isupper():
        roman = _roman(text)
        if roman is not None and 1000 <= roman <= 2100:
            return make_date(parts=(roman,), circa=circa)
    single = _iso_partial(text) or _partial(text)
    if single is not None:
        try:
            return _make(single, None, circa)
        except ValueError:
            pass  # "1995-1997" reads as year and month 1997 first; try a range
    halves = _split_range(text)
    if halves is None:
        raise ValueError("not a date")
    left = _range_side(halves[0])
    if left is None:
        raise ValueError("not a date range")
    right = _range_side(halves[1])
    if right is None:
        if halves[1].strip():
            raise ValueError("not a date range")
        # An open range ("1999-10-14/"): CSL cannot say "open", the start is what we know.
        return _make(left, None, circa)
    left, right = _fill(left, right)
    return _make(left, right, circa)


def _ris(year: str, month: str, day: str, other: str) -> Date:
    """RIS ``DA``/``PY``: ``YYYY/MM/DD/other``; the free part may name a season or month."""
    other = other.strip()
    parts = tuple(int(p) for p in (year, month, day) if p)
    if day and not month:
        raise ValueError("a day needs a month")
    season = parse_season(other) if other else None
    if other and season is None and len(parts) == 1:
        found = _partial(other)
        if found is not None and found[0] in (None, parts[0]) and found[1]:
            parts = tuple(p for p in (parts[0], found[1], found[2]) if p is not None)
    return make_date(parts=parts, season=season)


# Bounded: dates repeat a lot (years, months) and a full cache costs about 0.6 kB each.
@lru_cache(maxsize=4096)
def parse_date(text: str) -> Date | None:
    """Parse a date as sources write it (see the module docstring); never raises."""
    if len(text) == 10 and text[4] == "/" and text[7] == "/" and text.isascii():
        # RIS's "YYYY/MM/DD", the commonest full date (too many to stay cached): what the
        # general path makes of it, without its regular expressions.
        year, month, day = text[:4], text[5:7], text[8:]
        if year.isdigit() and month.isdigit() and day.isdigit():
            try:
                return make_date(parts=(int(year), int(month), int(day)), season=None)
            except ValueError:
                return make_date(literal=text)
    value = clean_text(text)
    if not value:
        return None
    try:
        return _parse(value)
    except ValueError:
        return make_date(literal=value)


def _edtf_year(year: int) -> str:
    if year > 9999 or year < -9999:
        return f"Y{year}"
    if year < 0:
        return f"-{-year:04d}"
    return f"{year:04d}"


def _edtf_parts(parts: tuple[int, ...]) -> str:
    text = _edtf_year(parts[0])
    for part in parts[1:]:
        text += f"-{part:02d}"
    return text


def format_edtf(date: Date) -> str:
    """The date as ISO 8601 / EDTF text: ``2017-08``, ``1995~``, ``1995/1997``, ``2017-22``.

    A literal date is returned as its literal; ``parse_date`` reads every result back to
    the same parts, end, season and circa.
    """
    if not date.parts:
        return date.literal or ""
    if date.season is not None and len(date.parts) == 1:
        text = f"{_edtf_year(date.parts[0])}-{date.season + _EDTF_SEASON_BASE - 1}"
    else:
        text = _edtf_parts(date.parts)
    if date.circa:
        text += "~"
    if date.end is not None:
        text += "/" + _edtf_parts(date.end)
    return text
