"""VuFind catalogue records: every layer the instance offers, merged with provenance.

A VuFind record URL is ``<base>/<Controller>/<id>[/<tab>]``: ``Record`` (the local Solr
index), ``Collection``, ``SummonRecord``, ``PrimoRecord``, ``EdsRecord``,
``Search2Record`` and the other ``...Record`` controllers (VuFind's ``$recordRoutes``),
plus the older ``<base>/<Backend>/Record/<id>`` and ``...?id=<id>`` forms. Ids may be
percent-encoded and hold dots and colons; the instance's own URLs get them encoded as
VuFind writes them (PHP ``rawurlencode``: ``oai%3Aexample.org%3A12.3``), the REST API
and provenance get them decoded.

Layers, in the order the merge asks them for a field (``harvester.merge``, every layer of
kind ``catalogue``, so the first layer that has a field gives it):

1. ``vufind:page``: the record page's "Bibliographic Details" table and its
   "Description" tab (from the page itself when that tab is the one shown, else from
   ``<record>/Description``), read with the row rules of the ``catalogue-text`` reader
   (:func:`harvester.formats.catalogue_text.record_from_rows`), so a page and the text
   a person copies from it give one record. It comes first because it is what the
   catalogue shows for this record, rendered by VuFind from the same index or MARC data
   as every other layer, it is there whatever the instance exports, and it keeps the
   full citation line ("2017-08, Vol.14 (2), p.1538-1546") that exports cut to a year.
   Fields from the Description tab are labelled ``vufind:description``.
2. ``vufind:marcxml`` (or ``vufind:marc``, binary MARC via pymarc, only when the page
   offers MARC but not MARCXML): the cataloguer's record, read by the ``marcxml``
   reader; it fills what the display leaves out.
3. ``vufind:api``: the REST API (``<base>/api/v1/record?id=...``, Solr records only;
   ``/api/v1/index2/record`` for ``Search2``), field names from VuFind's
   ``SearchApiRecordFields.yaml``.
4. ``vufind:ris`` and 5. ``vufind:bibtex``: ``Export?style=RIS|BibTeX``, read by the
   ``ris``/``bibtex`` readers. VuFind writes them from the same getters through lossy
   templates (years only; BibTeX calls secondary authors editors; older RIS templates
   give only the first author), so they only fill gaps.
6. ``vufind:embedded``: the page's embedded metadata (Highwire ``citation_*``, COinS,
   schema.org RDFa; :func:`harvester.formats.html_meta.record_from_root`). Last: VuFind
   writes one ``citation_issn`` only and turns a "2017-08" into ``08/01/2017``.

After the merge, a more precise date wins when it agrees with the chosen one ("2017"
and "2017-08" from another layer give 2017-08; the embedded layer's invented days do
not count), a longer list of people that begins with the chosen list wins (a layer
that cut it short loses), and the record id is left empty: the catalogue's id is
provenance (``source_id``), not a citation key.

Exports are requested only when the page offers them (its "Export Record" menu; a
VuFind page without the menu is tried for MARCXML, RIS and BibTeX); a page that does
not look like VuFind at all gets no export or API request, only its embedded metadata.
Per record that is the page, the Description tab when it is not the one shown, up to
three exports and the API: at most six requests, paced per host by the client. An
export or API call that answers with HTML (a login page, the record page again, a 404 page), 404, an
error status or an unreadable payload is a layer that is not there: it is logged and
skipped, and the record still comes from the page. A bot challenge on an export does
not block the target; only a blocked page with no export to stand in for it does.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

from pymarc import MARCReader
from pymarc import Record as MarcRecord

from harvester.errors import Blocked, FetchError, ParseError
from harvester.formats import FORMATS
from harvester.formats._input import open_bytes
from harvester.formats.catalogue_text import Row, parse_page_count, record_from_rows
from harvester.formats.catalogue_text import format_to_type as catalogue_format_to_type
from harvester.formats.html_meta import parse_html, record_from_root
from harvester.formats.marcxml import marc_to_record
from harvester.http import Response, blocked_reason
from harvester.merge import Layer, merge
from harvester.model import Date, FieldSource, Identifier, Name, Provenance, Record
from harvester.normalize.dates import parse_date
from harvester.normalize.identifiers import parse_doi, parse_isbns, parse_issns
from harvester.normalize.names import parse_name
from harvester.sources._base import FetchContext, Source, Target, stamp

__all__ = [
    "LAYER_ORDER",
    "NAME",
    "SOURCE",
    "RecordUrl",
    "api_record",
    "detect",
    "fetch",
    "merge_layers",
    "page_rows",
    "parse_record_url",
]

NAME = "vufind"
LAYER_ORDER: tuple[str, ...] = ("page", "marcxml", "marc", "api", "ris", "bibtex", "embedded")
"""Merge order of the layers (see the module docstring for why)."""

_log = logging.getLogger(__name__)

# --- Record URLs ----------------------------------------------------------------------------

# VuFind's record controllers: "Record", "Collection", and "<Backend>Record" /
# "<Backend>Collection" (SummonRecord, EdsRecord, Search2Record, ...).
_CONTROLLER = r"(?:[A-Z][A-Za-z0-9]*)?(?:Record|Collection)"
_MODERN = re.compile(
    r"^(?P<base>.*?)/(?P<route>" + _CONTROLLER + r")/(?P<id>[^/]+)(?:/(?P<tab>[^/]*))?/?$"
)
# Older and shorthand forms: "/Summon/Record/<id>", "/EDS/Record?id=<id>".
_BACKEND_ROUTE = re.compile(
    r"^(?P<base>.*?)/(?P<backend>[A-Za-z][A-Za-z0-9]*)/Record(?:/(?P<id>[^/]+)(?:/(?P<tab>[^/]*))?)?/?$"
)
_BACKENDS: dict[str, str] = {
    "summon": "SummonRecord",
    "primo": "PrimoRecord",
    "eds": "EdsRecord",
    "eit": "EITRecord",
    "search2": "Search2Record",
    "worldcat": "WorldcatRecord",
    "worldcat2": "Worldcat2Record",
    "blender": "BlenderRecord",
}
# Controllers whose records live in a Solr index the REST API serves.
_API_PATHS: dict[str, str] = {
    "Record": "/api/v1/record",
    "Collection": "/api/v1/record",
    "VuFindRecord": "/api/v1/record",
    "Search2Record": "/api/v1/index2/record",
    "Search2Collection": "/api/v1/index2/record",
}
# "Record" in a path is common outside VuFind too: these are never record ids.
_NOT_IDS = frozenset(("", "Home", "Search", "Results", "Advanced"))


@dataclass(frozen=True)
class RecordUrl:
    """Where one VuFind record lives: the instance base, the controller and the id."""

    scheme: str
    netloc: str
    base: str
    """Path before the controller ("" or "/vufind")."""
    route: str
    """The record controller (``Record``, ``SummonRecord``, ...)."""
    raw_id: str
    """The id as written in a URL path (percent-encoded)."""
    tab: str | None = None

    @property
    def record_id(self) -> str:
        return unquote(self.raw_id)

    def url(self, suffix: str = "") -> str:
        """An address under this record (``/Export``, ``/Description``...)."""
        path = f"{self.base}/{self.route}/{self.raw_id}{suffix}"
        return urlunsplit((self.scheme, self.netloc, path, "", ""))

    def export_url(self, style: str) -> str:
        return self.url("/Export") + "?" + urlencode({"style": style})

    @property
    def api_path(self) -> str | None:
        path = _API_PATHS.get(self.route)
        return f"{self.base}{path}" if path else None


def parse_record_url(url: str) -> RecordUrl | None:
    """The parts of a VuFind record URL, or None when ``url`` is not one."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    path = parts.path
    match = _BACKEND_ROUTE.match(path)
    if match is not None:
        route = _BACKENDS.get(match.group("backend").lower())
        raw_id = match.group("id")
        if raw_id is None:
            ids = parse_qs(parts.query).get("id")
            raw_id = quote(ids[0], safe="") if ids and ids[0] else None
        if route is not None and raw_id and raw_id not in _NOT_IDS:
            return RecordUrl(
                parts.scheme, parts.netloc, match.group("base"), route, _path_id(raw_id),
                match.group("tab") or None,
            )  # fmt: skip
    match = _MODERN.match(path)
    if match is not None and match.group("id") not in _NOT_IDS:
        return RecordUrl(
            parts.scheme, parts.netloc, match.group("base"), match.group("route"),
            _path_id(match.group("id")), match.group("tab") or None,
        )  # fmt: skip
    return None


def _path_id(raw: str) -> str:
    """The id as VuFind writes it in paths (PHP ``rawurlencode``), whatever was pasted."""
    return quote(unquote(raw), safe="")


def detect(target: Target) -> bool:
    """True for a URL shaped like a VuFind record page."""
    return target.kind == "url" and parse_record_url(target.value) is not None


# --- The page: its tables as catalogue rows ---------------------------------------------------

_SKIP_TAGS = frozenset(("script", "style", "noscript", "template", "button", "select", "input"))
_BLOCK_TAGS = frozenset(
    ("br", "p", "div", "li", "ul", "ol", "tr", "table", "dd", "dt", "dl", "h1", "h2", "h3",
     "h4", "h5", "h6", "blockquote", "pre", "section", "article", "form")
)  # fmt: skip
# Spans VuFind renders one per value inside a row (each author, each subject line).
_BLOCK_CLASSES = frozenset(("author-data", "subject-line", "subjectLine"))
_CORE_CAPTIONS = frozenset(
    ("bibliographic details", "bibliographische detailangaben", "bibliografische detailangaben")
)
_DESCRIPTION_CAPTIONS = frozenset(("description", "beschreibung"))


def _classes(element: Any) -> set[str]:
    return set(str(element.get("class") or "").split())


def _text_lines(element: Any) -> list[str]:
    """The lines a browser shows for an element: block elements and ``<br>`` break lines."""
    out: list[str] = []

    def walk(node: Any) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in _SKIP_TAGS or str(node.get("aria-hidden") or "") == "true":
            if node.tail:
                out.append(node.tail)
            return
        block = tag in _BLOCK_TAGS or bool(_classes(node) & _BLOCK_CLASSES)
        if block:
            out.append("\n")
        if node.text and tag:
            out.append(node.text)
        for child in node:
            walk(child)
        if block:
            out.append("\n")
        if node.tail:
            out.append(node.tail)

    if element.text:
        out.append(element.text)
    for child in element:
        walk(child)
    lines = (" ".join(line.split()) for line in "".join(out).split("\n"))
    # Separators left alone on a line (", " between author spans) are not values.
    return [line for line in lines if any(c.isalnum() for c in line)]


def _table_kind(table: Any) -> str | None:
    """``core`` or ``description`` for the record tables we read, else None."""
    caption = table.find("caption")
    label = " ".join(_text_lines(caption)) if caption is not None else ""
    label = (label or str(table.get("summary") or "")).strip().casefold()
    if label in _CORE_CAPTIONS:
        return "core"
    if label in _DESCRIPTION_CAPTIONS:
        return "description"
    for ancestor in table.iterancestors():
        ident = str(ancestor.get("id") or "")
        classes = _classes(ancestor)
        if ident == "description-tab" or "description-tab" in classes:
            return "description"
        if ident == "record" or "media-body" in classes:
            return "core"
    return None


def _rows(table: Any) -> Iterator[tuple[str, str]]:
    for tr in table.iter("tr"):
        if next(tr.iterancestors("table"), None) is not table:
            continue  # a row of a table nested in a cell
        th = tr.find("th")
        td = tr.find("td")
        if th is None or td is None:
            continue
        label = " ".join(_text_lines(th)).strip().rstrip(":").strip()
        if label:
            yield label, "\n".join(_text_lines(td))


def _striped_tables(root: Any) -> Iterator[Any]:
    for table in root.iter("table"):
        if "table-striped" in _classes(table):
            yield table


@dataclass
class PageParts:
    """What the record page shows: title, teaser, and the rows of its two tables."""

    title: str | None = None
    teaser: str | None = None
    core: list[tuple[str, str]] | None = None
    description: list[tuple[str, str]] | None = None


def page_rows(root: Any) -> PageParts:
    """The title, teaser and table rows of a parsed VuFind record page."""
    parts = PageParts()
    heading = next(iter(root.xpath('//h1[@property="name"]')), None)
    if heading is None:
        heading = next(iter(root.xpath('//*[@id="record"]//h1')), None)
    if heading is not None:
        parts.title = " ".join(_text_lines(heading)) or None
        for sibling in heading.itersiblings():
            if sibling.tag == "table" or sibling.find(".//table") is not None:
                break
            if sibling.tag != "p":
                continue
            text = " ".join(_text_lines(sibling))
            links = " ".join(" ".join(_text_lines(a)) for a in sibling.iter("a"))
            if text and text != links:  # "Full description" is a link alone
                parts.teaser = text
                break
    for table in _striped_tables(root):
        kind = _table_kind(table)
        if kind == "core" and parts.core is None:
            parts.core = list(_rows(table))
        elif kind == "description" and parts.description is None:
            parts.description = list(_rows(table))
    return parts


def _looks_like_vufind(root: Any) -> bool:
    generator = root.xpath('//meta[translate(@name, "GENRATO", "genrato")="generator"]/@content')
    if any(str(g).lower().startswith("vufind") for g in generator):
        return True
    return bool(
        root.xpath('//input[contains(@class, "hiddenId")]')
        or root.xpath('//a[contains(@href, "/Export?style=")]')
        or root.xpath('//*[@id="record"]//table[contains(@class, "table-striped")]')
    )


def _export_links(root: Any, page_url: str) -> dict[str, str]:
    """Export formats the page offers (style, lower case) -> their absolute URLs."""
    found: dict[str, str] = {}
    for href in root.xpath('//a[contains(@href, "Export?style=")]/@href'):
        url = urljoin(page_url, str(href))
        styles = parse_qs(urlsplit(url).query).get("style")
        if styles:
            found.setdefault(styles[0].strip().lower(), url)
    return found


def _links_description_tab(root: Any) -> bool:
    return bool(
        root.xpath('//a[contains(@href, "/Description")]')
        or root.xpath('//*[@data-tab="description"]')
    )


# --- Layers -------------------------------------------------------------------------------------


@dataclass
class _Fetched:
    url: str
    body: bytes
    media_type: str


class _Unavailable(Exception):
    """A layer the instance does not offer for this record (why is in the message)."""


async def _get(ctx: FetchContext, url: str, expect: str) -> _Fetched:
    """GET a layer; every way of not getting data becomes ``_Unavailable``."""
    try:
        response: Response = await ctx.client.get(url, expect=expect)
    except FetchError as exc:  # Blocked (HTML, login, challenge), NotFound, RateLimited...
        raise _Unavailable(str(exc)) from exc
    media = response.headers.get("content-type", "")
    return _Fetched(response.url, response.read(), media)


def _charset(media_type: str) -> str | None:
    match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", media_type)
    return match.group(1) if match else None


def _read_format(name: str, fetched: _Fetched) -> Record:
    """The first record a format reader finds in a payload."""
    fmt = FORMATS[name]
    assert fmt.read is not None
    opened = open_bytes(fetched.body, fetched.url, encoding=_charset(fetched.media_type))
    try:
        for item in fmt.read(opened.stream, fetched.url):
            if isinstance(item, Record):
                return item
            raise _Unavailable(f"{name} export is not readable: {item.cause}")
    finally:
        opened.close()
    raise _Unavailable(f"{name} export holds no record")


def _read_marc(fetched: _Fetched) -> Record:
    reader = MARCReader(io.BytesIO(fetched.body), to_unicode=True, force_utf8=True, permissive=True)
    for marc in reader:
        if isinstance(marc, MarcRecord):
            try:
                return marc_to_record(marc)
            except ValueError as exc:
                raise _Unavailable(f"MARC export is not a valid record: {exc}") from exc
        break
    raise _Unavailable("MARC export holds no readable record")


_API_FIELDS = (
    "id", "title", "authors", "formats", "languages", "publicationDates", "publishers",
    "placesOfPublication", "edition", "series", "subjects", "summary", "generalNotes",
    "physicalDescriptions", "isbns", "issns", "cleanDoi", "oclc", "lccn", "containerTitle",
    "containerVolume", "containerIssue", "containerStartPage", "containerEndPage",
)  # fmt: skip


def _strings(value: object) -> list[str]:
    """Strings of a JSON value that should be a list of strings (or one string)."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def _api_names(value: object, *, corporate: bool = False) -> list[tuple[Name, list[str]]]:
    """Names from one group of the API's ``authors`` (an object name -> data, or a list)."""
    entries: list[tuple[str, object]] = []
    if isinstance(value, dict):
        entries = [(str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        entries = [(v, None) for v in value if isinstance(v, str)]
    out: list[tuple[Name, list[str]]] = []
    for text, data in entries:
        roles = _strings(data.get("role")) if isinstance(data, dict) else []
        text = text.strip().rstrip(",.")
        if not text:
            continue
        try:
            name = Name(literal=text) if corporate else parse_name(text)
        except ValueError:
            continue
        out.append((name, [r.lower().strip(".") for r in roles]))
    return out


_EDITOR_ROLES = frozenset(("edt", "editor", "hrsg", "herausgeber", "herausgeberin"))
_TRANSLATOR_ROLES = frozenset(("trl", "translator", "übersetzer", "übersetzerin"))


def api_record(payload: object) -> Record | None:
    """Map one VuFind REST API ``record`` response (``records[0]``) to a record.

    Field names are VuFind's (``SearchApiRecordFields.yaml``): ``title``,
    ``authors`` {``primary``, ``secondary``, ``corporate``}, ``formats``,
    ``languages``, ``publicationDates``, ``issns``, ``cleanDoi``, ``container*``...
    """
    if not isinstance(payload, dict):
        return None
    records = payload.get("records")
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        return None
    data: dict[str, Any] = records[0]
    fields: dict[str, Any] = {}
    extra: dict[str, list[str]] = {}
    title = data.get("title")
    if isinstance(title, str) and title.strip():
        fields["title"] = title.strip().rstrip(" /:;,=")
    authors: list[Name] = []
    editors: list[Name] = []
    translators: list[Name] = []
    groups = data.get("authors") if isinstance(data.get("authors"), dict) else {}
    assert isinstance(groups, dict)
    for group in ("primary", "corporate", "secondary"):
        for name, roles in _api_names(groups.get(group), corporate=group == "corporate"):
            if any(r in _EDITOR_ROLES for r in roles):
                editors.append(name)
            elif any(r in _TRANSLATOR_ROLES for r in roles):
                translators.append(name)
            elif group != "secondary" or not roles or "aut" in roles or "author" in roles:
                authors.append(name)
            else:
                extra.setdefault("vufind:api:secondaryAuthors", []).append(
                    f"{name.display()} ({', '.join(roles)})"
                )
    journal_like = bool(data.get("containerVolume") or data.get("containerIssue"))
    for value in _strings(data.get("formats")):
        kind = catalogue_format_to_type(value, journal_like=journal_like)
        if kind is not None:
            fields.setdefault("type", kind)
    if "type" not in fields and data.get("containerTitle"):
        fields["type"] = "article-journal"
    languages = _strings(data.get("languages"))
    if languages:
        fields["language"] = languages[0]
    for value in _strings(data.get("publicationDates")):
        date = parse_date(value)
        if date is not None:
            fields["issued"] = date
            break
    for key, field_name in (
        ("publishers", "publisher"),
        ("placesOfPublication", "publisher_place"),
    ):
        values = _strings(data.get(key))
        if values:
            fields[field_name] = values[0].strip(" :;,[]")
    for key, field_name in (
        ("edition", "edition"), ("containerTitle", "container_title"),
        ("containerVolume", "volume"), ("containerIssue", "issue"),
    ):  # fmt: skip
        values = _strings(data.get(key))
        if values:
            fields[field_name] = values[0]
    start = _strings(data.get("containerStartPage"))
    end = _strings(data.get("containerEndPage"))
    if start:
        fields["page"] = f"{start[0]}-{end[0]}" if end and end[0] != start[0] else start[0]
    series = data.get("series")
    if isinstance(series, list) and series:
        first = series[0]
        series_name = first.get("name") if isinstance(first, dict) else first
        number = first.get("number") if isinstance(first, dict) else None
        if isinstance(series_name, str) and series_name.strip():
            fields["collection_title"] = series_name.strip()
            if isinstance(number, str) and number.strip():
                fields["collection_number"] = number.strip()
    keywords: list[str] = []
    for subject in data.get("subjects") or []:
        parts = _strings(subject)
        if parts:
            keywords.append(" -- ".join(p.strip() for p in parts))
    summary = _strings(data.get("summary"))
    if summary:
        fields["abstract"] = "\n".join(summary)
    notes = _strings(data.get("generalNotes"))
    if notes:
        fields["note"] = "\n".join(notes)
    for value in _strings(data.get("physicalDescriptions")):
        count = parse_page_count(value)
        if count is not None:
            fields.setdefault("number_of_pages", count)
        extra.setdefault("vufind:api:physicalDescriptions", []).append(value)
    identifiers: list[Identifier] = []
    for value in _strings(data.get("isbns")):
        identifiers.extend(parse_isbns(value))
    for value in _strings(data.get("issns")):
        identifiers.extend(parse_issns(value))
    for value in _strings(data.get("cleanDoi")):
        doi = parse_doi(value)
        if doi is not None:
            identifiers.append(Identifier(scheme="doi", value=doi))
    for scheme, key in (("oclc", "oclc"), ("lccn", "lccn")):
        for value in _strings(data.get(key)):
            identifiers.append(Identifier(scheme=scheme, value=value.strip()))
    if not (fields or authors or identifiers):
        return None
    return Record(
        **fields,
        author=authors,
        editor=editors,
        translator=translators,
        keywords=keywords,
        identifiers=identifiers,
        extra=extra,
    )


# --- Merging --------------------------------------------------------------------------------


def _relabel(record: Record, source: str, *, keep_suffix: bool = False) -> Record:
    """Give every field source the layer's name (``vufind:<layer>``), keeping raw values."""
    sources: dict[str, FieldSource] = {}
    for name, fs in record.field_sources.items():
        label = source
        if keep_suffix and fs.source:
            # html_meta names its own layers ("embedded:highwire, embedded:coins").
            parts = (part.strip().removeprefix("embedded:") for part in fs.source.split(","))
            label = ", ".join(f"{source}:{part}" for part in parts if part)
        sources[name] = FieldSource.model_construct(source=label, raw=fs.raw)
    return record.model_copy(update={"field_sources": sources, "provenance": []})


def _refine_issued(record: Record, layers: Sequence[Layer]) -> Record:
    """A more precise date from another layer wins when it agrees with the chosen one."""
    chosen = record.issued
    if chosen is None or not chosen.parts or chosen.end is not None:
        return record
    best: tuple[Date, Layer] | None = None
    for layer in layers:
        if layer.source == f"{NAME}:embedded":
            continue  # VuFind invents the day of citation_date (strtotime of "2017-08")
        date = layer.record.issued
        if date is None or date.end is not None or len(date.parts) <= len(chosen.parts):
            continue
        if date.parts[: len(chosen.parts)] != chosen.parts:
            continue
        if best is None or len(date.parts) > len(best[0].parts):
            best = (date, layer)
    if best is None:
        return record
    date, layer = best
    sources = dict(record.field_sources)
    sources["issued"] = layer.record.field_sources.get("issued") or FieldSource(source=layer.name)
    return record.model_copy(update={"issued": date, "field_sources": sources})


def _name_key(name: Name) -> tuple[str, str]:
    if name.literal is not None:
        return (name.literal.casefold(), "")
    return ((name.family or "").casefold(), (name.given or "").casefold())


def _refine_names(record: Record, layers: Sequence[Layer]) -> Record:
    """A longer list of people that begins with the chosen one wins (a layer cut it short).

    VuFind's older RIS template exports only the first author, and a MARC record whose
    relator terms a reader does not know gives fewer authors than the page shows.
    """
    update: dict[str, Any] = {}
    sources = dict(record.field_sources)
    for field_name in ("author", "editor", "translator"):
        chosen: list[Name] = getattr(record, field_name)
        if not chosen:
            continue
        keys = [_name_key(n) for n in chosen]
        for layer in layers:
            names: list[Name] = getattr(layer.record, field_name)
            if len(names) > len(chosen) and [_name_key(n) for n in names[: len(keys)]] == keys:
                chosen, keys = names, [_name_key(n) for n in names]
                update[field_name] = names
                sources[field_name] = layer.record.field_sources.get(field_name) or FieldSource(
                    source=layer.name
                )
    if not update:
        return record
    return record.model_copy(update={**update, "field_sources": sources})


def merge_layers(layers: Sequence[Layer]) -> Record:
    """Merge the layers in :data:`LAYER_ORDER` and apply the post-merge rules."""
    rank = {name: i for i, name in enumerate(LAYER_ORDER)}
    ordered = sorted(layers, key=lambda layer: rank.get(layer.source.split(":", 1)[-1], 99))
    record = merge(ordered).record
    record = _refine_issued(record, ordered)
    record = _refine_names(record, ordered)
    return record.model_copy(update={"id": None})


# --- Fetch ----------------------------------------------------------------------------------


async def _page_layer(
    ctx: FetchContext, where: RecordUrl, page: _Fetched, root: Any
) -> tuple[Layer | None, list[Provenance]]:
    """The page layer: core table plus Description tab (fetched when not shown)."""
    parts = page_rows(root)
    extra_provenance: list[Provenance] = []
    description = parts.description
    if description is None and parts.core is not None and _links_description_tab(root):
        try:
            tab = await _get(ctx, where.url("/Description"), "html")
            tab_root = parse_html(tab.body, charset=_charset(tab.media_type))
            if tab_root is not None:
                description = page_rows(tab_root).description
                tab_record = stamp(
                    Record(), source=f"{NAME}:description", source_id=where.record_id,
                    url=tab.url, raw_format="html", body=tab.body,
                )  # fmt: skip
                extra_provenance.extend(tab_record.provenance)
        except _Unavailable as exc:
            _log.info("VuFind description tab unavailable for %s: %s", where.url(), exc)
    rows = [Row(label, value, f"{label}: {value}") for label, value in parts.core or []]
    described = [Row(label, value, f"{label}: {value}") for label, value in description or []]
    if not rows and not described:
        return None, extra_provenance
    record = record_from_rows(
        [*rows, *described], parts.title, teaser=parts.teaser, source=f"{NAME}:page"
    )
    description_raws = {row.raw for row in described}
    sources = {
        name: (
            FieldSource.model_construct(source=f"{NAME}:description", raw=fs.raw)
            if fs.raw is not None and set(fs.raw.split("\n")) <= _raw_lines(description_raws)
            else fs
        )
        for name, fs in record.field_sources.items()
    }
    record = record.model_copy(update={"field_sources": sources})
    record = stamp(
        record, source=f"{NAME}:page", source_id=where.record_id, url=page.url,
        raw_format="html", body=page.body,
    )  # fmt: skip
    return Layer(record, "catalogue", f"{NAME}:page"), extra_provenance


def _raw_lines(raws: set[str | None]) -> set[str]:
    return {line for raw in raws if raw for line in raw.split("\n")}


def _embedded_layer(where: RecordUrl, page: _Fetched, root: Any) -> Layer | None:
    try:
        found = record_from_root(root, page.url)
    except (ValueError, RecursionError) as exc:
        _log.info("embedded metadata unreadable on %s: %s", page.url, exc)
        return None
    if found is None:
        return None
    record = _relabel(found, f"{NAME}:embedded", keep_suffix=True)
    record = stamp(
        record, source=f"{NAME}:embedded", source_id=where.record_id, url=page.url,
        raw_format="html-meta", body=page.body,
    )  # fmt: skip
    return Layer(record, "catalogue", f"{NAME}:embedded")


def _export_layer(
    ctx: FetchContext, where: RecordUrl, layer: str, url: str
) -> Callable[[], Awaitable[Layer]]:
    """A job fetching and reading one export (``marcxml``, ``marc``, ``ris``, ``bibtex``)."""
    expect = {"marcxml": "xml", "marc": "marc", "ris": "ris", "bibtex": "bibtex"}[layer]

    async def job() -> Layer:
        fetched = await _get(ctx, url, expect)
        record = _read_marc(fetched) if layer == "marc" else _read_format(layer, fetched)
        record = _relabel(record, f"{NAME}:{layer}")
        record = stamp(
            record, source=f"{NAME}:{layer}", source_id=where.record_id, url=fetched.url,
            raw_format=layer, body=fetched.body,
        )  # fmt: skip
        return Layer(record, "catalogue", f"{NAME}:{layer}")

    return job


def _api_layer(ctx: FetchContext, where: RecordUrl) -> Callable[[], Awaitable[Layer]] | None:
    path = where.api_path
    if path is None:
        return None
    query = urlencode([("id", where.record_id), *(("field[]", f) for f in _API_FIELDS)])
    url = urlunsplit((where.scheme, where.netloc, path, query, ""))

    async def job() -> Layer:
        fetched = await _get(ctx, url, "json")
        try:
            payload = json.loads(fetched.body.decode("utf-8", errors="replace"))
        except json.JSONDecodeError as exc:
            raise _Unavailable(f"API answer is not JSON: {exc}") from exc
        try:
            record = api_record(payload)
        except ValueError as exc:
            raise _Unavailable(f"API record is not valid: {exc}") from exc
        if record is None:
            raise _Unavailable("API answer holds no record")
        record = stamp(
            record, source=f"{NAME}:api", source_id=where.record_id, url=fetched.url,
            raw_format="vufind-api-json", body=fetched.body,
        )  # fmt: skip
        return Layer(record, "catalogue", f"{NAME}:api")

    return job


_DEFAULT_EXPORTS = ("marcxml", "ris", "bibtex")


def _export_jobs(
    ctx: FetchContext, where: RecordUrl, offered: dict[str, str] | None
) -> list[Callable[[], Awaitable[Layer]]]:
    """Jobs for the exports we read: those the page offers, or the usual ones if unknown."""
    if offered is None:
        return [_export_layer(ctx, where, s, where.export_url(_STYLE[s])) for s in _DEFAULT_EXPORTS]
    jobs = []
    if "marcxml" in offered:
        jobs.append(_export_layer(ctx, where, "marcxml", offered["marcxml"]))
    elif "marc" in offered:
        jobs.append(_export_layer(ctx, where, "marc", offered["marc"]))
    for style in ("ris", "bibtex"):
        if style in offered:
            jobs.append(_export_layer(ctx, where, style, offered[style]))
    return jobs


_STYLE = {"marcxml": "MARCXML", "marc": "MARC", "ris": "RIS", "bibtex": "BibTeX"}


async def fetch(target: Target, ctx: FetchContext) -> list[Record]:
    """Fetch one VuFind record through every layer the instance offers, merged.

    Raises:
        NotFound: the record page is 404/410.
        RateLimited: the record page is still rate limited after retries.
        Blocked: the page is a bot challenge or login wall and no export stands in.
        FetchError: the page cannot be fetched for another reason.
        ParseError: nothing on the page or in its exports describes a record.
    """
    where = parse_record_url(target.value)
    if where is None:
        raise ParseError("not a VuFind record URL", source=target.raw, format_name=NAME)
    shown = where.tab is None or where.tab.lower() == "description"
    page_url = target.value.split("#", 1)[0] if shown else where.url()
    layers: list[Layer] = []
    provenance: list[Provenance] = []
    jobs: list[Callable[[], Awaitable[Layer]]] = []
    blocked: Blocked | None = None
    ask_api = False  # only an instance that looks like VuFind (or hides behind a wall)
    try:
        # Checked here, not by the client: a record page with a login form in its
        # header is still the record page (it has the record's table).
        response = await ctx.client.get(page_url)
    except Blocked as exc:  # a challenge status (403/429 with a challenge body)
        blocked = exc
    else:
        page = _Fetched(response.url, response.read(), response.headers.get("content-type", ""))
        root = parse_html(page.body, charset=_charset(page.media_type))
        reason = blocked_reason(response, "html")
        if reason is not None and (root is None or page_rows(root).core is None):
            blocked = Blocked(f"{reason} at {response.url}", url=page_url, status=response.status)
        elif root is not None:
            page_layer, more = await _page_layer(ctx, where, page, root)
            provenance.extend(more)
            if page_layer is not None:
                layers.append(page_layer)
            if _looks_like_vufind(root):
                offered = _export_links(root, page.url)
                jobs.extend(_export_jobs(ctx, where, offered or None))
                ask_api = True
            embedded = _embedded_layer(where, page, root)
            if embedded is not None:
                layers.append(embedded)
    if blocked is not None:
        jobs.extend(_export_jobs(ctx, where, None))  # the exports may still answer
        ask_api = True
    if ask_api:
        api = _api_layer(ctx, where)
        if api is not None:
            jobs.append(api)
    results = await asyncio.gather(*(job() for job in jobs), return_exceptions=True)
    for result in results:
        if isinstance(result, Layer):
            layers.append(result)
        elif isinstance(result, _Unavailable):
            _log.info("VuFind layer unavailable for %s: %s", where.url(), result)
        elif isinstance(result, BaseException):
            raise result
    if not layers:
        if blocked is not None:
            raise blocked
        raise ParseError(
            "no record found: the page has no Bibliographic Details table, no embedded "
            "metadata, and no export answered with data",
            source=target.raw,
            format_name=NAME,
        )
    record = merge_layers(layers)
    if provenance:
        record = record.model_copy(update={"provenance": [*record.provenance, *provenance]})
    return [record]


SOURCE = Source(name=NAME, detect=detect, fetch=fetch, kind="catalogue")
