"""``harvester`` command line: a thin layer over :mod:`harvester.api`.

Exit codes: 0 all records converted; 1 some record or input failed; 2 usage error.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, TextIO

from harvester import __version__
from harvester.api import ConvertSummary, convert
from harvester.errors import ConfigError, HarvesterError
from harvester.formats import FORMATS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Every record read from a file has provenance no citation format can hold: listing it on
# every run would hide the losses that matter. It stays in --report.
_REPORT_ONLY_LOSSES = ("provenance", "field_sources")


# Commands that need no store or network: their start-up skips importing httpx, SQLite and
# the OAI client (a tenth of a second on every conversion).
_LIGHT_COMMANDS = ("convert", "formats")
_HARVEST_COMMANDS = ("harvest", "refresh", "status", "export")
_FETCH_COMMANDS = ("fetch",)


def _parser(*, light: bool = False, command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harvester", description="Harvest and convert bibliographic records."
    )
    parser.add_argument("--version", action="version", version=f"harvester {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    conv = commands.add_parser("convert", help="convert records between formats")
    conv.add_argument("inputs", nargs="*", help="input files; none or '-' reads stdin")
    conv.add_argument(
        "--from", dest="from_", metavar="FORMAT", help="input format (default: sniffed)"
    )
    conv.add_argument("--to", required=True, metavar="FORMAT", help="output format")
    conv.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")
    conv.add_argument("--report", metavar="FILE", help="write the full JSON report here")
    conv.add_argument(
        "--encoding",
        metavar="ENC",
        help="input encoding (default: detected; e.g. gbk, latin-1 for files too short to tell)",
    )
    conv.add_argument(
        "--ascii", action="store_true", help="BibTeX: pure-ASCII LaTeX escapes instead of UTF-8"
    )
    conv.add_argument(
        "-j",
        "--jobs",
        type=int,
        metavar="N",
        help="worker processes for big files (default: cores)",
    )
    conv.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")

    commands.add_parser("formats", help="list the formats this harvester reads and writes")
    if not light:
        # Each family of commands imports only its own modules (the fetch layer costs a
        # sixth of a second a `harvester refresh` from cron does not need).
        if command not in _FETCH_COMMANDS:
            from harvester import cli_harvest

            cli_harvest.register(commands)
        if command not in _HARVEST_COMMANDS:
            from harvester import cli_fetch

            cli_fetch.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = args_list[0] if args_list else None
    parser = _parser(light=first in _LIGHT_COMMANDS, command=first)
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        if args.command == "formats":
            return _formats(sys.stdout)
        if args.command == "convert":
            return _convert(args)
        runner: Callable[[argparse.Namespace], int] = args.func
        return runner(args)
    except ConfigError as exc:
        print(f"harvester: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HarvesterError as exc:
        print(f"harvester: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # the reader went away (| head): not worth a message
        return EXIT_FAILED
    except OSError as exc:
        print(f"harvester: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, FileNotFoundError) else EXIT_FAILED


def _formats(out: TextIO) -> int:
    out.write(f"{'name':<16}{'read':<6}{'write':<7}{'extensions':<18}description\n")
    for fmt in FORMATS.values():
        out.write(
            f"{fmt.name:<16}{'yes' if fmt.read else 'no':<6}{'yes' if fmt.writer else 'no':<7}"
            f"{' '.join(fmt.extensions):<18}{fmt.title}\n"
        )
    return EXIT_OK


def _convert(args: argparse.Namespace) -> int:
    for path in args.inputs:
        if path != "-" and not Path(path).is_file():
            raise ConfigError(f"{path}: no such file")
    options = {"ascii": True} if args.ascii else {}

    def run(out: TextIO, binary: BinaryIO | None) -> ConvertSummary:
        return convert(
            args.inputs,
            args.to,
            out,
            from_=args.from_,
            jobs=args.jobs,
            encoding=args.encoding,
            binary_output=binary,
            **options,
        )

    if args.output:
        # Write beside the target and rename: a crash never leaves a truncated file.
        target = Path(args.output)
        tmp = target.with_name(f".{target.name}.partial")
        try:
            with (
                open(tmp, "wb") as raw,
                io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as out,
            ):
                summary = run(out, raw)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        binary = None
        if isinstance(sys.stdout, io.TextIOWrapper):
            sys.stdout.reconfigure(encoding="utf-8", newline="\n")
            binary = sys.stdout.buffer
        summary = run(sys.stdout, binary)
    if args.report:
        Path(args.report).write_text(
            json.dumps(summary.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    _print_summary(summary, sys.stderr, quiet=args.quiet)
    return EXIT_OK if summary.ok else EXIT_FAILED


def _group_extras(counts: Counter[str]) -> Counter[str]:
    """``extra.wos:PT``, ``extra.wos:DT``... as one ``extra.wos:*`` line item."""
    grouped: Counter[str] = Counter()
    for name, n in counts.items():
        if name.startswith("extra.") and ":" in name:
            name = name.split(":", 1)[0] + ":*"
        grouped[name] += n
    return grouped


def _print_summary(summary: ConvertSummary, err: TextIO, *, quiet: bool) -> None:
    for error in summary.errors:
        err.write(f"harvester: error: {error.describe()}\n")
    if quiet:
        return
    for warning in summary.warnings:
        err.write(f"harvester: warning: {warning.describe()}\n")
    counts = summary.loss_counts()
    for quiet_field in _REPORT_ONLY_LOSSES:
        counts.pop(quiet_field, None)
    counts = _group_extras(counts)
    affected = sum(
        1
        for item in summary.losses
        if any(loss.field not in _REPORT_ONLY_LOSSES for loss in item.losses)
    )
    if counts:
        fields = ", ".join(f"{name} ({n})" for name, n in counts.most_common())
        err.write(
            f"harvester: warning: {summary.to} could not carry, in {affected} "
            f"record(s): {fields}; --report FILE lists them\n"
        )
    failed = f", {len(summary.errors)} failed" if summary.errors else ""
    err.write(f"harvester: {summary.written} record(s) written as {summary.to}{failed}\n")


def run() -> None:
    """The console script: :func:`main`, then leave without interpreter tear-down.

    Everything the command wrote is closed or flushed by then (``-o`` files are renamed
    into place inside :func:`main`); tearing down the module graph only costs time, about
    70 ms on every run, which a cron job or a shell loop over many small files pays each
    time. Tests call :func:`main` and keep the normal exit.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # a closed pipe downstream (| head): nothing more to say
        code = code or EXIT_FAILED
    os._exit(code)
