"""Harvest an OAI-PMH list into the store, page by page, resumably.

Each page is mapped into rows (:func:`map_page`: records validated, serialised and hashed)
and committed with the checkpoint in one transaction (:meth:`Store.commit_rows`), so a
rerun after a crash resumes at the next page. With ``workers`` (the default on two cores
or more), the pages after the first are fetched ahead and mapped in worker processes
(:mod:`harvester.oai.pipeline`) while this process writes them in list order: the same
rows either way, at close to twice the speed. A rerun
after a complete harvest is incremental: ``from`` is the highest datestamp stored,
inclusive (a one-granule overlap: records stamped in that same second or day come again
and are deduplicated by content hash).

An expired resumption token (``badResumptionToken``) restarts the list with ``from`` at
the last checkpointed datestamp when the server has sent datestamps in order so far, and
from the harvest's own ``from`` otherwise (a restart from a datestamp is only lossless
when nothing older can still come). Upserts are idempotent, so the records fetched a
second time change nothing and are not duplicated.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from harvester.errors import ConfigError, HarvesterError, ParseError
from harvester.model import Provenance, Record
from harvester.oai.client import (
    OAIClient,
    OAIRecord,
    Page,
    ResumptionToken,
    format_datestamp,
    parse_records_page,
)
from harvester.oai.errors import BadResumptionToken
from harvester.store import (
    DELETED_HASH,
    Change,
    Checkpoint,
    Quarantined,
    Row,
    Store,
    content_hash,
    normalised_json,
)
from harvester.xml import Element

Mapper = Callable[..., Record]


class _Mappers(Mapping[str, Mapper]):
    """Metadata prefix -> the format module whose ``from_element`` maps it, imported on
    first use (MARC pulls in pymarc: a Dublin Core refresh need not pay for it)."""

    def __init__(self, modules: dict[str, str]) -> None:
        self._modules = modules

    def __getitem__(self, prefix: str) -> Mapper:
        module = importlib.import_module(f"harvester.formats.{self._modules[prefix]}")
        mapper: Mapper = module.from_element
        return mapper

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


MAPPERS: Mapping[str, Mapper] = _Mappers(
    {
        "oai_dc": "oai_dc",
        "marc21": "marcxml",
        "marcxml": "marcxml",
        "MARC21": "marcxml",
        "MARCXML": "marcxml",
        "mods": "mods",
    }
)
"""Metadata prefix -> mapper from the ``<metadata>`` child element to a Record."""

MAX_TOKEN_RESTARTS = 3


@dataclass
class HarvestSummary:
    """What a harvest or refresh did, for people and for cron jobs (``to_dict``)."""

    added: int = 0
    changed: dict[str, list[str]] = field(default_factory=dict)
    deleted: int = 0
    unchanged: int = 0
    quarantined: int = 0
    failed: int = 0
    pages: int = 0
    repaired_characters: int = 0
    token_restarts: int = 0
    resumed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)

    def record(self, changes: list[Change]) -> None:
        for change in changes:
            if change.kind == "added":
                self.added += 1
            elif change.kind == "changed":
                self.changed[change.source_id] = change.fields
            elif change.kind == "deleted":
                self.deleted += 1
            else:
                self.unchanged += 1

    def merge(self, other: HarvestSummary) -> None:
        self.added += other.added
        self.changed.update(other.changed)
        self.deleted += other.deleted
        self.unchanged += other.unchanged
        self.quarantined += other.quarantined
        self.failed += other.failed
        self.pages += other.pages
        self.repaired_characters += other.repaired_characters
        self.token_restarts += other.token_restarts
        self.resumed.extend(other.resumed)
        self.errors.extend(other.errors)
        self.endpoints.extend(other.endpoints)

    @property
    def exit_code(self) -> int:
        """0 all well; 1 partial (something quarantined or failed); 2 nothing could run."""
        if self.failed and self.failed >= len(self.endpoints):
            return 2
        return 1 if self.failed or self.quarantined else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": len(self.changed),
            "changed_fields": self.changed,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "quarantined": self.quarantined,
            "failed": self.failed,
            "pages": self.pages,
            "repaired_characters": self.repaired_characters,
            "token_restarts": self.token_restarts,
            "resumed": self.resumed,
            "endpoints": self.endpoints,
            "errors": self.errors,
        }

    def describe(self) -> str:
        return (
            f"{self.added} added, {len(self.changed)} changed, {self.deleted} deleted, "
            f"{self.unchanged} unchanged, {self.quarantined} quarantined, {self.failed} failed"
        )


@dataclass
class PageRows:
    """One page mapped and serialised: all the store has left to do is write it.

    Plain tuples, strings and bytes, so a worker process sends it back cheaply.
    ``stamps`` is ``(lowest, highest, in order within the page)`` of the header
    datestamps, or None when the page had none.
    """

    rows: list[Row]
    bad: list[Quarantined]
    token: ResumptionToken | None
    repaired: int = 0
    stamps: tuple[str, str, bool] | None = None


ProgressCallback = Callable[[Checkpoint, PageRows], None]

_MARK = "\x00"
_MARK_JSON = json.dumps(_MARK)


def _record_of(oai: OAIRecord, mapper: Mapper) -> Record | str | None:
    """The mapped record, None for a tombstone, or why it cannot be stored."""
    header = oai.header
    if not header.identifier:
        return "record header without an identifier"
    if header.deleted:
        return None
    metadata: Element | None = oai.metadata
    if metadata is None:
        return "record without metadata"
    try:
        return mapper(metadata, source_id=header.identifier)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        return f"invalid record: {where}: {first['msg']}"
    except (ValueError, ParseError) as exc:
        return f"invalid record: {exc}"


def map_page(page: Page, mapper: Mapper, endpoint: str, prefix: str, fetched: datetime) -> PageRows:
    """Map, validate, serialise and hash every record of a page (no store access).

    The same function runs in-process and in the worker processes, so both paths store
    byte-identical rows.
    """
    provenance = Provenance(
        source=endpoint, source_id=_MARK, url=endpoint, fetched_at=fetched, raw_format=prefix
    )
    # One provenance serialisation per page; each record only splices its identifier in.
    head, tail = json.dumps([provenance.model_dump(mode="json")]).split(_MARK_JSON)
    rows: list[Row] = []
    bad: list[Quarantined] = []
    low = high = ""
    ordered = True
    for oai in page.items:
        header = oai.header
        stamp = header.datestamp
        if stamp:
            if not high:
                low = high = stamp
            elif stamp < high:
                ordered = False
                low = min(low, stamp)
            else:
                high = stamp
        mapped = _record_of(oai, mapper)
        if isinstance(mapped, str):
            bad.append(Quarantined(header.identifier or None, mapped, oai.raw))
            continue
        identifier = header.identifier
        sets = json.dumps(list(header.set_specs)) if header.set_specs else "[]"
        if mapped is None:
            rows.append((identifier, None, oai.raw, prefix, DELETED_HASH, stamp, sets, None))
            continue
        document = normalised_json(mapped)
        rows.append(
            (identifier, document, oai.raw, prefix, content_hash(document), stamp, sets,
             head + json.dumps(identifier) + tail)
        )  # fmt: skip
    bad.extend(
        Quarantined(b.identifier, f"not well-formed XML: {b.reason}", b.raw) for b in page.broken
    )
    return PageRows(rows, bad, page.token, page.repaired, (low, high, ordered) if high else None)


def _list_params(client: OAIClient, cp: Checkpoint, from_: str | None) -> dict[str, str]:
    params = {"verb": "ListRecords", "metadataPrefix": cp.prefix}
    if (from_ or cp.harvest_until) and cp.granularity is None:
        cp.granularity = client.identify().granularity
    if from_:
        params["from"] = format_datestamp(from_, cp.granularity or "YYYY-MM-DD")
    if cp.harvest_until:
        params["until"] = format_datestamp(cp.harvest_until, cp.granularity or "YYYY-MM-DD")
    if cp.set_spec:
        params["set"] = cp.set_spec
    return params


def _pages(
    client: OAIClient, cp: Checkpoint, from_: str | None, token: str | None
) -> Iterator[Page]:
    params = _list_params(client, cp, from_)
    del params["verb"]
    return client.pages("ListRecords", params, resumption_token=token)


def _is_final(token: ResumptionToken | None, requested_with: str | None) -> bool:
    """The list ends on an absent or empty token, or one equal to the token just used."""
    return token is None or not token.value or token.value == requested_with


_DONE = object()


def prefetch(pages: Iterator[Page]) -> Generator[Page, None, None]:
    """Fetch the next page in a thread while the caller maps and stores this one.

    Network waits overlap with the work; at most one page waits in the queue, so
    memory stays at two pages. Exceptions (a protocol error for the next page) are
    raised in order, after the pages before them were yielded.
    """
    slot: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    ahead = threading.Semaphore(1)  # one page fetched ahead, no more

    def produce() -> None:
        try:
            while True:
                ahead.acquire()
                if stop.is_set():  # checked before each request: none after a stop
                    return
                page = next(pages, None)
                slot.put(_DONE if page is None else page)
                if page is None:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            slot.put(exc)

    worker = threading.Thread(target=produce, name="oai-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slot.get()
            ahead.release()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        ahead.release()  # wake a producer waiting for its turn, so it sees the stop
        worker.join(timeout=60)


def default_workers() -> int:
    """Worker processes that map pages while this one fetches and writes: two where
    there are two cores or more, none on one core (there they would only take turns)."""
    if not hasattr(os, "fork"):
        return 0  # the pipeline forks its workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 2 if (cores or 1) >= 2 else 0


def _work_page(
    body: bytes, url: str, fetched: datetime, *, mapper: Mapper, endpoint: str, prefix: str
) -> PageRows:
    """What a worker process does with a 2xx ListRecords body."""
    return map_page(parse_records_page(body, url), mapper, endpoint, prefix, fetched)


def _mapped_pages(
    client: OAIClient,
    cp: Checkpoint,
    mapper: Mapper,
    from_: str | None,
    token: str | None,
    workers: int,
) -> Generator[PageRows, None, None]:
    """Every page of the list, mapped, in order.

    With ``workers``, the first page is handled here; if the list goes on, the rest
    goes through a :class:`~harvester.oai.pipeline.Pipeline` (pages fetched ahead, mapped in
    worker processes). Without, pages are fetched one ahead in a thread.
    """
    endpoint, prefix = client.base_url, cp.prefix
    if workers <= 0:
        for page in prefetch(_pages(client, cp, from_, token)):
            yield map_page(page, mapper, endpoint, prefix, datetime.now(UTC))
        return
    if token:
        request = {"verb": "ListRecords", "resumptionToken": token}
    else:
        request = _list_params(client, cp, from_)
    page = client.request_page(request, "record", "ListRecords")
    first = map_page(page, mapper, endpoint, prefix, datetime.now(UTC))
    yield first
    if _is_final(first.token, token):
        return
    assert first.token is not None
    # Imported here: a one-page refresh (the common scheduled run) never needs it.
    from harvester.oai.pipeline import Pipeline

    work = functools.partial(_work_page, mapper=mapper, endpoint=endpoint, prefix=prefix)

    def fallback(page: Page, fetched: datetime) -> PageRows:
        return map_page(page, mapper, endpoint, prefix, fetched)

    with Pipeline(client, workers, work, fallback) as pipeline:
        yield from pipeline.pages(first.token.value)


def harvest(
    store: Store,
    client: OAIClient,
    *,
    prefix: str = "oai_dc",
    set_: str | None = None,
    from_: str | None = None,
    until: str | None = None,
    restart: bool = False,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> HarvestSummary:
    """Harvest ``client``'s repository into ``store``; resume or go incremental as needed.

    ``workers`` processes map pages while this one fetches and writes (default
    :func:`default_workers`; 0: everything in this process). The store ends the same
    either way: pages are written in list order, each with its checkpoint.

    Raises:
        ConfigError: ``prefix`` has no mapping.
        HarvesterError: the harvest failed (HTTP after retries, protocol error); what
            was committed stays, and the checkpoint lets a rerun resume.
    """
    mapper = MAPPERS.get(prefix)
    if mapper is None:
        raise ConfigError(
            f"no mapping for metadata prefix {prefix!r} (known: {', '.join(MAPPERS)})"
        )
    endpoint = client.base_url
    summary = HarvestSummary(endpoints=[endpoint])
    set_spec = set_ or ""
    cp = store.checkpoint(endpoint, prefix, set_spec)
    token: str | None = None
    start_from = from_
    if cp is None or restart:
        cp = Checkpoint(endpoint, prefix, set_spec, harvest_from=from_, harvest_until=until)
        cp.started_at = datetime.now(UTC).isoformat()
        store.save_checkpoint(cp)  # registered at once: refresh and status know it
    elif cp.status == "running":
        token = cp.token
        start_from = cp.harvest_from
        summary.resumed.append(endpoint)
    else:
        # Incremental: from the highest datestamp stored, inclusive (one-granule overlap).
        start_from = from_ or cp.last_datestamp or cp.harvest_from
        cp = Checkpoint(
            endpoint,
            prefix,
            set_spec,
            harvest_from=start_from,
            harvest_until=until,
            last_datestamp=cp.last_datestamp,
            granularity=cp.granularity,
            started_at=datetime.now(UTC).isoformat(),
        )
    if cp.granularity is None and (start_from or until):
        cp.granularity = client.identify().granularity
    client.granularity = cp.granularity or client.granularity
    jobs = default_workers() if workers is None else workers
    previous_token = token
    pages = _mapped_pages(client, cp, mapper, start_from, token, jobs)
    store.background_checkpoints()
    try:
        while True:
            try:
                page = next(pages)
            except StopIteration:
                break
            except BadResumptionToken:
                if summary.token_restarts >= MAX_TOKEN_RESTARTS:
                    raise
                summary.token_restarts += 1
                restart_from = (
                    cp.last_datestamp if cp.ordered and cp.last_datestamp else cp.harvest_from
                )
                previous_token = None
                pages.close()
                pages = _mapped_pages(client, cp, mapper, restart_from, None, jobs)
                continue
            if page.stamps is not None:
                low, high, in_order = page.stamps
                if not in_order or (cp.last_datestamp and low < cp.last_datestamp):
                    cp.ordered = False
                if not cp.last_datestamp or high > cp.last_datestamp:
                    cp.last_datestamp = high
            next_token = page.token
            final = _is_final(next_token, previous_token)
            cp.token = None if final or next_token is None else next_token.value
            cp.token_expiry = None if final or next_token is None else next_token.expiration_date
            cp.cursor = next_token.cursor if next_token is not None else None
            cp.complete_list_size = (
                next_token.complete_list_size if next_token is not None else None
            )
            cp.status = "complete" if final else "running"
            cp.pages += 1
            cp.records += len(page.rows)
            changes = store.commit_rows(endpoint, page.rows, page.bad, cp)
            summary.record(changes)
            summary.quarantined += len(page.bad)
            summary.pages += 1
            summary.repaired_characters += page.repaired
            previous_token = next_token.value if next_token is not None else None
            if progress is not None:
                progress(cp, page)
    finally:
        pages.close()  # stops the fetch thread and the worker processes on any exit
        store.stop_background_checkpoints()
    if cp.status != "complete":
        # An empty list (noRecordsMatch) or a first page that ended the list.
        cp.status = "complete"
        cp.token = None
        store.save_checkpoint(cp)
    return summary


def harvest_safely(store: Store, client: OAIClient, **options: Any) -> HarvestSummary:
    """:func:`harvest`, with a failure reported in the summary instead of raised."""
    try:
        return harvest(store, client, **options)
    except ConfigError:
        raise
    except HarvesterError as exc:
        summary = HarvestSummary(endpoints=[client.base_url], failed=1)
        summary.errors.append(f"{client.base_url}: {exc}")
        return summary
