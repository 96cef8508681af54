"""DataCite's REST API: one DOI, ``GET /dois/{doi}`` (JSON:API), mapped onto the record.

The answer is ``{"data": {"id": ..., "type": "dois", "attributes": {...}}}``; the
attributes follow the DataCite Metadata Schema 4.x in JSON
(https://support.datacite.org/docs/api-get-doi, https://schema.datacite.org/meta/kernel-4/).
The mapping:

=========================  ===================================================================
DataCite attribute         record field
=========================  ===================================================================
``types``                  ``type``: ``resourceTypeGeneral`` through ``DATACITE_TYPES``; for
                           the generic ``Text`` and ``Other``, the ``citeproc`` type DataCite
                           derives from ``resourceType`` when it is a CSL type
``titles``                 ``title`` (first untyped title, ``Subtitle`` joined with ": ");
                           ``AlternativeTitle`` / ``TranslatedTitle`` in
                           ``datacite:alternative-title`` / ``datacite:translated-title``
``creators``               ``author``: ``nameType: Organizational`` as a literal;
                           ``givenName``/``familyName`` as parts; a bare ``name`` with a
                           comma as ``Family, Given``, without one as a literal; ORCIDs
                           (``nameIdentifiers``) as ``datacite:author[i].ORCID``
``contributors``           ``Editor`` -> ``editor``, ``Translator`` -> ``translator``; other
                           roles as ``datacite:contributor.<Type>`` (display names)
``publisher``              ``publisher`` (a string, or an object with ``name``)
``dates``/``publicationYear``  ``issued``: the ``Issued`` date, else the publication year
``container``              ``container_title``, ``volume``, ``issue``, ``page``
                           (``firstPage``-``lastPage``); an ISSN container id as an ISSN
``relatedItems``           the ``IsPublishedIn`` item (or the first ``Journal`` item) fills
                           what ``container`` did not: title, volume, issue, pages, ISSN
``relatedIdentifiers``     ``IsPartOf``/``IsPublishedIn`` ISSNs as ISSN identifiers; every
                           relation as ``datacite:relation`` (``IsPartOf DOI 10.x/y``)
``descriptions``           ``Abstract`` -> ``abstract``; ``SeriesInformation`` and the
                           others as ``datacite:description.<Type>``
``subjects``               ``keywords``
``language``               ``language``
``identifiers``,           URL, ISBN, ISSN, PMID, arXiv as identifiers; other kinds as
``alternateIdentifiers``   ``datacite:identifier.<type>``
``sizes``                  ``N pages`` -> ``number_of_pages``; others ``datacite:size``
``version``                ``datacite:version`` (the record model has no version field)
``rightsList``             ``datacite:rights``
``url``                    URL identifier
=========================  ===================================================================
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from harvester.errors import NotFound, ParseError
from harvester.model import CSL_TYPES, Identifier, Name, Record
from harvester.normalize.dates import parse_date
from harvester.normalize.identifiers import parse_doi
from harvester.normalize.names import parse_name
from harvester.sources._base import FetchContext, stamp
from harvester.sources.crossref import describe_json_error, quote_doi, safe_raw

NAME = "datacite"
RAW_FORMAT = "datacite-json"
_PREFIX = "datacite:"

DATACITE_TYPES: dict[str, str] = {
    # resourceTypeGeneral (DataCite Metadata Schema 4.6, appendix 1) -> CSL 1.0.2 type.
    "Audiovisual": "motion_picture",
    "Book": "book",
    "BookChapter": "chapter",
    "Collection": "collection",
    "ComputationalNotebook": "software",
    "ConferencePaper": "paper-conference",
    "ConferenceProceeding": "book",
    "DataPaper": "article-journal",
    "Dataset": "dataset",
    "Dissertation": "thesis",
    "Event": "event",
    "Image": "graphic",
    "Instrument": "document",
    "InteractiveResource": "webpage",
    "Journal": "periodical",
    "JournalArticle": "article-journal",
    "Model": "document",
    "OutputManagementPlan": "document",
    "PeerReview": "review",
    "PhysicalObject": "document",
    "Preprint": "article",
    "Project": "document",
    "Report": "report",
    "Service": "document",
    "Software": "software",
    "Sound": "song",
    "Standard": "standard",
    "StudyRegistration": "document",
    "Award": "document",
    "Text": "document",
    "Workflow": "software",
    "Other": "document",
}
"""resourceTypeGeneral -> CSL type (``Text`` and ``Other`` defer to DataCite's citeproc type)."""
_GENERIC = frozenset({"", "Text", "Other"})

_CSL_TYPE_SET = frozenset(CSL_TYPES)
_PAGES = re.compile(r"^\s*(\d+)\s*(?:pages?|pp?\.?|s\.|seiten)\s*$", re.I)
_ISSN_RELATIONS = frozenset({"IsPartOf", "IsPublishedIn"})
_ID_SCHEMES: dict[str, str] = {
    "url": "url",
    "uri": "url",
    "isbn": "isbn",
    "issn": "issn",
    "eissn": "issn",
    "pmid": "pmid",
    "arxiv": "arxiv",
}


def doi_url(doi: str, base: str) -> str:
    return f"{base}/dois/{quote_doi(doi)}"


async def fetch_doi(doi: str, ctx: FetchContext) -> Record:
    """Fetch and map one DataCite DOI.

    Raises:
        NotFound: DataCite has no such DOI (404).
        ParseError: the body is not a DataCite DOI document (invalid or truncated JSON).
        FetchError: any other failure (after the client's retries).
    """
    url = doi_url(doi, ctx.settings.url("datacite"))
    try:
        response = await ctx.client.get(url, expect="json")
    except NotFound as exc:
        raise NotFound(
            f"DOI {doi} is not registered with DataCite ({url})", url=url, status=exc.status
        ) from exc
    body = response.read()
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(
            f"DOI {doi}: {describe_json_error(exc, body)}", source=url, format_name=RAW_FORMAT
        ) from exc
    data = payload.get("data") if isinstance(payload, dict) else None
    attributes = data.get("attributes") if isinstance(data, dict) else None
    if not isinstance(attributes, dict):
        raise ParseError(
            f"DOI {doi}: expected a JSON:API document with data.attributes",
            source=url,
            format_name=RAW_FORMAT,
        )
    return record_from_attributes(attributes, url, body=body)


def record_from_attributes(
    attributes: Mapping[str, Any], url: str, *, body: bytes | None = None
) -> Record:
    """A stamped record from a DataCite DOI's ``attributes`` (pure but for the timestamp).

    Raises:
        ParseError: no DOI, or values the record model refuses.
    """
    doi = parse_doi(_str(attributes.get("doi")) or _str(attributes.get("id")) or "")
    if doi is None:
        raise ParseError("the DataCite record has no DOI", source=url, format_name=RAW_FORMAT)
    extra: dict[str, list[str]] = {}
    raw: dict[str, str] = {}
    data: dict[str, Any] = {"type": _type(attributes.get("types"), extra)}

    _titles(attributes.get("titles"), data, extra)
    authors = _names(attributes.get("creators"), "author", extra)
    if authors:
        data["author"] = authors
    _contributors(attributes.get("contributors"), data, extra)

    publisher = attributes.get("publisher")
    if isinstance(publisher, dict):
        publisher = publisher.get("name")
    if _str(publisher):
        data["publisher"] = _str(publisher)

    issued, issued_raw = _issued(attributes)
    if issued is not None:
        data["issued"] = issued
        raw["issued"] = issued_raw

    identifiers: list[dict[str, Any]] = [{"scheme": "doi", "value": doi}]
    _container(attributes, data, identifiers)
    _descriptions(attributes.get("descriptions"), data, extra)

    subjects = [_str(s.get("subject")) for s in _dicts(attributes.get("subjects"))]
    if any(subjects):
        data["keywords"] = [s for s in subjects if s]
    language = _str(attributes.get("language"))
    if language:
        data["language"] = language
        raw["language"] = language

    _identifiers(attributes, identifiers, extra)
    _relations(attributes.get("relatedIdentifiers"), identifiers, extra)
    _sizes(attributes.get("sizes"), data, extra)
    version = _str(attributes.get("version"))
    if version:
        extra[_PREFIX + "version"] = [version]
    rights = [
        _str(r.get("rightsUri")) or _str(r.get("rights"))
        for r in _dicts(attributes.get("rightsList") or attributes.get("rights_list"))
    ]
    if any(rights):
        extra[_PREFIX + "rights"] = [r for r in rights if r]
    link = _str(attributes.get("url"))
    if link:
        identifiers.append({"scheme": "url", "value": link})

    data["identifiers"] = [i for i in (_identifier(d) for d in identifiers) if i is not None]
    data["extra"] = extra
    try:
        record = Record.model_validate(data)
    except ValidationError as exc:
        raise ParseError(
            f"DOI {doi}: the DataCite record does not fit the record model: "
            f"{exc.errors()[0]['msg']}",
            source=url,
            format_name=RAW_FORMAT,
        ) from exc
    if "language" in raw and record.language == raw["language"]:
        del raw["language"]
    return stamp(
        record,
        source=NAME,
        source_id=doi,
        url=url,
        raw_format=RAW_FORMAT,
        body=body if body is not None else json.dumps(attributes, sort_keys=True).encode(),
        raw=safe_raw(raw),
    )


def _str(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _dicts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def _type(types: Any, extra: dict[str, list[str]]) -> str:
    if not isinstance(types, dict):
        return "document"
    general = _str(types.get("resourceTypeGeneral")) or ""
    specific = _str(types.get("resourceType"))
    citeproc = _str(types.get("citeproc"))
    if general:
        extra[_PREFIX + "resourceTypeGeneral"] = [general]
    if specific:
        extra[_PREFIX + "resourceType"] = [specific]
    if general in _GENERIC and citeproc in _CSL_TYPE_SET:
        return citeproc or "document"
    return DATACITE_TYPES.get(general, "document")


def _titles(titles: Any, data: dict[str, Any], extra: dict[str, list[str]]) -> None:
    main: str | None = None
    subtitle: str | None = None
    for item in _dicts(titles):
        text = _str(item.get("title"))
        if not text:
            continue
        kind = _str(item.get("titleType"))
        if kind is None and main is None:
            main = text
        elif kind == "Subtitle" and subtitle is None:
            subtitle = text
        elif kind == "AlternativeTitle":
            extra.setdefault(_PREFIX + "alternative-title", []).append(text)
        elif kind == "TranslatedTitle":
            extra.setdefault(_PREFIX + "translated-title", []).append(text)
        else:
            extra.setdefault(_PREFIX + "title", []).append(text)
    if main and subtitle:
        data["title"] = f"{main}: {subtitle}"
    elif main or subtitle:
        data["title"] = main or subtitle


def _name(item: Mapping[str, Any]) -> Name | None:
    """One creator or contributor; DataCite writes personal names ``Family, Given``."""
    name = _str(item.get("name")) or _str(item.get("creatorName"))
    kind = _str(item.get("nameType")) or _str(item.get("type"))
    given = _str(item.get("givenName"))
    family = _str(item.get("familyName"))
    try:
        if kind in ("Organizational", "Organization"):
            return Name(literal=name) if name else None
        if family or given:
            return Name(family=family, given=given)
        if not name:
            return None
        if "," in name or kind in ("Personal", "Person"):
            return parse_name(name)
        return Name(literal=name)
    except (ValidationError, ValueError):
        return None


def _orcid(item: Mapping[str, Any]) -> str | None:
    for ident in _dicts(item.get("nameIdentifiers")):
        scheme = (_str(ident.get("nameIdentifierScheme")) or "").upper()
        value = _str(ident.get("nameIdentifier"))
        if scheme == "ORCID" and value:
            bare = value.rstrip("/").rsplit("/", 1)[-1]
            return f"https://orcid.org/{bare}"
    ident_url = _str(item.get("id"))  # bolognese's internal JSON: "id": ORCID URL
    if ident_url and "orcid.org/" in ident_url:
        return "https://orcid.org/" + ident_url.rstrip("/").rsplit("/", 1)[-1]
    return None


def _names(value: Any, role: str, extra: dict[str, list[str]]) -> list[Name]:
    names: list[Name] = []
    for item in _dicts(value):
        name = _name(item)
        if name is None:
            continue
        orcid = _orcid(item)
        if orcid:
            extra[f"{_PREFIX}{role}[{len(names)}].ORCID"] = [orcid]
        names.append(name)
    return names


def _contributors(value: Any, data: dict[str, Any], extra: dict[str, list[str]]) -> None:
    roles: dict[str, list[dict[str, Any]]] = {}
    for item in _dicts(value):
        roles.setdefault(_str(item.get("contributorType")) or "Other", []).append(item)
    for kind, items in roles.items():
        field = {"Editor": "editor", "Translator": "translator"}.get(kind)
        if field is not None:
            names = _names(items, field, extra)
            if names:
                data[field] = names
        else:
            shown = [n.display() for n in (_name(i) for i in items) if n is not None]
            if shown:
                extra[f"{_PREFIX}contributor.{kind}"] = shown


def _issued(attributes: Mapping[str, Any]) -> tuple[Any, str]:
    for item in _dicts(attributes.get("dates")):
        if _str(item.get("dateType")) == "Issued":
            text = _str(item.get("date"))
            date = parse_date(text) if text else None
            if date is not None and date.parts:
                return date, f"dates Issued: {text}"
    year = _str(attributes.get("publicationYear") or attributes.get("publication_year"))
    if year:
        date = parse_date(year)
        if date is not None and date.parts:
            return date, f"publicationYear: {year}"
    return None, ""


def _container(
    attributes: Mapping[str, Any], data: dict[str, Any], identifiers: list[dict[str, Any]]
) -> None:
    container = attributes.get("container")
    if isinstance(container, dict):
        _fill_container(container, data, identifiers, title_key="title")
    for item in _dicts(attributes.get("relatedItems")):
        published_in = _str(item.get("relationType")) == "IsPublishedIn"
        if not published_in and _str(item.get("relatedItemType")) != "Journal":
            continue
        titles = [
            _str(t.get("title")) for t in _dicts(item.get("titles")) if not t.get("titleType")
        ]
        ident = item.get("relatedItemIdentifier")
        flat = {
            "title": titles[0] if titles else None,
            "volume": item.get("volume"),
            "issue": item.get("issue"),
            "firstPage": item.get("firstPage"),
            "lastPage": item.get("lastPage"),
        }
        if isinstance(ident, dict):
            flat["identifier"] = ident.get("relatedItemIdentifier")
            flat["identifierType"] = ident.get("relatedItemIdentifierType")
        _fill_container(flat, data, identifiers, title_key="title")
        break


def _fill_container(
    container: Mapping[str, Any],
    data: dict[str, Any],
    identifiers: list[dict[str, Any]],
    *,
    title_key: str,
) -> None:
    for key, field in ((title_key, "container_title"), ("volume", "volume"), ("issue", "issue")):
        value = _str(container.get(key))
        if value and field not in data:
            data[field] = value
    first = _str(container.get("firstPage"))
    last = _str(container.get("lastPage"))
    if first and "page" not in data:
        data["page"] = f"{first}-{last}" if last else first
    if (_str(container.get("identifierType")) or "").upper() == "ISSN":
        value = _str(container.get("identifier"))
        if value:
            identifiers.append({"scheme": "issn", "value": value})


def _descriptions(value: Any, data: dict[str, Any], extra: dict[str, list[str]]) -> None:
    for item in _dicts(value):
        text = item.get("description")
        if isinstance(text, list):  # older records: a list of strings
            text = "\n".join(t for t in text if isinstance(t, str))
        text = _str(text)
        if not text:
            continue
        kind = _str(item.get("descriptionType")) or "Other"
        if kind == "Abstract" and "abstract" not in data:
            data["abstract"] = text
        else:
            extra.setdefault(f"{_PREFIX}description.{kind}", []).append(text)


def _identifiers(
    attributes: Mapping[str, Any], identifiers: list[dict[str, Any]], extra: dict[str, list[str]]
) -> None:
    pairs: list[tuple[str | None, str | None]] = []
    for item in _dicts(attributes.get("identifiers")):
        value = item.get("identifier") or item.get("Identifier")
        pairs.append((_str(item.get("identifierType")), _str(value)))
    for item in _dicts(attributes.get("alternateIdentifiers")):
        pairs.append(
            (_str(item.get("alternateIdentifierType")), _str(item.get("alternateIdentifier")))
        )
    for kind, value in pairs:
        if not kind or not value or kind.upper() == "DOI":
            continue
        scheme = _ID_SCHEMES.get(kind.lower())
        if scheme is not None:
            identifiers.append({"scheme": scheme, "value": value})
        else:
            values = extra.setdefault(f"{_PREFIX}identifier.{kind}", [])
            if value not in values:
                values.append(value)


def _relations(value: Any, identifiers: list[dict[str, Any]], extra: dict[str, list[str]]) -> None:
    for item in _dicts(value):
        relation = _str(item.get("relationType"))
        kind = _str(item.get("relatedIdentifierType"))
        target = _str(item.get("relatedIdentifier"))
        if not relation or not kind or not target:
            continue
        if kind.upper() == "ISSN" and relation in _ISSN_RELATIONS:
            identifiers.append({"scheme": "issn", "value": target})
        extra.setdefault(_PREFIX + "relation", []).append(f"{relation} {kind} {target}")


def _sizes(value: Any, data: dict[str, Any], extra: dict[str, list[str]]) -> None:
    for size in value if isinstance(value, list) else []:
        text = _str(size)
        if not text:
            continue
        match = _PAGES.match(text)
        if match and "number_of_pages" not in data:
            data["number_of_pages"] = match.group(1)
        else:
            extra.setdefault(_PREFIX + "size", []).append(text)


def _identifier(item: dict[str, Any]) -> Identifier | None:
    try:
        return Identifier.model_validate(item)
    except ValidationError:
        return None
