"""Write the GeoPackage: the layers, their QGIS styles and their provenance metadata.

Styles (``layer_styles`` table). QGIS lists the styles stored with a layer (Layer Properties >
Style > Load Style... > From database) and applies the one marked ``useAsDefault`` when the layer
is added. Each polygon layer gets the four graduated styles of ``POLYGON_STYLES``, with the web
map's quantile classes and colours and French labels with their unit; "Empreinte par habitant"
is the default. Each point layer gets a thematic default (size by IT power, colour by operator
or by kind) and a plain single-marker alternative. Every style carries French field aliases.

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
from xml.sax.saxutils import quoteattr

import numpy as np
import pyarrow as pa

from territory.mapping import class_breaks, class_colours

#: French aliases shown by QGIS in the attribute table and forms
FIELD_ALIASES = {
    "code_insee": "Code INSEE",
    "nom": "Nom",
    "population": "Population municipale",
    "footprint_tco2e": "Empreinte numérique (tCO2e/an)",
    "footprint_tco2e_low": "Empreinte, hypothèse basse (tCO2e/an)",
    "footprint_tco2e_high": "Empreinte, hypothèse haute (tCO2e/an)",
    "footprint_kgco2e_per_inhabitant": "Empreinte par habitant (kgCO2e/hab./an)",
    "devices_tco2e": "Terminaux (tCO2e/an)",
    "networks_tco2e": "Réseaux (tCO2e/an)",
    "datacenters_tco2e": "Centres de données (tCO2e/an)",
    "embodied_tco2e": "Fabrication (tCO2e/an)",
    "use_tco2e": "Utilisation (tCO2e/an)",
    "territorial_tco2e": "Émissions sur le territoire (tCO2e/an)",
    "displaced_tco2e": "Pollution déplacée (tCO2e/an)",
    "electricity_kwh": "Électricité consommée (kWh/an)",
    "territorial_kwh": "Électricité consommée sur le territoire (kWh/an)",
    "smartphones_units": "Smartphones",
    "computers_units": "Ordinateurs",
    "televisions_units": "Téléviseurs",
    "fixed_lines_units": "Lignes internet fixes",
    "mobile_subscriptions_units": "Cartes SIM",
    "departement_code": "Département",
    "region_code": "Région",
    "epci_siren": "SIREN de l'EPCI",
    "epci_type": "Type d'EPCI",
    "communes_count": "Nombre de communes",
    "population_source": "Origine de la population",
    "population_estimated": "Population estimée",
    "geometry_origin": "Origine du contour",
    "antennas_count": "Sites d'antennes (opérateur-site)",
    "antennas_kwh": "Électricité des antennes (kWh/an)",
    "antennas_tco2e": "Émissions des antennes (tCO2e/an)",
    "datacenters_count": "Centres de données",
    "datacenters_it_power_mw": "Puissance informatique des centres de données (MW)",
    "datacenters_located_kwh": "Électricité des centres de données (kWh/an)",
    "datacenters_located_tco2e": "Émissions des centres de données situés ici (tCO2e/an)",
    "streetlights_count": "Points lumineux",
    "cameras_count": "Caméras",
    "sensors_count": "Capteurs",
    "infrastructure_kwh": "Électricité des infrastructures connectées (kWh/an)",
    "infrastructure_tco2e": "Émissions des infrastructures connectées (tCO2e/an)",
    "infrastructure_data_stored_tb": "Données stockées (To)",
    "ftth_share": "Part des locaux raccordables à la fibre",
    "median_income_eur": "Revenu médian (€/UC)",
    "poverty_rate_pct": "Taux de pauvreté (%)",
    "kind": "Type",
    "name": "Nom",
    "operator": "Opérateur",
    "subtype": "Sous-type",
    "technologies": "Technologies",
    "has_5g": "5G",
    "capacity_mw": "Puissance déclarée (MW)",
    "pue": "PUE",
    "capacity_origin": "Origine de la puissance",
    "installed_year": "Année d'installation",
    "it_power_mw": "Puissance informatique retenue (MW)",
    "it_power_origin": "Origine de la puissance retenue",
    "data_stored_tb": "Données stockées (To)",
    "source_file": "Fichier source",
    "source_line": "Ligne du fichier source",
    "population_stratum": "Strate de population",
    "stratum_communes_count": "Communes de la strate",
    "stratum_median_kgco2e_per_inhabitant": "Médiane de la strate (kgCO2e/hab./an)",
    "stratum_rank": "Rang dans la strate (1 = empreinte par habitant la plus basse)",
}


STYLE_FIELD = "footprint_kgco2e_per_inhabitant"
#: units in class labels (ASCII, as in the field aliases)
PER_INHABITANT_UNIT = "kgCO2e/hab./an"
TOTAL_UNIT = "tCO2e/an"


@dataclass(frozen=True)
class PolygonStyle:
    """One named graduated style of every polygon layer.

    Attributes
    ----------
    name
        Style name listed by QGIS.
    field
        Classified column.
    unit
        Unit written after each class label.
    description
        Description listed by QGIS next to the name.
    intensive
        Per-inhabitant indicator: only inhabited territories set the classes (uninhabited ones
        are 0 by convention and fall in the first class), as on the web map.
    """

    name: str
    field: str
    unit: str
    description: str
    intensive: bool = False


#: the named styles of each polygon layer, default first (the indicators of the web map)
POLYGON_STYLES = (
    PolygonStyle("Empreinte par habitant", STYLE_FIELD, PER_INHABITANT_UNIT,
                 "Classes par quantiles de l'empreinte numérique par habitant "
                 "(territoires habités)", intensive=True),
    PolygonStyle("Empreinte totale", "footprint_tco2e", TOTAL_UNIT,
                 "Classes par quantiles de l'empreinte numérique totale"),
    PolygonStyle("Émissions sur le territoire", "territorial_tco2e", TOTAL_UNIT,
                 "Classes par quantiles des émissions de l'électricité consommée "
                 "sur le territoire"),
    PolygonStyle("Pollution déplacée", "displaced_tco2e", TOTAL_UNIT,
                 "Classes par quantiles des émissions causées hors du territoire"),
)
#: name of the default style of the polygon layers
STYLE_NAME = POLYGON_STYLES[0].name

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
_QGIS_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"


def _aliases_xml(columns: list[str]) -> str:
    """QML ``<alias>`` elements: the French name QGIS shows for each known column."""
    return "".join(
        f'<alias field={quoteattr(c)} index="{i}" name={quoteattr(FIELD_ALIASES[c])}/>'
        for i, c in enumerate(columns)
        if c in FIELD_ALIASES
    )


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


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return ",".join(str(int(h[i : i + 2], 16)) for i in (0, 2, 4)) + ",255"


def _fill_symbol(name: int, colour: str) -> str:
    return (
        f'<symbol type="fill" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
        '<layer class="SimpleFill" enabled="1" locked="0" pass="0"><Option type="Map">'
        f'<Option type="QString" name="color" value="{_rgb(colour)}"/>'
        '<Option type="QString" name="outline_color" value="255,255,255,255"/>'
        '<Option type="QString" name="outline_style" value="solid"/>'
        '<Option type="QString" name="outline_width" value="0.1"/>'
        '<Option type="QString" name="outline_width_unit" value="MM"/>'
        '<Option type="QString" name="style" value="solid"/>'
        "</Option></layer></symbol>"
    )


def _marker_symbol(name: int, colour: str, size_mm: float) -> str:
    return (
        f'<symbol type="marker" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
        '<layer class="SimpleMarker" enabled="1" locked="0" pass="0"><Option type="Map">'
        f'<Option type="QString" name="color" value="{_rgb(colour)}"/>'
        '<Option type="QString" name="name" value="circle"/>'
        '<Option type="QString" name="outline_color" value="255,255,255,255"/>'
        '<Option type="QString" name="outline_style" value="solid"/>'
        '<Option type="QString" name="outline_width" value="0.2"/>'
        '<Option type="QString" name="outline_width_unit" value="MM"/>'
        '<Option type="QString" name="scale_method" value="diameter"/>'
        f'<Option type="QString" name="size" value="{size_mm}"/>'
        '<Option type="QString" name="size_unit" value="MM"/>'
        "</Option></layer></symbol>"
    )


def _qml(renderer: str, columns: list[str], geometry_type: int) -> str:
    """A QGIS 3 style document: ``renderer`` (a ``<renderer-v2>`` element) and French aliases.
    ``geometry_type``: 0 points, 2 polygons."""
    return (
        f"{_QGIS_DOCTYPE}"
        '<qgis version="3.22.0" styleCategories="AllStyleCategories">'
        f"{renderer}"
        f"<aliases>{_aliases_xml(columns)}</aliases>"
        f"<layerGeometryType>{geometry_type}</layerGeometryType>"
        "</qgis>"
    )


def _ranges_xml(bounds: list[float], labels: list[str]) -> str:
    return "".join(
        f'<range lower="{bounds[i]!r}" upper="{bounds[i + 1]!r}" symbol="{i}" '
        f'label={quoteattr(labels[i])} render="true"/>'
        for i in range(len(bounds) - 1)
    )


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


def graduated_qml(
    values: np.ndarray, palette: list[str], columns: list[str], min_width_share: float = 0.0,
    class_values: np.ndarray | None = None, *, field: str = STYLE_FIELD,
    unit: str = PER_INHABITANT_UNIT,
) -> str:
    """QGIS 3 style (QML) for a polygon layer: a graduated renderer on ``field`` with the same
    quantile classes and colours as the web map, labels in French ending with ``unit``, and
    French aliases.

    ``class_values`` (default: ``values``) set the class limits; the first and last classes
    still stretch to the minimum and maximum of ``values`` so that every feature is drawn.
    """
    values = np.asarray(values, dtype=float)
    considered = values if class_values is None else np.asarray(class_values, dtype=float)
    breaks = class_breaks(considered, len(palette), min_width_share)
    colours = class_colours(len(breaks) + 1, palette)
    bounds = _class_bounds(values, breaks)
    symbols = "".join(_fill_symbol(i, colours[i]) for i in range(len(bounds) - 1))
    renderer = (
        f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(field)} '
        'graduatedMethod="GraduatedColor" symbollevels="0" enableorderby="0" forceraster="0">'
        f"<ranges>{_ranges_xml(bounds, _range_labels(bounds, breaks, unit))}</ranges>"
        f"<symbols>{symbols}</symbols>"
        '<mode name="quantile"/><classificationMethod id="Quantile"/>'
        "</renderer-v2>"
    )
    return _qml(renderer, columns, 2)


def graduated_size_qml(
    values: np.ndarray, columns: list[str], *, field: str, unit: str, colour: str,
    sizes_mm: Sequence[float] = DATACENTER_SIZES_MM,
) -> str:
    """QGIS 3 style (QML) for a point layer: markers sized by quantile classes of ``field``
    (a graduated renderer by size), labels in French ending with ``unit``, French aliases."""
    values = np.asarray(values, dtype=float)
    breaks = class_breaks(values, len(sizes_mm))
    bounds = _class_bounds(values, breaks)
    n = len(bounds) - 1
    last = len(sizes_mm) - 1
    sizes = [sizes_mm[round(i * last / (n - 1)) if n > 1 else last // 2] for i in range(n)]
    symbols = "".join(_marker_symbol(i, colour, sizes[i]) for i in range(n))
    renderer = (
        f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(field)} '
        'graduatedMethod="GraduatedSize" symbollevels="0" enableorderby="0" forceraster="0">'
        f"<ranges>{_ranges_xml(bounds, _range_labels(bounds, breaks, unit))}</ranges>"
        f"<symbols>{symbols}</symbols>"
        '<mode name="quantile"/><classificationMethod id="Quantile"/>'
        "</renderer-v2>"
    )
    return _qml(renderer, columns, 0)


def categorized_qml(
    field: str, categories: Sequence[tuple[str, str, str]], columns: list[str], *,
    other_label: str, other_colour: str = OTHER_COLOUR, size_mm: float = 2.0,
) -> str:
    """QGIS 3 style (QML) for a point layer: one marker colour per value of ``field``
    (``categories``: value, French label, colour), then a category for every other value and
    for missing values (QGIS draws the category of value ``""`` for them), French aliases."""
    listed = [*categories, ("", other_label, other_colour)]
    category_xml = "".join(
        f'<category value={quoteattr(value)} label={quoteattr(label)} symbol="{i}" '
        'render="true"/>'
        for i, (value, label, _) in enumerate(listed)
    )
    symbols = "".join(_marker_symbol(i, colour, size_mm)
                      for i, (_, _, colour) in enumerate(listed))
    renderer = (
        f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(field)} '
        'symbollevels="0" enableorderby="0" forceraster="0">'
        f"<categories>{category_xml}</categories><symbols>{symbols}</symbols>"
        "</renderer-v2>"
    )
    return _qml(renderer, columns, 0)


def marker_qml(colour: str, columns: list[str], size_mm: float = 2.0) -> str:
    """QGIS 3 style (QML) for a point layer: one round marker, French field aliases."""
    renderer = (
        '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
        f"<symbols>{_marker_symbol(0, colour, size_mm)}</symbols></renderer-v2>"
    )
    return _qml(renderer, columns, 0)


@dataclass(frozen=True)
class NamedStyle:
    """One row of ``layer_styles``."""

    layer: str
    name: str
    qml: str
    description: str
    default: bool


def polygon_styles(name: str, table: pa.Table, palette: list[str],
                   min_width_share: float = 0.0) -> list[NamedStyle]:
    """The named styles of a polygon layer (``POLYGON_STYLES`` whose column it has), the first
    one default."""
    columns = [c for c in table.column_names if c != "geometry"]
    inhabited = (table.column("population").to_numpy(zero_copy_only=False) > 0
                 if "population" in columns else None)
    styles = []
    for style in POLYGON_STYLES:
        if style.field not in columns:
            continue
        values = table.column(style.field).to_numpy(zero_copy_only=False).astype(float)
        class_values = values[inhabited] if style.intensive and inhabited is not None else values
        qml = graduated_qml(values, palette, columns, min_width_share, class_values,
                            field=style.field, unit=style.unit)
        styles.append(NamedStyle(name, style.name, qml, style.description, not styles))
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
            thematic = (graduated_size_qml(values, columns, field="it_power_mw", unit="MW",
                                           colour=colour),
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
    """French title of a layer (a point layer of a declared kind: its spec's label)."""
    if name in LAYER_TITLES:
        return LAYER_TITLES[name]
    declared = _declared_style(name)
    return declared[0] if declared else name


def layer_abstract(name: str, metadata: Mapping[str, str]) -> str:
    """French abstract of a layer: what it holds, then its provenance (sources, factor table
    version, population vintage...)."""
    if name in _LEVEL_WORDS:
        what = (
            f"Empreinte environnementale annuelle du numérique par {_LEVEL_WORDS[name]} : "
            "terminaux, réseaux et centres de données, fabrication et utilisation, en tCO2e/an "
            "et en kgCO2e par habitant et par an ; part émise sur le territoire (électricité "
            "consommée) et pollution déplacée (émise ailleurs)."
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
    if name in _LEVEL_WORDS:
        words.append(_LEVEL_WORDS[name])
    return {"gmd:topicCategory": ["environment"], "Mots-clés": words}


def qgis_metadata_xml(name: str, metadata: Mapping[str, str], *, crs: str,
                      bounds: tuple[float, float, float, float] | None = None) -> str:
    """QGIS layer metadata document (what QGIS reads from ``gpkg_metadata`` for a GeoPackage
    layer): French title and abstract, keywords, history (provenance), CRS and extent."""
    root = ET.Element("qgis", version="3.22.0")

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
    add(root, "abstract", layer_abstract(name, metadata))
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
    return _QGIS_DOCTYPE + ET.tostring(root, encoding="unicode")


def _gdal_layer_metadata(name: str, metadata: Mapping[str, str]) -> dict[str, str]:
    """GDAL metadata of a layer: IDENTIFIER and DESCRIPTION (stored by GDAL in
    ``gpkg_contents``, read by QGIS as title and abstract), the provenance keys in
    ``gpkg_metadata`` (reference_scope ``table``)."""
    return {"IDENTIFIER": layer_title(name), "DESCRIPTION": layer_abstract(name, metadata),
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


@contextmanager
def _gdal_content_date() -> Iterator[None]:
    """GDAL (pyogrio's) dates what it writes in a GeoPackage ``CONTENT_DATE`` instead of now
    (its ``OGR_CURRENT_DATE`` option, set for the process and restored afterwards)."""
    import pyogrio

    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": CONTENT_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


def _write_qgis_metadata(db: sqlite3.Connection, names: Sequence[str], metadata: Mapping[str, str],
                         crs: str, timestamp: str) -> None:
    """One QGIS metadata document per layer, referenced with reference_scope ``table``."""
    _ensure_metadata_extension(db)
    for name in names:
        row = db.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents "
                         "WHERE table_name = ?", (name,)).fetchone()
        bounds = tuple(float(v) for v in row) if row and None not in row else None
        md_id = db.execute(
            "INSERT INTO gpkg_metadata (md_scope, md_standard_uri, mime_type, metadata) "
            "VALUES ('dataset', ?, 'text/xml', ?)",
            (QGIS_METADATA_URI, qgis_metadata_xml(name, metadata, crs=crs, bounds=bounds)),
        ).lastrowid
        db.execute(
            "INSERT INTO gpkg_metadata_reference (reference_scope, table_name, column_name, "
            "row_id_value, timestamp, md_file_id, md_parent_id) "
            "VALUES ('table', ?, NULL, NULL, ?, ?, NULL)",
            (name, timestamp, md_id),
        )


def save_layers_geopackage(
    layers: dict[str, pa.Table], path: Path, *, crs: str, palette: list[str],
    metadata: dict[str, str], min_width_share: float = 0.0,
    points: dict[str, pa.Table] | None = None,
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
    palette
        Colours of the graduated classes, lightest first.
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
    """
    from pyogrio.raw import write_arrow

    metadata = {k: v for k, v in metadata.items() if k not in RUN_TIME_KEYS}
    points = {name: table for name, table in (points or {}).items() if table.num_rows}
    written = [(name, table, "MultiPolygon") for name, table in layers.items()] + [
        (name, table, "Point") for name, table in points.items()]
    with _gdal_content_date():
        for i, (name, table, geometry_type) in enumerate(written):
            append = path.exists()
            write_arrow(table, path, layer=name, driver="GPKG", geometry_name="geometry",
                        geometry_type=geometry_type, crs=crs, append=append,
                        # GeoPackage 1.2: what the GDAL of QGIS 3.22 reads without a warning
                        dataset_options=None if append else {"VERSION": GEOPACKAGE_VERSION},
                        layer_options={"SPATIAL_INDEX": "YES"},
                        dataset_metadata=_gdal_dataset_metadata(metadata) if i == 0 else None,
                        layer_metadata=_gdal_layer_metadata(name, metadata))
    styles = [s for name, table in layers.items()
              for s in polygon_styles(name, table, palette, min_width_share)]
    styles += [s for name, table in points.items() for s in point_styles(name, table)]
    with closing(sqlite3.connect(path)) as db, db:
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
        _write_qgis_metadata(db, [name for name, _, _ in written], metadata, crs, CONTENT_DATE)
