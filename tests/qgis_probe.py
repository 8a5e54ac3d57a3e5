"""Open GeoPackage layers in a real QGIS and print what QGIS sees, as JSON on stdout.

Run with the system Python that has the ``qgis`` bindings (not the project's interpreter)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_probe.py OUT/territory.gpkg \
        communes epci departements regions

For each layer it reports validity, feature count, CRS, geometry type, the renderer QGIS
applied on its own when the layer was added, and then - on a second instance created with
``loadDefaultStyle=False`` so nothing is pre-applied - the result of an explicit
``loadDefaultStyle()`` with the renderer and field aliases it produced, plus the styles the
provider lists in the GeoPackage's ``layer_styles`` table, and how many features fall in each
graduated class (or in none). The assertions live in
tests/test_qgis.py; this script only observes. It imports nothing from ``territory``.
"""

from __future__ import annotations

import json
import sys

#: numeric field whose graduated classes are checked feature by feature (--field to change)
DEFAULT_FIELD = "footprint_kgco2e_per_inhabitant"


def _renderer(layer) -> dict:
    from qgis.core import QgsGraduatedSymbolRenderer

    renderer = layer.renderer()
    out: dict = {"type": renderer.type() if renderer else None}
    if isinstance(renderer, QgsGraduatedSymbolRenderer):
        method = renderer.classificationMethod()
        out.update(
            class_attribute=renderer.classAttribute(),
            classification_method=method.id() if method else None,
            ranges=[
                {
                    "lower": r.lowerValue(),
                    "upper": r.upperValue(),
                    "label": r.label(),
                    "render": r.renderState(),
                    "symbol_color": r.symbol().color().name() if r.symbol() else None,
                }
                for r in renderer.ranges()
            ],
        )
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
    info["on_open"] = {"renderer": _renderer(layer), "aliases": _aliases(layer)}
    count, ids, names, descriptions, message = layer.listStylesInDatabase()
    related = []
    for style_id, style_name in zip(ids[: max(count, 0)], names):
        qml, error = layer.getStyleFromDatabase(style_id)
        related.append({"id": style_id, "name": style_name, "qml_chars": len(qml),
                        "qml_graduated": 'type="graduatedSymbol"' in qml, "error": error})
    info["database_styles"] = {"related_count": count, "related": related, "message": message}
    del layer

    # 2. explicit: no style pre-applied, then loadDefaultStyle()
    options = QgsVectorLayer.LayerOptions()
    options.loadDefaultStyle = False
    bare = QgsVectorLayer(uri, name, "ogr", options)
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

    from qgis.core import Qgis, QgsApplication

    app = QgsApplication([], False)
    app.setPrefixPath("/usr", True)
    app.initQgis()
    try:
        result = {"qgis_version": Qgis.QGIS_VERSION,
                  "layers": {name: probe_layer(gpkg, name, field) for name in names}}
    finally:
        # every layer is already deleted: exitQgis() with live layers segfaults
        app.exitQgis()
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
