"""Open a QGIS project (territory.qgz) in a real QGIS and print what QGIS sees, as JSON on stdout.

Run with the system Python that has the ``qgis`` bindings (not the project's interpreter)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_project_probe.py OUT/territory.qgz

It reports whether ``QgsProject.read`` succeeded, the project CRS, title and metadata, the
default view extent, then the layer tree top to bottom: for each layer its name, the groups it
is in (outermost first), whether it is checked, valid, its extent in its CRS, its source as
QGIS resolved it, its provider, CRS, renderer (type, attribute, classes, labels) and metadata
title and abstract; vector layers also their feature count and filter (subset string); raster
layers also their legend and notes.
The assertions live in tests/test_qgis_project.py; this script only observes. It imports
nothing from ``territory``.
"""

from __future__ import annotations

import json
import sys


def _renderer(layer) -> dict:
    from qgis.core import (
        QgsGraduatedSymbolRenderer,
        QgsRasterLayer,
        QgsSingleBandPseudoColorRenderer,
    )

    renderer = layer.renderer()
    out: dict = {"type": renderer.type() if renderer else None}
    if isinstance(renderer, QgsGraduatedSymbolRenderer):
        out["class_attribute"] = renderer.classAttribute()
        out["ranges"] = [{"lower": r.lowerValue(), "upper": r.upperValue(), "label": r.label(),
                          "color": r.symbol().color().name()} for r in renderer.ranges()]
    elif hasattr(renderer, "classAttribute"):
        out["class_attribute"] = renderer.classAttribute()
    if isinstance(layer, QgsRasterLayer) and renderer is not None:
        out["legend"] = [label for label, _colour in renderer.legendSymbologyItems()]
        if isinstance(renderer, QgsSingleBandPseudoColorRenderer):
            function = renderer.shader().rasterShaderFunction()
            out["items"] = [{"value": item.value, "label": item.label,
                             "color": item.color.name()} for item in function.colorRampItemList()]
    return out


def probe(path: str) -> dict:
    from qgis.core import QgsLayerNotesUtils, QgsProject

    project = QgsProject.instance()
    info: dict = {"path": path, "read": bool(project.read(path))}
    info["crs"] = project.crs().authid()
    info["title"] = project.title()
    metadata = project.metadata()
    info["metadata"] = {"title": metadata.title(), "abstract": metadata.abstract(),
                        "identifier": metadata.identifier(), "language": metadata.language()}
    view = project.viewSettings().defaultViewExtent()
    info["view_extent"] = {"crs": view.crs().authid(), "xmin": view.xMinimum(),
                           "ymin": view.yMinimum(), "xmax": view.xMaximum(),
                           "ymax": view.yMaximum()}
    info["absolute_paths"] = project.readBoolEntry("Paths", "/Absolute", True)[0]
    layers = []
    for node in project.layerTreeRoot().findLayers():
        layer = node.layer()
        groups = []
        parent = node.parent()
        while parent is not None and parent.parent() is not None:
            groups.insert(0, parent.name())
            parent = parent.parent()
        entry: dict = {"name": node.name(), "checked": node.isVisible(),
                       "valid": bool(layer and layer.isValid()), "groups": groups}
        if layer is not None:
            entry |= {
                "source": layer.source(), "provider": layer.providerType(),
                "crs": layer.crs().authid(), "renderer": _renderer(layer),
                "title": layer.metadata().title(), "abstract": layer.metadata().abstract(),
                "notes": QgsLayerNotesUtils.layerNotes(layer),
            }
            extent = layer.extent()
            entry["extent"] = [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(),
                               extent.yMaximum()]
            if layer.type() == layer.VectorLayer:
                entry["feature_count"] = layer.featureCount()
                entry["subset"] = layer.subsetString()
                entry["aliases"] = {f.name(): f.alias() for f in layer.fields()}
        layers.append(entry)
    info["layers"] = layers
    return info


def main() -> None:
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    try:
        result = probe(sys.argv[1])
    finally:
        app.exitQgis()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
