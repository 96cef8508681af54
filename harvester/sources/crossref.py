"""Crossref's REST API: one work, ``GET /works/{doi}``, mapped onto the record model.

The response is ``{"status": "ok", "message-type": "work", "message": {...}}``
(https://api.crossref.org/swagger-ui/index.html, "Work" model;
https://github.com/CrossRef/rest-api-doc/blob/master/api_format.md). The mapping:

=============================  ==============================================================
Crossref key                   record field
=============================  ==============================================================
``type`` (+ ``subtype``)       ``type`` through ``CROSSREF_TYPES``; unknown types: ``document``;
                               the raw type is kept as ``crossref:type``
``title`` + ``subtitle``       ``title``, joined with ": "; further titles (translations)
                               in ``crossref:title``, ``original-title`` in
                               ``crossref:original-title``
``short-title``                ``title_short``
``container-title``            ``container_title`` (the first; others ``crossref:container-title``)
``short-container-title``      ``container_title_short``
``author`` / ``editor`` /      ``author`` / ``editor`` / ``translator``: ``given``, ``family``,
``translator``                 ``suffix``; ``name`` (organisations) as ``literal``; each ORCID
                               as ``crossref:author[i].ORCID`` (i = position in that list)
``chair``                      ``crossref:chair`` (display names; CSL has no chair role)
``published-print``,           ``issued``: the first present of the three, in that order
``published-online``,          (the print date is the one volume, issue and pages belong to;
``issued``                     ``issued`` is the earlier of the two, or a deposit date); the
                               online date, when print won, as ``crossref:published-online``
``volume``, ``issue``          ``volume``, ``issue``
``page``                       ``page`` (normalised ``first-last``; the raw string kept as the
                               field's provenance ``raw`` when it differs)
``article-number``             ``number``
``edition-number``             ``edition``
``publisher``                  ``publisher``
``publisher-location``         ``publisher_place``
``ISSN`` + ``issn-type``       ISSN identifiers with kind ``print`` / ``electronic``
``ISBN`` + ``isbn-type``       ISBN identifiers with kind ``print`` / ``electronic``
``DOI``                        DOI identifier
``resource.primary.URL``       URL identifier (``URL``, the doi.org link, when no resource)
``language``                   ``language`` (BCP 47)
``abstract`` (JATS XML)        ``abstract``: plain text, one paragraph per line, parsed by
                               ``harvester.xml``'s safe parser
``subject``                    ``keywords``
``license``, ``funder``,       ``crossref:license`` (URLs), ``crossref:funder``
``reference-count``,           (``Name (funder DOI)``), ``crossref:reference-count``,
``is-referenced-by-count``,    ``crossref:is-referenced-by-count``, ``crossref:member``,
``member``, ``alternative-id``, ``crossref:alternative-id``, ``crossref:event``,
``event``, ``institution``,    ``crossref:institution``, ``crossref:group-title``
``group-title``
=============================  ==============================================================

Everything else (references, links, assertions, relations, timestamps) is not kept: it is
not bibliographic data and the DOI leads back to it.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from harvester.errors import HarvesterError, NotFound, ParseError
from harvester.model import Date, Identifier, Name, Record, make_date
from harvester.normalize.dates import format_edtf
from harvester.normalize.identifiers import parse_doi
from harvester.normalize.text import clean_optional
from harvester.sources._base import FetchContext, stamp
from harvester.xml import parse as parse_xml

NAME = "crossref"
RAW_FORMAT = "crossref-json"
_PREFIX = "crossref:"

CROSSREF_TYPES: dict[str, str] = {
    # Crossref work types (https://api.crossref.org/types) -> CSL 1.0.2 item types.
    "journal-article": "article-journal",
    "journal-issue": "periodical",
    "journal-volume": "periodical",
    "journal": "periodical",
    "book": "book",
    "edited-book": "book",
    "monograph": "book",
    "reference-book": "book",
    "book-set": "book",
    "book-series": "book",
    "book-chapter": "chapter",
    "book-part": "chapter",
    "book-section": "chapter",
    "book-track": "chapter",
    "reference-entry": "entry",
    "proceedings-article": "paper-conference",
    "proceedings": "book",
    "proceedings-series": "book",
    "dissertation": "thesis",
    "report": "report",
    "report-component": "report",
    "report-series": "report",
    "dataset": "dataset",
    "database": "dataset",
    "posted-content": "article",  # preprints, working papers: CSL's "article"
    "peer-review": "review",
    "standard": "standard",
    "standard-series": "standard",
    "component": "document",
    "grant": "document",
    "other": "document",
}
"""Crossref type -> CSL type; anything not listed becomes ``document``."""

_ROLES = ("author", "editor", "translator")
_DATE_KEYS = ("published-print", "published-online", "issued")
_VOLATILE = frozenset({"indexed", "score"})
"""Keys that change when Crossref re-indexes, not when the metadata changes."""


@dataclass(frozen=True)
class WorkResult:
    """What a (conditional) ``/works/{doi}`` request gave.

    ``record`` is None exactly when ``not_modified``: the server answered 304 to our
    ``If-None-Match`` / ``If-Modified-Since`` and the stored record is still current.
    """

    doi: str
    url: str
    status: int
    record: Record | None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def quote_doi(doi: str) -> str:
    """The DOI escaped for a URL path: ``/`` and harmless punctuation kept, ``#?%<>`` not."""
    return quote(doi, safe="/()[]:;,@!$*+=")


def work_url(doi: str, base: str) -> str:
    """``{base}/works/{doi}``."""
    return f"{base}/works/{quote_doi(doi)}"


def crossref_params(ctx: FetchContext) -> dict[str, str]:
    """The polite pool wants a contact address (``mailto``), sent when configured."""
    return {"mailto": ctx.settings.mailto} if ctx.settings.mailto else {}


def decode_message(body: bytes, *, doi: str, url: str, message_type: str) -> dict[str, Any]:
    """The ``message`` of a Crossref answer, after checking the envelope.

    Raises:
        ParseError: the body is not JSON (invalid or cut short) or not a ``message_type``
            answer; the cause names the DOI and the source is the URL.
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(
            f"DOI {doi}: {describe_json_error(exc, body)}", source=url, format_name=RAW_FORMAT
        ) from exc
    if not isinstance(payload, dict):
        raise ParseError(
            f"DOI {doi}: expected a JSON object, found {type(payload).__name__}",
            source=url,
            format_name=RAW_FORMAT,
        )
    message = payload.get("message")
    if payload.get("message-type") != message_type or not isinstance(message, dict):
        raise ParseError(
            f"DOI {doi}: expected a Crossref {message_type!r} message, found "
            f"message-type {payload.get('message-type')!r}",
            source=url,
            format_name=RAW_FORMAT,
        )
    return message


def describe_json_error(exc: Exception, body: bytes) -> str:
    if isinstance(exc, json.JSONDecodeError):
        if not body.strip():
            return "empty response body where JSON was expected"
        if exc.pos >= len(body.rstrip()) - 1 or exc.msg.startswith("Unterminated"):
            return f"truncated JSON (the body ends mid-document after {len(body)} bytes)"
        return f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    return f"invalid JSON: {exc}"


async def fetch_work(
    doi: str,
    ctx: FetchContext,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
) -> WorkResult:
    """Fetch one work; with ``etag`` / ``last_modified``, a conditional re-check.

    Raises:
        NotFound: Crossref has no such DOI (404).
        ParseError: the body is not a Crossref work (invalid or truncated JSON).
        FetchError: any other failure (after the client's retries).
    """
    url = work_url(doi, ctx.settings.url("crossref"))
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        response = await ctx.client.get(
            url,
            params=crossref_params(ctx),
            headers=headers or None,
            accept=lambda status: 200 <= status < 300 or status == 304,
            expect="json",
        )
    except NotFound as exc:
        raise NotFound(
            f"DOI {doi} is not registered with Crossref ({url})", url=url, status=exc.status
        ) from exc
    new_etag = response.headers.get("etag") or etag
    new_modified = response.headers.get("last-modified") or last_modified
    if response.status == 304:
        return WorkResult(doi, url, 304, None, new_etag, new_modified)
    body = response.read()
    message = decode_message(body, doi=doi, url=url, message_type="work")
    record = record_from_work(message, url)
    return WorkResult(doi, url, response.status, record, new_etag, new_modified)


def content_bytes(message: Mapping[str, Any]) -> bytes:
    """Canonical bytes of a work for the content hash, without re-indexing noise."""
    kept = {k: v for k, v in message.items() if k not in _VOLATILE}
    return json.dumps(kept, sort_keys=True, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------
# The mapping.


def record_from_work(message: Mapping[str, Any], url: str) -> Record:
    """A stamped record from a Crossref work message (the ``message`` object).

    Pure apart from the fetch timestamp: the content hash is taken over the message
    without ``indexed``/``score``, so a re-index alone does not look like a change.

    Raises:
        ParseError: the message is not a work the model can hold (no DOI, bad values).
    """
    extra: dict[str, list[str]] = {}
    raw: dict[str, str] = {}
    data: dict[str, Any] = {}

    doi = parse_doi(_str(message.get("DOI")) or "")
    if doi is None:
        raise ParseError("the work has no DOI", source=url, format_name=RAW_FORMAT)

    crossref_type = _str(message.get("type"))
    if crossref_type:
        extra[_PREFIX + "type"] = [crossref_type]
        subtype = _str(message.get("subtype"))
        if subtype:
            extra[_PREFIX + "subtype"] = [subtype]
    data["type"] = CROSSREF_TYPES.get(crossref_type or "", "document")

    _titles(message, data, raw, extra)
    _containers(message, data, extra)
    for role in _ROLES:
        names = _names(message.get(role), role, extra)
        if names:
            data[role] = names
    chairs = _names(message.get("chair"), "chair", extra)
    if chairs:
        extra[_PREFIX + "chair"] = [n.display() for n in chairs]

    issued = _issued(message, raw, extra)
    if issued is not None:
        data["issued"] = issued

    for key, field in (
        ("volume", "volume"),
        ("issue", "issue"),
        ("article-number", "number"),
        ("edition-number", "edition"),
        ("publisher", "publisher"),
        ("publisher-location", "publisher_place"),
        ("page", "page"),
        ("language", "language"),
    ):
        value = _str(message.get(key))
        if value:
            data[field] = value

    abstract = _str(message.get("abstract"))
    if abstract:
        text = jats_to_text(abstract)
        if text:
            data["abstract"] = text
            if text != abstract:
                raw["abstract"] = abstract

    subjects = _strings(message.get("subject"))
    if subjects:
        data["keywords"] = subjects

    data["identifiers"] = _identifiers(message, doi, raw)
    _extras(message, extra)
    data["extra"] = extra

    try:
        record = Record.model_validate(data)
    except ValidationError as exc:
        raise ParseError(
            f"DOI {doi}: the work does not fit the record model: {exc.errors()[0]['msg']}",
            source=url,
            format_name=RAW_FORMAT,
        ) from exc
    for field in ("page", "language", "title", "container_title"):
        _raw_if_changed(raw, field, data.get(field), getattr(record, field))
    return stamp(
        record,
        source=NAME,
        source_id=doi,
        url=url,
        raw_format=RAW_FORMAT,
        body=content_bytes(message),
        raw=safe_raw(raw),
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def safe_raw(raw: Mapping[str, str]) -> dict[str, str]:
    """Raw values as given, but writable: JSON may carry lone surrogates, UTF-8 cannot."""
    return {k: _SURROGATE.sub("\ufffd", v) for k, v in raw.items()}


def _raw_if_changed(raw: dict[str, str], field: str, given: object, kept: object) -> None:
    if field not in raw and isinstance(given, str) and given != kept:
        raw[field] = given


def _str(value: Any) -> str | None:
    """A scalar as text (Crossref sends some numbers as numbers); None for the rest."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [s for s in (_str(v) for v in value) if s]
    single = _str(value)
    return [single] if single else []


def _titles(
    message: Mapping[str, Any], data: dict[str, Any], raw: dict[str, str], extra: dict[str, Any]
) -> None:
    titles = _strings(message.get("title"))
    subtitles = _strings(message.get("subtitle"))
    if titles:
        title = titles[0]
        if subtitles and subtitles[0].lower() not in title.lower():
            joiner = " " if title.endswith((":", "?", "!", ".")) else ": "
            data["title"] = f"{title}{joiner}{subtitles[0]}"
            raw["title"] = json.dumps(
                {"title": titles[0], "subtitle": subtitles[0]}, ensure_ascii=False
            )
        else:
            data["title"] = title
        if len(titles) > 1:
            extra[_PREFIX + "title"] = titles[1:]
    elif subtitles:
        data["title"] = subtitles[0]
    short = _strings(message.get("short-title"))
    if short:
        data["title_short"] = short[0]
    original = _strings(message.get("original-title"))
    if original:
        extra[_PREFIX + "original-title"] = original


def _containers(message: Mapping[str, Any], data: dict[str, Any], extra: dict[str, Any]) -> None:
    containers = _strings(message.get("container-title"))
    if containers:
        data["container_title"] = containers[0]
        if len(containers) > 1:
            extra[_PREFIX + "container-title"] = containers[1:]
    short = _strings(message.get("short-container-title"))
    if short:
        data["container_title_short"] = short[0]


def _names(value: Any, role: str, extra: dict[str, list[str]]) -> list[Name]:
    """Crossref contributors in order; organisations (``name``) become literals."""
    if not isinstance(value, list):
        return []
    names: list[Name] = []
    for item in value:
        if not isinstance(item, dict):
            continue
        literal = _str(item.get("name"))
        family = _str(item.get("family"))
        given = _str(item.get("given"))
        try:
            if family or given:
                name = Name(family=family, given=given, suffix=_str(item.get("suffix")))
            elif literal:
                name = Name(literal=literal)
            else:
                continue
        except ValidationError:
            continue  # nothing printable left after cleaning
        orcid = _str(item.get("ORCID"))
        if orcid and role != "chair":
            extra[f"{_PREFIX}{role}[{len(names)}].ORCID"] = [orcid]
        names.append(name)
    return names


def date_from_parts(value: Any) -> Date | None:
    """A CSL ``date-parts`` object (``{"date-parts": [[2017, 8]]}``) as a ``Date``.

    ``[[null]]`` (Crossref's "no date") and impossible parts give None; a second
    ``date-parts`` entry is the end of a range.
    """
    if not isinstance(value, dict):
        return None
    parts_list = value.get("date-parts")
    if not isinstance(parts_list, list) or not parts_list:
        return None
    start = _int_parts(parts_list[0])
    if not start:
        return None
    end = _int_parts(parts_list[1]) if len(parts_list) > 1 else None
    try:
        return make_date(parts=start, end=end or None)
    except ValidationError:
        try:
            return make_date(parts=start)
        except ValidationError:
            return None


def _int_parts(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    parts: list[int] = []
    for item in value[:3]:
        if isinstance(item, bool):
            break
        if isinstance(item, int):
            parts.append(item)
        elif isinstance(item, str) and item.strip().lstrip("-").isdigit():
            parts.append(int(item))
        else:
            break
    return tuple(parts)


def _issued(
    message: Mapping[str, Any], raw: dict[str, str], extra: dict[str, list[str]]
) -> Date | None:
    for key in _DATE_KEYS:
        date = date_from_parts(message.get(key))
        if date is None:
            continue
        parts = message[key].get("date-parts")
        raw["issued"] = f"{key}: {json.dumps(parts)}"
        if key == "published-print":
            online = date_from_parts(message.get("published-online"))
            if online is not None and online != date:
                extra[_PREFIX + "published-online"] = [format_edtf(online)]
        return date
    return None


def _typed(
    message: Mapping[str, Any], list_key: str, type_key: str
) -> list[tuple[str, str | None]]:
    """Values with their kind (``print``/``electronic``) from ``issn-type``-style lists,
    then any plain value the typed list did not cover, in the order given."""
    seen: dict[str, str | None] = {}
    typed = message.get(type_key)
    if isinstance(typed, list):
        for item in typed:
            if not isinstance(item, dict):
                continue
            value = _str(item.get("value"))
            kind = _str(item.get("type"))
            if value:
                kind = kind.lower() if kind else None
                if kind not in ("print", "electronic"):
                    kind = None
                if seen.get(value) is None:
                    seen[value] = kind
    for value in _strings(message.get(list_key)):
        seen.setdefault(value, None)
    return list(seen.items())


def _identifiers(message: Mapping[str, Any], doi: str, raw: dict[str, str]) -> list[Identifier]:
    found: list[Identifier] = [Identifier(scheme="doi", value=doi)]
    issns = _typed(message, "ISSN", "issn-type")
    isbns = _typed(message, "ISBN", "isbn-type")
    for scheme, values in (("issn", issns), ("isbn", isbns)):
        for value, kind in values:
            try:
                found.append(
                    Identifier.model_validate({"scheme": scheme, "value": value, "kind": kind})
                )
            except ValidationError:
                continue
    resource = message.get("resource")
    link = None
    if isinstance(resource, dict) and isinstance(resource.get("primary"), dict):
        link = _str(resource["primary"].get("URL"))
    link = link or _str(message.get("URL"))
    if link:
        with contextlib.suppress(ValidationError):
            found.append(Identifier(scheme="url", value=link))
    if issns or isbns:
        raw["identifiers"] = json.dumps(
            {
                "issn-type": message.get("issn-type") or message.get("ISSN"),
                "isbn-type": message.get("isbn-type") or message.get("ISBN"),
            },
            ensure_ascii=False,
        )
    return found


def _extras(message: Mapping[str, Any], extra: dict[str, list[str]]) -> None:
    for key in ("reference-count", "is-referenced-by-count", "member"):
        value = _str(message.get(key))
        if value is not None:
            extra[_PREFIX + key] = [value]
    licences = [url for url in (_str(i.get("URL")) for i in _dicts(message.get("license"))) if url]
    if licences:
        extra[_PREFIX + "license"] = list(dict.fromkeys(licences))
    funders: list[str] = []
    for funder in _dicts(message.get("funder")):
        name = _str(funder.get("name"))
        funder_doi = _str(funder.get("DOI"))
        if name:
            funders.append(f"{name} ({funder_doi})" if funder_doi else name)
    if funders:
        extra[_PREFIX + "funder"] = funders
    alternative = _strings(message.get("alternative-id"))
    if alternative:
        extra[_PREFIX + "alternative-id"] = alternative
    event = message.get("event")
    if isinstance(event, dict) and _str(event.get("name")):
        extra[_PREFIX + "event"] = [_str(event.get("name")) or ""]
    institutions = [
        n for n in (_str(i.get("name")) for i in _dicts(message.get("institution"))) if n
    ]
    if institutions:
        extra[_PREFIX + "institution"] = institutions
    group = _str(message.get("group-title"))
    if group:
        extra[_PREFIX + "group-title"] = [group]


def _dicts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


# ---------------------------------------------------------------------------------------
# Abstracts: JATS XML -> plain text.

_NAMESPACES = {
    "jats": "http://www.ncbi.nlm.nih.gov/JATS1",
    "mml": "http://www.w3.org/1998/Math/MathML",
    "xlink": "http://www.w3.org/1999/xlink",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "ali": "http://www.niso.org/schemas/ali/1.0/",
}
_WRAP_OPEN = "<abstract " + " ".join(f'xmlns:{p}="{u}"' for p, u in _NAMESPACES.items()) + ">"
_BLOCKS = frozenset({"p", "title", "list-item", "def", "disp-quote", "label"})
# Markup only: a tag, comment, declaration or PI; a bare "<" in text ("p < 0.05") stays.
_TAG = re.compile(r"<(?:/?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?|!--.*?--|![^<>]*|\?[^<>]*)>", re.S)
_BLOCK_END = re.compile(r"</(?:[a-z]+:)?(?:p|title|list-item|sec)\s*>", re.I)
_MAX_ABSTRACT = 1 << 20


def jats_to_text(markup: str) -> str | None:
    """Plain text of a JATS abstract, paragraphs one per line, the "Abstract" heading dropped.

    Crossref abstracts are JATS fragments with the ``jats:`` prefix undeclared; the
    fragment is wrapped in an element declaring the usual prefixes and parsed by the
    project's safe parser (no entities, no DTD, no network). A fragment that still does
    not parse (HTML entities such as ``&nbsp;``, stray ``<``) falls back to dropping tags
    and decoding character references: the text is kept, never the markup.
    """
    if "<" not in markup:
        return clean_optional(html.unescape(markup), multiline=True)
    markup = markup[:_MAX_ABSTRACT]
    try:
        root = parse_xml(f"{_WRAP_OPEN}{markup}</abstract>", source="<crossref abstract>")
    except HarvesterError:
        text = _BLOCK_END.sub("\n", markup)
        paragraphs = [html.unescape(_TAG.sub(" ", part)) for part in text.split("\n")]
        return _join(paragraphs)
    paragraphs = []
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        local = tag.rsplit("}", 1)[-1]
        if local not in _BLOCKS or _inside_block(element):
            continue
        paragraphs.append("".join(element.itertext()))
    if not paragraphs:
        paragraphs = ["".join(root.itertext())]
    return _join(paragraphs)


def _inside_block(element: Any) -> bool:
    parent = element.getparent()
    while parent is not None:
        tag = parent.tag if isinstance(parent.tag, str) else ""
        if tag.rsplit("}", 1)[-1] in _BLOCKS:
            return True
        parent = parent.getparent()
    return False


def _join(paragraphs: list[str]) -> str | None:
    cleaned = [" ".join(p.split()) for p in paragraphs]
    cleaned = [p for p in cleaned if p]
    if cleaned and cleaned[0].rstrip(":").lower() in ("abstract", "summary"):
        cleaned = cleaned[1:]
    return clean_optional("\n".join(cleaned), multiline=True) if cleaned else None
