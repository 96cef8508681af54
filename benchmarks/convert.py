"""Time whole-process conversions: harvester against Citation.js, pandoc and bibutils.

Every conversion runs as its own process on the same generated corpus (see
``generate.py``), the way a person runs it from a shell: start-up, reading, writing and
all. Wall time is the best of ``--repeat`` runs; peak memory is the larger of the peak
resident set size of the largest process (``ru_maxrss``, taken by a small launcher: see
``_launch``) and the process group's memory sampled while it runs (a parent with worker
processes, a pipeline), the largest seen over the repeats. Results print as a markdown
table with the ratio harvester / peer for records per second, and go to ``--json FILE``.

Usage::

    python benchmarks/convert.py --sizes 10000 100000 --repeat 3 --json results.json
    python benchmarks/convert.py --install-peers   # npm install Citation.js into .work/node

Peers are used when installed: Citation.js (npm, under ``benchmarks/.work/node``), pandoc
(the binary of PyPI ``pypandoc-binary``, else ``pandoc`` on PATH) and bibutils (Debian
``bibutils``: ``ris2xml``, ``xml2bib``). A pair a peer cannot do prints ``n/a``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
NODE_DIR = WORK / "node"
CITATIONJS_RUNNER = HERE / "citationjs_convert.mjs"
# Pinned so runs on different days compare; --install-peers installs exactly these.
CITATIONJS_PACKAGES = (
    "@citation-js/core@0.8.2",
    "@citation-js/plugin-bibtex@0.8.2",
    "@citation-js/plugin-ris@0.8.2",
    "@citation-js/plugin-csl@0.8.2",
)

sys.path.insert(0, str(HERE))
from generate import DEFAULT_SEED, Corpus, generate  # noqa: E402

FORMATS = ("ris", "bibtex", "csl-json")
DEFAULT_PAIRS = ("ris:bibtex", "bibtex:csl-json", "csl-json:ris", "ris:csl-json")
EXTENSIONS = {"ris": "ris", "bibtex": "bib", "csl-json": "json"}
PEERS = ("citationjs", "pandoc", "bibutils")
# What the targets ask of harvester against each peer (records/second ratio).
TARGET_RATIO = {"citationjs": 2.0, "pandoc": 10.0, "bibutils": 10.0}


# --- running one process ---------------------------------------------------------------


@dataclass
class Run:
    """One timed process.

    ``peak_mb`` is the larger of two views of peak memory: the largest single process
    (``ru_maxrss`` through a small launcher, exact) and the whole process group sampled every
    ``SAMPLE_SECONDS`` (sum of PSS, so forked workers' shared pages count once), which
    catches a parent and its worker processes together.
    """

    status: str  # ok, partial (exit 1: some records failed), failed, timeout
    seconds: float
    peak_mb: float
    returncode: int | None
    stderr_tail: str = ""
    max_process_mb: float = 0.0
    group_mb: float = 0.0


SAMPLE_SECONDS = 0.05
RESCAN_EVERY = 10  # samples between scans of /proc for the group's members (~15 ms each)


def group_members(pgid: int) -> set[int]:
    """The process ids in process group ``pgid``."""
    members = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stream:
                stat = stream.read()
            # After "pid (comm) ": state, ppid, pgrp, ...; comm may hold spaces.
            if int(stat[stat.rfind(b")") + 2 :].split()[2]) == pgid:
                members.add(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # the process ended between listing and reading
    return members


def pss_kb(pid: int) -> int | None:
    """A process's proportional set size, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as stream:
            for line in stream:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return 0


class _GroupSampler(threading.Thread):
    """Samples a process group's memory (sum of PSS) until stopped; keeps the peak (kB)."""

    def __init__(self, pgid: int) -> None:
        super().__init__(daemon=True)
        self.pgid = pgid
        self.peak_kb = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        members = {self.pgid}
        tick = 0
        while not self.stopped.wait(SAMPLE_SECONDS):
            tick += 1
            if tick % RESCAN_EVERY == 1:
                members |= group_members(self.pgid)
            total = 0
            for pid in list(members):
                size = pss_kb(pid)
                if size is None:
                    members.discard(pid)
                else:
                    total += size
            self.peak_kb = max(self.peak_kb, total)


# Why a launcher: on Linux a process's ru_maxrss starts from the RSS of the process that
# exec'd it (the kernel carries the old address space's high-water mark over exec, and
# subprocess forks or vforks this harness). Measured straight from here, every tool would
# look at least as big as this harness. A small launcher that forks and execs the tool
# gives a floor of the launcher's own size: GNU time (~2 MB) where present, else this
# Python snippet (~10 MB).
_TIME = "/usr/bin/time"
_LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def _launch(cmd: Sequence[str], rss_path: Path) -> list[str]:
    if os.access(_TIME, os.X_OK):
        return [_TIME, "-f", "%M", "-o", str(rss_path), "--", *cmd]
    return [sys.executable, "-c", _LAUNCHER, str(rss_path), *cmd]


def _read_rss_kb(path: Path) -> int:
    try:
        lines = path.read_text(encoding="utf-8").split()
    except OSError:
        return 0
    return int(lines[-1]) if lines and lines[-1].isdigit() else 0


def run_process(cmd: Sequence[str], *, timeout: float, stderr_path: Path, cwd: Path = ROOT) -> Run:
    """Run ``cmd`` to completion; wall time and the peak memory of it and its children."""
    killed = threading.Event()
    rss_path = stderr_path.with_suffix(".maxrss")
    rss_path.unlink(missing_ok=True)
    with open(stderr_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            _launch(cmd, rss_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=cwd,
            start_new_session=True,  # a process group, so a timeout kills pipelines whole
        )

        def kill() -> None:
            killed.set()
            with contextlib.suppress(ProcessLookupError):  # it ended just in time
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        sampler = _GroupSampler(proc.pid)
        timer.start()
        sampler.start()
        try:
            _, wait_status, _usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: the tool runs in its own session, end it too
            kill()
            raise
        finally:
            timer.cancel()
            sampler.stopped.set()
        seconds = time.perf_counter() - start
        sampler.join()
    code = os.waitstatus_to_exitcode(wait_status)
    proc.returncode = code  # reaped by wait4 already
    tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-600:].strip()
    process_mb = _read_rss_kb(rss_path) / 1024  # Linux reports kilobytes
    group_mb = sampler.peak_kb / 1024
    peak_mb = max(process_mb, group_mb)
    status = "ok" if code == 0 else "partial" if code == 1 else "failed"
    if killed.is_set():
        status = "timeout"
    return Run(status, seconds, peak_mb, code, tail, process_mb, group_mb)


# --- counting what came out ------------------------------------------------------------


def count_records(path: Path, format_name: str) -> int:
    """Records in an output file, counted without any converter's own parser."""
    if not path.is_file():
        return 0
    if format_name == "csl-json":
        with open(path, encoding="utf-8-sig") as stream:
            try:
                data = json.load(stream)
            except ValueError:
                return 0
        return len(data) if isinstance(data, list) else 1
    count = 0
    with open(path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            if format_name == "ris":
                count += line.startswith("ER  -")
            else:
                head = line.lstrip("\ufeff \t")
                if head.startswith("@"):
                    kind = head[1:].split("{", 1)[0].split("(", 1)[0].strip().lower()
                    count += kind not in ("string", "comment", "preamble", "")
    return count


# --- the tools -------------------------------------------------------------------------


@dataclass
class Tool:
    """A converter: its name, whether it is here, and the command for one pair."""

    name: str
    available: bool
    version: str
    command: Callable[[str, str, Path, Path], list[str] | None]
    missing_hint: str = ""


HARVESTER_EXTRA_ARGS: list[str] = []  # from --harvester-args, e.g. "--jobs 1"


def _harvester_command(src: str, dst: str, inp: Path, out: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "harvester", "convert", str(inp)),
        *("--from", src, "--to", dst, "-o", str(out), *HARVESTER_EXTRA_ARGS),
    ]


def _byte_compile(package: Path) -> None:
    """Write harvester's bytecode caches, as ``pip install`` does for an installed package.

    A checkout run with ``PYTHONDONTWRITEBYTECODE`` set (as some sandboxes and CI images
    do) would otherwise compile every module from source on every run: 0.15-0.2 s of
    each timed process spent on something no installed copy does.
    """
    import compileall

    compileall.compile_dir(package, quiet=1)


def harvester_tool() -> Tool:
    sys.path.insert(0, str(ROOT))
    try:
        import harvester
        from harvester.formats import FORMATS as REGISTERED
    except ImportError as exc:
        return Tool("harvester", False, "", _harvester_command, f"cannot import: {exc}")
    missing = [f for f in FORMATS if f not in REGISTERED]
    hint = f"formats not registered yet: {', '.join(missing)}" if missing else ""
    _byte_compile(Path(harvester.__file__).parent)
    return Tool("harvester", True, harvester.__version__, _harvester_command, hint)


def citationjs_tool() -> Tool:
    node = shutil.which("node")
    package = NODE_DIR / "node_modules" / "@citation-js" / "core" / "package.json"
    if node is None or not package.is_file():
        hint = "run: python benchmarks/convert.py --install-peers (needs node and npm)"
        return Tool("citationjs", False, "", lambda *_: None, hint)
    version = json.loads(package.read_text(encoding="utf-8"))["version"]

    def command(src: str, dst: str, inp: Path, out: Path) -> list[str]:
        return [node, str(CITATIONJS_RUNNER), str(NODE_DIR), src, dst, str(inp), str(out)]

    return Tool("citationjs", True, f"@citation-js/core {version}, node {_node_version()}", command)


def _node_version() -> str:
    result = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return result.stdout.strip()


def _pandoc_path() -> str | None:
    try:
        import pypandoc  # type: ignore[import-untyped]

        path = str(pypandoc.get_pandoc_path())
        if Path(path).is_file():
            return path
    except (ImportError, OSError):
        pass
    return shutil.which("pandoc")


_PANDOC_READS = {"ris": "ris", "bibtex": "bibtex", "csl-json": "csljson"}
_PANDOC_WRITES = {"bibtex": "bibtex", "csl-json": "csljson"}  # pandoc 3 writes no RIS


def pandoc_tool() -> Tool:
    pandoc = _pandoc_path()
    if pandoc is None:
        return Tool("pandoc", False, "", lambda *_: None, "pip install pypandoc-binary")
    result = subprocess.run([pandoc, "--version"], capture_output=True, text=True, check=False)
    version = result.stdout.split("\n", 1)[0]

    def command(src: str, dst: str, inp: Path, out: Path) -> list[str] | None:
        if dst not in _PANDOC_WRITES:
            return None
        return [
            pandoc,
            "-f",
            _PANDOC_READS[src],
            "-t",
            _PANDOC_WRITES[dst],
            str(inp),
            "-o",
            str(out),
        ]

    return Tool("pandoc", True, version, command)


# bibutils converts through MODS XML; it has no CSL-JSON reader or writer.
_BIBUTILS_IN = {"ris": "ris2xml", "bibtex": "bib2xml"}
_BIBUTILS_OUT = {"ris": "xml2ris", "bibtex": "xml2bib"}


def bibutils_tool() -> Tool:
    if shutil.which("ris2xml") is None or shutil.which("xml2bib") is None:
        return Tool("bibutils", False, "", lambda *_: None, "apt-get install bibutils")
    result = subprocess.run(["ris2xml", "--version"], capture_output=True, text=True, check=False)
    version = (result.stdout + result.stderr).strip().split("\n", 1)[0]

    def command(src: str, dst: str, inp: Path, out: Path) -> list[str] | None:
        if src not in _BIBUTILS_IN or dst not in _BIBUTILS_OUT:
            return None
        pipeline = (
            f"{_BIBUTILS_IN[src]} -i utf8 {shlex.quote(str(inp))} | "
            f"{_BIBUTILS_OUT[dst]} -o utf8 > {shlex.quote(str(out))}"
        )
        return ["/bin/sh", "-c", pipeline]

    return Tool("bibutils", True, version, command)


# --- the benchmark ---------------------------------------------------------------------


@dataclass
class Result:
    """The best of the repeats of one tool on one pair and size."""

    tool: str
    pair: str
    size: int
    status: str  # ok, partial, failed, timeout, n/a, absent
    seconds: float | None = None
    records_per_second: float | None = None
    peak_mb: float | None = None
    records_out: int | None = None
    runs: list[float] = field(default_factory=list)
    note: str = ""
    max_process_mb: float | None = None  # largest single process (wait4)
    group_mb: float | None = None  # process group, sampled (sum of PSS)


def bench_one(
    tool: Tool, pair: str, corpus: Corpus, *, repeat: int, timeout: float, out_dir: Path, keep: bool
) -> Result:
    src, dst = pair.split(":")
    base = Result(tool.name, pair, corpus.size, "absent")
    if not tool.available:
        base.note = tool.missing_hint
        return base
    out = out_dir / f"{tool.name}.{src}-{dst}.{EXTENSIONS[dst]}"
    cmd = tool.command(src, dst, corpus.path(src), out)
    if cmd is None:
        base.status = "n/a"
        return base
    best: Run | None = None
    peak = process_peak = group_peak = 0.0
    times: list[float] = []
    last: Run | None = None
    for _ in range(repeat):
        out.unlink(missing_ok=True)
        last = run_process(cmd, timeout=timeout, stderr_path=out.with_suffix(".stderr"))
        if last.status not in ("ok", "partial"):
            break
        times.append(last.seconds)
        peak = max(peak, last.peak_mb)
        process_peak = max(process_peak, last.max_process_mb)
        group_peak = max(group_peak, last.group_mb)
        if best is None or last.seconds < best.seconds:
            best = last
    assert last is not None
    if best is None:
        note = last.stderr_tail.splitlines()[-1] if last.stderr_tail else ""
        return Result(
            tool.name, pair, corpus.size, last.status, last.seconds, None, last.peak_mb,
            runs=[last.seconds], note=note[:200],
        )  # fmt: skip
    records_out = count_records(out, dst)
    if not keep:
        out.unlink(missing_ok=True)
    note = ""
    if best.status == "partial":
        note = f"exit 1 (some records failed): {best.stderr_tail.splitlines()[-1][:160]}"
    if records_out != corpus.size:
        note = (note + "; " if note else "") + f"wrote {records_out:,} of {corpus.size:,} records"
    return Result(
        tool.name, pair, corpus.size, best.status, best.seconds,
        corpus.size / best.seconds, peak, records_out, times, note, process_peak, group_peak,
    )  # fmt: skip


def _cell_rate(result: Result | None) -> str:
    if result is None:
        return ""
    if result.records_per_second is None:
        return result.status
    return f"{result.records_per_second:,.0f}"


def _cell_mb(result: Result | None) -> str:
    if result is None or result.peak_mb is None or result.records_per_second is None:
        return ""
    return f"{result.peak_mb:,.0f}"


def _cell_ratio(ours: Result | None, peer: Result | None) -> str:
    if ours is None or peer is None:
        return ""
    if ours.records_per_second is None or peer.records_per_second is None:
        return ""
    return f"{ours.records_per_second / peer.records_per_second:.1f}×"


def markdown_table(results: list[Result], peers: Sequence[str]) -> str:
    """pair | size | harvester rec/s | MB | per peer: rec/s | MB | ratio."""
    index = {(r.tool, r.pair, r.size): r for r in results}
    head = ["pair", "records", "harvester rec/s", "peak MB"]
    for peer in peers:
        head += [f"{peer} rec/s", "peak MB", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    keys = sorted({(r.size, r.pair) for r in results}, key=lambda k: (k[0], _pair_order(k[1])))
    for size, pair in keys:
        ours = index.get(("harvester", pair, size))
        row = [pair.replace(":", " → "), f"{size:,}", _cell_rate(ours), _cell_mb(ours)]
        for peer in peers:
            theirs = index.get((peer, pair, size))
            row += [_cell_rate(theirs), _cell_mb(theirs), _cell_ratio(ours, theirs)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _progress(result: Result) -> str:
    head = f"{result.pair:<16} {result.tool:<10}"
    if result.records_per_second is None:
        tail = f" [{result.note}]" if result.note else ""
        return f"{head} {result.status:>10}{tail}"
    note = f" [{result.note}]" if result.note else ""
    runs = ", ".join(f"{t:.2f}" for t in result.runs)
    return (
        f"{head} {result.records_per_second:>10,.0f} rec/s, {result.peak_mb or 0:,.0f} MB "
        f"(runs: {runs} s){note}"
    )


def _pair_order(pair: str) -> int:
    return DEFAULT_PAIRS.index(pair) if pair in DEFAULT_PAIRS else len(DEFAULT_PAIRS)


# --- parse only (for reference) --------------------------------------------------------

_PARSE_ONLY = {
    "rispy (RIS)": (
        "ris",
        "import rispy,sys\nwith open(sys.argv[1],encoding='utf-8') as f: n=len(rispy.load(f))\n"
        "print(n)",
    ),
    "bibtexparser 2 splitter (BibTeX)": (
        "bibtex",
        "import sys\nfrom bibtexparser.splitter import Splitter\n"
        "lib=Splitter(open(sys.argv[1],encoding='utf-8').read()).split()\nprint(len(lib.entries))",
    ),
    "pybtex (BibTeX)": (
        "bibtex",
        "import sys\nfrom pybtex.database import parse_file\n"
        "print(len(parse_file(sys.argv[1],bib_format='bibtex').entries))",
    ),
}


def bench_parse_only(corpus: Corpus, *, repeat: int, timeout: float, out_dir: Path) -> list[str]:
    rows = []
    for label, (fmt, code) in _PARSE_ONLY.items():
        cmd = [sys.executable, "-c", code, str(corpus.path(fmt))]
        best: Run | None = None
        for _ in range(repeat):
            run = run_process(cmd, timeout=timeout, stderr_path=out_dir / "parse-only.stderr")
            if run.status != "ok":
                best = best or run
                break
            if best is None or run.seconds < best.seconds:
                best = run
        assert best is not None
        rate = f"{corpus.size / best.seconds:,.0f}" if best.status == "ok" else best.status
        rows.append(f"| {label} | {corpus.size:,} | {rate} | {best.peak_mb:,.0f} |")
    return rows


# --- main ------------------------------------------------------------------------------


def install_peers() -> int:
    """Install the pinned Citation.js packages into .work/node (not part of the repo)."""
    npm = shutil.which("npm")
    if npm is None:
        print("npm is not installed", file=sys.stderr)
        return 1
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    manifest = NODE_DIR / "package.json"
    if not manifest.is_file():
        manifest.write_text('{"name": "harvester-bench-peers", "private": true}\n')
    result = subprocess.run([npm, "install", "--prefix", str(NODE_DIR), *CITATIONJS_PACKAGES])
    if shutil.which("ris2xml") is None:
        print("bibutils is not installed: apt-get install bibutils", file=sys.stderr)
    return result.returncode


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--pairs", nargs="+", default=list(DEFAULT_PAIRS), help="FROM:TO, e.g. ris:bibtex"
    )
    parser.add_argument(
        "--peers", default=",".join(PEERS), help="comma-separated subset of: " + ", ".join(PEERS)
    )
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (default 3)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--json", type=Path, help="write all results here")
    parser.add_argument(
        "--peer-results",
        type=Path,
        help="reuse the peers' results from an earlier --json file (re-time harvester only)",
    )
    parser.add_argument(
        "--parse-only", action="store_true", help="also time rispy/bibtexparser/pybtex"
    )
    parser.add_argument("--keep-outputs", action="store_true", help="keep converted files")
    parser.add_argument("--install-peers", action="store_true", help="npm install Citation.js")
    parser.add_argument(
        "--harvester-args",
        default="",
        help="extra arguments for harvester, e.g. --harvester-args='--jobs 1'",
    )
    args = parser.parse_args(argv)
    for pair in args.pairs:
        src, _, dst = pair.partition(":")
        if src not in FORMATS or dst not in FORMATS:
            parser.error(f"bad pair {pair!r}: FROM:TO with FROM, TO in {', '.join(FORMATS)}")
    peers = [p.strip() for p in args.peers.split(",") if p.strip() and p.strip() != "none"]
    for peer in peers:
        if peer not in PEERS:
            parser.error(f"unknown peer {peer!r} (known: {', '.join(PEERS)})")
    args.peers = peers
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the tool being timed is ended with the harness.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.install_peers:
        return install_peers()
    HARVESTER_EXTRA_ARGS[:] = shlex.split(args.harvester_args)
    makers = {"citationjs": citationjs_tool, "pandoc": pandoc_tool, "bibutils": bibutils_tool}
    tools = [harvester_tool(), *(makers[p]() for p in args.peers)]
    load_start = os.getloadavg()[0]
    print(f"# harvester conversion benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}; load average at start {load_start:.2f}"
    )
    print(
        f"best of {args.repeat} runs; peak MB = max(largest process RSS, sampled process-group"
        f" PSS), largest over the runs; timeout {args.timeout:.0f} s"
    )
    if HARVESTER_EXTRA_ARGS:
        print(f"harvester extra arguments: {shlex.join(HARVESTER_EXTRA_ARGS)}")
    for tool in tools:
        state = tool.version if tool.available else f"not installed ({tool.missing_hint})"
        extra = f" ({tool.missing_hint})" if tool.available and tool.missing_hint else ""
        print(f"- {tool.name}: {state}{extra}")
    results: list[Result] = []
    parse_rows: list[str] = []
    earlier = _load_peer_results(args.peer_results) if args.peer_results else {}
    for size in args.sizes:
        started = time.perf_counter()
        corpus = generate(size, args.seed)
        print(
            f"\ncorpus {size:,} records: {corpus.ris.parent} "
            f"(ready in {time.perf_counter() - started:.1f} s)",
            flush=True,
        )
        out_dir = WORK / "out" / str(size)
        out_dir.mkdir(parents=True, exist_ok=True)
        for pair in args.pairs:
            for tool in tools:
                reused = earlier.get((tool.name, pair, size))
                if reused is not None:
                    reused.note = (reused.note + "; " if reused.note else "") + "reused"
                    results.append(reused)
                    print("  " + _progress(reused), flush=True)
                    continue
                result = bench_one(
                    tool, pair, corpus, repeat=args.repeat, timeout=args.timeout,
                    out_dir=out_dir, keep=args.keep_outputs,
                )  # fmt: skip
                results.append(result)
                print("  " + _progress(result), flush=True)
        if args.parse_only:
            parse_rows += bench_parse_only(
                corpus, repeat=args.repeat, timeout=args.timeout, out_dir=out_dir
            )
    print(f"\nload average at end {os.getloadavg()[0]:.2f}\n")
    print(markdown_table(results, [t.name for t in tools[1:]]))
    notes = [r for r in results if r.note and r.status not in ("absent", "n/a")]
    if notes:
        print()
        for r in notes:
            print(f"- {r.tool} {r.pair.replace(':', ' → ')} at {r.size:,}: {r.note}")
    if parse_rows:
        print("\nParse only, for reference (whole process):\n")
        print("| parser | records | rec/s | peak MB |\n|---|---|---|---|")
        print("\n".join(parse_rows))
    _print_targets(results, [t.name for t in tools[1:]])
    if args.json:
        payload = {
            "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "cores": os.cpu_count(),
            "repeat": args.repeat,
            "seed": args.seed,
            "harvester_args": HARVESTER_EXTRA_ARGS,
            "load_average": [load_start, os.getloadavg()[0]],
            "tools": {t.name: t.version for t in tools if t.available},
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


def _load_peer_results(path: Path) -> dict[tuple[str, str, int], Result]:
    """Peer results of an earlier run, by (tool, pair, size); harvester's are not reused."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for item in data["results"]:
        if item["tool"] != "harvester" and item["status"] not in ("absent",):
            result = Result(**item)
            out[(result.tool, result.pair, result.size)] = result
    return out


def _print_targets(results: list[Result], peers: Sequence[str]) -> None:
    """Say which of the issue's targets (ratio per peer, 100 MB peak) are met."""
    index = {(r.tool, r.pair, r.size): r for r in results}
    misses = []
    compared = 0
    for r in results:
        if r.tool != "harvester" or r.records_per_second is None:
            continue
        if r.peak_mb is not None and r.peak_mb >= 100:
            misses.append(
                f"harvester {r.pair} at {r.size:,}: peak {r.peak_mb:,.0f} MB (target < 100)"
            )
        for peer in peers:
            theirs = index.get((peer, r.pair, r.size))
            if theirs is None or theirs.records_per_second is None:
                continue
            ratio = r.records_per_second / theirs.records_per_second
            compared += 1
            if ratio < TARGET_RATIO[peer]:
                misses.append(
                    f"harvester {r.pair} at {r.size:,}: {ratio:.1f}× {peer} "
                    f"(target {TARGET_RATIO[peer]:.0f}×)"
                )
    print("\nTargets (issue 2: 2× Citation.js, 10× pandoc and bibutils, < 100 MB):")
    if misses:
        print("\n".join(f"- missed: {m}" for m in misses))
    elif compared:
        print(f"- all met ({compared} ratios measured)")
    else:
        print("- no peer measured beside harvester: only the memory target was checked")


if __name__ == "__main__":
    sys.exit(main())
