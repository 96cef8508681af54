"""Re-check the DOIs in the store against Crossref: the DOI half of ``harvester refresh``.

Cheap when nothing changed, which is the usual night:

1. A DOI never checked is fetched once (``/works/{doi}``) and stored as a ``crossref``
   record keyed by the DOI, with the response's ETag and Last-Modified kept.
2. DOIs checked before are asked in batches with Crossref's ``from-update-date`` filter
   (``/works?filter=from-update-date:D,doi:a,doi:b,...``; filters of one name are ORed):
   one request answers for up to ``batch`` DOIs and returns only those whose metadata was
   deposited since ``D``, the day of the batch's oldest check (one day of overlap, so
   nothing deposited on the day of the last check slips through; the store's content
   hash turns a re-sent unchanged record into "unchanged").
3. Where the filter does not apply (a mirror or proxy that refuses it with 400), each DOI
   is re-fetched with a conditional request (``If-None-Match`` / ``If-Modified-Since``);
   a 304 is "unchanged" without a body.

A DOI Crossref does not know (404: registered with DataCite or another agency) is
counted as ``not_at_crossref``, not as a failure; any other failure is listed and makes
the run a partial failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from harvester.errors import FetchError, NotFound, ParseError
from harvester.fetch import service_hosts
from harvester.http import AsyncHttpClient, HostPolicy, HttpSettings
from harvester.sources import crossref
from harvester.sources._base import FetchContext, SourceSettings
from harvester.store import Change, DoiCheck, Item, Store, now

SOURCE = "crossref"
BATCH = 50
"""DOIs per ``from-update-date`` query: short enough for any URL length limit."""


@dataclass
class RecheckSummary:
    """What a DOI re-check did, per DOI: counted for people, listed for cron jobs."""

    checked: int = 0
    added: int = 0
    changed: dict[str, list[str]] = field(default_factory=dict)
    unchanged: int = 0
    not_at_crossref: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    requests: int = 0

    def record(self, changes: Sequence[Change]) -> None:
        for change in changes:
            if change.kind == "added":
                self.added += 1
            elif change.kind == "changed":
                self.changed[change.source_id] = change.fields
            else:
                self.unchanged += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "added": self.added,
            "changed": len(self.changed),
            "changed_fields": self.changed,
            "unchanged": self.unchanged,
            "not_at_crossref": self.not_at_crossref,
            "failed": len(self.failed),
            "failures": self.failed,
            "requests": self.requests,
        }

    def describe(self) -> str:
        return (
            f"DOIs: {self.checked} checked, {self.added} added, {len(self.changed)} changed, "
            f"{self.unchanged} unchanged, {len(self.not_at_crossref)} not at Crossref, "
            f"{len(self.failed)} failed"
        )


def _item(result: crossref.WorkResult) -> Item:
    assert result.record is not None
    return Item(source_id=result.doi, record=result.record, raw_format=crossref.RAW_FORMAT)


def _check_day(checked_at: str) -> date:
    return date.fromisoformat(checked_at[:10])


async def recheck_dois(
    store: Store,
    ctx: FetchContext,
    *,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
) -> RecheckSummary:
    """Re-check every DOI of the store's records against Crossref; store what changed."""
    summary = RecheckSummary()
    checks = store.doi_checks()
    dois = store.stored_dois(exclude_source=SOURCE)
    fresh = [doi for doi in dois if doi not in checks]
    known = [doi for doi in dois if doi in checks and checks[doi].status != "not-found"]
    # Crossref said no before: another agency's DOI. Not asked again every night.
    summary.not_at_crossref = [d for d in dois if d in checks and checks[d].status == "not-found"]
    summary.checked = len(dois)
    requests_before = ctx.client.stats.requests

    async def one(doi: str, check: DoiCheck | None) -> None:
        try:
            result = await crossref.fetch_work(
                doi,
                ctx,
                etag=check.etag if check else None,
                last_modified=check.last_modified if check else None,
            )
        except NotFound:
            summary.not_at_crossref.append(doi)
            store.save_doi_checks([DoiCheck(doi, None, None, now(), "not-found")])
            return
        except (FetchError, ParseError) as exc:
            summary.failed[doi] = str(exc)
            return
        if result.not_modified:
            summary.unchanged += 1
        else:
            summary.record(store.put(SOURCE, [_item(result)]))
        store.save_doi_checks(
            [DoiCheck(doi, result.etag, result.last_modified, now(), str(result.status))]
        )
        if progress is not None:
            progress(1)

    await asyncio.gather(*(one(doi, None) for doi in fresh))
    for start in range(0, len(known), batch):
        group = known[start : start + batch]
        try:
            await _filtered(store, ctx, group, checks, summary)
        except _FilterRefused:
            await asyncio.gather(*(one(doi, checks[doi]) for doi in group))
        if progress is not None:
            progress(len(group))
    summary.not_at_crossref.sort()
    summary.requests = ctx.client.stats.requests - requests_before
    return summary


class _FilterRefused(Exception):
    """The server will not run a ``from-update-date`` query; fall back to per-DOI checks."""


async def _filtered(
    store: Store,
    ctx: FetchContext,
    group: Sequence[str],
    checks: dict[str, DoiCheck],
    summary: RecheckSummary,
) -> None:
    since = min(_check_day(checks[doi].checked_at) for doi in group) - timedelta(days=1)
    filters = ",".join([f"from-update-date:{since.isoformat()}", *(f"doi:{d}" for d in group)])
    base = ctx.settings.url("crossref")
    url = f"{base}/works"
    params = {"filter": filters, "rows": str(len(group)), **crossref.crossref_params(ctx)}
    try:
        response = await ctx.client.get(url, params=params, expect="json")
    except FetchError as exc:
        if exc.status == 400:
            raise _FilterRefused from exc
        for doi in group:
            summary.failed[doi] = str(exc)
        return
    try:
        message = crossref.decode_message(
            response.read(), doi=", ".join(group), url=url, message_type="work-list"
        )
    except ParseError as exc:
        for doi in group:
            summary.failed[doi] = str(exc)
        return
    items: list[Item] = []
    for work in message.get("items") or []:
        if not isinstance(work, dict):
            continue
        try:
            record = crossref.record_from_work(work, url)
        except ParseError as exc:
            summary.failed[str(work.get("DOI", "?")).lower()] = str(exc)
            continue
        work_doi = record.doi
        if work_doi is None or work_doi not in checks:
            continue  # not one we asked about: a server that ignored the doi filter
        items.append(Item(source_id=work_doi, record=record, raw_format=crossref.RAW_FORMAT))
    returned = {item.source_id for item in items}
    summary.record(store.put(SOURCE, items))
    summary.unchanged += sum(
        1 for doi in group if doi not in returned and doi not in summary.failed
    )
    stamp = now()
    store.save_doi_checks(
        [
            DoiCheck(doi, checks[doi].etag, checks[doi].last_modified, stamp, "filtered")
            for doi in group
            if doi not in summary.failed
        ]
    )


def recheck_store(
    store: Store,
    *,
    settings: SourceSettings | None = None,
    http: HttpSettings | None = None,
    hosts: dict[str, HostPolicy] | None = None,
    batch: int = BATCH,
) -> RecheckSummary:
    """Run :func:`recheck_dois` with the configured Crossref URL, contact and politeness."""
    sources = settings or SourceSettings.load()
    http_settings = http or HttpSettings(contact=sources.mailto)

    async def run() -> RecheckSummary:
        policies = {**service_hosts(sources), **(hosts or {})}
        async with AsyncHttpClient(http_settings, hosts=policies) as client:
            return await recheck_dois(store, FetchContext(client, sources), batch=batch)

    return asyncio.run(run())
