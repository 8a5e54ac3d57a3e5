"""Settings of a run, in one place.

Every setting is documented here (type, default, meaning) and passed as an argument; nothing
reads the environment or the disk at import time.

=========================  ===========  =========================================================
setting                    default      meaning
=========================  ===========  =========================================================
``out_dir``                ``out``      folder that receives ``territory.gpkg``, ``map.html``,
                                        ``communes.csv``, ``manifest.json`` and ``quarantine/``
``departements``           ``()``       département codes to keep (``44``, ``2A``); empty = France
``epcis``                  ``()``       SIRENs of EPCI whose member communes (COG 2026) to keep
``communes``               ``()``       codes of single communes to keep (``44109``); the extent
                                        is the union of the three (all empty = France; see
                                        :mod:`territory.extent`)
``population_file``        ``None``     INSEE legal-population CSV replacing the COG 2026 ones
``jobs_file``              ``None``     INSEE jobs at the place of work (``P22_EMPLT``…) replacing
                                        the estimate from establishments for the communes it lists
``age_file``               ``None``     INSEE population by age band (base-cc-evol-struct-pop):
                                        smartphone and computer rates follow the age structure
``sources``                ``()``       registries: ``(kind, path, options)`` triples, kinds
                                        ``datacenters``, ``antennas``, ``streetlights``,
                                        ``cameras``, ``sensors``, ``fibre``, ``income``
``retention_days``         ``None``     days cameras' and sensors' data are kept (storage energy);
                                        ``None`` takes ``cameras.retention_days`` from data/
``datacenter_scope``       ``france``   ``france`` (ADEME/Arcep 2022 scope, 2020 data) or
                                        ``with_abroad`` (Jan 2025 update: datacenters abroad
                                        serving French users are counted)
``national_reference``     ``2022``     national assessment the national check compares with:
                                        ``2022`` (ADEME, January 2025 update, 2022 data) or
                                        ``2020`` (ADEME/Arcep 2022 study, 2020 data)
``factor_overrides``       ``()``       factors replaced for this run: ``(id, value, low, high)``
                                        tuples (low/high ``None``: the table's bounds; a value
                                        that is a factor id takes that factor's figures); see
                                        :mod:`territory.sources.factors`
``scenarios``              ``()``       scenario files, or names of shipped scenarios
                                        (``pipelines/scenarios/``: ``sobriety``…), projected to
                                        2050 into ``scenarios.csv`` beside the baseline (see
                                        :mod:`territory.scenarios`); empty: no projection
``map_assets``             ``inline``   ``inline`` puts Leaflet's JS/CSS inside ``map.html``
                                        (opens with no network); ``cdn`` links them instead
``map_tiles``              ``None``     optional base map under the polygons: ``ign`` (Plan IGN),
                                        ``osm`` (OpenStreetMap
                                        tiles, needs the internet when the map is opened) or a
                                        tile URL template ``https://…/{z}/{x}/{y}.png``; ``None``
                                        draws no base map (the map needs no network)
``map_tolerance_m``        ``None``     simplification tolerance of map geometries in metres;
                                        ``None`` picks 600 m for France, 60 m for départements
``density_raster``         ``True``     also write ``territory_density_1km.tif`` (footprint per km²
                                        on the INSPIRE 1 km grid, EPSG:3035) and its QGIS style
``population_raster``      ``None``     population raster (any CRS) spreading the footprint on
                                        the grid by population instead of by area
``progress``               ``True``     print step timings on stderr
``force``                  ``False``    rebuild even when the outputs are up to date, and write
                                        into a non-empty folder that holds no territory manifest
                                        (its other files are kept, never removed)
``wait_s``                 ``0``        seconds to wait for another run writing the same output
                                        folder before giving up (exit code 5)
``offline``                ``False``    the run promises not to use the network; a run never
                                        downloads anyway (``territory fetch`` does): sources
                                        given by ``url`` are read from the cache
=========================  ===========  =========================================================

Constants
---------
``CRS_METROPOLE`` is Lambert-93 (EPSG:2154), the CRS of the marts and of the GeoPackage's
contract layers, overseas communes included; each overseas territory's own layers are in its
official CRS (:mod:`territory.overseas`; ``docs/methodology.md``, "Coordinate reference
systems"). ``CRS_WEB`` (EPSG:4326) is the CRS of the map.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from territory.errors import ConfigError
from territory.i18n import _

CRS_METROPOLE = "EPSG:2154"
CRS_WEB = "EPSG:4326"

#: root of a source checkout (``pip install -e .``): ``data/``, ``pipelines/`` and ``maps/``
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DATACENTER_SCOPES = ("france", "with_abroad")
#: the national assessment the national check compares with (territory/national_check.py):
#: ``2022``, ADEME's January 2025 update (2022 data, datacenters abroad included), or ``2020``,
#: the ADEME/Arcep study of January 2022 (2020 data)
NATIONAL_REFERENCES = ("2022", "2020")
#: ``datacenter_scope`` is a factor selection: the national datacenter footprint the models read
#: (``datacenters.national_footprint_tco2e``) takes the figures of the scope's factor
DATACENTER_FACTOR = "datacenters.national_footprint_tco2e"
DATACENTER_SCOPE_FACTORS = {
    "france": None,
    "with_abroad": "datacenters.national_footprint_with_abroad_tco2e",
}

#: what a run may set for one factor: (id, value or the id of the factor whose figures it
#: takes, low or ``None`` for the table's, high or ``None`` for the table's)
FactorOverride = tuple[str, float | str, float | None, float | None]
MAP_ASSETS = ("inline", "cdn")


def data_dir() -> Path:
    """Folder of the factor and rate tables (``data/``)."""
    return _project_folder("data")


def pipelines_dir() -> Path:
    """Folder of the SQL models and TOML pipeline files (``pipelines/``)."""
    return _project_folder("pipelines")


def maps_dir() -> Path:
    """Folder of the map definitions (``maps/``)."""
    return _project_folder("maps")


def _project_folder(name: str) -> Path:
    path = PROJECT_ROOT / name
    if not path.is_dir():
        msg = _("territory's {name}/ folder was not found at {path}; install the project from "
                "its source checkout with `pip install -e .`").format(name=name, path=path)
        raise ConfigError(msg)
    return path


#: named online base maps of ``--basemap`` (URLs and attributions: territory/mapping.py)
BASEMAPS = ("ign", "osm")

#: per-commune INSEE files (``--source KIND=FILE``, ``KIND_file`` in a pipeline's [run] table);
#: read by :mod:`territory.sources.census`
CENSUS_KINDS = ("population", "jobs", "age")
#: French (and plural) names accepted for them: ``--source emplois=FILE``
CENSUS_ALIASES = {"populations": "population", "emplois": "jobs", "ages": "age"}
#: names under which ``--source`` takes an RTE éCO2mix export (read by territory/sources/grid.py)
GRID_KINDS = ("grid", "reseau_electrique", "grille")


#: the map's simplification tolerance (metres) for all of France, and for a smaller extent
NATIONAL_MAP_TOLERANCE_M = 600.0
LOCAL_MAP_TOLERANCE_M = 60.0
#: the footprint models run side by side on this many cursors for all of France
#: (pipeline.run_models), one after another for a smaller extent. Measured (docs/benchmarks.md):
#: France 0.5-0.7 s faster at the same peak memory; a département run no faster, and
#: Pas-de-Calais once 426 MiB instead of 360, over its 400 MB budget
NATIONAL_MODEL_LANES = 2

@dataclass(frozen=True)
class RunSettings:
    """Parameters of one ``territory run`` (see the module docstring for each field)."""

    out_dir: Path = Path("out")
    departements: tuple[str, ...] = ()
    epcis: tuple[str, ...] = ()
    communes: tuple[str, ...] = ()
    population_file: Path | None = None
    jobs_file: Path | None = None
    age_file: Path | None = None
    #: the user's own RTE éCO2mix export (``--source grid=FILE``): grid carbon intensity by
    #: month and hour (territory/sources/grid.py)
    grid_file: Path | None = None
    sources: tuple[tuple[str, Path, dict[str, Any]], ...] = ()
    retention_days: float | None = None
    datacenter_scope: str = "france"
    national_reference: str = "2022"
    factor_overrides: tuple[FactorOverride, ...] = ()
    scenarios: tuple[str, ...] = ()
    map_assets: str = "inline"
    map_tolerance_m: float | None = None
    map_tiles: str | None = None
    density_raster: bool = True
    population_raster: Path | None = None
    progress: bool = True
    force: bool = False
    wait_s: float = 0.0
    offline: bool = False

    def __post_init__(self) -> None:
        if self.national_reference not in NATIONAL_REFERENCES:
            msg = _("national_reference must be one of {known}, got {value!r}").format(
                known=", ".join(NATIONAL_REFERENCES), value=self.national_reference)
            raise ConfigError(msg)
        if self.datacenter_scope not in DATACENTER_SCOPES:
            msg = _("datacenter_scope must be one of {known}, got {value!r}").format(
                known=", ".join(DATACENTER_SCOPES), value=self.datacenter_scope)
            raise ConfigError(msg)
        ids = [override[0] for override in self.factor_overrides]
        twice = sorted({fid for fid in ids if ids.count(fid) > 1})
        if twice:
            msg = _("factor_overrides: {ids} overridden more than once").format(
                ids=", ".join(twice))
            raise ConfigError(msg)
        if DATACENTER_SCOPE_FACTORS[self.datacenter_scope] and DATACENTER_FACTOR in ids:
            msg = _("datacenter_scope = {scope} sets {factor}, which factor_overrides sets too: "
                    "keep one").format(scope=self.datacenter_scope, factor=DATACENTER_FACTOR)
            raise ConfigError(msg)
        if self.map_assets not in MAP_ASSETS:
            msg = _("map_assets must be one of {known}, got {value!r}").format(
                known=", ".join(MAP_ASSETS), value=self.map_assets)
            raise ConfigError(msg)
        if self.retention_days is not None and not 0 <= self.retention_days <= 3650:
            msg = _("retention_days must be between 0 and 3650 days, got {value}").format(
                value=self.retention_days)
            raise ConfigError(msg)
        if self.map_tiles is not None and self.map_tiles not in BASEMAPS and not (
            self.map_tiles.startswith(("https://", "http://"))
            and all(k in self.map_tiles for k in ("{z}", "{x}", "{y}"))
        ):
            msg = _("map_tiles must be {known} or a tile URL template with {z}, {x} and {y}, got "
                    "{value!r}").format(known=_(" or ").join(repr(b) for b in BASEMAPS),
                                        z="{z}", x="{x}", y="{y}", value=self.map_tiles)
            raise ConfigError(msg)
        if self.wait_s < 0:
            msg = _("wait must be >= 0 seconds, got {value}").format(value=self.wait_s)
            raise ConfigError(msg)
        if self.map_tolerance_m is not None and self.map_tolerance_m < 0:
            msg = _("map_tolerance_m must be >= 0 metres, got {value}").format(
                value=self.map_tolerance_m)
            raise ConfigError(msg)

    @property
    def census_files(self) -> tuple[tuple[str, Path], ...]:
        """The per-commune INSEE files given: ``(kind, path)`` in :data:`CENSUS_KINDS` order."""
        files = ((kind, getattr(self, f"{kind}_file")) for kind in CENSUS_KINDS)
        return tuple((kind, path) for kind, path in files if path is not None)

    @property
    def all_factor_overrides(self) -> tuple[FactorOverride, ...]:
        """``factor_overrides`` with ``datacenter_scope``'s factor selection first."""
        scope = DATACENTER_SCOPE_FACTORS[self.datacenter_scope]
        selection: tuple[FactorOverride, ...] = (
            ((DATACENTER_FACTOR, scope, None, None),) if scope else ())
        return selection + self.factor_overrides

    @property
    def tolerance_m(self) -> float:
        """Map simplification tolerance actually used, in metres."""
        if self.map_tolerance_m is not None:
            return self.map_tolerance_m
        return (LOCAL_MAP_TOLERANCE_M if self.departements or self.epcis or self.communes
                else NATIONAL_MAP_TOLERANCE_M)
