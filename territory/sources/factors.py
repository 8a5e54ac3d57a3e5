"""Factor and rate tables of ``data/``: loaded, validated, and put into DuckDB.

Every number that comes from a study lives in these CSV files with its value, low and high
bounds, unit, source and year; the SQL models read them from ``raw_factors`` and never hold a
study figure themselves. A table that breaks a rule stops the run with a message naming the
file, the row (1 = header) and the column.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import duckdb

from territory.errors import FactorTableError
from territory.sources._files import InputRecord, sha256_of

FACTOR_COLUMNS = ("id", "value", "low", "high", "unit", "source", "year", "confidence", "note")
DEVICE_COLUMNS = ("device", "label_fr", "component", "basis", "territorial", "description")
SIZE_CLASS_COLUMNS = (
    "device", "size_class", "min_population", "max_population", "multiplier", "low", "high",
    "source", "year",
)
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
BASES = ("inhabitants", "persons_12plus", "households")
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
        msg = f"{path}: factor table not found"
        raise FactorTableError(msg)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        header = tuple(reader.fieldnames or ())
        missing = [c for c in columns if c not in header]
        unknown = [c for c in header if c not in columns]
        if missing or unknown:
            msg = (
                f"{path}: row 1: expected columns {', '.join(columns)}; "
                f"missing {missing or 'none'}, unknown {unknown or 'none'}"
            )
            raise FactorTableError(msg)
        return list(reader)


def _number(path: Path, row: int, column: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        msg = f"{path}: row {row}, column {column}: {text!r} is not a number"
        raise FactorTableError(msg) from None


def read_factors(path: Path) -> list[dict[str, object]]:
    """Read and validate ``factors.csv``: numbers, ``low <= value <= high``, unique ids."""
    rows = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(_read(path, FACTOR_COLUMNS), start=2):
        fid = raw["id"].strip()
        if not fid:
            msg = f"{path}: row {i}, column id: empty factor id"
            raise FactorTableError(msg)
        if fid in seen:
            msg = f"{path}: row {i}, column id: {fid!r} already defined on row {seen[fid]}"
            raise FactorTableError(msg)
        seen[fid] = i
        value, low, high = (_number(path, i, c, raw[c]) for c in ("value", "low", "high"))
        if not low <= value <= high:
            msg = f"{path}: row {i}, column value: {fid} = {value} is outside [{low}, {high}]"
            raise FactorTableError(msg)
        if not raw["source"].strip():
            msg = f"{path}: row {i}, column source: {fid} has no source"
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
                msg = f"{path}: row {i}, column {column}: {dev[column]!r} is not one of {', '.join(allowed)}"
                raise FactorTableError(msg)
        if dev["territorial"] not in ("true", "false"):
            msg = f"{path}: row {i}, column territorial: expected true or false, got {dev['territorial']!r}"
            raise FactorTableError(msg)
        needed = DEVICE_FACTORS if dev["component"] != "datacenters" else DATACENTER_FACTORS
        for name, unit in needed.items():
            fid = f"{dev['device']}.{name}"
            factor = by_id.get(fid)
            if factor is None:
                msg = f"{factors_path}: factor {fid} is missing (needed by device {dev['device']!r}, {path} row {i})"
                raise FactorTableError(msg)
            if unit and factor["unit"] != unit:
                msg = f"{factors_path}: row {factor['row']}, column unit: {fid} must be in {unit}, got {factor['unit']!r}"
                raise FactorTableError(msg)
            if name == "lifetime_years" and factor["low"] <= 0:
                msg = f"{factors_path}: row {factor['row']}, column low: {fid} must be > 0"
                raise FactorTableError(msg)
    for fid in GLOBAL_FACTORS:
        if fid not in by_id:
            msg = f"{factors_path}: factor {fid} is missing"
            raise FactorTableError(msg)
    return devices


def load_factor_tables(
    con: duckdb.DuckDBPyConnection, folder: Path, extra: tuple[Path, ...] = (),
) -> tuple[list[InputRecord], str]:
    """Validate the tables of ``folder`` and create ``raw_factors``, ``raw_devices``,
    ``raw_size_classes``, ``raw_population_estimates`` and ``raw_population_strata`` (the
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
        "size_classes": folder / "size_classes.csv",
        "population_estimates": folder / "population_estimates.csv",
        "population_strata": folder / "population_strata.csv",
    }
    # study figures of the registries live beside the main table, one file per kind
    # (and beside the specs of registry kinds declared outside data/: ``extra``)
    for table in [*sorted(folder.glob("factors_*.csv")), *extra]:
        paths[table.stem] = table
    factors = []
    for name, path in paths.items():
        if name == "factors" or name.startswith("factors_"):
            factors += read_factors(path)
    duplicated = sorted({f["id"] for f in factors if sum(g["id"] == f["id"] for g in factors) > 1})
    if duplicated:
        msg = f"{folder}: factor ids defined in two factor tables: {', '.join(duplicated)}"
        raise FactorTableError(msg)
    devices = read_devices(paths["devices"], factors, paths["factors"])
    size_classes = _read(paths["size_classes"], SIZE_CLASS_COLUMNS)
    known = {d["device"] for d in devices}
    for i, row in enumerate(size_classes, start=2):
        if row["device"] not in known:
            msg = f"{paths['size_classes']}: row {i}, column device: unknown device {row['device']!r}"
            raise FactorTableError(msg)
        for column in ("min_population", "max_population", "multiplier", "low", "high"):
            _number(paths["size_classes"], i, column, row[column])
    estimates = _read(paths["population_estimates"], ESTIMATE_COLUMNS)
    for i, row in enumerate(estimates, start=2):
        if _number(paths["population_estimates"], i, "population", row["population"]) < 0:
            msg = f"{paths['population_estimates']}: row {i}, column population: negative"
            raise FactorTableError(msg)
    strata = _read(paths["population_strata"], STRATA_COLUMNS)
    previous_max = -1.0
    for i, row in enumerate(strata, start=2):
        low = _number(paths["population_strata"], i, "min_population", row["min_population"])
        high = _number(paths["population_strata"], i, "max_population", row["max_population"])
        if low != previous_max + 1 or high < low:
            msg = (f"{paths['population_strata']}: row {i}, column min_population: strata must "
                   f"follow each other without gap or overlap (expected {previous_max + 1:.0f})")
            raise FactorTableError(msg)
        previous_max = high

    con.execute(
        "CREATE OR REPLACE TABLE raw_factors (id VARCHAR, value DOUBLE, low DOUBLE, high DOUBLE, "
        "unit VARCHAR, source VARCHAR, year VARCHAR, confidence VARCHAR, note VARCHAR)"
    )
    con.executemany(
        "INSERT INTO raw_factors VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [[f[c] for c in FACTOR_COLUMNS] for f in factors],
    )
    for table, rows, columns in (
        ("raw_devices", devices, DEVICE_COLUMNS),
        ("raw_size_classes", size_classes, SIZE_CLASS_COLUMNS),
        ("raw_population_estimates", estimates, ESTIMATE_COLUMNS),
        ("raw_population_strata", strata, STRATA_COLUMNS),
    ):
        con.execute(f"CREATE OR REPLACE TABLE {table} ({', '.join(c + ' VARCHAR' for c in columns)})")
        if rows:
            con.executemany(
                f"INSERT INTO {table} VALUES ({', '.join('?' for _ in columns)})",
                [[r[c] for c in columns] for r in rows],
            )

    digest = hashlib.sha256()
    records = []
    for name, path in paths.items():
        sha = sha256_of(path)
        digest.update(sha.encode())
        count = {"devices": len(devices), "size_classes": len(size_classes),
                 "population_estimates": len(estimates), "population_strata": len(strata)}.get(
            name, sum(1 for f in factors if f["path"] == str(path)))
        records.append(InputRecord(name=f"data:{name}", path=str(path), sha256=sha,
                                   rows_read=count, rows_kept=count))
    return records, digest.hexdigest()[:12]
