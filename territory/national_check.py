"""The national check: the model's national figures against independent references, able to
fail (``national_check`` in ``manifest.json``).

* **Components.** The national footprint per component (devices, networks, datacenters) against
  the reference assessment's split: by default ADEME's January 2025 update (29.5 MtCO2e in
  2022: devices 50 %, datacenters 46 % with those abroad, networks 4 %; infos.ademe.fr), or
  the ADEME/Arcep study of 2020 data (17.2 MtCO2e) with ``national_reference = "2020"``. The datacenter part is *taken from the reference* (the national
  datacenter footprint shared per internet user): it is reported, marked ``from_reference``, and
  kept out of the verdict, which covers the bottom-up components only (devices + networks,
  built from stocks × factors).
* **Independent checks**, each from a figure the model never uses (``check.*`` factors):
  smartphones in service against annual sales × lifetime; TVs per household; the share of
  households with a computer; the national population and number of households.

A check passes when the model's figure is within its tolerance of the reference
(:data:`TOLERANCES`). A check whose model figure equals the reference (the model's factor is
the survey's own figure) is marked ``from_reference`` and kept out of the verdict. The tolerances are the project's choice of what "agrees" means, stated
here once; they are not study figures. A failed check does not stop the run: the manifest
says which checks fail and by how much, and `docs/methodology.md` discusses them.
"""

from __future__ import annotations

from typing import Any

import duckdb

from territory.database import sql_literal

#: relative gap (model / reference − 1) within which a check passes, and why that width
TOLERANCES = {
    # national assessments of the same scope differ by about 15 % (Senate 2020: 15 Mt for 2019;
    # ADEME/Arcep 2022: 17.2 Mt for 2020)
    "bottom_up": 0.25,
    # sales and lifetimes are both uncertain by 10-20 %; second-hand phones add to the stock
    "smartphones_stock": 0.25,
    "televisions_per_household": 0.15,
    "households_with_computer": 0.10,
    # the populations are INSEE's own: only vintage differences are allowed
    "population": 0.005,
    "households": 0.03,
}


def _factor(con: duckdb.DuckDBPyConnection, fid: str) -> float:
    row = con.execute(f"SELECT value FROM stg_factors WHERE id = {sql_literal(fid)}").fetchone()
    if row is None:
        msg = f"factor {fid} is not in the factor tables of data/ (national check)"
        raise KeyError(msg)
    return float(row[0])


def _source(con: duckdb.DuckDBPyConnection, fid: str) -> str:
    row = con.execute("SELECT source || ' (' || year || ')' FROM raw_factors "
                      f"WHERE id = {sql_literal(fid)}").fetchone()
    return str(row[0]) if row else ""


def _check(name: str, label: str, model: float, reference: float, unit: str, how: str,
           source: str) -> dict[str, Any]:
    gap = model / reference - 1 if reference else float("inf")
    # the model's figure is the reference's own (its factors are the survey's figures): the
    # check cannot fail, so it is labelled and kept out of the verdict
    from_reference = abs(gap) < 1e-9
    return {
        "check": name, "label": label, "model": round(model, 4), "reference": round(reference, 4),
        "unit": unit, "relative_gap": round(gap, 4), "tolerance": TOLERANCES[name],
        "passed": abs(gap) <= TOLERANCES[name], "how": how, "reference_source": source,
        "from_reference": from_reference,
    }


def _independent_checks(con: duckdb.DuckDBPyConnection, sums: dict[str, float]) -> list[dict[str, Any]]:
    f = {fid: _factor(con, fid) for fid in (
        "check.smartphones_sold_per_year", "smartphone.lifetime_years",
        "check.televisions_per_equipped_household", "check.households_with_television_share",
        "check.households_with_computer_share", "laptop.equipment_rate",
        "check.population_france", "check.households_france")}
    sold = f["check.smartphones_sold_per_year"]
    refurbished = con.execute(
        "SELECT value FROM stg_factors WHERE id = 'check.refurbished_smartphones_sold_per_year'"
    ).fetchone()
    sold_all = sold + (float(refurbished[0]) if refurbished else 0.0)
    return [
        _check("smartphones_stock", "Smartphones en service / ventes annuelles × durée de vie",
               sums["smartphones"], sold_all * f["smartphone.lifetime_years"], "units",
               "personal and professional smartphones of the model against smartphones sold per "
               "year (new" + (" + refurbished" if refurbished else "") + ") × the model's "
               "smartphone lifetime", _source(con, "check.smartphones_sold_per_year")),
        _check("televisions_per_household", "Téléviseurs par ménage",
               sums["televisions"] / sums["households"],
               f["check.televisions_per_equipped_household"]
               * f["check.households_with_television_share"], "units/household",
               "TV sets per household of the model against TVs per equipped household × share of "
               "households with a TV", _source(con, "check.televisions_per_equipped_household")),
        _check("households_with_computer", "Ménages équipés d'un ordinateur",
               f["laptop.equipment_rate"], f["check.households_with_computer_share"], "share",
               "share of households with a computer used by the model against another survey",
               _source(con, "check.households_with_computer_share")),
        _check("population", "Population totale", sums["population"], f["check.population_france"],
               "inhabitants", "population of the communes of France with a boundary against "
               "INSEE's national figure", _source(con, "check.population_france")),
        _check("households", "Ménages", sums["households"], f["check.households_france"],
               "households", "households of the model (populations / census persons per household) "
               "against INSEE's national count", _source(con, "check.households_france")),
    ]


#: (national_reference, datacenter_scope) → prefix of the reference's factors, and its name
_ADEME_2025 = ("ADEME, January 2025 update of the ADEME/Arcep study (2022 data, datacenters "
               "abroad included)")
REFERENCES = {
    ("2022", "france"): ("check.national_2022.", _ADEME_2025),
    ("2022", "with_abroad"): ("check.national_2022.", _ADEME_2025),
    ("2020", "france"): ("national.", "ADEME/Arcep 2022 (2020 data)"),
    ("2020", "with_abroad"): ("national.with_abroad.", "ADEME update Jan 2025 (2020 restated)"),
}


def national_check(
    con: duckdb.DuckDBPyConnection, scope: str, reference: str = "2022",
) -> dict[str, Any]:
    """The national check of a run (all communes of France with a boundary, whatever the run's
    extent) against the national assessment ``reference`` (see :data:`REFERENCES`)."""
    row = con.execute(
        "SELECT sum(footprint_tco2e), sum(devices_tco2e), sum(networks_tco2e), "
        "sum(datacenters_tco2e), sum(embodied_tco2e), sum(use_tco2e), sum(population), "
        "sum(use_kwh), sum(smartphones_units), sum(televisions_units), sum(households) "
        "FROM int_communes_footprint WHERE has_geometry"
    ).fetchone()
    assert row is not None
    total, devices, networks, datacenters = (float(v) for v in row[:4])
    prefix, reference_name = REFERENCES[(reference, scope)]
    ref = {
        key.removeprefix(prefix): float(value)
        for key, value in con.execute(
            f"SELECT id, value FROM raw_factors WHERE starts_with(id, {sql_literal(prefix)})"
        ).fetchall()
        if key.count(".") == prefix.count(".")
    }
    reference_total = ref["footprint_tco2e"]
    components = []
    for name, model in (("devices", devices), ("networks", networks),
                        ("datacenters", datacenters)):
        expected = ref[f"share_{name}"] * reference_total
        components.append({
            "component": name, "model_tco2e": round(model), "reference_tco2e": round(expected),
            "relative_gap": round(model / expected - 1, 4),
            "from_reference": name == "datacenters",
        })
    bottom_up_model = devices + networks
    bottom_up_reference = (ref["share_devices"] + ref["share_networks"]) * reference_total
    bottom_up = _check(
        "bottom_up", "Terminaux et réseaux (estimation ascendante)", bottom_up_model,
        bottom_up_reference, "tCO2e",
        "devices + networks built from stocks × factors against the reference's devices + "
        "networks; datacenters are a share of the reference's own figure and stay out",
        _source(con, f"{prefix}footprint_tco2e"))
    sums = {"smartphones": float(row[8]), "televisions": float(row[9]),
            "households": float(row[10]), "population": float(row[6])}
    checks = [bottom_up, *_independent_checks(con, sums)]
    return {
        "scope": "all communes of France that have a geometry, whatever the run's extent",
        "footprint_tco2e": round(total),
        "reference": reference_name,
        "reference_tco2e": reference_total,
        "relative_gap": round(total / reference_total - 1, 4),
        "relative_gap_note": "includes the datacenter part taken from the reference",
        "components": components,
        "shares": {name: round(v / total, 4) for name, v in
                   (("devices", devices), ("datacenters", datacenters), ("networks", networks))},
        "reference_shares": {name: ref[f"share_{name}"]
                             for name in ("devices", "datacenters", "networks")},
        "embodied_share": round(float(row[4]) / total, 4),
        "population": int(row[6]),
        # the national average the communes' gaps (footprint_vs_national_pct) are taken to
        "kgco2e_per_inhabitant": round(total * 1000 / float(row[6]), 4) if row[6] else None,
        "electricity_kwh": round(float(row[7])),
        "checks": checks,
        # checks whose model figure is the reference's own are reported, not judged
        "verdict": "pass" if all(c["passed"] for c in checks if not c["from_reference"])
        else "fail",
        "failed": [c["check"] for c in checks if not c["passed"] and not c["from_reference"]],
        "from_reference": [c["check"] for c in checks if c["from_reference"]],
    }
