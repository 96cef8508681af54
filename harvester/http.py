"""The one place that talks HTTP: a sync client for OAI-PMH, an async one for ``fetch``.

:class:`HttpClient` is synchronous by design: an OAI-PMH harvest is a strict sequence
(each page's resumption token comes from the previous page), and a per-host rate limit of
about one request a second leaves nothing for concurrency to win. :class:`AsyncHttpClient`
fetches many small documents (DOIs, PMIDs, catalogue records) from many hosts at once,
each host paced and capped on its own (:class:`AsyncHostLimiter`).

What is retried, and why (habanero's ``retry.py`` is the model):

- connection and read errors, timeouts, a connection dropped mid-body: transient;
- 429 Too Many Requests: the server asks us to slow down, honouring ``Retry-After``;
- 502/503/504: a proxy or an overloaded server; 503 usually carries ``Retry-After``;
- the sync client never retries 500 (usually a bug that repeats); the async one does,
  and 408, as the fetch issue asks (a few quick retries cost little next to a lost target);
- never any other 4xx (our request is wrong), nor 501/505+ (it can never work).

Waits are exponential with full jitter, and a ``Retry-After`` (seconds or an HTTP-date)
is honoured up to ``retry_after_max`` so a server cannot park the job for a day.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import io
import json
import os
import random
import re
import sqlite3
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import certifi
import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from harvester import __version__
from harvester.errors import (
    Blocked,
    ConfigError,
    FetchError,
    NotFound,
    ParseError,
    RateLimited,
)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
PROJECT_URL = "https://github.com/harvester/harvester"


def user_agent(contact: str | None = None) -> str:
    """``harvester/<version> (+<project URL>; mailto:<contact>)``: who calls, and how to reach them.

    The contact defaults to the ``HARVESTER_CONTACT`` environment variable; polite pools
    (Crossref, many OAI repositories) ask for one.
    """
    who = contact or os.environ.get("HARVESTER_CONTACT")
    extra = f"; mailto:{who}" if who else ""
    return f"harvester/{__version__} (+{PROJECT_URL}{extra})"


@dataclass
class HttpSettings:
    """Timeouts, retries, caps and rate limits; tests shrink the waits."""

    timeout: float = 60.0
    connect_timeout: float = 10.0
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 120.0
    retry_after_max: float = 600.0
    max_body_bytes: int = 512 * 1024 * 1024
    max_redirects: int = 5
    default_rate: float = 1.0
    """Requests per second for a host not in ``rates`` (polite default for unknown hosts)."""
    rates: dict[str, float] = field(default_factory=dict)
    """Per-host requests per second; 0 or less means no limit."""
    contact: str | None = None
    spool_bytes: int = 4 * 1024 * 1024
    """Bodies above this size are spooled to a temporary file instead of memory."""
    total_timeout: float = 300.0
    """Whole attempt, redirects and body included (async client): stops a slow drip."""
    cache_dir: Path | None = None
    """Where the async client keeps bodies for revalidation (:class:`HttpCache`); None: off."""


class TokenBucket:
    """Per-host token buckets: ``rate`` tokens a second, bursts of ``max(1, rate)``."""

    def __init__(self, settings: HttpSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def rate(self, host: str) -> float:
        return self._settings.rates.get(host, self._settings.default_rate)

    def delay(self, host: str) -> float:
        """Take a token for ``host``; return how long to sleep before using it."""
        rate = self.rate(host)
        if rate <= 0:
            return 0.0
        capacity = max(1.0, rate)
        with self._lock:
            now = self._clock()
            tokens, last = self._state.get(host, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate) - 1.0
            self._state[host] = (tokens, now)
        return 0.0 if tokens >= 0 else -tokens / rate

    def acquire(self, host: str) -> None:
        wait = self.delay(host)
        if wait > 0:
            time.sleep(wait)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _RetryableStatus(Exception):
    """A response status we retry; carries the server's ``Retry-After`` if any."""

    def __init__(
        self, status: int, url: str, retry_after: float | None, limiter_page: bool = False
    ) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status
        self.url = url
        self.retry_after = retry_after
        self.limiter_page = limiter_page
        """An HTML page with ``X-RateLimit-*`` headers: a site's bot rate limiter."""


class _BodyTooLarge(Exception):
    pass


@dataclass
class Response:
    """A finished response: status, headers, final URL and the body (spooled)."""

    status: int
    headers: Mapping[str, str]
    url: str
    body: IO[bytes]
    size: int
    cached: bool = False
    """The body came from :class:`HttpCache` after a 304."""

    def read(self) -> bytes:
        self.body.seek(0)
        return self.body.read()

    def json(self) -> Any:
        """The body as JSON.

        Raises:
            ParseError: the body is not JSON (``source`` is the URL, format ``json``).
        """
        try:
            return json.loads(self.read())
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise ParseError(f"invalid JSON: {exc}", source=self.url, format_name="json") from exc

    def close(self) -> None:
        self.body.close()


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, _RetryableStatus | httpx.TransportError)


class HttpClient:
    """A shared httpx client with the project's timeouts, retries, caps and rate limits."""

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or HttpSettings()
        self.limiter = TokenBucket(self.settings)
        self.requests = 0
        self.retries = 0
        self._sleep = sleep
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.settings.timeout, connect=self.settings.connect_timeout),
            follow_redirects=True,
            max_redirects=self.settings.max_redirects,
            headers={"User-Agent": user_agent(self.settings.contact)},
            transport=transport,
            verify=_tls_context(),
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, state: RetryCallState) -> float:
        return retry_wait(self.settings, state)

    def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        accept: Callable[[int], bool] | None = None,
    ) -> Response:
        """GET ``url`` with retries; return the response with its body spooled.

        ``accept`` says which statuses are answers (default: 2xx); OAI-PMH servers, for
        example, send protocol errors with 4xx statuses and a body worth reading.

        Raises:
            NotFound: 404 or 410 (unless accepted).
            RateLimited: still 429 after every attempt.
            FetchError: any other failure, after retries where retrying makes sense.
        """
        ok = accept or (lambda status: 200 <= status < 300)
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            sleep=self._sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            return retrying(self._attempt, url, params, headers, ok)
        except (_RetryableStatus, _BodyTooLarge, httpx.HTTPError) as exc:
            raise final_error(exc, url, self.settings.max_attempts) from exc

    def _count_retry(self, state: RetryCallState) -> None:
        self.retries += 1

    def _attempt(
        self,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        ok: Callable[[int], bool],
    ) -> Response:
        self.limiter.acquire(urlsplit(url).hostname or "")
        self.requests += 1
        with self._client.stream("GET", url, params=params, headers=headers) as response:
            status = response.status_code
            if not ok(status):
                if status in RETRY_STATUSES:
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    raise _RetryableStatus(status, str(response.url), retry_after)
                if status in (404, 410):
                    raise NotFound(f"HTTP {status} from {response.url}", url=url, status=status)
                raise FetchError(f"HTTP {status} from {response.url}", url=url, status=status)
            body = tempfile.SpooledTemporaryFile(max_size=self.settings.spool_bytes)  # noqa: SIM115
            size = 0
            try:
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.settings.max_body_bytes:
                        raise _BodyTooLarge(
                            f"response from {url} is larger than "
                            f"{self.settings.max_body_bytes} bytes"
                        )
                    body.write(chunk)
            except BaseException:
                body.close()
                raise
            body.seek(0)
            return Response(
                status=status,
                headers=dict(response.headers),
                url=str(response.url),
                body=body,
                size=size,
            )


# --- The async client: many small documents from many hosts (``harvester fetch``) ---------


def retry_wait(settings: HttpSettings, state: RetryCallState) -> float:
    """Seconds before the next attempt: the server's ``Retry-After`` (capped), else
    exponential backoff with full jitter, which spreads a herd of clients apart."""
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
        return min(exc.retry_after, settings.retry_after_max)
    ceiling = min(settings.backoff_max, settings.backoff_base * 2 ** (state.attempt_number - 1))
    return random.uniform(0, ceiling)


def final_error(exc: BaseException, url: str, attempts: int) -> FetchError:
    """The error a caller sees once retrying is over (both clients map failures alike)."""
    if isinstance(exc, _RetryableStatus):
        if exc.status == 429 and exc.limiter_page:
            return Blocked(
                f"{exc}: the site's rate limiter answered with an HTML page "
                f"(X-RateLimit-* headers) on all {attempts} attempts",
                url=url,
                status=429,
            )
        if exc.status == 429:
            return RateLimited(
                f"{exc} on all {attempts} attempts", url=url, retry_after=exc.retry_after
            )
        return FetchError(f"{exc} after {attempts} attempts", url=url, status=exc.status)
    if isinstance(exc, httpx.TooManyRedirects):
        return FetchError(f"too many redirects from {url}", url=url)
    if isinstance(exc, httpx.TransportError):
        return FetchError(f"{_describe(exc)} for {url} after {attempts} attempts", url=url)
    if isinstance(exc, _BodyTooLarge):
        return FetchError(str(exc), url=url)
    return FetchError(f"{type(exc).__name__} for {url}: {exc}", url=url)


@dataclass(frozen=True)
class HostPolicy:
    """How hard we may press one host: requests a second and requests in flight.

    ``rate <= 0`` means unpaced (loopback tests); ``concurrency`` below 1 counts as 1.
    """

    rate: float
    concurrency: int
    max_rate: float | None = None
    """How far the server's own ``x-rate-limit-*`` headers may raise ``rate`` (None: never
    above ``rate``). Crossref says "start at 5/s" and states its current limit in every
    response; a catalogue we know nothing about never talks us above our default."""


KNOWN_HOSTS: dict[str, HostPolicy] = {
    # Crossref's public limits since December 2025: 5 requests/s, 5 concurrent.
    "api.crossref.org": HostPolicy(rate=5.0, concurrency=5, max_rate=50.0),
    # DataCite: 1,000 requests per 5 minutes (with a contact address).
    "api.datacite.org": HostPolicy(rate=1000 / 300, concurrency=3),
    # NCBI E-utilities: 3/s without an API key (10/s with one: see ``ncbi_hosts``).
    "eutils.ncbi.nlm.nih.gov": HostPolicy(rate=3.0, concurrency=3),
    "www.ncbi.nlm.nih.gov": HostPolicy(rate=3.0, concurrency=3),
    "pmc.ncbi.nlm.nih.gov": HostPolicy(rate=3.0, concurrency=3),
    "doi.org": HostPolicy(rate=5.0, concurrency=5),
    "data.crossref.org": HostPolicy(rate=5.0, concurrency=5),
    "openlibrary.org": HostPolicy(rate=1.0, concurrency=1),
}
UNKNOWN_HOST = HostPolicy(rate=1.0, concurrency=2)
"""A catalogue we know nothing about gets one request a second."""

NCBI_HOSTS = ("eutils.ncbi.nlm.nih.gov", "www.ncbi.nlm.nih.gov", "pmc.ncbi.nlm.nih.gov")


def ncbi_policy(api_key: str | None) -> HostPolicy:
    """NCBI's usage policy: 3 requests a second, 10 with an API key."""
    return HostPolicy(rate=10.0 if api_key else 3.0, concurrency=3)


def ncbi_hosts(api_key: str | None) -> dict[str, HostPolicy]:
    """Policies for every NCBI host, to pass as ``AsyncHttpClient(hosts=...)``.

    ``AsyncHttpClient(settings, hosts=ncbi_hosts(source_settings.ncbi_api_key))`` lifts
    E-utilities and the ID converter to 10/s when a key is configured. (The key and the
    ``tool``/``email`` parameters NCBI asks for are the PubMed source's to send.)
    """
    policy = ncbi_policy(api_key)
    return dict.fromkeys(NCBI_HOSTS, policy)


class AsyncHostLimiter:
    """Per-host pacing (evenly spaced requests) and a per-host cap on requests in flight.

    Why spacing and not a token bucket: a bucket allows bursts, and a server counting
    requests in any one-second window would see them. Requests to one host leave
    :meth:`gap` apart. With exactly ``1 / rate`` a closed one-second window can hold
    ``rate + 1`` requests, so the gap is ``margin / rate`` (5%: up to 50 ms of jitter a
    second is absorbed); from 10/s up it is also at least ``1 / (rate - 1)``, so a server
    that receives one request late (a slow connection, a busy thread), bunched with the
    next, still counts at most ``rate`` in any second. Below 10/s that rule would cost
    10-35% of the throughput; there the gap is ``1 / rate + 50 ms`` at least, so the
    gaps of a second absorb ``rate`` x 50 ms of arrival jitter (250 ms at 5/s: a first
    request's connection set-up, a loaded machine's scheduling; measured at 5/s with both
    cores busy, 20 ms of slack let one second see 6). Slots are kept on a grid: a request
    that woke a little late does not push every later slot back (over a long batch that
    drift cost 5-10% of the rate), and since no request leaves before its grid slot, any
    second still holds at most ``rate``. For a long batch spacing costs nothing over a
    bucket: the throughput is the rate either way.

    The cap (a semaphore) is taken before the pacing slot, so a request never holds a slot
    while it waits for a free connection and then leaves bunched up with others.

    Servers are listened to: ``x-rate-limit-limit`` / ``x-rate-limit-interval`` (Crossref)
    lower the rate, and raise it only up to a policy's ``max_rate`` (Crossref states its
    current limit in every response);
    ``X-RateLimit-Remaining: 0`` pauses the host until ``X-RateLimit-Reset`` (or VuFind's
    ``X-RateLimit-Retry-After``); a ``Retry-After`` pauses the whole host, not only the
    request that got it.
    """

    def __init__(
        self,
        policies: Mapping[str, HostPolicy],
        default: HostPolicy,
        *,
        margin: float = 1.05,
        max_pause: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policies = dict(policies)
        self._default = default
        self._margin = margin
        self._max_pause = max_pause
        self._clock = clock
        self._next: dict[str, float] = {}
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._server_rate: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}

    def policy(self, host: str) -> HostPolicy:
        return self._policies.get(host, self._default)

    def rate(self, host: str) -> float:
        """The rate in force: the server's stated limit, within what the policy allows.

        Lower is always followed; higher only up to the policy's ``max_rate``.
        """
        policy = self.policy(host)
        server = self._server_rate.get(host)
        if policy.rate <= 0:
            return server if server and server > 0 else 0.0
        if server is None or server <= 0:
            return policy.rate
        return min(server, max(policy.rate, policy.max_rate or 0.0))

    def gap(self, rate: float) -> float:
        """Seconds between two requests to a host paced at ``rate`` (see the class doc)."""
        if rate <= 0:
            return 0.0
        gap = self._margin / rate
        return max(gap, 1.01 / (rate - 1)) if rate >= 10 else max(gap, 1 / rate + 0.05)

    def semaphore(self, host: str) -> asyncio.Semaphore:
        sem = self._semaphores.get(host)
        if sem is None:
            sem = self._semaphores[host] = asyncio.Semaphore(max(1, self.policy(host).concurrency))
        return sem

    async def pace(self, host: str) -> None:
        """Wait for this host's next free slot (and the end of any pause)."""
        lock = self._locks.get(host)
        if lock is None:
            lock = self._locks[host] = asyncio.Lock()
        async with lock:
            while True:  # a pause may arrive while we sleep: look again
                now = self._clock()
                start = max(self._next.get(host, now), self._paused_until.get(host, now))
                if start <= now:
                    break
                await asyncio.sleep(start - now)
            gap = self.gap(self.rate(host))
            slot = self._next.get(host)
            on_grid = slot is not None and now - slot < gap
            self._next[host] = (slot if on_grid and slot is not None else now) + gap

    def pause(self, host: str, seconds: float) -> None:
        """Send nothing to ``host`` for ``seconds`` (capped at ``max_pause``)."""
        if seconds > 0:
            until = self._clock() + min(seconds, self._max_pause)
            self._paused_until[host] = max(self._paused_until.get(host, until), until)

    def observe(self, host: str, headers: Mapping[str, str]) -> None:
        """Adapt to the rate-limit headers of a response (lower-case names)."""
        limit = _header_float(headers, "x-rate-limit-limit")
        interval = _parse_interval(headers.get("x-rate-limit-interval"))
        if limit is not None and limit > 0 and interval:
            self._server_rate[host] = limit / interval
        remaining = _header_float(headers, "x-ratelimit-remaining")
        if remaining is not None and remaining <= 0:
            wait = _reset_seconds(headers)
            if wait:
                self.pause(host, wait)


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return float(value.strip())
    except ValueError:
        return None


def _parse_interval(value: str | None) -> float | None:
    """``1s``, ``60s``, ``1m`` or a bare number of seconds."""
    if not value:
        return None
    value = value.strip().lower()
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(value[-1:])
    number = value[:-1] if scale is not None else value
    try:
        return float(number) * (scale or 1.0)
    except ValueError:
        return None


def _reset_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds until a rate-limit window resets.

    ``X-RateLimit-Reset`` is a Unix time at some services (GitHub) and seconds at others;
    VuFind sends ``X-RateLimit-Retry-After`` in seconds. A value past 10^9 is a timestamp.
    """
    for name in ("x-ratelimit-reset", "x-ratelimit-retry-after"):
        value = _header_float(headers, name)
        if value is not None:
            return max(0.0, value - time.time() if value > 1e9 else value)
    return None


@dataclass
class FetchStats:
    """What a client did, for the one-line summary."""

    requests: int = 0
    retries: int = 0
    cached: int = 0
    """304 answers: a stored body served (the cache), or the caller's own validators."""


@dataclass
class _Stored:
    url: str
    headers: dict[str, str]
    body: bytes
    etag: str | None
    last_modified: str | None

    def validators(self) -> dict[str, str]:
        found = {"If-None-Match": self.etag, "If-Modified-Since": self.last_modified}
        return {name: value for name, value in found.items() if value}

    def response(self) -> Response:
        return Response(
            status=200,
            headers=dict(self.headers),
            url=self.url,
            body=io.BytesIO(self.body),
            size=len(self.body),
            cached=True,
        )


class HttpCache:
    """Bodies of earlier responses with their validators, in one SQLite file.

    Used only to revalidate: every request still goes to the server, carrying
    ``If-None-Match`` / ``If-Modified-Since``, and a 304 serves the stored body. Results
    are as fresh as without the cache, and an unchanged document costs one header exchange
    instead of a download. Keyed by URL and ``Accept`` (DOI content negotiation gives one
    URL several bodies). Only 200 responses with an ``ETag`` or ``Last-Modified`` and no
    ``Cache-Control: no-store`` are kept. WAL mode, so concurrent runs may share the file;
    the calls are short and synchronous (a local row per request). The cache only saves
    work: once open, a failing read or write is a miss, never a failed fetch.
    """

    FILENAME = "http-cache.sqlite"

    def __init__(self, directory: Path) -> None:
        """Open (or create) the cache in ``directory``.

        Raises:
            ConfigError: the directory or the database cannot be created or opened.
        """
        self.path = directory / self.FILENAME
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, url TEXT NOT NULL,"
                " etag TEXT, last_modified TEXT, headers TEXT NOT NULL, body BLOB NOT NULL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the HTTP cache {self.path}: {exc}") from exc

    @staticmethod
    def key(url: str, headers: Mapping[str, str]) -> str:
        accept = next((v for k, v in headers.items() if k.lower() == "accept"), "")
        return f"{accept}\n{url}"

    def lookup(self, key: str) -> _Stored | None:
        try:
            row = self._db.execute(
                "SELECT url, headers, body, etag, last_modified FROM responses WHERE key = ?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            url, headers, body, etag, last_modified = row
            return _Stored(url, json.loads(headers), bytes(body), etag, last_modified)
        except (sqlite3.Error, ValueError):  # a damaged row or file: fetch afresh
            return None

    def store(self, key: str, response: Response) -> bool:
        """Keep ``response`` for revalidation when it has a validator; say whether it did."""
        etag = response.headers.get("etag")
        last_modified = response.headers.get("last-modified")
        no_store = "no-store" in response.headers.get("cache-control", "").lower()
        keep = response.status == 200 and bool(etag or last_modified) and not no_store
        try:
            if not keep:
                # Forget an older copy: its validators would revalidate a body now stale.
                self._db.execute("DELETE FROM responses WHERE key = ?", (key,))
                return False
            self._db.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    response.url,
                    etag,
                    last_modified,
                    json.dumps(dict(response.headers)),
                    response.read(),
                ),
            )
        except sqlite3.Error:  # disk full, locked too long: the next run downloads again
            return False
        return True

    def close(self) -> None:
        self._db.close()


RETRY_STATUSES_ASYNC = frozenset({408, 429, 500, 502, 503, 504})
"""Retried by :class:`AsyncHttpClient`: a timeout the server noticed (408), "slow down"
(429), and the server-side failures that pass (500, 502-504). 501 and 505+ say the
request can never work; any other 4xx says our request is wrong: neither is retried."""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client: building one (loading the CA bundle) takes ~0.1 s."""
    return ssl.create_default_context(cafile=certifi.where())


def _two_xx(status: int) -> bool:
    return 200 <= status < 300


class AsyncHttpClient:
    """The shared ``httpx.AsyncClient`` for fetching many small documents concurrently.

    Per attempt: connect, read and total timeouts (``total_timeout`` stops a server that
    drips bytes just fast enough to dodge the read timeout), redirects followed here one
    hop at a time (each hop paced and capped for its host; a loop stops at once with the
    chain in the message), the body capped while it streams. Between attempts: the
    module's retry rules (connection and read errors, timeouts, truncated bodies,
    :data:`RETRY_STATUSES_ASYNC`), exponential backoff with full jitter, ``Retry-After``
    (seconds or HTTP-date) honoured. Pacing and caps are per host
    (:class:`AsyncHostLimiter`); ``settings.cache_dir`` turns on revalidation through
    :class:`HttpCache`.
    """

    def __init__(
        self,
        settings: HttpSettings | None = None,
        *,
        hosts: Mapping[str, HostPolicy] | None = None,
        default: HostPolicy = UNKNOWN_HOST,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings or HttpSettings()
        policies = dict(KNOWN_HOSTS)
        policies.update(hosts or {})
        self.limiter = AsyncHostLimiter(policies, default, max_pause=self.settings.retry_after_max)
        self.stats = FetchStats()
        cache_dir = self.settings.cache_dir
        self.cache = HttpCache(cache_dir) if cache_dir is not None else None
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.timeout, connect=self.settings.connect_timeout),
            follow_redirects=False,
            headers={"User-Agent": user_agent(self.settings.contact)},
            transport=transport,
            verify=_tls_context(),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def aclose(self) -> None:
        await self._client.aclose()
        if self.cache is not None:
            self.cache.close()

    async def __aenter__(self) -> AsyncHttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _wait(self, state: RetryCallState) -> float:
        return retry_wait(self.settings, state)

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1

    async def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        accept: str | Callable[[int], bool] | None = None,
        expect: str | None = None,
    ) -> Response:
        """GET ``url`` politely, with retries; the body is read into memory (capped).

        ``accept`` is either the ``Accept`` header (a string, e.g. a media type for DOI
        content negotiation) or a predicate saying which statuses are answers (default:
        2xx). ``expect`` (``"json"``, ``"xml"``, ``"html"`` or a media type) says what the
        caller wants: a bot challenge, login wall or HTML error page served instead is
        raised as :class:`Blocked`, never handed on to a parser.

        Send your own ``If-None-Match`` / ``If-Modified-Since`` in ``headers`` to get
        ``status == 304`` back (empty body) when nothing changed; without them, and with
        ``settings.cache_dir`` set, the cache revalidates and a 304 returns the stored
        body (``response.cached``). Either way a 304 counts in ``stats.cached``.

        Raises:
            NotFound: 404 or 410.
            RateLimited: still 429 after every attempt.
            Blocked: a challenge, login or error page instead of data.
            FetchError: any other failure, after retries where retrying makes sense.
        """
        sent = dict(headers or {})
        ok: Callable[[int], bool] = _two_xx
        if isinstance(accept, str):
            sent["Accept"] = accept
        elif accept is not None:
            ok = accept
        target = str(httpx.URL(url).copy_merge_params(params)) if params else url
        own_validators = any(
            name.lower() in ("if-none-match", "if-modified-since") for name in sent
        )
        key = None
        stored = None
        if self.cache is not None and not own_validators:
            key = self.cache.key(target, sent)
            stored = self.cache.lookup(key)
            if stored is not None:
                sent.update(stored.validators())
        if own_validators or stored is not None:
            answers = ok
            ok = lambda status: status == 304 or answers(status)  # noqa: E731
        response = await self._fetch(target, sent, ok)
        if response.status == 304:
            self.stats.cached += 1
            return stored.response() if stored is not None else response
        if expect is not None:
            reason = blocked_reason(response, expect)
            if reason is not None:
                raise Blocked(f"{reason} at {response.url}", url=target, status=response.status)
        if key is not None and self.cache is not None:
            self.cache.store(key, response)
        return response

    async def _fetch(
        self, url: str, headers: dict[str, str], ok: Callable[[int], bool]
    ) -> Response:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            response: Response = await retrying(self._attempt, url, headers, ok)
        except (_RetryableStatus, _BodyTooLarge, httpx.HTTPError) as exc:
            raise final_error(exc, url, self.settings.max_attempts) from exc
        return response

    async def _attempt(
        self, url: str, headers: dict[str, str], ok: Callable[[int], bool]
    ) -> Response:
        """One attempt: follow redirects hop by hop, each hop paced and capped for its host."""
        chain = [url]
        for _ in range(self.settings.max_redirects + 1):
            host = urlsplit(chain[-1]).hostname or ""
            async with self.limiter.semaphore(host):
                await self.limiter.pace(host)
                self.stats.requests += 1
                response = await self._exchange(chain, host, headers, ok)
            if response is not None:
                return response
        raise FetchError(
            f"too many redirects (more than {self.settings.max_redirects}): " + " -> ".join(chain),
            url=url,
        )

    async def _exchange(
        self, chain: list[str], host: str, headers: dict[str, str], ok: Callable[[int], bool]
    ) -> Response | None:
        """GET ``chain[-1]``; None when it redirects (the target is added to ``chain``).

        ``total_timeout`` covers this exchange only, not the wait for a slot before it.
        """
        total = self.settings.total_timeout
        try:
            async with asyncio.timeout(total):
                request = self._client.build_request("GET", chain[-1], headers=headers)
                resp = await self._client.send(request, stream=True)
                try:
                    self.limiter.observe(host, resp.headers)
                    location = resp.headers.get("location")
                    if resp.is_redirect and location is not None:
                        _follow_redirect(resp, location, chain)
                        return None
                    return await self._finish(resp, host, chain[0], ok)
                finally:
                    await resp.aclose()
        except TimeoutError as exc:
            raise httpx.ReadTimeout(f"no complete response within {total:g} s") from exc

    async def _finish(
        self, resp: httpx.Response, host: str, url: str, ok: Callable[[int], bool]
    ) -> Response:
        status = resp.status_code
        if not ok(status):
            head = await _peek(resp)
            challenge = challenge_reason(resp.headers, head)
            if challenge is not None:
                raise Blocked(f"{challenge} (HTTP {status}) at {resp.url}", url=url, status=status)
            if status in RETRY_STATUSES_ASYNC:
                retry_after = parse_retry_after(resp.headers.get("retry-after"))
                if retry_after is None and status in (429, 503):
                    retry_after = _reset_seconds(resp.headers)
                if retry_after is not None:
                    self.limiter.pause(host, retry_after)
                limiter_page = any(name.startswith("x-ratelimit-") for name in resp.headers) and (
                    _is_html(_media_type(resp.headers), head.lower())
                )
                raise _RetryableStatus(status, str(resp.url), retry_after, limiter_page)
            if status in (404, 410):
                raise NotFound(f"HTTP {status} from {resp.url}", url=url, status=status)
            raise FetchError(f"HTTP {status} from {resp.url}", url=url, status=status)
        cap = self.settings.max_body_bytes
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _BodyTooLarge(
                f"response from {url} announces {declared} bytes, over the {cap}-byte cap"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise _BodyTooLarge(f"response from {url} is larger than the {cap}-byte cap")
            chunks.append(chunk)
        return Response(
            status=status,
            headers=dict(resp.headers),
            url=str(resp.url),
            body=io.BytesIO(b"".join(chunks)),
            size=size,
        )


def _follow_redirect(resp: httpx.Response, location: str, chain: list[str]) -> None:
    """Add where a redirect points to ``chain``; a loop or a non-HTTP target is an error."""
    target = resp.url.join(location)
    if target.scheme not in ("http", "https"):
        raise FetchError(f"redirect to a non-HTTP URL {target} from {resp.url}", url=chain[0])
    text = str(target)
    looped = text in chain
    chain.append(text)
    if looped:
        raise FetchError(
            "redirect loop: " + " -> ".join(chain), url=chain[0], status=resp.status_code
        )


def _describe(exc: httpx.TransportError) -> str:
    """A transport failure in words; a body cut short says so."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.RemoteProtocolError) and "message body" in text:
        return f"truncated body: the connection closed before the whole body arrived ({text})"
    return f"{type(exc).__name__}: {text}"


async def _peek(resp: httpx.Response, limit: int = 65536) -> bytes:
    """The first ``limit`` bytes of an error response (enough to recognise the page)."""
    data = b""
    try:
        async for chunk in resp.aiter_bytes():
            data += chunk
            if len(data) >= limit:
                break
    except httpx.HTTPError:
        pass  # an error page cut short still says what it is
    return data[:limit]


# --- Challenge, login and error pages --------------------------------------------------

_CHALLENGE_PAGES = (
    # Markers of whole-page interstitials: these never appear on a content page.
    (b"/cdn-cgi/challenge-platform/", "Cloudflare challenge"),
    (b"window._cf_chl_opt", "Cloudflare challenge"),
    (b"<title>just a moment...</title>", "Cloudflare challenge"),
    (b"<title>attention required! | cloudflare</title>", "Cloudflare block"),
    (b'id="anubis_challenge"', "Anubis proof-of-work challenge"),
    (b"_incapsula_resource", "Imperva challenge"),
    (b"captcha-delivery.com", "DataDome challenge"),
    (b"checking your browser before accessing", "browser check"),
)
_CAPTCHA_WIDGETS = (
    # Widgets that also sit in ordinary forms (VuFind's comment and feedback forms use
    # reCAPTCHA): they mark a challenge only on a page with no record content.
    b"cf-turnstile",
    b"challenges.cloudflare.com/turnstile",
    b"g-recaptcha",
    b"/recaptcha/api.js",
    b"/recaptcha/enterprise.js",
    b"h-captcha",
    b"hcaptcha.com/1/api.js",
)
_RECORD_DATA = (
    # Embedded metadata a record page carries: Highwire, COinS, JSON-LD, schema.org RDFa
    # and microdata (VuFind's core template), Dublin Core, PRISM.
    b'name="citation_',
    b"z3988",
    b"application/ld+json",
    b'vocab="http://schema.org',
    b'vocab="https://schema.org',
    b'itemtype="http://schema.org/',
    b'itemtype="https://schema.org/',
    b'name="dc.',
    b'name="prism.',
)
_LOGIN_FIELDS = (b'type="password"', b"type='password'", b"type=password")
_SCRIPT_STYLE = re.compile(rb"<(script|style|noscript)\b.*?</\1\s*>", re.S)
_TAG = re.compile(rb"<[^>]*>")
THIN_PAGE_CHARS = 800
"""Visible text below this (scripts, styles and tags removed) is a page with no content:
challenge and login pages say a sentence or two; a record page lists a record."""


def _media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";")[0].strip().lower()


def _is_html(media: str, lower: bytes) -> bool:
    if media in ("text/html", "application/xhtml+xml"):
        return True
    start = lower.lstrip()[:1024]
    return start.startswith((b"<!doctype html", b"<html")) or (
        not media.endswith(("json", "xml")) and b"<html" in start
    )


def _visible_chars(lower: bytes) -> int:
    text = _TAG.sub(b" ", _SCRIPT_STYLE.sub(b" ", lower))
    return len(b" ".join(text.split()))


def _has_content(lower: bytes) -> bool:
    return any(m in lower for m in _RECORD_DATA) or _visible_chars(lower) >= THIN_PAGE_CHARS


def challenge_reason(headers: Mapping[str, str], body: bytes) -> str | None:
    """Name the bot challenge this response is, or None (headers with lower-case names).

    Two tiers: interstitial markers and Cloudflare's ``cf-mitigated: challenge`` header
    settle it alone; a captcha widget counts only on an HTML page without record content,
    so a record page whose comment form carries reCAPTCHA is not a challenge.
    """
    if headers.get("cf-mitigated", "").strip().lower() == "challenge":
        return "Cloudflare challenge"
    lower = body[:65536].lower()
    if not _is_html(_media_type(headers), lower):
        return None
    for marker, name in _CHALLENGE_PAGES:
        if marker in lower:
            return f"bot challenge page ({name})"
    if any(widget in lower for widget in _CAPTCHA_WIDGETS) and not _has_content(lower):
        return "captcha page"
    return None


def blocked_reason(response: Response, expect: str) -> str | None:
    """Why this response is not the data asked for, or None when it may be.

    A challenge is a challenge whatever was asked for. A login form on a page without
    record content is a login wall. Any other HTML page served where JSON or XML was
    expected is an error or portal page (a 200 "Service unavailable" page, a discovery
    layer's start page).
    """
    body = response.read()[:65536]
    challenge = challenge_reason(response.headers, body)
    if challenge is not None:
        return f"{challenge} served instead of data"
    lower = body.lower()
    if not _is_html(_media_type(response.headers), lower):
        return None
    if any(field in lower for field in _LOGIN_FIELDS) and not any(m in lower for m in _RECORD_DATA):
        return "login page served instead of data"
    if "html" in expect.lower():
        return None
    return f"HTML page served where {expect} was expected (an error or portal page)"
