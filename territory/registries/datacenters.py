"""Datacenter registries: OpenStreetMap GeoJSON, capacity GeoJSON, or any CSV of points.

The format is told by the content, not the name:

* a GeoJSON ``FeatureCollection`` (an Overpass / OpenStreetMap export with ``osm_id``,
  ``name``, ``operator``; or a compiled dataset with ``capacity_mw``, ``pue`` and
  ``capacity_source``). Points are kept as they are; polygons, multipolygons and lines are
  placed on a point of their surface (:meth:`shapely.Geometry.point_on_surface`). A ``crs``
  member (EPSG:2154 or EPSG:4326 / CRS84) is honoured; without it the CRS is inferred from
  the coordinate ranges;
* a CSV with longitude/latitude or X/Y columns, named in ``options["columns"]`` (keys ``x``,
  ``y``, ``name``, ``operator``, ``capacity_mw``, ``pue``, ``capacity_source``, ``osm_id``) or
  found among the usual names. The CRS comes from ``options["crs"]`` or is inferred (with a
  warning; latitude and longitude swapped in the file are put back in order).

Rows are never filtered by country here: worldwide files keep every valid point, and the
commune join later sets aside those outside France. A row is quarantined, with its reason and
raw fields, when it has no geometry, coordinates that are not numbers or outside the CRS's
range, a ``capacity_mw`` or ``pue`` that is not a number or is implausible, or when it is an
exact duplicate (same coordinates, same name) of an earlier row.

``capacity_origin`` says where ``capacity_mw`` comes from: ``declared`` when the file gives it
and does not flag it as a default, ``modelled`` when the file flags it as one (for example
``capacity_source = iea_default``), ``missing`` when there is none (the model then uses
``datacenters.default_it_power_mw`` from ``data/factors_datacenters.csv``).

Names are kept as plain text, markup included: escaping is the job of the outputs.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd
from shapely.geometry import shape

from territory.errors import InputError
from territory.i18n import N_, Message, _
from territory.registries._common import (
    LAMBERT93,
    WGS84,
    RegistryLoad,
    decode_text,
    infer_crs,
    parse_number,
)
from territory.registries._rows import read_all_rows
from territory.sources._files import InputRecord, sha256_of

#: columns of ``RegistryLoad.rows``
COLUMNS = (
    "source_line", "x", "y", "name", "operator", "capacity_mw", "pue", "capacity_origin", "osm_id",
)

#: plausible ranges; values outside are quarantined
CAPACITY_MW_RANGE = (0.0, 1000.0)  # exclusive low, inclusive high
PUE_RANGE = (1.0, 3.0)  # inclusive both

#: a ``capacity_source`` matching this marks the capacity as a modelled default
_MODELLED_FLAG = re.compile(r"default|model|estimat|assum|imput|proxy|fallback", re.IGNORECASE)

#: usual column names (lower case, accents stripped), in order of preference
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "x": (
        "lon", "lng", "long", "longitude", "longitude_wgs84", "lon_wgs84", "x", "coord_x",
        "coordonnee_x", "x_l93", "x_lambert93", "xlambert93", "x_lambert", "xlamb93", "easting",
    ),
    "y": (
        "lat", "latitude", "latitude_wgs84", "lat_wgs84", "y", "coord_y", "coordonnee_y",
        "y_l93", "y_lambert93", "ylambert93", "y_lambert", "ylamb93", "northing",
    ),
    "name": (
        "name", "nom", "site", "nom_site", "site_name", "datacenter", "data_center", "libelle",
    ),
    "operator": (
        "operator", "operateur", "exploitant", "owner", "proprietaire", "company", "societe",
    ),
    "capacity_mw": (
        "capacity_mw", "it_power_mw", "it_capacity_mw", "power_mw", "puissance_mw",
        "puissance_it_mw", "capacite_mw",
    ),
    "pue": ("pue",),
    "capacity_source": (
        "capacity_source", "capacity_origin", "source_capacite", "origine_capacite",
    ),
    "osm_id": ("osm_id", "@id", "id_osm"),
}
_COLUMN_KEYS = tuple(_CANDIDATES)


# -- small helpers ------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case, accents stripped, spaces and dashes as underscores."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[\s\-.]+", "_", plain.strip().lower())


def _text(value: Any) -> str | None:
    """A property as plain text (markup kept), or ``None`` when blank."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = value if isinstance(value, str) else str(value)
    text = text.strip()
    return text or None


def _flat(value: Any) -> Any:
    """A raw property made fit for a flat quarantine table (lists and objects as JSON text)."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def _raw_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Raw fields for a quarantine entry, renamed when they would hide ``line`` or ``reason``."""
    return {
        (f"raw_{k}" if k in ("line", "reason") else str(k)): _flat(v) for k, v in fields.items()
    }


def _coordinate(value: Any) -> float:
    """A coordinate as a finite float; ``ValueError`` otherwise."""
    if isinstance(value, bool) or value is None:
        raise ValueError(value)
    number = float(value) if isinstance(value, int | float) else parse_number(value)
    if number is None or not math.isfinite(number):
        raise ValueError(value)
    return number


def _measure(value: Any, label: str) -> tuple[float | None, str | None]:
    """``(number, None)``, ``(None, None)`` when absent, or ``(None, reason)`` when unusable."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    not_a_number = _("{column} is not a number: {value!r}").format(column=label, value=value)
    if isinstance(value, bool):
        return None, not_a_number
    try:
        number = parse_number(value)
    except ValueError:
        return None, not_a_number
    if number is None:
        return None, None
    if not math.isfinite(number):
        return None, not_a_number
    if label == "capacity_mw":
        low, high = CAPACITY_MW_RANGE
        if not low < number <= high:
            return None, _("capacity_mw out of plausible range (0, {high:g}]: {value:g}").format(
                high=high, value=number)
    else:
        low, high = PUE_RANGE
        if not low <= number <= high:
            return None, _("pue out of plausible range [{low:g}, {high:g}]: {value:g}").format(
                low=low, high=high, value=number)
    return number, None


def _origin(capacity: float | None, flag: Any) -> str:
    if capacity is None:
        return "missing"
    flag_text = _text(flag)
    if flag_text and _MODELLED_FLAG.search(flag_text):
        return "modelled"
    return "declared"


def _normalise_crs(path: Path, declared: Any, where: str) -> str | None:
    """``EPSG:4326`` or ``EPSG:2154`` from a declared CRS (code, ``EPSG:n``, URN, name)."""
    if declared is None or (isinstance(declared, str) and not declared.strip()):
        return None
    text = str(declared).strip()
    folded = _fold(text).replace("_", "")
    if "crs84" in folded or folded in {"wgs84", "4326"}:
        return WGS84
    if folded in {"lambert93", "l93", "rgf93", "2154"}:
        return LAMBERT93
    match = re.search(r"epsg.*?(\d+)\s*$", text, re.IGNORECASE)
    code = match.group(1) if match else None
    if code == "4326":
        return WGS84
    if code == "2154":
        return LAMBERT93
    msg = _("{path}: unsupported CRS {crs!r} in {where}; reproject to EPSG:4326 (WGS84) or "
            "EPSG:2154 (Lambert-93)").format(path=path, crs=text, where=_(where))
    raise InputError(msg)


def _in_range(crs: str, x: float, y: float) -> bool:
    if crs == WGS84:
        return -180.0 <= x <= 180.0 and -90.0 <= y <= 90.0
    # Lambert-93 is defined far beyond France; reject only what no projection gives
    return abs(x) < 1e8 and abs(y) < 1e8


# -- rows, whichever the format -----------------------------------------------------------------


class _Collector:
    """Turns candidate rows into kept rows and quarantine entries, then settles the CRS."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.candidates: list[dict[str, Any]] = []
        self.raw: list[dict[str, Any]] = []
        self.quarantine: list[dict[str, Any]] = []

    def reject(self, line: int, reason: str, raw: dict[str, Any]) -> None:
        self.quarantine.append({"line": line, "reason": reason, **_raw_fields(raw)})

    def offer(
        self, line: int, x: float, y: float, fields: dict[str, Any], raw: dict[str, Any],
    ) -> None:
        """A row with numeric coordinates; its attributes are checked here."""
        capacity, bad_capacity = _measure(fields.get("capacity_mw"), "capacity_mw")
        pue, bad_pue = _measure(fields.get("pue"), "pue")
        reason = "; ".join(r for r in (bad_capacity, bad_pue) if r)
        if reason:
            self.reject(line, reason, raw)
            return
        self.candidates.append({
            "source_line": line, "x": x, "y": y,
            "name": _text(fields.get("name")), "operator": _text(fields.get("operator")),
            "capacity_mw": capacity, "pue": pue,
            "capacity_origin": _origin(capacity, fields.get("capacity_source")),
            "osm_id": _osm_id(fields.get("osm_id")),
        })
        self.raw.append(raw)

    def settle(self, declared: str | None, warnings: list[str]) -> tuple[pd.DataFrame, str]:
        """Decide the CRS (swap axes if needed), drop out-of-range points and duplicates."""
        if not self.candidates:
            return _frame([]), declared or WGS84
        xs = pd.Series([c["x"] for c in self.candidates], dtype="float64")
        ys = pd.Series([c["y"] for c in self.candidates], dtype="float64")
        guess = infer_crs(xs, ys, declared)
        if guess.crs is None:
            msg = _("{path}: coordinate ranges fit neither WGS84 nor Lambert-93 (x "
                    "{xmin:g}..{xmax:g}, y {ymin:g}..{ymax:g}); declare the CRS with the crs "
                    "option (EPSG:4326 or EPSG:2154) or check the coordinate columns").format(
                path=self.path, xmin=xs.min(), xmax=xs.max(), ymin=ys.min(), ymax=ys.max())
            raise InputError(msg)
        if guess.warning:
            warnings.append(guess.warning)
        kept: list[dict[str, Any]] = []
        seen: dict[tuple[float, float, str | None], int] = {}
        for candidate, raw in zip(self.candidates, self.raw, strict=True):
            if guess.swapped:
                candidate["x"], candidate["y"] = candidate["y"], candidate["x"]
            x, y, line = candidate["x"], candidate["y"], candidate["source_line"]
            if not _in_range(guess.crs, x, y):
                reason = _("coordinates out of range for {crs}: x={x:g}, y={y:g}").format(
                    crs=guess.crs, x=x, y=y)
                self.reject(line, reason, raw)
                continue
            key = (x, y, candidate["name"])
            if key in seen:
                self.reject(line, _("duplicate of line {line} (same coordinates and name)").format(
                    line=seen[key]), raw)
                continue
            seen[key] = line
            kept.append(candidate)
        self.quarantine.sort(key=lambda q: q["line"])
        return _frame(kept), guess.crs


def _osm_id(value: Any) -> str | None:
    """An OSM id as text: ``"way/123"`` (osmtogeojson's ``@id``) becomes ``"123"``."""
    text = _text(value)
    if text is None:
        return None
    match = re.fullmatch(r"(?:node|way|relation)/(\d+)", text)
    return match.group(1) if match else text


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["source_line"] = frame["source_line"].astype("int64")
    for column in ("x", "y", "capacity_mw", "pue"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in ("name", "operator", "osm_id"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["capacity_origin"] = frame["capacity_origin"].astype(object)
    return frame


# -- GeoJSON ------------------------------------------------------------------------------------


def _flatten_coordinates(coordinates: Any) -> list[Any]:
    """Every scalar in a nested coordinate array."""
    if isinstance(coordinates, list | tuple):
        out: list[Any] = []
        for item in coordinates:
            out.extend(_flatten_coordinates(item))
        return out
    return [coordinates]


def _geometry_point(geometry: Any) -> tuple[float, float] | str:
    """``(x, y)`` of a point, or of a point on the surface of other geometries; else a reason."""
    if geometry is None:
        return _("no geometry")
    if not isinstance(geometry, dict) or "type" not in geometry:
        return _("geometry is not a GeoJSON geometry object")
    kind = geometry.get("type")
    if kind == "GeometryCollection":
        parts = geometry.get("geometries") or []
        if not parts:
            return _("empty geometry")
        scalars = [s for part in parts if isinstance(part, dict)
                   for s in _flatten_coordinates(part.get("coordinates"))]
    else:
        coordinates = geometry.get("coordinates")
        scalars = _flatten_coordinates(coordinates)
        if coordinates is None or scalars in ([], [None]):
            return _("empty geometry")
    try:
        [_coordinate(s) for s in scalars]
    except (ValueError, TypeError):
        return _("non-numeric coordinates")
    if kind == "Point":
        coordinates = geometry["coordinates"]
        if len(coordinates) < 2 or any(isinstance(c, list | tuple) for c in coordinates):
            return _("malformed Point coordinates")
        return _coordinate(coordinates[0]), _coordinate(coordinates[1])
    try:
        shp = shape(geometry)
        if shp.is_empty:
            return _("empty geometry")
        point = shp.point_on_surface()
    except Exception as error:  # noqa: BLE001 - shapely raises many kinds on bad input
        return _("invalid {kind} geometry ({error})").format(kind=kind, error=error)
    if point.is_empty:
        return _("invalid {kind} geometry (no point on its surface)").format(kind=kind)
    return float(point.x), float(point.y)


def _feature_fields(
    feature: dict[str, Any], properties: dict[str, Any], columns: dict[str, str],
) -> dict[str, Any]:
    """The attributes the reader needs, from a feature's properties (OSM tags included)."""
    props = dict(properties)
    tags = props.get("tags")
    if isinstance(tags, dict):  # Overpass JSON converted with tags nested
        props = {**tags, **{k: v for k, v in props.items() if k != "tags"}}
    fields: dict[str, Any] = {}
    for key in _COLUMN_KEYS:
        if key in ("x", "y"):
            continue
        name = columns.get(key)
        if name is not None:
            fields[key] = props.get(name)
            continue
        for candidate in (key, *_CANDIDATES[key]):
            if candidate in props:
                fields[key] = props[candidate]
                break
    if fields.get("osm_id") is None:
        # osmtogeojson writes "@id": "way/123" or the feature id "way/123"
        for ref in (props.get("@id"), props.get("id"), feature.get("id")):
            text = _text(ref)
            if text and re.fullmatch(r"(node|way|relation)/\d+", text):
                fields["osm_id"] = text.split("/", 1)[1]
                break
    return fields


#: what the format readers return: rows read, the collector, the CRS, the rows kept
_Read = tuple[int, _Collector, str, pd.DataFrame]


def _read_geojson(path: Path, text: str, options: dict[str, Any], warnings: list[str]) -> _Read:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        msg = _("{path}: invalid JSON at line {line}, column {column} ({error})").format(
            path=path, line=error.lineno, column=error.colno, error=error.msg)
        raise InputError(msg) from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        found = (
            _("type {type!r}").format(type=document.get("type")) if isinstance(document, dict)
            else _("a JSON {type}").format(type=type(document).__name__)
        )
        msg = _("{path}: not a GeoJSON FeatureCollection (found {found})").format(path=path,
                                                                                  found=found)
        raise InputError(msg)
    features = document.get("features")
    if not isinstance(features, list):
        msg = _("{path}: GeoJSON FeatureCollection without a 'features' list").format(path=path)
        raise InputError(msg)
    if not features:
        msg = _("{path}: the GeoJSON FeatureCollection has no features").format(path=path)
        raise InputError(msg)

    declared = _normalise_crs(path, options.get("crs"), N_("the crs option"))
    crs_member = document.get("crs")
    if crs_member is not None:
        name = crs_member
        if isinstance(crs_member, dict):
            member_props = crs_member.get("properties")
            member_props = member_props if isinstance(member_props, dict) else {}
            # {"type": "name", "properties": {"name": URN}} or the 2008 {"properties": {"code": n}}
            name = member_props.get("name") or member_props.get("code")
        from_file = _normalise_crs(path, name, N_("the GeoJSON crs member"))
        if declared and from_file and declared != from_file:
            warnings.append(Message("crs option {option} overrides the file's crs member "
                                    "{member}", option=declared, member=from_file))
        declared = declared or from_file

    columns = _columns_option(path, options)
    collector = _Collector(path)
    for index, feature in enumerate(features):
        line = index + 1
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            collector.reject(line, _("not a GeoJSON Feature"), {"raw": feature})
            continue
        properties = feature.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        located = _geometry_point(feature.get("geometry"))
        if isinstance(located, str):
            raw = dict(properties)
            if feature.get("geometry") is not None:
                raw["geometry"] = feature.get("geometry")
            collector.reject(line, located, raw)
            continue
        fields = _feature_fields(feature, properties, columns)
        collector.offer(line, located[0], located[1], fields, properties)
    rows, crs = collector.settle(declared, warnings)
    return len(features), collector, crs, rows


# -- CSV ----------------------------------------------------------------------------------------


def _columns_option(path: Path, options: dict[str, Any]) -> dict[str, str]:
    columns = options.get("columns") or {}
    if not isinstance(columns, dict):
        msg = _("{path}: the columns option must map x, y, name, ... to column names, got "
                "{columns!r}").format(path=path, columns=columns)
        raise InputError(msg)
    unknown = [k for k in columns if k not in _COLUMN_KEYS]
    if unknown:
        msg = _("{path}: unknown key(s) {unknown} in the columns option; known keys: "
                "{known}").format(path=path, unknown=", ".join(map(str, unknown)),
                                  known=", ".join(_COLUMN_KEYS))
        raise InputError(msg)
    return {str(k): str(v) for k, v in columns.items() if v is not None}


def _resolve_csv_columns(path: Path, header: list[str], columns: dict[str, str]) -> dict[str, int]:
    """Index of each wanted column in the header: declared names first, then usual names."""
    folded = [_fold(h) for h in header]
    index: dict[str, int] = {}
    for key, name in columns.items():
        if name in header:
            index[key] = header.index(name)
        elif _fold(name) in folded:
            index[key] = folded.index(_fold(name))
        else:
            msg = _("{path}: column {name!r} declared for {key} is not in the header "
                    "({header})").format(path=path, name=name, key=key, header=", ".join(header))
            raise InputError(msg)
    for key in _COLUMN_KEYS:
        if key in index:
            continue
        for candidate in _CANDIDATES[key]:
            if candidate in folded and folded.index(candidate) not in index.values():
                index[key] = folded.index(candidate)
                break
    if "x" not in index or "y" not in index:
        msg = _("{path}: no coordinate columns found in the header ({header}); name them "
                "lon/lat or x/y, or declare them with the columns option, e.g. columns = "
                "{example}").format(path=path, header=", ".join(header),
                                    example='{x = "my_lon", y = "my_lat"}')
        raise InputError(msg)
    return index


def _read_csv(path: Path, options: dict[str, Any], warnings: list[str]) -> _Read:
    header, rows, separator, table = read_all_rows(path, options, warnings)
    if not rows and not table.rejected:
        msg = _("{path}: the CSV has a header line but no data rows").format(path=path)
        raise InputError(msg)
    index = _resolve_csv_columns(path, header, _columns_option(path, options))
    declared = _normalise_crs(path, options.get("crs"), N_("the crs option"))
    collector = _Collector(path)
    collector.quarantine += table.rejected
    for line, cells in rows:
        raw = {
            header[i] if i < len(header) and header[i] else f"column_{i + 1}": cell
            for i, cell in enumerate(cells)
        }
        if len(cells) != len(header):
            reason = _("{count} fields where the header has {expected} (separator "
                       "{separator!r})").format(count=len(cells), expected=len(header),
                                                separator=separator)
            collector.reject(line, reason, raw)
            continue
        fields = {key: cells[i] for key, i in index.items()}
        x_text, y_text = fields["x"], fields["y"]
        try:
            if parse_number(x_text) is None or parse_number(y_text) is None:
                collector.reject(line, _("no coordinates"), raw)
                continue
            x, y = _coordinate(x_text), _coordinate(y_text)
        except ValueError:
            collector.reject(line, _("non-numeric coordinates"), raw)
            continue
        collector.offer(line, x, y, fields, raw)
    result_rows, crs = collector.settle(declared, warnings)
    return len(rows) + len(table.rejected), collector, crs, result_rows


# -- entry point --------------------------------------------------------------------------------


def _is_json(path: Path, text: str, options: dict[str, Any]) -> bool:
    declared = str(options.get("format") or "").lower()
    if declared in {"geojson", "json"}:
        return True
    if declared == "csv":
        return False
    if declared:
        msg = _("{path}: unknown format option {value!r}; use geojson or csv").format(
            path=path, value=declared)
        raise InputError(msg)
    start = text.lstrip()[:1]
    return start in {"{", "["} or path.suffix.lower() in {".geojson", ".json"}


def read(path: Path, *, kind: str = "datacenters", options: dict[str, Any]) -> RegistryLoad:
    """Read a datacenter registry (GeoJSON or CSV, told by its content).

    Raises :class:`~territory.errors.InputError` (one line naming the file) when the file
    cannot be read at all: empty, invalid JSON, not a FeatureCollection, a CSV without
    coordinate columns, or coordinates that fit no known CRS.
    """
    options = options or {}
    decoded = decode_text(path, options.get("encoding"))
    warnings: list[str] = []
    if _is_json(path, decoded.text, options):
        rows_read, collector, crs, rows = _read_geojson(path, decoded.text, options, warnings)
    else:
        rows_read, collector, crs, rows = _read_csv(path, options, warnings)
    record = InputRecord(name=kind, path=str(path), sha256=sha256_of(path), rows_read=rows_read)
    return RegistryLoad(
        kind=kind, rows=rows, crs=crs, quarantine=collector.quarantine, record=record,
        warnings=warnings,
    )
