"""CSL-JSON (citeproc-json): an array of CSL items, or a single item.

Reading streams: the array is walked item by item with ``json.JSONDecoder.raw_decode``
over a sliding buffer filled from the stream in chunks, so a 100,000-item file is never
held whole. A JSON syntax error gives a located ``ParseError`` (line, column, item); the
items before it have already been yielded, and in a pretty-printed or one-item-a-line
array reading resumes at the next item boundary.

Variables the record model has no field for are kept in ``Record.extra`` under
``csl:<key>`` (``csl:container-author``, ``csl:categories``, ``csl:custom``...). Extra
values are text: a string is stored as it is, every other JSON value (numbers, booleans,
arrays, objects) as compact JSON; a string that would itself read as JSON (``"12"``,
``"true"``, ``"[1]"``) is stored JSON-quoted, so the writer can always tell the two
apart and restore the original value and type. Name flags and parts a name cannot hold
(``parse-names``, a ``literal`` next to name parts, Crossref's ``affiliation``) are kept
as ``csl:author[0].parse-names``; date parts the model cannot hold as
``csl:issued.raw``. The writer puts each ``csl:`` key back where the CSL schema allows
it and everything else into the item's ``custom`` object, which the reader unpacks
again, so a second round trip is exact.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from typing import Any, TextIO

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError, to_json

from harvester.errors import ParseError
from harvester.formats._base import (
    Format,
    Loss,
    ReadResult,
    Writer,
    describe_validation_error,
    renamed_entries,
)
from harvester.formats.fidelity import table_losses
from harvester.model import (
    CSL_TYPES,
    Date,
    Identifier,
    Name,
    Record,
    build_record,
    make_date,
    make_identifier,
)
from harvester.normalize.dates import parse_date, parse_season
from harvester.normalize.identifiers import parse_isbns, parse_issns

NAME = "csl-json"
_PREFIX = "csl:"
_CHUNK = 1 << 16
_MAX_ITEM = 64 << 20  # one item bigger than this is taken as an unterminated string
_WS = " \t\n\r"
_NON_WS = re.compile(r"[^ \t\n\r]")

# What the official schema (csl-data.json, CSL 1.0.2) allows for each item property:
# "s" string, "sn" string or number, "names", "date", "list" (of strings), "object".
_SCHEMA: dict[str, str] = {
    "type": "s", "id": "sn", "citation-key": "s", "categories": "list", "language": "s",
    "journalAbbreviation": "s", "shortTitle": "s", "author": "names", "chair": "names",
    "collection-editor": "names", "compiler": "names", "composer": "names",
    "container-author": "names", "contributor": "names", "curator": "names",
    "director": "names", "editor": "names", "editorial-director": "names",
    "executive-producer": "names", "guest": "names", "host": "names",
    "interviewer": "names", "illustrator": "names", "narrator": "names",
    "organizer": "names", "original-author": "names", "performer": "names",
    "producer": "names", "recipient": "names", "reviewed-author": "names",
    "script-writer": "names", "series-creator": "names", "translator": "names",
    "accessed": "date", "available-date": "date", "event-date": "date", "issued": "date",
    "original-date": "date", "submitted": "date", "abstract": "s", "annote": "s",
    "archive": "s", "archive_collection": "s", "archive_location": "s",
    "archive-place": "s", "authority": "s", "call-number": "s", "chapter-number": "sn",
    "citation-number": "sn", "citation-label": "s", "collection-number": "sn",
    "collection-title": "s", "container-title": "s", "container-title-short": "s",
    "dimensions": "s", "division": "s", "DOI": "s", "edition": "sn", "event": "s",
    "event-title": "s", "event-place": "s", "first-reference-note-number": "sn",
    "genre": "s", "ISBN": "s", "ISSN": "s", "issue": "sn", "jurisdiction": "s",
    "keyword": "s", "locator": "sn", "medium": "s", "note": "s", "number": "sn",
    "number-of-pages": "sn", "number-of-volumes": "sn", "original-publisher": "s",
    "original-publisher-place": "s", "original-title": "s", "page": "sn",
    "page-first": "sn", "part": "sn", "part-title": "s", "PMCID": "s", "PMID": "s",
    "printing": "sn", "publisher": "s", "publisher-place": "s", "references": "s",
    "reviewed-genre": "s", "reviewed-title": "s", "scale": "s", "section": "s",
    "source": "s", "status": "s", "supplement": "sn", "title": "s", "title-short": "s",
    "URL": "s", "version": "s", "volume": "sn", "volume-title": "s",
    "volume-title-short": "s", "year-suffix": "s", "custom": "object",
}  # fmt: skip
_NAME_PARTS = ("family", "given", "dropping-particle", "non-dropping-particle", "suffix")
_NAME_FLAGS = frozenset({"comma-suffix", "static-ordering", "parse-names"})
_DATE_KEYS = frozenset({"date-parts", "season", "circa", "literal", "raw"})

# CSL variable -> Record field, for the plain text fields.
_TEXT_FIELDS: dict[str, str] = {
    "title": "title", "title-short": "title_short", "container-title": "container_title",
    "container-title-short": "container_title_short",
    "collection-title": "collection_title", "collection-number": "collection_number",
    "volume": "volume", "issue": "issue", "number": "number",
    "number-of-pages": "number_of_pages", "edition": "edition", "publisher": "publisher",
    "publisher-place": "publisher_place", "genre": "genre", "language": "language",
    "abstract": "abstract", "note": "note",
}  # fmt: skip
_ROLES = ("author", "editor", "translator")
_DATES = ("issued", "accessed")
# Keys the reader maps and the writer writes itself: an extra under one of these names
# cannot be written back (it would clash), and is reported instead.
_MAPPED = frozenset(
    {"id", "type", "page", "page-first", "keyword", "DOI", "ISSN", "ISBN", "PMID", "PMCID"}
    | {"URL", "custom", *_TEXT_FIELDS, *_ROLES, *_DATES}
)
_SCHEME_KEYS = (("doi", "DOI"), ("issn", "ISSN"), ("isbn", "ISBN"), ("pmid", "PMID"))
_SCHEME_KEYS2 = (("pmcid", "PMCID"), ("url", "URL"))
_SCHEME_KEYS_ALL = (*_SCHEME_KEYS, *_SCHEME_KEYS2)

# Item types other tools put into CSL-JSON that are not CSL types (Crossref's
# citeproc-json uses its own work types; older exporters use CSL 0.8 names).
_TYPE_ALIASES: dict[str, str] = {
    "journal-article": "article-journal", "proceedings-article": "paper-conference",
    "book-chapter": "chapter", "book-section": "chapter", "book-part": "chapter",
    "monograph": "book", "edited-book": "book", "reference-book": "book",
    "book-series": "book", "book-set": "book", "book-track": "chapter",
    "reference-entry": "entry", "dissertation": "thesis", "posted-content": "article",
    "journal": "periodical", "journal-issue": "periodical", "journal-volume": "periodical",
    "proceedings": "book", "proceedings-series": "book", "report-series": "report",
    "report-component": "report", "component": "document", "peer-review": "review",
    "database": "dataset", "other": "document", "standard-series": "standard",
    "personal-communication": "personal_communication", "legal-case": "legal_case",
    "motion-picture": "motion_picture", "musical-score": "musical_score",
    "web-page": "webpage", "blog-post": "post-weblog", "newspaper-article": "article-newspaper",
    "magazine-article": "article-magazine",
}  # fmt: skip
_CSL_TYPE_SET = frozenset(CSL_TYPES)

# A string whose first character is one of these may itself be valid JSON.
_JSONISH = frozenset('[{"-0123456789tfn')
_EXTRA_KEY = re.compile(r"^([a-z-]+)\[(\d+)\]\.(.+)$")
_SURROGATE = re.compile("[\ud800-\udfff]")

# NaN and Infinity are not JSON: read them as the text they are, never as floats that
# no JSON writer may write back.
_decoder = json.JSONDecoder(parse_constant=str)
_encode_item = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


class _ItemError(ValueError):
    """A JSON item that is not a valid CSL item."""


# ---------------------------------------------------------------------------------------
# Extra values: text in Record.extra, any JSON value in CSL.


def encode_extra(value: Any) -> str:
    """Text for ``Record.extra`` that :func:`decode_extra` turns back into ``value``."""
    if isinstance(value, str):
        if value[:1] in _JSONISH and _is_json(value):
            return json.dumps(value)
        return value
    return json.dumps(value, separators=(",", ":"))


def decode_extra(text: str) -> Any:
    """The JSON value an extra text stands for (see the module docstring)."""
    if text[:1] in _JSONISH:
        try:
            return _decoder.decode(text)
        except ValueError:
            pass
    return text


def _is_json(text: str) -> bool:
    try:
        _decoder.decode(text)
    except ValueError:
        return False
    return True


def _clean_key(key: str) -> str:
    """A JSON key may hold escaped lone surrogates, which no UTF-8 output can carry."""
    return _SURROGATE.sub("\ufffd", key) if not key.isascii() else key


# ---------------------------------------------------------------------------------------
# Reading: one JSON item -> Record.


def _text(key: str, value: Any, extra: dict[str, list[str]]) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value)
    if value is None:
        return None
    if isinstance(value, list):
        # Crossref's citeproc-json writes titles as lists: keep the first, and the
        # whole list in extra when it held more than that.
        texts = [_scalar(v) for v in value]
        if len(value) > 1 or None in texts:
            extra[_PREFIX + key] = [encode_extra(value)]
        return next((t for t in texts if t), None)
    raise _ItemError(f"{key}: expected text, found {_json_type(value)}")


def _scalar(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value)
    return None


def _number(value: int | float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number"


def _names(role: str, value: Any, extra: dict[str, list[str]]) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _ItemError(f"{role}: expected a list of names, found {_json_type(value)}")
    out: list[dict[str, str]] = []
    for i, name in enumerate(value):
        if type(name) is dict and len(name) == 2:
            # The common case, {"family": ..., "given": ...}, goes to the model as it is.
            family, given = name.get("family"), name.get("given")
            if type(family) is str and type(given) is str and family and given:
                out.append(name)
                continue
        if not isinstance(name, dict):
            raise _ItemError(f"{role} {i + 1}: expected a name object, found {_json_type(name)}")
        parts: dict[str, str] = {}
        literal: str | None = None
        for key, part in name.items():
            if key in _NAME_PARTS or key == "literal":
                if part is None or part == "":
                    continue
                if not isinstance(part, str):
                    if isinstance(part, int | float) and not isinstance(part, bool):
                        part = _number(part)
                    else:
                        raise _ItemError(
                            f"{role} {i + 1}: {key} must be text, found {_json_type(part)}"
                        )
                if key == "literal":
                    literal = part
                else:
                    parts[key] = part
            else:
                extra[f"{_PREFIX}{role}[{i}].{_clean_key(key)}"] = [encode_extra(part)]
        if "family" in parts or "given" in parts:
            if literal is not None:
                # Both: the parts are the richer form; the literal is kept beside them.
                extra[f"{_PREFIX}{role}[{i}].literal"] = [encode_extra(literal)]
            out.append(parts)
        elif literal is not None:
            if parts:
                for key, part in parts.items():
                    extra[f"{_PREFIX}{role}[{i}].{key}"] = [encode_extra(part)]
            out.append({"literal": literal})
        else:
            raise _ItemError(f"{role} {i + 1}: a name needs family/given parts or a literal")
    return out


def _part(value: Any, key: str) -> int | None:
    if isinstance(value, bool):
        raise _ItemError(f"{key}: bad date-parts value {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            pass
    if value is None:
        return None
    raise _ItemError(f"{key}: bad date-parts value {value!r}")


def _date_parts(raw: list[Any], key: str) -> tuple[tuple[int, ...], int | None]:
    """One ``[y, m, d]`` list -> parts and a season (months 13-16 and 21-24 are seasons)."""
    if not isinstance(raw, list):
        raise _ItemError(f"{key}: date-parts must be lists, found {_json_type(raw)}")
    if len(raw) > 3:
        raise _ItemError(f"{key}: date-parts with more than three parts: {raw!r}")
    values = [_part(v, key) for v in raw]
    parts: list[int] = []
    season: int | None = None
    for n, v in enumerate(values):
        if v is None:
            break
        if n == 1 and not 1 <= v <= 12:
            found = parse_season(str(v)) if v >= 21 else (v - 12 if 13 <= v <= 16 else None)
            if found is None:
                raise _ItemError(f"{key}: month out of range in {raw!r}")
            season = found
            break
        parts.append(v)
    return tuple(parts), season


# Dates given as nothing but integer date-parts, by those parts: such a date depends on
# them alone and adds no extras, and dates repeat through a file (Date is immutable).
_PLAIN_DATES: dict[tuple[tuple[int, ...], ...], Date | None] = {}
_PLAIN_DATES_SIZE = 4096


def _plain_date_key(value: Any) -> tuple[tuple[int, ...], ...] | None:
    """``((y, m, d), ...)`` for ``{"date-parts": [[y, m, d], ...]}`` with plain ints."""
    if type(value) is not dict or len(value) != 1:
        return None
    parts_list = value.get("date-parts")
    if type(parts_list) is not list or not 1 <= len(parts_list) <= 2:
        return None
    key = []
    for parts in parts_list:
        if type(parts) is not list or not all(type(p) is int for p in parts):
            return None
        key.append(tuple(parts))
    return tuple(key)


def _date(key: str, value: Any, extra: dict[str, list[str]]) -> Date | None:
    plain = _plain_date_key(value)
    if plain is None:
        return _read_date(key, value, extra)
    found = _PLAIN_DATES.get(plain, _MISSING)
    if found is _MISSING:
        # Errors are not kept: they are raised again, with this key, every time.
        found = _read_date(key, value, extra)
        if len(_PLAIN_DATES) >= _PLAIN_DATES_SIZE:
            _PLAIN_DATES.clear()
        _PLAIN_DATES[plain] = found
    assert found is None or type(found) is Date
    return found


_MISSING: Any = object()


def _read_date(key: str, value: Any, extra: dict[str, list[str]]) -> Date | None:
    if value is None:
        return None
    if isinstance(value, str):
        # Not CSL-JSON's shape, but some exporters write dates as plain strings.
        return parse_date(value)
    if not isinstance(value, dict):
        raise _ItemError(f"{key}: expected a date object, found {_json_type(value)}")
    fields: dict[str, Any] = {}
    for sub, sub_value in value.items():
        if sub not in _DATE_KEYS:
            extra[f"{_PREFIX}{key}.{_clean_key(sub)}"] = [encode_extra(sub_value)]
    parts_list = value.get("date-parts")
    season: int | None = None
    if parts_list is not None:
        if not isinstance(parts_list, list) or len(parts_list) > 2:
            raise _ItemError(f"{key}: date-parts must be a list of one or two dates")
        if parts_list:
            start, season = _date_parts(parts_list[0], key)
            if start:
                fields["parts"] = start
                if len(parts_list) == 2:
                    end, _end_season = _date_parts(parts_list[1], key)
                    if end and end != start:
                        fields["end"] = end
    raw_season = value.get("season")
    if raw_season is not None and raw_season != "":
        found = _season(raw_season)
        if found is None:
            extra[f"{_PREFIX}{key}.season"] = [encode_extra(raw_season)]
        else:
            season = found
    if season is not None:
        if fields.get("parts"):
            fields["season"] = season
        else:
            extra[f"{_PREFIX}{key}.season"] = [encode_extra(raw_season or season)]
    circa = value.get("circa")
    if circa not in (None, False, 0, "", "0", "false"):
        fields["circa"] = True
    literal = value.get("literal")
    if literal is not None:
        fields["literal"] = _text(f"{key}.literal", literal, extra)
    raw = value.get("raw")
    if raw is not None:
        raw_text = _text(f"{key}.raw", raw, extra)
        if raw_text and not fields.get("parts") and not fields.get("literal"):
            parsed = parse_date(raw_text)
            if parsed is not None and parsed.parts:
                fields = {**parsed.model_dump(exclude_defaults=True), **fields}
                if "literal" not in fields:
                    extra[f"{_PREFIX}{key}.raw"] = [raw_text]
                return make_date(**fields)
            fields["literal"] = raw_text
        elif raw_text:
            extra[f"{_PREFIX}{key}.raw"] = [raw_text]
    if not fields.get("parts") and not fields.get("literal"):
        return None
    try:
        return make_date(**fields)
    except ValidationError as exc:
        raise _ItemError(f"{key}: {describe_validation_error(exc)}") from exc


def _season(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = int(value)
        if 1 <= number <= 4:
            return number
        return parse_season(str(number))
    if isinstance(value, str):
        text = value.strip()
        if text in ("1", "2", "3", "4"):
            return int(text)
        return parse_season(text)
    return None


def _issns(text: str) -> list[Identifier]:
    found = parse_issns(text)
    if found or not text.strip():
        return found
    return [Identifier(scheme="issn", value=text)]  # kept as given, valid=False


def _isbns(text: str) -> list[Identifier]:
    found = parse_isbns(text)
    if found or not text.strip():
        return found
    return [Identifier(scheme="isbn", value=text)]


def _identifier_values(key: str, value: Any, extra: dict[str, list[str]]) -> list[str]:
    if isinstance(value, list):
        values = [_scalar(v) for v in value]
        if None in values:
            extra[_PREFIX + key] = [encode_extra(value)]
        return [v for v in values if v and v.strip()]
    text = _text(key, value, extra)
    return [text] if text and text.strip() else []


def _custom(value: Any, extra: dict[str, list[str]]) -> None:
    """Unpack ``custom``: entries the writer would put back into ``custom`` by themselves
    become ``csl:<key>``; the rest stay together as ``csl:custom``."""
    if not isinstance(value, dict):
        extra[_PREFIX + "custom"] = [encode_extra(value)]
        return
    left: dict[str, Any] = {}
    for key, sub in value.items():
        key = _clean_key(key)
        if key in _MAPPED or key in _SCHEMA or _EXTRA_KEY.match(key) or "." in key:
            left[key] = sub
        else:
            extra[_PREFIX + key] = [encode_extra(sub)]
    if left:
        extra[_PREFIX + "custom"] = [encode_extra(left)]


# Keys read as text into the field of the same meaning.
_TEXT_KEYS = {**_TEXT_FIELDS, "id": "id", "page": "page"}


def item_to_record(item: dict[str, Any]) -> Record:
    """Map one CSL-JSON item onto a ``Record``.

    Raises:
        ValueError: the item is not a valid CSL item (unknown type, bad date-parts, a
            name with neither parts nor a literal); pydantic's ``ValidationError`` is a
            ``ValueError`` too.
    """
    extra: dict[str, list[str]] = {}
    data: dict[str, Any] = {}
    identifiers: list[Identifier] = []
    page_first: str | None = None
    for key, value in item.items():
        field = _TEXT_KEYS.get(key)
        if field is not None:  # title, id, page...: the commonest keys
            data[field] = value if type(value) is str else _text(key, value, extra)
        elif key in _ROLES:
            data[key] = _names(key, value, extra)
        elif key == "type":
            data["type"] = _type(value)
        elif key in _DATES:
            data[key] = _date(key, value, extra)
        elif key == "page-first":
            page_first = _text(key, value, extra)
        elif key == "keyword":
            if isinstance(value, list):
                data["keywords"] = [_text(key, v, extra) for v in value]
            else:
                text = _text(key, value, extra)
                # Spaces around the commas go now rather than in the model's cleaning
                # of each keyword, which strips them all the same (and costs more).
                data["keywords"] = [k.strip(" ") for k in text.split(",")] if text else []
        elif key == "ISSN":
            for text in _identifier_values(key, value, extra):
                identifiers.extend(_issns(text))
        elif key == "ISBN":
            for text in _identifier_values(key, value, extra):
                identifiers.extend(_isbns(text))
        elif key in ("DOI", "PMID", "PMCID", "URL"):
            scheme = key.lower()
            identifiers.extend(
                make_identifier({"scheme": scheme, "value": v})
                for v in _identifier_values(key, value, extra)
            )
        elif key == "custom":
            _custom(value, extra)
        elif value is not None:
            extra[_PREFIX + _clean_key(key)] = [encode_extra(value)]
    if page_first is not None:
        if data.get("page"):
            extra[_PREFIX + "page-first"] = [encode_extra(item["page-first"])]
        else:
            data["page"] = page_first
    if identifiers:
        data["identifiers"] = identifiers
    if extra:
        data["extra"] = extra
    return build_record(data)


def _type(value: Any) -> str:
    if not isinstance(value, str):
        raise _ItemError(f"type: expected a CSL type, found {_json_type(value)}")
    if value in _CSL_TYPE_SET:
        return value
    key = value.strip().lower().replace("_", "-").replace(" ", "-")
    for candidate in (key, key.replace("-", "_")):
        if candidate in _CSL_TYPE_SET:
            return candidate
    alias = _TYPE_ALIASES.get(key)
    if alias is None:
        raise _ItemError(f"type: {value!r} is not a CSL item type")
    return alias


# ---------------------------------------------------------------------------------------
# Reading: the streaming array walker.


class _Buffer:
    """A sliding window over the stream that knows line and column of every position."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.text = ""
        self.eof = False
        self.line = 1  # line number at position ``counted``
        self.counted = 0
        self.col0 = 0  # characters of buf[0]'s line that were trimmed away

    def more(self, keep_from: int) -> int:
        """Trim everything before ``keep_from``, read a chunk; return the shift applied."""
        if self.eof:
            return 0
        shift = 0
        if keep_from > _CHUNK:
            self.advance(keep_from)
            nl = self.text.rfind("\n", 0, keep_from)
            self.col0 = keep_from - nl - 1 if nl >= 0 else self.col0 + keep_from
            self.text = self.text[keep_from:]
            self.counted -= keep_from
            shift = keep_from
        pending = len(self.text) - (keep_from - shift)
        data = self.stream.read(max(_CHUNK, pending))
        if not data:
            self.eof = True
        else:
            self.text += data
        return shift

    def advance(self, pos: int) -> None:
        if pos > self.counted:
            self.line += self.text.count("\n", self.counted, pos)
            self.counted = pos

    def line_at(self, pos: int) -> int:
        self.advance(pos)
        return self.line

    def column_at(self, pos: int) -> int:
        nl = self.text.rfind("\n", 0, pos)
        return pos - nl if nl >= 0 else self.col0 + pos + 1

    def skip_ws(self, pos: int) -> tuple[str, int]:
        """Next non-whitespace character at or after ``pos`` (``""`` at the end)."""
        while True:
            text = self.text
            if pos < len(text) and text[pos] not in _WS:
                return text[pos], pos  # the usual case: no whitespace at all
            found = _NON_WS.search(text, pos)
            if found is not None:
                pos = found.start()
                return text[pos], pos
            pos = len(text)
            if self.eof:
                return "", pos
            pos -= self.more(pos)


def _json_error(cause: str, buf: _Buffer, pos: int, **kw: Any) -> ParseError:
    line = buf.line_at(pos)
    col = buf.column_at(pos)
    return ParseError(
        f"invalid JSON at line {line} column {col}: {cause}",
        line=line,
        format_name=NAME,
        raw=buf.text[pos : pos + 200],
        **kw,
    )


def read(stream: TextIO, source: str) -> Iterator[ReadResult]:
    """Stream the items of a CSL-JSON array (or one object, or objects one after another)."""
    buf = _Buffer(stream)
    char, pos = buf.skip_ws(0)
    if char == "\ufeff":
        char, pos = buf.skip_ws(pos + 1)
    if char == "":
        yield ParseError("the input is empty", source=source, format_name=NAME)
        return
    if char == "[":
        closing = "]"
        _, first = buf.skip_ws(pos + 1)
        gap = buf.text[pos + 1 : first] if first > pos else ""
        pos = first
    elif char == "{":
        closing = ""
        gap = "\n"
    else:
        yield ParseError(
            f"not CSL-JSON: expected an array or an object, found {char!r}",
            source=source,
            line=buf.line_at(pos),
            record=None,
            raw=buf.text[pos : pos + 200],
            format_name=NAME,
        )
        return
    # Where the next item starts after a damaged one: a "}" + separator + "{" at the
    # indentation the items have (only when items are on their own lines: nested objects
    # of a one-line array look the same as item boundaries).
    resync = "}," + gap + "{" if "\n" in gap else None
    if closing == "":
        resync = "}\n{"
    index = 0
    while True:
        char, pos = buf.skip_ws(pos)
        if closing and char == closing:
            char, pos = buf.skip_ws(pos + 1)
            if char:
                yield _json_error("extra data after the array", buf, pos, source=source)
            return
        if char == "":
            if closing:
                yield ParseError(
                    f"the array is not closed: the input ends after {index} item(s) (truncated?)",
                    source=source,
                    line=buf.line_at(pos),
                    record=index + 1 if index else None,
                    format_name=NAME,
                )
            return
        index += 1
        start = pos
        try:
            value, pos = _decode(buf, start)
        except json.JSONDecodeError as exc:
            cut = buf.eof and closing not in buf.text[exc.pos :]
            hint = f" (the input ends inside item {index}: truncated?)" if cut else ""
            yield _json_error(exc.msg + hint, buf, exc.pos, source=source, record=index)
            pos = _resync(buf, exc.pos, resync)
            if pos < 0:
                return
            continue
        except _TooLarge:
            yield ParseError(
                f"item {index} is larger than {_MAX_ITEM >> 20} MB or never ends",
                source=source,
                line=buf.line_at(start),
                record=index,
                format_name=NAME,
            )
            return
        yield _record(value, buf, start, pos, index, source)
        char, pos = buf.skip_ws(pos)
        if char == ",":
            if not closing:
                yield _json_error("a comma between objects", buf, pos, source=source)
                return
            pos += 1
        elif char == closing or (not closing and char in ("{", "")):
            continue
        elif char == "":
            continue  # the loop reports the unclosed array
        else:
            expected = "',' or ']'" if closing else "another object"
            yield _json_error(
                f"expecting {expected} after an item", buf, pos, source=source, record=index + 1
            )
            pos = _resync(buf, pos, resync)
            if pos < 0:
                return


class _TooLarge(Exception):
    """An item grew past ``_MAX_ITEM`` without ending."""


def _decode(buf: _Buffer, start: int) -> tuple[Any, int]:
    """Decode the JSON value at ``start``, reading more of the stream while it is cut off.

    Raises:
        json.JSONDecodeError: the value is invalid (not merely incomplete); positions
            are indices into ``buf.text`` as it is after the call.
    """
    while True:
        try:
            return _decoder.raw_decode(buf.text, start)
        except json.JSONDecodeError as exc:
            # A value cut by the end of the buffer fails at (or just before) the end,
            # or as a string that never closes; anything else is a real error.
            incomplete = exc.pos >= len(buf.text) - 16 or exc.msg.startswith("Unterminated")
            if buf.eof or not incomplete:
                raise
            if len(buf.text) - start > _MAX_ITEM:
                raise _TooLarge from exc
            start -= buf.more(start)


def _resync(buf: _Buffer, pos: int, pattern: str | None) -> int:
    """Position of the next item after damage at ``pos``, or -1 when there is none."""
    if pattern is None:
        return -1
    while True:
        found = buf.text.find(pattern, pos)
        if found >= 0:
            return found + len(pattern) - 1
        if buf.eof:
            return -1
        keep = max(pos, len(buf.text) - len(pattern))
        pos = keep - buf.more(keep)


def _record(value: Any, buf: _Buffer, start: int, end: int, index: int, source: str) -> ReadResult:
    if not isinstance(value, dict):
        return ParseError(
            f"the item is {_json_type(value)}, not a CSL item object",
            source=source,
            line=buf.line_at(start),
            record=index,
            raw=buf.text[start:end],
            format_name=NAME,
        )
    try:
        return item_to_record(value)
    except ValueError as exc:  # _ItemError and pydantic's ValidationError
        ident = value.get("id")
        # The position is in ``record``/``line``; the cause names the item by its id.
        named = f"item {ident!r}: " if isinstance(ident, str | int) else ""
        cause = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
        return ParseError(
            f"{named}{cause}",
            source=source,
            line=buf.line_at(start),
            record=index,
            raw=buf.text[start:end],
            format_name=NAME,
        )


# ---------------------------------------------------------------------------------------
# Writing.

_WRITE_TEXT: tuple[tuple[str, str], ...] = (
    ("title", "title"), ("title_short", "title-short"),
    ("container_title", "container-title"),
    ("container_title_short", "container-title-short"),
    ("collection_title", "collection-title"), ("collection_number", "collection-number"),
)  # fmt: skip
_WRITE_TEXT2: tuple[tuple[str, str], ...] = (
    ("volume", "volume"), ("issue", "issue"), ("page", "page"), ("number", "number"),
    ("number_of_pages", "number-of-pages"), ("edition", "edition"),
    ("publisher", "publisher"), ("publisher_place", "publisher-place"), ("genre", "genre"),
    ("language", "language"), ("abstract", "abstract"), ("note", "note"),
)  # fmt: skip
_NAME_CACHE_SIZE = 8192
_STOPWORDS = frozenset(
    ("a", "an", "the", "on", "of", "in", "and", "for", "to", "with", "from", "at", "by",
     "is", "are", "as", "der", "die", "das", "ein", "eine", "le", "la", "les", "un", "une",
     "el", "los", "las", "il", "lo", "de", "du", "des")
)  # fmt: skip


def _name_out(name: Name) -> dict[str, Any]:
    if name.literal is not None:
        return {"literal": name.literal}
    out: dict[str, Any] = {}
    if name.family is not None:
        out["family"] = name.family
    if name.given is not None:
        out["given"] = name.given
    if name.dropping_particle is not None:
        out["dropping-particle"] = name.dropping_particle
    if name.non_dropping_particle is not None:
        out["non-dropping-particle"] = name.non_dropping_particle
    if name.suffix is not None:
        out["suffix"] = name.suffix
    return out


def _date_out(date: Date) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if date.parts:
        out["date-parts"] = [list(date.parts), list(date.end)] if date.end else [list(date.parts)]
    if date.season is not None:
        out["season"] = date.season
    if date.circa:
        out["circa"] = True
    if date.literal is not None:
        out["literal"] = date.literal
    return out


def _fold(text: str) -> str:
    """Lower-case letters and digits of ``text`` with accents removed, for keys."""
    if text.isascii():
        return "".join(c for c in text.lower() if c.isalnum())
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if c.isalnum())


def citation_key(record: Record) -> str:
    """``li2017infusion``: first author's family name, year, first significant title word.

    Mirrors the BibTeX writer's key scheme so one record gets the same key in both.
    """
    people = record.author or record.editor or record.translator
    who = ""
    if people:
        first = people[0]
        who = _fold(first.family or first.literal or first.given or "")
        if first.literal is not None and not first.family:
            words = first.literal.split()
            who = _fold(words[0]) if words else ""
    year = str(record.issued.parts[0]) if record.issued and record.issued.parts else ""
    word = ""
    for token in (record.title or "").split():
        folded = _fold(token)
        if folded and folded not in _STOPWORDS:
            word = folded
            break
    key = f"{who}{year}{word}"
    return key or "item"


def _suffix(n: int) -> str:
    """a, b, ..., z, aa, ab, ... for the n-th clash (0-based)."""
    letters = ""
    n += 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(97 + rem) + letters
    return letters


def _fits(kind: str, value: Any) -> bool:
    """Whether ``value`` is what the schema allows for a property of ``kind``."""
    if kind == "s":
        return isinstance(value, str)
    if kind == "sn":
        return isinstance(value, str | int | float) and not isinstance(value, bool)
    if kind == "list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "names":
        return isinstance(value, list) and all(_is_name(v) for v in value)
    if kind == "date":
        return _is_date(value)
    return False


def _flag(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _is_name(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    for key, part in value.items():
        if key in _NAME_FLAGS:
            if not _flag(part):
                return False
        elif key in _NAME_PARTS or key == "literal":
            if not isinstance(part, str):
                return False
        else:
            return False
    return True


def _is_date(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    for key, part in value.items():
        if key == "date-parts":
            if not (isinstance(part, list) and 1 <= len(part) <= 2):
                return False
            for one in part:
                if not (isinstance(one, list) and 1 <= len(one) <= 3):
                    return False
                if not all(
                    isinstance(p, str | int | float) and not isinstance(p, bool) for p in one
                ):
                    return False
        elif key in ("literal", "raw"):
            if not isinstance(part, str):
                return False
        elif key in ("season", "circa"):
            if not _flag(part) or (key == "season" and isinstance(part, bool)):
                return False
        else:
            return False
    return True


class CslJsonWriter(Writer):
    """Stream a CSL-JSON array: ``[`` on open, one item a line, ``]`` on close."""

    format_name = NAME

    item_separator = ","

    def __init__(self, stream: TextIO, **options: Any) -> None:
        super().__init__(stream, **options)
        self._ids: set[str] = set()
        self._clashes: dict[str, int] = {}
        self._written: list[tuple[str, str]] = []
        # CSL name objects by the identity of the (immutable) Name: readers share one
        # instance per distinct name, and people recur through a file. Each entry holds
        # its Name, so the id cannot be reused while the entry lives.
        self._name_items: dict[int, tuple[Name, dict[str, Any]]] = {}

    def open(self) -> None:
        self.stream.write("[")

    def write(self, record: Record) -> list[Loss]:
        losses = table_losses(record, NAME)
        item = self._item(record, losses)
        try:
            # pydantic-core's serialiser is several times faster than json's C encoder.
            text = to_json(item).decode("utf-8")
        except PydanticSerializationError:
            # Only lone surrogates get here (the model replaces them in every field).
            text = _SURROGATE.sub("\ufffd", _encode_item(item))
            losses.append(Loss("extra", "lone surrogates replaced by U+FFFD", "changed"))
        self.stream.write(",\n" + text if self.count else "\n" + text)
        self.count += 1
        return losses

    def close(self) -> None:
        self.stream.write("\n]\n")
        self.stream.flush()

    def fragment_state(self) -> object:
        return self._written

    def absorb(self, data: bytes, state: object) -> bytes:
        """Give a worker's items the ids a one-process run would have given them.

        Each item is one line starting with its id (``{"id":...``), so renaming is a
        prefix swap per line; a chunk with nothing to rename is passed on as it is.
        """
        renamed = renamed_entries(state, self._assign, start=1)  # line 0 is empty
        if not renamed:
            return data
        lines = data.decode("utf-8").split("\n")
        for number, (worker_id, final) in renamed.items():
            old = '{"id":' + to_json(worker_id).decode("utf-8")
            new = '{"id":' + to_json(final).decode("utf-8")
            assert lines[number].startswith(old)
            lines[number] = new + lines[number][len(old) :]
        return "\n".join(lines).encode("utf-8")

    def _unique_id(self, record: Record, losses: list[Loss]) -> str:
        base = record.id if record.id is not None else citation_key(record)
        ident = self._assign(base)
        if ident != base and record.id is not None:
            losses.append(
                Loss("id", f"id {record.id!r} was already used: written as {ident!r}", "changed")
            )
        if self.fragment_mode:
            self._written.append((base, ident))
        return ident

    def _assign(self, base: str) -> str:
        ident = base
        if ident in self._ids:
            # Start where the last clash on this base stopped: linear, not quadratic,
            # when thousands of records share a key.
            n = self._clashes.get(base, 0)
            while ident in self._ids:
                ident = base + _suffix(n)
                n += 1
            self._clashes[base] = n
        self._ids.add(ident)
        return ident

    def _item(self, record: Record, losses: list[Loss]) -> dict[str, Any]:
        item: dict[str, Any] = {"id": self._unique_id(record, losses), "type": record.type}
        fields = record.__dict__  # every field is there: plain lookups, no getattr
        for attr, key in _WRITE_TEXT:
            value = fields[attr]
            if value is not None:
                item[key] = value
        names: dict[str, list[dict[str, Any]]] = {}
        extra = record.extra
        for role in _ROLES:
            people = fields[role]
            if people:
                if extra:
                    # Extras may put name flags into these objects (see _nested).
                    names[role] = item[role] = [_name_out(n) for n in people]
                else:
                    item[role] = self._names_out(people)
        dates: dict[str, dict[str, Any]] = {}
        if record.issued is not None:
            dates["issued"] = item["issued"] = _date_out(record.issued)
        if record.accessed is not None:
            dates["accessed"] = item["accessed"] = _date_out(record.accessed)
        for attr, key in _WRITE_TEXT2:
            value = fields[attr]
            if value is not None:
                item[key] = value
        keywords = fields["keywords"]
        if keywords:
            item["keyword"] = joined = ", ".join(keywords)
            if joined.count(",") >= len(keywords):  # more commas than the separators
                losses.append(
                    Loss(
                        "keywords", "a keyword containing a comma is split on re-reading", "changed"
                    )
                )
        if fields["identifiers"]:
            self._identifiers(record, item, losses)
        if extra:
            self._extras(record, item, names, dates, losses)
        return item

    def _names_out(self, people: list[Name]) -> list[dict[str, Any]]:
        """The CSL name objects, shared between items (only ever read: see _item)."""
        cache = self._name_items
        out = []
        for name in people:
            found = cache.get(id(name))
            if found is None or found[0] is not name:
                if len(cache) >= _NAME_CACHE_SIZE:
                    cache.clear()
                found = cache[id(name)] = (name, _name_out(name))
            out.append(found[1])
        return out

    def _identifiers(self, record: Record, item: dict[str, Any], losses: list[Loss]) -> None:
        by_scheme: dict[str, list[str]] = {}
        for ident in record.identifiers:
            values = by_scheme.get(ident.scheme)
            if values is None:
                by_scheme[ident.scheme] = [ident.value]
            else:
                values.append(ident.value)
        for scheme, key in _SCHEME_KEYS_ALL:
            if scheme not in by_scheme:
                continue
            values = by_scheme[scheme]
            if scheme in ("issn", "isbn"):
                item[key] = ", ".join(values)
                continue
            item[key] = values[0]
            if len(values) > 1:
                losses.append(
                    Loss(
                        f"identifiers.{scheme}",
                        f"CSL-JSON has one {key}: {len(values) - 1} more not written",
                    )
                )

    def _extras(
        self,
        record: Record,
        item: dict[str, Any],
        names: dict[str, list[dict[str, Any]]],
        dates: dict[str, dict[str, Any]],
        losses: list[Loss],
    ) -> None:
        custom: dict[str, Any] = {}
        for full_key, values in record.extra.items():
            if not full_key.startswith(_PREFIX):
                continue  # reported by table_losses
            key = full_key[len(_PREFIX) :]
            value = decode_extra(values[0])
            if len(values) > 1:
                losses.append(
                    Loss(
                        f"extra.{full_key}",
                        "only the first of several values is written",
                        "changed",
                    )
                )
            if key == "custom":
                if isinstance(value, dict):
                    for sub, sub_value in value.items():
                        custom.setdefault(sub, sub_value)
                else:
                    custom["custom"] = value
                continue
            if key in _MAPPED:
                if key == "page-first" and _fits("sn", value):
                    item[key] = value
                    continue
                losses.append(
                    Loss(f"extra.{full_key}", f"{key} is written from the record's own field")
                )
                continue
            kind = _SCHEMA.get(key)
            if kind is not None and _fits(kind, value):
                item[key] = value
                continue
            if kind is None and self._nested(key, value, names, dates):
                continue
            custom[key] = value
        if custom:
            # Sorted: custom entries come from several extras, and re-reading regroups them.
            item["custom"] = dict(sorted(custom.items()))

    @staticmethod
    def _nested(
        key: str,
        value: Any,
        names: dict[str, list[dict[str, Any]]],
        dates: dict[str, dict[str, Any]],
    ) -> bool:
        """Put a name flag (``author[0].parse-names``) or a date part back in place."""
        match = _EXTRA_KEY.match(key)
        if match is not None:
            role, index, prop = match.group(1), int(match.group(2)), match.group(3)
            people = names.get(role)
            if people is None or index >= len(people):
                return False
            name = people[index]
            if prop in _NAME_FLAGS and _flag(value):
                name[prop] = value
                return True
            if prop == "literal" and isinstance(value, str) and "literal" not in name:
                name[prop] = value
                return True
            return False
        head, dot, prop = key.partition(".")
        date = dates.get(head)
        settable = date is not None and prop in ("raw", "literal") and prop not in date
        if dot and settable and isinstance(value, str):
            assert date is not None
            date[prop] = value
            return True
        return False


# ---------------------------------------------------------------------------------------
# Sniffing.

_CSL_ONLY_KEYS = re.compile(
    r'"(?:date-parts|DOI|ISSN|ISBN|URL|PMID|PMCID|keyword|citation-key|categories|'
    r"container-author|collection-editor|original-date|event-date|event-place|"
    r'journalAbbreviation|shortTitle)"\s*:'
)
_JSONL_ONLY_KEYS = re.compile(r'"(?:identifiers|keywords|provenance|field-sources|parts)"\s*:')
_CSL_ANY_KEY = re.compile(
    r'"(?:type|id|title|author|editor|issued|container-title|page|volume|publisher)"\s*:'
)


def sniff(head: str) -> bool:
    """A JSON array of CSL items, or an object with keys only CSL uses.

    Our own JSON Lines shares many keys with CSL (``title``, ``container-title``, a CSL
    ``type``), so an object alone on its first line is claimed only with CSL-specific
    evidence (``date-parts``, ``DOI``, ``ISSN``...) and none of our own keys.
    """
    text = head.lstrip("\ufeff \t\r\n")
    if text.startswith("["):
        rest = text[1:].lstrip()
        if rest.startswith("]"):
            return True
        return rest.startswith("{") and bool(_CSL_ANY_KEY.search(rest))
    if not text.startswith("{"):
        return False
    first = text.split("\n", 1)[0]
    try:
        data = json.loads(first)
    except ValueError:
        # A pretty-printed object spans lines: JSON Lines never does.
        return bool(_CSL_ANY_KEY.search(text)) and not _JSONL_ONLY_KEYS.search(text)
    if not isinstance(data, dict):
        return False
    # Top-level keys only: an envelope such as Crossref's {"message": {...}} is not CSL.
    keys = "".join(f'"{k}":' for k in data)
    if _JSONL_ONLY_KEYS.search(keys):
        return False
    if _CSL_ONLY_KEYS.search(keys):
        return True
    issued = data.get("issued")
    return isinstance(issued, dict) and "date-parts" in issued


FORMAT = Format(
    name=NAME,
    title="CSL-JSON (citeproc-json)",
    extensions=(".json",),
    media_type="application/vnd.citationstyles.csl+json",
    read=read,
    writer=CslJsonWriter,
    sniff=sniff,
    aliases=("csl", "csljson", "citeproc-json", "json"),
    # One item per line (as we write it) makes a line starting "{" an item start; the
    # parallel planner checks the layout before it trusts this.
    record_start=rb"\{",
)
