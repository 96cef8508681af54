"""``harvester harvest | refresh | export | status``: the scheduled-job commands.

Exit codes (for cron): 0 all well; 1 partial failure (records quarantined, an endpoint
failed while others worked); 2 fatal (nothing could be harvested, usage errors).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from harvester.api import write
from harvester.errors import ConfigError
from harvester.formats import find_format
from harvester.harvest import MAPPERS, HarvestSummary, PageRows, harvest_safely
from harvester.http import HttpSettings
from harvester.oai.client import OAIClient
from harvester.store import Checkpoint, Store, atomic_write

STORE_ENV = "HARVESTER_STORE"


def default_store() -> Path:
    """``$HARVESTER_STORE``, else ``store.sqlite`` in the user's data directory."""
    configured = os.environ.get(STORE_ENV)
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "harvester" / "store.sqlite"


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"store file (default: ${STORE_ENV} or the user data directory)",
    )


def _add_http(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="N",
        help="requests per second to the repository (default 1; 0: no limit)",
    )
    parser.add_argument(
        "--max-wait",
        type=float,
        default=None,
        metavar="SECONDS",
        help="ceiling on any wait between retries, Retry-After included (default 600)",
    )
    parser.add_argument("--contact", metavar="EMAIL", help="contact put in the User-Agent")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress, only errors")
    parser.add_argument("--json", metavar="FILE", help="also write the summary as JSON here")
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="worker processes mapping pages while this one fetches and stores "
        "(default: 2 on two cores or more; 0: none)",
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the store-backed subcommands; each sets ``func`` to its runner."""
    run = commands.add_parser("harvest", help="harvest an OAI-PMH repository into the store")
    run.add_argument("url", help="OAI-PMH base URL")
    run.add_argument(
        "--prefix", default="oai_dc", help=f"metadata prefix ({', '.join(sorted(MAPPERS))})"
    )
    run.add_argument("--set", dest="set_", metavar="SPEC", help="harvest only this set")
    run.add_argument("--from", dest="from_", metavar="DATE", help="only records from this date")
    run.add_argument("--until", metavar="DATE", help="only records up to this date")
    run.add_argument("--restart", action="store_true", help="ignore the checkpoint and start over")
    _add_store(run)
    _add_http(run)
    run.set_defaults(func=run_harvest)

    refresh = commands.add_parser(
        "refresh", help="re-harvest every registered endpoint incrementally"
    )
    _add_store(refresh)
    _add_http(refresh)
    refresh.add_argument(
        "--no-dois",
        action="store_true",
        help="do not re-check the store's DOIs against Crossref",
    )
    refresh.set_defaults(func=run_refresh)

    status = commands.add_parser("status", help="list registered endpoints and checkpoints")
    _add_store(status)
    status.set_defaults(func=run_status)

    export = commands.add_parser("export", help="write records from the store")
    export.add_argument("--to", required=True, metavar="FORMAT", help="output format")
    export.add_argument(
        "--since", metavar="DATETIME", help="only records changed at or after this time"
    )
    export.add_argument(
        "--changed-only", action="store_true", help="only records changed by the last run"
    )
    export.add_argument(
        "--include-deleted",
        action="store_true",
        help='include tombstones (marked extra "harvester:status": deleted)',
    )
    export.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    _add_store(export)
    export.set_defaults(func=run_export)


def _open_store(args: argparse.Namespace) -> Store:
    return Store(args.store or default_store())


def _settings(args: argparse.Namespace, urls: list[str]) -> HttpSettings:
    settings = HttpSettings(contact=args.contact)
    if args.rate is not None:
        for url in urls:
            settings.rates[urlsplit(url).hostname or ""] = args.rate
    if args.max_wait is not None:
        settings.retry_after_max = args.max_wait
        settings.backoff_max = args.max_wait
        settings.backoff_base = min(settings.backoff_base, args.max_wait)
    return settings


def _progress(
    quiet: bool,
) -> tuple[Callable[[Checkpoint, PageRows], None] | None, Callable[[], None]]:
    """A rich progress bar on a terminal (records, pages, rate, ETA); nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[pages]} pages, {task.fields[rate]:.0f} rec/s"),
        TimeRemainingColumn(),
        transient=True,
    )
    bar.start()
    task = bar.add_task("harvesting", total=None, pages=0, rate=0.0)

    def update(cp: Checkpoint, page: PageRows) -> None:
        elapsed = bar.tasks[task].elapsed or 0.0
        done = cp.records
        bar.update(
            task,
            completed=done,
            total=cp.complete_list_size,
            pages=cp.pages,
            rate=done / elapsed if elapsed else 0.0,
            description=cp.endpoint,
        )

    return update, bar.stop


def _report(
    summary: HarvestSummary,
    args: argparse.Namespace,
    err: TextIO,
    *,
    extra: dict[str, Any] | None = None,
) -> int:
    for message in summary.errors:
        err.write(f"harvester: error: {message}\n")
    if not args.quiet:
        for endpoint in summary.resumed:
            err.write(f"harvester: resumed {endpoint} from its checkpoint\n")
        if summary.repaired_characters:
            err.write(
                f"harvester: repaired {summary.repaired_characters} illegal XML control "
                "character(s)\n"
            )
        if summary.token_restarts:
            err.write(
                f"harvester: {summary.token_restarts} expired resumption token(s): list "
                "restarted from the last checkpointed datestamp\n"
            )
        err.write(f"harvester: {summary.describe()}\n")
    if args.json:
        document = {**summary.to_dict(), **(extra or {})}
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        atomic_write(args.json, lambda out: out.write(text))
    return summary.exit_code


def _describe_resume(store: Store, url: str, prefix: str, set_spec: str) -> str | None:
    cp = store.checkpoint(url, prefix, set_spec)
    if cp is None:
        return None
    if cp.status == "running" and cp.token:
        return f"resuming at page {cp.pages + 1} (resumption token {cp.token[:40]})"
    if cp.status == "complete":
        return f"incremental from {cp.last_datestamp or 'the start'}"
    return None


def run_harvest(args: argparse.Namespace) -> int:
    if args.prefix not in MAPPERS:
        raise ConfigError(f"no mapping for prefix {args.prefix!r} (known: {', '.join(MAPPERS)})")
    with _open_store(args) as store:
        store.lock()
        note = (
            None
            if args.restart
            else _describe_resume(store, args.url, args.prefix, args.set_ or "")
        )
        if note and not args.quiet:
            sys.stderr.write(f"harvester: {args.url}: {note}; --restart starts over\n")
        run_id, _started = store.start_run("harvest")
        update, stop = _progress(args.quiet)
        try:
            with OAIClient(args.url, settings=_settings(args, [args.url])) as client:
                summary = harvest_safely(
                    store,
                    client,
                    prefix=args.prefix,
                    set_=args.set_,
                    from_=args.from_,
                    until=args.until,
                    restart=args.restart,
                    progress=update,
                    workers=args.jobs,
                )
        finally:
            stop()
        store.finish_run(run_id, summary.to_dict())
        return _report(summary, args, sys.stderr)


def run_refresh(args: argparse.Namespace) -> int:
    """Re-harvest every registered endpoint from its checkpoint, then re-check the
    store's DOIs against Crossref (``--no-dois`` skips that)."""
    with _open_store(args) as store:
        store.lock()
        checkpoints = store.checkpoints()
        check_dois = not args.no_dois and bool(store.stored_dois(exclude_source="crossref"))
        if not checkpoints and not check_dois:
            raise ConfigError(f"{store.path}: no endpoint registered; run harvester harvest URL")
        run_id, _started = store.start_run("refresh")
        settings = _settings(args, [cp.endpoint for cp in checkpoints])
        total = HarvestSummary()
        update, stop = _progress(args.quiet)
        try:
            for cp in checkpoints:
                with OAIClient(
                    cp.endpoint, settings=settings, granularity=cp.granularity
                ) as client:
                    total.merge(
                        harvest_safely(
                            store,
                            client,
                            prefix=cp.prefix,
                            set_=cp.set_spec or None,
                            progress=update,
                            workers=args.jobs,
                        )
                    )
        finally:
            stop()
        extra: dict[str, Any] = {}
        doi_failed = False
        if check_dois:
            from harvester.recheck import recheck_store
            from harvester.sources import SourceSettings

            sources = SourceSettings.load()
            sources.mailto = args.contact or sources.mailto
            dois = recheck_store(store, settings=sources)
            total.added += dois.added
            total.changed.update(dois.changed)
            total.unchanged += dois.unchanged
            total.errors.extend(f"DOI {doi}: {why}" for doi, why in dois.failed.items())
            extra["dois"] = dois.to_dict()
            doi_failed = bool(dois.failed)
            if not args.quiet:
                sys.stderr.write(f"harvester: {dois.describe()}\n")
        store.finish_run(run_id, {**total.to_dict(), **extra})
        code = _report(total, args, sys.stderr, extra=extra)
        return max(code, 1) if doi_failed else code


def run_status(args: argparse.Namespace) -> int:
    with _open_store(args) as store:
        out = sys.stdout
        checkpoints = store.checkpoints()
        if not checkpoints:
            out.write(f"{store.path}: no endpoint registered\n")
            return 0
        for cp in checkpoints:
            counts = store.counts(cp.endpoint)
            where = f" set={cp.set_spec}" if cp.set_spec else ""
            out.write(f"{cp.endpoint} prefix={cp.prefix}{where}\n")
            out.write(
                f"  status: {cp.status} (last run: {cp.pages} page(s), {cp.records} record(s))\n"
            )
            if cp.token:
                expiry = f", expires {cp.token_expiry}" if cp.token_expiry else ""
                out.write(f"  resumption token: {cp.token}{expiry}\n")
            if cp.complete_list_size is not None:
                out.write(f"  cursor: {cp.cursor or 0} of {cp.complete_list_size}\n")
            out.write(f"  last datestamp: {cp.last_datestamp or '-'}\n")
            out.write(
                f"  stored: {counts['records']} record(s), {counts['deleted']} deleted, "
                f"{counts['quarantined']} quarantined\n"
            )
            out.write(f"  updated: {cp.updated_at or '-'}\n")
    return 0


def parse_since(text: str) -> str:
    """A date or datetime (UTC unless it says otherwise) in the store's timestamp form."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigError(f"--since: not an ISO date or datetime: {text!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_export(args: argparse.Namespace) -> int:
    fmt = find_format(args.to)
    if fmt.writer is None:
        raise ConfigError(f"{fmt.name} cannot be written")
    with _open_store(args) as store:
        since = parse_since(args.since) if args.since else None
        if args.changed_only:
            last = store.last_run_start()
            if last is not None and (since is None or last > since):
                since = last
        options: dict[str, Any] = {}
        count = 0

        def emit(out: TextIO) -> None:
            nonlocal count
            records = store.records(since=since, include_deleted=args.include_deleted)
            count = len(write(records, out, fmt.name, **options))

        if args.output:
            atomic_write(args.output, emit)
        else:
            try:
                emit(sys.stdout)
            except BrokenPipeError:
                # The reader (head, a pager) stopped early: not an error of ours.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 0
        sys.stderr.write(f"harvester: {count} record(s) exported as {fmt.name}\n")
    return 0
