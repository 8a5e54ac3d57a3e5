"""The overseas départements (DROM) and their official projected CRS.

The GeoPackage's contract layers (``communes``, ``epci``, ``departements``, ``regions``) hold
every territory in Lambert-93 (EPSG:2154), which is only valid for metropolitan France: overseas
shapes, areas and distances are wrong there and "zoom to layer" shows a speck of mainland. Each
overseas département is therefore also written in its own layers (``communes_guadeloupe``,
``epci_guadeloupe``...) in the projection IGN publishes it in (RGAF09, RGFG95, RGR92, RGM04:
UTM zones on the local realisation of ITRS), and gets its own density raster on a 1 km grid of
that projection. An overseas département is also a région (one feature each) and holds a few
EPCI wholly inside it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OverseasTerritory:
    """One overseas département (and région).

    Attributes
    ----------
    key
        Suffix of its layer and file names (``guadeloupe`` → ``communes_guadeloupe``).
    departement
        Its département code (``971``).
    region
        Its région code (``01``).
    name
        French name, as the layer tree and titles show it.
    crs
        Its official projected CRS (``EPSG:5490``).
    crs_name
        That CRS's name, for titles and abstracts.
    """

    key: str
    departement: str
    region: str
    name: str
    crs: str
    crs_name: str

    def layer(self, level: str) -> str:
        """GeoPackage layer of ``level`` (``communes``...) for this territory."""
        return f"{level}_{self.key}"

    def density_raster(self) -> str:
        """File name of this territory's density raster (its QGIS style: same stem, ``.qml``)."""
        return f"territory_density_1km_{self.key}.tif"


#: the five overseas départements, in the order of INSEE codes (the map's insets' order)
OVERSEAS_TERRITORIES = (
    OverseasTerritory("guadeloupe", "971", "01", "Guadeloupe", "EPSG:5490",
                      "RGAF09 / UTM zone 20N"),
    OverseasTerritory("martinique", "972", "02", "Martinique", "EPSG:5490",
                      "RGAF09 / UTM zone 20N"),
    OverseasTerritory("guyane", "973", "03", "Guyane", "EPSG:2972", "RGFG95 / UTM zone 22N"),
    OverseasTerritory("reunion", "974", "04", "La Réunion", "EPSG:2975",
                      "RGR92 / UTM zone 40S"),
    OverseasTerritory("mayotte", "976", "06", "Mayotte", "EPSG:4471", "RGM04 / UTM zone 38S"),
)


def overseas_layer(name: str) -> tuple[str, OverseasTerritory] | None:
    """The level and territory of an overseas layer name (``epci_reunion`` → ``("epci", La
    Réunion)``), or ``None`` for any other layer."""
    for territory in OVERSEAS_TERRITORIES:
        suffix = f"_{territory.key}"
        if name.endswith(suffix):
            return name.removesuffix(suffix), territory
    return None


def density_raster_names() -> frozenset[str]:
    """The overseas density rasters' file names and their styles' (what a run may write)."""
    names = set()
    for territory in OVERSEAS_TERRITORIES:
        raster = territory.density_raster()
        names |= {raster, raster.removesuffix(".tif") + ".qml"}
    return frozenset(names)
