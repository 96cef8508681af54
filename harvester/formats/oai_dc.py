"""Dublin Core as OAI-PMH serves it (``oai_dc``): a reader into the model.

Simple DC has fifteen repeatable, untyped elements (https://www.dublincore.org/specifications/
dublin-core/dces/); the mapping is the common practice of repositories (DRIVER/OpenAIRE
guidelines for ``dc:type``):

===========  ==========================================================================
title        title (further titles: extra)
creator      author (each parsed as one name)
contributor  extra (advisors, editors, funders: DC does not say which)
subject      keywords (split on ";")
description  abstract (the first; the rest: extra)
publisher    publisher; date: issued (the first that parses)
type         CSL type (info:eu-repo/semantics/* and plain words); all values kept in extra
identifier   DOI, ISBN, ISSN, URL... via classify_identifier; unrecognised: extra
language     language (the first)
format, source, relation, coverage, rights: extra
===========  ==========================================================================
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, TextIO

from harvester.formats._base import Format, ReadResult
from harvester.formats._xml_records import read_records, tidy_name
from harvester.model import Identifier, Name, Record
from harvester.normalize.dates import parse_date
from harvester.normalize.identifiers import classify_identifier
from harvester.normalize.names import parse_name
from harvester.xml import Element

NAME = "oai_dc"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
_DC = "{" + DC_NS + "}"
_DC_LEN = len(_DC)

# Checked in order against the lower-cased value with spaces, "-" and "_" removed.
_TYPES: tuple[tuple[str, str], ...] = (
    ("bookpart", "chapter"),
    ("chapter", "chapter"),
    ("booksection", "chapter"),
    ("thesis", "thesis"),
    ("dissertation", "thesis"),
    ("conference", "paper-conference"),
    ("proceeding", "paper-conference"),
    ("workingpaper", "report"),
    ("report", "report"),
    ("preprint", "article"),
    ("review", "review"),
    ("article", "article-journal"),
    ("contributiontoperiodical", "article-journal"),
    ("book", "book"),
    ("monograph", "book"),
    ("dataset", "dataset"),
    ("software", "software"),
    ("patent", "patent"),
    ("lecture", "speech"),
    ("movingimage", "motion_picture"),
    ("video", "motion_picture"),
    ("stillimage", "graphic"),
    ("image", "graphic"),
    ("sound", "song"),
    ("map", "map"),
)


def dc_type(values: list[str]) -> str | None:
    """The CSL type of the first ``dc:type`` value we recognise."""
    for value in values:
        found = _type_of(value)
        if found is not None:
            return found
    return None


@functools.lru_cache(maxsize=1024)
def _type_of(value: str) -> str | None:
    # A repository uses a handful of type values over and over: decide each once.
    key = value.lower().rsplit("/", 1)[-1]
    for char in " -_":
        key = key.replace(char, "")
    for needle, csl in _TYPES:
        if needle in key:
            return csl
    return None


@functools.lru_cache(maxsize=8192)
def _creator(text: str) -> Name | None:
    """A ``dc:creator`` as a name (None: not one); names repeat across a repository's
    records, and ``Name`` is immutable, so one parse serves them all."""
    try:
        return parse_name(tidy_name(text))
    except ValueError:
        return None


_ANY_DC = _DC + "*"


def _values(element: Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for child in element.iterchildren(_ANY_DC):  # elements in the DC namespace only
        # Simple DC elements hold text only; markup inside one is flattened, not lost.
        text = child.text if not len(child) else "".join(child.itertext())
        if text:
            text = text.strip()
            if text:
                key = child.tag[_DC_LEN:]
                found = out.get(key)
                if found is None:
                    out[key] = [text]
                else:
                    found.append(text)
    return out


def from_element(element: Element, *, source_id: str | None = None) -> Record:
    """Map an ``oai_dc:dc`` element (or any element holding ``dc:*`` children).

    Raises:
        pydantic.ValidationError: the mapped values do not make a valid record.
    """
    dc = _values(element)
    data: dict[str, Any] = {}
    extra: dict[str, list[str]] = {}
    titles = dc.pop("title", [])
    if titles:
        data["title"] = titles[0]
        if titles[1:]:
            extra["oai_dc:title"] = titles[1:]
    authors: list[Name] = []
    for text in dc.pop("creator", []):
        name = _creator(text)
        if name is None:
            extra.setdefault("oai_dc:creator", []).append(text)
        else:
            authors.append(name)
    keywords = [part.strip() for text in dc.pop("subject", []) for part in text.split(";")]
    descriptions = dc.pop("description", [])
    if descriptions:
        data["abstract"] = descriptions[0]
        if descriptions[1:]:
            extra["oai_dc:description"] = descriptions[1:]
    publishers = dc.pop("publisher", [])
    if publishers:
        data["publisher"] = publishers[0]
        if publishers[1:]:
            extra["oai_dc:publisher"] = publishers[1:]
    dates = dc.pop("date", [])
    for index, text in enumerate(dates):
        parsed = parse_date(text)
        if parsed is not None and parsed.parts:
            data["issued"] = parsed
            rest = dates[:index] + dates[index + 1 :]
            if rest:
                extra["oai_dc:date"] = rest
            break
    else:
        if dates:
            extra["oai_dc:date"] = dates
    types = dc.pop("type", [])
    data["type"] = dc_type(types) or "document"
    if types:
        extra["oai_dc:type"] = types
    identifiers: list[Identifier] = []
    for text in dc.pop("identifier", []):
        found = classify_identifier(text)
        if found is None:
            extra.setdefault("oai_dc:identifier", []).append(text)
        else:
            identifiers.append(found)
    if source_id is not None:
        identifiers.append(Identifier(scheme="oai", value=source_id))
    languages = dc.pop("language", [])
    if languages:
        data["language"] = languages[0]
        if languages[1:]:
            extra["oai_dc:language"] = languages[1:]
    for key, values in dc.items():
        extra.setdefault(f"oai_dc:{key}", []).extend(values)
    return Record(
        **data,
        author=authors,
        keywords=keywords,
        identifiers=identifiers,
        extra=extra,
    )


_DC_ROOT = "{" + OAI_DC_NS + "}dc"


def read(stream: TextIO, source: str) -> Iterator[ReadResult]:
    """Stream the ``oai_dc:dc`` records of an OAI-PMH response (or any document of them)."""
    return read_records(stream, source, format_name=NAME, to_record=from_element, tag=_DC_ROOT)


def sniff(head: str) -> bool:
    return OAI_DC_NS in head


FORMAT = Format(
    name=NAME,
    title="Dublin Core (oai_dc, as in OAI-PMH responses; read only)",
    extensions=(),
    media_type="application/xml",
    read=read,
    sniff=sniff,
    aliases=("dc", "oai-dc"),
)
