"""Write the GeoPackage layers and the default QGIS style of each (``layer_styles`` table).

QGIS reads a layer's default style from the GeoPackage's ``layer_styles`` table: a graduated
renderer on ``footprint_kgco2e_per_inhabitant`` with quantile classes, class labels with their
unit, and French field aliases, so the GIS team opens a styled, readable layer.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
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
}

STYLE_FIELD = "footprint_kgco2e_per_inhabitant"
STYLE_NAME = "Empreinte par habitant (kgCO2e/hab./an)"


def _aliases_xml(columns: list[str]) -> str:
    """QML ``<alias>`` elements: the French name QGIS shows for each known column."""
    return "".join(
        f'<alias field={quoteattr(c)} index="{i}" name={quoteattr(FIELD_ALIASES[c])}/>'
        for i, c in enumerate(columns)
        if c in FIELD_ALIASES
    )


def _french(value: float) -> str:
    """A class limit written the French way (decimal comma), as precise as needed."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def _rgb(hex_colour: str) -> str:
    h = hex_colour.lstrip("#")
    return ",".join(str(int(h[i : i + 2], 16)) for i in (0, 2, 4)) + ",255"


def graduated_qml(
    values: np.ndarray, palette: list[str], columns: list[str], min_width_share: float = 0.0,
    class_values: np.ndarray | None = None,
) -> str:
    """QGIS 3 style (QML) with a graduated renderer on ``STYLE_FIELD`` and French aliases,
    with the same classes and colours as the web map.

    ``class_values`` (default: ``values``) set the class limits; the first and last classes
    still stretch to the minimum and maximum of ``values`` so that every feature is drawn.
    """
    breaks = class_breaks(values if class_values is None else class_values, len(palette),
                          min_width_share)
    colours = class_colours(len(breaks) + 1, palette)
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 0.0
    bounds = [lo, *breaks, hi]
    ranges, symbols = [], []
    for i in range(len(bounds) - 1):
        label = f"{_french(bounds[i])} – {_french(bounds[i + 1])} kgCO2e/hab./an"
        ranges.append(
            f'<range lower="{bounds[i]}" upper="{bounds[i + 1]}" symbol="{i}" '
            f"label={quoteattr(label)} render=\"true\"/>"
        )
        symbols.append(
            f'<symbol type="fill" name="{i}" alpha="1" clip_to_extent="1" force_rhr="0">'
            '<layer class="SimpleFill" enabled="1" locked="0" pass="0"><Option type="Map">'
            f'<Option type="QString" name="color" value="{_rgb(colours[i])}"/>'
            '<Option type="QString" name="outline_color" value="255,255,255,255"/>'
            '<Option type="QString" name="outline_style" value="solid"/>'
            '<Option type="QString" name="outline_width" value="0.1"/>'
            '<Option type="QString" name="outline_width_unit" value="MM"/>'
            '<Option type="QString" name="style" value="solid"/>'
            "</Option></layer></symbol>"
        )
    aliases = _aliases_xml(columns)
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
        '<qgis version="3.22.0" styleCategories="AllStyleCategories">'
        f'<renderer-v2 type="graduatedSymbol" attr="{STYLE_FIELD}" graduatedMethod="GraduatedColor" '
        'symbollevels="0" enableorderby="0" forceraster="0">'
        f"<ranges>{''.join(ranges)}</ranges><symbols>{''.join(symbols)}</symbols>"
        '<mode name="quantile"/><classificationMethod id="Quantile"/>'
        "</renderer-v2>"
        f"<aliases>{aliases}</aliases>"
        "<layerGeometryType>2</layerGeometryType>"
        "</qgis>"
    )


def marker_qml(colour: str, columns: list[str], size_mm: float = 2.0) -> str:
    """QGIS 3 style (QML) for a point layer: one round marker, French field aliases."""
    aliases = _aliases_xml(columns)
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
        '<qgis version="3.22.0" styleCategories="AllStyleCategories">'
        '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
        '<symbols><symbol type="marker" name="0" alpha="1" clip_to_extent="1" force_rhr="0">'
        '<layer class="SimpleMarker" enabled="1" locked="0" pass="0"><Option type="Map">'
        f'<Option type="QString" name="color" value="{_rgb(colour)}"/>'
        '<Option type="QString" name="name" value="circle"/>'
        '<Option type="QString" name="outline_color" value="255,255,255,255"/>'
        '<Option type="QString" name="outline_width" value="0.2"/>'
        f'<Option type="QString" name="size" value="{size_mm}"/>'
        '<Option type="QString" name="size_unit" value="MM"/>'
        "</Option></layer></symbol></symbols></renderer-v2>"
        f"<aliases>{aliases}</aliases>"
        "<layerGeometryType>0</layerGeometryType>"
        "</qgis>"
    )


#: colour of each registry point layer (ColorBrewer Set1)
POINT_COLOURS = {"datacenters": "#e41a1c", "antennas": "#377eb8", "infrastructure": "#4daf4a"}
POINT_STYLE_NAMES = {
    "datacenters": "Centres de données",
    "antennas": "Sites d'antennes mobiles",
    "infrastructure": "Infrastructures connectées",
}


def save_layers_geopackage(
    layers: dict[str, pa.Table], path: Path, *, crs: str, palette: list[str],
    metadata: dict[str, str], min_width_share: float = 0.0,
    points: dict[str, pa.Table] | None = None,
) -> None:
    """Write each Arrow table (with a WKB ``geometry`` column) as a GeoPackage layer, then its
    default QGIS style.

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
        Key -> value written to the ``territory_metadata`` table (provenance).
    min_width_share
        Narrowest class, as a share of the median (see ``mapping.class_breaks``).
    points
        Point layer name (``datacenters``, ``antennas``, ``infrastructure``) -> attributes and
        ``geometry`` (WKB Points); empty tables are not written.
    """
    from pyogrio.raw import write_arrow

    points = {name: table for name, table in (points or {}).items() if table.num_rows}
    for name, table in layers.items():
        write_arrow(table, path, layer=name, driver="GPKG", geometry_name="geometry",
                    geometry_type="MultiPolygon", crs=crs, append=path.exists(),
                    layer_options={"SPATIAL_INDEX": "YES"})
    for name, table in points.items():
        write_arrow(table, path, layer=name, driver="GPKG", geometry_name="geometry",
                    geometry_type="Point", crs=crs, append=path.exists(),
                    layer_options={"SPATIAL_INDEX": "YES"})
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with sqlite3.connect(path) as db:
        db.execute(
            """CREATE TABLE IF NOT EXISTS layer_styles (
                id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256),
                f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256),
                styleName TEXT(30), styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN,
                description TEXT, owner TEXT(30), ui TEXT(30), update_time DATETIME)"""
        )
        styles = []
        for name, table in layers.items():
            # uninhabited territories (per inhabitant = 0 by convention) do not set classes
            values = table.column(STYLE_FIELD).to_numpy().astype(float)
            inhabited = values[table.column("population").to_numpy() > 0]
            columns = [c for c in table.column_names if c != "geometry"]
            styles.append((name, STYLE_NAME, graduated_qml(values, palette, columns, min_width_share, inhabited),
                           "Classes par quantiles de l'empreinte numérique par habitant"))
        for name, table in points.items():
            columns = [c for c in table.column_names if c != "geometry"]
            styles.append((name, POINT_STYLE_NAMES.get(name, name),
                           marker_qml(POINT_COLOURS.get(name, "#984ea3"), columns),
                           POINT_STYLE_NAMES.get(name, name)))
        db.executemany(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
            "owner, ui, update_time) VALUES ('', '', ?, 'geom', ?, ?, '', 1, ?, '', NULL, ?)",
            [(*style, now) for style in styles],
        )
        db.execute("CREATE TABLE IF NOT EXISTS territory_metadata (key TEXT PRIMARY KEY, value TEXT)")
        db.executemany("INSERT OR REPLACE INTO territory_metadata VALUES (?, ?)", sorted(metadata.items()))
        # declare the two tables so GeoPackage validators accept them
        for table in ("layer_styles", "territory_metadata"):
            db.execute(
                "INSERT OR REPLACE INTO gpkg_contents (table_name, data_type, identifier, last_change) "
                "VALUES (?, 'attributes', ?, ?)",
                (table, table, now),
            )
