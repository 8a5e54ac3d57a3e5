"""Derive the per-commune tables of local drivers (households, income, jobs) from INSEE files.

Sub-commands (``all`` writes the three), each writing one table keyed by the current commune
code (COG 2026) and its provenance JSON (``<table>.provenance.json``) into ``data/`` unless
``--out`` says otherwise::

    households  households_census2021.csv   code_insee, population_2021, households_2021
                from communes_comparateur_cog2024.csv (INSEE base du comparateur de
                territoires, census 2021, as compiled in github.com/rcarlier/datas.fun)
    income      income_filosofi2021.csv     code_insee, fiscal_households, median_income_eur,
                                            poverty_rate_pct, approximation
                from cc_filosofi_2021_COM.csv (INSEE Filosofi 2021, github.com/greg2gld/DS-Immo)
    jobs        jobs_establishments2014.csv code_insee, establishments, jobs_estimated
                from base_etablissement_par_tranche_effectif.csv (INSEE establishments by size
                class 2014, github.com/cheikhb/salire_france), with the assumed jobs per
                establishment of data/establishment_size_classes.csv

The files are read from the folder given by ``--from`` (default: ../shared/realdata/insee
beside the project); nothing is downloaded. Each file is checked against the SHA-256 pinned
below: it is the file published at the URL of :data:`SOURCES` (a GitHub raw URL at a fixed
commit), e.g. fetch it by hand with ``curl -O <url>``. Every code is brought to the current
commune with data/communes_cog2026.csv and data/former_communes.csv (counts summed over the
former communes of a commune nouvelle); those tables and the size classes are read from the
project's ``data/`` (``--data``).

Usage::

    python scripts/derive_local_drivers.py all
    python scripts/derive_local_drivers.py jobs --from ../shared/realdata/insee --out /tmp/drivers
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from territory.sources.cog import (
    COMMUNE_COLUMNS,
    COMMUNES_FILE,
    FORMER_COLUMNS,
    FORMER_COMMUNES_FILE,
)
from territory.sources.drivers import (
    APPROXIMATION_MERGED,
    APPROXIMATION_PARTIAL,
    APPROXIMATIONS,
    HOUSEHOLDS_COLUMNS,
    INCOME_COLUMNS,
    JOBS_COLUMNS,
    SIZE_CLASS_COLUMNS,
    SIZE_CLASSES_FILE,
    TABLES,
    provenance_file,
    read_table,
)

PROJECT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = PROJECT.parent / "shared" / "realdata" / "insee"
ARRONDISSEMENT = "arrondissement municipal"
#: a listed commune whose census population differs from its legal population 2023 by more
#: than this factor and this many inhabitants is noted (its territory may have changed)
MISMATCH_FACTOR = 1.5
MISMATCH_INHABITANTS = 200
#: how many codes a provenance lists in full
LISTED = 50


@dataclass(frozen=True)
class Source:
    """A published file read by the script."""

    file: str
    sha256: str
    repository: str
    path: str
    commit: str
    description: str
    licence: str

    @property
    def url(self) -> str:
        return (f"https://raw.githubusercontent.com/{self.repository}/{self.commit}/"
                f"{self.path}")


INSEE_LICENCE = ("INSEE data, Licence Ouverte / Etalab (the repository republishing the file "
                 "states no licence)")
SOURCES = {
    "households": Source(
        file="communes_comparateur_cog2024.csv",
        sha256="2c2676845aa41545ea8b4420e6d3bebb818146d0f657ebb938cb4375751f1b65",
        repository="rcarlier/datas.fun", path="France/communes.csv",
        commit="b9874080432e11b943e93aeae75ee372a024697b",
        description=("INSEE, base du comparateur de territoires (June 2024 edition, COG 2024): "
                     "recensement de la population 2021, population and households "
                     "(menages_2021), one row per commune and postal code, as compiled by "
                     "R. Carlier (datas.fun)"),
        licence=INSEE_LICENCE),
    "income": Source(
        file="cc_filosofi_2021_COM.csv",
        sha256="145d3b90d0720e5e011fccdc05f72be500e4cca4dc077add14d28cfa77b86eef",
        repository="greg2gld/DS-Immo", path="data/cc_filosofi_2021_COM.csv",
        commit="9eccc193c2016901998cba511e61247b69e59b7d",
        description=("INSEE, Filosofi 2021, chiffres clés per commune: fiscal households "
                     "(NBMENFISC21), persons (NBPERSMENFISC21), median disposable income per "
                     "consumption unit (MED21, euros), poverty rate at 60 % (TP6021, %)"),
        licence=INSEE_LICENCE),
    "jobs": Source(
        file="base_etablissement_par_tranche_effectif.csv",
        sha256="a8f407c260b3d0bfb3a6013cbd55f3af7836bdc3566bcfad4c72e2071103f1e7",
        repository="cheikhb/salire_france", path="base_etablissement_par_tranche_effectif.csv",
        commit="eb836d8ceb77b706e1bb35167ce37737f67b9149",
        description=("INSEE, establishments per commune by number of salaried employees, 2014 "
                     "(E14TST and size classes E14TS0ND … E14TS500), 2015 commune codes, as "
                     "republished in the Kaggle dataset 'French employment, salaries, "
                     "population per town'"),
        licence=INSEE_LICENCE),
}


class DeriveError(Exception):
    """A source file is not the pinned one or does not hold what was expected."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Communes:
    """The current communes (code → legal population) and former code → (current code, kind)."""

    populations: dict[str, int]
    former: dict[str, tuple[str, str]]
    sha256: dict[str, str]

    def current(self, code: str) -> str | None:
        if code in self.populations:
            return code
        return self.former[code][0] if code in self.former else None


def read_communes(data: Path) -> Communes:
    """The COG 2026 tables of ``data``."""
    communes = read_table(data / COMMUNES_FILE, COMMUNE_COLUMNS)
    former = read_table(data / FORMER_COMMUNES_FILE, FORMER_COLUMNS)
    return Communes(
        populations={r["code_insee"]: int(r["population"]) for r in communes},
        former={r["old_code"]: (r["new_code"], r["kind"]) for r in former},
        sha256={name: _sha256((data / name).read_bytes())
                for name in (COMMUNES_FILE, FORMER_COMMUNES_FILE)})


@dataclass
class Recoding:
    """Source codes grouped by current commune, and what could not be credited."""

    groups: dict[str, list[str]] = field(default_factory=dict)
    mapped: int = 0
    not_found: list[str] = field(default_factory=list)
    arrondissements_set_aside: int = 0
    arrondissements_summed: int = 0

    def counts(self, communes: Communes, table_codes: set[str]) -> dict[str, Any]:
        missing = sorted(set(communes.populations) - table_codes)
        return {
            "codes_mapped_through_former_codes": self.mapped,
            "arrondissements_set_aside_commune_has_its_row": self.arrondissements_set_aside,
            "arrondissements_summed_into_their_commune": self.arrondissements_summed,
            "codes_not_found_in_cog2026": self.not_found,
            "merged_communes": sum(len(codes) > 1 for codes in self.groups.values()),
            "communes_in_table": len(table_codes),
            "current_communes_without_row": len(missing),
            f"current_communes_without_row_first_{LISTED}": missing[:LISTED],
        }


def recode(codes: list[str], communes: Communes) -> Recoding:
    """Group distinct source ``codes`` by current commune. The row of an arrondissement
    municipal is set aside when its commune has a row of its own (which counts it), summed into
    its commune otherwise (Paris, Lyon, Marseille in files that only give arrondissements)."""
    result = Recoding()
    present = set(codes)
    groups: dict[str, list[str]] = defaultdict(list)
    for code in codes:
        current = communes.current(code)
        if current is None:
            result.not_found.append(code)
            continue
        if code != current and communes.former[code][1] == ARRONDISSEMENT:
            if current in present:
                result.arrondissements_set_aside += 1
                continue
            result.arrondissements_summed += 1
        elif code != current:
            result.mapped += 1
        groups[current].append(code)
    result.groups = dict(sorted(groups.items()))
    return result


def _rows(data: bytes, delimiter: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""),
                               delimiter=delimiter))


def _half_up(value: Decimal, places: str = "1") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


# --- households ------------------------------------------------------------------------------

def derive_households(data: bytes, communes: Communes) -> tuple[list[dict[str, str]], dict, list]:
    """Census 2021 population and households per current commune."""
    rows = _rows(data, ",")
    kept: dict[str, dict[str, str]] = {}
    for row in rows:
        if row["commune_type"] not in ("COM", "ARM"):
            continue  # communes déléguées repeat figures of their own level
        code = row["insee_com"]
        same = {k: v for k, v in row.items() if k != "code_postal"}
        if code in kept and kept[code] != same:
            differing = sorted(k for k in same if same[k] != kept[code][k])
            msg = (f"{SOURCES['households'].file}: the rows of {code} differ in "
                   f"{', '.join(differing)} (only code_postal may differ)")
            raise DeriveError(msg)
        kept[code] = same
    com = {c: r for c, r in kept.items() if r["commune_type"] == "COM"}
    # no census figure (Mayotte: no 2021 census) where the commune has inhabitants
    no_census = sorted(c for c, r in kept.items()
                       if int(r["population_2021"]) == 0 and int(r["menages_2021"]) == 0
                       and communes.populations.get(communes.current(c) or "", 0) > 0)
    recoding = recode([c for c in kept if c not in no_census], communes)
    table = []
    for current, codes in recoding.groups.items():
        population = sum(int(kept[c]["population_2021"]) for c in codes)
        households = sum(int(kept[c]["menages_2021"]) for c in codes)
        table.append({"code_insee": current, "population_2021": str(population),
                      "households_2021": str(households)})
    counts = {
        "rows_read": len(rows),
        "com_rows": sum(r["commune_type"] == "COM" for r in rows),
        "distinct_com_codes": len(com),
        "arm_rows": sum(r["commune_type"] == "ARM" for r in rows),
        "distinct_arm_codes": len(kept) - len(com),
        "codes_without_census_figures": no_census,
        **recoding.counts(communes, {r["code_insee"] for r in table}),
        "population_2021": sum(int(r["population_2021"]) for r in table),
        "households_2021": sum(int(r["households_2021"]) for r in table),
    }
    notes = [
        ("one row per commune and postal code in the source: deduplicated on insee_com (the "
        "repeated rows were checked identical apart from code_postal)"),
        ("COM rows kept; COMD rows (communes déléguées) dropped; ARM rows (arrondissements "
        "municipaux) summed into Paris, Lyon and Marseille, which have no COM row in the source"),
        (f"{len(no_census)} communes have 0 for every census figure (no 2021 census: "
        f"{', '.join(sorted({c[:3] for c in no_census}))}) and no row: the runtime falls back"),
    ]
    notes += _mismatches(table, communes)
    return table, counts, notes


def _mismatches(table: list[dict[str, str]], communes: Communes) -> list[str]:
    """Notes on communes whose census 2021 population is far from their legal population 2023
    (the source's commune may cover another territory, e.g. a commune nouvelle since split)."""
    notes = []
    for row in table:
        census, legal = int(row["population_2021"]), communes.populations[row["code_insee"]]
        if (abs(census - legal) > MISMATCH_INHABITANTS
                and max(census, legal) > MISMATCH_FACTOR * min(census, legal)):
            notes.append(f"{row['code_insee']}: census 2021 population {census} against legal "
                         f"population 2023 {legal} (COG 2026): the source's commune covers "
                         "another territory (e.g. a commune nouvelle since split): kept as "
                         "published")
    return notes


# --- income ----------------------------------------------------------------------------------

def _filosofi(value: str) -> Decimal | None:
    """A Filosofi figure: ``s`` (secret) and ``nd`` (not available) are None; decimal comma."""
    if value in ("s", "nd", ""):
        return None
    return Decimal(value.replace(",", "."))


def _text(value: Decimal | None) -> str:
    return "" if value is None else str(value)


def _combine_income(parts: list[dict[str, Decimal | None]]) -> tuple[dict[str, str], str]:
    """The figures of one current commune from those of its source rows."""
    valued = [p for p in parts if p["median"] is not None and p["households"] is not None]
    if len(parts) == 1 or len(valued) <= 1:
        part = valued[0] if valued else parts[0]
        approximation = APPROXIMATION_PARTIAL if len(parts) > 1 and valued else ""
        return {"fiscal_households": _text(part["households"]),
                "median_income_eur": _text(part["median"]),
                "poverty_rate_pct": _text(part["poverty"])}, approximation
    households = sum((p["households"] or Decimal(0)) for p in valued)
    median = sum((p["households"] or Decimal(0)) * (p["median"] or Decimal(0))
                 for p in valued) / households
    rated = [p for p in valued if p["poverty"] is not None and p["persons"]]
    poverty = None
    if rated:
        persons = sum((p["persons"] or Decimal(0)) for p in rated)
        poverty = _half_up(sum((p["persons"] or Decimal(0)) * (p["poverty"] or Decimal(0))
                               for p in rated) / persons, "0.1")
    return {"fiscal_households": str(households), "median_income_eur": str(_half_up(median)),
            "poverty_rate_pct": _text(poverty)}, APPROXIMATION_MERGED


def derive_income(data: bytes, communes: Communes) -> tuple[list[dict[str, str]], dict, list]:
    """Filosofi 2021 fiscal households, median income and poverty rate per current commune."""
    rows = _rows(data, ";")
    by_code = {r["CODGEO"]: r for r in rows}
    if len(by_code) != len(rows):
        msg = f"{SOURCES['income'].file}: a CODGEO is repeated"
        raise DeriveError(msg)
    recoding = recode(list(by_code), communes)
    table = []
    for current, codes in recoding.groups.items():
        parts = [{"households": _filosofi(by_code[c]["NBMENFISC21"]),
                  "persons": _filosofi(by_code[c]["NBPERSMENFISC21"]),
                  "median": _filosofi(by_code[c]["MED21"]),
                  "poverty": _filosofi(by_code[c]["TP6021"])} for c in codes]
        figures, approximation = _combine_income(parts)
        table.append({"code_insee": current, **figures, "approximation": approximation})
    counts = {
        "rows_read": len(rows),
        "rows_secret_median": sum(r["MED21"] == "s" for r in rows),
        "rows_not_available_nd": sum(r["MED21"] == "nd" for r in rows),
        "rows_secret_poverty_rate": sum(r["TP6021"] == "s" for r in rows),
        **recoding.counts(communes, {r["code_insee"] for r in table}),
        "communes_without_median": sum(not r["median_income_eur"] for r in table),
        "communes_without_poverty_rate": sum(not r["poverty_rate_pct"] for r in table),
        "approximation_merged": sum(r["approximation"] == APPROXIMATION_MERGED for r in table),
        "approximation_partial": sum(r["approximation"] == APPROXIMATION_PARTIAL for r in table),
        "fiscal_households": sum(int(r["fiscal_households"] or 0) for r in table),
    }
    notes = [
        "s (statistical secrecy) and nd (not available) are empty cells; decimal comma → point",
        *(f"approximation = {k}: {v}" for k, v in APPROXIMATIONS.items()),
        ("Paris, Lyon and Marseille have a row of their own: their arrondissements' rows are "
        "set aside"),
    ]
    return table, counts, notes


# --- jobs ------------------------------------------------------------------------------------

def read_size_classes(data: Path) -> list[dict[str, str]]:
    """The size classes of ``data`` with their assumed jobs per establishment."""
    classes = read_table(data / SIZE_CLASSES_FILE, SIZE_CLASS_COLUMNS)
    for i, row in enumerate(classes, start=2):
        try:
            assumed, low, high = (Decimal(row[c]) for c in ("assumed_jobs", "low", "high"))
        except ArithmeticError as error:
            msg = f"{data / SIZE_CLASSES_FILE}: row {i}: {error}"
            raise DeriveError(msg) from error
        if not low <= assumed <= high:
            msg = f"{data / SIZE_CLASSES_FILE}: row {i}: assumed_jobs outside [low, high]"
            raise DeriveError(msg)
    return classes


def _establishment_code(code: str) -> str:
    """INSEE code with the leading zeros the source stripped (``1001`` → ``01001``)."""
    return code.zfill(5) if code.isdigit() else code


def derive_jobs(data: bytes, communes: Communes,
                classes: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict, list]:
    """Establishments 2014 and estimated jobs per current commune."""
    rows = _rows(data, ";")
    header = list(rows[0]) if rows else []
    columns = {c["column"]: Decimal(c["assumed_jobs"]) for c in classes}
    in_source = [c for c in header if c.startswith("E14TS") and c != "E14TST"]
    if sorted(in_source) != sorted(columns):
        msg = (f"{SOURCES['jobs'].file}: size class columns {in_source} are not those of "
               f"{SIZE_CLASSES_FILE} ({list(columns)})")
        raise DeriveError(msg)
    by_code: dict[str, dict[str, str]] = {}
    for row in rows:
        code = _establishment_code(row["CODGEO"])
        if code in by_code:
            msg = f"{SOURCES['jobs'].file}: code {code} is repeated"
            raise DeriveError(msg)
        if int(row["E14TST"]) != sum(int(row[c]) for c in columns):
            msg = f"{SOURCES['jobs'].file}: {code}: E14TST is not the sum of the size classes"
            raise DeriveError(msg)
        by_code[code] = row
    recoding = recode(list(by_code), communes)
    table = []
    for current, codes in recoding.groups.items():
        establishments = sum(int(by_code[c]["E14TST"]) for c in codes)
        jobs = sum(int(by_code[c][column]) * assumed
                   for c in codes for column, assumed in columns.items())
        table.append({"code_insee": current, "establishments": str(establishments),
                      "jobs_estimated": str(_half_up(Decimal(jobs)))})
    counts = {
        "rows_read": len(rows),
        "codes_given_back_their_leading_zeros": sum(
            _establishment_code(r["CODGEO"]) != r["CODGEO"] for r in rows),
        **recoding.counts(communes, {r["code_insee"] for r in table}),
        "establishments": sum(int(r["establishments"]) for r in table),
        "establishments_by_size_class": {
            c["size_class"]: sum(int(r[c["column"]]) for r in rows) for c in classes},
        "jobs_estimated": sum(int(r["jobs_estimated"]) for r in table),
    }
    notes = [
        ("jobs_estimated = sum over the size classes of establishments × assumed_jobs of "
        f"{SIZE_CLASSES_FILE}, rounded half up: an estimate of salaried jobs in 2014 (the "
        "classes count salaried employees); a spatial proxy, not INSEE's jobs at place of work"),
        ("2015 commune codes, leading zeros restored; former codes summed into their current "
        "commune"),
    ]
    return table, counts, notes


# --- writing ---------------------------------------------------------------------------------

def _csv_bytes(columns: tuple[str, ...], rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


COLUMNS = {"households": HOUSEHOLDS_COLUMNS, "income": INCOME_COLUMNS, "jobs": JOBS_COLUMNS}


def derive(table: str, source_dir: Path, data: Path, out: Path) -> dict[str, Any]:
    """Write one table (``households``, ``income`` or ``jobs``) and its provenance into
    ``out``; return the provenance."""
    source = SOURCES[table]
    path = source_dir / source.file
    raw = path.read_bytes()
    if _sha256(raw) != source.sha256:
        msg = (f"{path}: SHA-256 {_sha256(raw)} is not that of the file published at "
               f"{source.url} ({source.sha256})")
        raise DeriveError(msg)
    communes = read_communes(data)
    inputs = dict(communes.sha256)
    if table == "households":
        rows, counts, notes = derive_households(raw, communes)
    elif table == "income":
        rows, counts, notes = derive_income(raw, communes)
    else:
        rows, counts, notes = derive_jobs(raw, communes, read_size_classes(data))
        inputs[SIZE_CLASSES_FILE] = _sha256((data / SIZE_CLASSES_FILE).read_bytes())
    written = _csv_bytes(COLUMNS[table], rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / TABLES[table]).write_bytes(written)
    provenance = {
        "table": TABLES[table],
        "source": source.description,
        "publisher": "INSEE",
        "url": source.url,
        "repository": f"github.com/{source.repository}",
        "path": source.path,
        "commit": source.commit,
        "source_file": source.file,
        "source_sha256": source.sha256,
        "obtained_from": str(path),
        "tables_read_sha256": inputs,
        "derived_files_sha256": {TABLES[table]: _sha256(written)},
        "derived_on": datetime.now(UTC).strftime("%Y-%m-%d"),
        "script": f"scripts/derive_local_drivers.py {table}",
        "licence": source.licence,
        "counts": counts,
        "notes": notes,
    }
    (out / provenance_file(TABLES[table])).write_text(
        json.dumps(provenance, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return provenance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table", choices=(*TABLES, "all"), help="the table to derive")
    parser.add_argument("--from", dest="source", type=Path, default=DEFAULT_SOURCE,
                        help=f"folder holding the INSEE files (default: {DEFAULT_SOURCE})")
    parser.add_argument("--data", type=Path, default=PROJECT / "data",
                        help="folder of the COG 2026 tables and size classes (default: data/)")
    parser.add_argument("--out", type=Path, default=PROJECT / "data",
                        help="folder written (default: the project's data/)")
    args = parser.parse_args(argv)
    for table in TABLES if args.table == "all" else (args.table,):
        try:
            provenance = derive(table, args.source, args.data, args.out)
        except (DeriveError, OSError, ValueError, KeyError, ArithmeticError) as error:
            print(f"derive_local_drivers {table}: {error}", file=sys.stderr)
            return 3
        counts = provenance["counts"]
        print(f"{TABLES[table]}: {counts['communes_in_table']:,} communes, "
              f"{counts['current_communes_without_row']:,} current communes without a row, "
              f"{len(counts['codes_not_found_in_cog2026'])} codes not found → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
