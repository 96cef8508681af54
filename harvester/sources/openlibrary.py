"""Open Library's Books API for ISBNs (https://openlibrary.org/dev/docs/api/books).

``/api/books?bibkeys=ISBN:a,ISBN:b&format=json&jscmd=data`` answers one JSON object keyed
by the bibkeys it found; a bibkey it does not know is simply absent, which is a
:class:`NotFound` for that target alone. Many ISBNs go in one request (Open Library asks
for one request a second, see ``harvester.http.KNOWN_HOSTS``).

==========================  ===============================================================
title, subtitle             title ("Title: Subtitle")
authors[].name              author (``parse_name``)
publishers[].name           publisher (the first; the others in extra openlibrary:publisher)
publish_places[].name       publisher_place (the first; the others in extra)
publish_date                issued (``parse_date``)
number_of_pages             number_of_pages (else ``pagination`` through parse_page_count)
identifiers isbn_10/isbn_13 isbn; oclc -> oclc; lccn -> lccn; others in extra
subjects[].name             keywords (subject_places/people/times too)
url                         url identifier
notes                       note
key                         id
by_statement, classifications, excerpts, links, table_of_contents: extra
==========================  ===============================================================
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from harvester.errors import FetchError, NotFound
from harvester.formats._base import describe_validation_error
from harvester.model import Identifier, Name, Record
from harvester.normalize.dates import parse_date
from harvester.normalize.identifiers import parse_isbns, parse_oclc
from harvester.normalize.names import parse_name
from harvester.normalize.pages import parse_page_count
from harvester.sources._base import FetchContext, Source, Target, stamp

NAME = "openlibrary"
BATCH_SIZE = 50
"""ISBNs per request: keeps the URL short (about 1 kB) while saving 49 of 50 requests."""

Outcome = list[Record] | FetchError


def detect(target: Target) -> bool:
    return target.kind == "isbn"


def _names(items: object) -> list[str]:
    """``[{"name": ...}, ...]`` (or plain strings) -> the names, blanks dropped."""
    out: list[str] = []
    if not isinstance(items, list):
        return out
    for item in items:
        value = item.get("name") if isinstance(item, dict) else item
        if isinstance(value, str) and value.strip():
            out.append(value.strip())
    return out


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def _text_value(value: object) -> str | None:
    """Open Library text is a string or ``{"type": "/type/text", "value": ...}``."""
    if isinstance(value, dict):
        value = value.get("value")
    return value if isinstance(value, str) and value.strip() else None


_IDENTIFIER_SCHEMES = {"isbn_10": "isbn", "isbn_13": "isbn", "lccn": "lccn"}


def to_record(data: dict[str, Any]) -> Record:
    """Map one ``jscmd=data`` entry to a record.

    Raises:
        ValueError: the entry cannot make a valid record.
    """
    extra: dict[str, list[str]] = {}

    def keep(key: str, values: list[str]) -> None:
        if values:
            extra.setdefault(f"openlibrary:{key}", []).extend(values)

    title = _text_value(data.get("title"))
    subtitle = _text_value(data.get("subtitle"))
    if title and subtitle:
        title = f"{title}: {subtitle}"
    authors: list[Name] = []
    for name in _names(data.get("authors")):
        try:
            authors.append(parse_name(name))
        except ValueError:  # no letter or digit: kept as given, not an author
            keep("author", [name])
    publishers = _names(data.get("publishers"))
    places = _names(data.get("publish_places"))
    keep("publisher", publishers[1:])
    keep("publish_place", places[1:])
    publish_date = _text_value(data.get("publish_date"))
    pages = data.get("number_of_pages")
    number_of_pages = (
        str(pages)
        if isinstance(pages, int | str) and str(pages).isdecimal() and int(pages) > 0
        else None
    )
    pagination = _text_value(data.get("pagination"))
    if number_of_pages is None and pagination:
        number_of_pages = parse_page_count(pagination)
    keep("pagination", [pagination] if pagination else [])

    identifiers: list[Identifier] = []
    raw_ids = data.get("identifiers")
    if isinstance(raw_ids, dict):
        for key, values in raw_ids.items():
            scheme = _IDENTIFIER_SCHEMES.get(key)
            for value in _strings(values):
                try:
                    if scheme == "isbn" and (isbns := parse_isbns(value)):
                        identifiers.extend(isbns)
                        continue
                    if scheme == "lccn":
                        identifiers.append(Identifier(scheme="lccn", value=value))
                        continue
                    if key == "oclc" and parse_oclc(value):
                        identifiers.append(Identifier(scheme="oclc", value=value))
                        continue
                except ValueError:
                    pass  # not an identifier of that scheme after all: kept below
                keep(str(key), [value])
    url = _text_value(data.get("url"))
    if url and url.startswith(("https://", "http://")):
        identifiers.append(Identifier(scheme="url", value=url))

    keywords = _names(data.get("subjects"))
    for key in ("subject_places", "subject_people", "subject_times"):
        keywords.extend(_names(data.get(key)))
    by_statement = _text_value(data.get("by_statement"))
    keep("by_statement", [by_statement] if by_statement else [])
    classifications = data.get("classifications")
    if isinstance(classifications, dict):
        for key, values in classifications.items():
            keep(str(key), _strings(values))
    excerpts = data.get("excerpts")
    if isinstance(excerpts, list):
        keep(
            "excerpt",
            [t for t in (_text_value(e.get("text")) for e in excerpts if isinstance(e, dict)) if t],
        )
    links = data.get("links")
    if isinstance(links, list):
        keep(
            "link",
            [t for t in (_text_value(e.get("url")) for e in links if isinstance(e, dict)) if t],
        )
    toc = data.get("table_of_contents")
    if isinstance(toc, list):
        keep(
            "table_of_contents",
            [t for t in (_text_value(e.get("title")) for e in toc if isinstance(e, dict)) if t],
        )

    return Record(
        id=_text_value(data.get("key")),
        type="book",
        title=title,
        author=authors,
        publisher=publishers[0] if publishers else None,
        publisher_place=places[0] if places else None,
        issued=parse_date(publish_date) if publish_date else None,
        number_of_pages=number_of_pages,
        note=_text_value(data.get("notes")),
        keywords=keywords,
        identifiers=identifiers,
        extra=extra,
    )


def _raw(entry: dict[str, Any]) -> dict[str, str]:
    """The raw values of fields that ``to_record`` normalises."""
    raw: dict[str, str] = {}
    publish_date = _text_value(entry.get("publish_date"))
    if publish_date:
        raw["issued"] = publish_date
    authors = _names(entry.get("authors"))
    if authors:
        raw["author"] = "; ".join(authors)
    return raw


async def _books(isbns: list[str], ctx: FetchContext) -> dict[str, Outcome]:
    """One Books API request for up to ``BATCH_SIZE`` ISBNs."""
    url = f"{ctx.settings.url('openlibrary')}/api/books"
    params = {
        "bibkeys": ",".join(f"ISBN:{isbn}" for isbn in isbns),
        "format": "json",
        "jscmd": "data",
    }
    try:
        response = await ctx.client.get(url, params=params, expect="json")
        body = response.read()
        data = json.loads(body)
    except FetchError as exc:
        return dict.fromkeys(isbns, exc)
    except ValueError as exc:
        error = FetchError(f"Open Library sent invalid JSON: {exc}", url=url, status=200)
        error.__cause__ = exc
        return dict.fromkeys(isbns, error)
    if not isinstance(data, dict):
        error = FetchError("Open Library's answer is not a JSON object", url=url, status=200)
        return dict.fromkeys(isbns, error)
    out: dict[str, Outcome] = {}
    for isbn in isbns:
        entry = data.get(f"ISBN:{isbn}")
        if entry is None:
            out[isbn] = NotFound(f"ISBN {isbn} is not in Open Library", url=url, status=None)
            continue
        if not isinstance(entry, dict):
            out[isbn] = FetchError(f"ISBN {isbn}: Open Library's entry is not an object", url=url)
            continue
        try:
            record = to_record(entry)
        except ValueError as exc:
            cause = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
            out[isbn] = FetchError(
                f"ISBN {isbn}: Open Library's entry is unusable: {cause}", url=url
            )
            continue
        if not any(i.scheme == "isbn" for i in record.identifiers):
            record.identifiers.append(Identifier(scheme="isbn", value=isbn))
        source_url = (
            _text_value(entry.get("url")) or f"{url}?bibkeys=ISBN:{isbn}&format=json&jscmd=data"
        )
        out[isbn] = [
            stamp(
                record,
                source=NAME,
                source_id=f"ISBN:{isbn}",
                url=source_url,
                raw_format="openlibrary-books-json",
                body=body,
                raw=_raw(entry),
            )
        ]
    return out


async def fetch_many(targets: Sequence[Target], ctx: FetchContext) -> dict[Target, Outcome]:
    """Fetch ISBNs, ``BATCH_SIZE`` to a request."""
    isbns = list(dict.fromkeys(t.value for t in targets if t.kind == "isbn"))
    batches = [isbns[i : i + BATCH_SIZE] for i in range(0, len(isbns), BATCH_SIZE)]
    found: dict[str, Outcome] = {}
    for answer in await asyncio.gather(*(_books(b, ctx) for b in batches)):
        found.update(answer)
    results: dict[Target, Outcome] = {}
    for target in targets:
        outcome = found.get(target.value)
        results[target] = (
            outcome if outcome is not None else NotFound(f"{target.raw} is not an ISBN")
        )
    return results


async def fetch(target: Target, ctx: FetchContext) -> list[Record]:
    """One ISBN.

    Raises:
        NotFound: Open Library has no edition with this ISBN.
        FetchError: the request failed or the answer was not usable JSON.
    """
    outcome = (await fetch_many([target], ctx))[target]
    if isinstance(outcome, FetchError):
        raise outcome
    return outcome


SOURCE = Source(
    name=NAME,
    detect=detect,
    fetch=fetch,
    fetch_many=fetch_many,
    batch_size=BATCH_SIZE,
    kind="catalogue",
)
