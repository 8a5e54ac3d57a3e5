"""Write the GeoPackage: the layers, their QGIS styles and their provenance metadata.

Styles (``layer_styles`` table). QGIS lists the styles stored with a layer (Layer Properties >
Style > Load Style... > From database) and applies the one marked ``useAsDefault`` when the layer
is added. Each polygon layer gets one graduated style per column of the column catalogue
(``data/columns.toml``, :mod:`territory.columns`) marked ``qgis_style``, with the web map's
quantile classes, the column's palette and French labels with their unit; the catalogue's
``qgis_default_style`` ("Empreinte par habitant") is the default. Each point layer gets a
thematic default (size by IT power, colour by operator or by kind) and a plain single-marker
alternative. Every style carries the catalogue's French labels as field aliases. The QML is
built by :mod:`territory.qgis_style`.

Metadata. The GeoPackage metadata extension (``gpkg_metadata`` and ``gpkg_metadata_reference``,
registered in ``gpkg_extensions``) holds:

- written by GDAL (md_standard_uri ``http://gdal.org``, ``GDALMultiDomainMetadata`` XML): one
  dataset record (reference_scope ``geopackage``) and one record per layer (``table``) with the
  provenance keys (factor table version, population vintage, sources...);
- written here (md_standard_uri ``http://mrcc.com/qgis.dtd``): one QGIS metadata document per
  layer, which QGIS shows in Layer Properties > Metadata and Information: French title,
  abstract citing the sources and factor version, keywords, history, CRS and extent.

The French title and abstract are also the layer's ``gpkg_contents.identifier`` and
``description`` (GDAL's IDENTIFIER and DESCRIPTION items). The ``territory_metadata`` table keeps
the provenance as plain key/value rows (with an integer primary key, as the GeoPackage requires
of an attributes table).

Same inputs, same file content: the GeoPackage holds no time of generation (that lives in the
run's ``manifest.json``). A ``generated`` provenance key is not written, and every date column
(``gpkg_contents.last_change``, ``gpkg_metadata_reference.timestamp``,
``layer_styles.update_time``) holds ``CONTENT_DATE``, for GDAL's rows (through its
``OGR_CURRENT_DATE`` option) as for ours.
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from importlib import metadata as package_metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from territory import qgis_style
from territory.columns import catalogue
from territory.errors import ConfigError
from territory.mapping import class_breaks, class_colours
from territory.overseas import overseas_layer
from territory.scenarios import SCENARIOS_LAYER, scenario_years

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class PolygonStyle:
    """One named graduated style of every polygon layer (a column of the catalogue with
    ``qgis_style = true``).

    Attributes
    ----------
    name
        Style name listed by QGIS: the column's French label.
    field
        Classified column.
    unit
        Unit written after each class label (ASCII digits, as in the field aliases).
    description
        Description listed by QGIS next to the name.
    intensive
        Per-inhabitant indicator: only inhabited territories set the classes (uninhabited ones
        are 0 by convention and fall in the first class), as on the web map.
    palette
        The column's default colours, lightest first.
    classification
        Classification method (``quantile``).
    """

    name: str
    field: str
    unit: str
    description: str
    intensive: bool = False
    palette: tuple[str, ...] = ()
    classification: str = "quantile"


def polygon_style_specs() -> tuple[PolygonStyle, ...]:
    """The named styles of each polygon layer, default first: the catalogue's columns with a
    QGIS style."""
    styles: list[PolygonStyle] = []
    for column in catalogue().qgis_styles():
        assert column.style is not None
        description = f"Classes par quantiles : {column.alias}" + (
            ", sur les territoires habités" if column.intensive else "")
        styles.append(PolygonStyle(column.label, column.name, column.gis_unit, description,
                                   column.intensive, column.style.palette,
                                   column.style.classification))
    return tuple(styles)


def field_aliases(level: str) -> dict[str, str]:
    """French aliases QGIS shows in the attribute table and forms: the catalogue's labels (and
    units) of ``level`` (``communes``... or ``registry_points`` for the point layers). A
    column of the scenarios layer named ``<catalogue column>_<year>`` gets the label and the
    year (``footprint_tco2e_2030``: "Empreinte carbone 2030 (tCO2e)")."""
    aliases = {column.name: column.alias for column in catalogue().at(level)}
    if level == SCENARIOS_LAYER:
        for column in catalogue().at(level):
            for year in scenario_years():
                aliases[f"{column.name}_{year}"] = (
                    f"{column.label} {year}" + (f" ({column.gis_unit})" if column.unit else ""))
    return aliases


def year_columns(field: str, columns: Sequence[str]) -> list[tuple[str, str]]:
    """``field`` if ``columns`` has it, else its per-year columns (``field_2030``...), as
    (column, year or "") pairs."""
    if field in columns:
        return [(field, "")]
    return [(c, c.rsplit("_", 1)[1]) for c in columns
            if c.startswith(f"{field}_") and c.rsplit("_", 1)[1].isdigit()]


#: colour of each registry point layer (ColorBrewer Set1)
POINT_COLOURS = {"datacenters": "#e41a1c", "antennas": "#377eb8", "infrastructure": "#4daf4a"}
#: name of the plain single-marker style of each point layer (offered after the default)
POINT_STYLE_NAMES = {
    "datacenters": "Centres de données",
    "antennas": "Sites d'antennes mobiles",
    "infrastructure": "Infrastructures connectées",
}
#: name of the default (thematic) style of each point layer
POINT_DEFAULT_STYLE_NAMES = {
    "datacenters": "Centres de données par puissance",
    "antennas": "Sites d'antennes par opérateur",
    "infrastructure": "Infrastructures connectées par type",
}
#: mobile operators in legend order, with their colour (ColorBrewer Set1)
OPERATOR_COLOURS = {
    "Orange": "#ff7f00",
    "SFR": "#e41a1c",
    "Free Mobile": "#984ea3",
    "Bouygues Telecom": "#377eb8",
}
#: connected infrastructure kinds in legend order: French label and colour
INFRASTRUCTURE_KINDS = {
    "streetlights": ("Points lumineux", "#ff7f00"),
    "cameras": ("Caméras", "#984ea3"),
    "sensors": ("Capteurs", "#4daf4a"),
}
#: colours of categories not listed above (none of the colours above), then of "missing"
EXTRA_COLOURS = ("#a65628", "#f781bf", "#1b9e77", "#e6ab02", "#8da0cb", "#e7298a")
OTHER_COLOUR = "#999999"
#: marker diameters (mm) of the datacenter classes by IT power, smallest first
DATACENTER_SIZES_MM = (2.0, 3.0, 4.5, 6.0, 8.0)

#: French title of each layer (QGIS metadata; ``gpkg_contents.identifier``, unique)
LAYER_TITLES = {
    "communes": "Empreinte numérique par commune",
    "epci": "Empreinte numérique par EPCI",
    "departements": "Empreinte numérique par département",
    "regions": "Empreinte numérique par région",
    SCENARIOS_LAYER: "Scénarios : empreinte par commune et par année jusqu'en 2050",
    "datacenters": "Centres de données localisés",
    "antennas": "Sites d'antennes mobiles localisés",
    "infrastructure": "Infrastructures connectées localisées",
}
_LEVEL_WORDS = {"communes": "commune", "epci": "EPCI (intercommunalité)",
                "departements": "département", "regions": "région"}
#: title of the whole GeoPackage (dataset metadata)
DATASET_TITLE = "Empreinte environnementale du numérique par territoire"
#: md_standard_uri of the QGIS layer metadata documents (what QGIS reads for a GPKG layer)
QGIS_METADATA_URI = "http://mrcc.com/qgis.dtd"
METADATA_EXTENSION_DEFINITION = "http://www.geopackage.org/spec120/#extension_metadata"
#: GeoPackage version written (GDAL's VERSION creation option)
GEOPACKAGE_VERSION = "1.2"
#: the date of every GeoPackage datetime column: fixed, so that two runs on the same inputs give
#: the same tables (the run's time is in manifest.json)
CONTENT_DATE = "2000-01-01T00:00:00.000Z"
#: provenance keys that vary from run to run on the same inputs: not written to the GeoPackage
RUN_TIME_KEYS = frozenset({"generated"})
#: the catalogue level of the point layers' columns
POINT_LEVEL = "registry_points"


def _french(value: float, decimals: int = 3) -> str:
    """A number written the French way: decimal comma, no-break space between thousands, at
    most ``decimals`` decimals (trailing zeros dropped)."""
    text = f"{round(float(value), decimals) + 0.0:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(",", "\u00a0").replace(".", ",")


def _label_decimals(breaks: Sequence[float]) -> int:
    """Decimals of the class labels: those the limits were rounded to, at least one, at most
    three (as the web map's legend)."""
    decimals = 1
    for b in breaks:
        text = np.format_float_positional(float(b), trim="-")
        decimals = max(decimals, len(text.split(".")[1]) if "." in text else 0)
    return min(decimals, 3)


def _class_bounds(values: np.ndarray, breaks: list[float]) -> list[float]:
    """Limits of every class: the first and last stretch to the minimum and maximum of
    ``values`` so that every feature with a value is drawn."""
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 0.0
    return [min(lo, *breaks) if breaks else lo, *breaks, max(hi, *breaks) if breaks else hi]


def _range_labels(bounds: list[float], breaks: list[float], unit: str) -> list[str]:
    decimals = _label_decimals(breaks)
    return [f"{_french(bounds[i], decimals)} – {_french(bounds[i + 1], decimals)} {unit}"
            for i in range(len(bounds) - 1)]


def _ranges(bounds: list[float], breaks: list[float], unit: str) -> list[tuple[float, float, str]]:
    labels = _range_labels(bounds, breaks, unit)
    return [(bounds[i], bounds[i + 1], labels[i]) for i in range(len(bounds) - 1)]


def graduated_qml(
    values: np.ndarray, palette: Sequence[str] | None, columns: list[str],
    min_width_share: float = 0.0, class_values: np.ndarray | None = None, *,
    field: str | None = None, unit: str | None = None, level: str = "communes",
    breaks: list[float] | None = None,
) -> str:
    """QGIS 3 style (QML) for a polygon layer: a graduated renderer on ``field`` (default: the
    catalogue's default style) with the same quantile classes and colours as the web map, labels
    in French ending with ``unit`` (default: the column's), and the French aliases of ``level``.

    ``palette`` (default: the column's) colours the classes. ``class_values`` (default:
    ``values``) set the class limits; the first and last classes still stretch to the minimum
    and maximum of ``values`` so that every feature is drawn. ``breaks`` (default: computed
    from ``class_values``) gives the class limits outright.
    """
    field = field or catalogue().qgis_default_style
    # a per-year column of the scenarios layer (footprint_tco2e_2030) is styled as its column
    base, _, year = field.rpartition("_")
    found = catalogue().get(field, level)
    column = found if found is not None or not year.isdigit() else catalogue().column(base, level)
    if column is None:
        column = catalogue().column(field, level)
    style = column.style
    colours_of = list(palette or (style.palette if style else ()))
    if not colours_of:
        msg = f"{catalogue().path}: column {column.name!r} has no style, and no palette is given"
        raise ConfigError(msg)
    values = np.asarray(values, dtype=float)
    considered = values if class_values is None else np.asarray(class_values, dtype=float)
    if breaks is None:
        breaks = class_breaks(considered, len(colours_of), min_width_share)
    colours = class_colours(len(breaks) + 1, colours_of)
    bounds = _class_bounds(values, breaks)
    return qgis_style.graduated_qml(
        field, _ranges(bounds, breaks, column.gis_unit if unit is None else unit),
        [(colours[i], None) for i in range(len(bounds) - 1)], method="GraduatedColor",
        classification=style.classification if style else "quantile", columns=columns,
        aliases=field_aliases(level), geometry_type=2)


def graduated_size_qml(
    values: np.ndarray, columns: list[str], *, field: str, colour: str,
    sizes_mm: Sequence[float] = DATACENTER_SIZES_MM, unit: str | None = None,
) -> str:
    """QGIS 3 style (QML) for a point layer: markers sized by quantile classes of ``field``
    (a graduated renderer by size), labels in French ending with the column's unit, French
    aliases."""
    values = np.asarray(values, dtype=float)
    breaks = class_breaks(values, len(sizes_mm))
    bounds = _class_bounds(values, breaks)
    n = len(bounds) - 1
    last = len(sizes_mm) - 1
    sizes = [sizes_mm[round(i * last / (n - 1)) if n > 1 else last // 2] for i in range(n)]
    if unit is None:
        unit = catalogue().column(field, POINT_LEVEL).gis_unit
    return qgis_style.graduated_qml(
        field, _ranges(bounds, breaks, unit), [(colour, size) for size in sizes],
        method="GraduatedSize", classification="quantile", columns=columns,
        aliases=field_aliases(POINT_LEVEL), geometry_type=0)


def categorized_qml(
    field: str, categories: Sequence[tuple[str, str, str]], columns: list[str], *,
    other_label: str, other_colour: str = OTHER_COLOUR, size_mm: float = 2.0,
) -> str:
    """QGIS 3 style (QML) for a point layer: one marker colour per value of ``field``
    (``categories``: value, French label, colour), then a category for every other value and
    for missing values (QGIS draws the category of value ``""`` for them), French aliases."""
    return qgis_style.categorized_qml(
        field, [*categories, ("", other_label, other_colour)], size_mm=size_mm,
        columns=columns, aliases=field_aliases(POINT_LEVEL))


def marker_qml(colour: str, columns: list[str], size_mm: float = 2.0) -> str:
    """QGIS 3 style (QML) for a point layer: one round marker, French field aliases."""
    return qgis_style.single_marker_qml(colour, size_mm=size_mm, columns=columns,
                                        aliases=field_aliases(POINT_LEVEL))


@dataclass(frozen=True)
class NamedStyle:
    """One row of ``layer_styles``."""

    layer: str
    name: str
    qml: str
    description: str
    default: bool


def layer_level(name: str) -> str:
    """The administrative level of a polygon layer: its name, or for an overseas layer
    (``communes_reunion``) the level it is a part of (``communes``)."""
    found = overseas_layer(name)
    return found[0] if found else name


def polygon_styles(name: str, table: pa.Table, palette: Sequence[str] | None = None,
                   min_width_share: float = 0.0, reference: pa.Table | None = None,
                   ) -> list[NamedStyle]:
    """The named styles of a polygon layer (:func:`polygon_style_specs` whose column it has),
    the first one default; ``palette`` replaces the columns' default palettes. ``reference``
    (default: ``table``) sets the classes: an overseas layer gets the classes of its level's
    layer, so that a colour means the same overseas and in metropolitan France."""
    columns = [c for c in table.column_names if c != "geometry"]
    reference = table if reference is None else reference
    inhabited = (reference.column("population").to_numpy(zero_copy_only=False) > 0
                 if "population" in columns else None)
    level = layer_level(name)
    styles: list[NamedStyle] = []
    for style in polygon_style_specs():
        fields = year_columns(style.field, columns)
        # per-year columns share their classes: a colour means the same every year
        every_year = np.concatenate([np.nan_to_num(reference.column(f).to_numpy(
            zero_copy_only=False).astype(float), nan=0.0) for f, _ in fields]) if fields else None
        shared: list[float] | None = None
        for field, year in fields:
            values = reference.column(field).to_numpy(zero_copy_only=False).astype(float)
            values = np.nan_to_num(values, nan=0.0)
            class_values = values[inhabited] if style.intensive and inhabited is not None else values
            breaks = None
            if year and every_year is not None:
                if shared is None:  # computed once for the years of a column
                    shared = class_breaks(every_year, len(palette or style.palette),
                                          min_width_share)
                breaks = shared
            qml = graduated_qml(values, palette or style.palette, columns, min_width_share,
                                class_values, field=field, unit=style.unit, level=level,
                                breaks=breaks)
            styles.append(NamedStyle(name, f"{style.name} {year}".strip(), qml,
                                     style.description, not styles))
    return styles


def _distinct(table: pa.Table, column: str) -> list[str]:
    return sorted({str(v) for v in table.column(column).to_pylist() if v is not None and str(v)})


def point_styles(name: str, table: pa.Table) -> list[NamedStyle]:
    """The named styles of a point layer: a thematic style where the layer has the column
    (datacenters sized by IT power, antennas coloured by operator, infrastructure by kind),
    default when it draws every point, then a plain single marker (default otherwise)."""
    columns = [c for c in table.column_names if c != "geometry"]
    declared = _declared_style(name)
    colour = POINT_COLOURS.get(name) or (declared[1] if declared else "#984ea3")
    thematic: tuple[str, str, bool] | None = None  # QML, description, default
    if name == "datacenters" and "it_power_mw" in columns:
        values = table.column("it_power_mw").to_numpy(zero_copy_only=False).astype(float)
        if np.isfinite(values).any():
            # a point without a power would fall in no class and not be drawn
            thematic = (graduated_size_qml(values, columns, field="it_power_mw", colour=colour),
                        ("Taille selon la puissance informatique retenue "
                        "(classes par quantiles, MW)"),
                        bool(np.isfinite(values).all()))
    elif name == "antennas" and "operator" in columns:
        found = _distinct(table, "operator")
        others = [op for op in found if op not in OPERATOR_COLOURS]
        categories = [(op, op, c) for op, c in OPERATOR_COLOURS.items() if op in found] + [
            (op, op, EXTRA_COLOURS[i % len(EXTRA_COLOURS)]) for i, op in enumerate(others)]
        thematic = (categorized_qml("operator", categories, columns,
                                    other_label="Opérateur non renseigné"),
                    "Couleur selon l'opérateur", True)
    elif name == "infrastructure" and "kind" in columns:
        found = _distinct(table, "kind")
        others = [k for k in found if k not in INFRASTRUCTURE_KINDS]
        categories = [(k, label, c) for k, (label, c) in INFRASTRUCTURE_KINDS.items()
                      if k in found] + [
            (k, k, EXTRA_COLOURS[i % len(EXTRA_COLOURS)]) for i, k in enumerate(others)]
        thematic = (categorized_qml("kind", categories, columns,
                                    other_label="Type non renseigné"),
                    "Couleur selon le type d'équipement", True)
    plain_name = POINT_STYLE_NAMES.get(name) or (declared[0] if declared else name)
    styles = []
    if thematic:
        qml, description, default = thematic
        thematic_name = POINT_DEFAULT_STYLE_NAMES.get(name, f"{plain_name} (thème)")
        styles.append(NamedStyle(name, thematic_name, qml, description, default))
    # the plain marker comes last, as the alternative
    styles.append(NamedStyle(name, plain_name, marker_qml(colour, columns),
                             f"{plain_name} : un seul symbole", not any(s.default for s in styles)))
    return styles


# --- provenance metadata -----------------------------------------------------------------

def _territory_version() -> str | None:
    try:
        return package_metadata.version("territory")
    except package_metadata.PackageNotFoundError:
        return None


def _provenance_sentences(metadata: Mapping[str, str]) -> list[str]:
    """The provenance in French sentences, in a fixed order, only for the keys present."""
    sentences = []
    if metadata.get("factor_table_version"):
        sentences.append("Table de facteurs d'émission version "
                         f"{metadata['factor_table_version']}.")
    if metadata.get("population_vintage"):
        sentences.append(f"Population : {metadata['population_vintage']}.")
    if metadata.get("datacenter_scope"):
        sentences.append(f"Périmètre des centres de données : {metadata['datacenter_scope']}.")
    if metadata.get("extent"):
        sentences.append(f"Étendue : {metadata['extent']}.")
    if metadata.get("sources"):
        sentences.append(f"Sources : {metadata['sources']}.")
    return sentences


def _declared_style(name: str) -> tuple[str, str] | None:
    """French label and colour of a point layer of a registry kind declared by a spec
    (data/registries/*.toml) rather than listed here."""
    from territory.registries.specs import point_layer_style

    return point_layer_style(name)


def layer_title(name: str) -> str:
    """French title of a layer (a point layer of a declared kind: its spec's label; an overseas
    layer: its level's title and the territory's name)."""
    if name in LAYER_TITLES:
        return LAYER_TITLES[name]
    overseas = overseas_layer(name)
    if overseas and overseas[0] in LAYER_TITLES:
        return f"{LAYER_TITLES[overseas[0]]} – {overseas[1].name}"
    declared = _declared_style(name)
    return declared[0] if declared else name


def _crs_sentence(name: str, overseas_layers: Sequence[str]) -> str:
    """What a polygon layer's CRS is, and where the overseas territories are projected right."""
    overseas = overseas_layer(name)
    if overseas:
        level, territory = overseas
        return (f"{territory.name} ({territory.departement}) seulement, dans sa projection "
                f"officielle {territory.crs_name} ({territory.crs}) : surfaces et distances "
                f"justes ; la couche « {level} » contient aussi ces entités, en Lambert-93.")
    mine = [layer for layer in overseas_layers if layer_level(layer) == name]
    if not mine:
        return "Lambert-93 (EPSG:2154)."
    return ("Toutes les entités, outre-mer compris, en Lambert-93 (EPSG:2154), projection "
            "juste en métropole seulement ; l'outre-mer est aussi dans les couches "
            f"{', '.join(mine)}, chacune dans sa projection officielle.")


def layer_abstract(name: str, metadata: Mapping[str, str],
                   overseas_layers: Sequence[str] = ()) -> str:
    """French abstract of a layer: what it holds (for a polygon layer, its CRS and, given the
    GeoPackage's ``overseas_layers``, where the overseas territories are projected right), then
    its provenance (sources, factor table version, population vintage...)."""
    level = layer_level(name)
    if name == SCENARIOS_LAYER:
        what = (
            "Une entité par commune et par scénario (le tendanciel et ceux demandés) : empreinte "
            "projetée (tCO2e/an) de l'année de base à 2050 et écart au tendanciel (%), une "
            "colonne par année ; voir scenarios.csv pour les autres échelons. Lambert-93 "
            "(EPSG:2154)."
        )
    elif level in _LEVEL_WORDS:
        what = (
            f"Empreinte environnementale annuelle du numérique par {_LEVEL_WORDS[level]} : "
            "terminaux, réseaux et centres de données, fabrication et utilisation, en tCO2e/an "
            "et en kgCO2e par habitant et par an ; part émise sur le territoire (électricité "
            "consommée) et pollution déplacée (émise ailleurs). "
            + _crs_sentence(name, overseas_layers)
        )
    else:
        what = (
            f"{layer_title(name)} : points des registres fournis au calcul, placés dans une "
            "commune de l'étendue, avec leur électricité (kWh/an) et leurs émissions "
            "(tCO2e/an)."
        )
    return " ".join([what, *_provenance_sentences(metadata)])


def _history(metadata: Mapping[str, str]) -> list[str]:
    version = _territory_version()
    history = [f"Produit par territory {version}"] if version else []
    labels = {"factor_table_version": "Table de facteurs d'émission, version",
              "population_vintage": "Population :",
              "datacenter_scope": "Périmètre des centres de données :",
              "extent": "Étendue :"}
    history += [f"{label} {metadata[key]}" for key, label in labels.items() if metadata.get(key)]
    sources = str(metadata.get("sources", "")).split(";")
    history += [f"Source : {s.strip()}" for s in sources if s.strip()]
    known = {"sources", *labels}
    history += [f"{key} : {value}" for key, value in sorted(metadata.items()) if key not in known]
    return history


def _keywords(name: str) -> dict[str, list[str]]:
    words = ["numérique", "empreinte carbone", "gaz à effet de serre", "territoire"]
    if layer_level(name) in _LEVEL_WORDS:
        words.append(_LEVEL_WORDS[layer_level(name)])
    overseas = overseas_layer(name)
    if overseas:
        words += ["outre-mer", overseas[1].name]
    return {"gmd:topicCategory": ["environment"], "Mots-clés": words}


def qgis_metadata_xml(name: str, metadata: Mapping[str, str], *, crs: str,
                      bounds: tuple[float, float, float, float] | None = None,
                      overseas_layers: Sequence[str] = ()) -> str:
    """QGIS layer metadata document (what QGIS reads from ``gpkg_metadata`` for a GeoPackage
    layer): French title and abstract, keywords, history (provenance), CRS and extent."""
    root = qgis_style.document(version=qgis_style.VECTOR_VERSION)

    def add(parent: ET.Element, tag: str, text: str = "", **attrib: str) -> ET.Element:
        element = ET.SubElement(parent, tag, attrib)
        element.text = text
        return element

    factor = metadata.get("factor_table_version")
    add(root, "identifier", f"territory:{name}" + (f":{factor}" if factor else ""))
    add(root, "parentidentifier")
    add(root, "language", "fre")
    add(root, "type", "dataset")
    add(root, "title", layer_title(name))
    add(root, "abstract", layer_abstract(name, metadata, overseas_layers))
    for vocabulary, words in _keywords(name).items():
        keywords = add(root, "keywords", vocabulary=vocabulary)
        for word in words:
            add(keywords, "keyword", word)
    add(root, "links")
    for entry in _history(metadata):
        add(root, "history", entry)
    add(root, "fees")
    add(root, "encoding", "UTF-8")
    add(add(add(root, "crs"), "spatialrefsys"), "authid", crs)
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        add(add(root, "extent"), "spatial", dimensions="2", crs=crs, minx=repr(minx),
            miny=repr(miny), maxx=repr(maxx), maxy=repr(maxy), minz="0", maxz="0")
    return qgis_style.to_qml(root)


def _gdal_layer_metadata(name: str, metadata: Mapping[str, str],
                         overseas_layers: Sequence[str] = ()) -> dict[str, str]:
    """GDAL metadata of a layer: IDENTIFIER and DESCRIPTION (stored by GDAL in
    ``gpkg_contents``, read by QGIS as title and abstract), the provenance keys in
    ``gpkg_metadata`` (reference_scope ``table``)."""
    return {"IDENTIFIER": layer_title(name),
            "DESCRIPTION": layer_abstract(name, metadata, overseas_layers),
            **{str(k): str(v) for k, v in metadata.items()}}


def _gdal_dataset_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """GDAL metadata of the GeoPackage (``gpkg_metadata``, reference_scope ``geopackage``)."""
    abstract = " ".join([
        ("Empreinte environnementale annuelle du numérique par commune, EPCI, département et "
        "région, et équipements localisés des registres fournis."),
        *_provenance_sentences(metadata),
    ])
    out = {"TITLE": DATASET_TITLE, "ABSTRACT": abstract,
           **{str(k): str(v) for k, v in metadata.items()}}
    version = _territory_version()
    if version:
        out.setdefault("territory_version", version)
    return out


def _ensure_metadata_extension(db: sqlite3.Connection) -> None:
    """The metadata extension's two tables (GeoPackage 1.2 DDL) and their registration."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS gpkg_metadata (
            id INTEGER CONSTRAINT m_pk PRIMARY KEY ASC NOT NULL,
            md_scope TEXT NOT NULL DEFAULT 'dataset', md_standard_uri TEXT NOT NULL,
            mime_type TEXT NOT NULL DEFAULT 'text/xml', metadata TEXT NOT NULL DEFAULT '')"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS gpkg_metadata_reference (
            reference_scope TEXT NOT NULL, table_name TEXT, column_name TEXT,
            row_id_value INTEGER,
            timestamp DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            md_file_id INTEGER NOT NULL, md_parent_id INTEGER,
            CONSTRAINT crmr_mfi_fk FOREIGN KEY (md_file_id) REFERENCES gpkg_metadata(id),
            CONSTRAINT crmr_mpi_fk FOREIGN KEY (md_parent_id) REFERENCES gpkg_metadata(id))"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS gpkg_extensions (
            table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,
            definition TEXT NOT NULL, scope TEXT NOT NULL,
            CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))"""
    )
    for table in ("gpkg_metadata", "gpkg_metadata_reference"):
        # UNIQUE does not catch a duplicate whose column_name is NULL: check first
        db.execute(
            "INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, "
            "scope) SELECT ?, NULL, 'gpkg_metadata', ?, 'read-write' WHERE NOT EXISTS "
            "(SELECT 1 FROM gpkg_extensions WHERE table_name = ? "
            "AND extension_name = 'gpkg_metadata')",
            (table, METADATA_EXTENSION_DEFINITION, table),
        )


#: GDAL's options while territory writes a GeoPackage: what it writes is dated
#: ``CONTENT_DATE`` instead of now, and SQLite does not wait for the disk at each of its
#: transactions (``fsync``: 0.9 s of all of France's 1.8 s GeoPackage). The file is written in
#: the run's staging folder, which a failed or killed run discards (territory.output_folder),
#: so a file cut short by a crash is never published.
_GDAL_WRITE_OPTIONS = {"OGR_CURRENT_DATE": CONTENT_DATE, "OGR_SQLITE_SYNCHRONOUS": "OFF"}


@contextmanager
def _gdal_write_options() -> Iterator[None]:
    """:data:`_GDAL_WRITE_OPTIONS` set for the process (pyogrio's GDAL), restored afterwards."""
    import pyogrio

    before = {key: pyogrio.get_gdal_config_option(key) for key in _GDAL_WRITE_OPTIONS}
    pyogrio.set_gdal_config_options(_GDAL_WRITE_OPTIONS)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)


def _write_qgis_metadata(db: sqlite3.Connection, names: Sequence[str], metadata: Mapping[str, str],
                         crs: Mapping[str, str], timestamp: str,
                         overseas_layers: Sequence[str] = ()) -> None:
    """One QGIS metadata document per layer (``crs``: each layer's), referenced with
    reference_scope ``table``."""
    _ensure_metadata_extension(db)
    for name in names:
        row = db.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents "
                         "WHERE table_name = ?", (name,)).fetchone()
        bounds = ((float(row[0]), float(row[1]), float(row[2]), float(row[3]))
                  if row and None not in row else None)
        md_id = db.execute(
            "INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata) "
            "VALUES ('dataset', ?, 'text/xml', ?)",
            (QGIS_METADATA_URI, qgis_metadata_xml(name, metadata, crs=crs[name], bounds=bounds,
                                                  overseas_layers=overseas_layers)),
        ).lastrowid
        db.execute(
            "INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name, "
            "row_id_value, timestamp, md_file_id, md_parent_id) "
            "VALUES ('table', ?, NULL, NULL, ?, ?, NULL)",
            (name, timestamp, md_id),
        )


def _write_spatial_view(db: sqlite3.Connection, name: str, table: pa.Table, base: str,
                        crs: str, title: str, abstract: str) -> None:
    """The spatial view ``<name>`` over the attributes table ``<name>_values`` (already
    written: ``table``'s columns, a ``code_insee`` one) joining the geometry of ``base`` (GDAL
    reads a view registered in gpkg_contents and gpkg_geometry_columns as a layer: its first
    column, an integer, is the feature id)."""
    values = f"{name}_values"
    columns = [c for c in table.column_names if c != "geometry"]
    db.execute(
        f'CREATE VIEW "{name}" AS SELECT v.fid AS fid, b.geom AS geom, '
        + ", ".join(f'v."{c}"' for c in columns)
        + f' FROM "{values}" AS v JOIN "{base}" AS b ON b.code_insee = v.code_insee')
    srs_id = int(crs.split(":")[1])
    bounds = db.execute('SELECT min_x, min_y, max_x, max_y FROM gpkg_contents '
                        "WHERE table_name = ?", (base,)).fetchone()
    db.execute("INSERT OR REPLACE INTO gpkg_contents (table_name, data_type, identifier, "
               "description, last_change, min_x, min_y, max_x, max_y, srs_id) "
               "VALUES (?, 'features', ?, ?, ?, ?, ?, ?, ?, ?)",
               (name, title, abstract, CONTENT_DATE, *bounds, srs_id))
    db.execute("INSERT OR REPLACE INTO gpkg_geometry_columns (table_name, column_name, "
               "geometry_type_name, srs_id, z, m) VALUES (?, 'geom', 'MULTIPOLYGON', ?, 0, 0)",
               (name, srs_id))


def save_layers_geopackage(
    layers: dict[str, pa.Table], path: Path, *, crs: str, metadata: dict[str, str],
    palette: Sequence[str] | None = None, min_width_share: float = 0.0,
    points: dict[str, pa.Table] | None = None, layer_crs: Mapping[str, str] | None = None,
    views: Mapping[str, str] | None = None,
) -> None:
    """Write each Arrow table (with a WKB ``geometry`` column) as a GeoPackage layer, then its
    named QGIS styles and its provenance metadata.

    Parameters
    ----------
    layers
        Polygon layer name -> attributes and ``geometry`` (WKB MultiPolygons).
    path
        GeoPackage to create (overwritten).
    crs
        CRS of the geometries, e.g. ``EPSG:2154``.
    layer_crs
        Layer name -> CRS of the layers in another CRS (the overseas layers, e.g.
        ``communes_reunion`` -> ``EPSG:2975``). An overseas layer's classes are those of its
        level's layer when ``layers`` holds it.
    palette
        Colours of the graduated classes, lightest first (default: each styled column's
        palette in the column catalogue).
    metadata
        Provenance, key -> value: written to the ``territory_metadata`` table, to the GDAL
        metadata of the GeoPackage and of each layer, and cited in each layer's QGIS metadata
        (keys ``factor_table_version``, ``population_vintage``, ``datacenter_scope``,
        ``extent`` and ``sources`` are worded in French). The keys of ``RUN_TIME_KEYS``
        (``generated``) are left out: the GeoPackage holds no time of generation.
    min_width_share
        Narrowest class, as a share of the median (see ``mapping.class_breaks``).
    points
        Point layer name (``datacenters``, ``antennas``, ``infrastructure``) -> attributes and
        ``geometry`` (WKB Points); empty tables are not written.
    views
        Layer of ``layers`` (without geometry) -> the polygon layer whose geometry it takes by
        ``code_insee``: written as an attributes table ``<layer>_values`` and a GeoPackage
        spatial view ``<layer>`` (GDAL's "spatial views"), so that a layer with several rows per
        commune (the scenarios) does not store each commune's outline again.
    """
    from pyogrio.raw import write_arrow

    metadata = {k: v for k, v in metadata.items() if k not in RUN_TIME_KEYS}
    points = {name: table for name, table in (points or {}).items() if table.num_rows}
    views = dict(views or {})
    written = [(name, table, "MultiPolygon") for name, table in layers.items()
               if name not in views] + [(name, table, "Point") for name, table in points.items()]
    crs_of = {name: (layer_crs or {}).get(name, crs) for name, _, _ in written}
    overseas_layers = [name for name in layers if overseas_layer(name)]
    with _gdal_write_options():
        for i, (name, table, geometry_type) in enumerate(written):
            append = path.exists()
            write_arrow(table, path, layer=name, driver="GPKG", geometry_name="geometry",
                        geometry_type=geometry_type, crs=crs_of[name], append=append,
                        # GeoPackage 1.2: what the GDAL of QGIS 3.22 reads without a warning
                        dataset_options=None if append else {"VERSION": GEOPACKAGE_VERSION},
                        layer_options={"SPATIAL_INDEX": "YES"},
                        dataset_metadata=_gdal_dataset_metadata(metadata) if i == 0 else None,
                        layer_metadata=_gdal_layer_metadata(name, metadata, overseas_layers))
        for name in views:
            # the view's attributes table, written by GDAL (a tenth of the time of sqlite3)
            write_arrow(layers[name].drop_columns(["geometry"]) if "geometry" in
                        layers[name].column_names else layers[name], path,
                        layer=f"{name}_values", driver="GPKG", geometry_name=None,
                        geometry_type=None, crs=None, append=True)
    styles = [s for name, table in layers.items()
              for s in polygon_styles(name, table, palette, min_width_share,
                                      layers.get(layer_level(name)))]
    styles += [s for name, table in points.items() for s in point_styles(name, table)]
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("PRAGMA synchronous = OFF")  # as GDAL's writes above
        for name, base in views.items():
            _write_spatial_view(db, name, layers[name], base, crs_of.get(base, crs),
                                layer_title(name), layer_abstract(name, metadata))
        # QGIS's own table, but with styleName unbounded: some names are longer than its 30
        db.execute(
            """CREATE TABLE IF NOT EXISTS layer_styles (
                id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256),
                f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256),
                styleName TEXT, styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN,
                description TEXT, owner TEXT(30), ui TEXT(30), update_time DATETIME)"""
        )
        db.executemany(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
            "owner, ui, update_time) VALUES ('', '', ?, 'geom', ?, ?, '', ?, ?, '', NULL, ?)",
            [(s.layer, s.name, s.qml, int(s.default), s.description, CONTENT_DATE)
             for s in styles],
        )
        # an attributes table needs an INTEGER primary key (GeoPackage requirement 119)
        db.execute(
            "CREATE TABLE IF NOT EXISTS territory_metadata (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "key TEXT NOT NULL UNIQUE, value TEXT)")
        db.executemany("INSERT OR REPLACE INTO territory_metadata (key, value) VALUES (?, ?)",
                       sorted(metadata.items()))
        # declare the two tables so GeoPackage validators accept them
        for table in ("layer_styles", "territory_metadata"):
            db.execute(
                "INSERT OR REPLACE INTO gpkg_contents (table_name, data_type, identifier, "
                "last_change) VALUES (?, 'attributes', ?, ?)",
                (table, table, CONTENT_DATE),
            )
        _write_qgis_metadata(db, [name for name, _, _ in written] + list(views), metadata,
                             {**crs_of, **{v: crs_of.get(b, crs) for v, b in views.items()}},
                             CONTENT_DATE, overseas_layers)
