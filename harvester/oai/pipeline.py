"""Fetch a ListRecords list ahead and map its pages in worker processes, in list order.

Why: on two cores a harvest that parses, maps, validates and serialises each page in the
process that also fetches and writes waits on itself. Here three things overlap:

- a fetch thread requests page after page. The token of the next request is read from
  the end of the body with a regular expression (:func:`peek_token`), so a request never
  waits for a parse; a guess is checked later, never trusted;
- forked worker processes parse, map, validate, serialise and hash whole pages (the
  caller's ``work`` function) and send back plain rows. A thread per pipe hands pages
  over and takes results as they come, so neither the fetching nor the writing waits
  for a busy worker, and no worker waits for the writer;
- the caller's thread takes the pages in list order, checks that each was requested
  with the token its predecessor really carried (parsed, not guessed) and writes them.
  After a wrong guess everything fetched from it on is thrown away and fetching resumes
  from the parsed token.

Whatever is not a clean 2xx page of records (an OAI-PMH error, a page that is not
well-formed, a 4xx answer) comes back unparsed and goes through
:meth:`OAIClient.read_page` in this process, exactly as without workers, so errors are
raised in list order, after every page before them.

A worker that dies is reported (:class:`WorkerCrashed`), never waited for: its pipe ends
at its death. Workers hold no file descriptor but their two pipe ends (the store's, the
lock file's and the HTTP connections' are closed after the fork), so a worker outliving
a killed parent cannot hold the store's lock, and it ends at its next read or write.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any, Generic, Protocol, TypeVar

from harvester.errors import HarvesterError
from harvester.http import Response
from harvester.oai.client import OAIClient, Page, ResumptionToken, peek_token


class WorkerCrashed(HarvesterError):
    """A worker process died (killed, out of memory, a crash in a C library)."""


class Mapped(Protocol):
    """What a worker makes of a page: the pipeline needs its token and repair count."""

    @property
    def token(self) -> ResumptionToken | None: ...

    @property
    def repaired(self) -> int: ...


R = TypeVar("R", bound=Mapped)

Work = Callable[[bytes, str, datetime], Any]
"""``(body, url, fetched_at) -> result``, run in a worker for a clean 2xx page."""

_END = object()
_REAP_SECONDS = 2.0
PAGE_TIMEOUT = 600.0
"""Seconds a worker may take over one page (hundreds of times the usual) before it is
taken for hung, killed and reported."""


def _close_fds_except(keep: set[int]) -> None:
    """Close every inherited descriptor but ``keep`` and standard input/output/error."""
    low = 3
    for fd in sorted(fd for fd in keep if fd >= 3):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


def _serve(inbox: Connection, outbox: Connection, work: Work) -> None:
    """A worker's loop: a page in, its result (or None: redo it in the parent) out."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    # Nothing inherited becomes garbage here: freezing it spares each collection a walk
    # over the parent's heap (and the copy-on-write that walk would cause). Collecting
    # once per page instead of by allocation count keeps garbage bounded to one page.
    gc.freeze()
    gc.disable()
    while True:
        try:
            url, fetched_at, body = inbox.recv()
        except (EOFError, OSError):
            return
        try:
            result = work(body, url, fetched_at)
        except Exception:  # the parent redoes the page and raises whatever it raises
            result = None
        del body
        try:
            outbox.send(result)
        except OSError:
            return
        del result
        gc.collect()


class _Worker:
    """One forked worker process and this process's ends of its two pipes."""

    def __init__(self, work: Work) -> None:
        context = multiprocessing.get_context("fork")
        inbox_r, inbox_w = context.Pipe(duplex=False)
        outbox_r, outbox_w = context.Pipe(duplex=False)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child; coverage cannot see it
            code = 0
            try:
                _close_fds_except({inbox_r.fileno(), outbox_w.fileno()})
                _serve(inbox_r, outbox_w, work)
            except BaseException:
                code = 1
            finally:
                os._exit(code)  # no atexit, no finalizers: the parent's state is not ours
        inbox_r.close()
        outbox_w.close()
        self.pid = pid
        self.status: int | None = None
        # A feeder thread writes pages into the pipe, so the fetch thread never waits
        # for a busy worker to take one: it goes on fetching the next page. A receiver
        # thread reads results as they come, so a worker never waits for the writer to
        # finish an earlier page before it can hand over its own and start the next.
        # Each thread owns its pipe end and closes it when it ends.
        self._pending: queue.Queue[Any] = queue.Queue()
        self._results: queue.Queue[Any] = queue.Queue()
        self._feeder = threading.Thread(
            target=self._feed, args=(inbox_w,), name=f"oai-feed-{pid}", daemon=True
        )
        self._receiver = threading.Thread(
            target=self._receive, args=(outbox_r,), name=f"oai-receive-{pid}", daemon=True
        )

    def start_threads(self) -> None:
        self._feeder.start()
        self._receiver.start()

    def give(self, message: tuple[str, datetime, bytes]) -> None:
        self._pending.put(message)

    def end_input(self, *, drop_pending: bool = False) -> None:
        """No more pages (``drop_pending``: not even those not yet handed over)."""
        if drop_pending:
            with contextlib.suppress(queue.Empty):
                while True:
                    self._pending.get_nowait()
        self._pending.put(None)

    def _feed(self, inbox: Connection) -> None:
        try:
            while True:
                message = self._pending.get()
                if message is None:
                    return
                inbox.send(message)
        except OSError:
            return  # the worker is gone: its result() reports it
        finally:
            inbox.close()  # the only writer: closing it ends the worker's input

    def _receive(self, outbox: Connection) -> None:
        try:
            while True:
                self._results.put(outbox.recv())
        except (EOFError, OSError) as exc:  # the worker ended: nothing more will come
            self._results.put(_Gone(exc))
        finally:
            outbox.close()

    def result(self, timeout: float) -> Any:
        """The next result of this worker, in the order it was given pages.

        Raises:
            WorkerCrashed: the worker died, or gave nothing for ``timeout`` seconds.
        """
        try:
            item = self._results.get(timeout=timeout)
        except queue.Empty:
            self.reap(wait=0)  # hung on a page: killed, so it cannot hang us
            raise WorkerCrashed(
                f"worker process {self.pid} gave no answer for {timeout:.0f} s and was "
                "stopped; the pages before it are stored and a rerun resumes after them"
            ) from None
        if isinstance(item, _Gone):
            self.reap(wait=_REAP_SECONDS)
            raise WorkerCrashed(
                f"worker process {self.pid} {self.describe()} while mapping a page; "
                "the pages before it are stored and a rerun resumes after them"
            ) from item.cause
        return item

    def join_threads(self, timeout: float) -> None:
        self._feeder.join(timeout)
        self._receiver.join(timeout)

    def describe(self) -> str:
        if self.status is None:
            return "stopped answering"
        if os.WIFSIGNALED(self.status):
            number = os.WTERMSIG(self.status)
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = str(number)
            return f"was killed by {name}"
        return f"exited with status {os.waitstatus_to_exitcode(self.status)}"

    def reap(self, *, wait: float) -> None:
        """Collect the exit status, waiting up to ``wait`` seconds, then kill it."""
        if self.status is not None:
            return
        deadline = time.monotonic() + wait
        while True:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.status = 0
                return
            if pid:
                self.status = status
                return
            if time.monotonic() >= deadline:
                os.kill(self.pid, signal.SIGKILL)
                _pid, self.status = os.waitpid(self.pid, 0)
                return
            time.sleep(0.005)


@dataclass
class _Gone:
    cause: BaseException


@dataclass
class _Failed:
    """The request made with ``token`` failed: an error only if ``token`` was right."""

    token: str
    error: BaseException


@dataclass
class _Fetched:
    token: str
    request: dict[str, str]
    response: Response
    fetched_at: datetime
    worker: int | None


class Pipeline(Generic[R]):
    """Pages of one ListRecords list after its first: fetched ahead, mapped in workers.

    ``work(body, url, fetched_at)`` runs in a worker on a 2xx body; ``fallback(page,
    fetched_at)`` maps, in this process, a page :meth:`OAIClient.read_page` parsed here.
    Both must give the same result for the same page. Use as a context manager.
    """

    def __init__(
        self,
        client: OAIClient,
        workers: int,
        work: Callable[[bytes, str, datetime], R],
        fallback: Callable[[Page, datetime], R],
        *,
        lookahead: int | None = None,
        page_timeout: float = PAGE_TIMEOUT,
    ) -> None:
        self.client = client
        self.page_timeout = page_timeout
        self.jobs = max(1, workers)
        self.work = work
        self.fallback = fallback
        self.lookahead = lookahead if lookahead is not None else 2 * self.jobs + 1
        self.rerouted = 0
        self.worker_pids: list[int] = []
        """Every worker process started, in order (a wrong guess starts new ones)."""
        self._workers: list[_Worker] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ahead = threading.Semaphore(self.lookahead)
        self._meta: queue.Queue[Any] = queue.Queue()

    def __enter__(self) -> Pipeline[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self._shutdown()

    def pages(self, token: str) -> Iterator[R]:
        """The list's pages from the one ``token`` asks for, in order, until it ends.

        Raises:
            WorkerCrashed: a worker died.
            FetchError, OAIProtocolError, ParseError: as :meth:`OAIClient.read_page`
                raises them for that page, after every page before it was yielded.
        """
        expected = token
        while True:
            self._start(expected)
            try:
                while True:
                    item = self._meta.get()
                    self._ahead.release()
                    if item is _END or item.token != expected:
                        break  # a wrong guess: fetch again from the parsed token
                    if isinstance(item, _Failed):
                        raise item.error  # the request for the real next page failed
                    result = self._result(item)
                    yield result
                    following = result.token
                    if following is None or not following.value or following.value == expected:
                        return
                    expected = following.value
            finally:
                self._shutdown()
            self.rerouted += 1

    def _result(self, item: _Fetched) -> R:
        result: R | None = None
        if item.worker is not None:
            result = self._workers[item.worker].result(self.page_timeout)
        if result is None:
            page = self.client.read_page(item.response, item.request, "record", "ListRecords")
            return self.fallback(page, item.fetched_at)
        self.client.repaired += result.repaired
        return result

    # --- the machinery ---------------------------------------------------------------

    def _start(self, token: str) -> None:
        # Fork before our threads exist: a child copies only the forking thread.
        self._stop = threading.Event()
        self._ahead = threading.Semaphore(self.lookahead)
        self._meta = queue.Queue()
        work = self.work
        self._workers = [_Worker(work) for _ in range(self.jobs)]
        self.worker_pids.extend(w.pid for w in self._workers)
        for w in self._workers:
            w.start_threads()
        self._thread = threading.Thread(
            target=self._fetch,
            args=(token, self._workers, self._meta, self._stop, self._ahead),
            name="oai-fetch-ahead",
            daemon=True,
        )
        self._thread.start()

    def _fetch(
        self,
        token: str,
        workers: list[_Worker],
        meta: queue.Queue[Any],
        stop: threading.Event,
        ahead: threading.Semaphore,
    ) -> None:
        """The fetch thread: request, guess the next token, hand the body to a worker."""
        sent = 0
        try:
            while True:
                ahead.acquire()
                if stop.is_set():  # checked before each request: none after a stop
                    return
                request = {"verb": "ListRecords", "resumptionToken": token}
                response = self.client.fetch(request)
                fetched_at = datetime.now(UTC)
                try:
                    body = response.read()
                finally:
                    response.close()
                ok = 200 <= response.status < 300
                worker = sent % len(workers) if ok else None
                sent += 1 if ok else 0
                kept = dataclasses.replace(response, body=io.BytesIO(body))
                meta.put(_Fetched(token, request, kept, fetched_at, worker))
                if worker is not None:
                    workers[worker].give((response.url, fetched_at, body))
                guess = peek_token(body) if ok else None
                if guess is None or guess == token:
                    meta.put(_END)
                    return
                token = guess
        except BaseException as exc:  # handed to the consumer, raised there in order
            meta.put(_Failed(token, exc))
        finally:
            for w in workers:
                w.end_input()  # idle workers exit once their pages are taken

    def _shutdown(self) -> None:
        """Stop fetching, end the workers (killing any that linger), reap them."""
        self._stop.set()
        for _ in range(self.lookahead + 1):
            self._ahead.release()  # wake the fetch thread wherever it waits for a turn
        for w in self._workers:
            w.end_input(drop_pending=True)  # each ends after the page it has, if any
        if self._thread is not None:
            self._thread.join(timeout=_REAP_SECONDS)
            self._thread = None
        for w in self._workers:
            w.reap(wait=_REAP_SECONDS)
            w.join_threads(timeout=_REAP_SECONDS)
        self._workers = []
