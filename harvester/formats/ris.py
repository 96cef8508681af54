"""RIS: the tagged format of EndNote, Zotero, Mendeley, RefWorks and most databases.

Reading accepts the dialects found in the wild: ``TY  - `` (the spec's two spaces),
``TY - `` and ``TY -  X`` (one space, stray spaces), ``ER  -`` with no value, values
continued on following lines, blank lines and export boilerplate around records, a BOM,
and Web of Science's field-tagged export (``FN``/``PT``/``ER``, continuation lines
indented by three spaces), which Web of Science offers next to RIS and calls the same
thing. Every tag is kept: tags with no place in the record go to ``Record.extra`` as
``ris:<TAG>`` (``wos:<TAG>`` for Web of Science tags, whose meanings differ), and a
second value for a single-valued field goes there too, so nothing is dropped.

Writing follows DESIGN.md: ``TY`` first, ``ER`` last, a blank line between records,
one tag per line, one ``AU`` per author in order, no wrapping, and no value can ever
start a line of its own (every line separator becomes a space, reported as a change).

Spec: RIS Format Specifications (Research Information Systems, 2011), and the tag and
type conventions of Zotero's RIS translator, which most other tools follow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TextIO

from pydantic import ValidationError

from harvester.errors import ParseError
from harvester.formats._base import Format, Loss, ReadResult, Writer
from harvester.formats.fidelity import table_losses
from harvester.model import Date, Name, Record, build_record, make_name
from harvester.normalize.dates import parse_date
from harvester.normalize.identifiers import classify_identifier, parse_pmid
from harvester.normalize.names import format_name_inverted, parse_name
from harvester.normalize.pages import split_pages
from harvester.normalize.text import clean_text

NAME = "ris"

# --- Types -------------------------------------------------------------------------------

# Every reference type of the RIS specification (2011) plus the legacy codes still written
# by exporters (WEB, UNPB, GRNT, UNPD), read as the closest CSL type. Where the spec and
# Zotero differ, Zotero wins because most RIS in circulation went through it or its
# conventions: CONF is a conference *paper* (Zotero writes it so), not the proceedings.
RIS_TO_CSL: dict[str, str] = {
    "ABST": "article",  # abstract
    "ADVS": "motion_picture",  # audiovisual material
    "AGGR": "dataset",  # aggregated database
    "ANCIENT": "classic",
    "ART": "graphic",  # art work
    "BILL": "bill",
    "BLOG": "post-weblog",
    "BOOK": "book",
    "CASE": "legal_case",
    "CHAP": "chapter",
    "CHART": "graphic",
    "CLSWK": "classic",  # classical work
    "COMP": "software",  # computer program
    "CONF": "paper-conference",
    "CPAPER": "paper-conference",
    "CTLG": "book",  # catalog
    "DATA": "dataset",
    "DBASE": "dataset",  # online database
    "DICT": "entry-dictionary",
    "EBOOK": "book",
    "ECHAP": "chapter",
    "EDBOOK": "book",
    "EJOUR": "article-journal",  # electronic article
    "ELEC": "webpage",
    "ENCYC": "entry-encyclopedia",
    "EQUA": "figure",  # equation
    "FIGURE": "figure",
    "GEN": "document",
    "GOVDOC": "report",
    "GRANT": "report",
    "GRNT": "report",
    "HEAR": "hearing",
    "ICOMM": "personal_communication",  # internet communication (e-mail)
    "INPR": "article-journal",  # in press
    "JFULL": "periodical",  # a whole journal
    "JOUR": "article-journal",
    "LEGAL": "regulation",  # legal rule or regulation
    "MANSCPT": "manuscript",
    "MAP": "map",
    "MGZN": "article-magazine",
    "MPCT": "motion_picture",
    "MULTI": "webpage",  # online multimedia
    "MUSIC": "musical_score",
    "NEWS": "article-newspaper",
    "PAMP": "pamphlet",
    "PAT": "patent",
    "PCOMM": "personal_communication",
    "RPRT": "report",
    "SER": "periodical",  # serial publication
    "SLIDE": "speech",  # presentation
    "SOUND": "song",  # sound recording
    "STAND": "standard",
    "STAT": "legislation",  # statute
    "THES": "thesis",
    "UNBILL": "bill",
    "UNPB": "manuscript",  # unpublished work
    "UNPD": "manuscript",
    "VIDEO": "motion_picture",
    "WEB": "webpage",
}

# CSL type -> the RIS type we write, and whether reading it back gives the same CSL type.
CSL_TO_RIS: dict[str, str] = {
    "article-journal": "JOUR",
    "article-magazine": "MGZN",
    "article-newspaper": "NEWS",
    "bill": "BILL",
    "book": "BOOK",
    "chapter": "CHAP",
    "classic": "CLSWK",
    "dataset": "DATA",
    "document": "GEN",
    "entry-dictionary": "DICT",
    "entry-encyclopedia": "ENCYC",
    "figure": "FIGURE",
    "graphic": "ART",
    "hearing": "HEAR",
    "legal_case": "CASE",
    "legislation": "STAT",
    "manuscript": "MANSCPT",
    "map": "MAP",
    "motion_picture": "MPCT",
    "musical_score": "MUSIC",
    "pamphlet": "PAMP",
    "paper-conference": "CPAPER",
    "patent": "PAT",
    "periodical": "JFULL",
    "personal_communication": "PCOMM",
    "post-weblog": "BLOG",
    "regulation": "LEGAL",
    "report": "RPRT",
    "software": "COMP",
    "song": "SOUND",
    "speech": "SLIDE",
    "standard": "STAND",
    "thesis": "THES",
    "webpage": "ELEC",
    # No RIS type of their own: the nearest one, reported as a change.
    "article": "GEN",
    "broadcast": "MPCT",
    "collection": "GEN",
    "entry": "GEN",
    "event": "GEN",
    "interview": "PCOMM",
    "performance": "GEN",
    "post": "ICOMM",
    "review": "JOUR",
    "review-book": "JOUR",
    "treaty": "GEN",
}
_EXACT_CSL = frozenset(c for c, r in CSL_TO_RIS.items() if RIS_TO_CSL[r] == c)

# Some exporters (Mendeley, old RefWorks) write the type's name instead of its code.
_TYPE_NAMES: dict[str, str] = {
    "journal article": "JOUR",
    "journal": "JOUR",
    "article": "JOUR",
    "book": "BOOK",
    "whole book": "BOOK",
    "book section": "CHAP",
    "book chapter": "CHAP",
    "edited book": "EDBOOK",
    "conference paper": "CPAPER",
    "conference proceeding": "CONF",
    "conference proceedings": "CONF",
    "thesis": "THES",
    "thesis/dissertation": "THES",
    "dissertation": "THES",
    "report": "RPRT",
    "generic": "GEN",
    "web page": "ELEC",
    "electronic article": "EJOUR",
    "electronic book": "EBOOK",
    "magazine article": "MGZN",
    "newspaper article": "NEWS",
    "patent": "PAT",
    "computer program": "COMP",
    "dataset": "DATA",
    "data file": "DATA",
    "map": "MAP",
    "manuscript": "MANSCPT",
    "unpublished work": "UNPB",
}


def _ris_type(value: str) -> str | None:
    """The RIS type code of a ``TY`` value (code or name), or None when unknown."""
    code = value.strip().upper()
    if code in RIS_TO_CSL:
        return code
    return _TYPE_NAMES.get(value.strip().lower())


# --- Tags --------------------------------------------------------------------------------

# Tags whose continuation lines are new values rather than more of the same value.
_LIST_TAGS = frozenset({"AU", "A1", "A2", "A3", "A4", "ED", "KW", "UR", "L1", "L2", "LK", "SN"})
# Tags whose continuation lines are paragraphs of one text.
_MULTILINE_TAGS = frozenset({"AB", "N1", "N2"})

# Single-valued text tags: the first value wins, any other value goes to ``extra``.
_SCALAR: dict[str, str] = {
    "ID": "id",
    "TI": "title",
    "T1": "title",
    "CT": "title",
    "ST": "title_short",
    "JA": "container_title_short",
    "J2": "container_title_short",
    "J1": "container_title_short",
    "T3": "collection_title",
    "VL": "volume",
    "IS": "issue",
    "CP": "issue",
    "M1": "number",
    "M3": "genre",
    "ET": "edition",
    "PB": "publisher",
    "PU": "publisher",  # pandoc's examples
    "CY": "publisher_place",
    "PP": "publisher_place",
    "LA": "language",
    "AB": "abstract",
    "N2": "abstract",
    "N1": "note",
}
_NAME_TAGS: dict[str, str] = {
    "AU": "author",
    "A1": "author",
    "A2": "editor",
    "ED": "editor",
    "A4": "translator",
}
# CSL types that are whole works: for these a lone ``T2`` is the series (the spec's and
# Zotero's reading for BOOK), while for every part-of type ``T2`` is the container.
_WHOLE_WORKS = frozenset({"book"})
_URL_SPLIT = re.compile(r"\s*;\s*(?=[A-Za-z][A-Za-z0-9+.-]*://)")
_SN_SPLIT = re.compile(r"[\s;,]+")
_KINDS = {
    "(print)": "print",
    "(electronic)": "electronic",
    "(online)": "electronic",
    "(linking)": "linking",
}
_TAG_LINE = re.compile(r"([A-Z][A-Z0-9]) {1,2}-(?: +(.*))?$")
_BREAKS = str.maketrans({c: " " for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


def _is_tag(tag: str) -> bool:
    return len(tag) == 2 and "A" <= tag[0] <= "Z" and ("A" <= tag[1] <= "Z" or "0" <= tag[1] <= "9")


def _tag_line(line: str) -> tuple[str, str] | None:
    """``(tag, value)`` when ``line`` is a RIS tag line, else None (fast path first)."""
    if line[2:6] == "  - ":
        c0, c1 = line[0], line[1]
        if "A" <= c0 <= "Z" and ("A" <= c1 <= "Z" or "0" <= c1 <= "9"):
            return line[:2], line[6:].strip()
        return None
    if not line[:1].isupper():
        return None
    match = _TAG_LINE.match(line.rstrip())
    if match is None:
        return None
    return match.group(1), (match.group(2) or "").strip()


# --- Reading -----------------------------------------------------------------------------


class _Chunk:
    """One record being read: its tagged values and raw lines, for errors."""

    __slots__ = ("entries", "index", "lines", "start", "wos")

    def __init__(self, start: int, index: int, wos: bool) -> None:
        self.start = start
        self.index = index
        self.wos = wos
        self.entries: list[list[str]] = []
        self.lines: list[str] = []

    def raw(self) -> str:
        # The common lines are kept as read, line end and all (see ``read``).
        return "\n".join([line.rstrip("\r\n") for line in self.lines])


# The same words whether the next record or the end of the input cut the record short,
# and no positions in them (those are the error's line and record), so a file converted
# in parallel chunks reports exactly what one process reports.
_TRUNCATED = "truncated: no ER line before the next record or the end of the input"
_WOS_FILE_TAGS = ("FN ", "VR ")
_PLAIN_TAGS = frozenset(
    a + b for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
) - {"ER", "TY"}
_RECORD_NUMBER = re.compile(r"\s*\d{1,9}\.\s*$")
_WOS_LIST_TAGS = frozenset({"AU", "AF", "BA", "BF", "CA", "GP", "BE", "CR"})


def read(stream: TextIO, source: str) -> Iterator[ReadResult]:
    """Stream RIS (or Web of Science tagged) records; yield a located error per bad chunk."""
    chunk: _Chunk | None = None
    # The open RIS record's entries and lines (None outside one, or in a Web of Science
    # record), kept in locals so the common line costs no attribute look-up.
    entries: list[list[str]] | None = None
    lines: list[str] = []
    index = 0
    junk: list[str] = []
    junk_start = 0
    junk_count = 0

    def junk_error() -> ParseError:
        return ParseError(
            f"{junk_count} line(s) of text outside any record ignored",
            source=source,
            line=junk_start,
            raw="\n".join(junk),
            format_name=NAME,
        )

    for lineno, raw in enumerate(stream, start=1):
        if entries is not None and raw[2:6] == "  - ":
            # The common lines, inline: a tag inside a record (no BOM can start them).
            # The value's strip() also takes the line end; the line is kept as read.
            tag = raw[:2]
            if tag in _PLAIN_TAGS:
                entries.append([tag, raw[6:].strip()])
                lines.append(raw)
                continue
            if tag == "ER":
                assert chunk is not None
                yield _finish(chunk, source)
                chunk = entries = None
                continue
        line = raw.rstrip("\r\n")
        if line[:1] == "\ufeff":
            line = line.lstrip("\ufeff")
        if chunk is None:
            if not line.strip():
                continue
            tagged = _tag_line(line)
            wos_start = line[:3] == "PT " and line[3:].strip().isalpha()
            if (tagged is not None and tagged[0] == "TY") or wos_start:
                if junk_count:
                    yield junk_error()
                    junk, junk_count = [], 0
                index += 1
                chunk = _Chunk(lineno, index, wos=wos_start)
                lines = chunk.lines
                entries = None if wos_start else chunk.entries
                lines.append(line)
                chunk.entries.append(["TY" if tagged is not None else "PT", line[3:].strip()])
                if tagged is not None:
                    chunk.entries[0][1] = tagged[1]
                continue
            if line.startswith(_WOS_FILE_TAGS) or line.strip() == "EF":
                continue  # Web of Science file header and trailer: structure, not data
            if _RECORD_NUMBER.match(line):
                continue  # "1.", "2." before each record of a numbered export: no data
            if not junk_count:
                junk_start = lineno
            junk_count += 1
            if sum(len(j) for j in junk) < 500:
                junk.append(line)
            continue
        if entries is not None and line[2:6] == "  - " and line[:2] in _PLAIN_TAGS:
            # A common line that started with a BOM.
            entries.append([line[:2], line[6:].strip()])
            lines.append(line)
            continue
        done = _wos_line(chunk, line) if chunk.wos else _ris_line(chunk, line)
        if done is None:
            lines.append(line)
            continue
        if done == "ER":
            yield _finish(chunk, source)
            chunk = entries = None
            continue
        # A new TY before this record's ER: the record is cut short.
        yield _truncated(chunk, source)
        index += 1
        chunk = _Chunk(lineno, index, wos=False)
        lines = chunk.lines
        entries = chunk.entries
        lines.append(line)
        entries.append(["TY", done.strip()])
    if junk_count:
        yield junk_error()
    if chunk is not None:
        yield _truncated(chunk, source)


def _truncated(chunk: _Chunk, source: str) -> ParseError:
    return ParseError(
        _TRUNCATED,
        source=source,
        line=chunk.start,
        record=chunk.index,
        raw=chunk.raw(),
        format_name=NAME,
    )


def _ris_line(chunk: _Chunk, line: str) -> str | None:
    """Add one line to a RIS record; return "ER" at its end, a TY value at a new record."""
    tagged = _tag_line(line)
    if tagged is not None:
        tag, value = tagged
        if tag == "ER":
            return "ER"
        if tag == "TY":
            return value or " "
        chunk.entries.append([tag, value])
        return None
    text = line.strip()
    if not text:
        return None
    if text == "ER":
        return "ER"
    last = chunk.entries[-1]
    tag = last[0]
    if tag in _LIST_TAGS:
        chunk.entries.append([tag, text])
    elif not last[1]:
        last[1] = text
    else:
        last[1] += ("\n" if tag in _MULTILINE_TAGS else " ") + text
    return None


def _wos_line(chunk: _Chunk, line: str) -> str | None:
    """Add one line to a Web of Science record; return "ER" at its end."""
    if not line.strip():
        return None
    if line[:1] == " ":
        text = line.strip()
        last = chunk.entries[-1]
        if last[0] in _WOS_LIST_TAGS:
            chunk.entries.append([last[0], text])
        else:
            last[1] = f"{last[1]} {text}" if last[1] else text
        return None
    tag = line[:2]
    if tag == "ER" and not line[2:].strip():
        return "ER"
    if _is_tag(tag) and (len(line) == 2 or line[2] == " "):
        chunk.entries.append([tag, line[3:].strip()])
        return None
    # Not a tag line: more of the last value.
    last = chunk.entries[-1]
    last[1] = f"{last[1]} {line.strip()}"
    return None


def _finish(chunk: _Chunk, source: str) -> ReadResult:
    try:
        return _build_wos(chunk.entries) if chunk.wos else _build_ris(chunk.entries)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        cause = _describe(exc) if isinstance(exc, ValidationError) else str(exc)
        return ParseError(
            cause,
            source=source,
            line=chunk.start,
            record=chunk.index,
            raw=chunk.raw(),
            format_name=NAME,
        )


def _describe(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "record"
    return f"{where}: {first['msg']}"


class _Builder:
    """Collects one record's values; first value wins, later ones are kept in ``extra``."""

    __slots__ = ("data", "extra", "identifiers", "keywords", "names", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.data: dict[str, Any] = {}
        self.extra: dict[str, list[str]] = {}
        self.names: dict[str, list[Name]] = {}
        self.identifiers: list[dict[str, str | None]] = []
        self.keywords: list[str] = []

    def keep(self, tag: str, value: str) -> None:
        key = self.prefix + tag
        found = self.extra.get(key)
        if found is None:
            self.extra[key] = [value]
        else:
            found.append(value)

    def set(self, field: str, tag: str, value: str) -> None:
        known = self.data.get(field)
        if known is None:
            self.data[field] = value
        elif known != value:  # an exact repeat (JO and JF alike) says nothing new
            self.keep(tag, value)

    def name(self, role: str, tag: str, value: str) -> None:
        try:
            if value.endswith(",") and len(value) > 1:
                # EndNote's convention for a corporate name: a trailing comma stops
                # the inversion. Our writer uses it for every literal name.
                name = make_name(literal=value[:-1])
            else:
                name = parse_name(value)
        except ValueError:
            self.keep(tag, value)
            return
        self.names.setdefault(role, []).append(name)

    def ident(self, tag: str, scheme: str, value: str, kind: str | None = None) -> None:
        if not value.isprintable() and not clean_text(value):
            self.keep(tag, value)  # nothing would be left of it as an identifier
            return
        # A plain dict: the record validates (and normalises) it once, not twice.
        self.identifiers.append({"scheme": scheme, "value": value, "kind": kind})

    def record(self, **fields: Any) -> Record:
        data = self.data
        data.update(fields)
        for role, names in self.names.items():
            data[role] = names
        if self.identifiers:
            data["identifiers"] = self.identifiers
        if self.keywords:
            data["keywords"] = self.keywords
        if self.extra:
            data["extra"] = self.extra
        return build_record(data)


_EAN = ("978", "979")


def _serials(b: _Builder, tag: str, value: str) -> None:
    """ISSNs and ISBNs in one ``SN`` value; anything else is kept as it was written."""
    if len(value) == 9 and value[4] == "-" and value[:4].isdigit() and value[5:8].isdigit():
        b.ident(tag, "issn", value)  # the common case, without the general classifier
        return
    compact = value.replace("-", "")
    if len(compact) == 13 and compact.isascii() and compact.isdigit() and compact[:3] in _EAN:
        # An ISBN-13 alone, hyphenated or not: what the classifier would make of it.
        b.ident(tag, "isbn", compact)
        return
    tokens = [t for t in _SN_SPLIT.split(value) if t]
    found = 0
    leftover: list[str] = []
    for i, token in enumerate(tokens):
        if token.startswith("("):
            continue
        ident = classify_identifier(token)
        if ident is None or ident.scheme not in ("issn", "isbn"):
            if any(c.isdigit() for c in token):
                leftover.append(token)
            continue
        kind = None
        if ident.scheme == "issn" and i + 1 < len(tokens):
            kind = _KINDS.get(tokens[i + 1].lower())
        b.ident(tag, ident.scheme, ident.value, kind)
        found += 1
    if not found:
        b.keep(tag, value)
    elif leftover:
        b.keep(tag, " ".join(leftover))


def _pages(first: str | None, last: str | None) -> str | None:
    if first and last:
        return last if first == last else f"{first}-{last}"
    return first or last


def _date_score(date: Date) -> int:
    return len(date.parts) + (date.season is not None)


def _issued(b: _Builder, py: str | None, da: str | None, da_tag: str = "DA") -> Date | None:
    """Merge the year (``PY``/``Y1``) with the full date (``DA``), keeping what disagrees."""
    year = parse_date(py) if py else None
    full = parse_date(da) if da else None
    if full is None:
        return year
    if year is None:
        return full
    if full.parts and year.parts:
        if full.year != year.year:
            b.keep(da_tag, da or "")
            return year
        return full if _date_score(full) >= _date_score(year) else year
    if year.parts and not full.parts:
        # "DA  - July" or Web of Science "PD JUN 8": a month (and day) without the year.
        joined = parse_date(f"{da} {year.year}")
        if joined is not None and joined.parts and joined.year == year.year:
            return joined if _date_score(joined) > _date_score(year) else year
        b.keep(da_tag, da or "")
        return year
    if full.parts:
        if py:
            b.keep("PY", py)
        return full
    b.keep(da_tag, da or "")
    return year


# Tags read after the whole record is seen, because their meaning depends on each other:
# the first value of each is kept aside, a different repeat goes to ``extra``.
_DEFERRED = frozenset({"T2", "JO", "JF", "BT", "SP", "EP", "PY", "Y1", "DA", "C7"})


# One look-up per entry: what a tag is (its handling and field, role or deferred key).
_AS_SCALAR, _AS_NAME, _AS_LATER, _AS_KW, _AS_DO, _AS_SN, _AS_URL, _AS_Y2, _AS_AN = range(9)
_DISPATCH: dict[str, tuple[int, str]] = {
    **{tag: (_AS_LATER, "PY" if tag == "Y1" else tag) for tag in _DEFERRED},
    **{tag: (_AS_NAME, role) for tag, role in _NAME_TAGS.items()},
    "KW": (_AS_KW, ""),
    "DO": (_AS_DO, ""),
    "SN": (_AS_SN, ""),
    "UR": (_AS_URL, ""),
    "LK": (_AS_URL, ""),
    "L1": (_AS_URL, ""),
    "L2": (_AS_URL, ""),
    "Y2": (_AS_Y2, ""),
    "AN": (_AS_AN, ""),
    **{tag: (_AS_SCALAR, field) for tag, field in _SCALAR.items()},
}


def _build_ris(entries: list[list[str]]) -> Record:
    b = _Builder("ris:")
    ty_value = entries[0][1]
    code = _ris_type(ty_value)
    csl_type = RIS_TO_CSL[code] if code is not None else "document"
    if code is None:
        if ty_value:
            b.keep("TY", ty_value)
    elif CSL_TO_RIS.get(csl_type) != code:
        # Several RIS types share one CSL type: keep the original for a faithful write.
        b.keep("TY", code)
    later: dict[str, str] = {}
    data = b.data
    names = b.names
    keep = b.keep
    dispatch = _DISPATCH.get
    first = True
    for tag, value in entries:
        if first:
            first = False
            continue  # the TY entry, read above
        if not value:
            continue  # "SP  -": an empty tag carries nothing
        how = dispatch(tag)
        if how is None:
            keep(tag, value)
            continue
        kind, field = how
        if kind == _AS_SCALAR:
            known = data.get(field)
            if known is None:
                data[field] = value
            elif known != value:  # an exact repeat (JO and JF alike) says nothing new
                keep(tag, value)
        elif kind == _AS_NAME:
            try:
                if value[-1] == "," and len(value) > 1:
                    # EndNote's convention for a corporate name: a trailing comma stops
                    # the inversion. Our writer uses it for every literal name.
                    name = make_name(literal=value[:-1])
                else:
                    name = parse_name(value)
            except ValueError:
                keep(tag, value)
                continue
            role = names.get(field)
            if role is None:
                names[field] = [name]
            else:
                role.append(name)
        elif kind == _AS_LATER:
            if tag == "C7":
                keep(tag, value)  # the article number stays as written (see below)
            known = later.get(field)
            if known is None:
                later[field] = value
            elif known != value and tag != "C7":
                keep(tag, value)
        elif kind == _AS_KW:
            for word in value.split(";") if ";" in value else (value,):
                word = word.strip()
                if word:
                    b.keywords.append(word)
        elif kind == _AS_DO:
            b.ident(tag, "doi", value)
        elif kind == _AS_SN:
            _serials(b, tag, value)
        elif kind == _AS_URL:
            for url in _URL_SPLIT.split(value) if ";" in value else (value,):
                if "://" in url and not url.lower().startswith("file:"):
                    b.ident(tag, "url", url)
                else:
                    keep(tag, url)  # a local file path is no identifier
        elif kind == _AS_Y2:
            if "accessed" in data:
                keep(tag, value)
            else:
                accessed = parse_date(value)
                if accessed is not None:
                    data["accessed"] = accessed
        elif value[:5].upper() == "PMID:" and parse_pmid(value):  # AN
            b.ident(tag, "pmid", value)
        else:
            keep(tag, value)
    if later:
        _containers(b, later, csl_type in _WHOLE_WORKS)
        # C7, the article number, is the page when there is no SP/EP (e-only articles),
        # as Crossref and PubMed cite it; it also stays in ``extra`` as written.
        page = _pages(later.get("SP"), later.get("EP")) or later.get("C7")
        if page:
            b.data["page"] = page
        issued = _issued(b, later.get("PY"), later.get("DA"))
        if issued is not None:
            b.data["issued"] = issued
    return b.record(type=csl_type)


def _containers(b: _Builder, later: dict[str, str], whole: bool) -> None:
    """The container from ``T2``, ``JF`` or ``JO`` (in that order of trust), and ``BT``.

    Zotero writes T2 for the journal and reads JO as its abbreviation; databases that
    write JO alone (ScienceDirect, IEEE) put the full name there. So JO is the container
    only when nothing better says so, and otherwise the short title.
    """
    t2 = later.get("T2")
    if t2 is not None and whole and "collection_title" not in b.data:
        b.data["collection_title"] = t2  # a book's lone T2 is its series (spec, Zotero)
        t2 = None
    for tag, value in (("T2", t2), ("JF", later.get("JF")), ("JO", later.get("JO"))):
        if value is None:
            continue
        known = b.data.get("container_title")
        if known is None:
            b.data["container_title"] = value
        elif known == value:
            continue
        elif tag == "JO" and "container_title_short" not in b.data:
            b.data["container_title_short"] = value
        else:
            b.keep(tag, value)
    bt = later.get("BT")
    if bt is not None:
        b.set("title" if whole else "container_title", "BT", bt)


# --- Web of Science tagged files ---------------------------------------------------------

_WOS_PT = {
    "J": "article-journal",
    "B": "book",
    "S": "chapter",
    "P": "patent",
    "C": "paper-conference",
}
_WOS_SCALAR: dict[str, str] = {
    "TI": "title",
    "SO": "container_title",
    "JI": "container_title_short",
    "SE": "collection_title",
    "LA": "language",
    "AB": "abstract",
    "PU": "publisher",
    "PI": "publisher_place",
    "VL": "volume",
    "IS": "issue",
    "PG": "number_of_pages",
}


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


def _build_wos(entries: list[list[str]]) -> Record:
    b = _Builder("wos:")
    pt = entries[0][1]
    csl_type = _WOS_PT.get(pt.upper(), "article-journal")
    b.keep("PT", pt)
    tags: dict[str, list[str]] = {}
    for tag, value in entries[1:]:
        if value:
            tags.setdefault(tag, []).append(value)
    doc_type = " ".join(tags.get("DT", ())).lower()
    if "proceedings paper" in doc_type:
        csl_type = "paper-conference"
    elif "book chapter" in doc_type:
        csl_type = "chapter"
    full_names = tags.pop("AF", None)
    short_names = tags.pop("AU", None)
    for value in full_names or short_names or ():
        b.name("author", "AU", value)
    if full_names and short_names and short_names != full_names:
        for value in short_names:
            b.keep("AU", value)
    py = _first(tags.pop("PY", None))
    pd = _first(tags.pop("PD", None))
    for tag, values in tags.items():
        for value in values:
            field = _WOS_SCALAR.get(tag)
            if field is not None:
                b.set(field, tag, value)
            elif tag in ("BE",):
                b.name("editor", tag, value)
            elif tag == "CA":
                b.names.setdefault("author", []).append(Name(literal=value))
            elif tag == "DE":
                b.keywords.extend(w.strip() for w in value.split(";") if w.strip())
            elif tag == "SN":
                b.ident(tag, "issn", value, "print")
            elif tag == "EI":
                b.ident(tag, "issn", value, "electronic")
            elif tag == "BN":
                _serials(b, tag, value)
            elif tag == "DI":
                b.ident(tag, "doi", value)
            elif tag == "PM":
                b.ident(tag, "pmid", value)
            elif tag in ("BP", "EP"):
                continue  # joined into the page below
            else:
                b.keep(tag, value)
    page = _pages(_first(tags.get("BP")), _first(tags.get("EP"))) or _first(tags.get("AR"))
    if page:
        b.data["page"] = page
    issued = _issued(b, py, pd, "PD")
    if issued is not None:
        b.data["issued"] = issued
    return b.record(type=csl_type)


# --- Writing -----------------------------------------------------------------------------

_SEASON_NAMES = {1: "Spring", 2: "Summer", 3: "Autumn", 4: "Winter"}


def _date_text(date: Date) -> str | None:
    """``YYYY/MM/DD/other`` as the spec writes ``DA`` and ``Y2``; None when impossible."""
    parts = date.parts
    if not parts or not 0 <= parts[0] <= 9999:
        return None
    month = f"{parts[1]:02d}" if len(parts) > 1 else ""
    day = f"{parts[2]:02d}" if len(parts) > 2 else ""
    season = _SEASON_NAMES.get(date.season or 0, "")
    return f"{parts[0]:04d}/{month}/{day}/{season}"


def _one_line(value: str) -> str:
    """``value`` on one line: every line separator Python knows becomes a space."""
    if value.isprintable():
        return value
    return clean_text(value.translate(_BREAKS))


def _literal_name(name: Name) -> str:
    return f"{name.literal},"


_HEAD_FIELDS = (("ID", "id"), ("TI", "title"), ("ST", "title_short"))
_NAME_FIELDS = (("AU", "author"), ("ED", "editor"), ("A4", "translator"))
_MIDDLE_FIELDS = (("J2", "container_title_short"), ("T3", "collection_title"))
_TAIL_FIELDS = (
    ("ET", "edition"),
    ("M1", "number"),
    ("M3", "genre"),
    ("PB", "publisher"),
    ("CY", "publisher_place"),
    ("LA", "language"),
)
_ID_TAGS = {"doi": "DO", "issn": "SN", "isbn": "SN", "url": "UR"}


def _put(out: list[str], flattened: list[str], tag: str, value: str, field: str) -> None:
    """Append one ``TAG  - value`` line; remember the field when breaks were flattened."""
    if not value.isprintable():
        line = _one_line(value)
        if line != value:
            flattened.append(field)
        value = line
    if value:
        out.append(f"{tag}  - {value}\n")


class RisWriter(Writer):
    """RIS as DESIGN.md specifies it; ``write`` returns the record's loss report."""

    format_name = NAME
    item_separator = "\n"  # the blank line between records, also between parallel chunks

    def write(self, record: Record) -> list[Loss]:
        # Each value goes out inline when it is printable (the common case); ``_put``
        # handles the rest (empty values, line breaks), so the text is the same either way.
        losses = table_losses(record, NAME)
        out: list[str] = ["\n"] if self.count else []
        add = out.append
        flattened: list[str] = []
        extra = record.extra
        add(f"TY  - {self._type(record, losses)}\n")
        value = record.id
        if value:
            if value.isprintable():
                add(f"ID  - {value}\n")
            else:
                _put(out, flattened, "ID", value, "id")
        value = record.title
        if value:
            if value.isprintable():
                add(f"TI  - {value}\n")
            else:
                _put(out, flattened, "TI", value, "title")
        value = record.title_short
        if value:
            _put(out, flattened, "ST", value, "title_short")
        for tag, field in _NAME_FIELDS:
            for name in getattr(record, field):
                if name.literal is not None:
                    text = _literal_name(name)
                else:
                    text = format_name_inverted(name)
                if text and text.isprintable():
                    add(f"{tag}  - {text}\n")
                else:
                    _put(out, flattened, tag, text, field)
        value = record.container_title
        if value:
            if value.isprintable():
                add(f"T2  - {value}\n")
            else:
                _put(out, flattened, "T2", value, "container_title")
            if record.type in _WHOLE_WORKS and not record.collection_title:
                losses.append(
                    Loss(
                        "container_title",
                        "a book's lone T2 is read as its series (collection-title)",
                        "changed",
                    )
                )
        value = record.container_title_short
        if value:
            _put(out, flattened, "J2", value, "container_title_short")
        value = record.collection_title
        if value:
            _put(out, flattened, "T3", value, "collection_title")
        if record.issued is not None:
            self._dates(record.issued, out, losses)
        if record.accessed is not None:
            accessed = _date_text(record.accessed)
            if accessed is None:
                losses.append(Loss("accessed", "RIS dates need a year from 0 to 9999"))
            else:
                add(f"Y2  - {accessed}\n")
        value = record.volume
        if value:
            if value.isprintable():
                add(f"VL  - {value}\n")
            else:
                _put(out, flattened, "VL", value, "volume")
        value = record.issue
        if value:
            if value.isprintable():
                add(f"IS  - {value}\n")
            else:
                _put(out, flattened, "IS", value, "issue")
        page = record.page
        if page:
            first, last = split_pages(page)
            if last and first and "-" not in last and "," not in page:
                if page.isprintable():
                    add(f"SP  - {first}\nEP  - {last}\n")
                else:
                    _put(out, flattened, "SP", first, "page")
                    _put(out, flattened, "EP", last, "page")
            elif page.isprintable():
                add(f"SP  - {page}\n")
            else:
                _put(out, flattened, "SP", page, "page")
        for tag, field in _TAIL_FIELDS:
            value = getattr(record, field)
            if value:
                if value.isprintable():
                    add(f"{tag}  - {value}\n")
                else:
                    _put(out, flattened, tag, value, field)
        for ident in record.identifiers:
            scheme = ident.scheme
            id_tag = _ID_TAGS.get(scheme)
            if id_tag is not None:
                value = ident.value
                if value and value.isprintable():
                    add(f"{id_tag}  - {value}\n")
                else:
                    _put(out, flattened, id_tag, value, "identifiers." + scheme)
            elif scheme == "pmid":
                # PubMed's id is the accession number EndNote and Zotero keep in AN.
                _put(out, flattened, "AN", f"PMID: {ident.value}", "identifiers.pmid")
        for keyword in record.keywords:
            if keyword and keyword.isprintable():
                add(f"KW  - {keyword}\n")
            else:
                _put(out, flattened, "KW", keyword, "keywords")
            if ";" in keyword:
                losses.append(
                    Loss("keywords", f"{keyword!r} contains ';': read back as two", "changed")
                )
        value = record.abstract
        if value:
            if value.isprintable():
                add(f"AB  - {value}\n")
            else:
                _put(out, flattened, "AB", value, "abstract")
        if record.note:
            _put(out, flattened, "N1", record.note, "note")
        for key, values in extra.items():
            if not key.startswith("ris:") or key == "ris:TY":
                continue  # other formats' keys: in table_losses; TY: written first
            tag = key[4:]
            if not _is_tag(tag) or tag == "ER":
                losses.append(Loss(f"extra.{key}", f"{tag!r} is not a RIS tag"))
                continue
            for value in values:
                if value and value.isprintable():
                    add(f"{tag}  - {value}\n")
                else:
                    _put(out, flattened, tag, value, f"extra.{key}")
        add("ER  - \n")
        self.stream.write("".join(out))
        self.count += 1
        if flattened:
            for field in dict.fromkeys(flattened):
                losses.append(
                    Loss(
                        field, "line breaks replaced by spaces: RIS values are one line", "changed"
                    )
                )
        return losses

    @staticmethod
    def _type(record: Record, losses: list[Loss]) -> str:
        """The RIS type: the one the record was read with when it still fits."""
        code = CSL_TO_RIS.get(record.type, "GEN")
        original = record.extra.get("ris:TY")
        if original:
            wanted = _ris_type(original[0])
            if wanted is not None and RIS_TO_CSL[wanted] == record.type:
                return wanted
            losses.append(
                Loss("extra.ris:TY", f"RIS type {original[0]!r} no longer fits the record")
            )
        if record.type not in _EXACT_CSL:
            losses.append(
                Loss(
                    "type", f"RIS has no type for CSL {record.type!r}: written as {code}", "changed"
                )
            )
        return code

    @staticmethod
    def _dates(issued: Date, out: list[str], losses: list[Loss]) -> None:
        parts = issued.parts
        if not parts:
            literal = _one_line(issued.literal or "")
            if literal:
                out.append(f"PY  - {literal}\n")
                back = parse_date(literal)
                if back is None or back.parts or back.literal != issued.literal:
                    losses.append(
                        Loss("issued", "the date as written reads back as a parsed date", "changed")
                    )
            return
        if not 0 <= parts[0] <= 9999:
            out.append(f"PY  - {parts[0]}\n")
            if len(parts) > 1 or issued.season:
                losses.append(Loss("issued", "RIS dates need a year from 0 to 9999", "changed"))
            return
        out.append(f"PY  - {parts[0]:04d}\n")
        if len(parts) > 1 or issued.season:
            out.append(f"DA  - {_date_text(issued)}\n")


def sniff(head: str) -> bool:
    """True when the head looks like RIS: a ``TY`` line among the first non-blank lines.

    A few lines of export boilerplate may come first (``Record #1 of 2``, ``1.``), as
    Zotero allows; a Web of Science tagged file starts ``FN ...`` then ``VR ...`` or ``PT``.
    """
    seen = 0
    lines = head.lstrip("\ufeff").split("\n", 12)[:12]
    for raw in lines:
        line = raw.strip("\r").lstrip("\ufeff")
        if not line.strip():
            continue
        seen += 1
        if seen == 1 and line.startswith("FN ") and "Web of Science" in line:
            return True
        if seen == 1 and line[:3] == "PT " and line[3:].strip() in _WOS_PT:
            return True
        tagged = _tag_line(line.lstrip())
        if tagged is not None and tagged[0] == "TY":
            return True
        if seen >= 6:
            return False
    return False


FORMAT = Format(
    name=NAME,
    title="RIS (EndNote, Zotero, Mendeley, RefWorks; reads Web of Science tagged files)",
    extensions=(".ris",),
    media_type="application/x-research-info-systems",
    read=read,
    writer=RisWriter,
    sniff=sniff,
    # A TY line always starts a record (it even ends an unterminated one), so a big file
    # can be split before any TY line and read in parallel with the same result.
    record_start=rb"TY {1,2}-",
)
