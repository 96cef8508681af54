"""The one normalised record, in CSL vocabulary.

CSL is the model that BibTeX, RIS and CSL-JSON all map onto, so field names follow CSL
(``container_title`` dumps as ``container-title`` with ``by_alias=True``). The shapes of
``Name`` and ``Date`` follow citeproc-py's. Validators call ``harvester.normalize``: this
module is the one place that decides what a valid record is.
"""

from __future__ import annotations

import calendar
import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args
from unicodedata import is_normalized

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    field_validator,
    model_validator,
)

from harvester.normalize.identifiers import isbn13, normalize_identifier
from harvester.normalize.language import normalize_language
from harvester.normalize.pages import normalize_pages
from harvester.normalize.text import clean_optional, clean_text, is_clean

# CSL 1.0.2 item types (https://docs.citationstyles.org/en/stable/specification.html#appendix-iii-types).
CSL_TYPES: tuple[str, ...] = (
    "article", "article-journal", "article-magazine", "article-newspaper", "bill", "book",
    "broadcast", "chapter", "classic", "collection", "dataset", "document", "entry",
    "entry-dictionary", "entry-encyclopedia", "event", "figure", "graphic", "hearing",
    "interview", "legal_case", "legislation", "manuscript", "map", "motion_picture",
    "musical_score", "pamphlet", "paper-conference", "patent", "performance", "periodical",
    "personal_communication", "post", "post-weblog", "regulation", "report", "review",
    "review-book", "software", "song", "speech", "standard", "thesis", "treaty", "webpage",
)  # fmt: skip

_CSL_TYPE_SET = frozenset(CSL_TYPES)

IdentifierScheme = Literal[
    "doi", "issn", "isbn", "pmid", "pmcid", "oclc", "lccn", "url", "oai", "arxiv"
]  # fmt: skip
IdentifierKind = Literal["print", "electronic", "linking"]
_M = TypeVar("_M", bound=BaseModel)


def _hyphenate(name: str) -> str:
    return name.replace("_", "-")


_NAME_PARTS = (
    "family", "given", "dropping_particle", "non_dropping_particle",
    "dropping-particle", "non-dropping-particle",
)  # fmt: skip
_NAME_CORE = ("family", "given")


class Name(BaseModel):
    """A personal name in parts, or a ``literal`` for organisations; never both."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=_hyphenate,
        populate_by_name=True,
        defer_build=True,
    )

    family: str | None = None
    given: str | None = None
    dropping_particle: str | None = None
    non_dropping_particle: str | None = None
    suffix: str | None = None
    literal: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        # One pass over the parts instead of a validator per field (names are the most
        # numerous objects), with a fast path for text that is already clean.
        if not isinstance(data, dict):
            return data
        out: dict[str, str] = {}
        for key, value in data.items():
            if value is None:
                continue
            if not (type(value) is str and value and is_clean(value)):
                value = clean_optional(value)
                if value is None:
                    continue
            out[key] = value
        _check_name_parts(out)
        return out

    def display(self) -> str:
        """``Given von Family, Suffix`` for messages and sorting keys."""
        if self.literal is not None:
            return self.literal
        parts = [self.given, self.dropping_particle, self.non_dropping_particle, self.family]
        text = " ".join(p for p in parts if p)
        return f"{text}, {self.suffix}" if self.suffix else text


def _check_name_parts(out: dict[str, str]) -> None:
    has_parts = any(out.get(k) for k in _NAME_PARTS)
    if "literal" in out and has_parts:
        raise ValueError("a name is either a literal or parts, never both")
    if "literal" not in out and not any(out.get(k) for k in _NAME_CORE):
        raise ValueError("a name needs a family or given name, or a literal")


def _check_parts(parts: tuple[int, ...]) -> tuple[int, ...]:
    if not 1 <= len(parts) <= 3:
        raise ValueError(
            f"date parts must be (year,), (year, month) or (year, month, day): {parts}"
        )
    if len(parts) >= 2 and not 1 <= parts[1] <= 12:
        raise ValueError(f"month out of range: {parts[1]}")
    if len(parts) == 3:
        year, month, day = parts
        last = calendar.monthrange(year if 1 <= year <= 9999 else 2000, month)[1]
        if not 1 <= day <= last:
            raise ValueError(f"day out of range: {parts}")
    return parts


class Date(BaseModel):
    """A date at year, month or day precision, an optional range end, or a literal.

    ``season`` uses CSL's numbers 1-4 (spring, summer, autumn, winter).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    parts: tuple[int, ...] = ()
    end: tuple[int, ...] | None = None
    season: int | None = Field(default=None, ge=1, le=4)
    circa: bool = False
    literal: str | None = None

    @field_validator("parts")
    @classmethod
    def _valid_parts(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return _check_parts(value) if value else value

    @field_validator("end")
    @classmethod
    def _valid_end(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        return _check_parts(value) if value else None

    @field_validator("literal", mode="before")
    @classmethod
    def _clean_literal(cls, value: object) -> str | None:
        return clean_optional(value)

    @model_validator(mode="after")
    def _parts_or_literal(self) -> Date:
        if not self.parts and not self.literal:
            raise ValueError("a date needs parts or a literal")
        if self.end is not None and not self.parts:
            raise ValueError("a range end needs a start")
        return self

    @property
    def year(self) -> int | None:
        return self.parts[0] if self.parts else None

    @property
    def month(self) -> int | None:
        return self.parts[1] if len(self.parts) >= 2 else None

    @property
    def day(self) -> int | None:
        return self.parts[2] if len(self.parts) == 3 else None


class Identifier(BaseModel):
    """A normalised identifier; ``valid`` is the check-digit verdict (None: no check digit)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    scheme: IdentifierScheme
    value: str
    kind: IdentifierKind | None = None
    valid: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if isinstance(data, dict) and "scheme" in data and isinstance(data.get("value"), str):
            value, valid = normalize_identifier(str(data["scheme"]), clean_text(data["value"]))
            if not value:
                raise ValueError("an identifier needs a value")
            data = {**data, "value": value, "valid": valid}
            data.pop("isbn13", None)  # derived: accept our own dumps back
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def isbn13(self) -> str | None:
        """The ISBN-13 form of an ISBN (ISBN-10s converted), for matching and export."""
        return isbn13(self.value) if self.scheme == "isbn" else None


class Provenance(BaseModel):
    """Where (part of) a record came from."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    source: str
    source_id: str | None = None
    url: str | None = None
    fetched_at: datetime | None = None
    raw_format: str | None = None
    content_hash: str | None = None


class FieldSource(BaseModel):
    """Which source gave a field, and the raw value before normalisation."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    source: str
    raw: str | None = None


_MULTILINE_FIELDS = {"abstract", "note"}
_TEXT_FIELDS = (
    "id", "title", "title_short", "container_title", "container_title_short",
    "collection_title", "collection_number", "volume", "issue", "number",
    "number_of_pages", "edition", "publisher", "publisher_place", "genre",
)  # fmt: skip


# --- What the Record validators do, as plain functions (shared with build_record) --------


def _clean_pages(value: object) -> str | None:
    text = clean_optional(value)
    return normalize_pages(text) or None if text else None


def _clean_language(value: object) -> str | None:
    text = clean_optional(value)
    if text is None:
        return None
    return normalize_language(text) or text


def _clean_keywords(value: object) -> list[str]:
    if not isinstance(value, list | tuple):
        return []
    seen: dict[str, None] = {}
    for item in value:
        text = clean_optional(item)
        if text:
            seen.setdefault(text, None)
    return list(seen)


def dedupe_identifiers(value: list[Identifier]) -> list[Identifier]:
    """One identifier per (scheme, value), at its first position, with any known kind."""
    seen: dict[tuple[str, str], Identifier] = {}
    for ident in value:
        key = (ident.scheme, ident.value)
        known = seen.get(key)
        if known is None or (known.kind is None and ident.kind is not None):
            seen[key] = ident
    return list(seen.values())


def _clean_extra(value: object) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        return {}
    out: dict[str, list[str]] = {}
    for key, items in value.items():
        values = items if isinstance(items, list | tuple) else [items]
        cleaned = [v for v in (clean_optional(i, multiline=True) for i in values) if v]
        if cleaned:
            out[str(key)] = cleaned
    return out


class Record(BaseModel):
    """One bibliographic record.

    ``extra`` keeps everything a reader could not map, keyed ``<format>:<key>`` (for
    example ``ris:M3`` or ``bibtex:howpublished``), so nothing is dropped; a writer writes
    back the keys of its own format and reports the rest in its loss report.
    """

    model_config = ConfigDict(
        extra="forbid", alias_generator=_hyphenate, populate_by_name=True, defer_build=True
    )

    id: str | None = None
    type: str = "document"
    title: str | None = None
    title_short: str | None = None
    container_title: str | None = None
    container_title_short: str | None = None
    collection_title: str | None = None
    collection_number: str | None = None
    author: list[Name] = Field(default_factory=list)
    editor: list[Name] = Field(default_factory=list)
    translator: list[Name] = Field(default_factory=list)
    issued: Date | None = None
    accessed: Date | None = None
    volume: str | None = None
    issue: str | None = None
    page: str | None = None
    number: str | None = None
    number_of_pages: str | None = None
    edition: str | None = None
    publisher: str | None = None
    publisher_place: str | None = None
    genre: str | None = None
    language: str | None = None
    abstract: str | None = None
    note: str | None = None
    keywords: list[str] = Field(default_factory=list)
    identifiers: list[Identifier] = Field(default_factory=list)
    extra: dict[str, list[str]] = Field(default_factory=dict)
    provenance: list[Provenance] = Field(default_factory=list)
    field_sources: dict[str, FieldSource] = Field(default_factory=dict)

    @field_validator(*_TEXT_FIELDS, mode="before")
    @classmethod
    def _clean_line(cls, value: object) -> str | None:
        return clean_optional(value)

    @field_validator("abstract", "note", mode="before")
    @classmethod
    def _clean_paragraphs(cls, value: object) -> str | None:
        return clean_optional(value, multiline=True)

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: object) -> str:
        if type(value) is str and value in _CSL_TYPE_SET:
            return value
        text = clean_text(str(value)).lower() if value is not None else "document"
        if text not in CSL_TYPES:
            raise ValueError(f"not a CSL item type: {value!r}")
        return text

    @field_validator("page", mode="before")
    @classmethod
    def _pages(cls, value: object) -> str | None:
        return _clean_pages(value)

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: object) -> str | None:
        return _clean_language(value)

    @field_validator("keywords", mode="before")
    @classmethod
    def _keywords(cls, value: object) -> list[str]:
        return _clean_keywords(value)

    @field_validator("identifiers", mode="after")
    @classmethod
    def _dedupe_identifiers(cls, value: list[Identifier]) -> list[Identifier]:
        return dedupe_identifiers(value)

    @field_validator("extra", mode="before")
    @classmethod
    def _extra(cls, value: object) -> dict[str, list[str]]:
        return _clean_extra(value)

    # Convenience views used by writers.
    def identifiers_of(self, scheme: str) -> list[Identifier]:
        return [i for i in self.identifiers if i.scheme == scheme]

    @property
    def doi(self) -> str | None:
        found = self.identifiers_of("doi")
        return found[0].value if found else None


# --- Fast construction for values readers already hold ------------------------------------
#
# Validating a record through pydantic costs more than reading it: a Python validator
# call per field and per name. Readers build records with ``build_record``/``make_name``,
# which apply the same cleaning functions as the validators above and set the instance's
# state directly; any value outside the shapes they know (an alias key, a dict for a name,
# a non-string text) goes through full validation instead, so the result, and every error,
# is the same as ``Record(**data)``. tests/test_speed_paths.py holds them to that.

_NAME_FIELDS = tuple(Name.model_fields)
_NAME_FIELD_SET = frozenset(_NAME_FIELDS)
_IDENTIFIER_SCHEMES = frozenset(get_args(IdentifierScheme))
_IDENTIFIER_KINDS = frozenset((None, *get_args(IdentifierKind)))
_IDENTIFIER_KEYS = frozenset(("scheme", "value", "kind"))
_IDENTIFIER_SET = {"scheme", "value", "valid"}
_IDENTIFIER_SET_KIND = {"scheme", "value", "kind", "valid"}
_new = object.__new__
_set = object.__setattr__


_SHARED_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


def _shared_fields_set(keys: Any) -> set[str]:
    """One ``fields_set`` per distinct set of keys, for frozen models (names, identifiers).

    Frozen instances never change their fields set (``model_copy`` copies it first), and
    a set per name is a fifth of the memory a cache of parsed names holds.
    """
    key = frozenset(keys)
    found = _SHARED_FIELDS_SETS.get(key)
    if found is None:
        found = _SHARED_FIELDS_SETS[key] = set(key)
    return found


def _instance(cls: type[_M], values: dict[str, Any], fields_set: set[str]) -> _M:
    """An instance with the state pydantic's validator would give it (no private attrs)."""
    obj = _new(cls)
    _set(obj, "__dict__", values)
    _set(obj, "__pydantic_fields_set__", fields_set)
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def make_name(**parts: str | None) -> Name:
    """``Name(**parts)``, without pydantic's overhead when the parts are clean strings."""
    out: dict[str, str] = {}
    for key, value in parts.items():
        if value is None:
            continue
        if key not in _NAME_FIELD_SET or type(value) is not str or not value:
            return Name(**parts)
        if not is_clean(value):
            return Name(**parts)
        out[key] = value
    if "literal" in out:
        if len(out) > 1 and any(out.get(k) for k in _NAME_PARTS):
            return Name(**parts)  # raises, as validation does
    elif not (out.get("family") or out.get("given")):
        return Name(**parts)
    values = {key: out.get(key) for key in _NAME_FIELDS}
    return _instance(Name, values, _shared_fields_set(out))


_DATE_FIELDS_SET = frozenset({"parts", "end", "season", "circa", "literal"})


def _int_parts(value: object) -> bool:
    return type(value) is tuple and all(type(p) is int for p in value)


def make_date(**fields: Any) -> Date:
    """``Date(**fields)`` for the values the date parser makes: no pydantic on the way.

    Parts are checked as the validator checks them; anything unusual (and anything it
    would refuse) takes the full validation path, which raises as usual.
    """
    parts = fields.get("parts", ())
    end = fields.get("end")
    season = fields.get("season")
    circa = fields.get("circa", False)
    literal = fields.get("literal")
    if (
        not _DATE_FIELDS_SET.issuperset(fields)
        or not _int_parts(parts)
        or not (end is None or _int_parts(end))
        or not (season is None or (type(season) is int and 1 <= season <= 4))
        or type(circa) is not bool
        or not (literal is None or (type(literal) is str and literal and is_clean(literal)))
        or not (parts or literal)
        or (end is not None and not parts)
    ):
        return Date(**fields)
    try:
        if parts:
            _check_parts(parts)
        if end:
            _check_parts(end)
    except ValueError:
        return Date(**fields)  # raises, located by pydantic
    values = {
        "parts": parts,
        "end": end or None,
        "season": season,
        "circa": circa,
        "literal": literal,
    }
    return _instance(Date, values, _shared_fields_set(fields))


def make_identifier(data: dict[str, Any]) -> Identifier:
    """``Identifier(**data)`` for a ``scheme``/``value``/``kind`` dict."""
    scheme = data.get("scheme")
    value = data.get("value")
    kind = data.get("kind")
    if (
        type(scheme) is not str
        or type(value) is not str
        or scheme not in _IDENTIFIER_SCHEMES
        or not (kind is None or (type(kind) is str and kind in _IDENTIFIER_KINDS))
        or not _IDENTIFIER_KEYS.issuperset(data)
    ):
        return Identifier(**data)
    if scheme == "issn" or scheme == "isbn":
        # Serial numbers repeat through a file: one shared (immutable) instance each.
        return _cached_identifier(scheme, value, kind, "kind" in data)
    return _checked_identifier(scheme, value, kind, "kind" in data)


def _checked_identifier(scheme: str, value: str, kind: str | None, has_kind: bool) -> Identifier:
    normal, valid = normalize_identifier(scheme, clean_text(value))
    if not normal:
        data = {"scheme": scheme, "value": value} | ({"kind": kind} if has_kind else {})
        return Identifier(**data)  # raises, as validation does
    values = {"scheme": scheme, "value": normal, "kind": kind, "valid": valid}
    fields_set = _IDENTIFIER_SET_KIND if has_kind else _IDENTIFIER_SET
    return _instance(Identifier, values, fields_set)


_cached_identifier = lru_cache(maxsize=4096)(_checked_identifier)


_PROVENANCE_FIELDS = tuple(Provenance.model_fields)


def make_provenance(source: str, source_id: str | None, raw_format: str) -> Provenance:
    """``Provenance(source=..., source_id=..., raw_format=...)``, made once per record read."""
    if (
        type(source) is not str
        or type(raw_format) is not str
        or not (source_id is None or type(source_id) is str)
    ):
        return Provenance(source=source, source_id=source_id, raw_format=raw_format)
    values: dict[str, Any] = dict.fromkeys(_PROVENANCE_FIELDS)
    values["source"] = source
    values["source_id"] = source_id
    values["raw_format"] = raw_format
    return _instance(Provenance, values, {"source", "source_id", "raw_format"})


def _all_of(items: object, cls: type) -> bool:
    return isinstance(items, list) and all(type(item) is cls for item in items)


_NAME_KEYS = {key: key for key in _NAME_FIELDS} | {
    "dropping-particle": "dropping_particle",
    "non-dropping-particle": "non_dropping_particle",
}


# The same people recur through a file; names are immutable, so records may share them.
@lru_cache(maxsize=8192)
def _family_given(family: str, given: str) -> Name | None:
    try:
        return make_name(family=family, given=given)
    except ValueError:
        return None


def _names_field(value: object) -> list[Name] | None:
    """Names as instances, or as clean CSL-style part dicts (made here, once)."""
    if not isinstance(value, list):
        return None
    names: list[Name] = []
    for item in value:
        if type(item) is Name:
            names.append(item)
            continue
        if type(item) is not dict:
            return None
        if len(item) == 2:
            family = item.get("family")
            given = item.get("given")
            if type(family) is str and type(given) is str:
                name = _family_given(family, given)
                if name is None:
                    return None
                names.append(name)
                continue
        parts: dict[str, str | None] = {}
        for key, part in item.items():
            field = _NAME_KEYS.get(key)
            if field is None or field in parts:
                return None
            parts[field] = part
        try:
            names.append(make_name(**parts))
        except ValueError:
            return None  # validation of the whole record reports it, located
    return names


_LINE_FIELDS = frozenset(_TEXT_FIELDS)
_PARAGRAPH_FIELDS = frozenset(_MULTILINE_FIELDS)
_RECORD_TEMPLATE: dict[str, Any] = {
    name: None if info.default_factory is not None else info.default
    for name, info in Record.model_fields.items()
}
_RECORD_FACTORIES: tuple[tuple[str, Any], ...] = tuple(
    (name, info.default_factory)
    for name, info in Record.model_fields.items()
    if info.default_factory is not None
)
_FALLBACK = object()


def _fast_value(key: str, value: Any) -> Any:
    """One field's validated value, or ``_FALLBACK`` when only pydantic can say."""
    if key in _LINE_FIELDS:
        if value is None or type(value) is str:
            return clean_optional(value)
        return _FALLBACK
    if key in _PARAGRAPH_FIELDS:
        if value is None or type(value) is str:
            return clean_optional(value, multiline=True)
        return _FALLBACK
    if key == "author" or key == "editor" or key == "translator":
        names = _names_field(value)
        return _FALLBACK if names is None else names
    if key == "issued" or key == "accessed":
        if value is None or type(value) is Date:
            return value
        return _FALLBACK
    if key == "type":
        return value if type(value) is str and value in _CSL_TYPE_SET else _FALLBACK
    if key == "page":
        return _clean_pages(value) if value is None or type(value) is str else _FALLBACK
    if key == "language":
        return _clean_language(value) if value is None or type(value) is str else _FALLBACK
    if key == "keywords":
        return _clean_keywords(value) if isinstance(value, list) else _FALLBACK
    if key == "identifiers":
        if not isinstance(value, list):
            return _FALLBACK
        idents: list[Identifier] = []
        for item in value:
            if type(item) is Identifier:
                idents.append(item)
            elif type(item) is dict:
                try:
                    idents.append(make_identifier(item))
                except ValueError:
                    return _FALLBACK  # validation of the whole record reports it, located
            else:
                return _FALLBACK
        return dedupe_identifiers(idents)
    if key == "extra":
        return _clean_extra(value) if type(value) is dict else _FALLBACK
    if key == "provenance":
        return list(value) if _all_of(value, Provenance) else _FALLBACK
    if key == "field_sources":
        if type(value) is dict and all(
            type(k) is str and type(v) is FieldSource for k, v in value.items()
        ):
            return dict(value)
        return _FALLBACK
    return _FALLBACK


def build_record(data: dict[str, Any]) -> Record:
    """``Record(**data)`` for the values readers build: the same record, several times faster.

    Keys must be field names (not the hyphenated aliases); names, dates and provenance
    must be model instances; identifiers may be ``scheme``/``value``/``kind`` dicts.
    Anything else, and any value validation would refuse, takes the full validation path
    (which raises ``ValidationError`` as usual).
    """
    ordered = _RECORD_TEMPLATE.copy()  # every field, in order, at its default
    for name, factory in _RECORD_FACTORIES:
        ordered[name] = factory()
    for key, value in data.items():
        if type(value) is str and key in _LINE_FIELDS:
            # The commonest case inline: a line of text that is already clean
            # (``is_clean`` spelled out; else ``clean_optional`` as the validator does).
            if not (
                value
                and value.isprintable()
                and value[0] != " "
                and value[-1] != " "
                and "  " not in value
                and (value.isascii() or is_normalized("NFC", value))
            ):
                value = clean_optional(value)
            ordered[key] = value
            continue
        clean = _fast_value(key, value)
        if clean is _FALLBACK:
            return Record(**data)
        ordered[key] = clean
    return _instance(Record, ordered, set(data))


def complete_models() -> None:
    """Build every model's validator now rather than at its first use.

    The models defer that (``defer_build``): a small conversion that validates nothing
    through pydantic skips it, ~30 ms of start-up. A process about to fork workers
    builds them once, so the workers share them instead of each building its own.
    """
    for cls in (Name, Date, Identifier, Provenance, FieldSource, Record):
        cls.model_rebuild()


def record_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``Record`` (serialisation side, CSL-style hyphenated keys)."""
    return Record.model_json_schema(by_alias=True, mode="serialization")


SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "record.schema.json"


def render_json_schema() -> str:
    schema = record_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://github.com/harvester/harvester/schemas/record.schema.json"
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
