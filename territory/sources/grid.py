"""The grid's carbon intensity by month and hour of the day, from RTE's éCO2mix.

The embedded table ``data/grid_intensity_month_hour.csv`` (``month, hour, gco2_per_kwh,
origin``) is derived by ``scripts/derive_grid_intensity.py``; ``origin`` says whether a month's
figures were measured in an éCO2mix export or approximated (see its provenance JSON).

``--source grid=FILE`` (also ``reseau_electrique``, ``grille``) gives a user's own éCO2mix export
as RTE and ODRÉ publish it: ``;``-separated, CRLF or LF, rows in any order, 15- or 30-minute
steps, any months. Its ``Taux de CO2 (g/kWh)`` is averaged per month and local hour (the clock
time of ``Date - Heure``); rows without a rate (the quarter-hours of the consolidated files) are
skipped; months the file does not cover keep the embedded figures, and the manifest says so. A
value that is not a number, or a date that cannot be read, stops the run with one line naming the
file, the row (1 = header) and the column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from territory.database import insert_rows, sql_literal
from territory.errors import InputError
from territory.i18n import Message, _
from territory.sources._files import InputRecord, sha256_of

EMBEDDED = "grid_intensity_month_hour.csv"
EMBEDDED_COLUMNS = ("month", "hour", "gco2_per_kwh", "origin")
ORIGINS = ("measured", "approximated")

#: the carbon-rate column, as RTE's files and ODRÉ's exports (raw or normalised) name it
RATE_COLUMNS = ("Taux de CO2 (g/kWh)", "taux_co2", "Taux de Co2 (g/kWh)")
#: the local date-and-time column (ISO 8601 with offset)
DATETIME_COLUMNS = ("Date - Heure", "Date et Heure", "date_heure", "Date - heure")
#: separate date and time columns (RTE's annual files, ODRÉ's older exports)
DATE_COLUMNS = ("Date", "date")
TIME_COLUMNS = ("Heure", "Heures", "heure", "heures")


@dataclass
class GridReading:
    """One éCO2mix export read: mean rate per (month, hour) and its row accounting."""

    path: Path
    cells: dict[tuple[int, int], float]
    rows_read: int
    rows_kept: int
    rows_without_rate: int
    months: list[int] = field(default_factory=list)


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    folded = {c.strip().lower(): c for c in columns}
    for name in names:
        if name.lower() in folded:
            return folded[name.lower()]
    return None


def read_eco2mix(path: Path) -> GridReading:
    """Mean ``Taux de CO2 (g/kWh)`` per month and local hour of an éCO2mix export."""
    if not path.is_file():
        msg = _("{path}: grid file not found").format(path=path)
        raise InputError(msg)
    con = duckdb.connect()
    try:
        try:
            con.execute(
                "CREATE TABLE rows AS SELECT row_number() OVER () + 1 AS _line, * FROM read_csv("
                f"{sql_literal(path)}, delim = ';', header = true, all_varchar = true, "
                "parallel = false, null_padding = true)")
        except duckdb.Error as error:
            first = str(error).splitlines()[0]
            msg = _("{path}: not a readable éCO2mix export (';'-separated CSV): {error}").format(
                path=path, error=first)
            raise InputError(msg) from error
        columns = [r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'rows' "
            "ORDER BY column_index").fetchall()][1:]
        rate = _pick(columns, RATE_COLUMNS)
        stamp = _pick(columns, DATETIME_COLUMNS)
        day, clock = _pick(columns, DATE_COLUMNS), _pick(columns, TIME_COLUMNS)
        if rate is None or (stamp is None and (day is None or clock is None)):
            msg = _("{path}: row 1: not an éCO2mix export: needs the columns '{rate}' and "
                    "'{when}' (or 'Date' and 'Heure')").format(path=path, rate=RATE_COLUMNS[0],
                                                               when=DATETIME_COLUMNS[0])
            raise InputError(msg)
        when = (f'substr(trim("{stamp}"), 1, 16)' if stamp is not None
                else f"""trim("{day}") || 'T' || substr(trim("{clock}"), 1, 5)""")
        when_column = stamp if stamp is not None else f"{day}/{clock}"
        con.execute(
            f"""CREATE TABLE parsed AS SELECT _line,
                   nullif(trim("{rate}"), '') AS rate_text,
                   try_cast(replace(nullif(trim("{rate}"), ''), ',', '.') AS DOUBLE) AS rate,
                   {when} AS when_text,
                   try_strptime({when}, '%Y-%m-%dT%H:%M') AS local_time
               FROM rows""")
        bad = con.execute(
            "SELECT _line, when_text FROM parsed WHERE local_time IS NULL ORDER BY _line LIMIT 1"
        ).fetchone()
        if bad:
            msg = _("{path}: row {row}, column '{column}': {value!r} is not a date and time "
                    "(expected 2021-12-11T10:00:00+01:00)").format(
                path=path, row=bad[0], column=when_column, value=bad[1])
            raise InputError(msg)
        bad = con.execute(
            "SELECT _line, rate_text FROM parsed WHERE rate_text IS NOT NULL "
            "AND (rate IS NULL OR rate < 0 OR rate > 2000) ORDER BY _line LIMIT 1").fetchone()
        if bad:
            msg = _("{path}: row {row}, column '{column}': {value!r} is not a carbon rate in "
                    "g/kWh (a number between 0 and 2000)").format(
                path=path, row=bad[0], column=rate, value=bad[1])
            raise InputError(msg)
        rows_read = int(con.execute("SELECT count(*) FROM parsed").fetchone()[0])  # type: ignore[index]
        cells = {(int(m), int(h)): float(v) for m, h, v in con.execute(
            "SELECT month(local_time), hour(local_time), avg(rate) FROM parsed "
            "WHERE rate IS NOT NULL GROUP BY ALL").fetchall()}
        kept = int(con.execute("SELECT count(*) FROM parsed WHERE rate IS NOT NULL")
                   .fetchone()[0])  # type: ignore[index]
    finally:
        con.close()
    if not cells:
        msg = _("{path}: column '{column}': no row gives a carbon rate").format(path=path,
                                                                                 column=rate)
        raise InputError(msg)
    months = sorted({m for m, _ in cells})
    partial = [m for m in months if sum(1 for mm, _ in cells if mm == m) < 24]
    if partial:
        msg = _("{path}: column '{column}': month {month} lacks some hours of the day (give "
                "whole days)").format(path=path, column=rate, month=partial[0])
        raise InputError(msg)
    return GridReading(path, cells, rows_read, kept, rows_read - kept, months)


def read_embedded(folder: Path) -> list[dict[str, Any]]:
    """The embedded month x hour table, checked (12 x 24 cells, numbers, known origins)."""
    path = folder / EMBEDDED
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != EMBEDDED_COLUMNS:
            msg = _("{path}: row 1: expected the columns {columns}").format(
                path=path, columns=", ".join(EMBEDDED_COLUMNS))
            raise InputError(msg)
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                cell = {"month": int(row["month"]), "hour": int(row["hour"]),
                        "gco2_per_kwh": float(row["gco2_per_kwh"]), "origin": row["origin"]}
            except ValueError as error:
                msg = _("{path}: row {row}: {error}").format(path=path, row=line, error=error)
                raise InputError(msg) from error
            if cell["origin"] not in ORIGINS:
                msg = _("{path}: row {row}, column origin: {value!r} is not one of "
                        "{known}").format(path=path, row=line, value=cell["origin"],
                                          known=ORIGINS)
                raise InputError(msg)
            rows.append(cell)
    if sorted((r["month"], r["hour"]) for r in rows) != [
            (m, h) for m in range(1, 13) for h in range(24)]:
        msg = _("{path}: expected one row per month (1-12) and hour (0-23)").format(path=path)
        raise InputError(msg)
    return rows


def load_grid(
    con: duckdb.DuckDBPyConnection, folder: Path, user_file: Path | None = None,
) -> tuple[list[InputRecord], dict[str, Any]]:
    """Create ``raw_grid_intensity(month, hour, gco2_per_kwh, origin)``: the embedded table,
    with the months ``user_file`` covers replaced by its figures. Returns the provenance
    records and the manifest's ``grid_intensity`` summary."""
    embedded = read_embedded(folder)
    path = folder / EMBEDDED
    records = [InputRecord(name="data:grid_intensity_month_hour", path=str(path),
                           sha256=sha256_of(path), rows_read=len(embedded),
                           rows_kept=len(embedded))]
    approximated = sorted({r["month"] for r in embedded if r["origin"] == "approximated"})
    summary: dict[str, Any] = {
        "table": f"data/{EMBEDDED}",
        "measured_months": sorted({r["month"] for r in embedded if r["origin"] == "measured"}),
        "approximated_months": approximated,
        "approximation": bool(approximated),
    }
    rows = [(r["month"], r["hour"], r["gco2_per_kwh"], r["origin"]) for r in embedded]
    if user_file is not None:
        reading = read_eco2mix(user_file)
        records.append(InputRecord(
            name="grid", path=str(user_file), sha256=sha256_of(user_file),
            rows_read=reading.rows_read, rows_kept=reading.rows_kept,
            rows_set_aside=({"no carbon rate (quarter-hours of consolidated files)":
                             reading.rows_without_rate} if reading.rows_without_rate else {}),
            notes=[Message("months read: {months}",
                           months=", ".join(map(str, reading.months)))]))
        rows = [(m, h, reading.cells[(m, h)], "user_file") if (m, h) in reading.cells
                else (m, h, g, o) for m, h, g, o in rows]
        others = [m for m in range(1, 13) if m not in reading.months]
        summary |= {
            "user_file": str(user_file),
            "user_file_months": reading.months,
            "embedded_months_kept": others,
            "approximated_months": [m for m in approximated if m in others],
            "approximation": any(m in others for m in approximated),
        }
        if others:
            summary["note"] = (f"{user_file.name} covers months {reading.months}: the other months "
                               f"keep the embedded table's figures (data/{EMBEDDED})")
    con.execute("CREATE OR REPLACE TABLE raw_grid_intensity (month INTEGER, hour INTEGER, "
                "gco2_per_kwh DOUBLE, origin VARCHAR)")
    insert_rows(con, "raw_grid_intensity", rows)
    return records, summary
