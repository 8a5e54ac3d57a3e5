"""Local drivers of the device stock per current commune (COG 2026): households, income, jobs.

Three compact tables of ``data/``, keyed by the current commune code, derived from INSEE files
by ``scripts/derive_local_drivers.py`` (a provenance JSON beside each table); a run reads only
these tables, never the INSEE files:

* ``households_census2021.csv``: census 2021 population and households (base du comparateur
  de territoires). Mayotte has no 2021 census: its communes have no row;
* ``income_filosofi2021.csv``: Filosofi 2021 fiscal households, median disposable income per
  consumption unit and poverty rate. An empty cell is a figure INSEE does not publish
  (statistical secrecy, or not available); ``approximation`` says when the figures of a
  commune combine several former communes (:data:`APPROXIMATIONS`);
* ``jobs_establishments2014.csv``: establishments in 2014 and the jobs they stand for,
  estimated from their size classes with the assumed jobs per establishment of
  ``establishment_size_classes.csv``.

A current commune without a row has no figure in the source: the runtime falls back.
"""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from territory.database import insert_rows, sql_literal
from territory.sources._files import InputRecord, sha256_of

HOUSEHOLDS_FILE = "households_census2021.csv"
HOUSEHOLDS_COLUMNS = ("code_insee", "population_2021", "households_2021")

INCOME_FILE = "income_filosofi2021.csv"
INCOME_COLUMNS = ("code_insee", "fiscal_households", "median_income_eur", "poverty_rate_pct",
                  "approximation")
#: values of ``approximation``: "" when the figures are INSEE's for the commune itself
APPROXIMATION_MERGED = "merged"
APPROXIMATION_PARTIAL = "partial"
APPROXIMATIONS = {
    APPROXIMATION_MERGED: ("several former communes have figures: fiscal households summed, "
                           "median = mean of their medians weighted by fiscal households, "
                           "poverty rate = mean of their rates weighted by persons"),
    APPROXIMATION_PARTIAL: ("several former communes, only one of them with figures (the others "
                            "secret): the figures of that part alone"),
}

JOBS_FILE = "jobs_establishments2014.csv"
JOBS_COLUMNS = ("code_insee", "establishments", "jobs_estimated")

SIZE_CLASSES_FILE = "establishment_size_classes.csv"
SIZE_CLASS_COLUMNS = ("size_class", "column", "min_employees", "max_employees", "assumed_jobs",
                      "low", "high", "source", "year")

#: every table derived by scripts/derive_local_drivers.py, by its sub-command
TABLES = {"households": HOUSEHOLDS_FILE, "income": INCOME_FILE, "jobs": JOBS_FILE}


def provenance_file(table: str) -> str:
    """Name of the provenance JSON beside ``table`` (``x.csv`` → ``x.provenance.json``)."""
    return table.removesuffix(".csv") + ".provenance.json"


def read_table(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of one of these tables, as text; ValueError when its header is not
    ``columns``."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != columns:
            msg = f"{path}: header {reader.fieldnames} is not {list(columns)}"
            raise ValueError(msg)
        return list(reader)


#: which devices follow which driver: device, driver (income or age), prefix of the factors
#: giving the rate per income decile (``<rates>.decile_<n>``) or age band (``<rates>.age_…``)
DEVICE_DRIVERS_FILE = "device_drivers.csv"
DEVICE_DRIVER_COLUMNS = ("device", "driver", "rates", "source")
DRIVERS = ("income", "age")

#: raw table of each derived table read by a run
RAW_TABLES = {
    HOUSEHOLDS_FILE: ("raw_households_census", HOUSEHOLDS_COLUMNS),
    INCOME_FILE: ("raw_income_filosofi", INCOME_COLUMNS),
    JOBS_FILE: ("raw_jobs_establishments", JOBS_COLUMNS),
}


def load_local_drivers(con: duckdb.DuckDBPyConnection, folder: Path) -> list[InputRecord]:
    """Create ``raw_households_census``, ``raw_income_filosofi`` and ``raw_jobs_establishments``
    from ``folder``'s tables (the project's ``data/``); a table that breaks a rule stops the run
    naming file, row and column."""
    import json

    from territory.errors import InputError

    records = []
    for name, (table, columns) in RAW_TABLES.items():
        path = folder / name
        if not path.is_file():
            msg = f"{path}: file missing; run scripts/derive_local_drivers.py"
            raise InputError(msg)
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv({sql_literal(path)}, "
            "header = true, all_varchar = true, quote = '\"', escape = '\"')")
        header = tuple(r[0] for r in con.execute(f"DESCRIBE {table}").fetchall())
        if header != columns:
            msg = f"{path}: row 1: header {', '.join(header)} is not {', '.join(columns)}"
            raise InputError(msg)
        count = int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
        provenance_path = folder / provenance_file(name)
        provenance = (json.loads(provenance_path.read_text(encoding="utf-8"))
                      if provenance_path.is_file() else {})
        records.append(InputRecord(
            name=f"data:{name.removesuffix('.csv')}", path=str(path), sha256=sha256_of(path),
            rows_read=count, rows_kept=count, vintage=provenance.get("source"),
            notes=[(f"derived by {provenance.get('script', 'scripts/derive_local_drivers.py')}"
                   f" from {provenance.get('url', 'an INSEE file')}")]))
    return records


#: the factor a rates prefix must have, per driver (``computer_by_income.decile_1``)
_FIRST_RATE = {"income": "{rates}.decile_1", "age": "{rates}.age_15_29"}


def load_device_drivers(con: duckdb.DuckDBPyConnection, folder: Path) -> InputRecord:
    """Create ``raw_device_drivers`` from ``folder``'s ``device_drivers.csv``, checked against
    the devices and factors already loaded (``raw_devices``, ``raw_factors``): an unknown
    device or driver, or a rates prefix without its factors, stops the run naming file, row and
    column."""
    from territory.errors import FactorTableError

    path = folder / DEVICE_DRIVERS_FILE
    try:
        rows = read_table(path, DEVICE_DRIVER_COLUMNS)
    except (OSError, ValueError) as error:
        msg = f"{path}: row 1: {error}"
        raise FactorTableError(msg) from error
    devices = {str(r[0]) for r in con.execute("SELECT device FROM raw_devices").fetchall()}
    factors = {str(r[0]) for r in con.execute("SELECT id FROM raw_factors").fetchall()}
    for line, row in enumerate(rows, start=2):
        for column, known in (("device", devices), ("driver", set(DRIVERS))):
            if row[column] not in known:
                msg = (f"{path}: row {line}, column {column}: {row[column]!r} is not one of "
                       f"{', '.join(sorted(known))}")
                raise FactorTableError(msg)
        first = _FIRST_RATE[row["driver"]].format(rates=row["rates"])
        if first not in factors:
            msg = (f"{path}: row {line}, column rates: no factor {first} in the factor tables "
                   f"for the {row['driver']} rates {row['rates']!r}")
            raise FactorTableError(msg)
    con.execute("CREATE OR REPLACE TABLE raw_device_drivers (device VARCHAR, driver VARCHAR, "
                "rates VARCHAR)")
    insert_rows(con, "raw_device_drivers", [(r["device"], r["driver"], r["rates"]) for r in rows])
    return InputRecord(name="data:device_drivers", path=str(path), sha256=sha256_of(path),
                       rows_read=len(rows), rows_kept=len(rows))
