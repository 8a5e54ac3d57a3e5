"""Benchmark what a nightly job costs: a first run, an unchanged re-run, a re-run after one input
changed, and fetching a source (first download, then a conditional re-fetch).

Side by side with what an operator would otherwise do: re-run everything every night (the
first-run figure) and download with ``urllib.request.urlretrieve`` every night (no cache, no
checks). Every case runs as a fresh subprocess; wall time is the median of ``--repeat`` runs,
peak memory is the child's ``ru_maxrss``. Fetching uses a loopback HTTP server started here
(``http.server`` in a thread, with ETag / Last-Modified) serving the national antennas file of
``../shared/realdata`` when it is there, else a generated 20 MB CSV.

Usage::

    python3 benchmarks/scheduled_runs.py [--departement 44] [--repeat 5]

Not a test: it prints a markdown table; figures are published in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email.utils import formatdate
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANTENNAS = (ROOT.parent / "shared" / "realdata" / "anfr"
            / "2018_01_Sites_mobiles_2G_3G_4G_France_metropolitaine_L93.csv")
TERRITORY = [sys.executable, "-m", "territory.cli"]


def measured(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak MiB (``ru_maxrss`` of that child, from wait4) of one subprocess,
    which must succeed."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors,
                                env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            errors.seek(0)
            sys.exit(f"{' '.join(argv)} failed: {errors.read().decode()[-500:]}")
    return wall, usage.ru_maxrss / 1024


def _serve(path: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    body = path.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    modified = formatdate(path.stat().st_mtime, usegmt=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/{path.name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--departement", action="append", default=[],
                        help="run these départements only (default: all of France)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    extent = [a for code in args.departement for a in ("--departement", code)]
    rows: list[tuple[str, float, float, str]] = []
    scratch = Path(tempfile.mkdtemp(prefix="territory-bench-"))
    try:
        out = scratch / "out"
        sample = scratch / "cameras.csv"
        shutil.copyfile(ROOT / "tests" / "fixtures" / "map" / "cameras_44.csv", sample)
        run = [*TERRITORY, "run", *extent, "--out", str(out), "--quiet",
               "--source", f"cameras={sample}"]
        firsts = [measured([*run, "--force"]) for _ in range(max(1, args.repeat // 2))]
        rows.append(("first run (what a job without a cache does every night)",
                     statistics.median(w for w, _ in firsts), max(m for _, m in firsts), ""))
        again = [measured(run) for _ in range(args.repeat)]
        rows.append(("re-run, nothing changed: up to date",
                     statistics.median(w for w, _ in again), max(m for _, m in again),
                     f"{min(w for w, _ in again):.2f}–{max(w for w, _ in again):.2f} s"))
        changed = []
        for i in range(max(1, args.repeat // 2)):
            with sample.open("a", encoding="utf-8") as handle:
                handle.write(f"44000;{900 + i};Rue;croisement;08/07/16;-1.55;47.21\n")
            changed.append(measured(run))
        rows.append(("re-run, one input changed: full rebuild",
                     statistics.median(w for w, _ in changed), max(m for _, m in changed), ""))

        source = ANTENNAS if ANTENNAS.is_file() else scratch / "generated.csv"
        if not ANTENNAS.is_file():
            line = "id;x;y;operator;technology\n" + "1;651000;6860000;Orange;4G\n" * 700_000
            source.write_text(line, encoding="utf-8")
        server, url = _serve(source)
        config = scratch / "fetch.toml"
        config.write_text(f'[sources.antennes]\nkind = "antennas"\nurl = "{url}"\n',
                          encoding="utf-8")
        cache = {"TERRITORY_CACHE": str(scratch / "cache")}
        size = source.stat().st_size / 2**20
        first = [measured([*TERRITORY, "fetch", "--config", str(config)],
                          {"TERRITORY_CACHE": str(scratch / f"cache-{i}")})
                 for i in range(args.repeat)]
        rows.append((f"territory fetch, first download ({size:.1f} MB, loopback)",
                     statistics.median(w for w, _ in first), max(m for _, m in first),
                     "checked: length, format, sha256; atomic rename"))
        measured([*TERRITORY, "fetch", "--config", str(config)], cache)
        refetch = [measured([*TERRITORY, "fetch", "--config", str(config)], cache)
                   for _ in range(args.repeat)]
        rows.append(("territory fetch again: 304 Not Modified, copy kept",
                     statistics.median(w for w, _ in refetch), max(m for _, m in refetch), ""))
        naive = [measured([sys.executable, "-c", ("import sys, urllib.request; "
                           "urllib.request.urlretrieve(sys.argv[1], sys.argv[2])"),
                           url, str(scratch / "naive.csv")]) for _ in range(args.repeat)]
        rows.append(("urllib.request.urlretrieve every night (no check, no cache)",
                     statistics.median(w for w, _ in naive), max(m for _, m in naive), ""))
        server.shutdown()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"extent: {', '.join(args.departement) or 'France'}; median of {args.repeat} runs\n")
    print("| case | wall s | peak MiB | note |\n|---|---:|---:|---|")
    for name, wall, peak, note in rows:
        print(f"| {name} | {wall:.2f} | {peak:.0f} | {note} |")


if __name__ == "__main__":
    main()
