"""MODS 3 reader (Metadata Object Description Schema, https://www.loc.gov/standards/mods/).

==================================  =======================================================
titleInfo (not type=abbreviated...)  title (nonSort + title + ": " subTitle + ". " part...)
name + role/roleTerm                 author (aut, cre or no role), editor (edt), translator
                                     (trl); namePart type=family/given, else one string;
                                     type=corporate/conference: literal
genre, typeOfResource                type
originInfo                           publisher, place/placeTerm (text), dateIssued (else
                                     dateCreated/copyrightDate), edition
language/languageTerm                language (the first)
abstract, note                       abstract, note
subject/topic|geographic|temporal    keywords
identifier type=doi|isbn|issn|uri    identifiers (others: classify_identifier, else extra)
location/url                         URL identifiers
relatedItem type=host                container_title; part/detail volume|issue|number;
                                     part/extent unit=page start-end; its ISSN/ISBN
relatedItem type=series              collection_title (+ part number)
==================================  =======================================================

Unmapped top-level elements are kept as text in ``extra["mods:<element>"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TextIO

from harvester.formats._base import Format, ReadResult
from harvester.formats._xml_records import read_records
from harvester.model import Identifier, Name, Record
from harvester.normalize.dates import parse_date
from harvester.normalize.identifiers import (
    classify_identifier,
    parse_doi,
    parse_isbns,
    parse_issns,
)
from harvester.normalize.names import parse_name
from harvester.xml import Element

NAME = "mods"
MODS_NS = "http://www.loc.gov/mods/v3"
_M = "{" + MODS_NS + "}"

_GENRES: tuple[tuple[str, str], ...] = (
    ("journal article", "article-journal"),
    ("article", "article-journal"),
    ("book chapter", "chapter"),
    ("chapter", "chapter"),
    ("conference", "paper-conference"),
    ("thesis", "thesis"),
    ("dissertation", "thesis"),
    ("report", "report"),
    ("dataset", "dataset"),
    ("software", "software"),
    ("book", "book"),
    ("periodical", "periodical"),
    ("journal", "periodical"),
    ("map", "map"),
    ("manuscript", "manuscript"),
)
_RESOURCE_TYPES = {
    "cartographic": "map",
    "notated music": "musical_score",
    "sound recording": "song",
    "sound recording-musical": "song",
    "still image": "graphic",
    "moving image": "motion_picture",
    "software, multimedia": "software",
}
_EDITOR = {"edt", "editor"}
_TRANSLATOR = {"trl", "translator"}
_AUTHOR = {"aut", "author", "cre", "creator"}
_HANDLED = {
    "titleInfo",
    "name",
    "genre",
    "typeOfResource",
    "originInfo",
    "language",
    "abstract",
    "note",
    "subject",
    "identifier",
    "location",
    "relatedItem",
    "part",
    "recordInfo",
}


def _text(element: Element | None) -> str | None:
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    return text or None


def _child(element: Element, name: str) -> Element | None:
    found: Element | None = element.find(_M + name)
    return found


def _title(info: Element) -> str | None:
    title = _text(_child(info, "title"))
    if title is None:
        return None
    non_sort = _text(_child(info, "nonSort"))
    if non_sort:
        title = f"{non_sort} {title}" if not non_sort.endswith(("'", "-")) else non_sort + title
    sub = _text(_child(info, "subTitle"))
    if sub:
        title = f"{title}: {sub}"
    parts = [_text(e) for e in info if e.tag in (_M + "partNumber", _M + "partName")]
    extra = [p for p in parts if p]
    return ". ".join([title, *extra]) if extra else title


def _main_title(element: Element) -> str | None:
    for info in element.findall(_M + "titleInfo"):
        if info.get("type") in (None, "", "uniform") or info.get("usage") == "primary":
            found = _title(info)
            if found:
                return found
    return None


def _name(element: Element) -> tuple[str, Name] | None:
    roles = {
        (term.text or "").strip().lower().rstrip(".")
        for term in element.iter(_M + "roleTerm")
        if term.text
    }
    if roles & _EDITOR:
        role = "editor"
    elif roles & _TRANSLATOR:
        role = "translator"
    elif not roles or roles & _AUTHOR:
        role = "author"
    else:
        role = "other"
    if element.get("type") in ("corporate", "conference"):
        parts = [_text(p) for p in element.findall(_M + "namePart")]
        literal = ". ".join(p for p in parts if p)
        return (role, Name(literal=literal)) if literal else None
    family = given = None
    plain: list[str] = []
    for part in element.findall(_M + "namePart"):
        value = _text(part)
        if not value:
            continue
        kind = part.get("type")
        if kind == "family":
            family = value
        elif kind == "given":
            given = f"{given} {value}" if given else value
        elif kind is None:
            plain.append(value)
    if family or given:
        return role, Name(family=family, given=given)
    if plain:
        try:
            return role, parse_name(", ".join(plain))
        except ValueError:
            return None
    display = _text(_child(element, "displayForm"))
    if display:
        try:
            return role, parse_name(display)
        except ValueError:
            return None
    return None


def _identifier(kind: str, value: str) -> list[Identifier]:
    kind = kind.lower()
    if kind == "doi":
        doi = parse_doi(value)
        return [Identifier(scheme="doi", value=doi)] if doi else []
    if kind == "isbn":
        return parse_isbns(value)
    if kind in ("issn", "issn-l", "eissn"):
        found = parse_issns(value)
        if kind == "issn-l":
            return [i.model_copy(update={"kind": "linking"}) for i in found]
        return found
    found_one = classify_identifier(value)
    return [found_one] if found_one is not None else []


def _type(element: Element, has_host: bool) -> str:
    for genre in element.findall(_M + "genre"):
        value = (_text(genre) or "").lower()
        for needle, csl in _GENRES:
            if needle in value:
                return csl
    resource = (_text(_child(element, "typeOfResource")) or "").lower()
    if resource in _RESOURCE_TYPES:
        return _RESOURCE_TYPES[resource]
    if has_host:
        return "article-journal"
    return "book" if resource == "text" else "document"


def _part(part: Element, data: dict[str, Any]) -> None:
    for detail in part.findall(_M + "detail"):
        kind = detail.get("type")
        number = _text(_child(detail, "number"))
        if number and kind in ("volume", "issue", "number"):
            data.setdefault(kind, number)
    for extent in part.findall(_M + "extent"):
        if extent.get("unit") in ("page", "pages", None):
            start = _text(_child(extent, "start"))
            end = _text(_child(extent, "end"))
            listed = _text(_child(extent, "list"))
            if start:
                data.setdefault("page", f"{start}-{end}" if end else start)
            elif listed:
                data.setdefault("page", listed)
    date = _text(_child(part, "date"))
    if date:
        data.setdefault("_part_date", date)


def from_element(element: Element, *, source_id: str | None = None) -> Record:
    """Map a ``<mods>`` element (OAI-PMH metadata or a modsCollection member).

    Raises:
        pydantic.ValidationError: the mapped values do not make a valid record.
    """
    data: dict[str, Any] = {}
    names: dict[str, list[Name]] = {"author": [], "editor": [], "translator": []}
    identifiers: list[Identifier] = []
    keywords: list[str] = []
    extra: dict[str, list[str]] = {}
    notes: list[str] = []
    has_host = False
    data["title"] = _main_title(element)
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or not tag.startswith(_M):
            continue
        local = tag[len(_M) :]
        if local == "name":
            found = _name(child)
            if found is not None:
                role, name = found
                if role in names:
                    names[role].append(name)
                else:
                    extra.setdefault("mods:name", []).append(name.display())
        elif local == "originInfo":
            publisher = _text(_child(child, "publisher"))
            if publisher:
                data.setdefault("publisher", publisher)
            for term in child.iter(_M + "placeTerm"):
                if term.get("type") != "code" and term.text and term.text.strip():
                    data.setdefault("publisher_place", term.text.strip())
            for date_tag in ("dateIssued", "dateCreated", "copyrightDate"):
                value = _text(_child(child, date_tag))
                if value:
                    data.setdefault("_date", value)
                    break
            edition = _text(_child(child, "edition"))
            if edition:
                data.setdefault("edition", edition)
        elif local == "language":
            for term in child.findall(_M + "languageTerm"):
                if term.text and term.text.strip():
                    data.setdefault("language", term.text.strip())
                    break
        elif local == "abstract":
            text = _text(child)
            if text:
                data.setdefault("abstract", text)
        elif local == "note":
            text = _text(child)
            if text:
                notes.append(text)
        elif local == "subject":
            for topic in child:
                if topic.tag in (_M + "topic", _M + "geographic", _M + "temporal"):
                    text = _text(topic)
                    if text:
                        keywords.append(text)
        elif local == "identifier":
            value = _text(child)
            if value:
                found_ids = _identifier(child.get("type") or "", value)
                if found_ids:
                    identifiers.extend(found_ids)
                else:
                    extra.setdefault("mods:identifier", []).append(value)
        elif local == "location":
            for url in child.findall(_M + "url"):
                value = _text(url)
                if value:
                    found_url = classify_identifier(value)
                    if found_url is not None:
                        identifiers.append(found_url)
        elif local == "relatedItem":
            kind = child.get("type")
            if kind == "host":
                has_host = True
                container = _main_title(child)
                if container:
                    data.setdefault("container_title", container)
                for ident in child.findall(_M + "identifier"):
                    value = _text(ident)
                    if value and (ident.get("type") or "").lower() in ("issn", "isbn", "eissn"):
                        identifiers.extend(_identifier(ident.get("type") or "", value))
                for part in child.findall(_M + "part"):
                    _part(part, data)
            elif kind == "series":
                series = _main_title(child)
                if series:
                    data.setdefault("collection_title", series)
            else:
                text = _main_title(child) or _text(child)
                if text:
                    extra.setdefault(f"mods:relatedItem:{kind or 'other'}", []).append(text)
        elif local == "part":
            _part(child, data)
        elif local not in _HANDLED:
            text = _text(child)
            if text:
                extra.setdefault(f"mods:{local}", []).append(text)
    date_text = data.pop("_date", None) or data.pop("_part_date", None)
    data.pop("_part_date", None)
    if date_text:
        data["issued"] = parse_date(date_text)
    data["type"] = _type(element, has_host)
    if source_id is not None:
        identifiers.append(Identifier(scheme="oai", value=source_id))
    return Record(
        **data,
        author=names["author"],
        editor=names["editor"],
        translator=names["translator"],
        identifiers=identifiers,
        keywords=keywords,
        note="\n".join(notes) or None,
        extra=extra,
    )


def read(stream: TextIO, source: str) -> Iterator[ReadResult]:
    """Stream the ``<mods>`` records of a modsCollection or an OAI-PMH response."""
    return read_records(stream, source, format_name=NAME, to_record=from_element, tag=_M + "mods")


def sniff(head: str) -> bool:
    return MODS_NS in head and ("<mods" in head or ":mods" in head)


FORMAT = Format(
    name=NAME,
    title="MODS 3 (collections and OAI-PMH mods responses; read only)",
    extensions=(".mods",),
    media_type="application/mods+xml",
    read=read,
    sniff=sniff,
)
