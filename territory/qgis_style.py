"""QGIS style documents (QML), built one way: with ``xml.etree``.

Used for the GeoPackage's vector styles (:mod:`territory.geopackage`: graduated, categorised and
single-symbol renderers with French field aliases), for the density raster's style
(:mod:`territory.density`: a discrete pseudocolour ramp) and for the QGIS layer metadata
documents. Every text and attribute is escaped by the XML serialiser; the same arguments give
the same bytes (attributes in the order written, no time stamp).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence

#: the document type QGIS writes before a style or metadata document
DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
#: the QGIS version vector styles are written for (the oldest QGIS tested, 3.22)
VECTOR_VERSION = "3.22.0"
#: QGIS renderer settings of each classification method of the catalogue
_CLASSIFICATIONS = {"quantile": ("quantile", "Quantile")}


def rgba(hex_colour: str) -> str:
    """``#rrggbb`` as QGIS writes a colour: ``r,g,b,255``."""
    h = hex_colour.lstrip("#")
    return ",".join(str(int(h[i : i + 2], 16)) for i in (0, 2, 4)) + ",255"


def document(**attrib: str) -> ET.Element:
    """An empty ``<qgis>`` root element with ``attrib`` (version first)."""
    return ET.Element("qgis", attrib)


def to_qml(root: ET.Element, *, indent: bool = False) -> str:
    """The document as QGIS reads it: the doctype, then ``root``; ``indent``: one element per
    line, and a final newline."""
    if indent:
        ET.indent(root)
        return DOCTYPE + "\n" + ET.tostring(root, encoding="unicode") + "\n"
    return DOCTYPE + ET.tostring(root, encoding="unicode")


def add(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    """A child element of ``parent`` with ``attrib`` and optional ``text``."""
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = text
    return element


def options(parent: ET.Element, values: Iterable[tuple[str, str]]) -> ET.Element:
    """An ``<Option type="Map">`` of QString options (QGIS's settings of a symbol layer or a
    colour ramp), in the order given."""
    option_map = add(parent, "Option", type="Map")
    for name, value in values:
        add(option_map, "Option", type="QString", name=name, value=value)
    return option_map


# --- vector styles ------------------------------------------------------------------------

def _symbol(parent: ET.Element, kind: str, name: int, layer_class: str,
            settings: Sequence[tuple[str, str]]) -> None:
    symbol = add(parent, "symbol", type=kind, name=str(name), alpha="1", clip_to_extent="1",
                 force_rhr="0")
    layer = add(symbol, "layer", **{"class": layer_class, "enabled": "1", "locked": "0",
                                    "pass": "0"})
    options(layer, settings)


def fill_symbol(parent: ET.Element, name: int, colour: str) -> None:
    """A solid polygon fill with a thin white outline."""
    _symbol(parent, "fill", name, "SimpleFill", [
        ("color", rgba(colour)), ("outline_color", "255,255,255,255"),
        ("outline_style", "solid"), ("outline_width", "0.1"), ("outline_width_unit", "MM"),
        ("style", "solid")])


def marker_symbol(parent: ET.Element, name: int, colour: str, size_mm: float) -> None:
    """A round marker of ``size_mm`` millimetres with a white outline."""
    _symbol(parent, "marker", name, "SimpleMarker", [
        ("color", rgba(colour)), ("name", "circle"), ("outline_color", "255,255,255,255"),
        ("outline_style", "solid"), ("outline_width", "0.2"), ("outline_width_unit", "MM"),
        ("scale_method", "diameter"), ("size", str(size_mm)), ("size_unit", "MM")])


def _renderer(root: ET.Element, kind: str, **attrib: str) -> ET.Element:
    return add(root, "renderer-v2", type=kind, **attrib, symbollevels="0", enableorderby="0",
               forceraster="0")


def _vector_qml(root: ET.Element, columns: Sequence[str], aliases: Mapping[str, str],
                geometry_type: int) -> str:
    """Close a vector style: French aliases of the known ``columns``, the geometry type."""
    alias_list = add(root, "aliases")
    for i, column in enumerate(columns):
        if column in aliases:
            add(alias_list, "alias", field=column, index=str(i), name=aliases[column])
    add(root, "layerGeometryType", str(geometry_type))
    return to_qml(root)


def graduated_qml(field: str, ranges: Sequence[tuple[float, float, str]], symbols: Sequence[
        tuple[str, float | None]], *, method: str, classification: str, columns: Sequence[str],
        aliases: Mapping[str, str], geometry_type: int) -> str:
    """A graduated renderer on ``field``: one range (lower, upper, label) per class, drawn with
    the matching symbol (colour, and marker size in mm, or None for a polygon fill).

    ``method``: ``GraduatedColor`` or ``GraduatedSize``; ``classification``: a method of the
    catalogue (``quantile``); ``geometry_type``: 0 points, 2 polygons.
    """
    root = document(version=VECTOR_VERSION, styleCategories="AllStyleCategories")
    renderer = _renderer(root, "graduatedSymbol", attr=field, graduatedMethod=method)
    range_list = add(renderer, "ranges")
    for i, (lower, upper, label) in enumerate(ranges):
        add(range_list, "range", lower=repr(float(lower)), upper=repr(float(upper)),
            symbol=str(i), label=label, render="true")
    _symbols(renderer, symbols)
    mode, method_id = _CLASSIFICATIONS[classification]
    add(renderer, "mode", name=mode)
    add(renderer, "classificationMethod", id=method_id)
    return _vector_qml(root, columns, aliases, geometry_type)


def _symbols(renderer: ET.Element, symbols: Sequence[tuple[str, float | None]]) -> None:
    symbol_list = add(renderer, "symbols")
    for i, (colour, size_mm) in enumerate(symbols):
        if size_mm is None:
            fill_symbol(symbol_list, i, colour)
        else:
            marker_symbol(symbol_list, i, colour, size_mm)


def categorized_qml(field: str, categories: Sequence[tuple[str, str, str]], *, size_mm: float,
                    columns: Sequence[str], aliases: Mapping[str, str]) -> str:
    """A point layer with one marker colour per value of ``field`` (``categories``: value,
    French label, colour; the value ``""`` is what QGIS draws for missing values)."""
    root = document(version=VECTOR_VERSION, styleCategories="AllStyleCategories")
    renderer = _renderer(root, "categorizedSymbol", attr=field)
    category_list = add(renderer, "categories")
    for i, (value, label, _) in enumerate(categories):
        add(category_list, "category", value=value, label=label, symbol=str(i), render="true")
    _symbols(renderer, [(colour, size_mm) for _, _, colour in categories])
    return _vector_qml(root, columns, aliases, 0)


def single_marker_qml(colour: str, *, size_mm: float, columns: Sequence[str],
                      aliases: Mapping[str, str]) -> str:
    """A point layer drawn with one round marker."""
    root = document(version=VECTOR_VERSION, styleCategories="AllStyleCategories")
    _symbols(_renderer(root, "singleSymbol"), [(colour, size_mm)])
    return _vector_qml(root, columns, aliases, 0)


# --- raster style -------------------------------------------------------------------------

#: the QGIS version the raster style is written for
RASTER_VERSION = "3.22.16-Białowieża"


def raster_classes_qml(classes: Sequence[tuple[str, str, str]], palette: Sequence[str],
                       minimum: float, maximum: float, notes: str | None = None) -> str:
    """A single-band raster drawn with discrete colour classes (QGIS's singleband
    pseudocolor renderer), one element per line.

    ``classes``: (upper limit as QGIS reads it, ``inf`` for the last; French label; colour);
    ``palette``: the colour ramp the classes were taken from; ``minimum``, ``maximum``: the
    classification range. Nodata cells are not drawn (transparent). ``notes``: the layer's
    notes (QGIS shows a notes icon beside the layer, its text as a tooltip).
    """
    root = document(version=RASTER_VERSION, styleCategories="AllStyleCategories",
                    hasScaleBasedVisibilityFlag="0", minScale="1e+08", maxScale="0")
    flags = add(root, "flags")
    for name, value in (("Identifiable", "1"), ("Removable", "1"), ("Searchable", "1"),
                        ("Private", "0")):
        add(flags, name, value)
    if notes:
        # where QGIS (3.20+) keeps a layer's notes in a style: the "Notes" style category
        add(root, "userNotes", value=notes)
    pipe = add(root, "pipe")
    provider = add(pipe, "provider")
    add(provider, "resampling", enabled="false", maxOversampling="2",
        zoomedInResamplingMethod="nearestNeighbour",
        zoomedOutResamplingMethod="nearestNeighbour")
    renderer = add(pipe, "rasterrenderer", type="singlebandpseudocolor", band="1", opacity="1",
                   alphaBand="-1", classificationMin=repr(minimum),
                   classificationMax=repr(maximum), nodataColor="")
    add(renderer, "rasterTransparency")
    origin = add(renderer, "minMaxOrigin")
    for name, value in (("limits", "None"), ("extent", "WholeRaster"),
                        ("statAccuracy", "Estimated"), ("cumulativeCutLower", "0.02"),
                        ("cumulativeCutUpper", "0.98"), ("stdDevFactor", "2")):
        add(origin, name, value)
    shader = add(renderer, "rastershader")
    ramp = add(shader, "colorrampshader", colorRampType="DISCRETE", classificationMode="1",
               clip="0", minimumValue=repr(minimum), maximumValue=repr(maximum),
               labelPrecision="2")
    gradient = add(ramp, "colorramp", type="gradient", name="[source]")
    stops = ":".join(f"{i / (len(palette) - 1):.4f};{rgba(c)}"
                     for i, c in enumerate(palette[1:-1], start=1))
    options(gradient, [("color1", rgba(palette[0])), ("color2", rgba(palette[-1])),
                       ("discrete", "0"), ("rampType", "gradient"), ("stops", stops)])
    for upper, label, colour in classes:
        add(ramp, "item", alpha="255", value=upper, label=label, color=colour)
    add(ramp, "rampLegendSettings", useContinuousLegend="0", minimumLabel="", maximumLabel="",
        prefix="", suffix="", direction="0", orientation="2")
    add(pipe, "brightnesscontrast", brightness="0", contrast="0", gamma="1")
    add(pipe, "huesaturation", saturation="0", grayscaleMode="0", colorizeOn="0",
        colorizeRed="255", colorizeGreen="128", colorizeBlue="128", colorizeStrength="100",
        invertColors="0")
    add(pipe, "rasterresampler", maxOversampling="2")
    add(pipe, "resamplingStage", "resamplingFilter")
    add(root, "blendMode", "0")
    return to_qml(root, indent=True)
