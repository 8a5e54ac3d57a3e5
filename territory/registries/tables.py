"""Registry rows into DuckDB: ``raw_registry_points``, ``raw_fibre`` and ``raw_income``.

The tables always exist (empty when no registry is given), with a fixed schema, so that the SQL
models read them whether or not a planner supplied a file.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from territory.registries._common import POINT_KINDS, RegistryLoad

POINT_COLUMNS = {
    "kind": "VARCHAR",
    "source_file": "VARCHAR",
    "source_line": "BIGINT",
    "x": "DOUBLE",
    "y": "DOUBLE",
    "crs": "VARCHAR",
    "code_insee": "VARCHAR",
    "name": "VARCHAR",
    "operator": "VARCHAR",
    "subtype": "VARCHAR",
    "technologies": "VARCHAR",
    "has_5g": "BOOLEAN",
    "capacity_mw": "DOUBLE",
    "pue": "DOUBLE",
    "capacity_origin": "VARCHAR",
    "installed_year": "BIGINT",
}
FIBRE_COLUMNS = {
    "code_insee": "VARCHAR", "quarter": "VARCHAR", "ftth_connectable": "DOUBLE",
    "coverage_class": "BIGINT", "premises": "DOUBLE", "ftth_share": "DOUBLE",
}
INCOME_COLUMNS = {
    "code_insee": "VARCHAR", "year": "VARCHAR", "households_fiscal": "DOUBLE",
    "persons_fiscal": "DOUBLE", "median_income_eur": "DOUBLE", "poverty_rate_pct": "DOUBLE",
    "secret": "BOOLEAN",
}


def _frame(rows: pd.DataFrame, columns: dict[str, str], **constants: object) -> pd.DataFrame:
    out = pd.DataFrame(index=rows.index)
    for column in columns:
        if column in constants:
            out[column] = constants[column]
        elif column in rows.columns:
            out[column] = rows[column]
        else:
            out[column] = None
    return out


def _create(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str], frames: list[pd.DataFrame]) -> None:
    con.execute(f"CREATE OR REPLACE TABLE {table} ({', '.join(f'{c} {t}' for c, t in columns.items())})")
    for frame in frames:
        if len(frame):
            con.register("_registry_frame", frame)
            casts = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in columns.items())
            con.execute(f"INSERT INTO {table} SELECT {casts} FROM _registry_frame")
            con.unregister("_registry_frame")


def create_registry_tables(con: duckdb.DuckDBPyConnection, loads: list[RegistryLoad]) -> None:
    """Create the three raw registry tables from the loaded registries."""
    points, fibre, income = [], [], []
    for load in loads:
        source = load.record.path if load.record else ""
        if load.kind in POINT_KINDS:
            points.append(_frame(load.rows, POINT_COLUMNS, kind=load.kind, source_file=source, crs=load.crs))
        elif load.kind == "fibre":
            fibre.append(_frame(load.rows, FIBRE_COLUMNS))
        elif load.kind == "income":
            income.append(_frame(load.rows, INCOME_COLUMNS))
    _create(con, "raw_registry_points", POINT_COLUMNS, points)
    _create(con, "raw_fibre", FIBRE_COLUMNS, fibre)
    _create(con, "raw_income", INCOME_COLUMNS, income)
