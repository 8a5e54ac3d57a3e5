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

import json
import tomllib
from dataclasses import dataclass
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
#: attributes sent to the browser for each feature (tooltip and colours)
MAP_COLUMNS = (
    "population",
    "footprint_tco2e",
    "footprint_kgco2e_per_inhabitant",
    "devices_tco2e",
    "networks_tco2e",
    "datacenters_tco2e",
    "territorial_tco2e",
    "displaced_tco2e",
)


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
        Column name -> one number per feature (``MAP_COLUMNS``).
    geometries
        Shapely (Multi)Polygons in EPSG:4326, one per feature.
    """

    layer: str
    label: str
    codes: list[str]
    names: list[str]
    values: dict[str, list[float]]
    geometries: np.ndarray


def load_map_definition(path: Path) -> dict[str, Any]:
    """Read a map definition TOML file of ``maps/``."""
    try:
        definition = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        msg = f"{path}: cannot read the map definition ({error})"
        raise ConfigError(msg) from error
    for key in ("title", "indicator", "indicator_label", "indicator_unit", "palette", "levels"):
        if key not in definition:
            msg = f"{path}: key {key!r} is missing"
            raise ConfigError(msg)
    return definition


def class_breaks(values: np.ndarray, palette_size: int, min_width_share: float = 0.0) -> list[float]:
    """Quantile class limits strictly between the minimum and the maximum, duplicates removed.

    Quantiles keep contrast where a linear scale would let a few large values wash out the rest.
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
    qs = np.quantile(finite, np.linspace(0, 1, palette_size + 1)[1:-1])
    candidates = sorted({b for b in (round(float(q), decimals) for q in qs) if lo < b < hi})
    min_width = min_width_share * abs(float(np.median(finite)))
    kept: list[float] = []
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


def encode_geometries(geometries: np.ndarray, scale: int = COORDINATE_SCALE) -> dict[str, list[int]]:
    """Encode polygons as integer deltas (``scale`` steps per degree) plus ring / polygon /
    feature lengths."""
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
        "d": deltas.tolist(),
        "r": np.diff(ring_offsets).tolist(),
        "p": np.diff(polygon_offsets).tolist(),
        "f": np.diff(feature_offsets).tolist(),
    }


def _indicators(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The indicators of a map definition, the default one first."""
    listed = definition.get("indicators") or [{
        "column": definition["indicator"], "label": definition["indicator_label"],
        "unit": definition["indicator_unit"], "intensive": True,
    }]
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


def _level_payload(level: MapLevel, definition: dict[str, Any], scale: int) -> dict[str, Any]:
    population = np.asarray(level.values["population"], dtype=float)
    classes = {
        ind["column"]: _classes(np.asarray(level.values[ind["column"]], dtype=float), population, ind, definition)
        for ind in _indicators(definition)
    }
    return {
        "layer": level.layer,
        "label": level.label,
        "codes": level.codes,
        "names": level.names,
        "values": {k: _rounded(k, vals) for k, vals in level.values.items()},
        "classes": classes,
        **classes[definition["indicator"]],
        "geometry": encode_geometries(level.geometries, scale),
    }


def _rounded(column: str, values: list[float]) -> list[float] | list[int]:
    """Per-inhabitant values to 0.1, totals to the unit: what a tooltip shows, nothing more."""
    array = np.asarray(values, dtype=float)
    if column.endswith("_per_inhabitant"):
        return np.round(array, 1).tolist()
    return np.round(array).astype(np.int64).tolist()


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
    tolerance_m: float = 60.0,
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
    # only Leaflet: folium's default jQuery/Bootstrap/Font Awesome come from CDNs and are unused
    fmap.default_js = []
    fmap.default_css = []
    root = fmap.get_root()
    # Leaflet itself is put in after rendering: passed through Jinja it would be compiled as a
    # template (slow, and a "{{" in the library would be read as template syntax)
    root.header.add_child(Element(f'<meta charset="utf-8"/>{_ASSETS_MARK}<style>{_CSS}</style>'),
                          name="territory_assets")
    root.title = definition["title"]

    scale = coordinate_scale(tolerance_m)
    payload = {
        "title": definition["title"],
        "indicator": definition["indicator"],
        "indicatorLabel": definition["indicator_label"],
        "unit": definition["indicator_unit"],
        "indicators": [{k: ind[k] for k in ("column", "label", "unit")} for ind in _indicators(definition)],
        "palette": definition["palette"],
        "scale": scale,
        "levels": [_level_payload(level, definition, scale) for level in levels],
    }
    # sent as a string for JSON.parse: V8 parses JSON much faster than the same data written as
    # a JavaScript object literal (about 0.3 s of CPU less for all of France)
    data = json.dumps(json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
                      ensure_ascii=False).replace("</", "<\\/")

    class _FootprintLayers(MacroElement):
        # the data is put in after rendering: branca re-reads a rendered script as a Jinja
        # template, which would compile megabytes of JSON (and read "{{" in a name as syntax)
        _template = Template(
            "{% macro script(this, kwargs) %}\n"
            "(function(map, data){" + _JS + "})({{ this._parent.get_name() }}, JSON.parse("
            + _DATA_MARK + "));\n"
            "{% endmacro %}"
        )

    fmap.add_child(_FootprintLayers())
    html = root.render()
    html = html.replace(_DATA_MARK, data, 1)
    return html.replace(_ASSETS_MARK, css + js, 1)


_ASSETS_MARK = "<!-- territory: leaflet assets -->"
_DATA_MARK = "/* territory: map data */"

_CSS = """
.territory-legend, .territory-title, .territory-indicator { background: rgba(255,255,255,0.92); padding: 6px 10px;
  border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); font: 13px/1.4 system-ui, sans-serif; }
.territory-legend i { display: inline-block; width: 18px; height: 12px; margin-right: 6px;
  vertical-align: middle; border: 1px solid #999; }
.territory-title h1 { font-size: 15px; margin: 0; }
.territory-tooltip table { border-collapse: collapse; }
.territory-tooltip td { padding: 0 4px; }
.territory-tooltip td.n { text-align: right; }
.leaflet-container { background: #dfe8ef; }
"""

_JS = r"""
var fmt = new Intl.NumberFormat('fr-FR', {maximumFractionDigits: 0});
var fmt1 = new Intl.NumberFormat('fr-FR', {maximumFractionDigits: 1});
var renderer = L.canvas({padding: 0.1, tolerance: 2});
function colour(v, level) {
  for (var i = 0; i < level.breaks.length; i++) { if (v <= level.breaks[i]) return level.colours[i]; }
  return level.colours[level.breaks.length];
}
function decode(g) {
  var d = g.d, xy = new Array(d.length), x = 0, y = 0;
  for (var i = 0; i < d.length; i += 2) { x += d[i]; y += d[i + 1]; xy[i] = x / data.scale; xy[i + 1] = y / data.scale; }
  var features = [], p = 0, r = 0, k = 0;
  for (var f = 0; f < g.f.length; f++) {
    var polys = [];
    for (var pe = p + g.f[f]; p < pe; p++) {
      var rings = [];
      for (var re = r + g.p[p]; r < re; r++) {
        var ring = [];
        for (var ke = k + g.r[r]; k < ke; k++) ring.push(new L.LatLng(xy[2 * k + 1], xy[2 * k]));
        rings.push(ring);
      }
      polys.push(rings);
    }
    features.push(polys);
  }
  return features;
}
function row(label, value) {
  var tr = document.createElement('tr'), a = document.createElement('td'), b = document.createElement('td');
  a.textContent = label; b.textContent = value; b.className = 'n'; tr.appendChild(a); tr.appendChild(b); return tr;
}
function tooltipContent(level, i) {
  var v = level.values, div = document.createElement('div'), h = document.createElement('strong');
  div.className = 'territory-tooltip';
  h.textContent = level.names[i] + ' (' + level.codes[i] + ')';
  div.appendChild(h);
  var t = document.createElement('table'), total = v.footprint_tco2e[i] || 0;
  function share(x) { return total > 0 ? ' (' + fmt.format(100 * x / total) + ' %)' : ''; }
  t.appendChild(row('Population', fmt.format(v.population[i])));
  t.appendChild(row('Empreinte totale', fmt.format(total) + ' tCO₂e/an'));
  t.appendChild(row('Par habitant', fmt1.format(v.footprint_kgco2e_per_inhabitant[i]) + ' kgCO₂e/an'));
  t.appendChild(row('Terminaux', fmt.format(v.devices_tco2e[i]) + ' tCO₂e' + share(v.devices_tco2e[i])));
  t.appendChild(row('Réseaux', fmt.format(v.networks_tco2e[i]) + ' tCO₂e' + share(v.networks_tco2e[i])));
  t.appendChild(row('Centres de données', fmt.format(v.datacenters_tco2e[i]) + ' tCO₂e' + share(v.datacenters_tco2e[i])));
  t.appendChild(row('Émissions sur le territoire', fmt.format(v.territorial_tco2e[i]) + ' tCO₂e'));
  t.appendChild(row('Pollution déplacée', fmt.format(v.displaced_tco2e[i]) + ' tCO₂e'));
  div.appendChild(t);
  return div;
}
var base = {}, groups = [], first = null;
// a level's polygons are built when it is first shown: opening the map draws only the first
function build(group) {
  if (group.territoryBuilt) return;
  group.territoryBuilt = true;
  var level = group.territoryLevel, features = decode(level.geometry), values = level.values[data.indicator];
  features.forEach(function(polys, i) {
    var poly = L.polygon(polys, {renderer: renderer, weight: level.layer === 'communes' ? 0.3 : 0.8,
      color: '#ffffff', opacity: 0.8, fillOpacity: 0.85, fillColor: colour(values[i], level)});
    poly.featureIndex = i;
    group.addLayer(poly);
  });
}
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
    e.layer.setStyle({weight: level.layer === 'communes' ? 0.3 : 0.8, color: '#ffffff'});
    map.eachLayer(function(l) { if (l instanceof L.Tooltip) map.removeLayer(l); });
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
  var title = document.createElement('strong');
  title.textContent = data.indicatorLabel + ' (' + data.unit + ') — ' + level.label;
  title.className = 'territory-legend-title';
  div.appendChild(title);
  var b = level.breaks, lows = [null].concat(b), highs = b.concat([null]);
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
    else if (lows[i] === null) txt.textContent = 'jusqu’à ' + fmtb.format(highs[i]);
    else if (highs[i] === null) txt.textContent = 'plus de ' + fmtb.format(lows[i]);
    else txt.textContent = fmtb.format(lows[i]) + ' – ' + fmtb.format(highs[i]);
    line.appendChild(sw); line.appendChild(txt); div.appendChild(line);
  }
  var note = document.createElement('div');
  var n = level.codes.length;
  note.textContent = 'Classes par quantiles · ' + fmt.format(n) + (n > 1 ? ' territoires' : ' territoire')
    + ' · écart du 5e au 95e centile : ' + fmt1.format(100 * level.spread) + ' %';
  note.style.color = '#555';
  div.appendChild(note);
};
legend.addTo(map);
var titleBox = L.control({position: 'topleft'});
titleBox.onAdd = function() { var d = L.DomUtil.create('div', 'territory-title'), h = document.createElement('h1'); h.textContent = data.title; d.appendChild(h); return d; };
titleBox.addTo(map);
L.control.layers(base, null, {collapsed: false, position: 'topright'}).addTo(map);
map.on('baselayerchange', function(e) { legend.update(e.layer.territoryLevel); });
// indicator switch: recolour every level with that indicator's classes
function showIndicator(column) {
  var ind = data.indicators.filter(function(x) { return x.column === column; })[0];
  if (!ind) return;
  data.indicator = ind.column; data.indicatorLabel = ind.label; data.unit = ind.unit;
  groups.forEach(function(group) {
    var lvl = group.territoryLevel, c = lvl.classes[column], values = lvl.values[column];
    lvl.breaks = c.breaks; lvl.colours = c.colours; lvl.spread = c.spread; lvl.range = c.range;
    // levels not built yet take the indicator's colours when they are
    group.eachLayer(function(p) { p.setStyle({fillColor: colour(values[p.featureIndex], lvl)}); });
    if (map.hasLayer(group)) legend.update(lvl);
  });
}
if (data.indicators.length > 1) {
  var picker = L.control({position: 'topright'});
  picker.onAdd = function() {
    var div = L.DomUtil.create('div', 'territory-indicator'), label = document.createElement('label');
    var select = document.createElement('select');
    label.textContent = 'Indicateur '; label.appendChild(select); div.appendChild(label);
    data.indicators.forEach(function(ind) {
      var o = document.createElement('option'); o.value = ind.column; o.textContent = ind.label + ' (' + ind.unit + ')';
      select.appendChild(o);
    });
    select.value = data.indicator;
    select.addEventListener('change', function() { showIndicator(select.value); });
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  picker.addTo(map);
}
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
window.territoryMap = {map: map, groups: groups, data: data, showIndicator: showIndicator};
"""
