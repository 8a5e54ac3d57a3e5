"""Open a density GeoTIFF in a real QGIS and print what QGIS sees, as JSON on stdout.

Run with the system Python that has the ``qgis`` bindings (not the project's interpreter)::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_raster_probe.py OUT/density.tif

It reports validity, CRS, size, band count and nodata, what QGIS applied when the layer was
added, then - on a second instance created with ``loadDefaultStyle=False`` - the result of an
explicit ``loadDefaultStyle()`` (which reads the sidecar ``.qml``): renderer type, legend labels
and colour ramp items, whether the provider lists internal overviews (pyramids), and the layer
drawn at one screen pixel per cell (``#rrggbbaa`` per cell, row by row) so the caller can check
that nodata is transparent and each cell has its class colour. The assertions live in
tests/test_density.py; this script only observes. It imports nothing from ``territory``.
"""

from __future__ import annotations

import sys

#: rasters larger than this are not drawn (the probe is for small test rasters)
MAX_DRAWN_CELLS = 10_000


def _renderer(layer) -> dict:
    from qgis.core import QgsSingleBandPseudoColorRenderer

    renderer = layer.renderer()
    out: dict = {"type": renderer.type() if renderer else None}
    if renderer is None:
        return out
    out["legend"] = [label for label, _colour in renderer.legendSymbologyItems()]
    if isinstance(renderer, QgsSingleBandPseudoColorRenderer):
        shader = renderer.shader()
        function = shader.rasterShaderFunction() if shader else None
        if function is not None:
            out["ramp_type"] = int(function.colorRampType())
            out["items"] = [
                {"value": item.value, "label": item.label, "color": item.color.name()}
                for item in function.colorRampItemList()
            ]
    return out


def _draw(layer) -> list[list[str]] | None:
    """The layer drawn at one pixel per cell, as ``#rrggbbaa`` strings."""
    from qgis.core import QgsMapRendererSequentialJob, QgsMapSettings
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    width, height = layer.width(), layer.height()
    if width * height > MAX_DRAWN_CELLS:
        return None
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setOutputSize(QSize(width, height))
    settings.setExtent(layer.extent())
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    rows = []
    for y in range(image.height()):
        row = []
        for x in range(image.width()):
            colour = QColor.fromRgba(image.pixel(x, y))
            row.append(colour.name() + f"{colour.alpha():02x}")
        rows.append(row)
    return rows


def probe(path: str) -> dict:
    from qgis.core import QgsRasterLayer

    info: dict = {"path": path}
    # 1. as a user adding the raster: QGIS applies the sidecar .qml by itself
    layer = QgsRasterLayer(path, "densite", "gdal")
    info["valid"] = layer.isValid()
    if not layer.isValid():
        info["error"] = layer.error().summary()
        return info
    provider = layer.dataProvider()
    info["crs_authid"] = layer.crs().authid()
    info["width"] = layer.width()
    info["height"] = layer.height()
    info["band_count"] = layer.bandCount()
    info["nodata"] = provider.sourceNoDataValue(1) if provider.sourceHasNoDataValue(1) else None
    info["band_name"] = layer.bandName(1)
    info["has_pyramids"] = provider.hasPyramids()
    info["pyramids"] = [
        {"level": p.getLevel(), "x": p.getXDim(), "y": p.getYDim(), "exists": p.getExists()}
        for p in provider.buildPyramidList()
    ]
    info["on_open"] = _renderer(layer)
    del provider, layer

    # 2. explicit: no style pre-applied, then loadDefaultStyle()
    options = QgsRasterLayer.LayerOptions()
    options.loadDefaultStyle = False
    bare = QgsRasterLayer(path, "densite", "gdal", options)
    before = _renderer(bare)
    message, ok = bare.loadDefaultStyle()
    info["load_default_style"] = {
        "renderer_before": before,
        "message": message,
        "ok": ok,
        "renderer": _renderer(bare),
        "drawn": _draw(bare),
    }
    del bare
    return info


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: qgis_raster_probe.py RASTER.tif", file=sys.stderr)
        return 2
    # the probe of the GeoPackage, beside this file, starts and stops QGIS the same way
    from qgis_probe import print_with_qgis

    print_with_qgis(lambda: {"raster": probe(argv[1])})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
