"""Harvest benchmark: harvester (normalising + storing) against Sickle (iterating only).

A local OAI-PMH endpoint runs in its own process (pages of ``--page-size`` oai_dc records,
``--latency`` seconds of delay per request). Each contender runs as a subprocess, so its
wall time and peak RSS (``ru_maxrss`` of that child) are its own:

- ``harvester harvest URL --store TMP --rate 0``: full harvest into a fresh store;
- ``harvester refresh`` on that store with nothing changed upstream (incremental);
- Sickle iterating ``ListRecords`` and touching each record's metadata, storing nothing.

Usage: ``python benchmarks/harvest.py [--records 100000] [--page-size 500] [--latency 0.02]``
(Sickle: ``pip install sickle``; without it that row is skipped.)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
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
                    start = next((i for i, s in enumerate(stamps) if s >= query["from"]), records)
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


def timed(command: list[str]) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, exit code) of one child process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.stderr.write(process.stderr.read().decode() if process.stderr else "")
    return elapsed, usage.ru_maxrss / 1024, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()

    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve, args=(ports, args.records, args.page_size, args.latency), daemon=True
    )
    server.start()
    url = f"http://127.0.0.1:{ports.get(timeout=30)}/oai"
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as work:
        store = str(Path(work) / "bench.sqlite")
        harvest_cmd = [sys.executable, "-m", "harvester", "harvest", url, "--store", store]
        seconds, peak, code = timed([*harvest_cmd, "--rate", "0", "-q"])
        rows.append(
            {
                "run": "harvester harvest (normalise + store)",
                "seconds": seconds,
                "peak_mb": peak,
                "exit": code,
            }
        )
        refresh = [
            sys.executable,
            "-m",
            "harvester",
            "refresh",
            "--store",
            store,
            "--rate",
            "0",
            "-q",
        ]
        r_seconds, r_peak, r_code = timed(refresh)
        rows.append(
            {
                "run": "harvester refresh (no change)",
                "seconds": r_seconds,
                "peak_mb": r_peak,
                "exit": r_code,
            }
        )
        try:
            import sickle  # noqa: F401

            s_seconds, s_peak, s_code = timed([sys.executable, "-c", SICKLE, url])
            rows.append(
                {
                    "run": "Sickle 0.7 ListRecords (iterate only)",
                    "seconds": s_seconds,
                    "peak_mb": s_peak,
                    "exit": s_code,
                }
            )
        except ImportError:
            sys.stderr.write("sickle is not installed: its row is skipped\n")
    server.terminate()

    latency_ms = args.latency * 1000
    print(f"{args.records} records, pages of {args.page_size}, {latency_ms:.0f} ms per request")
    print(f"{'run':<42}{'seconds':>9}{'records/s':>11}{'peak MB':>9}")
    for row in rows:
        rate = (
            args.records / float(row["seconds"])
            if "refresh" not in str(row["run"])
            else float("nan")
        )  # type: ignore[arg-type]
        print(f"{row['run']:<42}{row['seconds']:>9.2f}{rate:>11.0f}{row['peak_mb']:>9.1f}")
    share = float(rows[1]["seconds"]) / float(rows[0]["seconds"])  # type: ignore[arg-type]
    print(f"no-change refresh / full harvest: {share:.1%}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
