"""Open GeoPackage layers in a real QGIS and print what QGIS sees, as JSON on stdout.

Run with the system Python that has the ``qgis`` bindings (not the project's interpreter)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_probe.py OUT/territory.gpkg \
        communes epci departements regions

For each layer it reports validity, feature count, CRS, geometry type, the renderer QGIS
applied on its own when the layer was added, and then - on a second instance created with
``loadDefaultStyle=False`` so nothing is pre-applied - the result of an explicit
``loadDefaultStyle()`` with the renderer and field aliases it produced, and how many features
fall in each graduated class (or in none).

It also reports every style the provider lists in the GeoPackage's ``layer_styles`` table
(``listStylesInDatabase()``): its name and description, whether it is the one the provider
loads as default (its QML equals ``loadStyle()``'s), and what QGIS makes of it when it is
loaded on a fresh layer (``getStyleFromDatabase()`` then ``importNamedStyle()``): renderer,
class attribute, classes and their labels, aliases, and how many features the renderer would
not draw. Finally the layer metadata QGIS shows (Layer Properties > Metadata and Information:
title, abstract, keywords, history, CRS, extent, ``htmlMetadata()``) and the metadata GDAL -
the GDAL QGIS runs on - reads for the dataset and the layer.

The assertions live in tests/test_qgis.py; this script only observes. It imports nothing from
``territory``.
"""

from __future__ import annotations

import json
import sys

#: numeric field whose graduated classes are checked feature by feature (--field to change)
DEFAULT_FIELD = "footprint_kgco2e_per_inhabitant"


def _symbol(symbol) -> dict:
    from qgis.core import QgsMarkerSymbol

    if symbol is None:
        return {"color": None, "size": None}
    return {"color": symbol.color().name(),
            "size": symbol.size() if isinstance(symbol, QgsMarkerSymbol) else None}


def _renderer(layer) -> dict:
    from qgis.core import (
        QgsCategorizedSymbolRenderer,
        QgsGraduatedSymbolRenderer,
        QgsSingleSymbolRenderer,
    )

    renderer = layer.renderer()
    out: dict = {"type": renderer.type() if renderer else None}
    if isinstance(renderer, QgsGraduatedSymbolRenderer):
        method = renderer.classificationMethod()
        graduated = renderer.graduatedMethod()
        out.update(
            class_attribute=renderer.classAttribute(),
            classification_method=method.id() if method else None,
            graduated_method=("size" if graduated == QgsGraduatedSymbolRenderer.GraduatedSize
                              else "color"),
            ranges=[
                {
                    "lower": r.lowerValue(),
                    "upper": r.upperValue(),
                    "label": r.label(),
                    "render": r.renderState(),
                    "symbol_color": r.symbol().color().name() if r.symbol() else None,
                    "symbol_size": _symbol(r.symbol())["size"],
                }
                for r in renderer.ranges()
            ],
        )
    elif isinstance(renderer, QgsCategorizedSymbolRenderer):
        out.update(
            class_attribute=renderer.classAttribute(),
            categories=[
                {
                    "value": None if c.value() is None else str(c.value()),
                    "label": c.label(),
                    "render": c.renderState(),
                    "symbol_color": _symbol(c.symbol())["color"],
                }
                for c in renderer.categories()
            ],
        )
    elif isinstance(renderer, QgsSingleSymbolRenderer):
        out["symbol"] = _symbol(renderer.symbol())
    return out


def _drawn(layer) -> dict:
    """How many features the layer's renderer would draw, and would not (a feature whose value
    falls in no class or category is silently left out of the map)."""
    from qgis.core import QgsExpressionContextUtils, QgsFeatureRequest, QgsRenderContext

    out = {"drawn": 0, "not_drawn": 0}
    if layer.renderer() is None:
        return out
    renderer = layer.renderer().clone()
    context = QgsRenderContext()
    context.expressionContext().appendScopes(
        QgsExpressionContextUtils.globalProjectLayerScopes(layer))
    renderer.startRender(context, layer.fields())
    try:
        request = QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry)
        request.setSubsetOfAttributes(renderer.usedAttributes(context), layer.fields())
        for feature in layer.getFeatures(request):
            context.expressionContext().setFeature(feature)
            out["drawn" if renderer.willRenderFeature(feature, context) else "not_drawn"] += 1
    finally:
        renderer.stopRender(context)
    return out


def _classify(layer, field: str) -> dict:
    """Which graduated class QGIS puts each feature in (by legend key), as a user sees it drawn."""
    from qgis.core import QgsFeatureRequest

    renderer = layer.renderer()
    index = layer.fields().indexOf(field)
    out = {"field_found": index >= 0, "null": 0, "unclassified": 0, "by_key": {}}
    if index < 0 or renderer is None or renderer.type() != "graduatedSymbol":
        return out
    request = QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry)
    request.setSubsetOfAttributes([index])
    for feature in layer.getFeatures(request):
        value = feature.attribute(index)
        if value is None or (hasattr(value, "isNull") and value.isNull()):
            out["null"] += 1
            continue
        key = renderer.legendKeyForValue(float(value))
        if not key:
            out["unclassified"] += 1
        else:
            out["by_key"][key] = out["by_key"].get(key, 0) + 1
    return out


def _aliases(layer) -> dict[str, str]:
    return {f.name(): layer.attributeAlias(i) for i, f in enumerate(layer.fields())}


def _bare_layer(uri: str, name: str):
    """The layer without any style applied (not even the provider's default)."""
    from qgis.core import QgsVectorLayer

    options = QgsVectorLayer.LayerOptions()
    options.loadDefaultStyle = False
    return QgsVectorLayer(uri, name, "ogr", options)


def _named_style(uri: str, name: str, qml: str) -> dict:
    """A stored style loaded on a fresh layer, as "Load Style... > From database" does."""
    from qgis.PyQt.QtXml import QDomDocument

    layer = _bare_layer(uri, name)
    doc = QDomDocument()
    parsed = doc.setContent(qml)
    ok, message = layer.importNamedStyle(doc) if parsed[0] else (False, f"bad XML: {parsed[1:]}")
    out = {"ok": ok, "message": message, "renderer": _renderer(layer),
           "aliases": _aliases(layer), **_drawn(layer)}
    del layer
    return out


def _database_styles(layer, uri: str, name: str) -> dict:
    from qgis.core import QgsProviderRegistry

    count, ids, names, descriptions, message = layer.listStylesInDatabase()
    # the QML the provider hands over as the layer's default style
    default_qml = QgsProviderRegistry.instance().providerMetadata("ogr").loadStyle(uri, "")
    related = []
    for style_id, style_name, description in zip(ids[: max(count, 0)], names, descriptions):
        qml, error = layer.getStyleFromDatabase(style_id)
        related.append({"id": style_id, "name": style_name, "description": description,
                        "qml_chars": len(qml), "qml_graduated": 'type="graduatedSymbol"' in qml,
                        "error": error, "is_default": bool(qml) and qml == default_qml,
                        "loaded": _named_style(uri, name, qml)})
    return {"related_count": count, "related": related, "message": message,
            "default_found": bool(default_qml)}


def _metadata(layer) -> dict:
    """The layer metadata QGIS shows in Layer Properties > Metadata, and the Information page."""
    md = layer.metadata()
    spatial = md.extent().spatialExtents()
    return {
        "identifier": md.identifier(),
        "title": md.title(),
        "abstract": md.abstract(),
        "language": md.language(),
        "type": md.type(),
        "keywords": {k: list(v) for k, v in md.keywords().items()},
        "history": list(md.history()),
        "crs_authid": md.crs().authid(),
        "extent": [[e.bounds.xMinimum(), e.bounds.yMinimum(), e.bounds.xMaximum(),
                    e.bounds.yMaximum(), e.extentCrs.authid()] for e in spatial],
        "html": layer.htmlMetadata(),
    }


def _gdal_metadata(gpkg: str, name: str) -> dict:
    """Metadata as the GDAL QGIS runs on reads it (``osgeo`` of the same system Python)."""
    try:
        from osgeo import gdal
    except ImportError as error:
        return {"error": str(error)}
    gdal.UseExceptions()
    ds = gdal.OpenEx(gpkg, gdal.OF_VECTOR | gdal.OF_READONLY)
    try:
        lyr = ds.GetLayerByName(name)
        return {"gdal_version": gdal.__version__, "dataset": ds.GetMetadata() or {},
                "layer": (lyr.GetMetadata() or {}) if lyr else None}
    finally:
        ds = None


def probe_layer(gpkg: str, name: str, field: str) -> dict:
    from qgis.core import QgsVectorLayer, QgsWkbTypes

    uri = f"{gpkg}|layername={name}"
    info: dict = {"uri": uri}

    # 1. as a user adding the layer: QGIS applies the provider's default style by itself
    layer = QgsVectorLayer(uri, name, "ogr")
    info["valid"] = layer.isValid()
    if not layer.isValid():
        info["error"] = layer.error().summary()
        return info
    info["feature_count"] = layer.featureCount()
    info["crs_authid"] = layer.crs().authid()
    info["geometry_type"] = QgsWkbTypes.displayString(layer.wkbType())
    info["extent_empty"] = layer.extent().isEmpty()
    info["on_open"] = {"renderer": _renderer(layer), "aliases": _aliases(layer), **_drawn(layer)}
    info["metadata"] = _metadata(layer)
    info["database_styles"] = _database_styles(layer, uri, name)
    del layer
    info["gdal_metadata"] = _gdal_metadata(gpkg, name)

    # 2. explicit: no style pre-applied, then loadDefaultStyle()
    bare = _bare_layer(uri, name)
    info["metadata_without_style"] = {k: v for k, v in _metadata(bare).items() if k != "html"}
    before = _renderer(bare)
    message, ok = bare.loadDefaultStyle()
    info["load_default_style"] = {
        "renderer_before": before,
        "message": message,
        "ok": ok,
        "renderer": _renderer(bare),
        "aliases": _aliases(bare),
        "classified": _classify(bare, field),
    }
    del bare
    return info


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: qgis_probe.py GPKG LAYER [LAYER ...] [--field NAME]", file=sys.stderr)
        return 2
    args = list(argv[1:])
    field = DEFAULT_FIELD
    if "--field" in args:
        at = args.index("--field")
        field = args[at + 1]
        del args[at : at + 2]
    gpkg, names = args[0], args[1:]

    print_with_qgis(lambda: {"layers": {name: probe_layer(gpkg, name, field) for name in names}})
    return 0


def print_with_qgis(observe) -> None:
    """Start a headless QGIS, print ``observe()`` (with the QGIS version) as one JSON line, and
    stop QGIS. Shared with tests/qgis_raster_probe.py."""
    from qgis.core import Qgis, QgsApplication

    app = QgsApplication([], False)
    app.setPrefixPath("/usr", True)
    app.initQgis()
    try:
        result = {"qgis_version": Qgis.QGIS_VERSION, **observe()}
    finally:
        # every layer is already deleted: exitQgis() with live layers segfaults
        app.exitQgis()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
