"""INSEE per-commune figures a user may supply: populations, jobs at the place of work, and
the population by age band. Each replaces (populations, jobs) or adds (ages) a per-commune
driver of the model for the communes it lists.

Accepted layouts (separator ``;`` or ``,`` detected; opened as every CSV input, see
:func:`territory.registries._common.decode_text`: UTF-8, UTF-16 or Windows-1252, gzip, zip or
an Excel workbook):

* a commune code column (``CODGEO``, ``DEPCOM``, ``code_insee``, ``insee_com``, ``COM``) and
  the figure's columns, recognised by their names (:data:`POPULATION`, :data:`JOBS`,
  :data:`AGE`: e.g. ``PMUN23``, ``P21_POP``, ``population_2021``; ``P22_EMPLT``;
  ``P21_POP0014`` … ``P21_POP75P``). Among columns of the same kind the latest year is used;
  the manifest says which columns were read;
* INSEE's "donnees_communes" layout with ``DEP`` or ``CODDEP`` and ``CODCOM`` (3 digits) (there
  ``COM`` is the commune's *name*: a code column is only used when its values look like INSEE
  codes).

A commune-type column (``commune_type``, ``TYPECOM``) sets aside the rows of communes
déléguées and associées (their commune's row counts them); arrondissements municipaux are
summed into their commune when it has no row of its own (Paris, Lyon and Marseille in INSEE's
comparateur), set aside otherwise. A row repeated with the same figures (one row per postal
code) is set aside. Former commune codes are credited to the current commune (several rows
landing on one commune are summed); rows without a valid code or figure, or with a code that
exists nowhere, go to ``quarantine/<name>.csv`` with the reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from territory.errors import InputError
from territory.i18n import Message, _
from territory.sources._files import InputRecord, sha256_of, with_fetch_provenance
from territory.sources.cog import Aggregation, CommuneCodes, to_current_codes

CODE_COLUMNS = ("CODGEO", "DEPCOM", "code_insee", "insee_com", "COM", "codgeo", "code")
TYPE_COLUMNS = ("commune_type", "TYPECOM", "typecom", "type_commune")
INSEE_CODE = re.compile(r"^(\d{5}|2[AB]\d{3})$")

#: a column pattern (group 1: the year, 2 or 4 digits, if any) and the kind it names (French)
Pattern = tuple[re.Pattern[str], str]


@dataclass(frozen=True)
class Figure:
    """One per-commune figure of a census table: its column in the ``raw_*`` table and the
    names it goes by in INSEE's files, best kind first."""

    column: str
    patterns: tuple[Pattern, ...]


@dataclass(frozen=True)
class CensusTable:
    """A kind of per-commune INSEE file (``--source NAME=FILE``)."""

    name: str
    table: str
    label: str
    figures: tuple[Figure, ...]
    #: whole numbers (legal populations) or decimals (INSEE's weighted census counts)
    whole: bool = True
    #: a 0 where the commune has inhabitants means "no figure" (Mayotte before its census)
    zero_means_missing: bool = False
    #: how rows landing on one commune are combined (manifest note)
    combined: str = "summed"


def _p(regex: str) -> re.Pattern[str]:
    return re.compile(regex, re.IGNORECASE)


POPULATION = CensusTable(
    name="population", table="raw_population_override", label="population",
    figures=(Figure("population", (
        (_p(r"^PMUN(\d{2}|\d{4})?$"), "population municipale"),
        (_p(r"^population_municipale(?:_(\d{4}))?$"), "population municipale"),
        (_p(r"^P(\d{2})_POP$"), "population du recensement"),
        (_p(r"^population(?:_(\d{4}))?$"), "population"),
        (_p(r"^PTOT(\d{2}|\d{4})?$"), "population totale"),
    )),),
    zero_means_missing=True, combined="populations summed",
)
JOBS = CensusTable(
    name="jobs", table="raw_jobs_override", label="jobs at the place of work",
    figures=(Figure("jobs", (
        (_p(r"^P(\d{2})_EMPLT$"), "emplois au lieu de travail"),
        (_p(r"^C(\d{2})_EMPLT$"), "emplois au lieu de travail (exploitation complémentaire)"),
        (_p(r"^emplois?(?:_(\d{4}))?$"), "emplois"),
    )),),
    whole=False, combined="jobs summed",
)
#: INSEE's "base-cc-evol-struct-pop" bands (P21_POP0014 …); 12-14-year-olds are within 0-14
AGE_BANDS = ("0014", "1529", "3044", "4559", "6074", "75P")
AGE = CensusTable(
    name="age", table="raw_age", label="population by age band",
    figures=tuple(
        Figure(f"age_{band.lower().replace('75p', '75_plus')}",
               ((_p(rf"^P(\d{{2}})_POP{band}$"), f"population {band}"),))
        for band in AGE_BANDS),
    whole=False, combined="populations by age band summed",
)
CENSUS_TABLES = {t.name: t for t in (POPULATION, JOBS, AGE)}


def figure_column(figure: Figure, header: list[str]) -> tuple[str, str, int | None] | None:
    """The column of ``header`` holding ``figure``: (name, kind, year or None); None when
    absent. Among columns of the best kind found, the latest year wins."""
    for pattern, kind in figure.patterns:
        found = []
        for name in header:
            match = pattern.match(name.strip())
            if match:
                digits = match.group(1) if pattern.groups else None
                year = None if digits is None else int(digits) + (2000 if len(digits) == 2 else 0)
                found.append((year or 0, name, kind, year))
        if found:
            _, name, kind, year = max(found, key=lambda f: f[0])
            return name, kind, year
    return None


def _looks_like_codes(rows: list[dict[str, str]], column: str) -> bool:
    """True when most of the first rows of ``column`` are INSEE commune codes."""
    sample = [(r.get(column) or "").strip() for r in rows[:50]]
    sample = [v for v in sample if v]
    hits = sum(bool(INSEE_CODE.match(v.zfill(5) if v.isdigit() else v)) for v in sample)
    return bool(sample) and hits >= 0.8 * len(sample)


@dataclass(frozen=True)
class _Columns:
    """The columns of a census file that are read."""

    code: str | None
    departement: str | None
    values: tuple[tuple[str, str, str, int | None], ...]  # (figure column, name, kind, year)
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


def _find_columns(
    spec: CensusTable, path: Path, header: list[str], sample: list[dict[str, str]],
) -> _Columns:
    found = [(f.column, figure_column(f, header)) for f in spec.figures]
    code_col = next((c for c in CODE_COLUMNS if c in header and _looks_like_codes(sample, c)),
                    None)
    dep_col = next((c for c in ("DEP", "CODDEP") if c in header), None)
    split_code = code_col is None and dep_col is not None and "CODCOM" in header
    missing = [column for column, hit in found if hit is None]
    if missing or (code_col is None and not split_code):
        wanted = "; ".join(
            f"{f.column}: " + ", ".join(p.pattern.strip("^$") for p, _ in f.patterns)
            for f in spec.figures if f.column in missing) or _("found")
        msg = _("{path}: row 1: cannot find a commune code column ({codes} holding INSEE codes, "
                "or DEP/CODDEP + CODCOM) and the {label} columns ({wanted}); found "
                "{header}").format(path=path, codes=", ".join(CODE_COLUMNS), label=spec.label,
                                   wanted=wanted, header=", ".join(header))
        raise InputError(msg)
    type_col = next((c for c in TYPE_COLUMNS if c in header), None)
    values = tuple((column, *hit) for column, hit in found if hit is not None)
    return _Columns(code_col, dep_col, values, type_col)


@dataclass
class _Rows:
    """Rows of a census file sorted into kept, set aside and quarantined."""

    kept: dict[str, tuple[tuple[float, ...], int]] = field(default_factory=dict)  # → (values, line)
    set_aside: dict[str, int] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)

    def set_row_aside(self, reason: str) -> None:
        self.set_aside[reason] = self.set_aside.get(reason, 0) + 1


def _number(text: str, whole: bool) -> float | None:
    """A count written by INSEE or a spreadsheet (``1 234``, ``1234,5``, ``1234.0``)."""
    value = text.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    value = value.replace(",", ".")
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    if whole and number != int(number):
        return None
    return number


def _reason(
    spec: CensusTable, columns: _Columns, rows: _Rows, code: str, values: list[float | None],
    row: dict[str, str], codes: CommuneCodes | None,
) -> str | None:
    if not INSEE_CODE.match(code):
        return _("column {column}: {value!r} is not an INSEE commune code").format(
            column=columns.code_name, value=code)
    for (_column, name, _kind, _year), value in zip(columns.values, values, strict=True):
        if value is None:
            template = (_("column {column}: {value!r} is not a whole number") if spec.whole
                        else _("column {column}: {value!r} is not a number"))
            return template.format(column=name, value=(row.get(name) or "").strip())
    if code in rows.kept:
        return _("column {column}: duplicate code {code} with other figures (line {line} "
                 "kept)").format(column=columns.code_name, code=code, line=rows.kept[code][1])
    if (spec.zero_means_missing and values[0] == 0 and codes is not None
            and codes.populations.get(code, 0) > 0):
        return _("column {column}: 0 while the legal population (COG 2026) is {population}: "
                 "taken as no figure (e.g. Mayotte before its census)").format(
            column=columns.values[0][1], population=codes.populations[code])
    return None


def _sort_row(
    spec: CensusTable, rows: _Rows, columns: _Columns, line: int, row: dict[str, str],
    codes: CommuneCodes | None,
) -> None:
    code = columns.code_of(row)
    kind = (row.get(columns.commune_type or "") or "").strip().upper()
    if kind and kind not in ("COM", "ARM"):  # arrondissements: see to_current_codes
        rows.set_row_aside(
            f"{columns.commune_type} {kind}: part of a commune, counted in the commune's row")
        return
    values = [_number(row.get(name) or "", spec.whole) for _, name, _, _ in columns.values]
    if code in rows.kept and tuple(values) == rows.kept[code][0]:
        rows.set_row_aside(f"column {columns.code_name}: code repeated with the same "
                           f"{spec.label} (one row per postal code)")
        return
    reason = _reason(spec, columns, rows, code, values, row, codes)
    if reason:
        rows.quarantine.append({"line": str(line), "reason": reason,
                                **{k: v or "" for k, v in row.items() if k}})
        return
    rows.kept[code] = (tuple(v for v in values if v is not None), line)


def _to_current_communes(
    spec: CensusTable, rows: _Rows, codes: CommuneCodes, notes: list[str],
) -> list[tuple[Any, ...]]:
    """Former codes credited to the current commune (summed); unknown codes quarantined."""
    import pandas as pd

    names = [f.column for f in spec.figures]
    frame = pd.DataFrame([(c, *v, line) for c, (v, line) in rows.kept.items()],
                         columns=["code_insee", *names, "line"])
    aggregation = Aggregation(sums=tuple(names), note=spec.combined)
    recoded = to_current_codes(frame, codes, aggregation, describe=("line",))
    for entry in recoded.quarantine:
        values = rows.kept[entry["code_insee"]][0]
        rows.quarantine.append({"line": entry["line"], "code_insee": entry["code_insee"],
                                **{n: f"{v:g}" for n, v in zip(names, values, strict=True)},
                                "reason": entry["reason"]})
    for reason, count in recoded.set_aside.items():
        rows.set_aside[reason] = rows.set_aside.get(reason, 0) + count
    notes += recoded.notes(aggregation)
    return [tuple(r) for r in recoded.rows[["code_insee", *names]].itertuples(index=False)]


def load_census_file(
    con: duckdb.DuckDBPyConnection, spec: CensusTable, path: Path,
    codes: CommuneCodes | None = None,
) -> tuple[InputRecord, list[dict[str, str]]]:
    """Create ``spec.table`` (``code_insee`` and the figures' columns) from an INSEE CSV.

    ``codes``: the current communes and former codes (see :mod:`territory.sources.cog`); without
    them the codes are taken as they are.

    Returns
    -------
    record, quarantine
        Provenance (rows read / kept / set aside / quarantined, the columns used) and the
        quarantined rows with a ``reason`` column.
    """
    # imported here: the registries package imports territory.sources (provenance records)
    from territory.registries._common import read_csv_table

    if not path.is_file():
        msg = _("{path}: {kind} file not found").format(path=path, kind=spec.name)
        raise InputError(msg)
    table = read_csv_table(path)
    if not table.rows and not table.rejected:
        msg = _("{path}: no data row below the header").format(path=path)
        raise InputError(msg)
    header = table.header
    lines = [(line, {h: (fields[i] if i < len(fields) else "") for i, h in enumerate(header) if h})
             for line, fields in table.rows]
    columns = _find_columns(spec, path, header, [row for _, row in lines[:50]])
    rows = _Rows(quarantine=[{k: str(v) for k, v in entry.items()} for entry in table.rejected])
    for line, row in lines:
        _sort_row(spec, rows, columns, line, row, codes)
    used = ", ".join(f"{name} ({kind}{f' {year}' if year else ', year not stated'})"
                     for _, name, kind, year in columns.values)
    notes: list[str] = [Message("{name} columns {used}", name=spec.name, used=used)
                        if len(columns.values) > 1
                        else Message("{name} column {used}", name=spec.name, used=used)]
    if codes is not None and rows.kept:
        final = _to_current_communes(spec, rows, codes, notes)
    else:
        final = [(code, *values) for code, (values, _) in rows.kept.items()]
    rows_read = len(lines) + len(table.rejected)
    if not final:
        reasons = sorted({entry["reason"].split(":", 1)[0].strip() for entry in rows.quarantine})
        msg = (_("{path}: no valid row (all {count} rows were quarantined or set aside: "
                 "{reasons})") if reasons
               else _("{path}: no valid row (all {count} rows were quarantined or set aside)")
               ).format(path=path, count=rows_read, reasons="; ".join(reasons[:3]))
        raise InputError(msg)
    rows.quarantine.sort(key=lambda entry: int(entry["line"]))
    _create_table(con, spec, final)
    quarantined = len(rows.quarantine)
    years = ", ".join(sorted({str(year) for *_, year in columns.values if year}))
    record = InputRecord(
        name=spec.name, path=str(path), sha256=sha256_of(path), rows_read=rows_read,
        rows_kept=rows_read - quarantined - sum(rows.set_aside.values()),
        rows_quarantined=quarantined, rows_set_aside=rows.set_aside, notes=notes,
        vintage=(f"supplied file {path.name} ({len(final)} communes), "
                 f"column{'s' if len(columns.values) > 1 else ''} "
                 f"{', '.join(name for _, name, _, _ in columns.values)}"
                 + (f" ({years})" if years else "")),
    )
    return with_fetch_provenance(record), rows.quarantine


def _create_table(
    con: duckdb.DuckDBPyConnection, spec: CensusTable, rows: list[tuple[Any, ...]],
) -> None:
    import pandas as pd

    names = [f.column for f in spec.figures]
    kind = "BIGINT" if spec.whole else "DOUBLE"
    con.register("_census_frame", pd.DataFrame(rows, columns=["code_insee", *names]))
    con.execute(
        f"CREATE OR REPLACE TABLE {spec.table} AS SELECT CAST(code_insee AS VARCHAR) AS code_insee, "
        + ", ".join(f"CAST({n} AS {kind}) AS {n}" for n in names) + " FROM _census_frame")
    con.unregister("_census_frame")


def create_empty_table(con: duckdb.DuckDBPyConnection, spec: CensusTable) -> None:
    """``spec.table`` without rows: no file of that kind was given."""
    kind = "BIGINT" if spec.whole else "DOUBLE"
    con.execute(f"CREATE OR REPLACE TABLE {spec.table} (code_insee VARCHAR, "
                + ", ".join(f"{f.column} {kind}" for f in spec.figures) + ")")
