"""Benchmark ``territory run`` against the naive geopandas + folium script.

Cases: ``territory run`` for all of France and for département 44; when ../shared/realdata is
there, ``territory run`` for France with every registry layer (national antennas, OSM
datacenters, Montpellier street lights and cameras, Paris antennas and cameras) and ``territory
map --departement 44`` with the same registries (the map budgets); and
``benchmarks/naive_geopandas_folium.py`` (one indicator, no simplification) for France and 44. Each case runs as a fresh subprocess under ``/usr/bin/time`` (or a small Python
wrapper when it is missing), which gives its wall time, its CPU time (user + system, less
sensitive than wall time to other work on the machine) and its peak resident set size
(``ru_maxrss`` of that child alone: the largest RSS of the process or of any process it waited
for, not a sum). Then the sizes of the GeoPackage and of map.html are read, and map.html is
opened in headless Chromium (Playwright, ``/usr/bin/chromium``) with every non-``file:`` request
aborted: the draw time is from ``goto`` to the ``load`` event plus two ``requestAnimationFrame``
callbacks (Leaflet's canvas renderer paints on the next frame).

Usage::

    python3 benchmarks/run_benchmarks.py [--markdown] [--repeat 3] [--repeat-naive-national 1]

Not a test: it prints a table of medians and, for the national territory run, the step timings
from its manifest.json. Figures are published in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NAIVE = ROOT / "benchmarks" / "naive_geopandas_folium.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]
#: stand-in for d3 3.5.5 (only folium's colour legend uses it, and the legend script runs before
#: the choropleth is added to the map): every property and call returns itself, so the legend is
#: not drawn but the script goes on to the polygons
D3_STUB = (
    "(function(){var p;var f=function(){return p;};p=new Proxy(f,{get:function(t,k){"
    "if(k===Symbol.toPrimitive){return function(){return 0;};}return p;},"
    "apply:function(){return p;}});window.d3=p;})();"
)


#: local copies served for the naive map's CDN URLs in the "Leaflet served from disk" measurement
#: (Leaflet 1.9.3 vendored in territory/static/vendor/leaflet, which territory inlines, Debian's
#: jQuery, the d3 stub above); every other request (Bootstrap, Font Awesome, awesome-markers,
#: tiles) is still aborted
def _local_assets() -> dict[str, Path | str]:
    assets: dict[str, Path | str] = {"/ajax/libs/d3/3.5.5/d3.min.js": D3_STUB}
    static = Path(__file__).resolve().parent.parent / "territory" / "static" / "vendor" / "leaflet"
    assets["/npm/leaflet@1.9.3/dist/leaflet.js"] = static / "leaflet.js"
    assets["/npm/leaflet@1.9.3/dist/leaflet.css"] = static / "leaflet.css"
    jquery = Path("/usr/share/javascript/jquery/jquery.min.js")
    if jquery.is_file():
        assets["code.jquery.com/jquery-"] = jquery
    return {k: v for k, v in assets.items() if isinstance(v, str) or v.is_file()}


#: longest a page may take to load before the measurement is given up
BROWSER_TIMEOUT_S = 300

#: Python wrapper used when /usr/bin/time is missing: runs argv, writes
#: "wall_s maxrss_kb user_s system_s" like ``/usr/bin/time -f '%e %M %U %S'``
_WRAPPER = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as fh:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    fh.write(f"{wall:.3f} {ru.ru_maxrss} {ru.ru_utime:.2f} {ru.ru_stime:.2f}\\n")
sys.exit(rc)
"""


@dataclass
class Case:
    name: str
    argv: list[str]  # "{out}" is replaced by the output folder
    repeat: int
    territory: bool
    #: the map the case writes, relative to the output folder
    html: str = "map.html"


@dataclass
class Sample:
    wall_s: float
    peak_rss_mb: float
    cpu_s: float
    gpkg_mb: float | None
    html_mb: float | None
    browser: dict[str, Any] | None
    step_timings: dict[str, float] = field(default_factory=dict)
    #: second load of a page that did not render offline, with its CDN Leaflet served from disk
    browser_local: dict[str, Any] | None = None
    #: 1-minute load average just before the run (other work on the machine skews wall times)
    load_before: float | None = None


#: the real registries of ../shared/realdata (when present) for the "every layer" cases
REALDATA = ROOT.parent / "shared" / "realdata"
REGISTRIES = (
    ("antennas", "anfr/2018_01_Sites_mobiles_2G_3G_4G_France_metropolitaine_L93.csv"),
    ("antennas", "anfr/paris_antennes_relais.csv"),
    ("datacenters", "datacenters/datacenters_osm.geojson"),
    ("streetlights", "city-infra/VilleMTP_MTP_EclairagePublic.zip"),
    ("cameras", "city-infra/VilleMTP_MTP_CameraSurv.geojson"),
    ("cameras", "city-infra/paris_videoprotection_data.csv"),
)


def territory_command() -> list[str]:
    exe = shutil.which("territory")
    return [exe] if exe else [sys.executable, "-m", "territory.cli"]


#: the scenario case: all of France with every shipped scenario (issue: at most +50 % of the
#: baseline run's time)
SCENARIOS = ("sobriety", "longer-life", "refurbished", "fibre-and-switch-off", "low-carbon-hours",
             "combined")
SCENARIO_CASE = "territory, France, every shipped scenario"


def cases(repeat: int, repeat_naive_national: int) -> list[Case]:
    territory = territory_command()
    naive = [sys.executable, str(NAIVE), "--out", "{out}"]
    registries = []
    if REALDATA.is_dir():
        registries = [f"--source={kind}={REALDATA / path}" for kind, path in REGISTRIES]
    every_layer = []
    if registries:
        every_layer = [
            Case("territory, France, every registry layer", [*territory, "run", "--out", "{out}",
                 "--quiet", *registries], repeat, True),
            Case("territory map --departement 44, every registry layer",
                 [*territory, "map", "--out", "{out}", "--quiet", "--departement", "44", *registries],
                 repeat, True, "maps/map-44.html"),
        ]
    return [
        Case("territory, France", [*territory, "run", "--out", "{out}", "--quiet"], repeat, True),
        Case(SCENARIO_CASE, [*territory, "run", "--out", "{out}", "--quiet",
                             *(f"--scenario={name}" for name in SCENARIOS)], repeat, True),
        Case("territory, 44",
             [*territory, "run", "--out", "{out}", "--quiet", "--departement", "44"], repeat, True),
        *every_layer,
        Case("naive geopandas+folium, France", naive, repeat_naive_national, False),
        Case("naive geopandas+folium, 44", [*naive, "--departement", "44"], repeat, False),
    ]


def run_measured(argv: list[str], scratch: Path) -> tuple[float, float, float, int, str]:
    """Run ``argv`` in its own process; return wall s, peak RSS MiB, CPU s (user + system),
    exit code and the tail of its stderr."""
    report = scratch / "time.txt"
    if Path("/usr/bin/time").is_file():
        wrapped = ["/usr/bin/time", "-f", "%e %M %U %S", "-o", str(report), *argv]
    else:
        wrapped = [sys.executable, "-c", _WRAPPER, str(report), *argv]
    t0 = time.perf_counter()
    proc = subprocess.run(wrapped, capture_output=True, text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - t0
    lines = [ln for ln in report.read_text().splitlines() if ln.strip()] if report.exists() else []
    # GNU time prefixes "Command exited with non-zero status N" when the command fails
    fields = lines[-1].split() if lines else ["nan"] * 4
    maxrss_kb, cpu = float(fields[1]), float(fields[2]) + float(fields[3])
    return wall, maxrss_kb / 1024, cpu, proc.returncode, proc.stderr[-2000:]


def size_mb(path: Path) -> float | None:
    return path.stat().st_size / 1e6 if path.is_file() else None


_PAGE_STATE = """() => {
  const pane = document.querySelector('.leaflet-overlay-pane');
  return {
    leaflet_loaded: typeof window.L !== 'undefined',
    canvases: pane ? pane.querySelectorAll('canvas').length : 0,
    svg_paths: pane ? pane.querySelectorAll('path').length : 0,
  };
}"""
_TWO_FRAMES = (
    "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"
)


class Browser:
    """Headless Chromium through Playwright; one fresh context per measurement."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                 headless=True)

    def close(self) -> None:
        self._browser.close()
        self._pw.stop()

    def draw(self, html: Path, serve_local: dict[str, Path | str] | None = None) -> dict[str, Any]:
        """Load ``html``; ``serve_local`` maps URL substrings to a file (or script text) served
        instead of aborting the request."""
        context = self._browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        aborted: list[str] = []
        served: list[str] = []
        errors: list[str] = []

        def route(r: Any) -> None:
            url = r.request.url
            local = next((f for k, f in (serve_local or {}).items() if k in url), None)
            if url.startswith("file:"):
                r.continue_()
            elif local is not None:
                served.append(url)
                if isinstance(local, str):
                    r.fulfill(body=local, content_type="application/javascript")
                else:
                    r.fulfill(path=str(local))
            else:
                aborted.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda e: errors.append(str(e).splitlines()[0][:200]))
        result: dict[str, Any] = {}
        try:
            t0 = time.perf_counter()
            page.goto(html.resolve().as_uri(), wait_until="load",
                      timeout=BROWSER_TIMEOUT_S * 1000)
            page.evaluate(_TWO_FRAMES)
            result["draw_s"] = time.perf_counter() - t0
            result.update(page.evaluate(_PAGE_STATE))
        except Exception as error:  # noqa: BLE001 - a crash or timeout is a result too
            result["draw_s"] = None
            result["failure"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        finally:
            context.close()
        result["aborted_requests"] = len(aborted)
        result["served_locally"] = len(served)
        result["page_errors"] = errors[:3]
        result["rendered"] = bool(result.get("leaflet_loaded")) and (
            result.get("canvases", 0) > 0 or result.get("svg_paths", 0) > 0)
        return result


def run_case(case: Case, browser: Browser, log: Any) -> list[Sample]:
    samples = []
    for i in range(case.repeat):
        with tempfile.TemporaryDirectory(prefix="territory-bench-") as tmp:
            scratch = Path(tmp)
            out = scratch / "out"
            argv = [a.replace("{out}", str(out)) for a in case.argv]
            load_before = os.getloadavg()[0]
            wall, rss, cpu, rc, stderr = run_measured(argv, scratch)
            if rc != 0:
                msg = f"{case.name}: exit status {rc}\n{stderr}"
                raise SystemExit(msg)
            html = out / case.html
            steps = {}
            if case.territory and (out / "manifest.json").is_file():
                steps = json.loads((out / "manifest.json").read_text())["step_timings_s"]
            draw = browser.draw(html) if html.is_file() else None
            draw_local = None
            if draw is not None and not draw["rendered"]:
                draw_local = browser.draw(html, serve_local=_local_assets())
            sample = Sample(wall, rss, cpu, size_mb(out / "territory.gpkg"), size_mb(html), draw,
                            steps, draw_local, load_before)
            samples.append(sample)
            print(f"  {case.name} #{i + 1}: load {load_before:.2f}, {wall:.1f} s wall, "
                  f"{cpu:.1f} s CPU, {rss:.0f} MiB, "
                  f"draw {_fmt(draw and draw.get('draw_s'), 2)} s, "
                  f"rendered={draw and draw['rendered']}, "
                  f"aborted requests={draw and draw['aborted_requests']}", file=log, flush=True)
            if draw_local is not None:
                print(f"    with Leaflet served from disk: "
                      f"draw {_fmt(draw_local.get('draw_s'), 2)} s, "
                      f"rendered={draw_local['rendered']}, "
                      f"svg paths={draw_local.get('svg_paths')}, "
                      f"errors={draw_local['page_errors']}, failure={draw_local.get('failure')}",
                      file=log, flush=True)
    return samples


def _median(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return statistics.median(kept) if kept else None


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def summarise(case: Case, samples: list[Sample]) -> dict[str, Any]:
    draws = [s.browser for s in samples if s.browser]
    locals_ = [s.browser_local for s in samples if s.browser_local]
    return {
        "case": case.name,
        "runs": len(samples),
        "wall_s": _median([s.wall_s for s in samples]),
        "wall_min_s": min(s.wall_s for s in samples),
        "cpu_s": _median([s.cpu_s for s in samples]),
        "peak_rss_mb": _median([s.peak_rss_mb for s in samples]),
        "gpkg_mb": _median([s.gpkg_mb for s in samples]),
        "html_mb": _median([s.html_mb for s in samples]),
        "draw_s": _median([d.get("draw_s") for d in draws]),
        "rendered": all(d["rendered"] for d in draws) if draws else None,
        "aborted_requests": max((d["aborted_requests"] for d in draws), default=0),
        "failures": sorted({d["failure"] for d in draws if d.get("failure")}),
        "page_errors": sorted({e for d in draws for e in d["page_errors"]}),
        "draw_local_s": _median([d.get("draw_s") for d in locals_]) if locals_ else None,
        "rendered_local": all(d["rendered"] for d in locals_) if locals_ else None,
        "local_failures": sorted({d["failure"] for d in locals_ if d.get("failure")}),
        "local_page_errors": sorted({e for d in locals_ for e in d["page_errors"]}),
    }


#: sizes in MB are 10^6 bytes; the peak RSS is in MiB (ru_maxrss is in KiB)
HEADERS = ["case", "runs", "wall s", "wall s (min)", "CPU s", "peak RSS MiB", "gpkg MB", "html MB",
           "browser draw s", "map drawn offline", "draw s, CDN Leaflet from disk"]


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        drawn = "–" if r["rendered"] is None else ("yes" if r["rendered"] else
                                                  f"no ({r['aborted_requests']} requests aborted)")
        if r["rendered_local"] is None:
            local = "n/a"
        elif r["draw_local_s"] is None:
            local = "failed"
        else:
            local = _fmt(r["draw_local_s"], 2) + ("" if r["rendered_local"] else " (not drawn)")
        out.append([r["case"], str(r["runs"]), _fmt(r["wall_s"]), _fmt(r["wall_min_s"]),
                    _fmt(r["cpu_s"]), _fmt(r["peak_rss_mb"], 0),
                    _fmt(r["gpkg_mb"]), _fmt(r["html_mb"]), _fmt(r["draw_s"], 2), drawn,
                    local])
    return out


def print_table(headers: list[str], rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(headers) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for row in rows:
        cells = (c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        print("  ".join(cells))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem_gb:.1f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}; "
            f"load average at start: {load}; {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per case (median reported), default 3")
    parser.add_argument("--repeat-naive-national", type=int, default=1,
                        help="runs of the slow naive national case, default 1")
    parser.add_argument("--markdown", action="store_true", help="print tables as markdown")
    parser.add_argument("--case", action="append", default=[], metavar="SUBSTRING",
                        help="only the cases whose name contains this (repeatable)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write raw results as JSON")
    args = parser.parse_args()

    selected = [c for c in cases(args.repeat, args.repeat_naive_national)
                if not args.case or any(s in c.name for s in args.case)]
    header = machine()
    print(f"machine: {header}", file=sys.stderr, flush=True)
    browser = Browser()
    results: list[dict[str, Any]] = []
    national_steps: list[dict[str, float]] = []
    raw: dict[str, Any] = {"machine": header, "cases": {}}
    try:
        for case in selected:
            samples = run_case(case, browser, sys.stderr)
            results.append(summarise(case, samples))
            raw["cases"][case.name] = [s.__dict__ for s in samples]
            if case.name == "territory, France":
                national_steps = [s.step_timings for s in samples]
    finally:
        browser.close()

    print(f"Machine: {header}\n")
    print_table(HEADERS, table_rows(results), args.markdown)
    print()
    for r in results:
        notes = []
        if r["rendered"] is False:
            notes.append(f"with no network ({r['aborted_requests']} CDN/tile requests aborted) the "
                         "map does not render: Leaflet itself comes from a CDN; the draw time "
                         "above is only the time to parse the page and its inline GeoJSON")
        if r["rendered_local"] is not None:
            notes.append("second load with the CDN's Leaflet 1.9.3 and jQuery served from local "
                         "copies and d3 (colour legend only) replaced by a no-op stub, other CDN "
                         "requests and tiles still aborted: "
                         + ("drawn" if r["rendered_local"] else "still not drawn")
                         + f" in {_fmt(r['draw_local_s'], 2)} s"
                         + (f"; page errors: {'; '.join(r['local_page_errors'])}"
                            if r["local_page_errors"] else "")
                         + (f"; {'; '.join(r['local_failures'])}" if r["local_failures"] else ""))
        if r["failures"]:
            notes.append("browser: " + "; ".join(r["failures"]))
        if r["page_errors"]:
            notes.append("page errors: " + "; ".join(r["page_errors"]))
        for note in notes:
            print(f"- {r['case']}: {note}")
    by_name = {r["case"]: r for r in results}
    if SCENARIO_CASE in by_name and "territory, France" in by_name:
        base, scen = by_name["territory, France"], by_name[SCENARIO_CASE]
        if base.get("wall_s") and scen.get("wall_s"):
            print(f"\nScenario run: {scen['wall_s']:.1f} s against {base['wall_s']:.1f} s for the "
                  f"same run without scenarios: +{(scen['wall_s'] / base['wall_s'] - 1) * 100:.0f} % "
                  "(target: at most +50 %)")
    if national_steps:
        print("\nStep timings of `territory run` (all of France), median of "
              f"{len(national_steps)} run(s), from manifest.json `step_timings_s`:\n")
        names = list(national_steps[0])
        rows = [[n, _fmt(_median([s.get(n) for s in national_steps]), 2)] for n in names]
        print_table(["step", "s"], rows, args.markdown)
    if args.json:
        steps_median = {n: _median([s.get(n) for s in national_steps])
                        for n in (national_steps[0] if national_steps else [])}
        raw.update(summary=results, national_steps_median=steps_median)
        args.json.write_text(json.dumps(raw, indent=2, default=str))


if __name__ == "__main__":
    main()
