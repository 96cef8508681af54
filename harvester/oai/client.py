"""A small OAI-PMH 2.0 client: one request per page, iterators over the lists.

Spec: https://www.openarchives.org/OAI/openarchivesprotocol.html. Each response is
spooled by :mod:`harvester.http` (so a connection dropped mid-body is retried as a
whole request), then parsed as a stream by :mod:`harvester.xml` after deleting the
control characters XML 1.0 forbids (counted in ``Page.repaired``). Only one page of
records is alive at a time, so memory does not grow with the size of the harvest.

Protocol behaviour:

- ``noRecordsMatch`` is an empty list, not an error;
- a resumption token equal to the previous one, or an empty one, ends the list;
- a page that is not well-formed is split into its ``<record>`` elements and each is
  parsed alone: the readable ones are kept and the broken ones are returned as
  ``Page.broken`` (for quarantine), so one bad record never loses a page;
- every other ``<error>`` raises its :mod:`harvester.oai.errors` class.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import IO, Any

from harvester.errors import FetchError, ParseError
from harvester.http import HttpClient, HttpSettings, Response
from harvester.oai.errors import NoRecordsMatch, error_for
from harvester.xml import (
    ControlCharRepair,
    Element,
    etree,
    iterparse,
    parse,
    read_chunks,
    repaired_chunks,
)

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
_O = "{" + OAI_NS + "}"
DAY = "YYYY-MM-DD"
SECONDS = "YYYY-MM-DDThh:mm:ssZ"

# OAI-PMH servers answer protocol errors with 4xx statuses too (Zenodo sends 422).
_ANSWER_STATUSES = frozenset({400, 404, 422})


@dataclass(frozen=True)
class Header:
    """A record header: identifier, datestamp, sets, and whether it is a tombstone."""

    identifier: str
    datestamp: str
    set_specs: tuple[str, ...] = ()
    deleted: bool = False


@dataclass
class OAIRecord:
    """One ``<record>``: its header, the metadata element (None when deleted), raw XML."""

    header: Header
    metadata: Element | None
    raw: bytes


@dataclass(frozen=True)
class BrokenRecord:
    """A ``<record>`` that is not well-formed XML: kept raw for quarantine."""

    identifier: str | None
    reason: str
    raw: bytes


@dataclass(frozen=True)
class ResumptionToken:
    value: str
    cursor: int | None = None
    complete_list_size: int | None = None
    expiration_date: str | None = None


@dataclass
class Page:
    """One response of a list request."""

    items: list[Any]
    token: ResumptionToken | None
    response_date: str | None = None
    repaired: int = 0
    broken: list[BrokenRecord] = field(default_factory=list)
    url: str = ""


@dataclass(frozen=True)
class Identify:
    repository_name: str
    base_url: str
    protocol_version: str
    granularity: str
    earliest_datestamp: str
    deleted_record: str
    admin_emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetadataFormat:
    prefix: str
    schema: str
    namespace: str


@dataclass(frozen=True)
class OAISet:
    spec: str
    name: str


def _text(element: Element | None, tag: str) -> str | None:
    if element is None:
        return None
    found = element.find(_O + tag)
    if found is None or found.text is None:
        return None
    value: str = found.text.strip()
    return value


def _int(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def format_datestamp(value: date | datetime | str, granularity: str = DAY) -> str:
    """A ``from``/``until`` argument in the granularity the repository declares.

    Datetimes are converted to UTC (OAI-PMH datestamps are UTC, spec 3.3.1); at day
    granularity the time is dropped, as a repository refuses a finer argument.
    """
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        text = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = value.strip()
    if granularity == DAY:
        return text[:10]
    if len(text) == 10:
        return text + "T00:00:00Z"
    return text


_ANY = _O + "*"
_IDENTIFIER_TAG = _O + "identifier"
_DATESTAMP_TAG = _O + "datestamp"
_SET_TAG = _O + "setSpec"
_HEADER_TAG = _O + "header"
_METADATA_TAG = _O + "metadata"


def _header(element: Element) -> Header:
    # One pass over the children (no find() per field): this runs for every record.
    identifier: str | None = None
    datestamp: str | None = None
    sets: list[str] = []
    seen_identifier = seen_datestamp = False
    for child in element.iterchildren(_ANY):
        tag = child.tag
        if tag == _SET_TAG:
            sets.append((child.text or "").strip())
        elif tag == _IDENTIFIER_TAG and not seen_identifier:
            seen_identifier = True
            text = child.text
            identifier = text.strip() if text is not None else None
        elif tag == _DATESTAMP_TAG and not seen_datestamp:
            seen_datestamp = True
            text = child.text
            datestamp = text.strip() if text is not None else None
    return Header(
        identifier=identifier or "",
        datestamp=datestamp or "",
        set_specs=tuple(sets),
        deleted=element.get("status") == "deleted",
    )


def _record(element: Element) -> OAIRecord:
    header_el = metadata_el = None
    for child in element.iterchildren(_HEADER_TAG, _METADATA_TAG):
        if child.tag == _HEADER_TAG:
            if header_el is None:
                header_el = child
        elif metadata_el is None:
            metadata_el = child
    header = _header(header_el) if header_el is not None else Header("", "")
    metadata = None
    if metadata_el is not None and len(metadata_el):
        metadata = metadata_el[0]
    raw: bytes = etree.tostring(element, encoding="utf-8")
    return OAIRecord(header=header, metadata=metadata, raw=raw)


_LIST_END = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?resumptionToken[\s>/]|</(?:[A-Za-z_][\w.-]*:)?ListRecords\s*>"
)
_RECORD_TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?record(?=[\s>/])")


def _record_spans(body: bytes) -> Iterator[tuple[int, int]]:
    """Byte spans of the top-level ``<record>`` elements of a page, by tag nesting.

    Counting depth keeps a MARCXML ``<record>`` inside an OAI ``<record>`` in one span;
    a record whose own tag is never closed swallows the rest (kept raw, not lost).
    """
    depth = 0
    start = -1
    for match in _RECORD_TAG.finditer(body):
        if match.group(1):
            depth -= 1
            if depth == 0 and start >= 0:
                yield start, body.find(b">", match.end()) + 1
                start = -1
            depth = max(depth, 0)
        else:
            if depth == 0:
                start = match.start()
            depth += 1
    if start >= 0:
        # Never swallow the resumption token: the list must go on after a broken page.
        end = _LIST_END.search(body, start)
        yield start, end.start() if end is not None else len(body)


_ROOT_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?OAI-PMH[\s>][^>]*>", re.S)
_ROOT_CLOSE = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?OAI-PMH\s*>\s*$")
_TOKEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?resumptionToken[^>]*?(?:/>|>.*?</[^>]*>)", re.S)
_IDENTIFIER = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?identifier>\s*([^<]+?)\s*<", re.S)


def stream_page(
    body: IO[bytes],
    repair: ControlCharRepair,
    page: Page,
    item_tag: str,
    container: str,
) -> None:
    """Parse a response body into ``page``: its items, token and response date.

    Raises:
        NoRecordsMatch, OAIProtocolError: the repository answered an ``<error>``.
        ParseError: the body is not well-formed XML (or is refused by :mod:`harvester.xml`).
    """
    chunks = repaired_chunks(read_chunks(body), repair)  # type: ignore[arg-type]
    item = _O + item_tag
    parent_tag = _O + container
    token_tag = _O + "resumptionToken"
    date_tag = _O + "responseDate"
    tags = (item, token_tag, date_tag, _O + "error")
    records = item_tag == "record"
    items = page.items
    for _event, element in iterparse(chunks, source=page.url, tag=tags):
        tag = element.tag
        if tag == item:
            parent = element.getparent()
            if parent is not None and parent.tag == parent_tag:
                items.append(_record(element) if records else element)
        elif tag == token_tag:
            value = (element.text or "").strip()
            page.token = ResumptionToken(
                value=value,
                cursor=_int(element.get("cursor")),
                complete_list_size=_int(element.get("completeListSize")),
                expiration_date=element.get("expirationDate"),
            )
        elif tag == date_tag:
            page.response_date = (element.text or "").strip()
        else:
            raise error_for(element.get("code") or "", element.text or "", url=page.url)


def parse_records_page(body: bytes, url: str) -> Page:
    """A ListRecords response body as a :class:`Page` (the happy path only: no salvage).

    Parsed whole (:func:`harvester.xml.parse`), not streamed: the worker processes of the
    harvest pipeline hold one page at a time anyway, and it costs half as much. Finds what
    :func:`stream_page` finds: records that are children of ``ListRecords``, the last
    resumption token, the response date, and the first error.

    Raises:
        NoRecordsMatch, OAIProtocolError, ParseError: as :func:`stream_page`.
    """
    repair = ControlCharRepair()
    root = parse(repair.feed(body) + repair.flush(), source=url)
    page = Page(items=[], token=None, url=url, repaired=repair.repaired)
    for element in root.iter(_ERROR_TAG, _RESPONSE_DATE_TAG, _TOKEN_TAG, _RECORD_TAG_NS):
        tag = element.tag
        if tag == _RECORD_TAG_NS:
            parent = element.getparent()
            if parent is not None and parent.tag == _LIST_RECORDS_TAG:
                page.items.append(_record(element))
        elif tag == _TOKEN_TAG:
            page.token = ResumptionToken(
                value=(element.text or "").strip(),
                cursor=_int(element.get("cursor")),
                complete_list_size=_int(element.get("completeListSize")),
                expiration_date=element.get("expirationDate"),
            )
        elif tag == _RESPONSE_DATE_TAG:
            page.response_date = (element.text or "").strip()
        else:
            raise error_for(element.get("code") or "", element.text or "", url=url)
    return page


_ERROR_TAG = _O + "error"
_RESPONSE_DATE_TAG = _O + "responseDate"
_TOKEN_TAG = _O + "resumptionToken"
_RECORD_TAG_NS = _O + "record"
_LIST_RECORDS_TAG = _O + "ListRecords"


_TAIL_TOKEN = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?resumptionToken\b[^>]*?(?:/>|>(.*?)</(?:[A-Za-z_][\w.-]*:)?"
    rb"resumptionToken\s*>)",
    re.S,
)
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)
TOKEN_TAIL_BYTES = 64 * 1024


def peek_token(body: bytes) -> str | None:
    """The resumption token of a list response, read from the end of the body with a
    regular expression, without parsing the page.

    A guess that lets the next request start before this page is parsed: the caller
    checks it against the parsed token and throws away what followed a wrong guess.
    None when no token (or an empty one) is found.
    """
    found = None
    for match in _TAIL_TOKEN.finditer(body, max(0, len(body) - TOKEN_TAIL_BYTES)):
        found = match  # the last one: the list's token comes after every record
    if found is None or found.group(1) is None:
        return None
    text = found.group(1).decode("utf-8", "replace")
    text = _CDATA.sub(lambda m: html.escape(m.group(1), quote=False), text)
    return html.unescape(text).strip() or None


class _TruncatedError(Exception):
    """A body cut short: the page is fetched again."""


class OAIClient:
    """Talks to one OAI-PMH base URL.

    ``settings`` configures the HTTP layer (retries, rate limit); pass ``http`` to share
    one :class:`HttpClient` between clients.
    """

    def __init__(
        self,
        base_url: str,
        *,
        http: HttpClient | None = None,
        settings: HttpSettings | None = None,
        granularity: str | None = None,
    ) -> None:
        self.base_url = base_url
        self._own_http = http is None
        self.http = http or HttpClient(settings)
        self.granularity = granularity
        self.repaired = 0

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> OAIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one request ---------------------------------------------------------------

    def _fetch(self, params: dict[str, str]) -> Response:
        response = self.http.get(
            self.base_url,
            params,
            accept=lambda s: 200 <= s < 300 or s in _ANSWER_STATUSES,
        )
        return response

    def fetch(self, params: dict[str, str]) -> Response:
        """GET one response, HTTP retries done, not parsed yet (see :meth:`read_page`).

        Raises:
            FetchError: HTTP failed after retries.
        """
        return self._fetch(params)

    def request_page(self, params: dict[str, str], item_tag: str, container: str) -> Page:
        """GET one response and collect its ``container/item_tag`` children.

        Raises:
            OAIProtocolError: the repository answered an error (not ``noRecordsMatch``).
            FetchError: HTTP failed, or a 4xx came without an OAI-PMH error in it.
            ParseError: the response is not XML we can read at all.
        """
        return self.read_page(self._fetch(params), params, item_tag, container)

    def read_page(
        self, response: Response, params: dict[str, str], item_tag: str, container: str
    ) -> Page:
        """Parse a fetched response (closing it); a body cut short is fetched again.

        Raises:
            as :meth:`request_page`.
        """
        attempts = max(1, self.http.settings.max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                return self._parse_page(response, item_tag, container)
            except _TruncatedError as exc:
                # The connection ended early without an HTTP-level error (no length,
                # no chunk framing): fetch the page again rather than read half of it.
                if attempt == attempts:
                    raise FetchError(str(exc), url=response.url) from exc
                self.http.retries += 1
                time.sleep(min(self.http.settings.backoff_max, self.http.settings.backoff_base))
            finally:
                response.close()
            response = self._fetch(params)
        raise AssertionError("unreachable")  # pragma: no cover

    def _parse_page(self, response: Response, item_tag: str, container: str) -> Page:
        repair = ControlCharRepair()
        page = Page(items=[], token=None, url=response.url)
        try:
            response.body.seek(0)
            stream_page(response.body, repair, page, item_tag, container)
        except NoRecordsMatch:
            return Page(items=[], token=None, url=response.url, repaired=repair.repaired)
        except ParseError as exc:
            if not 200 <= response.status < 300:
                raise FetchError(
                    f"HTTP {response.status} from {response.url}: {exc.cause}",
                    url=response.url,
                    status=response.status,
                ) from exc
            if type(exc) is not ParseError or item_tag != "record":
                raise
            page = self._salvage(response, exc)
        else:
            page.repaired = repair.repaired
        if not 200 <= response.status < 300 and not page.items:
            raise FetchError(
                f"HTTP {response.status} from {response.url} without an OAI-PMH error",
                url=response.url,
                status=response.status,
            )
        self.repaired += page.repaired
        return page

    def _salvage(self, response: Response, cause: ParseError) -> Page:
        """Parse a broken page record by record: keep what reads, return the rest raw."""
        body = response.read()
        repair = ControlCharRepair()
        body = repair.feed(body) + repair.flush()
        root = _ROOT_OPEN.search(body)
        if root is None:
            raise cause
        if not _ROOT_CLOSE.search(body[-200:]):
            raise _TruncatedError(f"the response from {response.url} ends early ({cause.cause})")
        opening = root.group(0)
        closing = b"</" + opening[1:].split(None, 1)[0].rstrip(b">") + b">"
        page = Page(items=[], token=None, url=response.url, repaired=repair.repaired)
        position = 0
        for start, stop in _record_spans(body):
            chunk = body[start:stop]
            position = stop
            try:
                wrapped = parse(opening + b"<ListRecords>" + chunk + b"</ListRecords>" + closing)
            except ParseError as exc:
                found = _IDENTIFIER.search(chunk)
                ident = found.group(1).decode("utf-8", "replace") if found else None
                page.broken.append(BrokenRecord(ident, exc.cause, chunk))
                continue
            for element in wrapped.iter(_O + "record"):
                page.items.append(_record(element))
        token = _TOKEN.search(body, position)
        if token is not None:
            try:
                wrapper = parse(opening + token.group(0) + closing)
            except ParseError as exc:
                raise cause from exc
            found_el = wrapper.find(_O + "resumptionToken")
            if found_el is not None:
                page.token = ResumptionToken(
                    value=(found_el.text or "").strip(),
                    cursor=_int(found_el.get("cursor")),
                    complete_list_size=_int(found_el.get("completeListSize")),
                    expiration_date=found_el.get("expirationDate"),
                )
        if not page.items and not page.broken:
            raise cause
        return page

    # --- verbs -----------------------------------------------------------------------

    def identify(self) -> Identify:
        """The repository's self-description; also sets ``granularity``."""
        page = self.request_page({"verb": "Identify"}, "Identify", "OAI-PMH")
        if not page.items:
            raise ParseError("Identify response without <Identify>", source=page.url)
        element = page.items[0]
        info = Identify(
            repository_name=_text(element, "repositoryName") or "",
            base_url=_text(element, "baseURL") or self.base_url,
            protocol_version=_text(element, "protocolVersion") or "",
            granularity=_text(element, "granularity") or DAY,
            earliest_datestamp=_text(element, "earliestDatestamp") or "",
            deleted_record=_text(element, "deletedRecord") or "no",
            admin_emails=tuple((e.text or "").strip() for e in element.findall(_O + "adminEmail")),
        )
        self.granularity = info.granularity
        return info

    def list_metadata_formats(self, identifier: str | None = None) -> list[MetadataFormat]:
        params = {"verb": "ListMetadataFormats"}
        if identifier:
            params["identifier"] = identifier
        page = self.request_page(params, "metadataFormat", "ListMetadataFormats")
        return [
            MetadataFormat(
                prefix=_text(e, "metadataPrefix") or "",
                schema=_text(e, "schema") or "",
                namespace=_text(e, "metadataNamespace") or "",
            )
            for e in page.items
        ]

    def list_sets(self) -> Iterator[OAISet]:
        for page in self.pages("ListSets", {}):
            for element in page.items:
                yield OAISet(
                    spec=_text(element, "setSpec") or "", name=_text(element, "setName") or ""
                )

    def _list_params(
        self,
        metadata_prefix: str,
        from_: date | datetime | str | None,
        until: date | datetime | str | None,
        set_: str | None,
    ) -> dict[str, str]:
        params = {"metadataPrefix": metadata_prefix}
        if (from_ is not None or until is not None) and self.granularity is None:
            self.identify()
        granularity = self.granularity or DAY
        if from_ is not None:
            params["from"] = format_datestamp(from_, granularity)
        if until is not None:
            params["until"] = format_datestamp(until, granularity)
        if set_:
            params["set"] = set_
        return params

    def pages(
        self, verb: str, params: dict[str, str], *, resumption_token: str | None = None
    ) -> Iterator[Page]:
        """Every page of a list request, following resumption tokens.

        Ends on an absent or empty token, or on a token equal to the previous one (a
        server bug that would otherwise loop forever).
        """
        item_tag, container = {
            "ListRecords": ("record", "ListRecords"),
            "ListIdentifiers": ("header", "ListIdentifiers"),
            "ListSets": ("set", "ListSets"),
        }[verb]
        token = resumption_token
        while True:
            request = (
                {"verb": verb, "resumptionToken": token} if token else {"verb": verb, **params}
            )
            page = self.request_page(request, item_tag, container)
            yield page
            if page.token is None or not page.token.value or page.token.value == token:
                return
            token = page.token.value

    def list_records(
        self,
        metadata_prefix: str = "oai_dc",
        *,
        from_: date | datetime | str | None = None,
        until: date | datetime | str | None = None,
        set_: str | None = None,
        resumption_token: str | None = None,
    ) -> Iterator[OAIRecord]:
        """Every record of a ListRecords list (broken records are skipped here; use
        :meth:`pages` to see them)."""
        params = self._list_params(metadata_prefix, from_, until, set_)
        for page in self.pages("ListRecords", params, resumption_token=resumption_token):
            yield from page.items

    def list_identifiers(
        self,
        metadata_prefix: str = "oai_dc",
        *,
        from_: date | datetime | str | None = None,
        until: date | datetime | str | None = None,
        set_: str | None = None,
        resumption_token: str | None = None,
    ) -> Iterator[Header]:
        params = self._list_params(metadata_prefix, from_, until, set_)
        for page in self.pages("ListIdentifiers", params, resumption_token=resumption_token):
            for element in page.items:
                yield _header(element)

    def get_record(self, identifier: str, metadata_prefix: str = "oai_dc") -> OAIRecord:
        """One record by identifier.

        Raises:
            IdDoesNotExist, CannotDisseminateFormat: as the repository answers.
        """
        params = {"verb": "GetRecord", "identifier": identifier, "metadataPrefix": metadata_prefix}
        page = self.request_page(params, "record", "GetRecord")
        if not page.items:
            raise ParseError("GetRecord response without a <record>", source=page.url)
        record: OAIRecord = page.items[0]
        return record
