"""``harvester fetch``: targets (URLs, DOIs, PMIDs, ISBNs) to records, through the sources.

Exit codes: 0 every target fetched; 1 some target failed (the others are written);
2 usage error; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TextIO

from harvester.errors import ConfigError
from harvester.fetch import DEFAULT_CONCURRENCY, FetchOutcome, fetch
from harvester.formats import find_format
from harvester.http import HttpSettings
from harvester.sources import Source, SourceSettings
from harvester.store import atomic_write

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130
_REPORT_ONLY_LOSSES = frozenset({"provenance", "field_sources"})


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``fetch`` subcommand."""
    cmd = commands.add_parser(
        "fetch",
        help="fetch records for URLs, DOIs, pmid:, pmcid:, isbn: targets",
        description=(
            "Fetch records from catalogues and metadata services, politely. TARGETs are "
            "catalogue or landing-page URLs, DOIs in any common form, pmid:N, pmcid:PMCN, "
            "isbn:N. Base URLs come from HARVESTER_<SOURCE>_URL or the config file."
        ),
    )
    cmd.add_argument("targets", nargs="*", metavar="TARGET", help="targets to fetch")
    cmd.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="FILE",
        help="read targets from FILE, one a line ('-' for stdin; blank lines and # skipped)",
    )
    cmd.add_argument("--to", required=True, metavar="FORMAT", help="output format")
    cmd.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    cmd.add_argument(
        "--enrich",
        action="store_true",
        help="complete catalogue records from their DOI (Crossref/DataCite) or PMID (PubMed)",
    )
    cmd.add_argument(
        "--concurrency",
        type=int,
        default=None,
        metavar="N",
        help="targets in flight at once (default 16; per-host limits still apply)",
    )
    cmd.add_argument(
        "--mailto", metavar="ADDR", help="contact address (User-Agent, Crossref polite pool)"
    )
    cmd.add_argument(
        "--report", metavar="FILE", help="write failures and merge conflicts as JSON here"
    )
    cmd.add_argument(
        "--provenance",
        action="store_true",
        help="jsonl only: keep each record's provenance and per-field sources",
    )
    cmd.add_argument(
        "--no-cache",
        action="store_true",
        help="do not revalidate against the on-disk HTTP cache (default: "
        "$HARVESTER_CACHE_DIR or the user cache directory)",
    )
    cmd.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    cmd.set_defaults(func=run_fetch)


def default_cache_dir() -> Path:
    """``$HARVESTER_CACHE_DIR``, else ``harvester`` in the user's cache directory.

    Repeated runs send ``If-None-Match`` / ``If-Modified-Since`` from here, so an unchanged
    record costs a 304 instead of a download.
    """
    configured = os.environ.get("HARVESTER_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "harvester"


def read_targets(paths: Sequence[str], stdin: TextIO | None = None) -> Iterator[str]:
    """Targets from files, one a line, lazily; blank lines and ``#`` comments skipped.

    Raises:
        ConfigError: a file does not exist.
    """
    for path in paths:
        if path != "-" and not Path(path).is_file():
            raise ConfigError(f"{path}: no such file")
    for path in paths:
        if path == "-":
            yield from _lines(stdin or sys.stdin)
            continue
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            yield from _lines(handle)


def _lines(stream: TextIO) -> Iterator[str]:
    for line in stream:
        text = line.strip()
        if text and not text.startswith("#"):
            yield text


def _count_lines(paths: Sequence[str]) -> int | None:
    """How many targets the files hold, for the progress bar (unknown for stdin)."""
    if "-" in paths:
        return None
    total = 0
    for path in paths:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            total += sum(1 for _ in _lines(handle))
    return total


def run_fetch(args: argparse.Namespace, *, sources: Sequence[Source] | None = None) -> int:
    """Run ``harvester fetch``; ``sources`` replaces the registry (tests)."""
    fmt = find_format(args.to)
    if fmt.writer is None:
        raise ConfigError(f"{fmt.name} cannot be written")
    if args.provenance and fmt.name != "jsonl":
        raise ConfigError("--provenance needs --to jsonl (no other format can carry it)")
    concurrency = DEFAULT_CONCURRENCY if args.concurrency is None else args.concurrency
    if concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, not {concurrency}")
    if not args.targets and not args.input:
        raise ConfigError("nothing to fetch: give TARGETs or -i FILE ('-' for stdin)")
    for path in args.input:
        if path != "-" and not Path(path).is_file():
            raise ConfigError(f"{path}: no such file")
    if args.input.count("-") > 1:
        raise ConfigError("-i - (stdin) can be given once")

    settings = SourceSettings.load()
    if args.mailto:
        settings.mailto = args.mailto
    http_settings = HttpSettings(
        contact=settings.mailto, cache_dir=None if args.no_cache else default_cache_dir()
    )

    def targets() -> Iterator[str]:
        yield from (t.strip() for t in args.targets if t.strip())
        yield from read_targets(args.input)

    show_progress = not args.quiet and sys.stderr.isatty()
    in_files = _count_lines(args.input) if show_progress else None
    total = None if in_files is None else len(args.targets) + in_files
    failures: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    losses: Counter[str] = Counter()
    written = 0
    run = fetch(
        targets(),
        settings=settings,
        http_settings=http_settings,
        concurrency=concurrency,
        enrich=args.enrich,
        sources=sources,
    )

    def emit(out: TextIO) -> None:
        nonlocal written
        assert fmt.writer is not None
        with _progress(show_progress, total) as advance, fmt.writer(out) as writer:
            for outcome in run:
                advance(outcome)
                _note(outcome, failures, conflicts, warnings, quiet=args.quiet)
                for record in outcome.records:
                    if not args.provenance:
                        record = record.model_copy(update={"provenance": [], "field_sources": {}})
                    for loss in writer.write(record):
                        if loss.field not in _REPORT_ONLY_LOSSES:
                            losses[loss.field] += 1
                    written += 1

    try:
        if args.output:
            atomic_write(args.output, emit)
        else:
            if isinstance(sys.stdout, io.TextIOWrapper):
                sys.stdout.reconfigure(encoding="utf-8", newline="\n")
            try:
                emit(sys.stdout)
            except BrokenPipeError:
                # The reader (head, a pager) stopped early: not an error of ours.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return EXIT_OK
    except KeyboardInterrupt:
        # In-flight requests are cancelled and a partial -o file is removed.
        sys.stderr.write(f"harvester: interrupted: {run.summary.describe()}\n")
        return EXIT_INTERRUPTED
    finally:
        run.close()
    summary = run.summary
    if args.report:
        report = {
            "to": fmt.name,
            "summary": summary.to_dict(),
            "records_written": written,
            "failures": failures,
            "conflicts": conflicts,
            "warnings": warnings,
            "loss_summary": dict(sorted(losses.items())),
        }
        text = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
        atomic_write(args.report, lambda out: out.write(text))
    if not args.quiet:
        if losses:
            fields = ", ".join(f"{name} ({n})" for name, n in losses.most_common())
            sys.stderr.write(f"harvester: warning: {fmt.name} could not carry: {fields}\n")
        sys.stderr.write(f"harvester: {summary.describe()}; {written} written as {fmt.name}\n")
    return EXIT_FAILED if summary.failures else EXIT_OK


def _note(
    outcome: FetchOutcome,
    failures: list[dict[str, Any]],
    conflicts: list[dict[str, Any]],
    warnings: list[dict[str, Any]],
    *,
    quiet: bool,
) -> None:
    """Collect what the report needs from one outcome; print failures as they come."""
    if outcome.error is not None:
        failure = outcome.failure_dict()
        failures.append(failure)
        status = f" (HTTP {failure['status']})" if failure["status"] else ""
        sys.stderr.write(
            f"harvester: error: {outcome.text}: {failure['reason']}{status}: {outcome.error}\n"
        )
    for conflict in outcome.conflicts:
        conflicts.append({"target": outcome.text, **conflict.to_dict()})
    for message in outcome.warnings:
        warnings.append({"target": outcome.text, "message": message})
        if not quiet:
            sys.stderr.write(f"harvester: warning: {outcome.text}: {message}\n")


def _progress(
    show: bool, total: int | None
) -> AbstractContextManager[Callable[[FetchOutcome], None]]:
    """A rich progress bar on a terminal; a no-op otherwise (pipes, logs, cron)."""
    if not show:
        return nullcontext(lambda outcome: None)
    return _RichProgress(total)


class _RichProgress(AbstractContextManager[Callable[[FetchOutcome], None]]):
    def __init__(self, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("fetching"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.bar.add_task("fetch", total=total, failed=0)
        self.failed = 0

    def __enter__(self) -> Callable[[FetchOutcome], None]:
        self.bar.start()
        return self.advance

    def advance(self, outcome: FetchOutcome) -> None:
        self.failed += outcome.error is not None
        self.bar.update(self.task, advance=1, failed=self.failed)

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()
