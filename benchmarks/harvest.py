"""Harvest benchmark: harvester (normalising + storing) against Sickle (iterating only).

A local OAI-PMH endpoint runs in its own process (pages of ``--page-size`` oai_dc records,
``--latency`` seconds of delay per request). Each contender runs as a subprocess measured
as ``convert.py`` measures (wall time; peak memory = the larger of the biggest process's
``ru_maxrss`` and the process group's summed PSS, so worker processes count):

- ``harvester harvest URL --store TMP --rate 0``: full harvest into a fresh store;
- ``harvester refresh --no-dois`` on that store with nothing changed upstream (the
  incremental OAI-PMH re-harvest; the Crossref re-check of stored DOIs is left out, as
  the synthetic records' DOIs are not real);
- Sickle iterating ``ListRecords`` and touching each record's metadata, storing nothing.

The three run back to back ``--repeat`` times (a shared machine's load hits all alike);
the best time of each is reported, and the largest memory.

Usage: ``python benchmarks/harvest.py [--records 100000] [--page-size 500] [--latency 0.02]
[--repeat 3] [--jobs N]``; results go to ``benchmarks/.work/harvest/results.json``.
(Sickle: ``pip install -e '.[bench]'``; without it that row is skipped.)
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import multiprocessing
import os
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert import Run, run_process

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work" / "harvest"
HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
    "<responseDate>2026-01-01T00:00:00Z</responseDate>"
)


def _record(i: int) -> str:
    stamp = _stamp(i)
    return (
        f"<record><header><identifier>oai:bench:{i:07d}</identifier>"
        f"<datestamp>{stamp}</datestamp><setSpec>s{i % 7}</setSpec></header><metadata>"
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:title>Benchmark record number {i}: a study of things</dc:title>"
        f"<dc:creator>Author{i % 97}, Alice</dc:creator>"
        f"<dc:creator>Writer, Bob {i % 13}</dc:creator>"
        f"<dc:creator>Smith, Carol</dc:creator>"
        "<dc:subject>Physics</dc:subject><dc:subject>Benchmarks</dc:subject>"
        f"<dc:description>Abstract of record {i}. "
        + "Words words words. "
        * 10
        + "</dc:description>"
        "<dc:publisher>Bench Press</dc:publisher>"
        f"<dc:date>{1990 + i % 30}-0{1 + i % 9}-1{i % 10}</dc:date>"
        "<dc:type>info:eu-repo/semantics/article</dc:type>"
        f"<dc:identifier>https://doi.org/10.1234/bench.{i}</dc:identifier>"
        "<dc:language>eng</dc:language>"
        "</oai_dc:dc></metadata></record>"
    )


def _stamp(i: int) -> str:
    seconds = i
    return (
        f"2020-{1 + seconds // 2_678_400 % 12:02d}-{1 + seconds // 86400 % 28:02d}T"
        f"{seconds // 3600 % 24:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"
    )


def serve(port_queue: multiprocessing.Queue[int], records: int, page: int, latency: float) -> None:
    stamps = [_stamp(i) for i in range(records)]
    ordered = all(a <= b for a, b in itertools.pairwise(stamps))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(latency)
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            verb = query.get("verb")
            if verb == "Identify":
                body = (
                    HEAD + "<Identify><repositoryName>bench</repositoryName><baseURL>x</baseURL>"
                    "<protocolVersion>2.0</protocolVersion><adminEmail>a@b.c</adminEmail>"
                    "<earliestDatestamp>2020-01-01T00:00:00Z</earliestDatestamp>"
                    "<deletedRecord>persistent</deletedRecord>"
                    "<granularity>YYYY-MM-DDThh:mm:ssZ</granularity></Identify></OAI-PMH>"
                )
            else:
                token = query.get("resumptionToken")
                start = int(token) if token else 0
                if not token and "from" in query:
                    # An index lookup, as a repository's database would do it.
                    if ordered:
                        start = bisect.bisect_left(stamps, query["from"])
                    else:
                        start = next(
                            (i for i, s in enumerate(stamps) if s >= query["from"]), records
                        )
                    if start >= records:
                        body = HEAD + '<error code="noRecordsMatch">none</error></OAI-PMH>'
                        self._send(body)
                        return
                end = min(records, start + page)
                parts = [HEAD, "<ListRecords>"]
                parts.extend(_record(i) for i in range(start, end))
                if end < records:
                    parts.append(
                        f'<resumptionToken completeListSize="{records}" cursor="{start}">'
                        f"{end}</resumptionToken>"
                    )
                parts.append("</ListRecords></OAI-PMH>")
                body = "".join(parts)
            self._send(body)

        def _send(self, body: str) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


SICKLE = """
import sys
from sickle import Sickle
count = 0
records = Sickle(sys.argv[1], max_retries=3).ListRecords(
    metadataPrefix="oai_dc", ignore_deleted=False
)
for record in records:
    count += len(record.metadata)
print(count)
"""


def _best(runs: list[Run]) -> Run:
    ok = [r for r in runs if r.status in ("ok", "partial")] or runs
    return min(ok, key=lambda r: r.seconds)


def _row(name: str, runs: list[Run], records: int | None) -> dict[str, object]:
    best = _best(runs)
    return {
        "run": name,
        "seconds": best.seconds,
        "all_seconds": [round(r.seconds, 3) for r in runs],
        "records_per_second": records / best.seconds if records else None,
        "peak_mb": max(r.peak_mb for r in runs),
        "status": best.status,
        "stderr": best.stderr_tail[-300:] if best.status not in ("ok", "partial") else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; best is kept")
    parser.add_argument("--jobs", help="harvester --jobs (default: its own default)")
    parser.add_argument("--no-sickle", action="store_true", help="time harvester only")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--json", metavar="FILE", default=str(WORK / "results.json"), help="results file"
    )
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve, args=(ports, args.records, args.page_size, args.latency), daemon=True
    )
    server.start()
    url = f"http://127.0.0.1:{ports.get(timeout=30)}/oai"
    try:
        import sickle  # noqa: F401

        have_sickle = not args.no_sickle
    except ImportError:
        sys.stderr.write("sickle is not installed (pip install -e '.[bench]'): no Sickle row\n")
        have_sickle = False
    load_before = os.getloadavg()
    harvests: list[Run] = []
    refreshes: list[Run] = []
    sickles: list[Run] = []
    jobs = ["--jobs", args.jobs] if args.jobs is not None else []
    with tempfile.TemporaryDirectory(dir=WORK) as work:
        for attempt in range(args.repeat):
            # Back to back, so both see the same load on a shared machine.
            store = str(Path(work) / f"bench{attempt}.sqlite")
            harvest_cmd = [sys.executable, "-m", "harvester", "harvest", url, "--store", store]
            harvests.append(
                run_process(
                    [*harvest_cmd, "--rate", "0", "-q", *jobs],
                    timeout=args.timeout,
                    stderr_path=Path(work) / "harvest.err",
                )
            )
            # --no-dois: the OAI half is what is compared; the generated records' DOIs are
            # fictitious and re-checking them would ask the real Crossref.
            refresh = [
                sys.executable, "-m", "harvester", "refresh", "--store", store, "--no-dois",
            ]  # fmt: skip
            refreshes.append(
                run_process(
                    [*refresh, "--rate", "0", "-q", *jobs],
                    timeout=args.timeout,
                    stderr_path=Path(work) / "refresh.err",
                )
            )
            Path(store).unlink()
            if have_sickle:
                sickles.append(
                    run_process(
                        [sys.executable, "-c", SICKLE, url],
                        timeout=args.timeout,
                        stderr_path=Path(work) / "sickle.err",
                    )
                )
            line = f"run {attempt + 1}: harvest {harvests[-1].seconds:.2f} s"
            line += f", refresh {refreshes[-1].seconds:.2f} s"
            if sickles:
                line += f", sickle {sickles[-1].seconds:.2f} s"
            print(line, flush=True)
    server.terminate()
    load_after = os.getloadavg()

    rows = [_row("harvester harvest (normalise + store)", harvests, args.records)]
    rows.append(_row("harvester refresh (no change)", refreshes, None))
    if sickles:
        rows.append(_row("Sickle 0.7 ListRecords (iterate only)", sickles, args.records))
    latency_ms = args.latency * 1000
    print(
        f"{args.records} records, pages of {args.page_size}, {latency_ms:.0f} ms per request; "
        f"best of {args.repeat}; load {load_before[0]:.2f} -> {load_after[0]:.2f}"
    )
    print(f"{'run':<42}{'seconds':>9}{'records/s':>11}{'peak MB':>9}")
    for row in rows:
        rate = row["records_per_second"]
        shown = f"{rate:>11.0f}" if isinstance(rate, float) else f"{'-':>11}"
        print(f"{row['run']:<42}{row['seconds']:>9.2f}{shown}{row['peak_mb']:>9.1f}")
        if row["stderr"]:
            print(f"  {row['status']}: {row['stderr']}")
    harvest_s = float(rows[0]["seconds"])  # type: ignore[arg-type]
    share = float(rows[1]["seconds"]) / harvest_s  # type: ignore[arg-type]
    summary: dict[str, object] = {"refresh_share": share}
    print(f"no-change refresh / full harvest: {share:.1%} (target < 5%)")
    if sickles:
        ratio = float(rows[2]["seconds"]) / harvest_s  # type: ignore[arg-type]
        summary["ratio_vs_sickle"] = ratio
        print(f"harvester / Sickle records per second: {ratio:.2f}x (target >= 1)")
    Path(args.json).write_text(
        json.dumps(
            {
                "records": args.records,
                "page_size": args.page_size,
                "latency": args.latency,
                "repeat": args.repeat,
                "load": [load_before[0], load_after[0]],
                "rows": rows,
                **summary,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
