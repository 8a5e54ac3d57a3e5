"""``hourly.csv``: use-phase electricity and emissions by month x local hour per territory.

Columns: ``level, code_insee, month, hour, use_kwh, use_tco2e, registries_kwh,
registries_tco2e`` (``use_*``: the residents' devices, networks and datacenter share, as
``use_kwh`` and ``use_tco2e`` of the layers; ``registries_*``: what the registry points place in
the territory). Levels ``regions``, ``departements``, ``epci`` (mart ``hourly``) and
``communes`` (marts ``hourly_communes`` x ``hourly_profiles``), the last only when the run has at
most :data:`HOURLY_MAX_COMMUNES` communes: all of France would be about 10 million rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from territory.database import fetch_value

HOURLY = "hourly.csv"
#: communes rows are written for runs of at most this many communes (288 rows each)
HOURLY_MAX_COMMUNES = 5000

_COMMUNES = """
    SELECT 'communes' AS level, c.code_insee, s.month, s.hour,
        exact_sum(c.use_kwh * s.annual_share) AS use_kwh,
        exact_sum(c.use_kwh * s.annual_share * s.tco2e_per_kwh) AS use_tco2e,
        exact_sum(c.registries_kwh * s.annual_share) AS registries_kwh,
        exact_sum(c.registries_kwh * s.annual_share * s.tco2e_per_kwh) AS registries_tco2e
    FROM hourly_communes AS c
    JOIN hourly_profiles AS s USING (profile)
    GROUP BY ALL
"""
_LEVEL_ORDER = "CASE level WHEN 'regions' THEN 1 WHEN 'departements' THEN 2 WHEN 'epci' THEN 3 ELSE 4 END"


def write_hourly(con: duckdb.DuckDBPyConnection, path: Path, grid: dict[str, Any]) -> dict[str, Any]:
    """Write ``hourly.csv``; return the manifest's ``hourly`` entry."""
    communes = int(fetch_value(con, "SELECT count(DISTINCT code_insee) FROM hourly_communes"))
    levels = ["regions", "departements", "epci"]
    query = "SELECT * FROM hourly"
    if communes <= HOURLY_MAX_COMMUNES:
        query += f" UNION ALL {_COMMUNES}"
        levels.append("communes")
    con.execute(
        f"COPY (SELECT * FROM ({query}) ORDER BY {_LEVEL_ORDER}, code_insee, month, hour) "
        "TO ? (HEADER, DELIMITER ',')", [path.as_posix()])
    entry: dict[str, Any] = {
        "file": path.name,
        "levels": levels,
        "weighting": ("use_tco2e(month, hour) = use_kwh(month, hour) x electricity.kgco2e_per_kwh "
                      "x grid intensity(month, hour) / its annual mean (éCO2mix's rate sets the "
                      "shape only, the life-cycle factor the level)"),
        "grid_intensity": grid,
    }
    if "communes" not in levels:
        entry["communes_left_out"] = (
            f"{communes} communes: the communes rows (288 each) are written for runs of at most "
            f"{HOURLY_MAX_COMMUNES} communes (a département, an EPCI); the upper levels are there")
    return entry


def profile_carbon_weights(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Each profile's carbon weight (sum of annual_share x intensity_weight), for the manifest."""
    rows = con.execute(
        "SELECT profile, sum(annual_share * intensity_weight) FROM hourly_profiles "
        "GROUP BY profile ORDER BY profile").fetchall()
    return [{"profile": p, "carbon_weight": round(float(w), 4)} for p, w in rows]
