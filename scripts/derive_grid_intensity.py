"""Derive data/grid_intensity_month_hour.csv from an RTE éCO2mix national export.

Usage: python3 scripts/derive_grid_intensity.py [ECO2MIX_CSV]
(default: ../shared/realdata/rte/eco2mix-national-tr.csv, all of December 2021, 15-min steps).

The file's ``Taux de CO2 (g/kWh)`` is averaged per month and local hour with the reader the runs
use (territory/sources/grid.py). A month the file covers is ``measured``. No full year of the
same export could be had offline (searched: ODRÉ's eco2mix-national-cons-def mirrors on GitHub
hold January 2024 only or are git-annex pointers; see the provenance JSON), nor a sourced table
of RTE's monthly average rates: the months the file does not cover repeat the hourly figures of
the nearest covered month and are labelled ``approximated``. Seasonality between months is
therefore NOT represented by the embedded table; ``--source grid=FILE`` with a full-year export
replaces it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from territory.sources.grid import EMBEDDED, EMBEDDED_COLUMNS, read_eco2mix

DEFAULT = ROOT.parent / "shared" / "realdata" / "rte" / "eco2mix-national-tr.csv"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def nearest(month: int, covered: list[int]) -> int:
    """The covered month closest to ``month`` on the circle of the year (earlier on ties)."""
    return min(covered, key=lambda m: (min((m - month) % 12, (month - m) % 12), m))


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    reading = read_eco2mix(source)
    out = ROOT / "data" / EMBEDDED
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(EMBEDDED_COLUMNS)
        for month in range(1, 13):
            origin = "measured" if month in reading.months else "approximated"
            taken = month if origin == "measured" else nearest(month, reading.months)
            for hour in range(24):
                writer.writerow([month, hour, f"{reading.cells[(taken, hour)]:.3f}", origin])
    provenance = {
        "table": EMBEDDED,
        "source": "RTE, éCO2mix national, 'Données temps réel' (ODRÉ export of dataset "
                  "eco2mix-national-tr), column 'Taux de CO2 (g/kWh)': direct CO2 emissions of "
                  "French production per kWh produced (imports excluded), 15-minute steps",
        "publisher": "RTE (Réseau de transport d'électricité)",
        "url": "https://raw.githubusercontent.com/Mathis-GrSsT/eCO2mix/"
               "8230430e42268b74164451d7409cc6ab763e8fae/eco2mix-national-tr.csv",
        "dataset_page": "https://odre.opendatasoft.com/explore/dataset/eco2mix-national-tr/",
        "repository": "github.com/Mathis-GrSsT/eCO2mix",
        "commit": "8230430e42268b74164451d7409cc6ab763e8fae",
        "period": "2021-12-01T00:00+01:00 to 2021-12-31T23:45+01:00",
        "source_file": source.name,
        "source_sha256": sha256(source),
        "rows_read": reading.rows_read,
        "rows_with_rate": reading.rows_kept,
        "measured_months": reading.months,
        "approximated_months": [m for m in range(1, 13) if m not in reading.months],
        "approximation": ("months not in the export repeat the hourly means of the nearest "
                          "measured month (here December 2021 for every month): the hourly "
                          "shape is measured for December only and no difference between "
                          "months is represented. No full year of the export and no sourced "
                          "table of RTE's monthly average rates could be had offline "
                          "(searched GitHub mirrors of ODRÉ's eco2mix-national-cons-def: "
                          "LifelongCompany/Analysis-of-the-Impact-of-Cold-Snaps-on-the-Paris-"
                          "Electricity-Grid holds January 2024 only; lucasgautheron/scenarios-"
                          "rte-simulation stores it as a git-annex pointer without content). "
                          "Replace it by re-running this script on a full-year export, or per run "
                          "with --source grid=FILE."),
        "derived_files_sha256": {EMBEDDED: sha256(out)},
        "derived_on": date.today().isoformat(),
        "script": "scripts/derive_grid_intensity.py",
        "licence": "RTE éCO2mix / ODRÉ data, Licence Ouverte / Etalab (the repository "
                   "republishing the file states no licence)",
    }
    (ROOT / "data" / "grid_intensity_month_hour.provenance.json").write_text(
        json.dumps(provenance, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"{out}: {12 * 24} rows, measured months {reading.months}")


if __name__ == "__main__":
    main()
