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

import email.utils
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
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from harvester import __version__
from harvester.errors import FetchError, NotFound, RateLimited

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
