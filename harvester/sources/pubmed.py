"""PubMed through NCBI E-utilities: ``efetch`` by PMID, PMCIDs through the PMC ID converter.

- efetch (https://www.ncbi.nlm.nih.gov/books/NBK25499/#chapter4.EFetch) takes up to 200
  ids a request with GET (NCBI asks for POST only beyond that), so a batch of targets
  costs ``ceil(n / 200)`` requests; answers are matched back to targets by PMID, and a
  PMID the answer does not hold is a :class:`NotFound` for that target alone.
- Every request names the tool and the contact address (``tool``, ``email``) and sends
  ``api_key`` when one is configured, as NCBI's usage policy asks; the key never goes
  into a record's provenance URL.
- PMCIDs are converted to PMIDs by the PMC ID converter
  (https://pmc.ncbi.nlm.nih.gov/tools/id-converter-api/, 200 ids a request, JSON), then
  fetched with the PMIDs.
- An answer that is not PubMed XML (an HTML error page, an ``<ERROR>`` document, broken
  XML) is a :class:`FetchError` for every target of that request that got no record;
  the PubMed XML itself is read by ``harvester.formats.pubmed``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from urllib.parse import urlencode

from harvester.errors import FetchError, NotFound, ParseError
from harvester.formats.pubmed import NAME as FORMAT_NAME
from harvester.formats.pubmed import iter_articles
from harvester.model import Identifier, Record
from harvester.sources._base import FetchContext, Source, SourceSettings, Target, stamp

NAME = "pubmed"
BATCH_SIZE = 200
"""efetch and the ID converter both take up to 200 ids a request."""

Outcome = list[Record] | FetchError


def detect(target: Target) -> bool:
    return target.kind in ("pmid", "pmcid")


def _ncbi_params(settings: SourceSettings, *, api_key: bool = True) -> dict[str, str]:
    """What NCBI asks every caller to send: the tool, a contact address, the API key."""
    params = {"tool": settings.tool}
    if settings.mailto:
        params["email"] = settings.mailto
    if api_key and settings.ncbi_api_key:
        params["api_key"] = settings.ncbi_api_key
    return params


def _batches(values: Sequence[str], size: int = BATCH_SIZE) -> list[list[str]]:
    return [list(values[i : i + size]) for i in range(0, len(values), size)]


def _unusable(message: str, url: str, status: int | None, cause: Exception) -> FetchError:
    error = FetchError(message, url=url, status=status)
    error.__cause__ = cause
    return error


async def _efetch(pmids: list[str], ctx: FetchContext) -> dict[str, Outcome]:
    """One efetch request for up to 200 PMIDs; an outcome for each of them."""
    base = ctx.settings.url("eutils")
    url = f"{base}/efetch.fcgi"
    params = {"db": "pubmed", "retmode": "xml", "id": ",".join(pmids)}
    params.update(_ncbi_params(ctx.settings))
    try:
        response = await ctx.client.get(url, params=params, expect="xml")
    except FetchError as exc:
        return dict.fromkeys(pmids, exc)
    body = response.read()
    if not body.strip():
        error = FetchError(
            f"efetch answered {len(pmids)} PMIDs with an empty body", url=url, status=200
        )
        return dict.fromkeys(pmids, error)
    wanted = set(pmids)
    found: dict[str, Outcome] = {}
    batch_error: FetchError | None = None
    for pmid, item in iter_articles([body], url):
        if isinstance(item, ParseError):
            if pmid is None:
                batch_error = batch_error or _unusable(
                    f"efetch answer is not usable PubMed XML: {item.cause}",
                    url,
                    response.status,
                    item,
                )
            elif pmid in wanted:
                found[pmid] = _unusable(
                    f"PMID {pmid}: the PubMed record could not be read: {item.cause}",
                    url,
                    response.status,
                    item,
                )
            continue
        if pmid is None or pmid not in wanted:
            continue  # efetch sometimes adds records nobody asked for (merged PMIDs)
        record = stamp(
            item,
            source=NAME,
            source_id=pmid,
            url=f"{base}/efetch.fcgi?{urlencode({'db': 'pubmed', 'retmode': 'xml', 'id': pmid})}",
            raw_format=FORMAT_NAME,
            body=body,
        )
        previous = found.get(pmid)
        found[pmid] = [*previous, record] if isinstance(previous, list) else [record]
    for pmid in pmids:
        if pmid in found:
            continue
        found[pmid] = batch_error or NotFound(
            f"PMID {pmid} is not in PubMed (absent from the efetch answer)", url=url, status=None
        )
    return found


async def _idconv(pmcids: list[str], ctx: FetchContext) -> dict[str, str | FetchError]:
    """PMCID -> PMID for up to 200 PMCIDs through the PMC ID converter."""
    url = f"{ctx.settings.url('idconv')}/"
    params = {"ids": ",".join(pmcids), "format": "json"}
    params.update(_ncbi_params(ctx.settings, api_key=False))
    try:
        response = await ctx.client.get(url, params=params, expect="json")
        data = json.loads(response.read())
    except FetchError as exc:
        return dict.fromkeys(pmcids, exc)
    except ValueError as exc:
        error = _unusable(f"the PMC ID converter sent invalid JSON: {exc}", url, 200, exc)
        return dict.fromkeys(pmcids, error)
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(records, list):
        message = data.get("message") if isinstance(data, dict) else None
        error = FetchError(
            f"the PMC ID converter answered without records: {message or 'no message'}",
            url=url,
            status=response.status,
        )
        return dict.fromkeys(pmcids, error)
    out: dict[str, str | FetchError] = {}
    for entry in records:
        if not isinstance(entry, dict):
            continue
        key = str(entry.get("requested-id") or entry.get("pmcid") or "").upper()
        if key not in pmcids:
            continue
        pmid = entry.get("pmid")
        if isinstance(pmid, int | str) and str(pmid).isdigit():
            out[key] = str(pmid)
        else:
            reason = entry.get("errmsg") or "no PubMed record for this PMC article"
            out[key] = NotFound(f"{key}: {reason}", url=url, status=None)
    for pmcid in pmcids:
        out.setdefault(
            pmcid, NotFound(f"{pmcid} is unknown to the PMC ID converter", url=url, status=None)
        )
    return out


def _with_pmcid(records: list[Record], pmcid: str) -> list[Record]:
    """The PubMed record for a PMCID target, carrying that PMCID."""
    out = []
    for record in records:
        if any(i.scheme == "pmcid" and i.value == pmcid for i in record.identifiers):
            out.append(record)
            continue
        identifiers = [*record.identifiers, Identifier(scheme="pmcid", value=pmcid)]
        out.append(record.model_copy(update={"identifiers": identifiers}))
    return out


async def fetch_many(targets: Sequence[Target], ctx: FetchContext) -> dict[Target, Outcome]:
    """Fetch PMIDs and PMCIDs in as few requests as the 200-id limit allows."""
    results: dict[Target, Outcome] = {}
    by_pmid: dict[str, list[Target]] = {}
    pmcids = list(dict.fromkeys(t.value.upper() for t in targets if t.kind == "pmcid"))
    conversions: dict[str, str | FetchError] = {}
    for part in await asyncio.gather(*(_idconv(b, ctx) for b in _batches(pmcids))):
        conversions.update(part)
    for target in targets:
        if target.kind == "pmid":
            by_pmid.setdefault(target.value.lstrip("0") or "0", []).append(target)
        elif target.kind == "pmcid":
            converted = conversions[target.value.upper()]
            if isinstance(converted, FetchError):
                results[target] = converted
            else:
                by_pmid.setdefault(converted, []).append(target)
        else:
            results[target] = NotFound(f"{target.raw} is not a PMID or PMCID", status=None)
    answers = await asyncio.gather(*(_efetch(b, ctx) for b in _batches(list(by_pmid))))
    for answer in answers:
        for pmid, outcome in answer.items():
            for target in by_pmid[pmid]:
                if isinstance(outcome, list) and target.kind == "pmcid":
                    results[target] = _with_pmcid(outcome, target.value.upper())
                else:
                    results[target] = outcome
    return results


async def fetch(target: Target, ctx: FetchContext) -> list[Record]:
    """One PMID or PMCID (a batch of one).

    Raises:
        NotFound: PubMed (or the ID converter) does not know it.
        FetchError: the request failed or the answer was not PubMed XML.
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
    kind="registry",
)
