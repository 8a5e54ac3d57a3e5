"""How much each factor moves the national footprint: ``sensitivity.csv``.

For every factor of the tables (after the run's overrides), the national consumption-based
footprint (all communes of France that have a boundary) with that factor at its low bound and
at its high bound, every other factor at its central value.

The national footprint is a sum over device types of ``units × (embodied / lifetime + kWh ×
electricity factor)``, plus the national datacenter footprint shared per user. National stocks
are national rates × national bases (the local drivers only move devices between communes),
so a factor's effect is exact from the national sums per device type (:func:`device_totals`):
no model is re-run. What a factor moves:

* ``<device>.equipment_rate``, ``.units_per_owner``: that device's stock;
* ``<device>.embodied_kgco2e``, ``.lifetime_years``, ``.use_kwh_per_year``: its footprint per
  unit; ``electricity.kgco2e_per_kwh``: the use phase of every device (not of datacenters,
  whose national footprint is a total);
* ``datacenters.national_footprint_tco2e``: the datacenter part;
* ``population.share_12plus``: the stock of devices counted per person aged 12+ (communes
  without an age file); ``jobs.national_jobs``: the professional devices (communes whose jobs
  are estimated).

The other factors do not change the national total: rates by income decile or age band move
devices between communes; reference figures are for checks; registry factors make the
territorial accounting, not the footprint. Their rows say so (``role``).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb

#: the columns of sensitivity.csv
COLUMNS = (
    "factor_id", "unit", "value", "low", "high", "role", "total_tco2e", "total_at_low_tco2e",
    "total_at_high_tco2e", "swing_tco2e", "swing_pct",
)
DEVICE_FACTORS = (
    "equipment_rate", "units_per_owner", "embodied_kgco2e", "lifetime_years", "use_kwh_per_year",
)
ELECTRICITY = "electricity.kgco2e_per_kwh"
DATACENTERS = "datacenters.national_footprint_tco2e"
BASIS_FACTORS = {"persons_12plus": "population.share_12plus", "jobs": "jobs.national_jobs"}
ROLE_FOOTPRINT = "national footprint"
ROLE_DISTRIBUTION = "moves devices between communes"
ROLE_REFERENCE = "reference for a check"
ROLE_OTHER = "not in the national footprint (registries, territorial accounting, fallbacks)"


@dataclass(frozen=True)
class DeviceTotal:
    """National sums of one device type (communes of France with a boundary)."""

    device: str
    component: str
    basis: str
    units: float
    #: units whose basis follows the basis factor (people 12+ at the national share, jobs
    #: estimated from establishments); the other units do not change with it
    units_following_basis: float
    embodied_tco2e: float
    use_tco2e: float
    use_kwh: float
    units_low: float = 0.0
    units_high: float = 0.0
    total_tco2e_low: float = 0.0
    total_tco2e_high: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """The national figures of this device type, rounded for manifest.json."""
        return {
            "device": self.device, "component": self.component, "basis": self.basis,
            "units": round(self.units), "units_low": round(self.units_low),
            "units_high": round(self.units_high), "embodied_tco2e": round(self.embodied_tco2e),
            "use_tco2e": round(self.use_tco2e),
            "total_tco2e": round(self.embodied_tco2e + self.use_tco2e),
            "total_tco2e_low": round(self.total_tco2e_low),
            "total_tco2e_high": round(self.total_tco2e_high), "use_kwh": round(self.use_kwh),
        }


@dataclass(frozen=True)
class Factor:
    value: float
    low: float
    high: float
    unit: str


def device_totals(con: duckdb.DuckDBPyConnection) -> list[DeviceTotal]:
    """The national sums per device type, read from the run's models (before they are
    released)."""
    rows = con.execute("""
        SELECT
            f.device, any_value(f.component), any_value(f.basis),
            exact_sum(f.units),
            exact_sum(CASE
                WHEN f.basis = 'persons_12plus' AND NOT a.age_structure_known THEN f.units
                WHEN f.basis = 'jobs' AND j.jobs_estimated THEN f.units
                ELSE 0 END),
            exact_sum(f.embodied_tco2e), exact_sum(f.use_tco2e), exact_sum(f.use_kwh),
            exact_sum(f.units_low), exact_sum(f.units_high),
            exact_sum(f.embodied_tco2e_low + f.use_tco2e_low),
            exact_sum(f.embodied_tco2e_high + f.use_tco2e_high)
        FROM int_communes_device_footprint AS f
        JOIN int_communes_footprint AS c USING (code_insee)
        JOIN int_communes_age AS a USING (code_insee)
        JOIN int_communes_jobs AS j USING (code_insee)
        WHERE c.has_geometry
        GROUP BY f.device
        ORDER BY f.device
    """).fetchall()
    return [DeviceTotal(str(r[0]), str(r[1]), str(r[2]), *(float(v) for v in r[3:]))
            for r in rows]


def read_factors(con: duckdb.DuckDBPyConnection) -> dict[str, Factor]:
    """Every factor of the run (overrides applied), by id."""
    return {str(r[0]): Factor(float(r[1]), float(r[2]), float(r[3]), str(r[4] or ""))
            for r in con.execute("SELECT id, value, low, high, unit FROM stg_factors ORDER BY id")
            .fetchall()}


def national_total(
    totals: list[DeviceTotal], factors: dict[str, Factor], changed: dict[str, float] | None = None,
) -> float:
    """The national footprint (tCO2e) with the factors of ``changed`` replaced."""
    changed = changed or {}

    def ratio(fid: str) -> float:
        if fid not in changed:
            return 1.0
        central = factors[fid].value
        return changed[fid] / central if central else 1.0

    total = 0.0
    for d in totals:
        if d.component == "datacenters":
            total += (d.embodied_tco2e + d.use_tco2e) * ratio(DATACENTERS)
            continue
        basis = BASIS_FACTORS.get(d.basis)
        following = d.units_following_basis / d.units if basis and d.units else 0.0
        units = (ratio(f"{d.device}.equipment_rate") * ratio(f"{d.device}.units_per_owner")
                 * (1 - following + following * (ratio(basis) if basis else 1.0)))
        embodied = ratio(f"{d.device}.embodied_kgco2e") / ratio(f"{d.device}.lifetime_years")
        use = ratio(f"{d.device}.use_kwh_per_year") * ratio(ELECTRICITY)
        total += units * (d.embodied_tco2e * embodied + d.use_tco2e * use)
    return total


def _role(fid: str, totals: list[DeviceTotal], distribution_prefixes: set[str]) -> str:
    devices = {d.device for d in totals}
    prefix, _, name = fid.partition(".")
    if (prefix in devices and name in DEVICE_FACTORS) or fid in (
            ELECTRICITY, DATACENTERS, *BASIS_FACTORS.values()):
        return ROLE_FOOTPRINT
    if prefix in distribution_prefixes or fid.startswith(("income.decile_", "population.share_age",
                                                          "population.share_12_14")):
        return ROLE_DISTRIBUTION
    if prefix in ("national", "check"):
        return ROLE_REFERENCE
    return ROLE_OTHER


def sensitivity_rows(
    con: duckdb.DuckDBPyConnection, totals: list[DeviceTotal],
) -> list[dict[str, object]]:
    """One row per factor: the national total at its low and at its high bound, largest swing
    first (``totals``: :func:`device_totals`)."""
    factors = read_factors(con)
    distribution = {str(r[0]) for r in con.execute(
        "SELECT DISTINCT rates FROM stg_device_drivers").fetchall()}
    central = national_total(totals, factors)
    rows = []
    for fid, factor in factors.items():
        role = _role(fid, totals, distribution)
        at_low = national_total(totals, factors, {fid: factor.low})
        at_high = national_total(totals, factors, {fid: factor.high})
        swing = abs(at_high - at_low)
        rows.append({
            "factor_id": fid, "unit": factor.unit, "value": factor.value, "low": factor.low,
            "high": factor.high, "role": role, "total_tco2e": round(central),
            "total_at_low_tco2e": round(at_low), "total_at_high_tco2e": round(at_high),
            "swing_tco2e": round(swing), "swing_pct": round(swing / central * 100, 2),
        })
    rows.sort(key=lambda r: (-float(r["swing_tco2e"]), str(r["factor_id"])))  # type: ignore[arg-type]
    return rows


def write_sensitivity(rows: list[dict[str, object]], path: Path) -> None:
    """``sensitivity.csv``: UTF-8, ``,`` separator, one row per factor."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
