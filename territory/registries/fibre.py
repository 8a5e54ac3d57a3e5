"""Arcep FttH deployment per commune ("Observatoire HD/THD", sheet "Déploiement par Commune").

The file (``ftthCommunes.csv``) has title lines, then the header
``Code commune,Champ,T3 2017,T4 2017,T1 2018`` and **two lines per commune**: ``Locaux
Raccordables`` (premises connectable to FttH) and ``Catégorie`` (Arcep's coverage class code: 0,
5, 10, 25, 50 or 80). The reader keeps the latest quarter and merges each commune's two lines
into one row:

``code_insee`` (text, 5 characters, ``2A``/``2B`` kept), ``quarter`` (e.g. ``"T1 2018"``),
``ftth_connectable``, ``coverage_class``, ``premises`` (dwellings + establishments from the
companion sheet, NaN without it) and ``ftth_share`` (connectable / premises, capped to 1, NaN when
premises are unknown or zero).

The companion sheet "Informations à l'échelle de la commune" (``communes.csv``: ``Code commune,
Nom commune, ..., Logements, Établissements, ...``) is read from ``options["premises_file"]``, or
found as ``communes.csv`` next to the file (with a warning). ``options["premises_file"] = False``
(or ``""``) turns the look-up off.

Row accounting: the unit is the commune. ``rows_read`` counts the communes seen (distinct valid
codes, plus every line whose code is unusable), each commune is kept or quarantined once, and
the number of data lines goes to the record's notes. A commune is quarantined when one of its two
lines is missing, duplicated or has a non-numeric count; the entry names the line at fault.

Options: ``premises_file``, ``encoding``, ``separator``.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd

from territory.errors import InputError
from territory.i18n import Message, _
from territory.registries._common import RegistryLoad, normalize_code, parse_number
from territory.registries._rows import Rows, open_rows
from territory.sources._files import InputRecord, sha256_of

CODE_COLUMN = "Code commune"
FIELD_COLUMN = "Champ"
CONNECTABLE = "locaux raccordables"
CATEGORY = "categorie"
COVERAGE_CLASSES = (0, 5, 10, 25, 50, 80)
COMPANION_NAME = "communes.csv"
COLUMNS = ("code_insee", "quarter", "ftth_connectable", "coverage_class", "premises", "ftth_share")

QUARTER = re.compile(r"^T([1-4])\s*(\d{4})$", re.IGNORECASE)
#: Arcep writes "-" for zero / none
_DASHES = {"-", "\u2013", "\u2014"}


@functools.lru_cache(maxsize=256)
def _fold(text: str) -> str:
    """Lower case without accents or surrounding spaces, to compare labels."""
    decomposed = unicodedata.normalize("NFKD", text.strip())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def _count(text: str) -> float | None:
    """An Arcep count: ``-`` is 0, empty is ``None``; raises ``ValueError`` when not a number."""
    cleaned = text.strip()
    if cleaned.isascii() and cleaned.isdigit():
        return float(cleaned)
    if cleaned in _DASHES:
        return 0.0
    if not cleaned:
        return None
    try:
        value = parse_number(cleaned)
    except ValueError:
        value = None
    if value is None or math.isnan(value):
        msg = _("{value!r} is not a number").format(value=cleaned)
        raise ValueError(msg)
    return value


def _find_column(header: list[str], name: str) -> int | None:
    wanted = _fold(name)
    return next((i for i, h in enumerate(header) if _fold(h) == wanted), None)


def _raw(header: list[str], fields: list[str]) -> dict[str, str]:
    raw = {h: (fields[i] if i < len(fields) else "") for i, h in enumerate(header)}
    if len(fields) > len(header):
        raw["_extra"] = ",".join(fields[len(header):])
    return raw


def _check_field_counts(
    path: Path, header: list[str], rows: list[tuple[int, list[str]]], sep: str,
) -> None:
    """Raise when most rows do not split into the header's columns (a wrong separator)."""
    if not rows:
        return
    wrong = [(line, len(fields)) for line, fields in rows if len(fields) != len(header)]
    if len(wrong) * 2 > len(rows):
        line, count = wrong[0]
        msg = _("{path}: {wrong} of {total} data lines do not split into the header's "
                "{expected} columns with the separator {separator!r} (line {line} has {count} "
                "fields): the lines use another separator than the header").format(
            path=path, wrong=len(wrong), total=len(rows), expected=len(header), separator=sep,
            line=line, count=count)
        raise InputError(msg)


def read_premises(path: Path, *, encoding: str | None = None) -> tuple[dict[str, float], list[str]]:
    """Dwellings + establishments per commune from Arcep's companion ``communes.csv``.

    Returns the premises by INSEE code (NaN when a count is unreadable) and warnings.
    """
    if not path.is_file():
        msg = _("{path}: Arcep companion file (premises per commune) not found").format(
            path=path)
        raise InputError(msg)
    table = open_rows(path, encoding=encoding, header_contains=(CODE_COLUMN,))
    header, rows, sep = table.header, table.all_rows(), table.separator
    names = (CODE_COLUMN, "Logements", "Établissements")
    columns = {name: _find_column(header, name) for name in names}
    found = {name: index for name, index in columns.items() if index is not None}
    missing = [name for name in names if name not in found]
    if missing:
        msg = _("{path}: the Arcep companion file has no column {missing} (header: "
                "{header})").format(path=path, missing=", ".join(missing),
                                    header=", ".join(header))
        raise InputError(msg)
    _check_field_counts(path, header, rows, sep)
    code_i, dwell_i, estab_i = (found[n] for n in names)
    premises: dict[str, float] = {}
    problems = [_("line {line}: {reason}").format(line=entry["line"], reason=entry["reason"])
                for entry in table.rejected]
    for line, fields in rows:
        if len(fields) <= max(code_i, dwell_i, estab_i):
            problems.append(_("line {line}: {count} fields").format(line=line,
                                                                    count=len(fields)))
            continue
        code = normalize_code(fields[code_i])
        if code is None:
            problems.append(_("line {line}: {value!r} is not a commune code").format(
                line=line, value=fields[code_i]))
            continue
        if code in premises:
            problems.append(_("line {line}: duplicate code {code}").format(line=line, code=code))
            premises[code] = math.nan
            continue
        try:
            dwellings, establishments = _count(fields[dwell_i]), _count(fields[estab_i])
        except ValueError as error:
            problems.append(_("line {line}: {reason}").format(line=line, reason=error))
            premises[code] = math.nan
            continue
        if dwellings is None and establishments is None:
            premises[code] = math.nan
        else:
            premises[code] = (dwellings or 0.0) + (establishments or 0.0)
    warnings: list[str] = []
    if problems:
        warnings.append(Message(
            "{file}: {count} companion lines unusable, their premises unknown ({details})",
            file=path.name, count=len(problems),
            details="; ".join(problems[:3]) + ("; …" if len(problems) > 3 else "")))
    return premises, warnings


def _companion(path: Path, options: dict[str, Any]) -> tuple[Path | None, str | None]:
    """The companion file to read and the warning saying where it came from."""
    if "premises_file" in options:
        given = options["premises_file"]
        if not given:
            return None, None
        return Path(given), None
    sibling = path.parent / COMPANION_NAME
    if sibling.is_file() and sibling.resolve() != path.resolve():
        warning = Message("premises (dwellings + establishments) taken from {companion}, the "
                          "Arcep companion file found next to {file}", companion=sibling,
                          file=path.name)
        return sibling, warning
    return None, None


def _line_problem(
    fields: list[str], slot: str, quarters: list[tuple[int, str]], latest: int,
) -> str | None:
    """What is wrong with the counts of one line, or ``None``."""
    for index, name in quarters:
        try:
            value = _count(fields[index])
        except ValueError as error:
            return _("column {column}: {reason}").format(column=name, reason=error)
        if value is None:
            if index == latest:
                return _("column {column}: no value").format(column=name)
            continue
        if value < 0 or value != int(value):
            return _("column {column}: {value!r} is not a whole count").format(
                column=name, value=fields[index].strip())
        if slot == "category" and index == latest and value not in COVERAGE_CLASSES:
            classes = ", ".join(map(str, COVERAGE_CLASSES))
            found = fields[index].strip()
            return _("column {column}: coverage class {value!r} is not one of {classes}").format(
                column=name, value=found, classes=classes)
    return None


def _pair_problem(code: str, entry: dict[str, Any]) -> tuple[int, list[str], str] | None:
    """The line at fault and the reason when a commune does not have exactly its two lines."""
    names = {"connectable": "Locaux Raccordables", "category": "Catégorie"}
    for slot, other in (("connectable", "category"), ("category", "connectable")):
        found = entry[slot]
        if len(found) > 1:
            lines = ", ".join(str(f[0]) for f in found)
            return (*found[1], _("commune {code}: duplicate {field!r} line (lines {lines})").format(
                code=code, field=names[slot], lines=lines))
        if not found:
            return (*entry[other][0], _("commune {code}: only its {present!r} line, the "
                                        "{missing!r} line is missing").format(
                code=code, present=names[other], missing=names[slot]))
    return None


def _plain_lines(
    table: Rows, quarters: list[tuple[int, str]], latest: int, field_i: int,
) -> set[int]:
    """Lines whose counts SQL finds plain (digits or a dash, the latest quarter filled, the
    latest coverage class one of Arcep's unless the line is a connectable count): they need no
    check in Python. Any other line is checked by :func:`_line_problem`."""
    checks = []
    for index, _name in quarters:
        value = f"trim(coalesce({table.column(index)}, ''))"
        number = f"(regexp_full_match({value}, '[0-9]+') OR {value} IN ('-', '\u2013', '\u2014'))"
        checks.append(number if index == latest else f"({number} OR {value} = '')")
    latest_value = f"coalesce(TRY_CAST(trim({table.column(latest)}) AS INTEGER), 0)"
    label = (f"regexp_replace(lower(strip_accents(trim({table.column(field_i)}))), "
             "'\\s+', ' ', 'g')")
    classes = ", ".join(map(str, COVERAGE_CLASSES))
    checks.append(f"({label} = '{CONNECTABLE}' OR {latest_value} IN ({classes}))")
    found = table.con.execute(
        f"SELECT line FROM rows WHERE nfields = {len(table.header)} AND {' AND '.join(checks)}"
    ).fetchall()
    table.con.close()
    return {line for (line,) in found}


def _layout(path: Path, header: list[str]) -> tuple[int, int, list[tuple[int, str]]]:
    """Index of the commune code and field columns, and the quarter columns ``(index, name)``
    oldest first. Raises :class:`InputError` when one of them is missing."""
    code_i, field_i = _find_column(header, CODE_COLUMN), _find_column(header, FIELD_COLUMN)
    dated = sorted(
        (int(m[2]), int(m[1]), i, h) for i, h in enumerate(header) if (m := QUARTER.match(h))
    )
    if code_i is None or field_i is None or not dated:
        missing = [n for n, i in ((CODE_COLUMN, code_i), (FIELD_COLUMN, field_i)) if i is None]
        what = ", ".join([*missing,
                          *([] if dated else [_("a quarter column such as 'T1 2018'")])])
        msg = _("{path}: not an Arcep FttH-per-commune file: no column {what} (header: "
                "{header})").format(path=path, what=what, header=", ".join(header))
        raise InputError(msg)
    return code_i, field_i, [(i, h) for _, _, i, h in dated]


def _add_premises(
    frame: pd.DataFrame, companion: Path, where: str | None, encoding: str | None,
) -> list[str]:
    """Fill ``premises`` and ``ftth_share`` of ``frame`` from the companion file ``companion``
    (``where``: the warning saying where it came from); return the warnings."""
    premises, warnings = read_premises(companion, encoding=encoding)
    if where:
        warnings.append(where)
    frame["premises"] = frame["code_insee"].map(premises).astype("float64")
    absent = sum(code not in premises for code in frame["code_insee"])
    if absent:
        warnings.append(Message("{count} communes are not in {file}: premises and share unknown",
                                count=absent, file=companion.name))
    usable = frame["premises"] > 0
    share = frame["ftth_connectable"].where(usable) / frame["premises"].where(usable)
    over = int((share > 1).sum())
    if over:
        warnings.append(Message("{count} communes have more FttH-connectable premises than "
                                "dwellings + establishments: share capped to 1", count=over))
    frame["ftth_share"] = share.clip(upper=1.0)
    return warnings


def read(
    path: Path, *, kind: str = "fibre", options: dict[str, Any] | None = None,
) -> RegistryLoad:
    """Read an Arcep ``ftthCommunes.csv`` export: one row per commune at the latest quarter."""
    options = options or {}
    encoding = options.get("encoding")
    table = open_rows(
        path, encoding=encoding, separator=options.get("separator"),
        header_contains=(CODE_COLUMN, FIELD_COLUMN),
    )
    header, rows, sep = table.header, table.all_rows(), table.separator
    code_i, field_i, quarters = _layout(path, header)
    if not rows and not table.rejected:
        msg = _("{path}: no data line below the header").format(path=path)
        raise InputError(msg)
    _check_field_counts(path, header, rows, sep)
    latest_i, quarter = quarters[-1]
    plain = _plain_lines(table, quarters, latest_i, field_i)
    warnings: list[str] = list(table.warnings)
    if table.encoding != "utf-8":
        warnings.append(Message("encoding: {encoding} (not UTF-8)", encoding=table.encoding))

    quarantine: list[dict[str, Any]] = list(table.rejected)

    def set_aside(line: int, fields: list[str], reason: str) -> None:
        quarantine.append({"line": line, "reason": reason, **_raw(header, fields)})

    # code -> {"connectable": [(line, fields)], "category": [...], "bad": (line, fields, reason)}
    communes: dict[str, dict[str, Any]] = {}
    unattached = len(table.rejected)  # lines given to no commune: each one is a unit read
    unpadded = 0
    slots = {CONNECTABLE: "connectable", CATEGORY: "category"}
    for line, fields in rows:
        if len(fields) != len(header):
            set_aside(line, fields, _("{count} fields where the header has {expected}").format(
                count=len(fields), expected=len(header)))
            unattached += 1
            continue
        raw_code = fields[code_i].strip()
        code = normalize_code(raw_code)
        if code is None:
            set_aside(line, fields, _("column {column}: {value!r} is not an INSEE commune "
                                      "code").format(column=CODE_COLUMN, value=raw_code))
            unattached += 1
            continue
        unpadded += code != raw_code
        entry = communes.setdefault(code, {"connectable": [], "category": [], "bad": None})
        slot = slots.get(_fold(fields[field_i]))
        if slot is None:
            label = fields[field_i].strip()
            problem: str | None = _("column {column}: unknown field {value!r}").format(
                column=FIELD_COLUMN, value=label)
        else:
            entry[slot].append((line, fields))
            problem = None if line in plain else _line_problem(fields, slot, quarters, latest_i)
        if problem and not entry["bad"]:
            entry["bad"] = (line, fields, problem)

    kept: list[dict[str, Any]] = []
    for code, entry in communes.items():
        fault = entry["bad"] or _pair_problem(code, entry)
        if fault:
            set_aside(*fault)
            continue
        kept.append({
            "code_insee": code,
            "quarter": quarter,
            "ftth_connectable": int(_count(entry["connectable"][0][1][latest_i]) or 0),
            "coverage_class": int(_count(entry["category"][0][1][latest_i]) or 0),
        })

    quarantine.sort(key=lambda q: q["line"])
    if unpadded:
        warnings.append(Message("{count} lines had a commune code without its leading zero "
                                "(e.g. 1001 → 01001)", count=unpadded))

    frame = pd.DataFrame(kept, columns=list(COLUMNS[:4]))
    frame["code_insee"] = frame["code_insee"].astype(str)
    frame["quarter"] = frame["quarter"].astype(str)
    frame["ftth_connectable"] = frame["ftth_connectable"].astype("int64")
    frame["coverage_class"] = frame["coverage_class"].astype("int64")
    frame["premises"] = math.nan
    frame["ftth_share"] = math.nan

    companion, where = _companion(path, options)
    notes: list[str] = [Message("{count:,} data lines, 2 per commune; latest quarter {quarter}",
                                count=len(rows), quarter=quarter)]
    if companion is not None:
        warnings += _add_premises(frame, companion, where, encoding)
        notes.append(Message("premises from {file}", file=companion))

    record = InputRecord(
        name=kind, path=str(path), sha256=sha256_of(path), vintage=quarter,
        rows_read=len(communes) + unattached, notes=notes,
    )
    return RegistryLoad(kind=kind, rows=frame, crs=None, quarantine=quarantine, record=record,
                        warnings=warnings)
