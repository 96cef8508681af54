"""DOIs: ask who registered the DOI, then fetch from that registration agency.

Crossref's ``/works/{doi}/agency`` names the agency. An agency owns whole prefixes, so
the answer is remembered per prefix in ``ctx.memo`` (2,000 DOIs of one prefix cost one
agency request). Concurrent fetches of one prefix wait for the one request in flight
instead of each asking.

- ``crossref`` -> :mod:`harvester.sources.crossref` (``/works/{doi}``);
- ``datacite`` -> :mod:`harvester.sources.datacite` (``/dois/{doi}``);
- any other (mEDRA, JaLC, KISTI, CNKI, Airiti, OP, ...) -> DOI content negotiation:
  ``GET https://doi.org/{doi}`` with ``Accept: application/vnd.citationstyles.csl+json``
  (https://citation.doi.org/docs.html), read by the CSL-JSON format reader.

URLs of the two registries' own APIs (``https://api.crossref.org/works/<doi>``,
``https://api.datacite.org/dois/<doi>``) are taken as the DOI they name.
"""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any
from urllib.parse import unquote, urlsplit

from harvester.errors import FetchError, NotFound, ParseError
from harvester.formats import FORMATS
from harvester.model import Identifier, Record
from harvester.normalize.identifiers import parse_doi
from harvester.sources import crossref, datacite
from harvester.sources._base import FetchContext, Source, Target, stamp

NAME = "doi"
CN_SOURCE = "doi-cn"
CSL_MEDIA_TYPE = "application/vnd.citationstyles.csl+json"
MEMO_KEY = "doi:agency"
"""``ctx.memo[MEMO_KEY]``: DOI prefix -> agency id, or the lookup in flight."""

_API_PATH = re.compile(r"^/(?:v1/)?(?:works|dois)/(.+?)(?:/agency|/transform(?:/.*)?)?/?$")
_API_HOSTS = frozenset({"api.crossref.org", "api.datacite.org"})


def doi_of(target: Target) -> str | None:
    """The DOI a target names: a DOI target, or a Crossref/DataCite API URL."""
    if target.kind == "doi":
        return target.value
    if target.kind != "url":
        return None
    parts = urlsplit(target.value)
    if (parts.hostname or "").lower() not in _API_HOSTS:
        return None
    match = _API_PATH.match(parts.path)
    return parse_doi(unquote(match.group(1))) if match else None


def detect(target: Target) -> bool:
    return doi_of(target) is not None


def prefix_of(doi: str) -> str:
    return doi.split("/", 1)[0]


async def agency_for(doi: str, ctx: FetchContext) -> str:
    """The registration agency id of ``doi`` (``crossref``, ``datacite``, ``medra``...).

    Raises:
        NotFound: no agency knows the DOI (Crossref answers 404).
        ParseError: the agency answer is not JSON of the expected shape.
        FetchError: any other failure.
    """
    memo: dict[str, Any] = ctx.memo.setdefault(MEMO_KEY, {})
    prefix = prefix_of(doi)
    while True:
        known = memo.get(prefix)
        if isinstance(known, str):
            return known
        if isinstance(known, asyncio.Future):
            # Someone is asking for this prefix: wait for their answer. None means their
            # lookup failed (for their DOI, which says nothing about ours): ask again.
            answer = await asyncio.shield(known)
            if answer is not None:
                return str(answer)
            continue
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        memo[prefix] = future
        try:
            agency = await _ask_agency(doi, ctx)
        except BaseException:
            if memo.get(prefix) is future:
                del memo[prefix]
            future.set_result(None)
            raise
        memo[prefix] = agency
        future.set_result(agency)
        return agency


async def _ask_agency(doi: str, ctx: FetchContext) -> str:
    url = crossref.work_url(doi, ctx.settings.url("crossref")) + "/agency"
    try:
        response = await ctx.client.get(url, params=crossref.crossref_params(ctx), expect="json")
    except NotFound as exc:
        raise NotFound(
            f"DOI {doi} is not registered with any DOI agency ({url})", url=url, status=exc.status
        ) from exc
    message = crossref.decode_message(response.read(), doi=doi, url=url, message_type="work-agency")
    agency = message.get("agency")
    agency_id = agency.get("id") if isinstance(agency, dict) else None
    if not isinstance(agency_id, str) or not agency_id.strip():
        raise ParseError(
            f"DOI {doi}: the agency answer names no agency id",
            source=url,
            format_name=crossref.RAW_FORMAT,
        )
    return agency_id.strip().lower()


async def content_negotiation(doi: str, ctx: FetchContext) -> Record:
    """CSL-JSON for ``doi`` from the DOI resolver, which hands over to the agency.

    Raises:
        NotFound: the resolver does not know the DOI.
        ParseError: the answer is not one CSL-JSON item.
        Blocked: an HTML page came back instead of data (agency without negotiation).
        FetchError: any other failure.
    """
    url = f"{ctx.settings.url('doi')}/{crossref.quote_doi(doi)}"
    try:
        response = await ctx.client.get(url, headers={"Accept": CSL_MEDIA_TYPE}, expect="json")
    except NotFound as exc:
        raise NotFound(
            f"DOI {doi} is not known to the DOI resolver ({url})", url=url, status=exc.status
        ) from exc
    body = response.read()
    text = body.decode("utf-8", errors="replace")
    reader = FORMATS["csl-json"].read
    assert reader is not None, "the CSL-JSON format always has a reader"
    results = list(reader(io.StringIO(text), url))
    records = [r for r in results if isinstance(r, Record)]
    errors = [r for r in results if isinstance(r, ParseError)]
    if errors or len(records) != 1:
        cause = errors[0].cause if errors else f"expected one CSL item, found {len(records)}"
        raise ParseError(f"DOI {doi}: {cause}", source=url, format_name="csl-json")
    record = records[0]
    if record.doi is None:
        record = record.model_copy(
            update={"identifiers": [Identifier(scheme="doi", value=doi), *record.identifiers]}
        )
    return stamp(
        record, source=CN_SOURCE, source_id=doi, url=response.url, raw_format="csl-json", body=body
    )


async def fetch_record(doi: str, ctx: FetchContext) -> Record:
    """One DOI's record from its registration agency."""
    agency = await agency_for(doi, ctx)
    if agency == "crossref":
        result = await crossref.fetch_work(doi, ctx)
        if result.record is None:  # only a conditional request can be answered 304
            raise FetchError(f"Crossref answered 304 to an unconditional request for {doi}")
        return result.record
    if agency == "datacite":
        return await datacite.fetch_doi(doi, ctx)
    return await content_negotiation(doi, ctx)


async def fetch(target: Target, ctx: FetchContext) -> list[Record]:
    """Fetch a DOI target (see the module docstring for the routing).

    Raises:
        NotFound, ParseError, FetchError: as :func:`fetch_record`.
    """
    doi = doi_of(target)
    if doi is None:
        raise ParseError(f"not a DOI target: {target.raw!r}", source=target.raw)
    return [await fetch_record(doi, ctx)]


SOURCE = Source(name=NAME, detect=detect, fetch=fetch, kind="registry")
