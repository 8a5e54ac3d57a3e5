"""Write the device table of docs/methodology.md (section 3) from a run's manifest.json.

The table between the two marker lines gives, per device type, its basis, equipment rate and
units per owner (with their confidence in the factor tables), the national stock with its
low-high envelope, the factors of one unit and the national footprint. The national figures
are those of ``national_check.devices`` in the manifest of an all-France or département run
(both sum all communes of France); the factors are read from ``data/``.

Usage::

    territory run --departement 44 --out /tmp/run44
    python scripts/document_devices.py /tmp/run44/manifest.json          # rewrite the table
    python scripts/document_devices.py /tmp/run44/manifest.json --check  # exit 1 when stale
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

# the marker-delimited rewrite of the methodology, shared with the column list
from document_columns import METHODOLOGY, documented

ROOT = Path(__file__).resolve().parents[1]
BEGIN = ("<!-- device table: generated from a run's manifest.json by scripts/document_devices.py, "
         "do not edit -->")
END = "<!-- end of the device table -->"
BASES = {"households": "hh", "persons_12plus": "12+", "inhabitants": "inh", "jobs": "job"}
CONFIDENCE = {"H": "H", "M": "M", "L": "L", "estimate": "est."}


def _factors() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for path in sorted((ROOT / "data").glob("factors*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            found |= {row["id"]: row for row in csv.DictReader(handle)}
    return found


def _number(value: float, decimals: int = 0) -> str:
    return f"{value:,.{decimals}f}"


def _rated(factor: dict[str, str] | None) -> str:
    if factor is None:
        return "—"
    value = f"{float(factor['value']):g}"
    confidence = CONFIDENCE.get(factor["confidence"], factor["confidence"])
    text = f"{value} {confidence}"
    return f"**{text}**" if confidence == "est." else text


def table(manifest: dict, factors: dict[str, dict[str, str]]) -> str:
    """The Markdown table of the devices of ``manifest``."""
    with (ROOT / "data" / "devices.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    territorial = {r["device"]: r["territorial"] == "true" for r in rows}
    order = {r["device"]: i for i, r in enumerate(rows)}
    lines = [
        ("| device | part | basis | rate | per owner | stock, M (low–high) | embodied kgCO2e/unit "
        "| life, yr | kWh/yr | embodied kt | use kt | total kt (low–high) | TWh | terr. |"),
        "| --- | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    totals = {"embodied": 0.0, "use": 0.0, "total": 0.0, "low": 0.0, "high": 0.0, "kwh": 0.0}
    devices = sorted(manifest["national_check"]["devices"],
                     key=lambda d: order.get(d["device"], len(order)))
    for d in devices:
        name = d["device"]

        def figure(kind: str, name: str = name) -> str:
            factor = factors.get(f"{name}.{kind}")
            return f"{float(factor['value']):g}" if factor else "—"

        lines.append(
            f"| {name} | {d['component']} | {BASES.get(d['basis'], d['basis'])} "
            f"| {_rated(factors.get(f'{name}.equipment_rate'))} "
            f"| {_rated(factors.get(f'{name}.units_per_owner'))} "
            f"| {d['units'] / 1e6:.1f} ({d['units_low'] / 1e6:.1f}–{d['units_high'] / 1e6:.1f}) "
            f"| {figure('embodied_kgco2e')} | {figure('lifetime_years')} "
            f"| {figure('use_kwh_per_year')} | {_number(d['embodied_tco2e'] / 1e3)} "
            f"| {_number(d['use_tco2e'] / 1e3)} | {_number(d['total_tco2e'] / 1e3)} "
            f"({_number(d['total_tco2e_low'] / 1e3)}–{_number(d['total_tco2e_high'] / 1e3)}) "
            f"| {d['use_kwh'] / 1e9:.2f} | {'yes' if territorial.get(name) else 'no'} |")
        totals["embodied"] += d["embodied_tco2e"]
        totals["use"] += d["use_tco2e"]
        totals["total"] += d["total_tco2e"]
        totals["low"] += d["total_tco2e_low"]
        totals["high"] += d["total_tco2e_high"]
        totals["kwh"] += d["use_kwh"]
    lines.append(
        f"| **total** | | | | | | | | | **{_number(totals['embodied'] / 1e3)}** "
        f"| **{_number(totals['use'] / 1e3)}** | **{_number(totals['total'] / 1e3)} "
        f"({_number(totals['low'] / 1e3)}–{_number(totals['high'] / 1e3)})** "
        f"| **{totals['kwh'] / 1e9:.2f}** | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path, help="manifest.json of a territory run")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the table is out of date, write nothing")
    args = parser.parse_args(argv)
    manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    text = METHODOLOGY.read_text(encoding="utf-8")
    updated = documented(text, table(manifest, _factors()), BEGIN, END)
    if args.check:
        if updated != text:
            print(f"{METHODOLOGY}: the device table is out of date", file=sys.stderr)
            return 1
        return 0
    if updated != text:
        METHODOLOGY.write_text(updated, encoding="utf-8")
        print(f"updated {METHODOLOGY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
