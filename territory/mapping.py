"""The interactive map (``map.html``): a folium map whose polygons are drawn by one compact,
canvas-rendered layer per administrative level.

Why not one ``folium.GeoJson`` per level: all of France as GeoJSON with tooltip properties is
tens of megabytes and takes many seconds to draw. Here each level is sent once as quantised,
delta-encoded coordinates (integers, 1e-4 degree ~ 10 m) with its attributes in columns, and
decoded in the browser into Leaflet polygons on a shared canvas renderer. Labels are French;
every name is inserted as text (never as HTML), so a name cannot run code.

This module never runs SQL: it receives the layers ready to draw.
"""

from __future__ import annotations

import html
import json
import tomllib
from dataclasses import dataclass, field
from importlib import util
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from territory.errors import ConfigError

LEAFLET_VERSION = "1.9.3"
LEAFLET_CDN = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist"
#: default quantisation of map coordinates: 1e-4 degree is about 10 m
COORDINATE_SCALE = 10_000
#: attributes sent to the browser for each feature (tooltip, popup and colours); a level may lack
#: some (upper levels have no population stratum)
MAP_COLUMNS = (
    "population",
    "footprint_tco2e",
    "footprint_kgco2e_per_inhabitant",
    "devices_tco2e",
    "networks_tco2e",
    "datacenters_tco2e",
    "territorial_tco2e",
    "displaced_tco2e",
    "antennas_count",
    "antennas_tco2e",
    "datacenters_count",
    "datacenters_located_tco2e",
    "streetlights_count",
    "cameras_count",
    "sensors_count",
    "infrastructure_tco2e",
)
#: columns only the communes have: the comparison with the communes of the same stratum
STRATUM_COLUMNS = (
    "stratum_communes_count",
    "stratum_median_kgco2e_per_inhabitant",
    "stratum_rank",
)
#: text attributes sent for each feature, when the level has them
MAP_TEXT_COLUMNS = ("population_stratum",)
#: coordinates of registry points: 1e-5 degree, about 1 m
POINT_SCALE = 100_000


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
        Column name -> one number per feature (``MAP_COLUMNS``, ``STRATUM_COLUMNS``).
    geometries
        Shapely (Multi)Polygons in EPSG:4326, one per feature.
    texts
        Column name -> one text per feature (``MAP_TEXT_COLUMNS``).
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


#: keys a map definition may hold: top level, then each table of ``[[levels]]``,
#: ``[[indicators]]`` and ``[[points]]`` (``[field_labels]`` maps any field to its label)
MAP_DEFINITION_KEYS: dict[str, frozenset[str]] = {
    "": frozenset({"title", "indicator", "indicator_label", "indicator_unit", "palette",
                   "min_class_width_share", "levels", "indicators", "points", "field_labels"}),
    "levels": frozenset({"layer", "label"}),
    "indicators": frozenset({"column", "label", "unit", "intensive", "optional", "integer"}),
    "points": frozenset({"layer", "kinds", "label", "colour", "size", "size_origin",
                         "size_declared", "note", "cluster", "shown", "fields"}),
}


def load_map_definition(path: Path) -> dict[str, Any]:
    """Read a map definition TOML file of ``maps/``; an unknown key is an error naming it."""
    try:
        definition = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        msg = f"{path}: cannot read the map definition ({error})"
        raise ConfigError(msg) from error
    for key in ("title", "indicator", "indicator_label", "indicator_unit", "palette", "levels"):
        if key not in definition:
            msg = f"{path}: key {key!r} is missing"
            raise ConfigError(msg)
    tables = [("", definition)] + [
        (name, entry) for name in ("levels", "indicators", "points")
        for entry in definition.get(name, [])]
    for name, table in tables:
        if not isinstance(table, dict):
            msg = f"{path}: [[{name}]] entries must be tables"
            raise ConfigError(msg)
        unknown = sorted(set(table) - MAP_DEFINITION_KEYS[name])
        if unknown:
            where = f"[[{name}]] " if name else ""
            msg = (f"{path}: {where}unknown keys {', '.join(unknown)}; known: "
                   f"{', '.join(sorted(MAP_DEFINITION_KEYS[name]))}")
            raise ConfigError(msg)
    return definition


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


def _indicators(definition: dict[str, Any], levels: list[MapLevel] | None = None) -> list[dict[str, Any]]:
    """The indicators of a map definition, the default one first.

    An ``optional`` indicator (from a registry) is offered only when some feature of some level
    has a non-zero value: without antennas data, an "antennas" choice would paint everything 0.
    """
    listed = definition.get("indicators") or [{
        "column": definition["indicator"], "label": definition["indicator_label"],
        "unit": definition["indicator_unit"], "intensive": True,
    }]
    if levels is not None:
        listed = [
            ind for ind in listed
            if all(ind["column"] in level.values for level in levels)
            and (not ind.get("optional")
                 or any(np.any(np.asarray(level.values[ind["column"]], dtype=float) != 0)
                        for level in levels))
        ]
    return sorted(listed, key=lambda ind: ind["column"] != definition["indicator"])


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


def _column_scale(column: str) -> int:
    """Integer steps per unit a column is sent with: what a popup shows, nothing more."""
    if column.endswith(("_count", "_rank", "_kwh", "_line")) or column == "population":
        return 1
    if column.endswith(("_per_inhabitant", "_tco2e", "_tb")):
        return 10
    return 100  # MW, PUE...


#: URL-safe base64 digits: 5 bits of a value and a continuation bit per character, JSON-safe
_DIGITS = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8)


def encode_varints(values: Any) -> str:
    """Integers as a compact string: zigzag (sign in the low bit), then 5 bits per character,
    lowest first, the character's sixth bit saying another follows (as in Google's polyline
    format, with a JSON-safe alphabet). Small numbers take one character, where JSON takes two
    or more with the comma; the browser decodes them with ``varints()``."""
    x = np.asarray(values, dtype=np.int64).reshape(-1)
    if x.size == 0:
        return ""
    z = ((x << 1) ^ (x >> 63)).astype(np.uint64)
    groups_n = max(1, -(-int(z.max()).bit_length() // 5))
    k = np.arange(groups_n, dtype=np.uint64)
    groups = ((z[:, None] >> (np.uint64(5) * k)) & np.uint64(31)).astype(np.uint8)
    need = np.ones(z.size, dtype=np.int64)
    for j in range(1, groups_n):
        need += z >= (np.uint64(1) << np.uint64(5 * j))
    position = np.arange(groups_n, dtype=np.int64)[None, :]
    codes = groups | ((position < need[:, None] - 1).astype(np.uint8) << 5)
    return _DIGITS[codes[position < need[:, None]]].tobytes().decode("ascii")


def encode_numbers(values: Any, column: str) -> dict[str, Any]:
    """A numeric column for the browser: one constant (``c``); or few distinct values (``u``)
    and one index per row (``i``); or integers (``v``) at a scale (``s``). Missing values
    (None, NaN) are listed in ``n``."""
    array = np.asarray(values, dtype=float) if not isinstance(values, list) or None not in values \
        else np.asarray([np.nan if v is None else v for v in values], dtype=float)
    scale = _column_scale(column)
    finite = np.isfinite(array)
    if array.size and finite.all() and np.all(array == array[0]):
        return {"c": float(array[0]) if array[0] % 1 else int(array[0])}
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


def encode_texts(values: Any) -> dict[str, Any]:
    """A text column as its distinct values (``u``, sorted; None is "") and one index per row
    (``i``)."""
    import pandas as pd

    texts = pd.Series(values, dtype=object).fillna("").astype(str)
    codes, uniques = pd.factorize(texts, sort=True)
    return {"u": list(uniques), "i": encode_varints(codes)}


def _level_payload(level: MapLevel, definition: dict[str, Any], indicators: list[dict[str, Any]],
                   scale: int) -> dict[str, Any]:
    population = np.asarray(level.values["population"], dtype=float)
    classes = {
        ind["column"]: _classes(np.asarray(level.values[ind["column"]], dtype=float), population, ind, definition)
        for ind in indicators
    }
    return {
        "layer": level.layer,
        "label": level.label,
        "codes": level.codes,
        "names": level.names,
        "values": {k: encode_numbers(vals, k) for k, vals in level.values.items()},
        "texts": {k: encode_texts(vals) for k, vals in level.texts.items()},
        "classes": classes,
        **classes[indicators[0]["column"]],
        "geometry": encode_geometries(level.geometries, scale),
    }


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
        kinds = set(map(type, column)) - {type(None)}
        if kinds and kinds <= {bool, np.bool_}:
            fields[name] = encode_texts(np.where(column == True, "oui",
                                                 np.where(column == False, "non", None)))
        elif all(issubclass(k, (int, float, np.integer, np.floating)) for k in kinds):
            fields[name] = encode_numbers(column, name)
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
        "count": int(lon.size),
        "order": [name for name in spec.get("fields", []) if name in fields],
        "xy": encode_varints(deltas),
        # parsed when the layer is first shown: until then one flat string costs the browser's
        # garbage collector nothing, where tens of thousands of small strings cost it a lot
        "fields": json.dumps(fields, ensure_ascii=False, separators=(",", ":")),
    }


OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def _tiles(tiles: str | None) -> dict[str, str] | None:
    """URL and attribution of the optional base map."""
    if tiles is None:
        return None
    if tiles == "osm":
        return {"url": OSM_TILES, "label": "Fond de carte OpenStreetMap",
                "attribution": "© les contributeurs d’OpenStreetMap"}
    return {"url": tiles, "label": "Fond de carte", "attribution": ""}


def _leaflet_assets(mode: str) -> tuple[str, str]:
    """(CSS, JS) tags for Leaflet: inlined from the pinned django-leaflet wheel, or CDN links."""
    if mode == "cdn":
        return (
            f'<link rel="stylesheet" href="{LEAFLET_CDN}/leaflet.css"/>',
            f'<script src="{LEAFLET_CDN}/leaflet.js"></script>',
        )
    spec = util.find_spec("leaflet")
    if spec is None or not spec.submodule_search_locations:
        msg = "django-leaflet is needed to inline Leaflet; run `pip install django-leaflet`"
        raise ConfigError(msg)
    static = Path(next(iter(spec.submodule_search_locations))) / "static" / "leaflet"
    js = (static / "leaflet.js").read_text(encoding="utf-8")
    if f"Leaflet {LEAFLET_VERSION}" not in js[:200]:
        msg = f"{static / 'leaflet.js'} is not Leaflet {LEAFLET_VERSION}; reinstall django-leaflet==0.34.0"
        raise ConfigError(msg)
    css = (static / "leaflet.css").read_text(encoding="utf-8")
    safe_js = js.replace("</script", "<\\/script")
    return f"<style>{css}</style>", f"<script>{safe_js}</script>"


def build_map(
    levels: list[MapLevel], definition: dict[str, Any], *, assets: str = "inline",
    tolerance_m: float = 60.0, points: list[MapPoints] | None = None, subtitle: str = "",
    tiles: str | None = None, sources: str = "",
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

    Returns
    -------
    str
        A complete HTML document.
    """
    import folium
    from branca.element import Element, MacroElement
    from jinja2 import Template

    css, js = _leaflet_assets(assets)
    fmap = folium.Map(location=[46.6, 2.4], zoom_start=6, tiles=None, prefer_canvas=True,
                      control_scale=True)
    # branca names elements after random ids: fixed ones make the same inputs give the same file
    fmap._id = "territory"
    # only Leaflet: folium's default jQuery/Bootstrap/Font Awesome come from CDNs and are unused
    fmap.default_js = []
    fmap.default_css = []
    root = fmap.get_root()
    # Leaflet itself is put in after rendering: passed through Jinja it would be compiled as a
    # template (slow, and a "{{" in the library would be read as template syntax)
    root.header.add_child(Element(f'<meta charset="utf-8"/>{_ASSETS_MARK}<style>{_CSS}</style>'),
                          name="territory_assets")
    root.html.add_child(Element(f'<script type="application/json" id="territory-data">{_DATA_MARK}</script>'),
                        name="territory_data")
    root.title = definition["title"]

    scale = coordinate_scale(tolerance_m)
    indicators = _indicators(definition, levels)
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
        "intensive": {ind["column"]: bool(ind.get("intensive")) for ind in indicators},
        "integer": {ind["column"]: bool(ind.get("integer")) for ind in indicators},
        "palette": definition["palette"],
        "scale": scale,
        "pointScale": POINT_SCALE,
        "fieldLabels": definition.get("field_labels", {}),
        "levels": [_level_payload(level, definition, indicators, scale) for level in levels],
        "points": [_points_payload(p, specs[p.layer]) for p in points or [] if len(p.lon)],
        "tiles": _tiles(tiles),
        # Leaflet inserts attributions as HTML: escaped here, so the text stays text
        "attribution": html.escape(sources),
    }
    # sent as a JSON data block read by JSON.parse: V8 parses JSON much faster than the same
    # data written as a JavaScript literal, and the HTML parser does not tokenise it as script.
    # Every "<" is escaped (\u003c, which JSON.parse restores): no "</script>" nor "<!--" in
    # a name can end or alter the block
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")

    class _FootprintLayers(MacroElement):
        # the data is put in after rendering: branca re-reads a rendered script as a Jinja
        # template, which would compile megabytes of JSON (and read "{{" in a name as syntax)
        _template = Template(
            "{% macro script(this, kwargs) %}\n"
            "(function(map, data){" + _JS + "})({{ this._parent.get_name() }}, JSON.parse("
            "document.getElementById('territory-data').textContent));\n"
            "{% endmacro %}"
        )

    layers = _FootprintLayers()
    layers._id = "territory_layers"
    fmap.add_child(layers)
    for number, element in enumerate(_elements(root)):
        if not element._id.startswith("territory"):
            element._id = f"territory_{number}"
    page = root.render()
    page = page.replace(_DATA_MARK, data, 1)
    return page.replace(_ASSETS_MARK, css + js, 1)


def _elements(root: Any) -> list[Any]:
    """``root`` and every element below it, depth first in insertion order."""
    found = [root]
    for child in root._children.values():
        found += _elements(child)
    return found


_ASSETS_MARK = "<!-- territory: leaflet assets -->"
_DATA_MARK = "/* territory: map data */"

_CSS = """
.territory-legend, .territory-title, .territory-indicator, .territory-search { background: rgba(255,255,255,0.92);
  padding: 6px 10px; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); font: 13px/1.4 system-ui, sans-serif; }
.territory-legend i { display: inline-block; width: 18px; height: 12px; margin-right: 6px;
  vertical-align: middle; border: 1px solid #999; }
.territory-title h1 { font-size: 15px; margin: 0; }
.territory-title p { margin: 0; color: #444; }
.territory-tooltip table, .territory-popup table { border-collapse: collapse; }
.territory-tooltip td, .territory-popup td { padding: 0 4px; }
.territory-tooltip td.n, .territory-popup td.n { text-align: right; white-space: nowrap; }
.territory-popup { font: 12px/1.4 system-ui, sans-serif; min-width: 260px; }
.territory-popup h2 { font-size: 14px; margin: 0 0 4px; }
.territory-popup h3 { font-size: 12px; margin: 8px 0 2px; }
.territory-popup .territory-note { color: #555; }
.territory-popup svg text { font: 11px system-ui, sans-serif; }
.territory-popup + .territory-popup { border-top: 1px solid #ccc; margin-top: 6px; padding-top: 6px; }
.territory-search input { width: 250px; font: 13px system-ui, sans-serif; padding: 3px 4px; }
.territory-search ul { list-style: none; margin: 4px 0 0; padding: 0; max-height: 260px; overflow-y: auto; }
.territory-search li { padding: 2px 4px; cursor: pointer; }
.territory-search li:hover, .territory-search li.active { background: #fde0c5; }
.territory-search .territory-none { color: #777; cursor: default; }
.territory-cluster { border-radius: 50%; color: #fff; text-align: center; font: bold 11px/1 system-ui, sans-serif;
  display: flex; align-items: center; justify-content: center; border: 2px solid rgba(255,255,255,.85);
  box-shadow: 0 0 3px rgba(0,0,0,.5); opacity: .9; }
.territory-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px;
  vertical-align: middle; border: 1px solid #fff; box-shadow: 0 0 1px #000; }
.leaflet-container { background: #dfe8ef; }
.leaflet-control-attribution { max-width: 60vw; font-size: 11px; }
"""

_JS = r"""
var fmt = new Intl.NumberFormat('fr-FR', {maximumFractionDigits: 0});
var fmt1 = new Intl.NumberFormat('fr-FR', {maximumFractionDigits: 1});
var fmt2 = new Intl.NumberFormat('fr-FR', {maximumFractionDigits: 2});
var renderer = L.canvas({padding: 0.1, tolerance: 2});
// registry points are drawn above the polygons, in their own pane, as SVG (few elements at a
// time: clusters): a second canvas on top would take the polygons' mouse events
map.createPane('territoryPoints').style.zIndex = 450;
var pointRenderer = L.svg({pane: 'territoryPoints', padding: 0.2});
function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; }
function svg(tag, attrs) { var e = document.createElementNS('http://www.w3.org/2000/svg', tag); for (var k in attrs) e.setAttribute(k, attrs[k]); return e; }
// integers arrive as strings (mapping.encode_varints): zigzag, 5 bits per character
var DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_', LUT = new Uint8Array(128);
for (var q = 0; q < 64; q++) LUT[DIGITS.charCodeAt(q)] = q;
function varints(s) {
  // a typed array sized for the worst case (one character per number): no growth, no garbage
  var out = new Float64Array(s.length), n = 0, v = 0, m = 1;
  for (var i = 0; i < s.length; i++) {
    var c = LUT[s.charCodeAt(i)];
    v += (c & 31) * m;
    if (c & 32) m *= 32; else { out[n++] = v % 2 ? -(v + 1) / 2 : v / 2; v = 0; m = 1; }
  }
  return out.subarray(0, n);
}
// columns arrive as one constant, or distinct values and indexes, or integers and a scale
function decodeColumn(c, n) {
  var out = new Array(n), i;
  if ('c' in c) { for (i = 0; i < n; i++) out[i] = c.c; }
  else if ('u' in c) { var k = varints(c.i); for (i = 0; i < n; i++) out[i] = c.u[k[i]]; }
  else { var v = varints(c.v); for (i = 0; i < n; i++) out[i] = v[i] / c.s; }
  (c.n || []).forEach(function(j) { out[j] = null; });
  return out;
}
// a level's columns are decoded when it is first used (drawn, searched or recoloured)
function decodeLevel(level) {
  if (level.decoded) return level;
  var n = level.codes.length;
  for (var k in level.values) level.values[k] = decodeColumn(level.values[k], n);
  for (var t in level.texts) level.texts[t] = decodeColumn(level.texts[t], n);
  level.decoded = true;
  return level;
}
function colour(v, level) {
  for (var i = 0; i < level.breaks.length; i++) { if (v <= level.breaks[i]) return level.colours[i]; }
  return level.colours[level.breaks.length];
}
function decode(g) {
  // coordinates are deltas: accumulated in place, then read ring by ring into LatLngs
  var xy = varints(g.d), x = 0, y = 0, scale = data.scale;
  for (var i = 0; i < xy.length; i += 2) { x += xy[i]; y += xy[i + 1]; xy[i] = x / scale; xy[i + 1] = y / scale; }
  var fl = varints(g.f), pl = varints(g.p), rl = varints(g.r);
  var features = new Array(fl.length), p = 0, r = 0, k = 0;
  for (var f = 0; f < fl.length; f++) {
    var polys = new Array(fl[f]);
    for (var a = 0; a < polys.length; a++, p++) {
      var rings = new Array(pl[p]);
      for (var b = 0; b < rings.length; b++, r++) {
        var ring = new Array(rl[r]);
        for (var c = 0; c < ring.length; c++, k++) ring[c] = new L.LatLng(xy[2 * k + 1], xy[2 * k]);
        rings[b] = ring;
      }
      polys[a] = rings;
    }
    features[f] = polys;
  }
  return features;
}
function row(label, value) {
  var tr = document.createElement('tr'), a = el('td', label), b = el('td', value, 'n');
  tr.appendChild(a); tr.appendChild(b); return tr;
}
function val(level, column, i) { var c = level.values[column]; return c ? (c[i] || 0) : 0; }
function tooltipContent(level, i) {
  var div = el('div', undefined, 'territory-tooltip');
  div.appendChild(el('strong', level.names[i] + ' (' + level.codes[i] + ')'));
  var t = document.createElement('table'), total = val(level, 'footprint_tco2e', i);
  function share(x) { return total > 0 ? ' (' + fmt.format(100 * x / total) + ' %)' : ''; }
  t.appendChild(row('Population', fmt.format(val(level, 'population', i))));
  t.appendChild(row('Empreinte totale', fmt.format(total) + ' tCO₂e/an'));
  t.appendChild(row('Par habitant', fmt1.format(val(level, 'footprint_kgco2e_per_inhabitant', i)) + ' kgCO₂e/an'));
  t.appendChild(row('Terminaux', fmt.format(val(level, 'devices_tco2e', i)) + ' tCO₂e' + share(val(level, 'devices_tco2e', i))));
  t.appendChild(row('Réseaux', fmt.format(val(level, 'networks_tco2e', i)) + ' tCO₂e' + share(val(level, 'networks_tco2e', i))));
  t.appendChild(row('Centres de données', fmt.format(val(level, 'datacenters_tco2e', i)) + ' tCO₂e' + share(val(level, 'datacenters_tco2e', i))));
  t.appendChild(row('Émissions sur le territoire', fmt.format(val(level, 'territorial_tco2e', i)) + ' tCO₂e'));
  t.appendChild(row('Pollution déplacée', fmt.format(val(level, 'displaced_tco2e', i)) + ' tCO₂e'));
  div.appendChild(t);
  div.appendChild(el('div', 'Cliquer pour le détail', 'territory-note'));
  return div;
}
// ---- popups: breakdown chart (inline SVG) and comparison with peers
var PARTS = [['devices_tco2e', 'Terminaux', '#3182bd'], ['networks_tco2e', 'Réseaux', '#31a354'],
             ['datacenters_tco2e', 'Centres de données', '#756bb1']];
function barChart(items, width) {
  // one horizontal bar per item: [label, value, colour]; values scaled to the largest
  var max = Math.max.apply(null, items.map(function(x) { return x[1]; }).concat([1e-9]));
  var h = 18, s = svg('svg', {width: width, height: items.length * h + 2, role: 'img'});
  items.forEach(function(item, k) {
    var w = Math.max(1, Math.round((width - 175) * item[1] / max));
    var label = svg('text', {x: 0, y: k * h + 13}); label.textContent = item[0]; s.appendChild(label);
    s.appendChild(svg('rect', {x: 110, y: k * h + 3, width: w, height: h - 6, fill: item[2]}));
    var v = svg('text', {x: 114 + w, y: k * h + 13}); v.textContent = item[3]; s.appendChild(v);
  });
  return s;
}
function stackedBar(level, i, width) {
  var total = PARTS.reduce(function(t, p) { return t + val(level, p[0], i); }, 0);
  var s = svg('svg', {width: width, height: 22, role: 'img', 'class': 'territory-stack'}), x = 0;
  PARTS.forEach(function(p) {
    var w = total > 0 ? width * val(level, p[0], i) / total : 0;
    var r = svg('rect', {x: x, y: 2, width: w, height: 18, fill: p[2]});
    var title = svg('title', {}); title.textContent = p[1] + ' : ' + fmt.format(val(level, p[0], i)) + ' tCO₂e/an';
    r.appendChild(title); s.appendChild(r); x += w;
  });
  return s;
}
var ranks = {};
function levelRank(level, i) {
  // rank by footprint per inhabitant among the inhabited territories of the level (1 = lowest)
  if (!ranks[level.layer]) {
    var v = level.values.footprint_kgco2e_per_inhabitant, pop = level.values.population, idx = [];
    for (var k = 0; k < v.length; k++) if (pop[k] > 0) idx.push(k);
    idx.sort(function(a, b) { return v[a] - v[b]; });
    var rank = {}; idx.forEach(function(k, r) { rank[k] = r + 1; });
    var mid = idx.length ? (idx.length % 2 ? v[idx[(idx.length - 1) / 2]] : (v[idx[idx.length / 2 - 1]] + v[idx[idx.length / 2]]) / 2) : 0;
    ranks[level.layer] = {rank: rank, n: idx.length, median: mid};
  }
  var r = ranks[level.layer];
  return {rank: r.rank[i], n: r.n, median: r.median};
}
// popups are panned clear of the title and search box (top left) and of the legend
var POPUP = {maxWidth: 340, minWidth: 280, autoPanPaddingTopLeft: L.point(20, 190), autoPanPaddingBottomRight: L.point(20, 40)};
function keepNumbers(text) { return text.replace(/(\d) (\d)/g, '$1\u202f$2'); }
function popupContent(level, i) {
  var div = el('div', undefined, 'territory-popup'), per = val(level, 'footprint_kgco2e_per_inhabitant', i);
  div.appendChild(el('h2', level.names[i] + ' (' + level.codes[i] + ')'));
  var t = document.createElement('table'), total = val(level, 'footprint_tco2e', i);
  t.appendChild(row('Population', fmt.format(val(level, 'population', i)) + ' hab.'));
  t.appendChild(row('Empreinte numérique', fmt.format(total) + ' tCO₂e/an'));
  t.appendChild(row('Par habitant', fmt1.format(per) + ' kgCO₂e/an'));
  div.appendChild(t);
  div.appendChild(el('h3', 'Répartition de l’empreinte'));
  div.appendChild(stackedBar(level, i, 280));
  var legendTable = document.createElement('table');
  PARTS.forEach(function(p) {
    var tr = row('', fmt.format(val(level, p[0], i)) + ' tCO₂e (' + (total > 0 ? fmt.format(100 * val(level, p[0], i) / total) : '0') + ' %)');
    var sw = el('span', undefined, 'territory-swatch'); sw.style.background = p[2];
    tr.firstChild.appendChild(sw); tr.firstChild.appendChild(document.createTextNode(p[1]));
    legendTable.appendChild(tr);
  });
  div.appendChild(legendTable);
  div.appendChild(el('h3', 'Où sont émis les gaz à effet de serre'));
  div.appendChild(barChart([
    ['Sur le territoire', val(level, 'territorial_tco2e', i), '#e6550d', fmt.format(val(level, 'territorial_tco2e', i)) + ' t'],
    ['Ailleurs (déplacée)', val(level, 'displaced_tco2e', i), '#969696', fmt.format(val(level, 'displaced_tco2e', i)) + ' t']
  ], 280));
  var registry = [['antennas_count', 'Sites d’antennes'], ['datacenters_count', 'Centres de données'],
                  ['streetlights_count', 'Points lumineux'], ['cameras_count', 'Caméras'], ['sensors_count', 'Capteurs']]
    .filter(function(r) { return val(level, r[0], i) > 0; });
  if (registry.length) {
    div.appendChild(el('h3', 'Équipements recensés'));
    var rt = document.createElement('table');
    registry.forEach(function(r) { rt.appendChild(row(r[1], fmt.format(val(level, r[0], i)))); });
    div.appendChild(rt);
  }
  // comparison: communes with the communes of their population stratum (all of France);
  // other levels with the other territories of the level
  var cmp;
  if (level.values.stratum_rank && level.values.stratum_rank[i]) {
    cmp = {title: 'Comparaison avec les communes ' + keepNumbers(level.texts.population_stratum ? level.texts.population_stratum[i] : ''),
           median: val(level, 'stratum_median_kgco2e_per_inhabitant', i), rank: val(level, 'stratum_rank', i),
           n: val(level, 'stratum_communes_count', i), peers: 'communes de la strate en France'};
  } else if (val(level, 'population', i) > 0 && level.codes.length > 2) {
    var r = levelRank(level, i);
    cmp = {title: 'Comparaison avec les autres territoires (' + level.label + ')', median: r.median, rank: r.rank, n: r.n,
           peers: level.label.toLowerCase() + ' de la carte'};
  }
  if (cmp) {
    div.appendChild(el('h3', cmp.title));
    div.appendChild(barChart([
      ['Ce territoire', per, '#e6550d', fmt1.format(per)],
      ['Médiane', cmp.median, '#969696', fmt1.format(cmp.median)]
    ], 280));
    div.appendChild(el('div', 'Par habitant, en kgCO₂e/an. Rang ' + fmt.format(cmp.rank) + ' sur ' + fmt.format(cmp.n)
      + ' ' + cmp.peers + ' (1 = la plus faible empreinte par habitant).', 'territory-note territory-rank'));
  }
  return div;
}
var base = {}, groups = [], first = null;
function weightOf(level) { return level.layer === 'communes' ? 0.3 : 0.8; }
// a level's polygons are built when it is first shown: opening the map draws only the first
function build(group) {
  if (group.territoryBuilt) return;
  group.territoryBuilt = true;
  var level = decodeLevel(group.territoryLevel), features = decode(level.geometry), values = level.values[data.indicator];
  group.territoryLayers = [];
  features.forEach(function(polys, i) {
    // noClip: clipping every ring to the view at each redraw costs more than drawing the
    // few vertices outside it (the canvas only draws polygons whose bounds are in view)
    var poly = L.polygon(polys, {renderer: renderer, noClip: true, weight: weightOf(level),
      color: '#ffffff', opacity: 0.8, fillOpacity: data.tiles ? 0.6 : 0.85, fillColor: colour(values[i], level)});
    poly.featureIndex = i;
    group.territoryLayers.push(poly);
    group.addLayer(poly);
  });
}
function closeTooltips() { map.eachLayer(function(l) { if (l instanceof L.Tooltip) map.removeLayer(l); }); }
data.levels.forEach(function(level) {
  var group = L.featureGroup();
  group.on('mouseover', function(e) {
    e.layer.setStyle({weight: 2, color: '#333333'});
    e.layer.bringToFront();
    L.tooltip({sticky: true, direction: 'top', className: 'territory-tooltip-pane'})
      .setLatLng(e.latlng).setContent(tooltipContent(level, e.layer.featureIndex)).openOn(map);
  });
  group.on('mousemove', function(e) { map.eachLayer(function(l) { if (l instanceof L.Tooltip) l.setLatLng(e.latlng); }); });
  group.on('mouseout', function(e) {
    e.layer.setStyle({weight: weightOf(level), color: '#ffffff'});
    closeTooltips();
  });
  group.on('click', function(e) {
    closeTooltips();
    L.popup(POPUP).setLatLng(e.latlng).setContent(popupContent(level, e.layer.featureIndex)).openOn(map);
  });
  group.territoryLevel = level;
  group.on('add', function() { build(group); });
  base[level.label] = group;
  groups.push(group);
  if (!first) first = group;
});
var legend = L.control({position: 'bottomright'});
legend.onAdd = function() { this._div = L.DomUtil.create('div', 'territory-legend'); return this._div; };
legend.update = function(level) {
  var div = this._div; div.textContent = '';
  var title = el('strong', data.indicatorLabel + ' (' + data.unit + ') — ' + level.label, 'territory-legend-title');
  div.appendChild(title);
  var b = level.breaks, lows = [null].concat(b), highs = b.concat([null]), integer = data.integer[data.indicator];
  // limits shown with the decimals they were rounded to (class_breaks), at least one
  var decimals = b.reduce(function(d, x) { var s = String(x), dot = s.indexOf('.'); return Math.max(d, dot < 0 ? 0 : s.length - dot - 1); }, 1);
  var fmtb = new Intl.NumberFormat('fr-FR', {maximumFractionDigits: Math.min(decimals, 20)});
  for (var i = 0; i < lows.length; i++) {
    var line = document.createElement('div'), sw = document.createElement('i'), txt = document.createElement('span');
    sw.style.background = level.colours[i];
    if (lows[i] === null && highs[i] === null) {
      // no class limit (one value, or none): show the values' range, not "jusqu’à 0"
      var r = level.range || [];
      txt.textContent = !r.length ? 'aucune valeur' : r[0] === r[1] ? fmt1.format(r[0]) : fmt1.format(r[0]) + ' – ' + fmt1.format(r[1]);
    }
    else if (lows[i] === null && level.range && highs[i] === level.range[0]) txt.textContent = fmtb.format(highs[i]);
    else if (lows[i] === null) txt.textContent = 'jusqu’à ' + fmtb.format(highs[i]);
    else if (highs[i] === null) txt.textContent = 'plus de ' + fmtb.format(lows[i]);
    else if (integer) {
      // counts: a class (a, b] holds the whole numbers a + 1 to b
      var a = Math.floor(lows[i]) + 1, z = Math.floor(highs[i]);
      txt.textContent = a >= z ? fmtb.format(z) : fmtb.format(a) + ' – ' + fmtb.format(z);
    }
    else txt.textContent = fmtb.format(lows[i]) + ' – ' + fmtb.format(highs[i]);
    line.appendChild(sw); line.appendChild(txt); div.appendChild(line);
  }
  var n = level.codes.length;
  // the spread is relative to the median: meaningless when the median is 0 (most communes
  // without any antenna, say)
  var spreadText = level.spread > 0 || !level.range || level.range[0] === level.range[1]
    ? ' · écart du 5e au 95e centile : ' + fmt1.format(100 * level.spread) + ' %' : '';
  var note = el('div', 'Classes par quantiles · ' + fmt.format(n) + (n > 1 ? ' territoires' : ' territoire') + spreadText);
  note.style.color = '#555';
  div.appendChild(note);
  if (level.spread < 0.02 && n > 2 && data.intensive[data.indicator]) {
    // say why a per-inhabitant map is nearly uniform, rather than let it look broken
    var why = el('div', 'Les territoires diffèrent très peu : les taux d’équipement sont nationaux '
      + '(seul le smartphone varie avec la taille de la commune) ; la couverture en fibre '
      + '(source « fibre ») fait varier les réseaux. Voir la méthodologie.', 'territory-note territory-uniform');
    why.style.color = '#555'; why.style.maxWidth = '360px';
    div.appendChild(why);
  }
};
legend.addTo(map);
var titleBox = L.control({position: 'topleft'});
titleBox.onAdd = function() {
  var d = L.DomUtil.create('div', 'territory-title');
  d.appendChild(el('h1', data.title));
  if (data.subtitle) d.appendChild(el('p', data.subtitle));
  return d;
};
titleBox.addTo(map);
if (data.attribution && map.attributionControl) map.attributionControl.addAttribution(data.attribution);
// ---- registry points: markers (datacenters, sized by power) and clusters (antennas...)
var communeNames = {};
data.levels.forEach(function(level) { if (level.layer === 'communes') level.codes.forEach(function(c, i) { communeNames[c] = level.names[i]; }); });
function formatField(name, v) {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v !== 'number') return name === 'code_insee' ? (communeNames[v] ? communeNames[v] + ' (' + v + ')' : v) : String(v);
  if (name === 'source_line') return String(v);
  return (Math.abs(v) >= 100 ? fmt : fmt2).format(v);
}
function pointContent(layer, i) {
  var div = el('div', undefined, 'territory-popup'), t = document.createElement('table');
  div.appendChild(el('h2', layer.label));
  layer.order.forEach(function(name) {
    var text = formatField(name, layer.fields[name][i]);
    if (text !== null) t.appendChild(row(data.fieldLabels[name] || name, text));
  });
  div.appendChild(t);
  return div;
}
function pointsContent(layer, members) {
  var div = document.createElement('div');
  members.slice(0, 10).forEach(function(i) { div.appendChild(pointContent(layer, i)); });
  if (members.length > 10) div.appendChild(el('div', '… et ' + fmt.format(members.length - 10) + ' autres au même endroit', 'territory-note'));
  return div;
}
function decodePoints(layer) {
  if (layer.lat) return layer;
  var n = layer.count, lat = new Float64Array(n), lon = new Float64Array(n), mx = new Float64Array(n), my = new Float64Array(n), x = 0, y = 0;
  var xy = varints(layer.xy);
  for (var i = 0; i < n; i++) {
    x += xy[2 * i]; y += xy[2 * i + 1];
    lon[i] = x / data.pointScale; lat[i] = y / data.pointScale;
    // Web Mercator in [0, 1]: pixel = m * 256 * 2^zoom, so grids per zoom need no projection
    var s = Math.sin(lat[i] * Math.PI / 180);
    mx[i] = (lon[i] + 180) / 360; my[i] = 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
  }
  layer.fields = JSON.parse(layer.fields);
  for (var f in layer.fields) layer.fields[f] = decodeColumn(layer.fields[f], n);
  layer.lat = lat; layer.lon = lon; layer.mx = mx; layer.my = my;
  return layer;
}
function pointMarker(layer, i, members) {
  var size = layer.size ? layer.fields[layer.size][i] || 0 : 0;
  var radius = layer.size ? Math.min(22, 4 + 2.5 * Math.sqrt(size)) : 5;
  // a size that is not declared (a default value) is drawn pale, with a dashed outline
  var modelled = layer.sizeOrigin && layer.fields[layer.sizeOrigin] && layer.fields[layer.sizeOrigin][i] !== layer.sizeDeclared;
  var m = L.circleMarker([layer.lat[i], layer.lon[i]], {renderer: pointRenderer, radius: radius, color: modelled ? layer.colour : '#ffffff',
    weight: 1.5, dashArray: modelled ? '3 2' : null, fillColor: layer.colour, fillOpacity: modelled ? 0.35 : 0.85, pane: 'territoryPoints'});
  m.territoryIndex = i;
  m.bindPopup(function() { return members && members.length > 1 ? pointsContent(layer, members) : pointContent(layer, i); }, POPUP);
  return m;
}
var CELL = 56;
function clusterOverlay(layer) {
  var group = L.layerGroup(), cache = {};
  function clusters(zoom) {
    if (cache[zoom]) return cache[zoom];
    var size = 256 * Math.pow(2, zoom) / CELL, cells = new Map(), out = [];
    for (var i = 0; i < layer.count; i++) {
      var key = Math.floor(layer.mx[i] * size) * 4194304 + Math.floor(layer.my[i] * size), c = cells.get(key);
      if (!c) { c = {members: [], lat: 0, lon: 0, s: 90, w: 180, n: -90, e: -180}; cells.set(key, c); out.push(c); }
      c.members.push(i); c.lat += layer.lat[i]; c.lon += layer.lon[i];
      if (layer.lat[i] < c.s) c.s = layer.lat[i]; if (layer.lat[i] > c.n) c.n = layer.lat[i];
      if (layer.lon[i] < c.w) c.w = layer.lon[i]; if (layer.lon[i] > c.e) c.e = layer.lon[i];
    }
    out.forEach(function(c) { c.lat /= c.members.length; c.lon /= c.members.length; });
    cache[zoom] = out;
    return out;
  }
  function redraw() {
    group.clearLayers();
    var view = map.getBounds().pad(0.25), zoom = map.getZoom();
    clusters(zoom).forEach(function(c) {
      if (!view.contains([c.lat, c.lon])) return;
      var together = c.n - c.s < 1e-5 && c.e - c.w < 1e-5;
      if (c.members.length === 1 || together) { group.addLayer(pointMarker(layer, c.members[0], c.members)); return; }
      var d = Math.round(22 + 6 * Math.log10(c.members.length)), label = el('span', fmt.format(c.members.length));
      var box = el('div'); box.className = 'territory-cluster'; box.style.width = box.style.height = d + 'px';
      box.style.background = layer.colour; box.appendChild(label);
      var m = L.marker([c.lat, c.lon], {icon: L.divIcon({html: box, className: 'territory-cluster-icon', iconSize: [d, d]}),
        title: layer.label + ' : ' + c.members.length, keyboard: false});
      m.territoryCluster = c;
      m.on('click', function() { map.fitBounds([[c.s, c.w], [c.n, c.e]], {padding: [40, 40], maxZoom: map.getMaxZoom()}); });
      group.addLayer(m);
    });
  }
  group.on('add', function() { decodePoints(layer); map.on('zoomend moveend', redraw); redraw(); });
  group.on('remove', function() { map.off('zoomend moveend', redraw); });
  return group;
}
var overlays = {}, pointGroups = [];
if (data.tiles) {
  // optional base map (asked for with --map-tiles): the only thing the map ever fetches
  var tiles = L.tileLayer(data.tiles.url, {attribution: data.tiles.attribution, maxZoom: 19}).addTo(map);
  var tilesKey = el('span', data.tiles.label);
  overlays[tilesKey.innerHTML] = tiles;
}
function markerOverlay(layer) {
  var group = L.featureGroup();
  group.on('add', function() {
    if (group.getLayers().length) return;
    decodePoints(layer);
    // largest first, so small markers stay on top and clickable
    var idx = []; for (var i = 0; i < layer.count; i++) idx.push(i);
    if (layer.size) idx.sort(function(a, b) { return (layer.fields[layer.size][b] || 0) - (layer.fields[layer.size][a] || 0); });
    idx.forEach(function(i) { group.addLayer(pointMarker(layer, i)); });
  });
  return group;
}
data.points.forEach(function(layer) {
  var group = layer.cluster ? clusterOverlay(layer) : markerOverlay(layer);
  group.territoryPoints = layer;
  var key = document.createElement('span'), sw = el('span', undefined, 'territory-swatch');
  sw.style.background = layer.colour; key.appendChild(sw);
  key.appendChild(document.createTextNode(layer.label + ' (' + fmt.format(layer.count) + ')'));
  if (layer.note) { var note = el('div', layer.note, 'territory-note'); note.style.fontSize = '11px'; note.style.color = '#555'; key.appendChild(note); }
  overlays[key.innerHTML] = group;
  pointGroups.push(group);
});
L.control.layers(base, overlays, {collapsed: false, position: 'topright'}).addTo(map);
map.on('baselayerchange', function(e) { legend.update(e.layer.territoryLevel); });
// indicator switch: recolour every level with that indicator's classes
function showIndicator(column) {
  var ind = data.indicators.filter(function(x) { return x.column === column; })[0];
  if (!ind) return;
  data.indicator = ind.column; data.indicatorLabel = ind.label; data.unit = ind.unit;
  var select = document.querySelector('.territory-indicator select');
  if (select && select.value !== column) select.value = column;
  groups.forEach(function(group) {
    var lvl = decodeLevel(group.territoryLevel), c = lvl.classes[column], values = lvl.values[column];
    lvl.breaks = c.breaks; lvl.colours = c.colours; lvl.spread = c.spread; lvl.range = c.range;
    // levels not built yet take the indicator's colours when they are
    group.eachLayer(function(p) { p.setStyle({fillColor: colour(values[p.featureIndex], lvl)}); });
    if (map.hasLayer(group)) legend.update(lvl);
  });
}
if (data.indicators.length > 1) {
  var picker = L.control({position: 'topright'});
  picker.onAdd = function() {
    var div = L.DomUtil.create('div', 'territory-indicator'), label = el('label', 'Indicateur ');
    var select = document.createElement('select');
    label.appendChild(select); div.appendChild(label);
    data.indicators.forEach(function(ind) {
      var o = el('option', ind.label + ' (' + ind.unit + ')'); o.value = ind.column;
      select.appendChild(o);
    });
    select.value = data.indicator;
    select.addEventListener('change', function() { showIndicator(select.value); });
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  picker.addTo(map);
}
// ---- search a commune by name or INSEE code
function fold(s) { return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[-'’\s]+/g, ' ').trim(); }
var searchGroup = groups.filter(function(g) { return g.territoryLevel.layer === 'communes'; })[0] || first, searchIndex = null;
function searchCommunes(query) {
  var level = decodeLevel(searchGroup.territoryLevel), q = fold(query);
  if (!q) return [];
  if (!searchIndex) searchIndex = level.names.map(fold);
  var starts = [], contains = [];
  for (var i = 0; i < level.codes.length; i++) {
    var name = searchIndex[i];
    if (level.codes[i] === query.trim().toUpperCase() || name === q) starts.unshift(i);
    else if (name.indexOf(q) === 0 || level.codes[i].indexOf(query.trim().toUpperCase()) === 0) starts.push(i);
    else if (name.indexOf(q) > 0) contains.push(i);
  }
  var pop = level.values.population, byPop = function(a, b) { return pop[b] - pop[a]; };
  var exact = starts.filter(function(i) { return searchIndex[i] === q || level.codes[i] === query.trim().toUpperCase(); });
  var rest = starts.filter(function(i) { return exact.indexOf(i) < 0; }).sort(byPop);
  return exact.sort(byPop).concat(rest, contains.sort(byPop)).slice(0, 10);
}
function focusFeature(group, i) {
  if (!map.hasLayer(group)) {
    groups.forEach(function(g) { if (map.hasLayer(g)) map.removeLayer(g); });
    group.addTo(map);
    legend.update(group.territoryLevel);
  }
  build(group);
  var poly = group.territoryLayers[i], level = group.territoryLevel;
  map.fitBounds(poly.getBounds(), {maxZoom: 12, animate: false, paddingBottomRight: [260, 0]});
  L.popup(POPUP).setLatLng(poly.getCenter()).setContent(popupContent(level, i)).openOn(map);
  return poly;
}
var search = L.control({position: 'topleft'});
search.onAdd = function() {
  var div = L.DomUtil.create('div', 'territory-search'), input = document.createElement('input'), list = document.createElement('ul');
  input.type = 'search'; input.placeholder = 'Commune ou code INSEE…';
  input.setAttribute('aria-label', 'Rechercher une commune');
  div.appendChild(input); div.appendChild(list);
  var found = [], active = 0;
  function pick(k) { if (found[k] === undefined) return; list.textContent = ''; input.value = searchGroup.territoryLevel.names[found[k]]; focusFeature(searchGroup, found[k]); }
  function show() {
    list.textContent = ''; found = searchCommunes(input.value); active = 0;
    var level = searchGroup.territoryLevel;
    if (input.value.trim() && !found.length) list.appendChild(el('li', 'Aucune commune trouvée', 'territory-none'));
    found.forEach(function(i, k) {
      var li = el('li', level.names[i] + ' (' + level.codes[i] + ')');
      if (k === 0) li.className = 'active';
      li.addEventListener('click', function() { pick(k); });
      list.appendChild(li);
    });
  }
  input.addEventListener('input', show);
  input.addEventListener('keydown', function(e) {
    if (e.key === 'Enter') { e.preventDefault(); if (!found.length) show(); pick(active); }
    else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      active = Math.max(0, Math.min(found.length - 1, active + (e.key === 'ArrowDown' ? 1 : -1)));
      Array.prototype.forEach.call(list.children, function(li, k) { li.className = k === active ? 'active' : ''; });
    }
    else if (e.key === 'Escape') { list.textContent = ''; }
  });
  L.DomEvent.disableClickPropagation(div);
  L.DomEvent.disableScrollPropagation(div);
  return div;
};
search.addTo(map);
if (first) {
  // frame the view before adding the polygons, without animation: they are projected and
  // drawn once (adding them first, then fitting, projected and drew them all twice)
  build(first);
  var bounds = first.getBounds();
  var metro = L.latLngBounds([41.2, -5.5], [51.2, 9.8]);
  map.fitBounds(metro.contains(bounds) || !metro.intersects(bounds) ? bounds : metro, {animate: false, paddingBottomRight: [260, 0]});
  first.addTo(map);
  legend.update(first.territoryLevel);
}
// registry layers shown at opening go on the map once it is framed: added before, they made
// the map draw at folium's initial view first (about 0.3 s more for all of France)
pointGroups.forEach(function(g) { if (g.territoryPoints.shown) g.addTo(map); });
window.territoryMap = {map: map, groups: groups, data: data, showIndicator: showIndicator, pointGroups: pointGroups,
  searchCommunes: searchCommunes, focusFeature: focusFeature, popupContent: popupContent};
"""
