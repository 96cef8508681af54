"""Fetch benchmark: ``harvester fetch`` of N DOIs against a rate-limited local Crossref.

A local server (its own process, one thread per connection, loopback) plays Crossref:
``/works/{doi}`` answers a recorded work (``fixtures/http/crossref/seed.body`` with the
DOI changed, so every answer is a real-shaped Crossref JSON of ~10 kB), ``/works/{doi}/
agency`` answers "crossref". Every answer waits ``--latency`` seconds (default 50 ms) and
carries ``x-rate-limit-limit: 50`` / ``x-rate-limit-interval: 1s``; a request that would
make more than ``--limit`` requests within one second is refused with 429, as Crossref
does. harvester starts at Crossref's default of 5/s and must learn the 50/s from the
headers.

Contenders, each a whole process measured on its own (wall time, peak RSS from
``wait4``):

- ``harvester fetch -i dois.txt --to jsonl -o out.jsonl`` (the crossref URL pointed at the
  server by ``HARVESTER_CROSSREF_URL``), at each of ``--sizes`` (flat memory: the peak
  should not grow with N);
- a one-at-a-time loop: ``httpx.Client`` GET + ``json.loads`` per DOI, sequentially (what
  a simple script does; it never meets the limit, it is just slow).

The ideal is ``N / limit`` seconds (2,000 / 50 = 40 s). Results go to
``benchmarks/.work/results/fetch.json``.

Usage: ``python benchmarks/fetch.py [--sizes 500 2000] [--latency 0.05] [--limit 50]
[--sequential N]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work" / "fetch"
RESULTS = ROOT / "benchmarks" / ".work" / "results" / "fetch.json"
FIXTURE = ROOT / "fixtures" / "http" / "crossref" / "seed.body"
AGENCY = ROOT / "fixtures" / "http" / "crossref" / "agency-crossref.body"
PREFIX = "10.3892"


def dois(n: int) -> list[str]:
    return [f"{PREFIX}/bench.{i:05d}" for i in range(n)]


class _State:
    """What the server saw: every request's arrival time, 429s, connections at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lock = threading.Lock()
        self.recent: deque[float] = deque()
        self.arrivals: list[float] = []
        self.refused = 0
        self.active = 0
        self.peak_active = 0

    def admit(self) -> bool:
        """Count a request; False when it would exceed ``limit`` in the last second."""
        with self.lock:
            now = time.monotonic()
            self.arrivals.append(now)
            while self.recent and self.recent[0] <= now - 1.0:
                self.recent.popleft()
            if len(self.recent) >= self.limit:
                self.refused += 1
                return False
            self.recent.append(now)
            return True

    def stats(self) -> dict[str, Any]:
        with self.lock:
            arrivals = sorted(self.arrivals)
        busiest = 0
        start = 0
        for end, t in enumerate(arrivals):
            while arrivals[start] <= t - 1.0:
                start += 1
            busiest = max(busiest, end - start + 1)
        return {
            "requests": len(arrivals),
            "refused_429": self.refused,
            "busiest_1s_window": busiest,
            "peak_connections_busy": self.peak_active,
        }

    def reset(self) -> None:
        with self.lock:
            self.recent.clear()
            self.arrivals.clear()
            self.refused = 0
            self.peak_active = 0


def _serve(conn: Connection, latency: float, limit: int) -> None:
    template = FIXTURE.read_bytes()
    seed_doi = json.loads(template)["message"]["DOI"].encode()
    agency = AGENCY.read_bytes()
    agency_doi = json.loads(agency)["message"]["DOI"].encode()
    state = _State(limit)
    rate_headers = {"x-rate-limit-limit": str(limit), "x-rate-limit-interval": "1s"}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body are two writes: without this, Nagle's algorithm and the
            # client's delayed ACK add ~40 ms to every keep-alive response.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for key, value in {**rate_headers, **(extra or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            if path == "/_stats":
                self._send(200, json.dumps(state.stats()).encode())
                return
            if path == "/_arrivals":
                with state.lock:
                    self._send(200, json.dumps(state.arrivals).encode())
                return
            if path == "/_reset":
                state.reset()
                self._send(200, b"{}")
                return
            with state.lock:
                state.active += 1
                state.peak_active = max(state.peak_active, state.active)
            try:
                admitted = state.admit()
                time.sleep(latency)
                if not admitted:
                    self._send(429, b'{"status":"error"}', {"Retry-After": "1"})
                elif path.startswith("/works/") and path.endswith("/agency"):
                    doi = path[len("/works/") : -len("/agency")].encode()
                    self._send(200, agency.replace(agency_doi, doi))
                elif path.startswith("/works/"):
                    doi = path[len("/works/") :].encode()
                    self._send(200, template.replace(seed_doi, doi))
                else:
                    self._send(404, b"Resource not found.")
            finally:
                with state.lock:
                    state.active -= 1

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    conn.send(server.server_address[1])
    server.serve_forever()


def _get(url: str) -> dict[str, Any]:
    import httpx

    data: dict[str, Any] = httpx.get(url, timeout=10).json()
    return data


def run_measured(argv: list[str], env: dict[str, str], timeout: float) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (MB) and exit code of one child process (killed at timeout)."""
    log = WORK / "stderr.txt"
    with log.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    if lines:
        print(f"    ({len(lines)} stderr line(s)) {lines[-1]}")
    return wall, usage.ru_maxrss // 1024, proc.returncode


_SEQUENTIAL = """
import json, sys, httpx
base, path = sys.argv[1], sys.argv[2]
ok = 0
with httpx.Client(timeout=30) as client, open(path) as handle:
    for line in handle:
        response = client.get(f"{base}/works/{line.strip()}")
        if response.status_code == 200:
            json.loads(response.content)
            ok += 1
print(ok)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument(
        "--sequential",
        type=int,
        default=None,
        metavar="N",
        help="DOIs for the one-at-a-time loop (default: the largest size; 0 skips it)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds before a run is killed (default 900)"
    )
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=_serve, args=(child, args.latency, args.limit), daemon=True
    )
    server.start()
    port = parent.recv()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HARVESTER_CROSSREF_URL": base,
        "HARVESTER_MAILTO": "bench@example.org",
        "HOME": str(WORK),  # no user config file
    }
    results: dict[str, Any] = {
        "latency_s": args.latency,
        "limit_per_s": args.limit,
        "load_before": os.getloadavg(),
        "runs": [],
    }
    try:
        for n in args.sizes:
            listing = WORK / f"dois-{n}.txt"
            listing.write_text("\n".join(dois(n)) + "\n", encoding="utf-8")
            out = WORK / f"out-{n}.jsonl"
            _get(f"{base}/_reset")
            time.sleep(1.1)  # let the previous run's second drain
            argv = [sys.executable, "-m", "harvester", "fetch", "-i", str(listing)]
            argv += ["--to", "jsonl", "-o", str(out), "-q"]
            print(f"harvester fetch, {n} DOIs ...", flush=True)
            wall, rss, code = run_measured(argv, env, args.timeout)
            stats = _get(f"{base}/_stats")
            written = sum(1 for _ in out.open(encoding="utf-8")) if out.exists() else 0
            ideal = n / args.limit
            run = {
                "tool": "harvester",
                "targets": n,
                "exit_code": code,
                "records_written": written,
                "wall_s": round(wall, 2),
                "ideal_s": round(ideal, 2),
                "vs_ideal": round(wall / ideal, 3),
                "within_10pct": wall <= ideal * 1.10,
                "peak_rss_mb": rss,
                **stats,
            }
            results["runs"].append(run)
            print(f"   {json.dumps(run)}", flush=True)
        n_seq = max(args.sizes) if args.sequential is None else args.sequential
        if n_seq:
            listing = WORK / f"dois-{n_seq}.txt"
            listing.write_text("\n".join(dois(n_seq)) + "\n", encoding="utf-8")
            _get(f"{base}/_reset")
            time.sleep(1.1)
            print(f"one-at-a-time httpx loop, {n_seq} DOIs ...", flush=True)
            argv = [sys.executable, "-c", _SEQUENTIAL, base, str(listing)]
            wall, rss, code = run_measured(argv, env, args.timeout)
            run = {
                "tool": "sequential-httpx",
                "targets": n_seq,
                "exit_code": code,
                "wall_s": round(wall, 2),
                "ideal_s": round(n_seq / args.limit, 2),
                "vs_ideal": round(wall / (n_seq / args.limit), 3),
                "peak_rss_mb": rss,
                **_get(f"{base}/_stats"),
            }
            results["runs"].append(run)
            print(f"   {json.dumps(run)}", flush=True)
    finally:
        server.terminate()
        server.join(5)
    results["load_after"] = os.getloadavg()
    ours = [r for r in results["runs"] if r["tool"] == "harvester"]
    seq = [r for r in results["runs"] if r["tool"] == "sequential-httpx"]
    if ours and seq:
        big = max(ours, key=lambda r: r["targets"])
        per_target = seq[0]["wall_s"] / seq[0]["targets"]
        results["speedup_vs_sequential"] = round(per_target * big["targets"] / big["wall_s"], 2)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results: {RESULTS.relative_to(ROOT)}")
    _table(results)
    return 0


def _table(results: dict[str, Any]) -> None:
    print("\n| run | targets | wall s | ideal s | vs ideal | 429s | busiest 1 s | peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results["runs"]:
        print(
            f"| {r['tool']} | {r['targets']} | {r['wall_s']} | {r['ideal_s']} | "
            f"{r['vs_ideal']} | {r['refused_429']} | {r['busiest_1s_window']} | "
            f"{r['peak_rss_mb']} |"
        )


if __name__ == "__main__":
    sys.exit(main())
