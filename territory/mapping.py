"""The interactive map (``map.html``): a Leaflet map whose polygons are drawn by one compact,
canvas-rendered layer per administrative level.

Why not one ``folium.GeoJson`` per level: all of France as GeoJSON with tooltip properties is
tens of megabytes and takes many seconds to draw. Here each level is sent once as quantised,
delta-encoded coordinates (integers, 1e-4 degree ~ 10 m) with its attributes in columns, and
decoded in the browser into Leaflet polygons on a shared canvas renderer. Labels are French;
every name is inserted as text (never as HTML), so a name cannot run code.

This module never runs SQL: it receives the layers ready to draw, encodes them and puts them in
the page. Column labels, units, decimals and the list of indicators come from the column
catalogue (``data/columns.toml``, :mod:`territory.columns`); the map definition
(``maps/footprint.toml``) names catalogue columns. The page is made of package files:
``templates/map.html.j2`` (a Jinja template), ``static/map.css`` and ``static/map.js`` (the
browser side: decoding, drawing, legend, popups, search, registry points), with Leaflet inlined
from ``static/vendor/leaflet`` (Leaflet's own files, vendored) and fflate from
``static/vendor/fflate`` (which decompresses the page's data block: :func:`encode_data`).
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from territory.columns import LEVELS, TERRITORY_LEVELS, Column, catalogue
from territory.errors import ConfigError
from territory.orientation import (
    PLACE_KINDS,
    Orientation,
    Region,
    load_orientation,
    orientation_for_map,
)

if TYPE_CHECKING:
    from markupsafe import Markup

LEAFLET_VERSION = "1.9.3"
LEAFLET_CDN = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist"
#: default quantisation of map coordinates: 1e-4 degree is about 10 m
COORDINATE_SCALE = 10_000
#: the column every level needs: per-inhabitant classes are taken over inhabited territories
POPULATION = "population"
#: keys of ``[popup]`` naming one number column, one text column, then a list (or table) of
#: number columns
POPUP_COLUMN_KEYS = ("compared", "stratum_median", "stratum_rank", "stratum_count", "national_gap")
POPUP_TEXT_KEYS = ("stratum", "stratum_position")
POPUP_LIST_KEYS = ("tooltip", "summary", "parts", "places", "equipment")
#: keys of a ``[[popup.drivers]]`` entry naming a number column
DRIVER_COLUMN_KEYS = ("effect", "value")
#: coordinates of registry points: 1e-5 degree, about 1 m
POINT_SCALE = 100_000
#: the catalogue level of the registry points' columns
POINT_LEVEL = "registry_points"
#: the registry points' column naming the file a point comes from: the map shows its name only,
#: never the folders of the machine that ran territory
SOURCE_FILE = "source_file"
#: the scenario view's columns (catalogue): the projected footprint per inhabitant is shown with
#: the label, unit and decimals of today's, the change vs the baseline is scenarios.csv's
SCENARIO_PER_INHABITANT = "footprint_kgco2e_per_inhabitant"
SCENARIO_GAP = "footprint_vs_baseline_pct"
#: columns of the scenarios level whose labels the selector shows
SCENARIO_LABELS = ("scenario", "year", SCENARIO_GAP)
#: the heat-map's column (hourly.csv): use-phase emissions of the cell
HOURLY_COLUMN = "use_tco2e"
#: inset layout, in shares of the height of the map's main extent (metropolitan France): box
#: height and width, gap between boxes, boxes per row
INSET_HEIGHT, INSET_WIDTH, INSET_GAP, INSET_COLUMNS = 0.21, 0.19, 0.02, 2
#: share of a box's height kept free for its label, at the top
INSET_LABEL_SHARE = 0.16


@dataclass(frozen=True)
class MapLevel:
    """One administrative level ready to draw.

    Attributes
    ----------
    layer
        Layer name (``communes``, ``epci``...).
    label
        French label in the layer switch.
    codes, names
        INSEE code and name of each feature.
    values
        Column name -> one number per feature (the numbers of :func:`map_columns`); NaN where
        the mart has no value (a rank within the model's uncertainty, an unknown effect).
    geometries
        Shapely (Multi)Polygons in EPSG:4326, one per feature.
    texts
        Column name -> one text per feature (the texts of :func:`map_columns`).
    """

    layer: str
    label: str
    codes: list[str]
    names: list[str]
    values: dict[str, list[float]]
    geometries: np.ndarray
    texts: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class MapPoints:
    """Registry points of one map layer (``[[points]]`` of the map definition).

    Attributes
    ----------
    layer
        Layer name of the definition (``datacenters``, ``antennas``...).
    lon, lat
        Coordinates in EPSG:4326.
    fields
        Column name -> one value per point (text, number or None), shown in the popup.
    """

    layer: str
    lon: np.ndarray
    lat: np.ndarray
    fields: dict[str, list[Any]]


@dataclass(frozen=True)
class MapScenarios:
    """The run's scenarios (mart ``scenarios``) for the map's scenario and year selector.

    Attributes
    ----------
    names, titles
        Scenario identifiers and French titles, the baseline first.
    years
        Projected years (2025 ... 2050).
    per_inhabitant
        Layer -> array (territories in the level's order x scenarios x years) of the projected
        footprint per inhabitant (:data:`SCENARIO_PER_INHABITANT`: footprint_tco2e x 1000 /
        the level's population, 0 where nobody lives); NaN for a territory without projection.
    gap
        Layer -> array (territories x scenarios after the baseline x years) of
        :data:`SCENARIO_GAP` (the baseline's is 0 by definition and is not sent).
    """

    names: list[str]
    titles: list[str]
    years: list[int]
    per_inhabitant: dict[str, np.ndarray]
    gap: dict[str, np.ndarray]


@dataclass(frozen=True)
class MapHourly:
    """Use-phase emissions by month x hour (mart ``hourly``) for the popups' heat-map.

    Attributes
    ----------
    values
        Layer -> array (territories in the level's order x 12 months x 24 hours) of
        :data:`HOURLY_COLUMN`; NaN for a territory without hourly figures. Levels without an
        entry (communes) have no heat-map.
    measured_months
        Months whose grid carbon intensity is measured (éCO2mix, the embedded table or the
        user's file); the other months are approximated (manifest ``hourly.grid_intensity``).
    """

    values: dict[str, np.ndarray]
    measured_months: list[int]


#: keys a map definition may hold: top level, then each table of ``[[levels]]``, ``[popup]``
#: and ``[[points]]``
MAP_DEFINITION_KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"title", "indicator", "indicators", "palette", "min_class_width_share",
                   "levels", "popup", "points", "insets"}),
    "levels": frozenset({"layer", "label"}),
    "insets": frozenset({"departement", "label"}),
    "popup": frozenset({*POPUP_COLUMN_KEYS, *POPUP_TEXT_KEYS, *POPUP_LIST_KEYS, "drivers",
                        "negligible_pct"}),
    "popup.drivers": frozenset({*DRIVER_COLUMN_KEYS, "value_text", "more", "less"}),
    "points": frozenset({"layer", "kinds", "label", "colour", "size", "size_origin",
                         "size_declared", "note", "cluster", "shown", "fields"}),
}


def load_map_definition(path: Path) -> dict[str, Any]:
    """Read a map definition TOML file of ``maps/``.

    An unknown key is an error naming it. Columns are checked against the column catalogue
    (:mod:`territory.columns`): the opening ``indicator`` (and ``indicators``, when given) must
    be map indicators of the catalogue, every map indicator must exist at every level of the
    map, popup columns at one level at least, point fields among the registry points' columns.
    ``palette`` (a palette name of the catalogue) is replaced by its colours.
    """
    try:
        definition = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        msg = f"{path}: cannot read the map definition ({error})"
        raise ConfigError(msg) from error
    for key in ("title", "indicator", "palette", "levels"):
        if key not in definition:
            msg = f"{path}: key {key!r} is missing"
            raise ConfigError(msg)
    tables = [("", definition), ("popup", definition.get("popup", {}))] + [
        (name, entry) for name in ("levels", "points", "insets")
        for entry in definition.get(name, [])] + [
        ("popup.drivers", entry) for entry in definition.get("popup", {}).get("drivers", [])]
    for name, table in tables:
        if not isinstance(table, dict):
            msg = f"{path}: [[{name}]] entries must be tables"
            raise ConfigError(msg)
        if name == "insets" and not {"departement", "label"} <= set(table):
            msg = f"{path}: every [[insets]] entry needs a 'departement' code and a 'label'"
            raise ConfigError(msg)
        if name == "popup.drivers" and "effect" not in table:
            msg = f"{path}: every [[popup.drivers]] entry needs an 'effect' column"
            raise ConfigError(msg)
        unknown = sorted(set(table) - MAP_DEFINITION_KEYS[name])
        if unknown:
            where = (f"[{name}] " if name == "popup" else f"[[{name}]] ") if name else ""
            msg = (f"{path}: {where}unknown keys {', '.join(unknown)}; known: "
                   f"{', '.join(sorted(MAP_DEFINITION_KEYS[name]))}")
            raise ConfigError(msg)
    _check_columns(path, definition)
    return definition


def _check_columns(path: Path, definition: dict[str, Any]) -> None:
    """The definition's columns against the catalogue; resolves ``palette``."""
    columns = catalogue()
    palette = definition["palette"]
    if palette not in columns.palettes:
        msg = (f"{path}: palette {palette!r} is not a palette of {columns.path} "
               f"({', '.join(columns.palettes)})")
        raise ConfigError(msg)
    definition["palette"] = list(columns.palettes[palette])
    layers = [str(level.get("layer")) for level in definition["levels"]]
    for layer in layers:
        if layer not in TERRITORY_LEVELS:
            msg = f"{path}: [[levels]] layer {layer!r} is not one of {', '.join(TERRITORY_LEVELS)}"
            raise ConfigError(msg)
    offered = {c.name for c in columns.map_indicators()}
    for name in [definition["indicator"], *definition.get("indicators", [])]:
        if name not in offered:
            msg = (f"{path}: indicator {name!r} is not a map indicator of {columns.path} "
                   f"(map_indicator = true); map indicators: {', '.join(sorted(offered))}")
            raise ConfigError(msg)
    for column in _indicator_columns(definition):
        lacking = [layer for layer in layers if layer not in column.levels]
        if lacking:
            msg = (f"{columns.path}: {column.name} is a map indicator but the map's level "
                   f"{', '.join(lacking)} has no such column (levels: {', '.join(column.levels)})")
            raise ConfigError(msg)
    for name, kind in _popup_columns(definition):
        found = [columns.get(name, layer) for layer in layers]
        if not any(found):
            msg = f"{path}: [popup] names {name!r}, a column no level of the map has in {columns.path}"
            raise ConfigError(msg)
        if any(c is not None and (c.type == "text") != (kind == "text") for c in found):
            msg = f"{path}: [popup] {name!r} must be a {kind} column in {columns.path}"
            raise ConfigError(msg)
    for spec in definition.get("points", []):
        names = [*spec.get("fields", []), *(spec[k] for k in ("size", "size_origin") if k in spec)]
        for name in names:
            if columns.get(name, "registry_points") is None:
                msg = (f"{path}: [[points]] {spec.get('layer')!r} names {name!r}, not a "
                       f"registry_points column of {columns.path}")
                raise ConfigError(msg)


def _popup_columns(definition: dict[str, Any]) -> list[tuple[str, str]]:
    """(column, ``number`` or ``text``) of every column ``[popup]`` names."""
    popup = definition.get("popup", {})
    named = [(popup[k], "number") for k in POPUP_COLUMN_KEYS if k in popup]
    named += [(name, "number") for k in POPUP_LIST_KEYS for name in popup.get(k, [])]
    named += [(driver[k], "number") for driver in popup.get("drivers", [])
              for k in DRIVER_COLUMN_KEYS if k in driver]
    named += [(popup[k], "text") for k in POPUP_TEXT_KEYS if k in popup]
    return named


def _indicator_columns(definition: dict[str, Any]) -> list[Column]:
    """The map's indicators (catalogue columns), the opening one first: ``indicators`` when
    the definition lists them, otherwise every map indicator of the catalogue in its order."""
    offered = {c.name: c for c in catalogue().map_indicators()}
    names = definition.get("indicators") or list(offered)
    return sorted((offered[name] for name in names),
                  key=lambda c: c.name != definition["indicator"])


def map_columns(definition: dict[str, Any], layer: str) -> tuple[list[str], list[str]]:
    """The columns the map needs of ``layer``: numbers (the population, the indicators, the
    popup's numbers that the catalogue has at that level) and texts (the population stratum,
    the position in it)."""
    columns = catalogue()
    wanted = [POPULATION, *(c.name for c in _indicator_columns(definition))]
    numbers: list[str] = []
    texts: list[str] = []
    for name, kind in [(name, "number") for name in wanted] + _popup_columns(definition):
        if columns.get(name, layer) is not None:
            (texts if kind == "text" else numbers).append(name)
    return list(dict.fromkeys(numbers)), list(dict.fromkeys(texts))


def class_breaks(values: np.ndarray, palette_size: int, min_width_share: float = 0.0) -> list[float]:
    """Quantile class limits strictly between the minimum and the maximum, duplicates removed.

    Quantiles keep contrast where a linear scale would let a few large values wash out the rest.
    When the minimum alone fills a class or more (many zeros), it is a class of its own (the
    first limit is the minimum) and quantiles split the other values.
    Limits are rounded to three significant digits of the value range. Classes narrower than
    ``min_width_share`` of the median are merged, so that nearly equal values are not painted
    in opposite colours (quantiles alone would turn a 1 % difference into yellow vs dark red).
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return []
    decimals = max(0, 2 - int(np.floor(np.log10(hi - lo))))
    kept: list[float] = []
    spread = finite
    if np.mean(finite == lo) >= 1 / palette_size:
        # the minimum alone fills a class or more (communes without any antenna, say): it gets
        # its own class, and the quantiles are taken over the other values, which would
        # otherwise be painted like it
        kept.append(lo)
        spread = finite[finite > lo]
        palette_size -= 1
    qs = np.quantile(spread, np.linspace(0, 1, palette_size + 1)[1:-1])
    candidates = sorted({b for b in (round(float(q), decimals) for q in qs) if lo < b < hi})
    min_width = min_width_share * abs(float(np.median(finite)))
    for b in candidates:
        if b - (kept[-1] if kept else lo) >= min_width and hi - b >= min_width:
            kept.append(b)
    return kept


def class_colours(n_classes: int, palette: list[str]) -> list[str]:
    """Colours of ``n_classes`` classes, spread over the whole palette (light to dark)."""
    if n_classes <= 1:
        return [palette[len(palette) // 2]]
    last = len(palette) - 1
    return [palette[round(i * last / (n_classes - 1))] for i in range(n_classes)]


def relative_spread(values: np.ndarray) -> float:
    """(95th - 5th percentile) / median: how much territories really differ."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or np.median(finite) == 0:
        return 0.0
    p5, p95 = np.quantile(finite, [0.05, 0.95])
    return float((p95 - p5) / abs(np.median(finite)))


def coordinate_scale(tolerance_m: float) -> int:
    """Integer steps per degree for map coordinates: an eighth of the simplification
    tolerance (600 m -> about 75 m), never finer than 1e-5 degree (about 1 m)."""
    step_degrees = max(tolerance_m, 0.01) / 8 / 111_000
    return int(min(100_000, max(100, 1 / step_degrees)))


def encode_geometries(geometries: np.ndarray, scale: int = COORDINATE_SCALE) -> dict[str, str]:
    """Encode polygons as integer deltas (``scale`` steps per degree) plus ring / polygon /
    feature lengths, each as a ``encode_varints`` string."""
    multi = np.array(
        [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in geometries],
        dtype=object,
    )
    _, coords, (ring_offsets, polygon_offsets, feature_offsets) = shapely.to_ragged_array(multi)
    quantised = np.round(coords * scale).astype(np.int64)
    flat = quantised.reshape(-1)
    deltas = np.empty_like(flat)
    deltas[:2] = flat[:2]
    deltas[2:] = flat[2:] - flat[:-2]
    # lengths (small numbers) rather than offsets: the browser accumulates them back
    return {
        "d": encode_varints(deltas),
        "r": encode_varints(np.diff(ring_offsets)),
        "p": encode_varints(np.diff(polygon_offsets)),
        "f": encode_varints(np.diff(feature_offsets)),
    }


def encode_lines(geometries: list[Any], scale: int = COORDINATE_SCALE) -> dict[str, str]:
    """Encode (Multi)LineStrings as :func:`encode_geometries` encodes polygons: integer deltas
    (``d``), points per line (``l``) and lines per feature (``f``)."""
    if not geometries:
        return {"d": "", "l": "", "f": ""}
    multi = np.array([g if g.geom_type == "MultiLineString" else shapely.MultiLineString([g])
                      for g in geometries], dtype=object)
    _, coords, (line_offsets, feature_offsets) = shapely.to_ragged_array(multi)
    flat = np.round(coords * scale).astype(np.int64).reshape(-1)
    deltas = np.empty_like(flat)
    deltas[:2] = flat[:2]
    deltas[2:] = flat[2:] - flat[:-2]
    return {"d": encode_varints(deltas), "l": encode_varints(np.diff(line_offsets)),
            "f": encode_varints(np.diff(feature_offsets))}


def _orientation_payload(layer: Orientation, scale: int, levels: list[MapLevel]) -> dict[str, Any]:
    """The orientation layer in the page: coast and river lines, place points (deltas, as the
    registry points) with their names and kinds (index in :data:`PLACE_KINDS`), préfectures
    first, then the most populous (the map names them first where names would overlap)."""
    population = {code: value for level in levels if level.layer == "communes"
                  for code, value in zip(level.codes, level.values[POPULATION], strict=True)}
    order = sorted(range(len(layer.places)), key=lambda i: (
        PLACE_KINDS.index(layer.place_kinds[i]), -float(population.get(layer.place_codes[i], 0) or 0)))
    layer = replace(layer, places=[layer.places[i] for i in order],
                    place_names=[layer.place_names[i] for i in order],
                    place_kinds=[layer.place_kinds[i] for i in order],
                    place_codes=[layer.place_codes[i] for i in order])
    xy = np.array([[p.x, p.y] for p in layer.places], dtype=float).reshape(-1, 2)
    flat = np.round(xy * scale).astype(np.int64).reshape(-1)
    deltas = flat.copy()
    deltas[2:] = flat[2:] - flat[:-2]
    return {
        "coast": encode_lines(layer.coast, scale),
        "rivers": {**encode_lines(layer.rivers, scale), "names": layer.river_names,
                   "ranks": [round(r, 1) for r in layer.river_ranks]},
        "places": {"xy": encode_varints(deltas), "names": layer.place_names,
                   "kinds": [PLACE_KINDS.index(k) for k in layer.place_kinds]},
    }


def orientation_regions(levels: list[MapLevel], insets: list[Inset]) -> list[Region]:
    """Where a map takes the orientation layer from: its territories outside the insets (as
    they are) and each inset's territories (moved into its box)."""
    bounds = shapely.bounds(levels[0].geometries)
    inside = np.zeros(len(bounds), dtype=bool)
    regions: list[Region] = []
    for inset in insets:
        inside |= _inset_members(bounds, inset.source)
        (west, south), (east, north) = _lon_lat(np.array(inset.source[::2]), np.array(inset.source[1::2]))
        regions.append(((float(west), float(south), float(east), float(north)), inset.transform))
    rest = bounds[~inside]
    if len(rest):
        regions.insert(0, ((float(rest[:, 0].min()), float(rest[:, 1].min()),
                            float(rest[:, 2].max()), float(rest[:, 3].max())), None))
    return regions


# ---- overseas insets
#
# A national map shows the overseas départements as insets beside metropolitan France, as
# national atlases do: each is a copy of its territories, moved and scaled (Web Mercator, so
# that shapes look as they do at their true place) into a box west of the mainland. The copy
# replaces the territories' true place in the page data, so that the insets are ordinary
# features of each level: one canvas, one hit test, tooltips, popups, search, indicator and
# level switches work on them unchanged, at no cost when the map opens. Small Leaflet maps in
# corner boxes were the alternative: one more map, renderer and set of polygons per inset and
# level, each to keep in step with the main map's level, indicator and popups, for a page that
# must draw all of France in 3 s. The boxes are geographic, so they are framed with the
# mainland at opening and follow it when the map is zoomed. A map without metropolitan
# territories (one overseas département) is not changed: it frames that département.


@dataclass(frozen=True)
class Inset:
    """An overseas département drawn in a box: its label, and the Web Mercator bounds
    (x0, y0, x1, y1, radians) of its territories and of the box they are moved into."""

    departement: str
    label: str
    source: tuple[float, float, float, float]
    box: tuple[float, float, float, float]

    def transform(self, xy: np.ndarray) -> np.ndarray:
        """Lon/lat (N x 2, degrees) of the inset's territories -> their place in the box."""
        sx0, sy0, sx1, sy1 = self.source
        bx0, by0, bx1, by1 = self.box
        room_h = (by1 - by0) * (1 - INSET_LABEL_SHARE)
        scale = 0.9 * min((bx1 - bx0) / max(sx1 - sx0, 1e-9), room_h / max(sy1 - sy0, 1e-9))
        mx, my = _mercator(xy)
        mx = (bx0 + bx1) / 2 + (mx - (sx0 + sx1) / 2) * scale
        my = by0 + room_h / 2 + (my - (sy0 + sy1) / 2) * scale
        return _lon_lat(mx, my)

    def box_lat_lng(self) -> list[list[float]]:
        """The box as Leaflet bounds: [[south, west], [north, east]]."""
        (w, s), (e, n) = _lon_lat(np.array(self.box[::2]), np.array(self.box[1::2]))
        return [[round(float(s), 5), round(float(w), 5)], [round(float(n), 5), round(float(e), 5)]]


def _mercator(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.radians(xy[:, 0]), np.radians(xy[:, 1])
    return lon, np.log(np.tan(np.pi / 4 + lat / 2))


def _lon_lat(mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    return np.column_stack([np.degrees(mx), np.degrees(2 * np.arctan(np.exp(my)) - np.pi / 2)])


def _mercator_bounds(bounds: np.ndarray) -> tuple[float, float, float, float]:
    """Lon/lat bounds rows (x0, y0, x1, y1) -> their union in Web Mercator radians."""
    lo = np.column_stack([bounds[:, 0], bounds[:, 1]])
    hi = np.column_stack([bounds[:, 2], bounds[:, 3]])
    (x0, y0), (x1, y1) = (np.array(_mercator(lo)).min(axis=1), np.array(_mercator(hi)).max(axis=1))
    return float(x0), float(y0), float(x1), float(y1)


def _inset_members(bounds: np.ndarray, source: tuple[float, float, float, float]) -> np.ndarray:
    """Rows of ``bounds`` (lon/lat) lying within an inset's source bounds (Mercator), with a
    margin: the territories (communes, EPCI, région) of that overseas département."""
    x0, y0, x1, y1 = source
    margin = 0.05 * max(x1 - x0, y1 - y0) + 1e-3
    lo_x, lo_y = _mercator(bounds[:, :2])
    hi_x, hi_y = _mercator(bounds[:, 2:])
    return (lo_x >= x0 - margin) & (lo_y >= y0 - margin) & (hi_x <= x1 + margin) & (hi_y <= y1 + margin)


def plan_insets(levels: list[MapLevel], definition: dict[str, Any]) -> list[Inset]:
    """The insets of ``[[insets]]`` that the map needs: those whose département has territories
    on the map, when the map also shows territories elsewhere (metropolitan France). Their
    boxes are laid out in rows of :data:`INSET_COLUMNS`, in the definition's order, west of
    the other territories and from the bottom of their extent up."""
    found: list[tuple[dict[str, Any], tuple[float, float, float, float]]] = []
    for entry in definition.get("insets", []):
        code = str(entry["departement"])
        rows = [shapely.bounds(level.geometries[[
                    i for i, c in enumerate(level.codes)
                    if (c == code if level.layer == "departements" else c.startswith(code))]])
                for level in levels if level.layer in ("communes", "departements")]
        rows = [r for r in rows if len(r)]
        if rows:
            found.append((entry, _mercator_bounds(np.vstack(rows))))
    if not found:
        return []
    bounds = shapely.bounds(levels[0].geometries)
    inside = np.zeros(len(bounds), dtype=bool)
    for _, source in found:
        inside |= _inset_members(bounds, source)
    if inside.all():
        return []
    x0, y0, _, _ = main = _mercator_bounds(bounds[~inside])
    height = main[3] - main[1]
    box_h, box_w, gap = INSET_HEIGHT * height, INSET_WIDTH * height, INSET_GAP * height
    box_rows = -(-len(found) // INSET_COLUMNS)
    west = x0 - gap - INSET_COLUMNS * box_w - (INSET_COLUMNS - 1) * gap
    insets = []
    for k, (entry, source) in enumerate(found):
        row, column = divmod(k, INSET_COLUMNS)
        bx = west + column * (box_w + gap)
        by = y0 + (box_rows - 1 - row) * (box_h + gap)
        insets.append(Inset(str(entry["departement"]), str(entry["label"]), source,
                            (bx, by, bx + box_w, by + box_h)))
    return insets


def _move_to_insets(geometries: np.ndarray, insets: list[Inset]) -> np.ndarray:
    """The geometries with those of each inset's territories moved into its box."""
    out = np.array(geometries, dtype=object)
    bounds = shapely.bounds(out)
    for inset in insets:
        members = np.flatnonzero(_inset_members(bounds, inset.source))
        if members.size:
            out[members] = shapely.transform(out[members], inset.transform)
    return out


def apply_insets(levels: list[MapLevel], points: list[MapPoints], insets: list[Inset]
                 ) -> tuple[list[MapLevel], list[MapPoints]]:
    """Levels and registry points with the insets' territories and points moved into their
    boxes (see the section's comment)."""
    if not insets:
        return levels, points
    moved_levels = [replace(level, geometries=_move_to_insets(level.geometries, insets))
                    for level in levels]
    moved_points = []
    for layer in points:
        xy = np.column_stack([np.asarray(layer.lon, dtype=float), np.asarray(layer.lat, dtype=float)])
        for inset in insets:
            members = _inset_members(np.column_stack([xy, xy]), inset.source)
            if members.any():
                xy[members] = inset.transform(xy[members])
        moved_points.append(replace(layer, lon=xy[:, 0], lat=xy[:, 1]))
    return moved_levels, moved_points


def _frame(levels: list[MapLevel], insets: list[Inset]) -> list[list[float]] | None:
    """What a map with insets frames at opening: its other territories and the boxes."""
    if not insets:
        return None
    bounds = shapely.bounds(levels[0].geometries)
    inside = np.zeros(len(bounds), dtype=bool)
    for inset in insets:
        inside |= _inset_members(bounds, inset.box)
    rest = bounds[~inside]
    boxes = np.array([[b[0][1], b[0][0], b[1][1], b[1][0]] for b in (i.box_lat_lng() for i in insets)])
    allb = np.vstack([rest, boxes])
    return [[float(allb[:, 1].min()), float(allb[:, 0].min())],
            [float(allb[:, 3].max()), float(allb[:, 2].max())]]


def _indicators(definition: dict[str, Any], levels: list[MapLevel] | None = None) -> list[dict[str, Any]]:
    """The indicators of a map definition (catalogue columns), the opening one first.

    An ``optional`` indicator (from a registry) is offered only when some feature of some level
    has a non-zero value: without antennas data, an "antennas" choice would paint everything 0.
    A level without an indicator's values is an error, not a silently missing choice.
    """
    listed = []
    for column in _indicator_columns(definition):
        assert column.style is not None
        if levels is not None:
            lacking = [level.layer for level in levels if column.name not in level.values]
            if lacking:
                msg = f"map level {', '.join(lacking)} has no values of the indicator {column.name}"
                raise ConfigError(msg)
            if column.style.optional and not any(
                    np.any(np.asarray(level.values[column.name], dtype=float) != 0)
                    for level in levels):
                continue
        listed.append({"column": column.name, "label": column.label, "unit": column.unit,
                       "intensive": column.intensive, "optional": column.style.optional,
                       "integer": column.integer})
    return listed


def _classes(values: np.ndarray, population: np.ndarray, indicator: dict[str, Any],
             definition: dict[str, Any]) -> dict[str, Any]:
    # per-inhabitant values of uninhabited territories (0 by convention) do not set classes
    considered = values[population > 0] if indicator.get("intensive") else values
    breaks = class_breaks(considered, len(definition["palette"]), definition.get("min_class_width_share", 0.0))
    finite = considered[np.isfinite(considered)]
    return {
        "breaks": breaks,
        "colours": class_colours(len(breaks) + 1, definition["palette"]),
        "spread": round(relative_spread(considered), 4),
        "range": [float(finite.min()), float(finite.max())] if finite.size else [],
    }


def _column_scale(column: str, level: str | None = None) -> int:
    """Integer steps per unit a column is sent with: its catalogue decimals (what a popup shows,
    nothing more). ``level`` (default: the first level that has the column) picks the column."""
    found = [c for c in (catalogue().get(column, lv) for lv in ([level] if level else LEVELS))
             if c is not None]
    if not found or found[0].decimals is None:
        msg = f"{catalogue().path}: no number column {column!r} to send to the map"
        raise ConfigError(msg)
    return int(10 ** found[0].decimals)


#: URL-safe base64 digits: 5 bits of a value and a continuation bit per character, JSON-safe
_DIGITS = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8)


def encode_varints(values: Any) -> str:
    """Integers as a compact string: zigzag (sign in the low bit), then 5 bits per character,
    lowest first, the character's sixth bit saying another follows (as in Google's polyline
    format, with a JSON-safe alphabet). Small numbers take one character, where JSON takes two
    or more with the comma; the browser decodes them with ``varints()``.

    Written character rank by character rank (the first of every value, then the second of
    those that have one...): most coordinate deltas take one or two characters, so this is
    twice as fast on a map's outlines as a values x ranks table."""
    x = np.asarray(values, dtype=np.int64).reshape(-1)
    if x.size == 0:
        return ""
    z = ((x << 1) ^ (x >> 63)).astype(np.uint64)
    ranks = max(1, -(-int(z.max()).bit_length() // 5))
    need = np.ones(z.size, dtype=np.int64)
    for j in range(1, ranks):
        need += z >= (np.uint64(1) << np.uint64(5 * j))
    starts = np.cumsum(need) - need
    codes = np.empty(int(starts[-1] + need[-1]), dtype=np.uint8)
    codes[starts] = (z & np.uint64(31)).astype(np.uint8) | ((need > 1).astype(np.uint8) << 5)
    index = np.flatnonzero(need > 1)
    for j in range(1, ranks):
        if not index.size:
            break
        more = need[index] > j + 1
        codes[starts[index] + j] = (((z[index] >> np.uint64(5 * j)) & np.uint64(31))
                                    .astype(np.uint8) | (more.astype(np.uint8) << 5))
        index = index[more]
    return _DIGITS[codes].tobytes().decode("ascii")


def encode_numbers(values: Any, column: str, level: str | None = None) -> dict[str, Any]:
    """A numeric column for the browser: one constant (``c``); or few distinct values (``u``)
    and one index per row (``i``); or integers (``v``) at a scale (``s``, the catalogue's
    decimals of ``column`` at ``level``). Missing values (None, NaN) are listed in ``n``, or
    are the constant (``c`` null) when none is known."""
    array = np.asarray(values, dtype=float) if not isinstance(values, list) or None not in values \
        else np.asarray([np.nan if v is None else v for v in values], dtype=float)
    scale = _column_scale(column, level)
    finite = np.isfinite(array)
    if array.size and finite.all() and np.all(array == array[0]):
        return {"c": float(array[0]) if array[0] % 1 else int(array[0])}
    if array.size and not finite.any():
        # a column without any value (the age effect without an age file): one null
        return {"c": None}
    scaled = np.round(np.where(finite, array, 0) * scale).astype(np.int64)
    out: dict[str, Any] = {}
    uniques, index = np.unique(scaled, return_inverse=True)
    if uniques.size <= 64 and array.size >= 4 * uniques.size:
        out.update(u=[int(u) / scale if scale > 1 else int(u) for u in uniques], i=encode_varints(index))
    else:
        out.update(s=scale, v=encode_varints(scaled))
    if not finite.all():
        out["n"] = np.flatnonzero(~finite).tolist()
    return out


def encode_series(values: np.ndarray, column: str, level: str | None = None) -> dict[str, Any]:
    """Rows of numbers, one per territory (a trajectory, a month x hour grid), for the browser:
    integers at the catalogue's decimals of ``column`` (scale ``s``), each row (``k`` numbers)
    as its first value then the differences to the previous one (neighbours are close: small
    numbers are short varints, ``v``). A row with a missing value is listed in ``n`` (sent as
    zeros)."""
    rows = np.asarray(values, dtype=float).reshape(len(values), -1)
    scale = _column_scale(column, level)
    missing = ~np.isfinite(rows).all(axis=1)
    scaled = np.round(np.where(np.isfinite(rows), rows, 0) * scale).astype(np.int64)
    scaled[missing] = 0
    out: dict[str, Any] = {"s": scale, "k": int(rows.shape[1]),
                           "v": encode_varints(np.diff(scaled, axis=1, prepend=0))}
    if missing.any():
        out["n"] = np.flatnonzero(missing).tolist()
    return out


def _scenario_payload(scenarios: MapScenarios, levels: list[MapLevel],
                      definition: dict[str, Any]) -> dict[str, Any]:
    """What the scenario selector needs: names, titles, years, the columns shown, and per level
    its projections (:func:`encode_series`) with classes fixed across scenarios and years (taken
    over every scenario-year of the level's inhabited territories: colours compare)."""
    palette, share = definition["palette"], definition.get("min_class_width_share", 0.0)
    out: dict[str, Any] = {
        "names": scenarios.names, "titles": scenarios.titles, "years": scenarios.years,
        "column": SCENARIO_PER_INHABITANT, "gap": SCENARIO_GAP, "levels": {},
    }
    for level in levels:
        if level.layer not in scenarios.per_inhabitant:
            continue
        per = scenarios.per_inhabitant[level.layer]
        gap = scenarios.gap[level.layer]
        inhabited = np.asarray(level.values[POPULATION], dtype=float) > 0
        classes = {}
        for kind, array in (("per", per), ("gap", gap)):
            considered = np.asarray(array, dtype=float)[inhabited].reshape(-1)
            finite = considered[np.isfinite(considered)]
            breaks = class_breaks(finite, len(palette), share if kind == "per" else 0.0)
            classes[kind] = {
                "breaks": breaks, "colours": class_colours(len(breaks) + 1, palette),
                # the spread to the median means nothing for a change in %: not shown
                "spread": round(relative_spread(finite), 4) if kind == "per" else 0,
                "range": [float(finite.min()), float(finite.max())] if finite.size else [],
            }
        out["levels"][level.layer] = {
            "per": encode_series(per, SCENARIO_PER_INHABITANT, level.layer),
            "gap": encode_series(gap, SCENARIO_GAP, "scenarios"),
            "classes": classes,
        }
    return out


def _hourly_payload(hourly: MapHourly) -> dict[str, Any]:
    """The heat-map's data: its column, the months measured and approximated, and per level
    the 288 cells (months x hours) of each territory (:func:`encode_series`)."""
    return {
        "column": HOURLY_COLUMN,
        "measured": hourly.measured_months,
        "approximated": [m for m in range(1, 13) if m not in hourly.measured_months],
        "levels": {layer: encode_series(values, HOURLY_COLUMN, layer)
                   for layer, values in hourly.values.items()},
    }


def encode_texts(values: Any) -> dict[str, Any]:
    """A text column as its distinct values (``u``, sorted; None is "") and one index per row
    (``i``)."""
    import pandas as pd

    texts = pd.Series(values, dtype=object).fillna("").astype(str)
    codes, uniques = pd.factorize(texts, sort=True)
    return {"u": list(uniques), "i": encode_varints(codes)}


def _level_payload(level: MapLevel, definition: dict[str, Any], indicators: list[dict[str, Any]],
                   scale: int, national: float | None) -> dict[str, Any]:
    population = np.asarray(level.values[POPULATION], dtype=float)
    classes = {
        ind["column"]: _classes(np.asarray(level.values[ind["column"]], dtype=float), population, ind, definition)
        for ind in indicators
    }
    # the national average the level's gaps ([popup] national_gap) are taken to
    if definition.get("popup", {}).get("national_gap") not in level.values:
        national = None
    return {
        "layer": level.layer,
        "label": level.label,
        **({"national": round(national, 4)} if national is not None else {}),
        "codes": level.codes,
        "names": level.names,
        "values": {k: encode_numbers(vals, k, level.layer) for k, vals in level.values.items()},
        "texts": {k: encode_texts(vals) for k, vals in level.texts.items()},
        "classes": classes,
        **classes[indicators[0]["column"]],
        "geometry": encode_geometries(level.geometries, scale),
    }


def _columns_payload(names: Any, level: str) -> dict[str, dict[str, Any]]:
    """What the browser needs of each column: French label (with its unit for registry
    fields), short label, unit and decimals, from the column catalogue."""
    out = {}
    for name in names:
        column = catalogue().column(name, level)
        out[name] = {"label": column.titled if level == POINT_LEVEL else column.label,
                     "short": column.short_label or column.label, "unit": column.unit,
                     "decimals": column.decimals}
    return out


def _level_columns_payload(levels: list[MapLevel]) -> dict[str, dict[str, Any]]:
    """:func:`_columns_payload` of every column of every level (one label per name: a name
    has one label at every territory level)."""
    out: dict[str, dict[str, Any]] = {}
    for level in levels:
        out |= _columns_payload([*level.values, *level.texts], level.layer)
    return out


def _morton_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Order of points along a Z-order curve: neighbours on the ground are neighbours in the
    list, so coordinate deltas stay small."""
    def spread(v: np.ndarray) -> np.ndarray:
        v = v.astype(np.uint64) & np.uint64(0xFFFF)
        v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
        v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
        v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
        return (v | (v << np.uint64(1))) & np.uint64(0x55555555)

    if x.size == 0:
        return np.arange(0)
    gx = (x - x.min()) / max(float(np.ptp(x)), 1e-9) * 65535
    gy = (y - y.min()) / max(float(np.ptp(y)), 1e-9) * 65535
    return np.argsort(spread(gx) | (spread(gy) << np.uint64(1)), kind="stable")


def _points_payload(points: MapPoints, spec: dict[str, Any]) -> dict[str, Any]:
    lon, lat = np.asarray(points.lon, dtype=float), np.asarray(points.lat, dtype=float)
    order = _morton_order(lon, lat)
    quantised = np.column_stack([np.round(lon[order] * POINT_SCALE), np.round(lat[order] * POINT_SCALE)])
    flat = quantised.astype(np.int64).reshape(-1)
    deltas = flat.copy()
    deltas[2:] = flat[2:] - flat[:-2]
    size = spec.get("size")
    fields = {}
    for name in dict.fromkeys([*spec.get("fields", []), size, spec.get("size_origin")]):
        if name not in points.fields:
            continue
        column = np.asarray(points.fields[name], dtype=object)[order]
        if name == SOURCE_FILE:
            # the file's name, not its path (Windows paths too: PureWindowsPath splits on both)
            column = np.array([None if v is None else PureWindowsPath(str(v)).name for v in column],
                              dtype=object)
        # sent as the catalogue types the column: booleans as "oui" / "non"
        kind = catalogue().column(name, POINT_LEVEL).type
        if kind == "boolean":
            fields[name] = encode_texts(np.array(
                [None if v is None else ("oui" if v else "non") for v in column], dtype=object))
        elif kind in ("integer", "number"):
            fields[name] = encode_numbers(column, name, POINT_LEVEL)
        else:
            fields[name] = encode_texts(column)
    return {
        "layer": spec["layer"],
        "label": spec["label"],
        "colour": spec.get("colour", "#984ea3"),
        "cluster": bool(spec.get("cluster", True)),
        "shown": bool(spec.get("shown", False)),
        "size": size,
        "sizeOrigin": spec.get("size_origin"),
        "sizeDeclared": spec.get("size_declared"),
        "note": spec.get("note", ""),
        # French name of a point without one (the registry spec's unnamed_fr)
        "unnamed": spec.get("unnamed", ""),
        "count": int(lon.size),
        "order": [name for name in spec.get("fields", []) if name in fields],
        # French label (with unit) and decimals of each field, from the column catalogue
        "columns": _columns_payload(fields, POINT_LEVEL),
        "xy": encode_varints(deltas),
        # parsed when the layer is first shown: until then one flat string costs the browser's
        # garbage collector nothing, where tens of thousands of small strings cost it a lot
        "fields": json.dumps(fields, ensure_ascii=False, separators=(",", ":")),
    }


OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
#: IGN's Géoplateforme "Plan IGN v2" (WMTS in Web Mercator, open licence, no key)
IGN_PLAN_TILES = ("https://data.geopf.fr/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                  "&LAYER=GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2&STYLE=normal&TILEMATRIXSET=PM"
                  "&FORMAT=image/png&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}")
#: the named base maps of ``--basemap`` (territory.settings.BASEMAPS): URL, label, attribution
BASEMAP_TILES = {
    "ign": {"url": IGN_PLAN_TILES, "label": "Fond de carte Plan IGN",
            "attribution": "© IGN – Géoplateforme, Plan IGN"},
    "osm": {"url": OSM_TILES, "label": "Fond de carte OpenStreetMap",
            "attribution": "© les contributeurs d’OpenStreetMap"},
}


def _tiles(tiles: str | None) -> dict[str, str] | None:
    """URL and attribution of the optional base map."""
    if tiles is None:
        return None
    if tiles in BASEMAP_TILES:
        return dict(BASEMAP_TILES[tiles])
    return {"url": tiles, "label": "Fond de carte", "attribution": ""}


def _leaflet_assets() -> tuple[str, str]:
    """(CSS, JS) of Leaflet, vendored in ``static/vendor/leaflet`` (provenance.json there), to
    be inlined."""
    js = _front_end_file("static", "vendor", "leaflet", "leaflet.js")
    if f"Leaflet {LEAFLET_VERSION}" not in js[:200]:
        msg = f"territory/static/vendor/leaflet/leaflet.js is not Leaflet {LEAFLET_VERSION}"
        raise ConfigError(msg)
    return _front_end_file("static", "vendor", "leaflet", "leaflet.css"), js


def _fflate() -> str:
    """fflate's browser build, vendored in ``static/vendor/fflate`` (provenance.json there):
    what decodes the page's data block."""
    js = _front_end_file("static", "vendor", "fflate", "fflate.js")
    if "gunzipSync" not in js:
        msg = "territory/static/vendor/fflate/fflate.js is not fflate's browser build"
        raise ConfigError(msg)
    return js


def _front_end_file(*parts: str) -> str:
    """A file the map is made of (``static/map.js``, ``templates/map.html.j2``...), shipped as
    package data."""
    try:
        return resources.files("territory").joinpath(*parts).read_text(encoding="utf-8")
    except OSError as error:
        msg = f"territory/{'/'.join(parts)}: cannot read the map's front-end file ({error})"
        raise ConfigError(msg) from error


def _inline(text: str, tag: str) -> Markup:
    """``text`` made safe inside ``<tag>...</tag>``: a closing tag in it (in a JavaScript string,
    say) would end the element; ``<\\/`` means the same in JavaScript strings and CSS."""
    from markupsafe import Markup

    return Markup(re.sub(f"</(?={tag})", r"<\\/", text, flags=re.IGNORECASE))


def build_map(
    levels: list[MapLevel], definition: dict[str, Any], *, assets: str = "inline",
    tolerance_m: float = 60.0, points: list[MapPoints] | None = None, subtitle: str = "",
    tiles: str | None = None, sources: str = "", national: float | None = None,
    orientation: bool = True, scenarios: MapScenarios | None = None,
    hourly: MapHourly | None = None,
) -> str:
    """Build the map's HTML.

    Parameters
    ----------
    levels
        Levels to draw, the first one shown at opening.
    definition
        Map definition (``maps/footprint.toml``).
    assets
        ``inline`` (works offline) or ``cdn``.
    tolerance_m
        Simplification tolerance the geometries were prepared with; sets the coordinate
        precision sent to the browser.
    points
        Registry points, one ``MapPoints`` per ``[[points]]`` layer of the definition that has
        points; drawn as markers (sized by the layer's ``size`` column) or clusters.
    subtitle
        Shown under the title (e.g. the département), as text.
    tiles
        Optional base map: ``osm`` or a tile URL template. Its tiles are fetched when the map is
        opened; without it the map needs no network at all.
    sources
        Provenance shown in the map's attribution line (text, escaped here).
    national
        The model's national average of the popup's compared column (``[popup] compared``,
        per inhabitant: the national footprint over the national population, all communes of
        France whatever the map's extent), which the gaps (``[popup] national_gap``) are taken
        to; None: the popup does not explain gaps.
    orientation
        Draw the orientation layer (coast, rivers, préfectures and sous-préfectures:
        :mod:`territory.orientation`) around the map's territories.
    scenarios
        The run's scenarios: a scenario and year selector (``static/map-scenarios.js``, in the
        page only then), the choropleth of the chosen projection and the popups' trajectory.
        None (a run without scenarios): the page has none of it.
    hourly
        Use-phase emissions by month x hour: a heat-map in the popups of the levels it has.

    Returns
    -------
    str
        A complete HTML document.
    """
    scale = coordinate_scale(tolerance_m)
    indicators = _indicators(definition, levels)
    insets = plan_insets(levels, definition)
    landmarks = (orientation_for_map(load_orientation(), orientation_regions(levels, insets),
                                     max(tolerance_m, 1.0) / 111_000)
                 if orientation and levels else None)
    levels, points = apply_insets(levels, points or [], insets)
    specs = {spec["layer"]: spec for spec in definition.get("points", [])}
    unknown = [p.layer for p in points or [] if p.layer not in specs]
    if unknown:
        msg = f"map definition has no [[points]] layer {', '.join(unknown)}"
        raise ConfigError(msg)
    payload = {
        "title": definition["title"],
        "subtitle": subtitle,
        "indicator": indicators[0]["column"],
        "indicatorLabel": indicators[0]["label"],
        "unit": indicators[0]["unit"],
        "indicators": [{k: ind[k] for k in ("column", "label", "unit")} for ind in indicators],
        # label, short label, unit and decimals of every column the levels carry (catalogue)
        "columns": _level_columns_payload(levels),
        "popup": definition.get("popup", {}),
        "population": POPULATION,
        "intensive": {ind["column"]: bool(ind.get("intensive")) for ind in indicators},
        "integer": {ind["column"]: bool(ind.get("integer")) for ind in indicators},
        "palette": definition["palette"],
        "scale": scale,
        "pointScale": POINT_SCALE,
        "levels": [_level_payload(level, definition, indicators, scale, national) for level in levels],
        "points": [_points_payload(p, specs[p.layer]) for p in points or [] if len(p.lon)],
        # overseas insets: label and box of each ([[south, west], [north, east]]), and what the
        # map frames at opening (the mainland and the boxes), when the map has insets
        "insets": [{"code": i.departement, "label": i.label, "bounds": i.box_lat_lng()}
                   for i in insets],
        "frame": _frame(levels, insets),
        # coast, rivers and chefs-lieux ("Repères"), drawn above the polygons, taking no clicks
        "orientation": _orientation_payload(landmarks, scale, levels) if landmarks else None,
        "tiles": _tiles(tiles),
        # Leaflet inserts attributions as HTML: escaped here, so the text stays text
        "attribution": html.escape(sources),
    }
    if hourly is not None and hourly.values:
        payload["hourly"] = _hourly_payload(hourly)
        payload["columns"] |= _columns_payload([HOURLY_COLUMN], "communes")
    if scenarios is not None:
        payload["scenarios"] = _scenario_payload(scenarios, levels, definition)
        payload["columns"] |= _columns_payload(SCENARIO_LABELS, "scenarios")
        payload["columns"] |= _columns_payload([SCENARIO_PER_INHABITANT], "communes")
    return _page(definition["title"], encode_data(payload), assets,
                 scenarios=scenarios is not None)


#: how the page's data block is written (its ``data-encoding``): the payload's JSON, compressed
#: by gzip and written in base64. ``static/map.js`` decodes it with fflate (vendored in
#: ``static/vendor/fflate``), synchronously and in every browser. All of France: 4.6 MB of JSON
#: in 3.4 MB of base64, for 0.07 s (level 1; level 6 saves 0.1 MB more for 0.13 s more).
DATA_ENCODING = "gzip,base64"


def encode_data(payload: dict[str, Any]) -> str:
    """The data block's text: ``payload`` as JSON (read in the page by ``JSON.parse``, which V8
    parses much faster than the same data as a JavaScript literal), gzip-compressed (no time
    stamp: the same payload gives the same bytes), in base64 (no "<" can end the block)."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=1, mtime=0)
                            ).decode("ascii")


def read_map_data(page: str) -> dict[str, Any]:
    """The payload of a page :func:`build_map` wrote (its data block decoded)."""
    found = re.search(r'id="territory-data" data-encoding="([^"]*)">([^<]*)</script>', page)
    if found is None or found.group(1) != DATA_ENCODING:
        msg = f"no {DATA_ENCODING} data block in the page"
        raise ValueError(msg)
    data: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(found.group(2))))
    return data


def _page(title: str, data: str, assets: str, *, scenarios: bool = False) -> str:
    """The HTML document: ``templates/map.html.j2`` with Leaflet (inlined or from the CDN),
    ``static/map.css``, the data block (:func:`encode_data`), fflate and ``static/map.js``.

    The large parts (Leaflet, the data) are template variables, never template source: Jinja
    neither compiles them nor reads a "{{" in them as syntax. Every other variable is escaped.
    The page has fixed element ids and no time stamp: the same inputs give the same bytes.
    ``scenarios``: the scenario selector's script and style (``static/map-scenarios.js`` and
    ``.css``) come with the map's (the script before map.js, which calls it before building
    the polygons); a page without scenarios does not carry them.
    """
    from jinja2 import Environment
    from markupsafe import Markup

    context: dict[str, Any] = {"title": title, "data": Markup(data),
                               "data_encoding": DATA_ENCODING,
                               "fflate_js": _inline(_fflate(), "script"),
                               "map_css": _inline(_front_end_file("static", "map.css"), "style"),
                               "map_js": _inline(_front_end_file("static", "map.js"), "script")}
    if scenarios:
        context.update(
            scenario_css=_inline(_front_end_file("static", "map-scenarios.css"), "style"),
            scenario_js=_inline(_front_end_file("static", "map-scenarios.js"), "script"))
    if assets == "cdn":
        context["leaflet_cdn"] = LEAFLET_CDN
    else:
        css, js = _leaflet_assets()
        context.update(leaflet_css=_inline(css, "style"), leaflet_js=_inline(js, "script"))
    environment = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)
    return environment.from_string(_front_end_file("templates", "map.html.j2")).render(context)
