"""Fetch many targets (URLs, DOIs, PMIDs, PMCIDs, ISBNs) through the source registry.

Thousands of targets are fetched concurrently, yet memory stays flat and output keeps
the input's order: at most ``window`` targets are in hand at once (read, in flight, or
finished and waiting for an earlier one), so a slow target holds the rest back by at
most a window, never the whole list. Politeness is not decided here: every request goes
through one :class:`~harvester.http.AsyncHttpClient`, whose per-host pacing and
connection caps apply whatever ``concurrency`` says.

A bad target is an outcome with an error, never an exception: one typo in a list of
2,000 DOIs must not stop the other 1,999. With ``enrich``, a catalogue record (VuFind,
an embedded landing page) that names a DOI or PMID is completed from the registry
(Crossref/DataCite, PubMed) and merged by :func:`harvester.merge.merge`, each field
keeping its provenance; disagreements are kept as conflicts for the report.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from harvester.errors import (
    Blocked,
    ConfigError,
    FetchError,
    HarvesterError,
    NotFound,
    ParseError,
    RateLimited,
)
from harvester.http import KNOWN_HOSTS, AsyncHttpClient, HostPolicy, HttpSettings, ncbi_hosts
from harvester.merge import Conflict, Layer, merge
from harvester.model import Record
from harvester.sources import SOURCES, parse_target
from harvester.sources._base import DEFAULT_URLS, FetchContext, Source, SourceSettings, Target

DEFAULT_CONCURRENCY = 16
"""Targets (or batches) in flight at once; the per-host caps in the client still apply."""

_ENRICH_FROM = ("catalogue", "embedded")
"""Source kinds whose records are completed from a registry with ``enrich``."""


@dataclass
class FetchOutcome:
    """What became of one input line: its records, or why there are none."""

    index: int
    """0-based position in the input; outcomes come back in this order."""
    text: str
    """The target as given."""
    target: Target | None = None
    source: str | None = None
    records: list[Record] = field(default_factory=list)
    error: HarvesterError | None = None
    conflicts: list[Conflict] = field(default_factory=list)
    """Merge disagreements from ``enrich`` (the catalogue's value vs the registry's)."""
    warnings: list[str] = field(default_factory=list)
    """Problems that did not fail the target (an enrichment that could not be fetched)."""
    enriched_from: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> int | None:
        """The HTTP status behind a failure, when there was one."""
        return getattr(self.error, "status", None) if self.error is not None else None

    @property
    def reason(self) -> str | None:
        return None if self.error is None else failure_reason(self.error)

    def failure_dict(self) -> dict[str, Any]:
        """One failure as the report lists it."""
        error = self.error
        return {
            "index": self.index,
            "target": self.text,
            "source": self.source,
            "status": self.status,
            "reason": self.reason,
            "url": getattr(error, "url", None) or getattr(error, "source", None),
            "message": str(error) if error is not None else None,
        }


def failure_reason(error: BaseException) -> str:
    """A short, countable name for why a target failed (the summary groups by it)."""
    if isinstance(error, _BadTarget):
        return "bad-target"
    if isinstance(error, _NoSource):
        return "unsupported"
    if isinstance(error, ParseError):
        return "parse"
    if isinstance(error, NotFound):
        return "not-found"
    if isinstance(error, Blocked):
        return "blocked"
    if isinstance(error, RateLimited):
        return "rate-limited"
    if isinstance(error, FetchError):
        if str(error).startswith(("redirect loop", "too many redirects")):
            return "redirects"
        cause = error.__cause__
        if isinstance(cause, httpx.TimeoutException):
            return "timeout"
        if isinstance(cause, httpx.TooManyRedirects):
            return "redirects"
        if error.status is not None:
            return f"http-{error.status}"
        if isinstance(cause, httpx.TransportError):
            return "network"
        return "fetch"
    if isinstance(error, ConfigError):
        return "config"
    return "error"


class _BadTarget(ConfigError):
    """The text is not a URL, DOI, ``pmid:``, ``pmcid:`` or ``isbn:`` target."""


class _NoSource(ConfigError):
    """No registered source accepts the target."""


@dataclass
class FetchSummary:
    """Counts for the one-line summary and the report."""

    targets: int = 0
    fetched: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    records: int = 0
    enriched: int = 0
    conflicts: int = 0
    requests: int = 0
    retried: int = 0
    cached: int = 0

    @property
    def failures(self) -> int:
        return sum(self.failed.values())

    def add(self, outcome: FetchOutcome) -> None:
        self.targets += 1
        if outcome.error is not None:
            self.failed[outcome.reason or "error"] += 1
            return
        self.fetched += 1
        self.records += len(outcome.records)
        self.enriched += bool(outcome.enriched_from)
        self.conflicts += len(outcome.conflicts)

    def describe(self) -> str:
        """``fetched 9 of 10 target(s) (12 records); failed 1 (not-found 1); ...``"""
        text = f"fetched {self.fetched} of {self.targets} target(s) ({self.records} record(s))"
        if self.failed:
            reasons = ", ".join(f"{name} {n}" for name, n in sorted(self.failed.items()))
            text += f"; failed {self.failures} ({reasons})"
        if self.enriched:
            text += f"; enriched {self.enriched}"
        return text + f"; {self.requests} request(s), {self.retried} retried, {self.cached} cached"

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": self.targets,
            "fetched": self.fetched,
            "failed": self.failures,
            "failed_by_reason": dict(sorted(self.failed.items())),
            "records": self.records,
            "enriched": self.enriched,
            "conflicts": self.conflicts,
            "requests": self.requests,
            "retried": self.retried,
            "cached": self.cached,
        }


def service_hosts(settings: SourceSettings) -> dict[str, HostPolicy]:
    """Give a service's policy to the host it is configured at.

    A Crossref mirror or a test server at another address is still Crossref: it gets
    Crossref's rate and connection cap (which its ``x-rate-limit-*`` headers may raise),
    not the one-request-a-second default for unknown hosts.
    """
    known = dict(KNOWN_HOSTS)
    hosts: dict[str, HostPolicy] = {}
    if settings.ncbi_api_key:
        # NCBI allows 10 requests a second instead of 3 with an API key.
        known.update(ncbi_hosts(settings.ncbi_api_key))
        hosts.update(ncbi_hosts(settings.ncbi_api_key))
    for name, default_url in DEFAULT_URLS.items():
        default_host = urlsplit(default_url).hostname or ""
        policy = known.get(default_host)
        host = urlsplit(settings.urls.get(name, default_url)).hostname or ""
        if policy is not None and host and host != default_host and host not in known:
            hosts.setdefault(host, policy)
    return hosts


class FetchRun:
    """An async iterator of :class:`FetchOutcome` in input order; ``summary`` fills as it goes.

    Use :func:`afetch` to make one, or :func:`fetch` for the synchronous form.
    """

    def __init__(
        self,
        targets: Iterable[str | Target],
        *,
        settings: SourceSettings | None = None,
        http_settings: HttpSettings | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        enrich: bool = False,
        sources: Sequence[Source] | None = None,
        hosts: dict[str, HostPolicy] | None = None,
        window: int | None = None,
        client: AsyncHttpClient | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, not {concurrency}")
        self.settings = settings if settings is not None else SourceSettings.load()
        self.http_settings = http_settings or HttpSettings()
        if self.http_settings.contact is None and self.settings.mailto:
            self.http_settings.contact = self.settings.mailto
        self.concurrency = concurrency
        self.enrich = enrich
        self.sources: tuple[Source, ...] = tuple(SOURCES if sources is None else sources)
        self.hosts = {**service_hosts(self.settings), **(hosts or {})}
        largest_batch = max((s.batch_size for s in self.sources if s.fetch_many), default=1)
        self.window = window or max(256, 4 * concurrency, 2 * largest_batch)
        self.summary = FetchSummary()
        self._targets = targets
        self._client = client
        self._iterator: AsyncIterator[FetchOutcome] | None = None

    def __aiter__(self) -> AsyncIterator[FetchOutcome]:
        if self._iterator is None:
            self._iterator = self._run()
        return self._iterator

    def find_source(self, target: Target) -> Source | None:
        for source in self.sources:
            if source.detect(target):
                return source
        return None

    async def _run(self) -> AsyncIterator[FetchOutcome]:
        own_client = self._client is None
        client = self._client or AsyncHttpClient(self.http_settings, hosts=self.hosts)
        context = FetchContext(client=client, settings=self.settings)
        limit = asyncio.Semaphore(self.concurrency)
        running: set[asyncio.Task[list[FetchOutcome]]] = set()
        batches: dict[str, list[tuple[int, Target, str]]] = {}
        by_name = {source.name: source for source in self.sources}
        finished: dict[int, FetchOutcome] = {}
        crashed: list[BaseException] = []
        progress = asyncio.Event()
        items = iter(self._targets)
        read = 0
        next_out = 0
        exhausted = False

        def landed(task: asyncio.Task[list[FetchOutcome]]) -> None:
            # A callback per task, not asyncio.wait over the window: O(1) per completion.
            running.discard(task)
            if task.cancelled():
                return
            error = task.exception()
            if error is not None:
                crashed.append(error)
            else:
                for outcome in task.result():
                    finished[outcome.index] = outcome
            progress.set()

        def spawn(work: Coroutine[Any, Any, list[FetchOutcome]]) -> None:
            task = asyncio.create_task(work)
            running.add(task)
            task.add_done_callback(landed)

        def launch_batch(name: str) -> None:
            batch = batches.pop(name, [])
            if batch:
                spawn(self._batch(by_name[name], batch, context, limit))

        try:
            while True:
                while not exhausted and read - next_out < self.window:
                    try:
                        item = next(items)
                    except StopIteration:
                        exhausted = True
                        break
                    outcome, source, target = self._resolve(read, item)
                    if outcome is not None:
                        finished[read] = outcome
                    elif source is not None and target is not None:
                        if source.fetch_many is not None and source.batch_size > 1:
                            pending = batches.setdefault(source.name, [])
                            pending.append((read, target, _text(item)))
                            if len(pending) >= source.batch_size:
                                launch_batch(source.name)
                        else:
                            spawn(self._one(source, read, target, _text(item), context, limit))
                    read += 1
                if exhausted or read - next_out >= self.window:
                    # Nothing more can join a partial batch before output moves on.
                    for name in list(batches):
                        launch_batch(name)
                while next_out in finished:
                    outcome = finished.pop(next_out)
                    next_out += 1
                    self._count(outcome, client)
                    yield outcome
                if crashed:
                    raise crashed[0]
                if exhausted and next_out >= read:
                    break
                if next_out in finished or (not exhausted and read - next_out < self.window):
                    continue
                if not running:  # every read target is finished, batched or running
                    raise RuntimeError(f"fetch lost track of target {next_out}")
                progress.clear()
                await progress.wait()
        finally:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            self._stats(client)
            if own_client:
                await client.aclose()

    def _count(self, outcome: FetchOutcome, client: AsyncHttpClient) -> None:
        self.summary.add(outcome)
        self._stats(client)

    def _stats(self, client: AsyncHttpClient) -> None:
        self.summary.requests = client.stats.requests
        self.summary.retried = client.stats.retries
        self.summary.cached = client.stats.cached

    def _resolve(
        self, index: int, item: str | Target
    ) -> tuple[FetchOutcome | None, Source | None, Target | None]:
        """The target and its source, or an outcome saying why there is none."""
        text = _text(item)
        if isinstance(item, Target):
            target = item
        else:
            try:
                target = parse_target(item)
            except ConfigError as exc:
                return FetchOutcome(index, text, error=_BadTarget(str(exc))), None, None
        source = self.find_source(target)
        if source is None:
            error = _NoSource(f"no source can fetch {text!r}")
            return FetchOutcome(index, text, target=target, error=error), None, None
        return None, source, target

    async def _one(
        self,
        source: Source,
        index: int,
        target: Target,
        text: str,
        context: FetchContext,
        limit: asyncio.Semaphore,
    ) -> list[FetchOutcome]:
        outcome = FetchOutcome(index, text, target=target, source=source.name)
        async with limit:
            try:
                outcome.records = await source.fetch(target, context)
            except HarvesterError as exc:
                outcome.error = exc
            except _PAYLOAD_ERRORS as exc:
                outcome.error = _invalid(exc, target)
        if outcome.error is None and self.enrich:
            await self._enrich(outcome, source, context, limit)
        return [outcome]

    async def _batch(
        self,
        source: Source,
        batch: list[tuple[int, Target, str]],
        context: FetchContext,
        limit: asyncio.Semaphore,
    ) -> list[FetchOutcome]:
        assert source.fetch_many is not None
        outcomes = [FetchOutcome(i, text, target=t, source=source.name) for i, t, text in batch]
        async with limit:
            try:
                results = await source.fetch_many([t for _, t, _ in batch], context)
            except HarvesterError as exc:
                for outcome in outcomes:
                    outcome.error = exc
                return outcomes
            except _PAYLOAD_ERRORS as exc:
                for outcome in outcomes:
                    outcome.error = _invalid(exc, outcome.target)
                return outcomes
        for outcome in outcomes:
            assert outcome.target is not None
            result = results.get(outcome.target)
            if result is None:
                outcome.error = NotFound(
                    f"{source.name} returned nothing for {outcome.text}", status=None
                )
            elif isinstance(result, HarvesterError):
                outcome.error = result
            else:
                outcome.records = result
            if outcome.error is None and self.enrich:
                await self._enrich(outcome, source, context, limit)
        return outcomes

    async def _enrich(
        self,
        outcome: FetchOutcome,
        source: Source,
        context: FetchContext,
        limit: asyncio.Semaphore,
    ) -> None:
        """Complete each catalogue record from its DOI's registry and its PMID's PubMed."""
        if source.kind not in _ENRICH_FROM:
            return
        merged: list[Record] = []
        for record in outcome.records:
            layers = [Layer(record, source.kind, source.name)]
            for target in _registry_targets(record):
                registry = self.find_source(target)
                if registry is None or registry.kind != "registry":
                    continue
                try:
                    async with limit:
                        found = await registry.fetch(target, context)
                except HarvesterError as exc:
                    outcome.warnings.append(
                        f"enrichment from {registry.name} for {target.value} failed "
                        f"({failure_reason(exc)}): {exc}"
                    )
                    continue
                except _PAYLOAD_ERRORS as exc:
                    outcome.warnings.append(
                        f"enrichment from {registry.name} for {target.value} failed (parse): "
                        f"{_invalid(exc, target)}"
                    )
                    continue
                for extra in found[:1]:
                    # Name the service that answered (crossref, datacite), not the router.
                    name = extra.provenance[-1].source if extra.provenance else registry.name
                    layers.append(Layer(extra, registry.kind, name))
                    if name not in outcome.enriched_from:
                        outcome.enriched_from.append(name)
            if len(layers) == 1:
                merged.append(record)
                continue
            result = merge(layers)
            outcome.conflicts.extend(result.conflicts)
            merged.append(result.record)
        outcome.records = merged


def _registry_targets(record: Record) -> list[Target]:
    targets: list[Target] = []
    doi = record.doi
    if doi:
        targets.append(Target("doi", doi, doi))
    pmids = record.identifiers_of("pmid")
    if pmids:
        targets.append(Target("pmid", pmids[0].value, f"pmid:{pmids[0].value}"))
    return targets


_PAYLOAD_ERRORS = (ValueError, KeyError, IndexError, TypeError, AttributeError)
"""What a source raises when a payload has a shape it did not expect (pydantic's
``ValidationError`` is a ``ValueError``): one hostile response fails its own target as a
parse error instead of ending a run of thousands."""


def _invalid(exc: Exception, target: Target | None) -> ParseError:
    """A source choked on a payload, or built a record the model refuses."""
    where = target.raw if target is not None else "<target>"
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "record"
        return ParseError(f"{loc}: {first['msg']}", source=where)
    return ParseError(f"unexpected payload ({type(exc).__name__}: {exc})", source=where)


def _text(item: str | Target) -> str:
    return item.raw if isinstance(item, Target) else item.strip()


def afetch(
    targets: Iterable[str | Target],
    *,
    settings: SourceSettings | None = None,
    http_settings: HttpSettings | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    enrich: bool = False,
    sources: Sequence[Source] | None = None,
    hosts: dict[str, HostPolicy] | None = None,
    window: int | None = None,
    client: AsyncHttpClient | None = None,
) -> FetchRun:
    """Fetch ``targets`` concurrently; ``async for outcome in afetch(...)`` in input order.

    ``targets`` is read lazily (a file of a million lines is fine). ``settings`` defaults
    to :meth:`SourceSettings.load` (environment and config file); ``sources`` to the
    registry; ``hosts`` adds or overrides per-host policies.

    Raises:
        ConfigError: ``concurrency`` below 1.
    """
    return FetchRun(
        targets,
        settings=settings,
        http_settings=http_settings,
        concurrency=concurrency,
        enrich=enrich,
        sources=sources,
        hosts=hosts,
        window=window,
        client=client,
    )


class SyncFetchRun(Iterator[FetchOutcome]):
    """:class:`FetchRun` driven from synchronous code on its own event loop."""

    def __init__(self, run: FetchRun) -> None:
        self.run = run
        self._loop: asyncio.AbstractEventLoop | None = None
        self._iterator = run.__aiter__()
        self._step: asyncio.Task[FetchOutcome] | None = None
        self._closed = False

    @property
    def summary(self) -> FetchSummary:
        return self.run.summary

    def __iter__(self) -> SyncFetchRun:
        return self

    async def _advance(self) -> FetchOutcome:
        return await anext(self._iterator)

    def __next__(self) -> FetchOutcome:
        if self._closed:
            raise StopIteration
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        # An explicit task, so that an interrupt (Ctrl-C) arriving while it runs leaves
        # something :meth:`close` can cancel, unwinding the run's requests properly.
        self._step = self._loop.create_task(self._advance())
        try:
            return self._loop.run_until_complete(self._step)
        except StopAsyncIteration:
            self.close()
            raise StopIteration from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop early: cancel what is in flight and close the client."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        if loop is None:
            return
        try:
            step = self._step
            if step is not None and not step.done():
                step.cancel()
                loop.run_until_complete(asyncio.gather(step, return_exceptions=True))
            aclose = getattr(self._iterator, "aclose", None)
            if aclose is not None:
                loop.run_until_complete(aclose())
        finally:
            loop.close()

    def __enter__(self) -> SyncFetchRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fetch(
    targets: Iterable[str | Target],
    *,
    settings: SourceSettings | None = None,
    http_settings: HttpSettings | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    enrich: bool = False,
    sources: Sequence[Source] | None = None,
    hosts: dict[str, HostPolicy] | None = None,
    window: int | None = None,
) -> SyncFetchRun:
    """Fetch ``targets``; iterate the result for outcomes in input order.

    The synchronous face of :func:`afetch` (same arguments); not for use inside a running
    event loop (use :func:`afetch` there). ``.summary`` holds the counts so far.

    Raises:
        ConfigError: ``concurrency`` below 1.
    """
    return SyncFetchRun(
        afetch(
            targets,
            settings=settings,
            http_settings=http_settings,
            concurrency=concurrency,
            enrich=enrich,
            sources=sources,
            hosts=hosts,
            window=window,
        )
    )
