"""Check the trend trajectory against the ADEME/Arcep prospective (manifest ``trajectory_check``).

ADEME/Arcep's trend scenario (analyse prospective, March 2023) has the national digital
footprint grow by 45 % between 2020 and 2030 and reach 2.87 times its 2020 level in 2050
(``check.prospective_*`` in ``data/factors_trajectories.csv``). The model's baseline starts in
2025, so the reference's growth is taken from 2025: 2025 lies on the geometric path between
2020 and 2030 (an interpolation, said in the manifest), and the model's growth 2025 → 2030 and
2025 → 2050 of the national footprint (every commune of France with a boundary, baseline
scenario) are compared with it within :data:`TOLERANCE`.

No parameter is tuned to it. One trend of the model is itself an input of that study (the
connected objects' growth, ``trajectory.connected_objects_growth_per_year``): the verdict is
computed on the trajectory without it (``stock_multiplier_independent`` of
``int_scenario_device_multipliers``: that factor at its low value); the trajectory with it is
reported beside, labelled ``from_reference``, and not judged.
"""

from __future__ import annotations

from typing import Any

import duckdb

from territory.database import fetch_value, sql_literal

#: relative gap allowed between the model's growth and the reference's
TOLERANCE = 0.15
#: the reference study's first year (its 2020 footprint is the base of its ratios)
REFERENCE_BASE_YEAR = 2020
#: reference ratios to the reference's base year, by year (factor ids)
REFERENCE_RATIOS = {2030: "check.prospective_2030_vs_2020", 2050: "check.prospective_2050_vs_2020"}

_NATIONAL = """
    SELECT m.year,
        exact_sum(l.embodied_tco2e * m.stock_multiplier * m.embodied_multiplier
            + l.use_kwh * m.stock_multiplier * m.use_multiplier * p.electricity_kgco2e_per_kwh / 1000),
        exact_sum(l.embodied_tco2e * m.stock_multiplier_independent * m.embodied_multiplier
            + l.use_kwh * m.stock_multiplier_independent * m.use_multiplier
              * p.electricity_kgco2e_per_kwh / 1000)
    FROM (
        SELECT f.device, exact_sum(f.embodied_tco2e) AS embodied_tco2e, exact_sum(f.use_kwh) AS use_kwh
        FROM int_communes_device_footprint AS f
        JOIN stg_communes AS c ON c.code_insee = f.code_insee AND c.geometry IS NOT NULL
        GROUP BY f.device
    ) AS l
    JOIN int_scenario_device_multipliers AS m ON m.device = l.device AND m.scenario = 'baseline'
    JOIN int_scenario_parameters AS p ON p.scenario = m.scenario AND p.year = m.year
    GROUP BY m.year ORDER BY m.year
"""


def trajectory_check(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The national baseline trajectory against the ADEME/Arcep prospective (empty without
    scenarios)."""
    if not fetch_value(con, "SELECT count(*) FROM stg_scenarios"):
        return {}
    rows = con.execute(_NATIONAL).fetchall()
    base_year, base, base_independent = rows[0]
    totals = {int(y): (float(t), float(ti)) for y, t, ti in rows}
    factor = {fid: float(fetch_value(con, f"SELECT value FROM stg_factors WHERE id = {sql_literal(fid)}"))
              for fid in REFERENCE_RATIOS.values()}
    first, *_ = sorted(REFERENCE_RATIOS)
    # the reference at the model's base year: on the geometric path from its base to its first
    # horizon (interpolated)
    at_base = factor[REFERENCE_RATIOS[first]] ** (
        (base_year - REFERENCE_BASE_YEAR) / (first - REFERENCE_BASE_YEAR))
    horizons = []
    for year, fid in sorted(REFERENCE_RATIOS.items()):
        total, independent = totals[year]
        expected = factor[fid] / at_base
        growth, growth_independent = total / base, independent / base_independent
        gap = growth_independent / expected - 1
        horizons.append({
            "year": year,
            "reference_factor": fid,
            "reference_growth_from_base_year": round(expected, 4),
            "model_growth_from_base_year": round(growth_independent, 4),
            "model_tco2e": round(independent),
            "gap_pct": round(gap * 100, 1),
            "within_tolerance": abs(gap) <= TOLERANCE,
            "from_reference": {
                "model_growth_from_base_year": round(growth, 4),
                "model_tco2e": round(total),
                "gap_pct": round((growth / expected - 1) * 100, 1),
                "note": "with the connected objects' growth of the reference study itself: "
                        "reported, not judged",
            },
        })
    return {
        "reference": "ADEME/Arcep, analyse prospective à 2030 et 2050 (March 2023), trend scenario",
        "base_year": int(base_year),
        "base_tco2e": round(base),
        "reference_at_base_year": (
            f"interpolated: {REFERENCE_BASE_YEAR}→{first} growth taken as geometric "
            f"({at_base:.4f} × the {REFERENCE_BASE_YEAR} level in {base_year})"),
        "tolerance_pct": TOLERANCE * 100,
        "horizons": horizons,
        "passed": all(h["within_tolerance"] for h in horizons),
        "judged_on": "the baseline without inputs taken from the reference study "
                     "(trajectory.connected_objects_growth_per_year at its low value)",
    }
