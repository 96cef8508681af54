"""The one place that talks HTTP.

Synchronous by design: an OAI-PMH harvest is a strict sequence (each page's resumption
token comes from the previous page), and a per-host rate limit of about one request a
second leaves nothing for concurrency to win. A later async caller can run
:meth:`HttpClient.get` in a worker thread, or add an async twin on the same
:class:`HttpSettings`.

What is retried, and why (habanero's ``retry.py`` is the model):

- connection and read errors, timeouts, a connection dropped mid-body: transient;
- 429 Too Many Requests: the server asks us to slow down, honouring ``Retry-After``;
- 502/503/504: a proxy or an overloaded server; 503 usually carries ``Retry-After``;
- never 500 (usually a bug that repeats) nor any other 4xx (our request is wrong).

Waits are exponential with full jitter, and a ``Retry-After`` (seconds or an HTTP-date)
is honoured up to ``retry_after_max`` so a server cannot park the job for a day.
"""

from __future__ import annotations

import asyncio
import email.utils
import io
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO
from urllib.parse import urlsplit

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from harvester import __version__
from harvester.errors import Blocked, FetchError, NotFound, RateLimited

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

    def __init__(self, status: int, url: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status
        self.url = url
        self.retry_after = retry_after


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

    def read(self) -> bytes:
        self.body.seek(0)
        return self.body.read()

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
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            return min(exc.retry_after, self.settings.retry_after_max)
        ceiling = min(
            self.settings.backoff_max, self.settings.backoff_base * 2 ** (state.attempt_number - 1)
        )
        return random.uniform(0, ceiling)  # full jitter: spreads a herd of clients apart

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
        except _RetryableStatus as exc:
            if exc.status == 429:
                raise RateLimited(str(exc), url=url, retry_after=exc.retry_after) from exc
            raise FetchError(
                f"{exc} after {self.settings.max_attempts} attempts", url=url, status=exc.status
            ) from exc
        except httpx.TooManyRedirects as exc:
            raise FetchError(f"too many redirects from {url}", url=url) from exc
        except httpx.TransportError as exc:
            raise FetchError(
                f"{type(exc).__name__} for {url} after {self.settings.max_attempts} attempts: "
                f"{exc}",
                url=url,
            ) from exc
        except _BodyTooLarge as exc:
            raise FetchError(str(exc), url=url) from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__} for {url}: {exc}", url=url) from exc

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


@dataclass(frozen=True)
class HostPolicy:
    """How hard we may press one host: requests a second and connections at once."""

    rate: float
    concurrency: int


KNOWN_HOSTS: dict[str, HostPolicy] = {
    # Crossref's public limits since December 2025: 5 requests/s, 5 concurrent.
    "api.crossref.org": HostPolicy(rate=5.0, concurrency=5),
    # DataCite: 1,000 requests per 5 minutes (with a contact address).
    "api.datacite.org": HostPolicy(rate=1000 / 300, concurrency=3),
    # NCBI E-utilities: 3/s without an API key (10/s with one: see ``ncbi_policy``).
    "eutils.ncbi.nlm.nih.gov": HostPolicy(rate=3.0, concurrency=3),
    "www.ncbi.nlm.nih.gov": HostPolicy(rate=3.0, concurrency=3),
    "pmc.ncbi.nlm.nih.gov": HostPolicy(rate=3.0, concurrency=3),
    "doi.org": HostPolicy(rate=5.0, concurrency=5),
    "data.crossref.org": HostPolicy(rate=5.0, concurrency=5),
    "openlibrary.org": HostPolicy(rate=1.0, concurrency=1),
}
UNKNOWN_HOST = HostPolicy(rate=1.0, concurrency=2)
"""A catalogue we know nothing about gets one request a second."""


class AsyncHostLimiter:
    """Per-host pacing (evenly spaced requests, no bursts) and a per-host connection cap.

    Requests are spaced ``1 / rate`` apart rather than drawn from a bursty bucket, so any
    one-second window a server measures sees at most ``rate`` requests. The rate follows
    what the server says in ``x-rate-limit-limit`` / ``x-rate-limit-interval`` (Crossref)
    and pauses until ``X-RateLimit-Reset`` when ``X-RateLimit-Remaining`` reaches 0.
    """

    def __init__(
        self,
        policies: Mapping[str, HostPolicy],
        default: HostPolicy,
        *,
        margin: float = 1.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policies = dict(policies)
        self._default = default
        self._margin = margin
        self._clock = clock
        self._next: dict[str, float] = {}
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._server_rate: dict[str, float] = {}
        self._paused_until: dict[str, float] = {}

    def policy(self, host: str) -> HostPolicy:
        return self._policies.get(host, self._default)

    def rate(self, host: str) -> float:
        """The rate in force: the server's stated limit when it gave one, else ours."""
        return self._server_rate.get(host, self.policy(host).rate)

    def semaphore(self, host: str) -> asyncio.Semaphore:
        sem = self._semaphores.get(host)
        if sem is None:
            sem = self._semaphores[host] = asyncio.Semaphore(max(1, self.policy(host).concurrency))
        return sem

    async def pace(self, host: str) -> None:
        """Wait for this host's next free slot."""
        lock = self._locks.get(host)
        if lock is None:
            lock = self._locks[host] = asyncio.Lock()
        async with lock:
            rate = self.rate(host)
            now = self._clock()
            start = max(now, self._next.get(host, now), self._paused_until.get(host, now))
            if rate > 0:
                self._next[host] = start + self._margin / rate
            if start > now:
                await asyncio.sleep(start - now)

    def observe(self, host: str, headers: Mapping[str, str]) -> None:
        """Adapt to the rate-limit headers of a response."""
        limit = _header_float(headers, "x-rate-limit-limit")
        interval = _parse_interval(headers.get("x-rate-limit-interval"))
        if limit is not None and limit > 0 and interval:
            self._server_rate[host] = limit / interval
        remaining = _header_float(headers, "x-ratelimit-remaining")
        reset = _header_float(headers, "x-ratelimit-reset")
        if remaining is not None and remaining <= 0 and reset is not None:
            # Either seconds to wait or an epoch timestamp; both seen in the wild.
            wait = reset - time.time() if reset > 1e9 else reset
            if wait > 0:
                self._paused_until[host] = self._clock() + min(wait, 600.0)


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


@dataclass
class FetchStats:
    """What a client did, for the one-line summary."""

    requests: int = 0
    retries: int = 0
    cached: int = 0


class AsyncHttpClient:
    """The shared ``httpx.AsyncClient`` for fetching many small documents concurrently.

    Same timeouts, retry rules, body cap and User-Agent as :class:`HttpClient`; pacing
    and connection caps are per host (:class:`AsyncHostLimiter`).
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
        self.limiter = AsyncHostLimiter(policies, default)
        self.stats = FetchStats()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.timeout, connect=self.settings.connect_timeout),
            follow_redirects=True,
            max_redirects=self.settings.max_redirects,
            headers={"User-Agent": user_agent(self.settings.contact)},
            transport=transport,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AsyncHttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            return min(exc.retry_after, self.settings.retry_after_max)
        ceiling = min(
            self.settings.backoff_max, self.settings.backoff_base * 2 ** (state.attempt_number - 1)
        )
        return random.uniform(0, ceiling)

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1

    async def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        accept: Callable[[int], bool] | None = None,
        expect: str | None = None,
    ) -> Response:
        """GET ``url`` politely, with retries; the body is read into memory (capped).

        ``expect`` (``"json"``, ``"xml"``, ``"html"`` or a media type) says what data the
        caller wants: an HTML bot challenge, login wall or error page served instead is
        raised as :class:`Blocked`, never handed on to a parser.

        Raises:
            NotFound: 404 or 410.
            RateLimited: still 429 after every attempt.
            Blocked: a challenge, login or error page instead of data.
            FetchError: any other failure, after retries where retrying makes sense.
        """
        ok = accept or (lambda status: 200 <= status < 300)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(_is_retryable),
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            response: Response = await retrying(self._attempt, url, params, headers, ok)
        except _RetryableStatus as exc:
            if exc.status == 429:
                raise RateLimited(str(exc), url=url, retry_after=exc.retry_after) from exc
            raise FetchError(
                f"{exc} after {self.settings.max_attempts} attempts", url=url, status=exc.status
            ) from exc
        except httpx.TooManyRedirects as exc:
            raise FetchError(f"too many redirects from {url}", url=url) from exc
        except httpx.TransportError as exc:
            raise FetchError(
                f"{type(exc).__name__} for {url} after {self.settings.max_attempts} attempts: "
                f"{exc}",
                url=url,
            ) from exc
        except _BodyTooLarge as exc:
            raise FetchError(str(exc), url=url) from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"{type(exc).__name__} for {url}: {exc}", url=url) from exc
        if expect is not None:
            reason = blocked_reason(response, expect)
            if reason is not None:
                raise Blocked(f"{reason} at {response.url}", url=url, status=response.status)
        return response

    async def _attempt(
        self,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        ok: Callable[[int], bool],
    ) -> Response:
        host = urlsplit(url).hostname or ""
        async with self.limiter.semaphore(host):
            await self.limiter.pace(host)
            self.stats.requests += 1
            async with self._client.stream("GET", url, params=params, headers=headers) as resp:
                self.limiter.observe(host, resp.headers)
                status = resp.status_code
                if not ok(status):
                    if status in RETRY_STATUSES:
                        if status == 429 and _looks_like_challenge(await _peek(resp)):
                            raise Blocked(
                                f"bot challenge (HTTP 429) at {resp.url}", url=url, status=429
                            )
                        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                        raise _RetryableStatus(status, str(resp.url), retry_after)
                    if status in (404, 410):
                        raise NotFound(f"HTTP {status} from {resp.url}", url=url, status=status)
                    if status in (401, 403) and _looks_like_challenge(await _peek(resp)):
                        raise Blocked(
                            f"bot challenge (HTTP {status}) at {resp.url}", url=url, status=status
                        )
                    raise FetchError(f"HTTP {status} from {resp.url}", url=url, status=status)
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > self.settings.max_body_bytes:
                        raise _BodyTooLarge(
                            f"response from {url} is larger than "
                            f"{self.settings.max_body_bytes} bytes"
                        )
                    chunks.append(chunk)
                return Response(
                    status=status,
                    headers=dict(resp.headers),
                    url=str(resp.url),
                    body=io.BytesIO(b"".join(chunks)),
                    size=size,
                )


async def _peek(resp: httpx.Response, limit: int = 65536) -> bytes:
    data = b""
    async for chunk in resp.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit]


_CHALLENGE_MARKERS = (
    b"cf-turnstile",
    b"challenges.cloudflare.com",
    b"cf-challenge",
    b"cf_chl_",
    b"g-recaptcha",
    b"h-captcha",
    b"hcaptcha.com",
    b"captcha",
    b"<title>just a moment",
    b"checking your browser",
    b"are you a robot",
    b"verify you are human",
    b"anubis",
)
_LOGIN_MARKERS = (b'type="password"', b"type='password'", b"type=password")


def _looks_like_challenge(body: bytes) -> bool:
    head = body[:65536].lower()
    return any(marker in head for marker in _CHALLENGE_MARKERS)


def blocked_reason(response: Response, expect: str) -> str | None:
    """Why this response is not the data asked for, or None when it looks like data.

    A JSON or XML request answered with HTML is a challenge, a login wall or an error
    page; an HTML request answered with a challenge or login form is the same.
    """
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    body = response.read()[:65536]
    head = body.lstrip()[:512].lower()
    is_html = media in ("text/html", "application/xhtml+xml") or head.startswith(
        (b"<!doctype html", b"<html")
    )
    if _looks_like_challenge(body):
        return "bot challenge page served instead of data"
    if expect == "html":
        if any(marker in body.lower() for marker in _LOGIN_MARKERS) and b"<form" in body.lower():
            return "login page served instead of the record"
        return None
    if is_html:
        if any(marker in body.lower() for marker in _LOGIN_MARKERS):
            return "login page served instead of data"
        return f"HTML page served where {expect} was expected (an error or portal page)"
    return None
