"""Derive data/usage_profiles.csv from data/usage_profile_definitions.csv.

Usage: python3 scripts/derive_usage_profiles.py

For each profile and month, 24 hourly shares summing to 1 (the share of a day's use in each
local hour) and ``day_weight``, the day's use relative to the year's average day (1 for every
profile but street lighting). A ``hours`` profile spreads its 24 relative powers the same way
every month. The ``night`` profile (street lighting) is lit from sunset to sunrise: for each day
of 2023 (a year without 29 February) at 46.6°N 2.5°E, sunrise and sunset in local time
(Europe/Paris, summer time included) from NOAA's solar position equations (declination and
equation of time, sun 0.833° below the horizon); each hour's share is the part of it in the
dark, summed over the month's days; the day weight is the month's mean night length over the
year's.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT / "data" / "usage_profile_definitions.csv"
OUT = ROOT / "data" / "usage_profiles.csv"
LATITUDE, LONGITUDE, YEAR = 46.6, 2.5, 2023
PARIS = ZoneInfo("Europe/Paris")


def sun_times_utc(day: date) -> tuple[float, float]:
    """Sunrise and sunset of ``day`` in hours UTC (NOAA's approximate equations)."""
    n = day.timetuple().tm_yday
    gamma = 2 * math.pi / 365 * (n - 1)
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(gamma) - 0.032077 * math.sin(gamma)
                       - 0.014615 * math.cos(2 * gamma) - 0.040849 * math.sin(2 * gamma))
    decl = (0.006918 - 0.399912 * math.cos(gamma) + 0.070257 * math.sin(gamma)
            - 0.006758 * math.cos(2 * gamma) + 0.000907 * math.sin(2 * gamma)
            - 0.002697 * math.cos(3 * gamma) + 0.00148 * math.sin(3 * gamma))
    lat = math.radians(LATITUDE)
    cos_ha = (math.cos(math.radians(90.833)) / (math.cos(lat) * math.cos(decl))
              - math.tan(lat) * math.tan(decl))
    ha = math.degrees(math.acos(cos_ha))
    sunrise = (720 - 4 * (LONGITUDE + ha) - eqtime) / 60
    sunset = (720 - 4 * (LONGITUDE - ha) - eqtime) / 60
    return sunrise, sunset


def dark_fractions(day: date) -> list[float]:
    """The part of each local hour of ``day`` between sunset and sunrise."""
    offset = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).astimezone(PARIS).utcoffset()
    shift = (offset or timedelta()).total_seconds() / 3600
    sunrise, sunset = (t + shift for t in sun_times_utc(day))
    return [max(0.0, min(h + 1, sunrise) - h) + max(0.0, h + 1 - max(h, sunset))
            for h in range(24)]


def night_profile() -> dict[int, tuple[list[float], float]]:
    by_month: dict[int, list[list[float]]] = {}
    day = date(YEAR, 1, 1)
    while day.year == YEAR:
        by_month.setdefault(day.month, []).append(dark_fractions(day))
        day += timedelta(days=1)
    yearly = sum(sum(d) for days in by_month.values() for d in days) / 365
    result = {}
    for month, days in by_month.items():
        totals = [sum(d[h] for d in days) for h in range(24)]
        whole = sum(totals)
        result[month] = ([t / whole for t in totals], whole / len(days) / yearly)
    return result


def main() -> None:
    with DEFINITIONS.open(encoding="utf-8", newline="") as handle:
        definitions = list(csv.DictReader(handle))
    night = night_profile()
    with OUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["profile", "month", "hour", "share", "day_weight"])
        for definition in definitions:
            if definition["shape"] == "night":
                months = night
            else:
                weights = [float(w) for w in definition["weights"].split()]
                assert len(weights) == 24, definition["profile"]
                shares = [w / sum(weights) for w in weights]
                months = {m: (shares, 1.0) for m in range(1, 13)}
            for month in range(1, 13):
                shares, weight = months[month]
                for hour, share in enumerate(shares):
                    writer.writerow([definition["profile"], month, hour, f"{share:.8f}",
                                     f"{weight:.6f}"])
    night_hours = {m: round(night[m][1], 4) for m in night}
    provenance = {
        "table": OUT.name,
        "derived_from": {DEFINITIONS.name: hashlib.sha256(DEFINITIONS.read_bytes()).hexdigest()},
        "derived_files_sha256": {OUT.name: hashlib.sha256(OUT.read_bytes()).hexdigest()},
        "street_lighting": {"latitude": LATITUDE, "longitude": LONGITUDE, "year": YEAR,
                            "time_zone": "Europe/Paris",
                            "method": "NOAA General Solar Position Calculations "
                                      "(gml.noaa.gov/grad/solcalc/solareqns.PDF), zenith 90.833°",
                            "day_weight_by_month": night_hours},
        "derived_on": date.today().isoformat(),
        "script": "scripts/derive_usage_profiles.py",
    }
    (ROOT / "data" / "usage_profiles.provenance.json").write_text(
        json.dumps(provenance, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(definitions)} profiles x 12 months x 24 hours")


if __name__ == "__main__":
    main()
