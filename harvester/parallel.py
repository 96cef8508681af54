"""Convert one big file on every core: split it at record boundaries, convert the chunks
in worker processes, write their text in order.

Shipping records between processes costs as much as parsing them (pickling a 15-author
record takes ~80 µs), so workers do the whole job (read, validate, write to text) and the
parent only joins text and shifts error positions. The output is byte-identical to a
one-process run. Only formats whose record starts are unambiguous at line level take part
(``Format.record_start``); BibTeX files with ``@string`` macros or ``crossref`` fields are
read in one piece, since an entry there depends on others.
"""

from __future__ import annotations

import functools
import gc
import io
import itertools
import mmap
import os
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from harvester.formats import FORMATS, Format, Writer
from harvester.formats._input import TextInput
from harvester.model import Record, complete_models

if TYPE_CHECKING:
    from multiprocessing.pool import AsyncResult, Pool

MIN_PARALLEL_BYTES = 1 << 20
CHUNK_BYTES = 1 << 19
MIN_CHUNK_BYTES = 1 << 16
CHUNKS_PER_WORKER = 16
"""Chunks shrink for smaller files (down to ``MIN_CHUNK_BYTES``) so that each worker gets
about this many: the last chunk then leaves the other cores idle only briefly."""
_BIBTEX_CROSS_ENTRY = re.compile(rb"(?i)\bcrossref\s*=|\bxdata\s*=")


@dataclass(frozen=True)
class Chunk:
    path: Path
    start: int
    end: int
    name: str
    in_format: str
    out_format: str
    encoding: str
    options: dict[str, Any]
    first: bool
    last: bool
    prelude: str = ""


@dataclass
class ChunkResult:
    data: bytes  # the chunk's output, UTF-8: workers encode, so the parent only copies
    count: int
    newlines: int
    items: int
    summary: Any  # ConvertSummary; Any avoids an import cycle with harvester.api
    state: object = None


@dataclass
class Plan:
    chunks: list[Chunk] = field(default_factory=list)
    jobs: int = 2


def plan(opened: TextInput, in_fmt: Format, writer: Writer, jobs: int | None) -> Plan | None:
    """A chunk plan when the input is worth splitting and can be split safely, else None."""
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    path = opened.path
    if (
        workers < 2
        or path is None
        or in_fmt.record_start is None
        or opened.encoding != "utf-8"
        or opened.stats.notes
        or not path.is_file()
    ):
        return None
    size = path.stat().st_size
    if size < MIN_PARALLEL_BYTES:
        return None
    record_start = (
        _csl_item_start(opened.head) if in_fmt.name == "csl-json" else in_fmt.record_start
    )
    if record_start is None:
        return None
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if in_fmt.name == "bibtex" and _has_cross_entry(m):
            return None
        step = min(CHUNK_BYTES, max(MIN_CHUNK_BYTES, size // (workers * CHUNKS_PER_WORKER)))
        bounds = _boundaries(m, opened.offset, size, re.compile(record_start), step)
        if len(bounds) < 3:
            return None
        preludes = _preludes(m, bounds, in_fmt, opened.encoding)
    out_fmt = writer.format_name
    chunks = [
        Chunk(
            path=path,
            start=start,
            end=end,
            name=opened.name,
            in_format=in_fmt.name,
            out_format=out_fmt,
            encoding=opened.encoding,
            options=dict(writer.options),
            first=i == 0,
            last=end == size,
            prelude=preludes[i],
        )
        for i, (start, end) in enumerate(itertools.pairwise(bounds))
    ]
    return Plan(chunks=chunks, jobs=workers)


def _preludes(m: mmap.mmap, bounds: list[int], in_fmt: Format, encoding: str) -> list[str]:
    """Each chunk's prelude: what the format needs from all the text before the chunk.

    Only chunks the format's ``prelude_hint`` matches in are decoded and scanned: the
    parent does this alone before the workers start, so it must be quick.
    """
    if in_fmt.prelude is None:
        return [""] * len(bounds)
    hint = re.compile(in_fmt.prelude_hint) if in_fmt.prelude_hint is not None else None
    preludes = [""]
    for start, end in itertools.pairwise(bounds[:-1]):
        found = ""
        if hint is None or hint.search(m, start, end):
            found = in_fmt.prelude(m[start:end].decode(encoding, errors="replace"))
        preludes.append(preludes[-1] + found)
        _release(m, start, end)
    return preludes


def _release(m: mmap.mmap | bytes, start: int, end: int) -> None:
    """Drop the scanned pages of a file mapping from this process's resident memory.

    Pages of a mapped file count as the process's own memory while mapped; a scan of a
    100 MB file would otherwise leave the parent 100 MB larger until the map closes.
    They are read back from the file if touched again.
    """
    if isinstance(m, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        begin = start - start % mmap.PAGESIZE
        if end > begin:
            m.madvise(mmap.MADV_DONTNEED, begin, end - begin)


_SCAN_BLOCK = 1 << 20
_FAULT_AROUND = 1 << 16
_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


def _has_cross_entry(m: mmap.mmap | bytes) -> bool:
    """``_BIBTEX_CROSS_ENTRY.search(m)``, found with plain byte search.

    An ignore-case regex over a 100 MB file takes seconds; lower-casing blocks and
    looking for the two words takes a tenth of that, and the regex then checks each hit.
    """
    size = len(m)
    overlap = len(b"crossref") - 1
    pos = 0
    while pos < size:
        end = min(size, pos + _SCAN_BLOCK + overlap)
        block = m[pos:end].lower()
        _release(m, pos, end)
        for word in (b"crossref", b"xdata"):
            hit = block.find(word)
            while hit >= 0:
                at = pos + hit
                if (at == 0 or m[at - 1] not in _WORD_BYTES) and _BIBTEX_CROSS_ENTRY.match(m, at):
                    return True
                hit = block.find(word, hit + 1)
        pos += _SCAN_BLOCK
    return False


def _boundaries(
    m: mmap.mmap, start: int, size: int, record_start: re.Pattern[bytes], step: int
) -> list[int]:
    bounds = [start]
    pos = start + step
    while pos < size:
        line_end = m.find(b"\n", pos)
        if line_end < 0:
            break
        found = _next_record_line(m, line_end + 1, size, record_start)
        # The kernel maps pages around each one read: let them go as we move on.
        _release(m, max(start, pos - _FAULT_AROUND), min(size, (found or pos) + _FAULT_AROUND))
        if found is None:
            break
        bounds.append(found)
        pos = found + step
    bounds.append(size)
    return bounds


def _next_record_line(
    m: mmap.mmap, pos: int, size: int, record_start: re.Pattern[bytes]
) -> int | None:
    while pos < size:
        line_end = m.find(b"\n", pos)
        line = m[pos : line_end if line_end >= 0 else size]
        if record_start.match(line):
            return pos
        if line_end < 0:
            return None
        pos = line_end + 1
    return None


def run(
    plan: Plan,
    writer: Writer,
    summary: Any,
    options: dict[str, Any],
    binary_output: BinaryIO | None = None,
) -> None:
    """Convert the chunks in worker processes and write their text in order.

    With ``binary_output`` (the UTF-8 byte stream under ``writer.stream``) the chunks'
    bytes go straight to it; otherwise they are decoded and written as text.
    """
    import multiprocessing  # here: a file too small to split never pays for the import

    context = multiprocessing.get_context("fork")
    complete_models()
    # Move everything alive now (modules, pydantic's schemas) out of the collector's
    # reach: the forked workers then never touch those pages to scan them, so they stay
    # shared with the parent instead of being copied into each worker (~25 MB each).
    gc.freeze()
    _fixed_mmap_threshold()
    records_before = 0
    lines_before = 0
    separator = type(writer).item_separator.encode("utf-8")
    put = _byte_sink(writer, binary_output)
    with context.Pool(plan.jobs) as pool:
        for result in _in_order(pool, plan.chunks, window=2 * plan.jobs):
            if result.data:
                if writer.count and separator:
                    put(separator)
                put(writer.absorb(result.data, result.state))
            writer.count += result.count
            _merge(summary, result.summary, records_before, lines_before)
            records_before += result.items
            lines_before += result.newlines


def _byte_sink(writer: Writer, binary_output: BinaryIO | None) -> Callable[[bytes], object]:
    """Where the chunks' UTF-8 goes: the output's byte stream, or its text layer."""
    if binary_output is None:
        return lambda data: writer.stream.write(data.decode("utf-8"))
    writer.stream.flush()  # what the writer wrote as text goes first
    return binary_output.write


def _fixed_mmap_threshold() -> None:
    """Have glibc hand buffers over 128 kB back to the system when they are freed.

    Every chunk passes through the parent and a worker as a few 1-2 MB strings. glibc
    raises its mmap threshold after the first such buffer is freed, and from then on
    serves them from the heap, which keeps the high-water mark resident: 10-15 MB more
    peak memory at 100,000 records. Fixing the threshold (which also switches the
    raising off) keeps them in mmap. Elsewhere than glibc this does nothing.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):
        return


_M_MMAP_THRESHOLD = -3  # glibc malloc.h


def _in_order(pool: Pool, chunks: list[Chunk], *, window: int) -> Iterator[ChunkResult]:
    """The chunks' results in order, with at most ``window`` chunks in flight.

    ``Pool.imap`` hands every chunk out at once and keeps each result until the parent
    takes it; the parent shares two cores with the workers and falls behind, so results
    pile up (tens of MB at 100,000 records). A bounded window keeps the workers busy and
    the parent's memory flat.
    """
    waiting = iter(chunks)
    in_flight: deque[AsyncResult[ChunkResult]] = deque(
        pool.apply_async(_convert_chunk, (chunk,)) for chunk in itertools.islice(waiting, window)
    )
    while in_flight:
        result = in_flight.popleft().get()
        following = next(waiting, None)
        if following is not None:
            in_flight.append(pool.apply_async(_convert_chunk, (following,)))
        yield result


def _merge(summary: Any, part: Any, records_before: int, lines_before: int) -> None:
    for error in part.errors:
        error.relocate(line_offset=lines_before, record_offset=records_before)
        summary.errors.append(error)
    for warning in part.warnings:
        record = warning.record + records_before if warning.record else 0
        summary.warnings.append(
            type(warning)(warning.source, record, warning.message, warning.record_id)
        )
    for losses in part.losses:
        losses.record += records_before
        summary.losses.append(losses)
    summary.read += part.read
    summary.written += part.written


def _convert_chunk(chunk: Chunk) -> ChunkResult:
    from harvester import api

    with open(chunk.path, "rb") as handle:
        handle.seek(chunk.start)
        data = handle.read(chunk.end - chunk.start)
    text = data.decode(chunk.encoding, errors="harvester-cp1252")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    newlines = text.count("\n")
    text = chunk.prelude + text
    if chunk.in_format == "csl-json":
        text = _as_json_array(text, first=chunk.first, last=chunk.last)
    in_fmt = FORMATS[chunk.in_format]
    writer_cls = FORMATS[chunk.out_format].writer
    assert in_fmt.read is not None and writer_cls is not None
    read = in_fmt.read
    if chunk.in_format == "bibtex":
        from harvester.formats import bibtex

        # plan() splits BibTeX only when no entry has a crossref: nothing to remember.
        read = functools.partial(bibtex.read, remember=False)
    buffer = io.StringIO()
    writer = writer_cls(buffer, **chunk.options)  # no open()/close(): the parent frames
    writer.fragment_mode = True
    summary = api.ConvertSummary(to=chunk.out_format)
    counted = _Counted(api.stamp(in_fmt, read(io.StringIO(text), chunk.name), chunk.name))
    api.convert_items(counted, writer, summary, chunk.name)
    return ChunkResult(
        data=buffer.getvalue().encode("utf-8"),
        count=writer.count,
        newlines=newlines,
        items=counted.items,
        summary=summary,
        state=writer.fragment_state(),
    )


def _csl_item_start(head: str) -> bytes | None:
    """Where items start in a CSL-JSON array, judged from its layout; None if unsure.

    Two layouts are safe to split on a line prefix: one item a line (as we write it) and
    pretty-printed arrays (Zotero, citeproc-js, ``json.dumps(indent=...)``), where every
    item opens with ``{`` at one indentation and nested objects sit deeper.
    """
    lines = head.split("\n")[:-1]  # the last line of the head may be cut short
    if len(lines) < 3:
        return None
    if lines[0].strip() == "[":
        match = re.match(r"([ \t]*)\{", lines[1])
        if match is None:
            return None
        indent = match.group(1)
    elif lines[0].startswith("[{"):
        indent = ""
    else:
        return None
    if not indent and not all(
        line.startswith("{") and line.rstrip().endswith(("}", "},")) for line in lines[1:-1]
    ):
        return None  # flush-left items are only safe when each is one whole line
    return re.escape(indent.encode()) + rb"\{"


def _as_json_array(text: str, *, first: bool, last: bool) -> str:
    """Turn a run of whole array items into an array of its own (same line numbers)."""
    if not first:
        text = "[" + text
    if not last:
        text = text.rstrip().removesuffix(",") + "]"
    return text


class _Counted:
    """Counts the records and errors a chunk yields, for the next chunk's offsets."""

    def __init__(self, items: Iterator[Any]) -> None:
        self._items = items
        self.items = 0

    def __iter__(self) -> Iterator[Any]:
        for item in self._items:
            if isinstance(item, Record) or item.record is not None:
                self.items += 1
            yield item
