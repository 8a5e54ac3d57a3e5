"""Connected city infrastructure registries: street lights, CCTV cameras, sensors.

One reader for the three kinds; the format is told by the file's content, not its name:

* a vector file GDAL reads (through pyogrio, in place): an ESRI Shapefile inside a zip (as the
  Ville de Montpellier publishes its street lights), a plain ``.shp``, a GeoPackage or a
  GeoJSON. The CRS of the ``.prj`` / GeoPackage is honoured. A GeoJSON without a ``crs``
  member is *not* trusted to be WGS84 (GDAL says so, but city exports often hold Lambert-93
  metres there): the CRS is inferred from the coordinate ranges, with a warning unless it is
  plain WGS84 as RFC 7946 says;
* a CSV (separator and encoding detected; Windows-1252 accepted) with longitude/latitude or
  X/Y columns, or an Opendatasoft ``geo_point_2d`` column (``"lat, lon"``). DBF-style headers
  such as ``"Année,N,9,0"`` lose their type suffix. A CSV without coordinates is read too:
  its rows are quarantined ("no coordinates") unless ``options["commune"]`` gives the INSEE
  code of the commune the whole file covers, in which case they are kept with that
  ``code_insee`` and NaN coordinates.

Options (all optional): ``crs`` (``EPSG:2154``, ``EPSG:4326`` or any CRS pyproj knows; other
CRSs are reprojected to WGS84), ``encoding``, ``separator``, ``layer`` (in a multi-layer
file), ``commune`` and ``columns``, a mapping of roles to column (or property) names:
``x``/``y`` (aliases ``lon``/``lat``), ``point`` (one ``"lat, lon"`` column), ``subtype``,
``name``, ``installed_year`` and ``code_insee``. Roles not given are found among usual names.

Rows kept (:data:`COLUMNS`): ``subtype`` is the lantern type of a street light
(``type_lante``), where a camera is installed (``Implantation``, ``Adresse``) or a sensor's
type; ``name`` its identifier (``Nom``, ``Numéro``). ``installed_year`` understands years,
``dd/mm/yy`` dates, ISO dates, Excel serial dates and ``inconnue``.

A row is quarantined, with its reason (a stable prefix, details after a colon) and raw
fields, when it has no coordinates, coordinates that are not numbers, a geometry that is not
one point, coordinates outside the plausible ranges of France (metropolitan France for
Lambert-93; also the overseas départements for WGS84), or when it is an exact duplicate of an
earlier row (same coordinates, same subtype and same name).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import unicodedata
import warnings as pywarnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from territory.errors import ConfigError, InputError
from territory.i18n import N_, Message, _
from territory.registries._common import (
    LAMBERT93,
    WGS84,
    RegistryLoad,
    infer_crs,
    normalize_code,
    parse_number,
)
from territory.registries._rows import FRANCE_EXTENTS, read_all_rows
from territory.sources._files import InputRecord, sha256_of

INFRASTRUCTURE_KINDS = ("streetlights", "cameras", "sensors")

#: columns of ``RegistryLoad.rows``
COLUMNS = ("source_line", "x", "y", "code_insee", "subtype", "name", "installed_year", "kind")

#: roles a column can be declared for in ``options["columns"]`` (with their aliases)
ROLES = ("x", "y", "point", "subtype", "name", "installed_year", "code_insee")
_ROLE_ALIASES = {
    "lon": "x", "longitude": "x", "lat": "y", "latitude": "y", "year": "installed_year",
}

#: plausible ranges of France (x min, x max, y min, y max) per CRS: the toolkit's one table
FRANCE_RANGES = FRANCE_EXTENTS

#: attribute roles (besides the coordinates) every row carries
_ATTRIBUTES = ("subtype", "name", "installed_year", "code_insee")

REASON_NO_COORDINATES = N_("no coordinates")
REASON_NON_NUMERIC = N_("non-numeric coordinates")
REASON_NOT_A_POINT = N_("not a point geometry")
REASON_OUTSIDE = N_("coordinates outside France")
REASON_DUPLICATE = N_("exact duplicate")
REASON_FIELDS = N_("wrong number of fields")

#: usual column names (folded: lower case, accents stripped, ``_`` for spaces), by preference
_X = (
    "lon", "lng", "long", "longitude", "longitude_wgs84", "lon_wgs84", "x", "coord_x", "x_coord",
    "coordx", "coordonnee_x", "x_l93", "x_lambert93", "xlambert93", "x_lambert", "xlamb93", "xl93",
    "x_wgs84", "easting",
)
_Y = (
    "lat", "latitude", "latitude_wgs84", "lat_wgs84", "y", "coord_y", "y_coord", "coordy",
    "coordonnee_y", "y_l93", "y_lambert93", "ylambert93", "y_lambert", "ylamb93", "yl93", "y_wgs84",
    "northing",
)
_POINT = (
    "geo_point_2d", "geo_point", "geopoint", "coordonnees_gps", "coordonnees", "geolocalisation",
)
_SUBTYPE = {
    "streetlights": (
        "type_lante", "type_lanterne", "type_luminaire", "type_de_luminaire", "luminaire",
        "type_lampe", "type_de_lampe", "lampe", "type_source", "source_lumineuse", "type_foyer",
        "type_de_foyer", "technologie", "type", "nature", "categorie", "famille", "modele",
    ),
    "cameras": (
        "type_camera", "type_de_camera", "type", "nature", "categorie", "implantation", "adresse",
        "address", "localisation", "emplacement", "lieu",
    ),
    "sensors": (
        "type_capteur", "type_de_capteur", "capteur", "type", "nature", "categorie", "famille",
        "grandeur", "mesure", "parametre",
    ),
}
_NAME = (
    "nom", "name", "numero", "num", "identifiant", "id_camera", "id_capteur", "id_point_lumineux",
    "reference", "ref", "libelle", "label",
)
_YEAR = (
    "installed_year", "annee", "annee_installation", "annee_d_installation", "annee_de_pose",
    "annee_pose", "annee_mise_en_service", "date_de_mise_en_service", "date_mise_en_service",
    "mise_en_service", "date_installation", "date_d_installation", "date_de_pose", "date_pose",
    "install_year", "year", "date",
)
_INSEE = (
    "code_insee", "insee", "code_commune_insee", "code_commune", "codgeo", "insee_com", "com_insee",
    "depcom", "code_com",
)

#: DBF-style type suffix of a header written by some GIS exports: ``Nom,C,254``, ``Année,N,9,0``
_DBF_SUFFIX = re.compile(r"^(?P<name>.+?),[CNFLDM],\d+(?:,\d+)?$")
_UNKNOWN_DATES = {
    "inconnue", "inconnu", "unknown", "nc", "n/c", "nd", "n.d.", "?", "-", "na", "n/a", "#n/a",
    "none", "null", "nan",
}


# -- small helpers ------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case, accents stripped, spaces, dashes, dots and apostrophes as underscores."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[\s\-.'’]+", "_", plain.strip().lower()).strip("_")


def _text(value: Any) -> str | None:
    """A value as stripped text, or ``None`` when blank."""
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            value = int(value)
    text = value.strip() if isinstance(value, str) else str(value).strip()
    return text or None


def _plain(value: Any) -> Any:
    """A raw field made fit for a JSON quarantine file."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dt.date | dt.datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _translated(reason: str) -> str:
    """A reason ``prefix: values`` with its prefix in the user's language (values as read)."""
    prefix, sep, details = reason.partition(": ")
    return _("{reason}: {details}").format(reason=_(prefix), details=details) if sep else _(prefix)


def _raw_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Raw fields of a quarantine entry, renamed when they would hide ``line`` or ``reason``."""
    return {
        (f"raw_{k}" if k in ("line", "reason") else str(k)): _plain(v) for k, v in fields.items()
    }


def commune_option(options: dict[str, Any]) -> str | None:
    """The INSEE code of ``options["commune"]`` (5 characters, Corsica ``2A``/``2B``), or None."""
    value = options.get("commune")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    code = normalize_code(str(value))
    if code is None:
        msg = _("commune option: {value!r} is not an INSEE commune code (5 characters, e.g. "
                "34172 or 2A004)").format(value=value)
        raise ConfigError(msg)
    return code


def _insee(value: Any) -> str | None:
    """A per-row INSEE code, or None when blank or malformed."""
    text = _text(value)
    return None if text is None else normalize_code(text)


def installed_year(value: Any, today: dt.date | None = None) -> tuple[int | None, bool]:
    """``(year, understood)`` of an installation year or date.

    Understands ``2012``, ``2012.0``, ``dd/mm/yy`` (two-digit years up to this year are 20xx),
    ``dd/mm/yyyy``, ``mm/yyyy``, ISO dates, Excel serial dates (``40898`` = 2011-12-21) and
    date objects, and free text holding one four-digit year (``Début 2019``); ``inconnue``,
    ``#N/A``, blanks and the DBF null ``0`` are ``(None, True)``. Anything
    else, or a year outside 1850..next year, is ``(None, False)``.
    """
    this_year = (today or dt.date.today()).year
    if value is None:
        return None, True
    if isinstance(value, pd.Timestamp | dt.date | dt.datetime | np.datetime64):
        stamp = pd.Timestamp(value)
        return (None, True) if pd.isna(stamp) else _plausible_year(stamp.year, this_year)
    if isinstance(value, bool):
        return None, False
    return _year_in_text(_date_text(value), this_year)


def _plausible_year(year: int, this_year: int) -> tuple[int | None, bool]:
    return (year, True) if 1850 <= year <= this_year + 1 else (None, False)


def _date_text(value: Any) -> str:
    """An installation year or date as text; empty for a NaN or zero number (the DBF null)."""
    if isinstance(value, int | float | np.integer | np.floating):
        number = float(value)
        if math.isnan(number) or number == 0:
            return ""
        return str(int(number)) if number.is_integer() else str(number)
    return str(value).strip()


def _year_in_text(text: str, this_year: int) -> tuple[int | None, bool]:
    """``(year, understood)`` of an installation year or date written as text (see
    :func:`installed_year`)."""
    if not text or text.lower() in _UNKNOWN_DATES:
        return None, True
    if re.fullmatch(r"0+(\.0+)?", text):
        return None, True
    if match := re.fullmatch(r"(\d{4})(?:\.0+)?", text):
        return _plausible_year(int(match.group(1)), this_year)
    if match := re.fullmatch(r"\d{1,2}[/.\-]\d{1,2}[/.\-](\d{2}|\d{4})(?:[ T].*)?", text):
        year = int(match.group(1))
        if len(match.group(1)) == 2:
            year += 2000 if year <= this_year % 100 else 1900
        return _plausible_year(year, this_year)
    if match := re.fullmatch(r"(\d{4})[/\-]\d{1,2}(?:[/\-]\d{1,2})?(?:[ T].*)?", text):
        return _plausible_year(int(match.group(1)), this_year)
    if match := re.fullmatch(r"\d{1,2}[/.\-](\d{4})", text):
        return _plausible_year(int(match.group(1)), this_year)
    if match := re.fullmatch(r"(\d{5})(?:\.\d+)?", text):
        serial = int(match.group(1))
        if 10_000 <= serial <= 80_000:  # Excel's 1900 date system
            return _plausible_year((dt.date(1899, 12, 30) + dt.timedelta(days=serial)).year,
                                   this_year)
    if match := re.fullmatch(r"[^\d]*\b(\d{4})\b[^\d]*", text):  # "Début 2019", "fin 2018"
        return _plausible_year(int(match.group(1)), this_year)
    return None, False


def _normalise_crs(path: Path, declared: Any, where: str) -> tuple[str, Any]:
    """``(label, pyproj CRS or None)``: ``EPSG:4326`` / ``EPSG:2154`` need no pyproj object;
    any other CRS is returned with its pyproj CRS so the points can be reprojected."""
    if not isinstance(declared, str):
        from pyproj import CRS  # only needed for CRS objects from files

        crs = declared if isinstance(declared, CRS) else CRS.from_user_input(declared)
        return _classify(crs)
    text = declared.strip()
    folded = _fold(text).replace("_", "")
    if "crs84" in folded or folded in {"wgs84", "4326", "epsg4326"}:
        return WGS84, None
    if folded in {"lambert93", "l93", "rgf93lambert93", "2154", "epsg2154"}:
        return LAMBERT93, None
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(int(text) if text.isdigit() else text)
    except CRSError:
        msg = _("{path}: unknown CRS {crs!r} in {where}; use EPSG:2154 (Lambert-93) or "
                "EPSG:4326 (WGS84)").format(path=path, crs=text, where=_(where))
        raise InputError(msg) from None
    return _classify(crs)


def _classify(crs: Any) -> tuple[str, Any]:
    from pyproj import CRS

    if crs.to_epsg() == 4326 or crs.equals(CRS("EPSG:4326"), ignore_axis_order=True):
        return WGS84, None
    if crs.to_epsg() == 2154:
        return LAMBERT93, None
    label = ":".join(crs.to_authority()) if crs.to_authority() else crs.name
    return label, crs


def _in_france(crs: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    inside = np.zeros(len(x), dtype=bool)
    for x0, x1, y0, y1 in FRANCE_RANGES[crs]:
        inside |= (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    return inside


# -- rows, whichever the format -----------------------------------------------------------------


@dataclass
class _Table:
    """What a format reader hands over: coordinates and attributes of every row read.

    ``problems[i]`` is the quarantine reason of a row whose coordinates are unusable (then
    ``xs[i]``/``ys[i]`` are NaN); ``raw(i)`` builds its raw fields only when needed.
    """

    lines: list[int]
    xs: np.ndarray
    ys: np.ndarray
    problems: list[str | None]
    fields: dict[str, list[Any]]
    raw: Callable[[int], dict[str, Any]]
    file_crs: Any = None  # a pyproj CRS or a label, when the file states one we trust
    crs_note: str | None = None  # why the file's CRS is not trusted
    #: quarantine entries of rows no format can read (empty rows, overlong fields)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _declared_crs(
    path: Path, table: _Table, options: dict[str, Any], xs: np.ndarray, ys: np.ndarray,
    usable: np.ndarray,
) -> tuple[str | None, Any]:
    """``(label, pyproj CRS to reproject from or None)`` of the CRS the crs option, else the
    file, states; ``(None, None)`` when neither does or the file's is not trusted (then
    ``table.crs_note`` says why)."""
    if options.get("crs"):
        return _normalise_crs(path, options["crs"], N_("the crs option"))
    if table.file_crs is None:
        return None, None
    crs, reproject = _normalise_crs(path, table.file_crs, N_("the file"))
    if crs == WGS84 and usable.any():
        out_of_degrees = ~((np.abs(xs[usable]) <= 180) & (np.abs(ys[usable]) <= 90))
        if out_of_degrees.mean() >= 0.5:  # metres labelled as degrees
            table.crs_note = "the file says WGS84 but its coordinates are not degrees"
            return None, None
    return crs, reproject


def _guessed_crs(
    path: Path, table: _Table, xs: np.ndarray, ys: np.ndarray, usable: np.ndarray,
    warnings: list[str],
) -> tuple[str, np.ndarray, np.ndarray]:
    """The CRS told by the coordinate ranges, and the x and y arrays (swapped when the file
    has them the other way round)."""
    if not usable.any():
        return WGS84, xs, ys  # nothing to place: the label does not matter
    guess = infer_crs(pd.Series(xs[usable]), pd.Series(ys[usable]))
    if guess.crs is None:
        x_range = f"{np.nanmin(xs[usable]):g}..{np.nanmax(xs[usable]):g}"
        y_range = f"{np.nanmin(ys[usable]):g}..{np.nanmax(ys[usable]):g}"
        msg = _("{path}: coordinate ranges (x {x_range}, y {y_range}) fit neither WGS84 nor "
                "Lambert-93; declare the CRS with the crs option (e.g. {crs_example}) or the "
                "coordinate columns ({columns_example})").format(
            path=path, x_range=x_range, y_range=y_range, crs_example='crs = "EPSG:2154"',
            columns_example='columns = {x = "...", y = "..."}')
        raise InputError(msg)
    if guess.swapped:
        xs, ys = ys, xs
    plain_geojson = table.crs_note == "rfc7946" and guess.crs == WGS84 and not guess.swapped
    if guess.warning and not plain_geojson:
        note = table.crs_note if table.crs_note not in (None, "rfc7946") else None
        warnings.append(Message("{warning} ({note})", warning=guess.warning, note=note) if note
                        else guess.warning)
    return guess.crs, xs, ys


def _installation_years(values: list[Any], warnings: list[str]) -> list[int | None]:
    """The installation year of each row (see :func:`installed_year`); a warning counts the
    dates not understood."""
    years: list[int | None] = []
    not_understood: list[Any] = []
    for value in values:
        year, understood = installed_year(value)
        years.append(year)
        if not understood:
            not_understood.append(value)
    if not_understood:
        warnings.append(Message("{count} installation dates not understood (e.g. {example!r}), "
                                "left empty", count=len(not_understood),
                                example=_plain(not_understood[0])))
    return years


def _settle(
    path: Path, kind: str, table: _Table, options: dict[str, Any], warnings: list[str],
) -> tuple[pd.DataFrame, str, list[dict[str, Any]]]:
    """Decide the CRS, check ranges and duplicates, and build the kept rows and the quarantine."""
    commune = commune_option(options)
    n = len(table.lines)
    xs, ys = table.xs.astype("float64", copy=True), table.ys.astype("float64", copy=True)
    usable = np.array([p is None for p in table.problems], dtype=bool)
    if n:
        usable &= np.isfinite(xs) & np.isfinite(ys)

    # the CRS: the option, else the file's, else the coordinate ranges
    crs, reproject = _declared_crs(path, table, options, xs, ys, usable)
    if crs is None:
        crs, xs, ys = _guessed_crs(path, table, xs, ys, usable, warnings)
    if reproject is not None:
        if usable.any():
            from pyproj import Transformer

            transformer = Transformer.from_crs(reproject, "EPSG:4326", always_xy=True)
            xs[usable], ys[usable] = transformer.transform(xs[usable], ys[usable])
            warnings.append(Message("coordinates reprojected from {source} to {target}",
                                    source=crs, target=WGS84))
        crs = WGS84

    inside = np.zeros(n, dtype=bool)
    inside[usable] = _in_france(crs, xs[usable], ys[usable])

    subtypes = [_text(v) for v in table.fields.get("subtype", [None] * n)]
    names = [_text(v) for v in table.fields.get("name", [None] * n)]
    declared_codes = table.fields.get("code_insee", [None] * n)
    codes = [commune] * n if commune else [_insee(v) for v in declared_codes]
    years = _installation_years(table.fields.get("installed_year", [None] * n), warnings)

    kept: list[int] = []
    quarantine: list[dict[str, Any]] = []
    seen: dict[tuple[float, float, str | None, str | None], int] = {}
    for i in range(n):
        line = table.lines[i]
        if table.problems[i] is not None or not usable[i]:
            problem = table.problems[i] or REASON_NON_NUMERIC
            if problem == REASON_NO_COORDINATES and codes[i]:
                xs[i] = ys[i] = np.nan
                kept.append(i)
            else:
                quarantine.append({"line": line, "reason": _translated(problem),
                                   **_raw_fields(table.raw(i))})
            continue
        if not inside[i]:
            reason = _translated(f"{REASON_OUTSIDE}: x={xs[i]:.10g}, y={ys[i]:.10g} ({crs})")
            quarantine.append({"line": line, "reason": reason, **_raw_fields(table.raw(i))})
            continue
        key = (float(xs[i]), float(ys[i]), subtypes[i], names[i])
        if key in seen:
            reason = _("{reason}: same coordinates, subtype and name as line {line}").format(
                reason=_(REASON_DUPLICATE), line=seen[key])
            quarantine.append({"line": line, "reason": reason, **_raw_fields(table.raw(i))})
            continue
        seen[key] = line
        kept.append(i)

    index = np.array(kept, dtype=np.int64)
    rows = pd.DataFrame({
        "source_line": pd.Series([table.lines[i] for i in kept], dtype="int64"),
        "x": pd.Series(xs[index] if n else [], dtype="float64"),
        "y": pd.Series(ys[index] if n else [], dtype="float64"),
        "code_insee": pd.Series([codes[i] for i in kept], dtype=object),
        "subtype": pd.Series([subtypes[i] for i in kept], dtype=object),
        "name": pd.Series([names[i] for i in kept], dtype=object),
        "installed_year": pd.Series([years[i] for i in kept], dtype="Int64"),
        "kind": pd.Series([kind] * len(kept), dtype=object),
    }, columns=list(COLUMNS))
    return rows, crs, quarantine


# -- column roles -------------------------------------------------------------------------------


def _columns_option(path: Path, options: dict[str, Any]) -> dict[str, str]:
    columns = options.get("columns") or {}
    if not isinstance(columns, dict):
        msg = _("{path}: the columns option must map roles ({roles}) to column names, got "
                "{columns!r}").format(path=path, roles=", ".join(ROLES), columns=columns)
        raise InputError(msg)
    out: dict[str, str] = {}
    for key, name in columns.items():
        role = _ROLE_ALIASES.get(str(key), str(key))
        if role not in ROLES:
            msg = _("{path}: unknown role {key!r} in the columns option; known roles: "
                    "{roles}").format(path=path, key=key, roles=", ".join(ROLES))
            raise InputError(msg)
        if name is not None and str(name).strip():
            out[role] = str(name)
    return out


def _resolve(
    path: Path, kind: str, names: list[str], declared: dict[str, str], *, coordinates: bool,
) -> tuple[dict[str, int], list[str]]:
    """Index of each role's column in ``names``: declared names first, then usual names.
    Also returns the roles that were detected rather than declared."""
    folded = [_fold(n) for n in names]
    index: dict[str, int] = {}
    for role, name in declared.items():
        if name in names:
            index[role] = names.index(name)
        elif _fold(name) in folded:
            index[role] = folded.index(_fold(name))
        else:
            shown = ", ".join(names[:30]) + (", …" if len(names) > 30 else "")
            msg = _("{path}: column {name!r} declared for {role} is not in the file (columns: "
                    "{shown})").format(path=path, name=name, role=role, shown=shown)
            raise InputError(msg)
    candidates = {
        "subtype": _SUBTYPE[kind], "name": _NAME, "installed_year": _YEAR, "code_insee": _INSEE,
    }
    if coordinates:
        candidates = {"x": _X, "y": _Y, "point": _POINT, **candidates}
        if "x" in index or "y" in index or "point" in index:
            candidates = {k: v for k, v in candidates.items() if k not in ("x", "y", "point")}
    detected = []
    for role, usual in candidates.items():
        if role in index:
            continue
        for candidate in usual:
            if candidate in folded and folded.index(candidate) not in index.values():
                index[role] = folded.index(candidate)
                detected.append(role)
                break
    if "x" in index and "y" in index:
        index.pop("point", None)
    elif "x" in index or "y" in index:
        found, missing = ("x", "y") if "x" in index else ("y", "x")
        if "point" in index and found in detected:
            index.pop(found)
            detected.remove(found)
        else:
            msg = _("{path}: found a {found} coordinate column ({column}) but no {missing} "
                    "column; declare both with the columns option, e.g. {example}").format(
                path=path, found=found, column=names[index[found]], missing=missing,
                example='columns = {x = "lon", y = "lat"}')
            raise InputError(msg)
    return index, detected


def _detected_note(names: list[str], index: dict[str, int], detected: list[str]) -> str | None:
    if not detected:
        return None
    parts = ", ".join(f"{role}={names[index[role]]}" for role in detected if role in index)
    return Message("columns detected: {columns}", columns=parts) if parts else None


# -- CSV ----------------------------------------------------------------------------------------


def _coordinate_problem(role_texts: dict[str, str]) -> tuple[float, float, str | None]:
    """Parse x/y texts: ``(x, y, None)`` or ``(nan, nan, reason)``."""
    values = []
    for role, text in role_texts.items():
        try:
            number = parse_number(text)
        except ValueError:
            return math.nan, math.nan, f"{REASON_NON_NUMERIC}: {role}={text.strip()!r}"
        if number is None:
            return math.nan, math.nan, REASON_NO_COORDINATES
        if not math.isfinite(number):
            return math.nan, math.nan, f"{REASON_NON_NUMERIC}: {role}={text.strip()!r}"
        values.append(number)
    return values[0], values[1], None


def _point_problem(column: str, text: str) -> tuple[float, float, str | None]:
    """Parse an Opendatasoft ``"lat, lon"`` point: ``(x, y, None)`` (longitude first as x) or
    ``(nan, nan, reason)``."""
    parts = [p for p in re.split(r"[,;\s]+", text.strip()) if p]
    if not parts:
        return math.nan, math.nan, REASON_NO_COORDINATES
    if len(parts) != 2:
        return math.nan, math.nan, f"{REASON_NON_NUMERIC}: {column}={text.strip()!r}"
    lat, lon, problem = _coordinate_problem({"lat": parts[0], "lon": parts[1]})
    return lon, lat, problem


def _column_names(header: list[str], warnings: list[str]) -> list[str]:
    """Column names of a CSV header: DBF-style type suffixes removed, blanks named
    ``column_N``, repeated names suffixed."""
    names: list[str] = []
    for i, cell in enumerate(header):
        match = _DBF_SUFFIX.match(cell)
        name = (match.group("name") if match else cell).strip() or f"column_{i + 1}"
        while name in names:
            name += "_2"
        names.append(name)
    if any(_DBF_SUFFIX.match(cell) for cell in header):
        warnings.append(Message("DBF-style type suffixes removed from the column names"))
    return names


def _read_csv(path: Path, kind: str, options: dict[str, Any], warnings: list[str]) -> _Table:
    header, rows, separator, table = read_all_rows(path, options, warnings)
    names = _column_names(header, warnings)
    if len(names) == 1 and rows and not options.get("separator"):
        msg = _("{path}: the header has a single column ({column!r}); declare the field "
                "separator with the separator option (e.g. {example})").format(
            path=path, column=header[0][:60], example='separator = ";"')
        raise InputError(msg)
    index, detected = _resolve(path, kind, names, _columns_option(path, options), coordinates=True)
    note = _detected_note(names, index, detected)
    if note:
        warnings.append(note)
    has_xy = "x" in index and "y" in index
    if not has_xy and "point" not in index:
        if commune_option(options):
            warnings.append(Message("no coordinate columns: rows placed in commune {code} "
                                    "(commune option)", code=commune_option(options)))
        else:
            warnings.append(Message(
                "no coordinate columns (lon/lat, x/y, geo_point_2d): every row is quarantined; "
                "declare them with the columns option ({example}) or give the commune option",
                example='columns = {x = "...", y = "..."}'))

    n = len(rows)
    lines = [line for line, _ in rows]
    xs, ys = np.full(n, np.nan), np.full(n, np.nan)
    problems: list[str | None] = [None] * n
    fields: dict[str, list[Any]] = {role: [None] * n for role in _ATTRIBUTES}
    cells_of: list[list[str]] = []
    for i, (_line, cells) in enumerate(rows):
        if len(cells) > len(names) and not any(c.strip() for c in cells[len(names):]):
            cells = cells[: len(names)]
        cells_of.append(cells)
        if len(cells) != len(names):
            problems[i] = _("{reason}: {count} where the header has {expected} (separator "
                            "{separator!r})").format(reason=_(REASON_FIELDS), count=len(cells),
                                                     expected=len(names), separator=separator)
            continue
        for role, values in fields.items():
            if role in index:
                values[i] = cells[index[role]]
        if has_xy:
            xs[i], ys[i], problems[i] = _coordinate_problem(
                {names[index[r]]: cells[index[r]] for r in ("x", "y")})
        elif "point" in index:
            xs[i], ys[i], problems[i] = _point_problem(names[index["point"]],
                                                       cells[index["point"]])
        else:
            problems[i] = REASON_NO_COORDINATES

    def raw(i: int) -> dict[str, Any]:
        cells = cells_of[i]
        return {
            names[j] if j < len(names) else f"column_{j + 1}": cell for j, cell in enumerate(cells)
        }

    return _Table(lines, xs, ys, problems, fields, raw, rejected=table.rejected)


# -- vector files (pyogrio) ---------------------------------------------------------------------


def _values(array: Any) -> list[Any]:
    """A pyogrio field array as Python values (NaN and NaT as None)."""
    if array.dtype.kind == "M":
        return [None if pd.isna(v) else pd.Timestamp(v).to_pydatetime() for v in array]
    values = array.tolist()
    if array.dtype.kind == "f":
        return [None if math.isnan(v) else v for v in values]
    return values


def _gdal_error(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text[:300] or type(error).__name__


def _read_vector(
    path: Path, kind: str, options: dict[str, Any], warnings: list[str], geojson_without_crs: bool,
) -> _Table:
    import pyogrio
    import shapely

    what = _("a zipped shapefile") if path.suffix.lower() == ".zip" else _("a vector file")
    try:
        layers = pyogrio.list_layers(str(path))
    except Exception as error:  # noqa: BLE001 - GDAL raises several kinds
        msg = _("{path}: cannot open as {what} ({error})").format(path=path, what=what,
                                                                  error=_gdal_error(error))
        raise InputError(msg) from None
    names = [str(name) for name, _ in layers]
    layer = options.get("layer")
    if layer is not None and str(layer) not in names:
        msg = _("{path}: no layer {layer!r} (layers: {names})").format(
            path=path, layer=layer, names=", ".join(names) or _("none"))
        raise InputError(msg)
    if layer is None:
        if not names:
            msg = _("{path}: {what} without any layer").format(path=path, what=what)
            raise InputError(msg)
        with_points = [str(name) for name, gtype in layers if gtype and "Point" in str(gtype)]
        layer = names[0] if len(names) == 1 else (with_points[0] if len(with_points) == 1 else None)
        if layer is None:
            msg = _("{path}: several layers ({names}); name one with the layer option").format(
                path=path, names=", ".join(names))
            raise InputError(msg)
    read_kwargs: dict[str, Any] = {"layer": layer}
    if options.get("encoding"):
        read_kwargs["encoding"] = options["encoding"]
    with pywarnings.catch_warnings(record=True) as caught:
        pywarnings.simplefilter("always")
        try:
            meta, _fids, geometry, field_data = pyogrio.raw.read(str(path), **read_kwargs)
        except Exception as error:  # noqa: BLE001
            msg = _("{path}: cannot read layer {layer!r} of {what} ({error})").format(
                path=path, layer=layer, what=what, error=_gdal_error(error))
            raise InputError(msg) from None
    warnings.extend(Message("GDAL: {message}", message=str(w.message)) for w in caught)
    if geometry is None:
        msg = _("{path}: layer {layer!r} has no geometry; give a file of points, or a CSV "
                "with coordinate columns ({example})").format(
            path=path, layer=layer, example='columns = {x = "...", y = "..."}')
        raise InputError(msg)
    fields_names = [str(f) for f in meta["fields"]]
    columns = [_values(a) for a in field_data]

    geoms = shapely.from_wkb(geometry)
    n = len(geoms)
    types = shapely.get_type_id(geoms)
    empty = shapely.is_empty(geoms)
    parts = shapely.get_num_geometries(geoms)
    points = np.where((types == 4) & (parts == 1), shapely.get_geometry(geoms, 0), geoms)
    point_mask = ((types == 0) | ((types == 4) & (parts == 1))) & ~empty
    xs = np.full(n, np.nan)
    ys = np.full(n, np.nan)
    xs[point_mask] = shapely.get_x(points[point_mask])
    ys[point_mask] = shapely.get_y(points[point_mask])
    problems: list[str | None] = [None] * n
    for i in np.flatnonzero(~point_mask | ~np.isfinite(xs) | ~np.isfinite(ys)):
        if types[i] < 0 or empty[i]:
            problems[i] = REASON_NO_COORDINATES
        elif not point_mask[i]:
            gtype = geoms[i].geom_type
            detail = f"{gtype} of {parts[i]} points" if types[i] == 4 else gtype
            problems[i] = f"{REASON_NOT_A_POINT}: {detail}"
        else:
            problems[i] = f"{REASON_NON_NUMERIC}: {geoms[i].wkt[:80]}"

    declared = _columns_option(path, options)
    index, detected = _resolve(path, kind, fields_names, declared, coordinates=False)
    note = _detected_note(fields_names, index, detected)
    if note:
        warnings.append(note)
    fields = {role: columns[index[role]] if role in index else [None] * n for role in _ATTRIBUTES}

    file_crs: Any = meta.get("crs") or None  # None: a shapefile without .prj
    crs_note = None
    if geojson_without_crs:
        file_crs, crs_note = None, "rfc7946"  # no crs member: GDAL's WGS84 is not trusted

    def raw(i: int) -> dict[str, Any]:
        out = {name: columns[j][i] for j, name in enumerate(fields_names)}
        geom = geoms[i]
        out["geometry"] = None if geom is None else shapely.to_wkt(geom, rounding_precision=7)
        return out

    lines = list(range(1, n + 1))  # feature numbers
    return _Table(lines, xs, ys, problems, fields, raw, file_crs=file_crs, crs_note=crs_note)


# -- entry point --------------------------------------------------------------------------------


#: members that make a zip archive a vector dataset (read by GDAL) rather than a zipped table
_VECTOR_MEMBERS = (".shp", ".gpkg", ".geojson", ".json", ".kml", ".gml", ".fgb", ".tab", ".mif")


def _zip_holds_table(path: Path) -> bool:
    """True when a zip archive is a workbook or a zipped CSV (opened as text), not a vector
    dataset (nor a damaged archive: GDAL says what is wrong with it)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n.lower() for n in archive.namelist()]
    except (zipfile.BadZipFile, OSError):
        return False
    if "xl/workbook.xml" in names or "mimetype" in names:
        return True
    tables = any(n.endswith((".csv", ".txt", ".tsv")) for n in names)
    return tables and not any(n.endswith(_VECTOR_MEMBERS) for n in names)


def _sniff(path: Path) -> tuple[str, bool]:
    """``(format, geojson_without_crs)``: ``vector`` or ``csv``, told by the content."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(4096)
    except IsADirectoryError:
        msg = _("{path}: is a folder, not a file (give the .zip, .shp, .gpkg, .geojson or "
                ".csv)").format(path=path)
        raise InputError(msg) from None
    except OSError as error:
        msg = _("{path}: cannot read the file ({error})").format(path=path,
                                                                 error=error.strerror or error)
        raise InputError(msg) from None
    if size == 0 or (size <= 4096 and not head.strip()):
        msg = _("{path}: the file is empty").format(path=path)
        raise InputError(msg)
    if head.startswith(b"PK\x03\x04"):
        return ("csv" if _zip_holds_table(path) else "vector"), False
    if head.startswith((b"SQLite format 3\x00", b"\x00\x00\x27\x0a", b"fgb")):
        return "vector", False
    text_head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text_head.startswith((b"{", b"[")):
        return "vector", b'"crs"' not in path.read_bytes()
    return "csv", False


def read(path: Path, *, kind: str, options: dict[str, Any]) -> RegistryLoad:
    """Read a street-light, camera or sensor registry (zipped shapefile, vector file or CSV).

    Raises :class:`~territory.errors.InputError` (one line naming the file) when the file
    cannot be read at all, and :class:`~territory.errors.ConfigError` for a malformed
    ``commune`` option.
    """
    if kind not in INFRASTRUCTURE_KINDS:
        msg = _("the infrastructure reader reads {kinds}, not {kind!r}").format(
            kinds=", ".join(INFRASTRUCTURE_KINDS), kind=kind)
        raise ConfigError(msg)
    options = options or {}
    commune_option(options)  # fail early on a malformed code
    warnings: list[str] = []
    fmt, geojson_without_crs = _sniff(path)
    if fmt == "vector":
        table = _read_vector(path, kind, options, warnings, geojson_without_crs)
    else:
        table = _read_csv(path, kind, options, warnings)
    rows, crs, quarantine = _settle(path, kind, table, options, warnings)
    if table.rejected:
        quarantine = sorted([*quarantine, *table.rejected], key=lambda entry: entry["line"])
    record = InputRecord(
        name=kind, path=str(path), sha256=sha256_of(path),
        rows_read=len(table.lines) + len(table.rejected),
    )
    return RegistryLoad(
        kind=kind, rows=rows, crs=crs, quarantine=quarantine, record=record, warnings=warnings,
    )
