"""Factor and rate tables of ``data/``: loaded, validated, and put into DuckDB.

Every number that comes from a study lives in these CSV files with its value, low and high
bounds, unit, source and year; the SQL models read them from ``raw_factors`` and never hold a
study figure themselves. A table that breaks a rule stops the run with a message naming the
file, the row (1 = header) and the column.

A run may override factors (``[factors]`` of a pipeline file, ``--factor ID=VALUE``,
``datacenter_scope``): :func:`resolve_overrides` checks them against the tables and
:func:`apply_overrides` writes them into ``raw_factors`` before the models run. The factor table
version stays that of the shipped files; the overrides are recorded beside it.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import duckdb

from territory.database import insert_rows, sql_literal
from territory.errors import ConfigError, FactorTableError
from territory.i18n import _
from territory.settings import FactorOverride
from territory.sources._files import InputRecord, sha256_of

FACTOR_COLUMNS = ("id", "value", "low", "high", "unit", "source", "year", "confidence", "note")
DEVICE_COLUMNS = ("device", "label_fr", "component", "basis", "territorial", "description")
ESTIMATE_COLUMNS = ("code_insee", "nom", "population", "source", "year")
STRATA_COLUMNS = ("stratum", "label_fr", "min_population", "max_population", "source", "year")

#: the factors each device needs, with their unit
DEVICE_FACTORS = {
    "equipment_rate": "share",
    "units_per_owner": "units",
    "embodied_kgco2e": "kgCO2e/unit",
    "lifetime_years": "years",
    "use_kwh_per_year": None,  # kWh per unit, line or SIM
}
#: datacenters are a national total shared per user: only the user count is per device
DATACENTER_FACTORS = {"equipment_rate": "share", "units_per_owner": "units"}
COMPONENTS = ("devices", "networks", "datacenters")
BASES = ("inhabitants", "persons_12plus", "households", "jobs")
GLOBAL_FACTORS = (
    "electricity.kgco2e_per_kwh",
    "population.persons_per_household",
    "population.share_12plus",
    "datacenters.national_footprint_tco2e",
    "datacenters.national_footprint_with_abroad_tco2e",
    "datacenters.national_electricity_kwh",
)


def _read(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        msg = _("{path}: factor table not found").format(path=path)
        raise FactorTableError(msg)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header = tuple(reader.fieldnames or ())
        missing = [c for c in columns if c not in header]
        unknown = [c for c in header if c not in columns]
        if missing or unknown:
            msg = _("{path}: row 1: expected columns {columns}; missing {missing}, unknown "
                    "{unknown}").format(path=path, columns=", ".join(columns),
                                        missing=missing or _("none"), unknown=unknown or _("none"))
            raise FactorTableError(msg)
        return list(reader)


def _number(path: Path, row: int, column: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        msg = _("{path}: row {row}, column {column}: {value!r} is not a number").format(
            path=path, row=row, column=column, value=text)
        raise FactorTableError(msg) from None


def read_factors(path: Path) -> list[dict[str, object]]:
    """Read and validate ``factors.csv``: numbers, ``low <= value <= high``, unique ids."""
    rows = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(_read(path, FACTOR_COLUMNS), start=2):
        fid = raw["id"].strip()
        if not fid:
            msg = _("{path}: row {row}, column id: empty factor id").format(path=path, row=i)
            raise FactorTableError(msg)
        if fid in seen:
            msg = _("{path}: row {row}, column id: {id!r} already defined on row {first}").format(
                path=path, row=i, id=fid, first=seen[fid])
            raise FactorTableError(msg)
        seen[fid] = i
        value, low, high = (_number(path, i, c, raw[c]) for c in ("value", "low", "high"))
        if not low <= value <= high:
            msg = _("{path}: row {row}, column value: {id} = {value} is outside [{low}, "
                    "{high}]").format(path=path, row=i, id=fid, value=value, low=low, high=high)
            raise FactorTableError(msg)
        if not raw["source"].strip():
            msg = _("{path}: row {row}, column source: {id} has no source").format(
                path=path, row=i, id=fid)
            raise FactorTableError(msg)
        rows.append({**raw, "id": fid, "value": value, "low": low, "high": high, "row": i,
                     "path": str(path)})
    return rows


def read_devices(path: Path, factors: list[dict[str, object]], factors_path: Path) -> list[dict[str, str]]:
    """Read ``devices.csv`` and check that every device has all its factors."""
    by_id = {f["id"]: f for f in factors}
    devices = _read(path, DEVICE_COLUMNS)
    for i, dev in enumerate(devices, start=2):
        for column, allowed in (("component", COMPONENTS), ("basis", BASES)):
            if dev[column] not in allowed:
                msg = _("{path}: row {row}, column {column}: {value!r} is not one of "
                        "{allowed}").format(path=path, row=i, column=column, value=dev[column],
                                            allowed=", ".join(allowed))
                raise FactorTableError(msg)
        if dev["territorial"] not in ("true", "false"):
            msg = _("{path}: row {row}, column territorial: expected true or false, got "
                    "{value!r}").format(path=path, row=i, value=dev["territorial"])
            raise FactorTableError(msg)
        needed = DEVICE_FACTORS if dev["component"] != "datacenters" else DATACENTER_FACTORS
        for name, unit in needed.items():
            fid = f"{dev['device']}.{name}"
            factor = by_id.get(fid)
            if factor is None:
                msg = _("{path}: factor {id} is missing (needed by device {device!r}, {devices} "
                        "row {row})").format(path=factors_path, id=fid, device=dev["device"],
                                             devices=path, row=i)
                raise FactorTableError(msg)
            if unit and factor["unit"] != unit:
                msg = _("{path}: row {row}, column unit: {id} must be in {unit}, got "
                        "{value!r}").format(path=factors_path, row=factor["row"], id=fid,
                                            unit=unit, value=factor["unit"])
                raise FactorTableError(msg)
            if name == "lifetime_years" and cast(float, factor["low"]) <= 0:
                msg = _("{path}: row {row}, column low: {id} must be > 0").format(
                    path=factors_path, row=factor["row"], id=fid)
                raise FactorTableError(msg)
    for fid in GLOBAL_FACTORS:
        if fid not in by_id:
            msg = _("{path}: factor {id} is missing").format(path=factors_path, id=fid)
            raise FactorTableError(msg)
    return devices


def _factor_files(folder: Path, extra: Sequence[Path] = ()) -> dict[str, Path]:
    """``factors.csv`` and, beside it, the study figures of the registries (one file per kind),
    and ``extra`` tables (beside the specs of registry kinds declared outside data/)."""
    paths = {"factors": folder / "factors.csv"}
    for table in [*sorted(folder.glob("factors_*.csv")), *extra]:
        paths[table.stem] = table
    return paths


def _read_factor_files(folder: Path, extra: Sequence[Path] = ()) -> list[dict[str, object]]:
    factors = []
    for path in _factor_files(folder, extra).values():
        factors += read_factors(path)
    counts = Counter(str(f["id"]) for f in factors)
    duplicated = sorted(fid for fid, n in counts.items() if n > 1)
    if duplicated:
        msg = _("{folder}: factor ids defined in two factor tables: {ids}").format(
            folder=folder, ids=", ".join(duplicated))
        raise FactorTableError(msg)
    return factors


def read_factor_table(folder: Path) -> dict[str, dict[str, object]]:
    """Every factor of ``folder`` (``factors.csv`` and ``factors_*.csv``), validated, by id."""
    return {str(f["id"]): f for f in _read_factor_files(folder)}


def _unknown_id(where: str, fid: str, known: Sequence[str]) -> ConfigError:
    close = difflib.get_close_matches(fid, known, n=3, cutoff=0.6)
    if close:
        return ConfigError(_("{where}: unknown factor id {id!r} (ids are those of "
                             "data/factors.csv and data/factors_*.csv); did you mean "
                             "{close}?").format(where=where, id=fid, close=", ".join(close)))
    return ConfigError(_("{where}: unknown factor id {id!r} (ids are those of data/factors.csv "
                         "and data/factors_*.csv)").format(where=where, id=fid))


def _override_number(where: str, fid: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        msg = _("{where}: {id}: {name} must be a finite number, got {value!r}").format(
            where=where, id=fid, name=name, value=value)
        raise ConfigError(msg)
    return float(value)


def resolve_overrides(
    table: Mapping[str, Mapping[str, Any]], overrides: Sequence[FactorOverride], where: str
) -> dict[str, dict[str, Any]]:
    """Check ``overrides`` against the factor ``table`` (id -> row with value, low, high, unit).

    A number replaces the central value and keeps the table's bounds unless new ones are given;
    ``low <= value <= high`` must hold. A factor the table never makes negative cannot become
    negative, and a lifetime must stay above zero (it divides). A string is another factor's id
    (same unit) whose value and bounds are taken. Errors name ``where`` (the pipeline file,
    ``--factor``) and the id, with the closest known ids when it is unknown.

    Returns id -> ``{value, low, high, was: {value, low, high}}`` (plus ``from``: the other
    factor's id when the figures were taken from it), as the manifest records them.
    """
    resolved: dict[str, dict[str, Any]] = {}
    for fid, value, low, high in overrides:
        row = table.get(fid)
        if row is None:
            raise _unknown_id(where, fid, list(table))
        if fid in resolved:
            msg = _("{where}: factor {id} is overridden twice").format(where=where, id=fid)
            raise ConfigError(msg)
        was = {k: float(row[k]) for k in ("value", "low", "high")}
        entry: dict[str, Any]
        if isinstance(value, str):
            other = table.get(value)
            if other is None:
                raise _unknown_id(where, value, list(table))
            if other["unit"] != row["unit"]:
                msg = _("{where}: {id} ({unit}) cannot take the figures of {other} "
                        "({other_unit}): the units differ").format(
                    where=where, id=fid, unit=row["unit"], other=value, other_unit=other["unit"])
                raise ConfigError(msg)
            entry = {k: float(other[k]) for k in ("value", "low", "high")} | {"from": value}
        else:
            entry = {
                "value": _override_number(where, fid, "value", value),
                "low": was["low"] if low is None else _override_number(where, fid, "low", low),
                "high": (was["high"] if high is None
                         else _override_number(where, fid, "high", high)),
            }
            if not entry["low"] <= entry["value"] <= entry["high"]:
                template = (_("{where}: {id} = {value:g} is outside [{low:g}, {high:g}]")
                            if low is not None and high is not None
                            else _("{where}: {id} = {value:g} is outside [{low:g}, {high:g}] "
                                   "(bounds not given are the table's: write {example})"))
                msg = template.format(
                    where=where, id=fid, value=entry["value"], low=entry["low"],
                    high=entry["high"],
                    example=f"{{ value = {entry['value']:g}, low = …, high = … }}")
                raise ConfigError(msg)
            if entry["low"] < 0 <= was["low"]:
                msg = _("{where}: {id} cannot be negative (low = {low:g})").format(
                    where=where, id=fid, low=entry["low"])
                raise ConfigError(msg)
            if fid.endswith(".lifetime_years") and entry["low"] <= 0:
                msg = _("{where}: {id} must be above 0 years (low = {low:g})").format(
                    where=where, id=fid, low=entry["low"])
                raise ConfigError(msg)
        resolved[fid] = {**entry, "was": was}
    return resolved


def check_overrides(folder: Path, overrides: Sequence[FactorOverride], where: str) -> None:
    """Check ``overrides`` against the factor tables of ``folder`` (see
    :func:`resolve_overrides`), before a run starts."""
    resolve_overrides(read_factor_table(folder), overrides, where)


def apply_overrides(
    con: duckdb.DuckDBPyConnection, overrides: Sequence[FactorOverride], where: str
) -> dict[str, dict[str, Any]]:
    """Check ``overrides`` against ``raw_factors`` and write them into it; return what
    :func:`resolve_overrides` returns."""
    rows = con.execute("SELECT id, value, low, high, unit FROM raw_factors").fetchall()
    table = {r[0]: dict(zip(("id", "value", "low", "high", "unit"), r, strict=True)) for r in rows}
    resolved = resolve_overrides(table, overrides, where)
    for fid, entry in resolved.items():
        con.execute(f"UPDATE raw_factors SET value = {sql_literal(entry['value'])}, "
                    f"low = {sql_literal(entry['low'])}, high = {sql_literal(entry['high'])} "
                    f"WHERE id = {sql_literal(fid)}")
    return resolved


def load_factor_tables(
    con: duckdb.DuckDBPyConnection, folder: Path, extra: Sequence[Path] = (),
) -> tuple[list[InputRecord], str]:
    """Validate the tables of ``folder`` and create ``raw_factors``, ``raw_devices``,
    ``raw_population_estimates`` and ``raw_population_strata`` (the
    population strata communes are compared within).

    Returns
    -------
    records, version
        Provenance records and the factor-table version (first 12 hex digits of the SHA-256
        of the files, so two runs with the same tables report the same version).
    """
    paths = {
        "factors": folder / "factors.csv",
        "devices": folder / "devices.csv",
        "population_estimates": folder / "population_estimates.csv",
        "population_strata": folder / "population_strata.csv",
    }
    paths.update(_factor_files(folder, extra))
    factors = _read_factor_files(folder, extra)
    devices = read_devices(paths["devices"], factors, paths["factors"])
    estimates = _read(paths["population_estimates"], ESTIMATE_COLUMNS)
    for i, row in enumerate(estimates, start=2):
        if _number(paths["population_estimates"], i, "population", row["population"]) < 0:
            msg = _("{path}: row {row}, column population: negative").format(
                path=paths["population_estimates"], row=i)
            raise FactorTableError(msg)
    strata = _read(paths["population_strata"], STRATA_COLUMNS)
    previous_max = -1.0
    for i, row in enumerate(strata, start=2):
        low = _number(paths["population_strata"], i, "min_population", row["min_population"])
        high = _number(paths["population_strata"], i, "max_population", row["max_population"])
        if low != previous_max + 1 or high < low:
            msg = _("{path}: row {row}, column min_population: strata must follow each other "
                    "without gap or overlap (expected {expected:.0f})").format(
                path=paths["population_strata"], row=i, expected=previous_max + 1)
            raise FactorTableError(msg)
        previous_max = high

    con.execute(
        "CREATE OR REPLACE TABLE raw_factors (id VARCHAR, value DOUBLE, low DOUBLE, high DOUBLE, "
        "unit VARCHAR, source VARCHAR, year VARCHAR, confidence VARCHAR, note VARCHAR)"
    )
    insert_rows(con, "raw_factors", [[f[c] for c in FACTOR_COLUMNS] for f in factors])
    for table, rows, columns in (
        ("raw_devices", devices, DEVICE_COLUMNS),
        ("raw_population_estimates", estimates, ESTIMATE_COLUMNS),
        ("raw_population_strata", strata, STRATA_COLUMNS),
    ):
        con.execute(f"CREATE OR REPLACE TABLE {table} ({', '.join(c + ' VARCHAR' for c in columns)})")
        insert_rows(con, table, [[r[c] for c in columns] for r in rows])

    digest = hashlib.sha256()
    records = []
    for name, path in paths.items():
        sha = sha256_of(path)
        digest.update(sha.encode())
        count = {"devices": len(devices),
                 "population_estimates": len(estimates), "population_strata": len(strata)}.get(
            name, sum(1 for f in factors if f["path"] == str(path)))
        records.append(InputRecord(name=f"data:{name}", path=str(path), sha256=sha,
                                   rows_read=count, rows_kept=count))
    return records, digest.hexdigest()[:12]
