"""Usage profiles: when in the day (and, for street lights, the year) electricity is used.

``data/usage_profiles.csv`` (derived by ``scripts/derive_usage_profiles.py`` from
``data/usage_profile_definitions.csv``) gives, per profile, month and local hour, the share of a
day's use in that hour (24 shares summing to 1) and ``day_weight``, the day's use relative to the
year's average day. ``data/usage_profile_assignments.csv`` gives each device type of
``devices.csv`` and each registry kind its profile; a registry kind it does not list (one declared
outside ``data/``) is counted as ``flat``. Each profile has a ``profile.<name>.flexible_share``
factor (``data/factors_hourly.csv``). A broken table stops the run naming file, row and column.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import duckdb

from territory.database import insert_rows
from territory.errors import FactorTableError
from territory.i18n import _
from territory.sources._files import InputRecord, sha256_of

PROFILES_FILE = "usage_profiles.csv"
ASSIGNMENTS_FILE = "usage_profile_assignments.csv"
PROFILE_COLUMNS = ("profile", "month", "hour", "share", "day_weight")
ASSIGNMENT_COLUMNS = ("subject_kind", "subject", "profile", "note")
#: the profile of a registry kind the assignments do not list
DEFAULT_PROFILE = "flat"


def _rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != columns:
            msg = _("{path}: row 1: expected the columns {columns}").format(
                path=path, columns=", ".join(columns))
            raise FactorTableError(msg)
        return list(reader)


def load_usage_profiles(con: duckdb.DuckDBPyConnection, folder: Path) -> list[InputRecord]:
    """Create ``raw_usage_profiles`` and ``raw_usage_profile_assignments`` (after the factor
    tables: devices and factors are checked against them)."""
    path = folder / PROFILES_FILE
    profiles = _rows(path, PROFILE_COLUMNS)
    cells: dict[tuple[str, int], list[float]] = {}
    parsed = []
    for line, row in enumerate(profiles, start=2):
        values = []
        for column in ("month", "hour", "share", "day_weight"):
            try:
                values.append(float(row[column]))
            except ValueError:
                msg = _("{path}: row {row}, column {column}: {value!r} is not a number").format(
                    path=path, row=line, column=column, value=row[column])
                raise FactorTableError(msg) from None
        month, hour, share, weight = values
        if month not in range(1, 13) or hour not in range(24) or share < 0 or weight < 0:
            msg = _("{path}: row {row}: month 1-12, hour 0-23, share and day_weight >= 0").format(
                path=path, row=line)
            raise FactorTableError(msg)
        cells.setdefault((row["profile"], int(month)), []).append(share)
        parsed.append((row["profile"], int(month), int(hour), share, weight))
    for (profile, month), shares in cells.items():
        if len(shares) != 24 or not math.isclose(sum(shares), 1, abs_tol=1e-6):
            msg = _("{path}: profile {profile}, month {month}: expected 24 hourly shares "
                    "summing to 1, got {count} summing to {total:.6f}").format(
                path=path, profile=profile, month=month, count=len(shares), total=sum(shares))
            raise FactorTableError(msg)
    names = {p for p, _ in cells}
    incomplete = sorted(p for p in names if sum(1 for q, _ in cells if q == p) != 12)
    if incomplete:
        msg = _("{path}: profile {profile}: expected 12 months").format(path=path,
                                                                        profile=incomplete[0])
        raise FactorTableError(msg)
    factors = {str(r[0]) for r in con.execute("SELECT id FROM raw_factors").fetchall()}
    lacking = sorted(p for p in names if f"profile.{p}.flexible_share" not in factors)
    if lacking:
        msg = _("{path}: profile {profile}: the factor tables lack {factor}").format(
            path=path, profile=lacking[0], factor=f"profile.{lacking[0]}.flexible_share")
        raise FactorTableError(msg)

    apath = folder / ASSIGNMENTS_FILE
    assignments = _rows(apath, ASSIGNMENT_COLUMNS)
    devices = {str(r[0]) for r in con.execute("SELECT device FROM raw_devices").fetchall()}
    seen: set[tuple[str, str]] = set()
    for line, row in enumerate(assignments, start=2):
        key = (row["subject_kind"], row["subject"])
        if row["subject_kind"] not in ("device", "registry"):
            msg = _("{path}: row {row}, column subject_kind: 'device' or 'registry'").format(
                path=apath, row=line)
            raise FactorTableError(msg)
        if row["subject_kind"] == "device" and row["subject"] not in devices:
            msg = _("{path}: row {row}, column subject: unknown device {value!r}").format(
                path=apath, row=line, value=row["subject"])
            raise FactorTableError(msg)
        if row["profile"] not in names:
            msg = _("{path}: row {row}, column profile: unknown profile {value!r}").format(
                path=apath, row=line, value=row["profile"])
            raise FactorTableError(msg)
        if key in seen:
            msg = _("{path}: row {row}, column subject: {value!r} assigned twice").format(
                path=apath, row=line, value=row["subject"])
            raise FactorTableError(msg)
        seen.add(key)
    missing = sorted(devices - {s for k, s in seen if k == "device"})
    if missing:
        msg = _("{path}: device {device} of devices.csv has no usage profile").format(
            path=apath, device=missing[0])
        raise FactorTableError(msg)

    con.execute("CREATE OR REPLACE TABLE raw_usage_profiles (profile VARCHAR, month INTEGER, "
                "hour INTEGER, share DOUBLE, day_weight DOUBLE)")
    insert_rows(con, "raw_usage_profiles", parsed)
    con.execute("CREATE OR REPLACE TABLE raw_usage_profile_assignments (subject_kind VARCHAR, "
                "subject VARCHAR, profile VARCHAR)")
    insert_rows(con, "raw_usage_profile_assignments",
                [(r["subject_kind"], r["subject"], r["profile"]) for r in assignments])
    return [InputRecord(name=f"data:{p.stem}", path=str(p), sha256=sha256_of(p),
                        rows_read=n, rows_kept=n)
            for p, n in ((path, len(profiles)), (apath, len(assignments)))]
