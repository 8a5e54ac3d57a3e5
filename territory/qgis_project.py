"""The QGIS project of a run (``territory.qgz``): the GeoPackage's layers and the density raster,
styled, in one file a GIS technician opens with a double click.

The project is written with ``xml.etree`` (no QGIS at run time) as the minimal equivalent of what
QGIS 3.22 writes: a ``.qgs`` document zipped in a ``.qgz``. It holds

- the layers by paths relative to the project (``./territory.gpkg|layername=communes``,
  ``./territory_density_1km.tif``): the output folder can be moved or shared;
- in the layer tree, the registry point layers on top, then communes (checked), EPCI,
  départements and régions (unchecked), the density raster (unchecked: the communes' fills
  would hide it), then a group "Outre-mer" with one group per overseas territory holding its
  layers in its official CRS and its raster, ordered the same way. The metropolitan layers
  read the GeoPackage's contract layers through a filter (``|subset=``) leaving out the
  overseas features, which the overseas layers hold: every feature is drawn once, and "zoom
  to layer" frames the right land;
- each GeoPackage layer with its default style as the GeoPackage's ``layer_styles`` table holds
  it (the row marked ``useAsDefault``, read back from the file just written: styles are built
  once, by :mod:`territory.geopackage`) and its QGIS metadata document (``gpkg_metadata``); the
  raster with the style written beside it (``.qml``) and a metadata document saying what it
  covers;
- the project CRS Lambert-93 (EPSG:2154), or a territory's own CRS for a run of one overseas
  territory, the initial view framed on the run's extent, a project title and metadata
  (factor table version, extent).

Same inputs, same bytes: no date nor user is written, the zip entry has a fixed date.
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

from territory import qgis_style

#: the project file beside the GeoPackage
QGIS_PROJECT = "territory.qgz"
#: CRS of the project (the GeoPackage's)
PROJECT_CRS = "EPSG:2154"
#: QGIS version the project is written for (the oldest QGIS tested)
PROJECT_VERSION = "3.22.0-Białowieża"
#: date of the zip entry: same data, same bytes (the run's date is in manifest.json)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: share of the extent added on each side of the initial view
_MARGIN = 0.03


@dataclass(frozen=True)
class ProjectLayer:
    """One layer of the project.

    Attributes
    ----------
    name
        French name shown in the layer tree.
    layer_id
        QGIS layer id (fixed, so that the same run gives the same bytes).
    source
        Data source relative to the project (``./territory.gpkg|layername=communes``).
    provider
        QGIS provider: ``ogr`` (vector) or ``gdal`` (raster).
    crs
        The layer's CRS (``EPSG:2154``, ``EPSG:3035``).
    style
        QML document whose renderer (and aliases, notes...) the layer gets.
    metadata
        QGIS layer metadata document (title, abstract...), or ``None``.
    visible
        Checked in the layer tree.
    geometry
        ``Polygon`` or ``Point`` for a vector layer, ``None`` for a raster.
    wkb_type
        ``MultiPolygon``, ``Point``... for a vector layer.
    """

    name: str
    layer_id: str
    source: str
    provider: str
    crs: str
    style: str
    metadata: str | None = None
    visible: bool = True
    geometry: str | None = None
    wkb_type: str | None = None


@dataclass(frozen=True)
class ProjectGroup:
    """A group of the layer tree (``Outre-mer``, ``La Réunion``), its children top first."""

    name: str
    children: tuple[ProjectLayer | ProjectGroup, ...]
    visible: bool = True
    expanded: bool = True


def project_layers(items: Sequence[ProjectLayer | ProjectGroup]) -> list[ProjectLayer]:
    """The layers of a layer tree, top first (groups flattened)."""
    out: list[ProjectLayer] = []
    for item in items:
        out += project_layers(item.children) if isinstance(item, ProjectGroup) else [item]
    return out


def _tree(parent: ET.Element, items: Sequence[ProjectLayer | ProjectGroup]) -> None:
    for item in items:
        if isinstance(item, ProjectGroup):
            group = _add(parent, "layer-tree-group", name=item.name,
                         checked="Qt::Checked" if item.visible else "Qt::Unchecked",
                         expanded="1" if item.expanded else "0")
            _add(group, "customproperties")
            _tree(group, item.children)
            continue
        node = _add(parent, "layer-tree-layer", id=item.layer_id, name=item.name,
                    source=item.source, providerKey=item.provider,
                    checked="Qt::Checked" if item.visible else "Qt::Unchecked",
                    expanded="1" if item.visible else "0", legend_exp="",
                    patch_size="-1,-1", legend_split_behavior="0")
        _add(node, "customproperties")


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    return qgis_style.add(parent, tag, text, **attrib)


def _document_children(document: str) -> tuple[dict[str, str], list[ET.Element]]:
    """The root attributes and child elements of a QML or QGIS metadata document."""
    root = ET.fromstring(document.removeprefix(qgis_style.DOCTYPE))
    return dict(root.attrib), list(root)


def _srs(parent: ET.Element, tag: str, authid: str) -> None:
    # QGIS builds the CRS from its authority id alone (QgsCoordinateReferenceSystem::readXml)
    _add(_add(_add(parent, tag), "spatialrefsys"), "authid", authid)


def _map_layer(parent: ET.Element, layer: ProjectLayer) -> None:
    style_attrib, style = _document_children(layer.style)
    kind = "raster" if layer.geometry is None else "vector"
    attrib = {"type": kind, "styleCategories": "AllStyleCategories",
              "hasScaleBasedVisibilityFlag": style_attrib.get("hasScaleBasedVisibilityFlag", "0"),
              "minScale": style_attrib.get("minScale", "0"),
              "maxScale": style_attrib.get("maxScale", "0")}
    if layer.geometry is not None:
        attrib |= {"geometry": layer.geometry, "wkbType": layer.wkb_type or "", "readOnly": "0"}
    element = _add(parent, "maplayer", **attrib)
    _add(element, "id", layer.layer_id)
    _add(element, "datasource", layer.source)
    _add(element, "layername", layer.name)
    _srs(element, "srs", layer.crs)
    if layer.metadata is not None:
        metadata = _add(element, "resourceMetadata")
        metadata.extend(_document_children(layer.metadata)[1])
    _add(element, "provider", layer.provider, encoding="UTF-8")
    if kind == "raster":
        # the GeoTIFF's own nodata value is not drawn
        _add(_add(element, "noData"), "noDataList", bandNo="1", useSrcNoData="1")
    element.extend(style)


def _project_metadata(parent: ET.Element, title: str, abstract: str, identifier: str) -> None:
    metadata = _add(parent, "projectMetadata")
    _add(metadata, "identifier", identifier)
    _add(metadata, "parentidentifier", "")
    _add(metadata, "language", "fre")
    _add(metadata, "type", "dataset")
    _add(metadata, "title", title)
    _add(metadata, "abstract", abstract)
    keywords = _add(metadata, "keywords", vocabulary="Mots-clés")
    for word in ("numérique", "empreinte carbone", "gaz à effet de serre", "territoire"):
        _add(keywords, "keyword", word)
    _add(metadata, "links")
    _add(metadata, "author", "territory")


def project_document(items: Sequence[ProjectLayer | ProjectGroup], *, title: str, abstract: str,
                     identifier: str, extent: tuple[float, float, float, float],
                     crs: str = PROJECT_CRS) -> str:
    """The ``.qgs`` document: ``items`` (layers and groups) top first, the project CRS
    ``crs``, the initial view on ``extent`` (in ``crs``: xmin, ymin, xmax, ymax, widened by a
    small margin)."""
    root = ET.Element("qgis", {"projectname": title, "version": PROJECT_VERSION})
    _add(root, "homePath", path="")
    _add(root, "title", title)
    _srs(root, "projectCrs", crs)
    tree = _add(root, "layer-tree-group")
    _add(tree, "customproperties")
    _tree(tree, items)
    layers = project_layers(items)
    order = _add(tree, "custom-order", enabled="0")
    for layer in layers:
        _add(order, "item", layer.layer_id)
    maplayers = _add(root, "projectlayers")
    for layer in layers:
        _map_layer(maplayers, layer)
    properties = _add(root, "properties")
    _add(_add(properties, "Paths"), "Absolute", "false", type="bool")
    spatial = _add(properties, "SpatialRefSys")
    _add(spatial, "ProjectionsEnabled", "1", type="int")
    # QGIS 3.22 does not build the project CRS from <projectCrs> without QGIS's internal srsid:
    # it falls back on this entry
    _add(spatial, "ProjectCrs", crs, type="QString")
    _project_metadata(root, title, abstract, identifier)
    xmin, ymin, xmax, ymax = extent
    dx, dy = (xmax - xmin) * _MARGIN, (ymax - ymin) * _MARGIN
    view = _add(root, "ProjectViewSettings", UseProjectScales="0", rotation="0")
    _add(view, "Scales")
    # QGIS opens the project on this extent when it holds no map canvas state
    default = _add(view, "DefaultViewExtent", xmin=_number(xmin - dx), ymin=_number(ymin - dy),
                   xmax=_number(xmax + dx), ymax=_number(ymax + dy))
    _add(_add(default, "spatialrefsys"), "authid", crs)
    return qgis_style.to_qml(root, indent=True)


def _number(value: float) -> str:
    return repr(round(float(value), 1))


def write_project_file(path: Path, document: str) -> None:
    """``path`` (a ``.qgz``): one ``.qgs`` entry of the same stem, with a fixed date."""
    entry = ZipInfo(path.with_suffix(".qgs").name, _ZIP_DATE)
    entry.compress_type = ZIP_DEFLATED
    entry.external_attr = 0o644 << 16
    with ZipFile(path, "w") as archive:
        archive.writestr(entry, document.encode("utf-8"))


@dataclass(frozen=True)
class GeoPackageLayer:
    """A feature table of the GeoPackage, as the project needs it."""

    table: str
    wkb_type: str
    srs: str
    default_style: str
    metadata: str | None


def geopackage_layers(gpkg: Path) -> dict[str, GeoPackageLayer]:
    """The feature tables of ``gpkg`` with their default style (``layer_styles``) and QGIS
    metadata document (``gpkg_metadata``), read back from the file."""
    with closing(sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT g.table_name, g.geometry_type_name, s.organization, s.organization_coordsys_id "
            "FROM gpkg_geometry_columns AS g JOIN gpkg_spatial_ref_sys AS s USING (srs_id) "
            "ORDER BY g.table_name").fetchall()
        styles = dict(db.execute(
            "SELECT f_table_name, styleQML FROM layer_styles WHERE useAsDefault "
            "ORDER BY id").fetchall())
        metadata = dict(db.execute(
            "SELECT r.table_name, m.metadata FROM gpkg_metadata_reference AS r "
            "JOIN gpkg_metadata AS m ON m.id = r.md_file_id "
            "WHERE r.reference_scope = 'table' AND m.md_standard_uri = ? ORDER BY m.id",
            ("http://mrcc.com/qgis.dtd",)).fetchall())
    return {table: GeoPackageLayer(table, kind, f"{org.upper()}:{code}", styles[table],
                                   metadata.get(table))
            for table, kind, org, code in rows if table in styles}


#: QGIS's geometry family and WKB type of each GeoPackage geometry type
_GEOMETRIES = {"MULTIPOLYGON": ("Polygon", "MultiPolygon"), "POLYGON": ("Polygon", "Polygon"),
               "POINT": ("Point", "Point"), "MULTIPOINT": ("Point", "MultiPoint")}


def vector_layer(gpkg_name: str, layer: GeoPackageLayer, name: str, *,
                 visible: bool, subset: str | None = None) -> ProjectLayer:
    """A GeoPackage layer of the project, with the GeoPackage's default style; ``subset`` (an
    OGR SQL condition) keeps only the features matching it."""
    geometry, wkb_type = _GEOMETRIES[layer.wkb_type.upper()]
    source = f"./{gpkg_name}|layername={layer.table}" + (f"|subset={subset}" if subset else "")
    return ProjectLayer(name=name, layer_id=f"territory_{layer.table}",
                        source=source, provider="ogr",
                        crs=layer.srs, style=layer.default_style, metadata=layer.metadata,
                        visible=visible, geometry=geometry, wkb_type=wkb_type)


def raster_metadata(title: str, abstract: str, crs: str,
                    identifier: str = "territory:density_1km") -> str:
    """QGIS layer metadata document of a density raster (French title and abstract)."""
    root = qgis_style.document(version=qgis_style.VECTOR_VERSION)
    _add(root, "identifier", identifier)
    _add(root, "parentidentifier", "")
    _add(root, "language", "fre")
    _add(root, "type", "dataset")
    _add(root, "title", title)
    _add(root, "abstract", abstract)
    _add(root, "links")
    _add(root, "encoding", "UTF-8")
    _srs(root, "crs", crs)
    return qgis_style.to_qml(root)


def raster_layer(raster: Path, name: str, *, crs: str, abstract: str) -> ProjectLayer:
    """A density raster, with the style written beside it (same stem, ``.qml``); its layer id
    is its file's stem."""
    return ProjectLayer(name=name, layer_id=raster.stem, source=f"./{raster.name}",
                        provider="gdal", crs=crs,
                        style=raster.with_suffix(".qml").read_text(encoding="utf-8"),
                        metadata=raster_metadata(name, abstract, crs,
                                                 f"territory:{raster.stem.removeprefix('territory_')}"),
                        visible=False)


def project_abstract(metadata: Mapping[str, str], overseas: Sequence[str] = ()) -> str:
    """French abstract of the project: what it shows, the overseas territories it shows in
    their own CRS (``overseas``: their names), the factor table version, the extent."""
    parts = [("Empreinte environnementale annuelle du numérique par commune, EPCI, département "
              "et région (couches de territory.gpkg, style par défaut : empreinte par habitant), "
              "équipements localisés des registres fournis et densité de l'empreinte sur la "
              "grille INSPIRE de 1 km.")]
    if overseas:
        parts.append(f"Outre-mer ({', '.join(overseas)}) : dans le groupe « Outre-mer », chaque "
                     "territoire dans sa projection officielle (UTM), avec sa grille de 1 km.")
    if metadata.get("factor_table_version"):
        parts.append(f"Table de facteurs d'émission version {metadata['factor_table_version']}.")
    if metadata.get("population_vintage"):
        parts.append(f"Population : {metadata['population_vintage']}.")
    if metadata.get("extent"):
        parts.append(f"Étendue : {metadata['extent']}.")
    parts.append("Chemins relatifs : le dossier peut être déplacé ou partagé en entier.")
    return " ".join(parts)
