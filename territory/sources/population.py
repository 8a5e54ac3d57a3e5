"""An INSEE population CSV that replaces the default (COG 2026) populations.

Accepted layouts (separator ``;`` or ``,`` detected; opened as every CSV input, see
:func:`territory.registries._common.decode_text`: UTF-8, UTF-16 or Windows-1252, gzip, zip or
an Excel workbook):

* a commune code column (``CODGEO``, ``DEPCOM``, ``code_insee``, ``insee_com``, ``COM``) and a
  population column, recognised by its name (:data:`POPULATION_COLUMNS`, best first): legal
  populations (``PMUN``, ``PMUN23``, ``population_municipale``), census populations
  (``P21_POP``, ``P22_POP``), ``population_2021``, ``population``, or total populations
  (``PTOT``, ``PTOT23``). Among columns of the same kind, the latest year is used; the manifest
  says which column was read;
* INSEE's "donnees_communes" layout with ``DEP`` or ``CODDEP`` and ``CODCOM`` (3 digits) and
  ``PMUN`` (there ``COM`` is the commune's *name*: a code column is only used when its values
  look like INSEE codes).

A commune-type column (``commune_type``, ``TYPECOM``) sets aside the rows of communes
déléguées and associées (their commune's row counts them); arrondissements municipaux are
summed into their commune when it has no row of its own (Paris, Lyon and Marseille in INSEE's
comparateur), set aside otherwise. A row repeated with the same
population (one row per postal code) is set aside. Former commune codes are credited to the
current commune (several rows landing on one commune are summed); rows without a valid code or
population, with a code that exists nowhere, or with 0 where the commune has inhabitants go to
``quarantine/population.csv`` with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from territory.errors import InputError
from territory.sources._files import InputRecord, sha256_of, with_fetch_provenance
from territory.sources.cog import AGGREGATIONS, CommuneCodes, to_current_codes

CODE_COLUMNS = ("CODGEO", "DEPCOM", "code_insee", "insee_com", "COM", "codgeo", "code")
TYPE_COLUMNS = ("commune_type", "TYPECOM", "typecom", "type_commune")
#: population columns, best kind first; the first group is the year (2 or 4 digits) if any
POPULATION_COLUMNS = (
    (re.compile(r"^PMUN(\d{2}|\d{4})?$", re.IGNORECASE), "population municipale"),
    (re.compile(r"^population_municipale(?:_(\d{4}))?$", re.IGNORECASE), "population municipale"),
    (re.compile(r"^P(\d{2})_POP$", re.IGNORECASE), "population du recensement"),
    (re.compile(r"^population(?:_(\d{4}))?$", re.IGNORECASE), "population"),
    (re.compile(r"^PTOT(\d{2}|\d{4})?$", re.IGNORECASE), "population totale"),
)
INSEE_CODE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


def _looks_like_codes(rows: list[dict[str, str]], column: str) -> bool:
    """True when most of the first rows of ``column`` are INSEE commune codes."""
    sample = [(r.get(column) or "").strip() for r in rows[:50]]
    sample = [v for v in sample if v]
    hits = sum(bool(INSEE_CODE.match(v.zfill(5) if v.isdigit() else v)) for v in sample)
    return bool(sample) and hits >= 0.8 * len(sample)


def population_column(header: list[str]) -> tuple[str, str, int | None] | None:
    """The population column of ``header``: (name, kind, year or None); None when absent."""
    for pattern, kind in POPULATION_COLUMNS:
        found = []
        for name in header:
            match = pattern.match(name.strip())
            if match:
                digits = match.group(1)
                year = None if digits is None else int(digits) + (2000 if len(digits) == 2 else 0)
                found.append((year or 0, name, kind, year))
        if found:
            _, name, kind, year = max(found, key=lambda f: f[0])
            return name, kind, year
    return None


@dataclass(frozen=True)
class _Columns:
    """The columns of a population file that are read."""

    code: str | None
    departement: str | None
    population: str
    kind: str
    year: int | None
    commune_type: str | None

    @property
    def code_name(self) -> str:
        return self.code or "DEP+CODCOM"

    def code_of(self, row: dict[str, str]) -> str:
        if self.code is None:
            dep = (row.get(self.departement or "") or "").strip()
            com = (row.get("CODCOM") or "").strip()
            code = dep + com[-3:] if len(dep) == 2 else dep + com[-2:]
        else:
            code = (row.get(self.code) or "").strip()
        if len(code) == 4 and code.isdigit():
            code = "0" + code  # a spreadsheet dropped the leading zero
        return code


def _find_columns(path: Path, header: list[str], sample: list[dict[str, str]]) -> _Columns:
    population = population_column(header)
    code_col = next((c for c in CODE_COLUMNS if c in header and _looks_like_codes(sample, c)),
                    None)
    dep_col = next((c for c in ("DEP", "CODDEP") if c in header), None)
    split_code = code_col is None and dep_col is not None and "CODCOM" in header
    if population is None or (code_col is None and not split_code):
        msg = (
            f"{path}: row 1: cannot find a commune code column ({', '.join(CODE_COLUMNS)} holding "
            "INSEE codes, or DEP/CODDEP + CODCOM) and a population column (PMUN, PMUN23, "
            "population_municipale, P21_POP, population_2021, population, PTOT…); "
            f"found {', '.join(header)}"
        )
        raise InputError(msg)
    type_col = next((c for c in TYPE_COLUMNS if c in header), None)
    return _Columns(code_col, dep_col, *population, type_col)


@dataclass
class _Rows:
    """Rows of a population file sorted into kept, set aside and quarantined."""

    kept: dict[str, tuple[int, int]] = field(default_factory=dict)  # code → (population, line)
    set_aside: dict[str, int] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)

    def set_row_aside(self, reason: str) -> None:
        self.set_aside[reason] = self.set_aside.get(reason, 0) + 1


def _sort_row(
    rows: _Rows, columns: _Columns, line: int, row: dict[str, str], codes: CommuneCodes | None,
) -> None:
    code = columns.code_of(row)
    value = (row.get(columns.population) or "").strip().replace("\u00a0", "").replace(" ", "")
    value = value.removesuffix(".0")
    kind = (row.get(columns.commune_type or "") or "").strip().upper()
    if kind and kind not in ("COM", "ARM"):  # arrondissements: see to_current_codes
        rows.set_row_aside(
            f"{columns.commune_type} {kind}: part of a commune, counted in the commune's row")
        return
    reason = None
    if not INSEE_CODE.match(code):
        reason = f"column {columns.code_name}: {code!r} is not an INSEE commune code"
    elif not value.isdigit():
        reason = f"column {columns.population}: {value!r} is not a whole number"
    elif code in rows.kept and rows.kept[code][0] == int(value):
        rows.set_row_aside(f"column {columns.code_name}: code repeated with the same population "
                           "(one row per postal code)")
        return
    elif code in rows.kept:
        reason = (f"column {columns.code_name}: duplicate code {code} with another population "
                  f"(line {rows.kept[code][1]} kept)")
    elif int(value) == 0 and codes is not None and codes.populations.get(code, 0) > 0:
        reason = (f"column {columns.population}: 0 while the legal population (COG 2026) is "
                  f"{codes.populations[code]}: taken as no figure (e.g. Mayotte before its "
                  "census)")
    if reason:
        rows.quarantine.append({"line": str(line), "reason": reason,
                                **{k: v or "" for k, v in row.items() if k}})
        return
    rows.kept[code] = (int(value), line)


def _to_current_communes(rows: _Rows, codes: CommuneCodes, notes: list[str]) -> list[tuple[str, int]]:
    """Former codes credited to the current commune (summed); unknown codes quarantined."""
    import pandas as pd

    frame = pd.DataFrame([(c, p, line) for c, (p, line) in rows.kept.items()],
                         columns=["code_insee", "population", "line"])
    recoded = to_current_codes(frame, codes, AGGREGATIONS["population"], describe=("line",))
    for entry in recoded.quarantine:
        rows.quarantine.append({"line": entry["line"], "code_insee": entry["code_insee"],
                                "population": str(rows.kept[entry["code_insee"]][0]),
                                "reason": entry["reason"]})
    for reason, count in recoded.set_aside.items():
        rows.set_aside[reason] = rows.set_aside.get(reason, 0) + count
    notes += recoded.notes(AGGREGATIONS["population"])
    return [(str(c), int(p)) for c, p in zip(recoded.rows["code_insee"],
                                              recoded.rows["population"], strict=True)]


def load_population_file(
    con: duckdb.DuckDBPyConnection, path: Path, codes: CommuneCodes | None = None,
) -> tuple[InputRecord, list[dict[str, str]]]:
    """Create ``raw_population_override(code_insee, population)`` from an INSEE CSV.

    ``codes``: the current communes and former codes (see :mod:`territory.sources.cog`); without
    them the codes are taken as they are.

    Returns
    -------
    record, quarantine
        Provenance (rows read / kept / set aside / quarantined, the column used) and the
        quarantined rows with a ``reason`` column.
    """
    # imported here: the registries package imports territory.sources (provenance records)
    from territory.registries._common import read_csv_table

    if not path.is_file():
        msg = f"{path}: population file not found"
        raise InputError(msg)
    table = read_csv_table(path)
    if not table.rows and not table.rejected:
        msg = f"{path}: no data row below the header"
        raise InputError(msg)
    header = table.header
    lines = [(line, {h: (fields[i] if i < len(fields) else "") for i, h in enumerate(header) if h})
             for line, fields in table.rows]
    columns = _find_columns(path, header, [row for _, row in lines[:50]])
    rows = _Rows(quarantine=[{k: str(v) for k, v in entry.items()} for entry in table.rejected])
    for line, row in lines:
        _sort_row(rows, columns, line, row, codes)
    year = f" {columns.year}" if columns.year else ", year not stated"
    notes = [f"population column {columns.population} ({columns.kind}{year})"]
    if codes is not None and rows.kept:
        final = _to_current_communes(rows, codes, notes)
    else:
        final = [(code, population) for code, (population, _) in rows.kept.items()]
    rows_read = len(lines) + len(table.rejected)
    if not final:
        reasons = sorted({entry["reason"].split(":", 1)[0] for entry in rows.quarantine})
        msg = (f"{path}: no valid row (all {rows_read} rows were quarantined or set aside"
               f"{': ' + '; '.join(reasons[:3]) if reasons else ''})")
        raise InputError(msg)
    rows.quarantine.sort(key=lambda entry: int(entry["line"]))
    import pandas as pd

    con.register("_population_frame", pd.DataFrame(final, columns=["code_insee", "population"]))
    con.execute("CREATE OR REPLACE TABLE raw_population_override AS SELECT "
                "CAST(code_insee AS VARCHAR) AS code_insee, CAST(population AS BIGINT) AS population "
                "FROM _population_frame")
    con.unregister("_population_frame")
    quarantined = len(rows.quarantine)
    record = InputRecord(
        name="population", path=str(path), sha256=sha256_of(path), rows_read=rows_read,
        rows_kept=rows_read - quarantined - sum(rows.set_aside.values()),
        rows_quarantined=quarantined, rows_set_aside=rows.set_aside, notes=notes,
        vintage=(f"supplied file {path.name} ({len(final)} communes), column {columns.population}"
                 f"{f' ({columns.year})' if columns.year else ''}"),
    )
    return with_fetch_provenance(record), rows.quarantine
