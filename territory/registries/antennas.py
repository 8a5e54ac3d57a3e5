"""Mobile antenna sites: one row per operator on a site, with its position and technologies.

Three layouts are recognised from the header line:

``arcep``
    The Arcep / ANFR national file ``Operateur;X;Y;2G;3G;4G``: MCC-MNC operator codes (20801
    Orange, 20810 SFR, 20815 Free Mobile, 20820 Bouygues Telecom), Lambert-93 metres and 0/1
    flags. Its last row is ``20815;#N/A;#N/A;0;1;0`` (no coordinates).
``paris``
    The Ville de Paris ``antennes-relais`` list saved with pandas: ``geo_point_2d`` holds a Python
    dict repr (``{'lon': 2.27, 'lat': 48.85}``, read with :func:`ast.literal_eval`, never
    ``eval``), ``type`` a string like ``3G/4G/5G`` (empty on every Bouygues row), and 4G / 5G
    commissioning dates.
``generic``
    Any CSV with lon/lat or x/y columns (names guessed, or given with
    ``options["columns"] = {"x": ..., "y": ...}``), an optional operator, site id, a
    technology text column (``technologies``) or 0/1 flag columns (``2g`` ... ``5g``). The CRS is
    ``options["crs"]`` or inferred from the coordinate ranges (with a warning; swapped
    latitude / longitude are put back in order).

Options: ``format`` (``arcep``, ``paris`` or ``generic``, to skip detection), ``columns``,
``crs``, ``encoding``, ``separator``.

Rows are quarantined, with the reason, when they have no coordinates, non-numeric
coordinates, coordinates outside France for the CRS, technology flags that are all 0 (or a
technology text naming no mobile generation), or repeat an earlier row exactly (same operator,
coordinates and technologies). A row whose file says nothing about technologies (the Paris
Bouygues rows) is kept with ``technologies`` null and every ``has_*`` false: the site exists,
its technologies are unknown; a warning counts them.
"""

from __future__ import annotations

import ast
import json
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from territory.errors import ConfigError, InputError
from territory.i18n import N_, Message, _
from territory.registries._common import (
    LAMBERT93,
    WGS84,
    MissingHeaderError,
    RegistryLoad,
    decode_text,
    infer_crs,
    parse_number,
)
from territory.registries._rows import FRANCE_EXTENTS, Rows, TypedRows, open_rows, open_typed_rows
from territory.sources._files import InputRecord, sha256_of

#: MCC-MNC codes of the mainland operators
OPERATOR_CODES = {
    "20801": "Orange",
    "20810": "SFR",
    "20815": "Free Mobile",
    "20820": "Bouygues Telecom",
}
#: operator names as registries spell them, normalised (lower case, no accents)
OPERATOR_NAMES = {
    "orange": "Orange",
    "orange france": "Orange",
    "sfr": "SFR",
    "free": "Free Mobile",
    "free mobile": "Free Mobile",
    "bouygues": "Bouygues Telecom",
    "bouygues telecom": "Bouygues Telecom",
}
GENERATIONS = ("2G", "3G", "4G", "5G")
#: radio systems named in ANFR files, mapped to their generation
_SYSTEM_WORDS = {"GSM": "2G", "UMTS": "3G", "LTE": "4G", "NR": "5G"}

OUTPUT_COLUMNS = (
    "source_line", "x", "y", "operator", "site_id", "name",
    "has_2g", "has_3g", "has_4g", "has_5g", "technologies", "installed_year",
)

ARCEP_HEADER = ("operateur", "x", "y", "2g", "3g", "4g")
PARIS_POINT = "geo_point_2d"
#: column names tried, in order, for each role of a generic file (normalised names)
CANDIDATES: dict[str, tuple[str, ...]] = {
    "x": ("x", "lon", "long", "longitude", "lng", "coord_x", "coordonnee_x", "x_l93", "x_lambert93",
          "xl93", "x_lamb93"),
    "y": ("y", "lat", "latitude", "coord_y", "coordonnee_y", "y_l93", "y_lambert93", "yl93",
          "y_lamb93"),
    "operator": ("operateur", "operator", "exploitant", "nom_operateur", "op", "adm_lb_nom"),
    "site_id": ("site_id", "code_site", "id_site", "num_site", "sup_id", "numero_support", "id"),
    "name": ("adresse", "address", "nom", "name"),
    "technologies": ("technologies", "technologie", "technology", "techno", "generation",
                     "generations", "systeme"),
    "2g": ("2g", "site_2g", "has_2g", "techno_2g"),
    "3g": ("3g", "site_3g", "has_3g", "techno_3g"),
    "4g": ("4g", "site_4g", "has_4g", "techno_4g"),
    "5g": ("5g", "site_5g", "has_5g", "techno_5g"),
}
COLUMN_ROLES = tuple(CANDIDATES)

#: plausible boxes (xmin, xmax, ymin, ymax) of France in each CRS: the toolkit's one table
_FRANCE_BOXES = FRANCE_EXTENTS
_CRS_ALIASES = {
    "wgs84": WGS84, "wgs 84": WGS84, "4326": WGS84, "epsg:4326": WGS84, "lonlat": WGS84,
    "lambert93": LAMBERT93, "lambert-93": LAMBERT93, "lambert 93": LAMBERT93, "l93": LAMBERT93,
    "rgf93": LAMBERT93, "2154": LAMBERT93, "epsg:2154": LAMBERT93,
}
_DEGREE_NAMES = {"lon", "long", "longitude", "lng", "lat", "latitude"}
_TRUE = {"1", "true", "vrai", "oui", "yes", "y", "o", "x"}
_FALSE = {"0", "false", "faux", "non", "no", "n"}
_LAYOUTS_HINT = N_(
    "expected the Arcep/ANFR header Operateur;X;Y;2G;3G;4G, the Paris antennes-relais columns "
    "(operateur, type, geo_point_2d), or lon/lat or x/y columns"
)


class _Skip(Exception):
    """A row to quarantine, with its reason."""


def _norm(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[\s\-.]+", "_", text.strip().strip('"').lower())


def _normalise_crs(value: Any) -> str:
    text = str(value).strip()
    if text.lower() in _CRS_ALIASES:
        return _CRS_ALIASES[text.lower()]
    if re.fullmatch(r"(?i)epsg:\d+", text):
        return text.upper()
    msg = _("options crs {value!r} is not a CRS; use EPSG:4326 (WGS84 lon/lat) or EPSG:2154 "
            "(Lambert-93)").format(value=value)
    raise ConfigError(msg)


def _inside_france(x: float, y: float, crs: str) -> bool:
    boxes = _FRANCE_BOXES.get(crs)
    if boxes is None:
        return True
    return any(x0 <= x <= x1 and y0 <= y <= y1 for x0, x1, y0, y1 in boxes)


def _operator(text: str, unknown: set[str]) -> str | None:
    raw = text.strip()
    if not raw:
        return None
    if raw in OPERATOR_CODES:
        return OPERATOR_CODES[raw]
    name = OPERATOR_NAMES.get(re.sub(r"\s+", " ", _norm(raw).replace("_", " ")))
    if name:
        return name
    unknown.add(raw)
    return raw


def _flag(text: str, column: str) -> bool | None:
    if text == "1":
        return True
    if text == "0":
        return False
    value = text.strip().lower()
    if value == "" or value in {"#n/a", "n/a", "na", "nan", "null", "none"}:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    number = None
    try:
        number = parse_number(value)
    except ValueError:
        pass
    if number in (0.0, 1.0):
        return bool(number)
    raise _Skip(_("technology flag {column}={value!r} is not 0/1").format(column=column,
                                                                          value=text.strip()))


def _generations(text: str) -> set[str]:
    found = {f"{g}G" for g in re.findall(r"(?i)(?<![0-9])([2-5])\s*G(?![a-z])", text)}
    for word, gen in _SYSTEM_WORDS.items():
        if re.search(rf"(?i)\b{word}\b", text):
            found.add(gen)
    return found


def _technologies(gens: set[str] | None) -> dict[str, Any]:
    """``gens`` None: the file says nothing (unknown); empty: it says none (quarantined)."""
    if gens is not None and not gens:
        raise _Skip(_("no technology (no 2G, 3G, 4G or 5G)"))
    known = gens or set()
    return {
        "has_2g": "2G" in known, "has_3g": "3G" in known, "has_4g": "4G" in known,
        "has_5g": "5G" in known,
        "technologies": None if gens is None else "/".join(g for g in GENERATIONS if g in known),
    }


def _number_pair(x_text: str, y_text: str) -> tuple[float, float]:
    try:  # fast path: plain numbers
        x, y = float(x_text), float(y_text)
        if math.isfinite(x) and math.isfinite(y):
            return x, y
    except ValueError:
        pass
    try:
        parsed_x, parsed_y = parse_number(x_text), parse_number(y_text)
    except ValueError:
        raise _Skip(_("non-numeric coordinates ({x!r}, {y!r})").format(
            x=x_text.strip(), y=y_text.strip())) from None
    if parsed_x is None or parsed_y is None:
        raise _Skip(_("no coordinates"))
    return parsed_x, parsed_y


def _parse_mapping(text: str) -> Any:
    """A dict written as JSON or as a Python literal (never evaluated as code)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None


def _point(point_text: str, shape_text: str) -> tuple[float, float, bool]:
    """lon, lat from ``geo_point_2d`` (a dict, or ``lat, lon`` text as Opendatasoft exports it),
    else from the ``geo_shape`` point (third item true)."""
    point = point_text.strip()
    shape = shape_text.strip()
    if not point and not shape:
        raise _Skip(_("no coordinates"))
    if point:
        value = _parse_mapping(point) if point.startswith("{") else None
        if isinstance(value, dict) and "lon" in value and "lat" in value:
            try:
                return (*_number_pair(str(value["lon"]), str(value["lat"])), False)
            except _Skip:
                pass
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*", point)
        if match:
            return float(match.group(2)), float(match.group(1)), False
    if shape:
        value = _parse_mapping(shape) if shape.startswith("{") else None
        geometry = value.get("geometry", value) if isinstance(value, dict) else None
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if isinstance(coords, list | tuple) and len(coords) == 2:
            try:
                return (*_number_pair(str(coords[0]), str(coords[1])), True)
            except _Skip:
                pass
    raise _Skip(_("unreadable coordinates: geo_point_2d {point!r} is not a {example} point and "
                  "geo_shape has no point").format(point=point[:60],
                                                   example="{'lon': …, 'lat': …}"))


def _year(text: str) -> int | None:
    match = re.match(r"\s*(\d{4})-\d{2}-\d{2}", text)
    return int(match.group(1)) if match else None


def _detect(header: list[str], options: dict[str, Any]) -> str:
    declared = options.get("format")
    if declared:
        if declared not in ("arcep", "paris", "generic"):
            msg = _("options format {value!r} is not one of arcep, paris, generic").format(
                value=declared)
            raise ConfigError(msg)
        return str(declared)
    names = [_norm(h) for h in header]
    if options.get("columns"):
        return "generic"
    if tuple(names[:6]) == ARCEP_HEADER:
        return "arcep"
    if PARIS_POINT in names and "operateur" in names:
        return "paris"
    return "generic"


def _find_columns(path: Path, header: list[str], options: dict[str, Any]) -> dict[str, int]:
    """Index of each role's column in a generic file; declared names first, then guesses."""
    declared = options.get("columns") or {}
    if not isinstance(declared, dict):
        msg = _("options columns must be a table of role = column name (roles: "
                "{roles})").format(roles=", ".join(COLUMN_ROLES))
        raise ConfigError(msg)
    unknown_roles = sorted(set(declared) - set(COLUMN_ROLES))
    if unknown_roles:
        msg = _("options columns: unknown role(s) {unknown}; known: {known}").format(
            unknown=", ".join(unknown_roles), known=", ".join(COLUMN_ROLES))
        raise ConfigError(msg)
    names = [_norm(h) for h in header]
    found: dict[str, int] = {}
    for role, column in declared.items():
        if column in header:
            found[role] = header.index(column)
        elif _norm(str(column)) in names:
            found[role] = names.index(_norm(str(column)))
        else:
            msg = _("{path}: column {column!r} (options columns {role}) is not in the header "
                    "({header}); pass the column names with options columns x=…, y=…").format(
                path=path, column=column, role=role, header=", ".join(header))
            raise InputError(msg)
    taken = set(found.values())
    for role, candidates in CANDIDATES.items():
        if role in found:
            continue
        for candidate in candidates:
            if candidate in names and names.index(candidate) not in taken:
                found[role] = names.index(candidate)
                taken.add(found[role])
                break
    missing = [r for r in ("x", "y") if r not in found]
    if missing:
        if len(header) == 1:
            what = _("the header has a single column {column!r}, so the separator is not one of "
                     "; , tab |: pass options separator=…").format(column=header[0][:60])
        else:
            what = _("no {missing} coordinate column in the header ({header}); {hint}: pass the "
                     "column names with options columns x=…, y=…").format(
                missing=_(" or ").join(missing), header=", ".join(header)[:200],
                hint=_(_LAYOUTS_HINT))
        msg = _("{path}: unknown antenna file layout: {what}").format(path=path, what=what)
        raise InputError(msg)
    return found


def _header_names(options: dict[str, Any]) -> tuple[str, ...]:
    """Names of which one marks the header line (title lines above it are skipped)."""
    names = {"operateur", PARIS_POINT, *CANDIDATES["x"], *CANDIDATES["y"]}
    columns = options.get("columns")
    if isinstance(columns, dict):
        names.update(str(column).lower() for column in columns.values())
    return tuple(sorted(names))


def _read_rows(path: Path, options: dict[str, Any]) -> Rows:
    encoding, separator = options.get("encoding"), options.get("separator")
    # title lines are found by splitting on ; , tab |: with another declared separator the
    # header must be the first line
    title_skip = not separator or separator in (";", ",", "\t", "|")
    try:
        return open_rows(
            path, encoding=encoding, separator=separator,
            header_contains=_header_names(options) if title_skip else (),
        )
    except MissingHeaderError as error:
        if not error.searched:
            raise InputError(_("{error}; {hint}").format(error=error, hint=_(_LAYOUTS_HINT))
                             ) from error
        lines = decode_text(path, encoding).text.splitlines()
        first = next((line for line in lines if line.strip()), "")
        if len(re.split(r"[;,\t|]", first)) == 1:
            what = _("the first line {line!r} has a single column, so the separator is not one "
                     "of ; , tab |: pass options separator=…").format(line=first[:60])
        else:
            what = _("no coordinate column in the first lines (first line: {line!r}); {hint}: "
                     "pass the column names with options columns x=…, y=…").format(
                line=first[:120], hint=_(_LAYOUTS_HINT))
        raise InputError(_("{path}: unknown antenna file layout: {what}").format(
            path=path, what=what)) from None


def _raw(header: list[str], row: list[str]) -> dict[str, str]:
    raw: dict[str, str] = {}
    for i, value in enumerate(row):
        key = header[i] if i < len(header) and header[i] else f"field_{i + 1}"
        if key in ("line", "reason"):
            key = f"raw_{key}"
        raw[key] = value
    return raw


def _layout_columns(
    path: Path, layout: str, header: list[str], options: dict[str, Any],
) -> dict[str, int]:
    if layout == "arcep":
        return {"operator": 0, "x": 1, "y": 2, "2g": 3, "3g": 4, "4g": 5}
    if layout == "paris":
        names = [_norm(h) for h in header]
        wanted = ("operateur", PARIS_POINT, "geo_shape", "code_site", "adresse", "type",
                  "mise_en_serv", "mise_en_serv_4g", "mise_en_serv_5g_3500", "mise_en_serv_5g_700")
        return {n: names.index(n) for n in wanted if n in names}
    return _find_columns(path, header, options)


#: a parsed row before the range, technology and duplicate checks
_Parsed = dict[str, Any]


def _parse_arcep(cell: dict[str, str], unknown_ops: set[str]) -> _Parsed:
    x, y = _number_pair(cell["x"], cell["y"])
    flags = {g: _flag(cell[g.lower()], g) for g in ("2G", "3G", "4G")}
    stated = any(v is not None for v in flags.values())
    return {"x": x, "y": y, "gens": {g for g, v in flags.items() if v} if stated else None,
            "operator": _operator(cell["operator"], unknown_ops), "site_id": None, "name": None,
            "installed_year": None, "from_shape": False}


def _parse_paris(cell: dict[str, str], unknown_ops: set[str]) -> _Parsed:
    x, y, from_shape = _point(cell.get(PARIS_POINT, ""), cell.get("geo_shape", ""))
    kind_text = cell.get("type", "").strip()
    gens = _generations(kind_text) if kind_text else set()
    if cell.get("mise_en_serv_4g", "").strip():
        gens.add("4G")
    if any(cell.get(c, "").strip() for c in ("mise_en_serv_5g_3500", "mise_en_serv_5g_700")):
        gens.add("5G")
    return {"x": x, "y": y,
            "gens": None if not gens and not kind_text else gens,  # None: unknown (Bouygues rows)
            "operator": _operator(cell.get("operateur", ""), unknown_ops),
            "site_id": cell.get("code_site", "").strip() or None,
            "name": cell.get("adresse", "").strip() or None,
            "installed_year": _year(cell.get("mise_en_serv", "")), "from_shape": from_shape}


def _parse_generic(cell: dict[str, str], unknown_ops: set[str]) -> _Parsed:
    x, y = _number_pair(cell["x"], cell["y"])
    flags = {g.upper(): _flag(cell[g], g.upper()) for g in ("2g", "3g", "4g", "5g") if g in cell}
    text = cell.get("technologies", "").strip()
    gens = _generations(text) if text else None
    if any(v is not None for v in flags.values()):
        gens = (gens or set()) | {g for g, v in flags.items() if v}
    operator = _operator(cell["operator"], unknown_ops) if "operator" in cell else None
    return {"x": x, "y": y, "gens": gens, "operator": operator,
            "site_id": cell.get("site_id", "").strip() or None,
            "name": cell.get("name", "").strip() or None, "installed_year": None,
            "from_shape": False}


_PARSERS = {"arcep": _parse_arcep, "paris": _parse_paris, "generic": _parse_generic}


#: columns of the ``parsed`` table, the rows whose fields are understood (before the checks)
_PARSED = ("line BIGINT, x DOUBLE, y DOUBLE, gens VARCHAR, operator VARCHAR, site_id VARCHAR, "
           "name VARCHAR, installed_year BIGINT, from_shape BOOLEAN")


def _sql_text(rows: Rows, cols: dict[str, int], role: str) -> str:
    return f"coalesce({rows.column(cols[role])}, '')" if role in cols else "''"


def _sql_literal(text: str | None) -> str:
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def _operators(con: Any, keys: str) -> list[tuple[str, str | None, bool, bool]]:
    """The table ``_ops`` of each distinct operator text as the file has it (``key``, from
    the query ``keys``): its name, whether it is unknown, and whether SQL can say (non-ASCII
    texts are left to Python's accent folding); returned as ``(key, name, unknown, ascii)``
    rows."""
    folded = "regexp_replace(lower(trim(raw, '\"')), '[\\s\\-._]+', ' ', 'g')"
    codes = " ".join(f"WHEN raw = '{code}' THEN '{name}'" for code, name in OPERATOR_CODES.items())
    names = " ".join(f"WHEN {folded} = '{key}' THEN '{name}'" for key, name in OPERATOR_NAMES.items())
    con.execute(f"""
        CREATE TEMP TABLE _ops AS
        SELECT key, CASE WHEN raw = '' THEN NULL {codes} {names} ELSE raw END AS name,
               (raw <> '' AND raw NOT IN ({', '.join(repr(c) for c in OPERATOR_CODES)})
                AND {folded} NOT IN ({', '.join(repr(k) for k in OPERATOR_NAMES)})) AS unknown,
               raw SIMILAR TO '[ -~]*' AS ascii
        FROM (SELECT key, trim(key) AS raw FROM ({keys}))""")
    return con.execute("SELECT key, name, unknown, ascii FROM _ops ORDER BY key").fetchall()


def _text_columns(rows: Rows, cols: dict[str, int]) -> tuple[str, str, str, str, str]:
    """SQL of the checks of a row's technology flags and text (true when SQL can parse them
    as Python would), of its technologies, site id and name."""
    flags = [g for g in ("2g", "3g", "4g", "5g") if g in cols]
    flag_text = {g: f"trim({_sql_text(rows, cols, g)})" for g in flags}
    flags_ok = " AND ".join(f"{t} IN ('0', '1', '')" for t in flag_text.values()) or "true"
    stated = " OR ".join(f"{t} <> ''" for t in flag_text.values()) or "false"
    listed = " || ".join(
        f"CASE WHEN {flag_text[g]} = '1' THEN '/{g.upper()}' ELSE '' END" for g in flags) or "''"
    tech_ok = (f"trim({_sql_text(rows, cols, 'technologies')}) = ''"
               if "technologies" in cols else "true")
    site = (f"nullif(trim({_sql_text(rows, cols, 'site_id')}), '')" if "site_id" in cols
            else "NULL::VARCHAR")
    name = f"nullif(trim({_sql_text(rows, cols, 'name')}), '')" if "name" in cols else "NULL::VARCHAR"
    return flags_ok, tech_ok, f"CASE WHEN {stated} THEN ltrim({listed}, '/') END", site, name


def _parse_typed(rows: TypedRows, cols: dict[str, int]) -> list[str | None] | None:
    """``parsed`` straight from ``read_csv`` (coordinates parsed while reading, one pass, file
    order), as :func:`_parse_in_sql` would make it from the table of text; returns the names
    of the unknown operators kept as written, or ``None`` when some row is not one SQL parses
    (the reader then reads the file as text, and Python parses those rows)."""
    flags_ok, tech_ok, gens, site, name = _text_columns(rows, cols)
    x, y = rows.column(cols["x"]), rows.column(cols["y"])
    op = f"coalesce({rows.column(cols['operator'])}, '')" if "operator" in cols else "NULL::VARCHAR"
    # a row SQL cannot parse stops the statement (error()): the file goes the text way. The
    # rows are numbered afterwards from their rowid: read_csv keeps the file's order, and
    # numbering them in the statement (row_number() or a positional join with range()) would
    # read the file on one thread
    clean = f"isfinite({x}) AND isfinite({y}) AND {flags_ok} AND {tech_ok}"
    try:
        rows.con.execute(f"""
            CREATE TABLE parsed AS
            SELECT {x} AS x, {y} AS y, {gens} AS gens, {op} AS operator, {site} AS site_id,
                   {name} AS name, NULL::BIGINT AS installed_year, false AS from_shape
            FROM {rows.source}
            WHERE CASE WHEN coalesce({clean}, false) THEN true
                       ELSE error('a row for the text reader') END""", rows.source_parameters)
    except duckdb.Error:
        return None
    if _one(rows.con, "SELECT count(*) FROM parsed") != rows.count:
        return None  # blank lines: the text reader numbers the rows by their lines
    rows.con.execute("ALTER TABLE parsed ADD COLUMN line BIGINT")
    rows.con.execute(f"UPDATE parsed SET line = rowid + {rows.first_line}")
    if "operator" not in cols:
        return []
    # the operator column holds the file's texts: each replaced by its name where they differ
    ops = _operators(rows.con, "SELECT DISTINCT operator AS key FROM parsed")
    if not all(ascii_text for *_rest, ascii_text in ops):
        return None  # accents: Python folds them
    if any(op_name != key for key, op_name, _unknown, _ascii in ops):
        rows.con.execute("UPDATE parsed SET operator = o.name FROM _ops AS o "
                         "WHERE parsed.operator = o.key AND o.name IS DISTINCT FROM o.key")
    return [op_name for _k, op_name, is_unknown, _a in ops if is_unknown]


#: up to this many distinct operator texts, a row finds its operator's name by casting its
#: text to an ENUM of them and indexing a list: as fast as joining ``_ops``, and the rows stay
#: in file order (the kept rows need no sort); beyond, by the join
_ENUM_LIMIT = 1000


def _parse_in_sql(
    rows: Rows, layout: str, cols: dict[str, int], header: list[str],
) -> tuple[str, list[str | None]]:
    """The rows SQL understands as the Python parsers would, into ``parsed`` (in file order);
    the others (odd numbers, flags, technology texts, field counts) are listed in ``odd`` for
    Python; returns that query and the names of the unknown operators SQL kept as written."""
    width = max(cols.values()) + 1
    count_ok = (f"nfields = {len(header)}" if layout == "arcep"
                else f"nfields IS NOT NULL AND nfields >= {width}")
    x, y = _sql_text(rows, cols, "x"), _sql_text(rows, cols, "y")
    x_number = f"TRY_CAST(replace({x}, ',', '.') AS DOUBLE)"
    y_number = f"TRY_CAST(replace({y}, ',', '.') AS DOUBLE)"
    flags_ok, tech_ok, gens, site, name = _text_columns(rows, cols)
    key = f"coalesce({rows.column(cols['operator'])}, '')" if "operator" in cols else "''"
    ops = _operators(rows.con, f"SELECT DISTINCT {key} AS key FROM rows")
    known = [(key, op_name) for key, op_name, _unknown, ascii_text in ops if ascii_text]
    if "operator" not in cols:  # no operator column: every row's text is '', name NULL
        op_index, op_name, join = "1", "NULL::VARCHAR", ""
    elif len(ops) <= _ENUM_LIMIT:
        if known:
            rows.con.execute("CREATE TYPE _op_key AS ENUM ("
                             + ", ".join(_sql_literal(key) for key, _n in known) + ")")
            op_index = (f"enum_code(TRY_CAST(coalesce({rows.column(cols['operator'])}, '') "
                        "AS _op_key)) + 1")
        else:
            op_index = "NULL::INTEGER"
        listed = ", ".join(_sql_literal(op_name) for _k, op_name in known)
        op_name, join = "NULL::VARCHAR", ""
        operator = f"CAST([{listed}] AS VARCHAR[])[op_index]"
    else:
        op_index, op_name = "CASE WHEN o.ascii THEN 1 END", "o.name"
        join = (f"JOIN _ops AS o ON o.key = coalesce(r.{rows.column(cols['operator'])}, '')")
    if "operator" not in cols or len(ops) > _ENUM_LIMIT:
        operator = "op_name"
    clean = (f"{count_ok} AND isfinite(x) AND isfinite(y) "
             f"AND {flags_ok} AND {tech_ok} AND op_index IS NOT NULL")
    # the numbers are cast once, in the inner query; the checks and the names use them
    rows.con.execute(f"""
        CREATE TABLE parsed AS
        SELECT line, x, y, {gens} AS gens,
               {operator} AS operator, {site} AS site_id, {name} AS name,
               NULL::BIGINT AS installed_year, false AS from_shape
        FROM (SELECT r.*, {x_number} AS x, {y_number} AS y,
                          {op_index} AS op_index, {op_name} AS op_name
              FROM rows AS r {join}) AS r
        WHERE coalesce({clean}, false)""")
    unknown = [op_name for _k, op_name, is_unknown, ascii_text in ops if is_unknown and ascii_text]
    return "SELECT line FROM rows ANTI JOIN parsed USING (line) ORDER BY line", unknown


def read(path: Path, *, kind: str, options: dict[str, Any]) -> RegistryLoad:
    """Read an antenna sites file (Arcep national, Paris or generic CSV)."""
    typed = _read_typed(path, options)
    if typed is not None:
        load = _load(typed, path, kind, options)
        if load is not None:
            return load
    load = _load(_read_rows(path, options), path, kind, options)
    assert load is not None  # only typed rows are given up
    return load


def _read_typed(path: Path, options: dict[str, Any]) -> TypedRows | None:
    """The file with its coordinates parsed as numbers while DuckDB reads it (the fast path
    of large national files: :func:`~territory.registries._rows.open_typed_rows`), or
    ``None`` when it is not a plain file of one of the CSV layouts."""
    separator = options.get("separator")
    title_skip = not separator or separator in (";", ",", "\t", "|")

    def numbers(header: list[str]) -> list[int]:
        layout = _detect(header, options)
        if layout == "paris":
            return []
        cols = _layout_columns(path, layout, header, options)
        return [cols["x"], cols["y"]]

    return open_typed_rows(path, numbers=numbers, encoding=options.get("encoding"),
                           separator=separator,
                           header_contains=_header_names(options) if title_skip else ())


def _load(rows: Rows, path: Path, kind: str, options: dict[str, Any]) -> RegistryLoad | None:
    """The registry from its rows; ``None`` when ``rows`` are typed rows (the fast path) and
    some row needs the Python parsers: the file is then read again as text."""
    header, encoding = rows.header, rows.encoding
    layout = _detect(header, options)
    warnings: list[str] = list(rows.warnings)
    if encoding != "utf-8" and not options.get("encoding"):
        warnings.append(Message("encoding not declared: read as {encoding}", encoding=encoding))
    declared_crs = _normalise_crs(options["crs"]) if options.get("crs") else None
    cols = _layout_columns(path, layout, header, options)
    width = max(cols.values()) + 1
    strict = layout != "generic"  # the two known layouts have a fixed number of fields
    parse = _PARSERS[layout]
    unknown_ops: set[str] = set()
    quarantine: list[dict[str, Any]] = list(rows.rejected)
    con = rows.con

    def bad(line: int, row: list[str], reason: str) -> None:
        quarantine.append({"line": line, "reason": reason, **_raw(header, row)})

    unknown_names: list[str | None] = []
    if layout == "paris":  # a small file of Python literals: parsed in Python
        con.execute(f"CREATE TABLE parsed ({_PARSED})")
        odd = "SELECT line FROM rows ORDER BY line"
    elif isinstance(rows, TypedRows):
        typed_unknown = _parse_typed(rows, cols)
        if typed_unknown is None:
            con.close()
            return None
        odd, unknown_names = "", typed_unknown
    else:
        odd, unknown_names = _parse_in_sql(rows, layout, cols, header)
    # every row parsed in SQL (the common case): no row is left to Python, no anti-join
    all_parsed = layout != "paris" and _one(con, "SELECT count(*) FROM parsed") == rows.count
    if isinstance(rows, TypedRows) and not all_parsed:  # cannot happen: kept as a guard
        con.close()
        return None
    odd_lines = [] if all_parsed else [line for (line,) in con.execute(odd).fetchall()]
    python_rows: list[tuple[Any, ...]] = []
    for line, row in sorted(rows.fields(odd_lines).items()):
        try:
            if len(row) < width or (strict and len(row) != len(header)):
                msg = _("{count} fields instead of {expected} (separator or quoting "
                        "problem)").format(count=len(row), expected=len(header))
                raise _Skip(msg)
            rec = parse({r: row[i] for r, i in cols.items()}, unknown_ops)
        except _Skip as skip:
            bad(line, row, str(skip))
            continue
        gens = rec["gens"]
        python_rows.append((
            line, rec["x"], rec["y"],
            None if gens is None else "/".join(g for g in GENERATIONS if g in gens),
            rec["operator"], rec["site_id"], rec["name"], rec["installed_year"],
            rec["from_shape"]))
    if python_rows:
        import pyarrow as pa

        columns = [c.split()[0] for c in _PARSED.split(", ")]
        odd_rows = pa.table(dict(zip(columns, map(list, zip(*python_rows, strict=True)),
                                     strict=True)))
        con.execute("INSERT INTO parsed SELECT * FROM odd_rows")
        del odd_rows

    crs = _settle_crs(path, layout, con, declared_crs, header, cols, warnings)
    if unknown_names:  # the unknown operators of the rows SQL parsed (Python's are in already)
        unknown_ops |= {op for (op,) in con.execute(
            "SELECT DISTINCT operator FROM parsed WHERE list_contains(?, operator)",
            [unknown_names]).fetchall()}
    from_shapes = [line for (line,) in con.execute(
        "SELECT line FROM parsed WHERE from_shape ORDER BY line").fetchall()
    ] if layout == "paris" else []  # only a Paris row can be placed from its geo_shape
    kept = _check_rows(con, crs, rows, bad)
    _summarise(warnings, unknown_ops, from_shapes, kept.column("technologies").null_count)
    quarantine.sort(key=lambda q: q["line"])
    sha256 = rows.sha256() if isinstance(rows, TypedRows) else sha256_of(path)
    record = InputRecord(name="antennas", path=str(path), sha256=sha256,
                         rows_read=rows.count + len(rows.rejected),
                         notes=[Message("layout: {layout}", layout=layout)])
    con.close()
    return RegistryLoad(kind=kind, rows=kept, crs=crs, quarantine=quarantine, record=record,
                        warnings=warnings)


def _one(con: Any, sql: str) -> Any:
    """The one value of a one-row, one-column query."""
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def _inside_sql(crs: str) -> str:
    boxes = _FRANCE_BOXES.get(crs)
    if boxes is None:
        return "true"
    return "(" + " OR ".join(
        f"(x BETWEEN {x0} AND {x1} AND y BETWEEN {y0} AND {y1})" for x0, x1, y0, y1 in boxes) + ")"


def _check_rows(con: Any, crs: str, rows: Rows, bad: Any) -> Any:
    """France, technologies and duplicates, checked in SQL; the rows found are quarantined and
    deleted from ``parsed``; returns the rows kept (Arrow, in file order)."""
    import numpy as np

    problem = (f"CASE WHEN NOT {_inside_sql(crs)} THEN 'outside' "
               "WHEN gens = '' THEN 'no technology' END")
    problems = con.execute(f"""
        SELECT line, problem, x, y, NULL::BIGINT AS first
        FROM (SELECT line, x, y, {problem} AS problem FROM parsed)
        WHERE problem IS NOT NULL""").fetchall()
    # repeats share a hash of their key (x + 0.0: -0.0 and 0.0 are equal): numpy sorts one
    # integer per row (several times faster than grouping them in DuckDB), and the few rows
    # whose hash repeats are then compared exactly
    hashes = con.execute(f"""
        SELECT hash(operator, x + 0.0, y + 0.0, gens) AS h FROM parsed
        WHERE ({problem}) IS NULL""").fetchnumpy()["h"]
    hashes = np.sort(np.asarray(hashes))
    repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    del hashes
    if len(repeated):
        con.register("_repeated", {"h": repeated})
        problems += con.execute(f"""
            WITH maybe AS (
                SELECT line, x, y, operator, gens FROM parsed
                WHERE ({problem}) IS NULL
                    AND hash(operator, x + 0.0, y + 0.0, gens) IN (SELECT h FROM _repeated)
            ),
            repeated AS (
                SELECT operator, x, y, gens, min(line) AS first
                FROM maybe GROUP BY operator, x, y, gens HAVING count(*) > 1
            )
            SELECT t.line, 'duplicate', t.x, t.y, r.first
            FROM maybe AS t JOIN repeated AS r
                ON t.operator IS NOT DISTINCT FROM r.operator AND t.x = r.x AND t.y = r.y
                AND t.gens IS NOT DISTINCT FROM r.gens
            WHERE t.line <> r.first""").fetchall()
        con.unregister("_repeated")
    problems.sort()
    if problems:
        fields = rows.fields([line for line, *_ in problems])
        for line, kind, x, y, first in problems:
            if kind == "outside":
                reason = _("coordinates ({x}, {y}) outside France for {crs}").format(
                    x=f"{x:g}", y=f"{y:g}", crs=crs)
            elif kind == "no technology":
                reason = _("no technology (no 2G, 3G, 4G or 5G)")
            else:
                reason = _("duplicate of line {line} (same operator, coordinates and "
                           "technologies)").format(line=first)
            bad(line, fields[line], reason)
        # deleted rather than anti-joined: the scan below keeps the rows in the table's order
        con.register("_dropped", {"line": np.asarray([line for line, *_ in problems])})
        con.execute("DELETE FROM parsed WHERE line IN (SELECT line FROM _dropped)")
        con.unregister("_dropped")
    kept = con.execute("""
        SELECT line AS source_line, x, y, operator, site_id, name,
               coalesce(contains(gens, '2G'), false) AS has_2g,
               coalesce(contains(gens, '3G'), false) AS has_3g,
               coalesce(contains(gens, '4G'), false) AS has_4g,
               coalesce(contains(gens, '5G'), false) AS has_5g,
               gens AS technologies, installed_year
        FROM parsed""").to_arrow_table()
    # ``parsed`` is in file order unless rows parsed in Python were added after the others
    lines = kept.column("source_line").to_numpy()
    if len(lines) > 1 and not bool(np.all(lines[1:] > lines[:-1])):
        kept = kept.take(np.argsort(lines, kind="stable"))
    return kept


def _frame(kept: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(kept, columns=list(OUTPUT_COLUMNS))
    frame = frame.astype({
        "source_line": "int64", "x": "float64", "y": "float64", "has_2g": "bool",
        "has_3g": "bool", "has_4g": "bool", "has_5g": "bool", "installed_year": "Int64",
    })
    for column in ("operator", "site_id", "name", "technologies"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def _summarise(
    warnings: list[str], unknown_ops: set[str], from_shapes: list[int], unknown_tech: int,
) -> None:
    if unknown_ops:
        codes = ", ".join(sorted(unknown_ops))
        warnings.append(Message("unknown operator code(s) kept as written: {codes}",
                                codes=codes))
    if from_shapes:
        lines = ", ".join(map(str, from_shapes[:10])) + (" …" if len(from_shapes) > 10 else "")
        warnings.append(Message("{count} row(s) with an unreadable geo_point_2d placed from "
                                "geo_shape (line {lines})", count=len(from_shapes), lines=lines))
    if unknown_tech:
        warnings.append(Message("{count} row(s) give no technology information: kept with "
                                "technologies unknown (null), has_5g false", count=unknown_tech))


def _settle_crs(
    path: Path, layout: str, con: Any, declared: str | None,
    header: list[str], cols: dict[str, int], warnings: list[str],
) -> str:
    """The CRS of the rows: declared, else the layout's, else inferred from their ranges
    (swapping latitude and longitude when they are the wrong way round)."""
    coords = con.execute("SELECT x, y FROM parsed").fetchnumpy()
    xs = pd.Series(coords["x"], dtype="float64")
    ys = pd.Series(coords["y"], dtype="float64")
    pending = len(xs)
    guess = infer_crs(xs, ys)
    seen: str = (Message("{crs} with latitude and longitude swapped", crs=guess.crs)
                 if guess.swapped else str(guess.crs))
    if declared:
        if guess.crs and (guess.crs != declared or guess.swapped) and declared in _FRANCE_BOXES:
            warnings.append(Message("options crs is {declared} but the coordinate ranges look "
                                    "like {seen}", declared=declared, seen=seen))
        return declared
    default = {"arcep": LAMBERT93, "paris": WGS84}.get(layout)
    if default:
        if guess.crs and (guess.crs != default or guess.swapped):
            warnings.append(Message("the {layout} layout is in {default} but the coordinate "
                                    "ranges look like {seen}; rows outside France are "
                                    "quarantined (declare options crs to override)",
                                    layout=layout, default=default, seen=seen))
        return default
    xname, yname = header[cols["x"]], header[cols["y"]]
    if guess.crs is None:
        if not pending:
            warnings.append(
                Message("CRS not declared and no coordinates to infer it from: WGS84 assumed"))
            return WGS84
        msg = _("{path}: the coordinates in columns {x}, {y} fit neither WGS84 nor Lambert-93 "
                "over France; declare the CRS with options crs=EPSG:…").format(
            path=path, x=xname, y=yname)
        raise InputError(msg)
    warnings.append(Message("{warning} (columns {x}, {y})", warning=guess.warning, x=xname,
                            y=yname))
    if guess.crs == LAMBERT93 and {_norm(xname), _norm(yname)} & _DEGREE_NAMES:
        warnings.append(Message("columns {x}, {y} are named as degrees but hold Lambert-93 "
                                "metres", x=xname, y=yname))
    if guess.swapped:
        con.execute("UPDATE parsed SET x = y, y = x")
    return guess.crs
