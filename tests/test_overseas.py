"""Overseas départements in their official CRS: GeoPackage layers, density rasters, QGIS project.

One run of Corse-du-Sud (metropolitan, Lambert-93) and the five overseas départements. The
GeoPackage is read with sqlite3 and pyogrio, reprojections are checked against pyproj, sums
against communes.csv and the rasters with rasterio; the QGIS project is opened in a real QGIS
(tests/qgis_project_probe.py).
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections import Counter, defaultdict
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import shapely

from territory.columns import catalogue
from territory.geopackage import polygon_style_specs
from territory.output_folder import OWNED_NAMES
from territory.overseas import OVERSEAS_TERRITORIES
from territory.qgis_project import QGIS_PROJECT
from territory.writers import DENSITY_RASTER, LAYERS, OVERSEAS_GROUP
from tests.conftest import GdalValidators, run_qgis_script

PROBE = Path(__file__).resolve().with_name("qgis_project_probe.py")
EPSG = {"971": 5490, "972": 5490, "973": 2972, "974": 2975, "976": 4471}
#: plausible extents (metres, in each territory's CRS): xmin, ymin, xmax, ymax bounds
ENVELOPES = {
    "971": (600e3, 1.74e6, 720e3, 1.84e6),   # Guadeloupe, UTM 20N
    "972": (680e3, 1.59e6, 740e3, 1.66e6),   # Martinique, UTM 20N
    "973": (90e3, 0.22e6, 480e3, 0.65e6),    # Guyane, UTM 22N (west of 54° W: x < 167 km)
    "974": (300e3, 7.6e6, 400e3, 7.7e6),     # La Réunion, UTM 40S
    "976": (490e3, 8.55e6, 540e3, 8.61e6),   # Mayotte, UTM 38S
}
STYLE_FIELD = polygon_style_specs()[0].field


@pytest.fixture(scope="module")
def run_overseas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`territory run --departement 2A` and the five overseas départements."""
    from territory.run import run_pipeline
    from territory.settings import RunSettings

    out = tmp_path_factory.mktemp("overseas") / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("2A", *EPSG), progress=False))
    return out


def communes_csv(out: Path) -> list[dict[str, str]]:
    with (out / "communes.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def contents(gpkg: Path) -> dict[str, tuple]:
    """table -> (identifier, description, srs organization_coordsys_id, min_x, min_y, max_x,
    max_y), from gpkg_contents."""
    with closing(sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT c.table_name, c.identifier, c.description, s.organization_coordsys_id, "
            "c.min_x, c.min_y, c.max_x, c.max_y FROM gpkg_contents AS c "
            "JOIN gpkg_spatial_ref_sys AS s USING (srs_id) WHERE c.data_type = 'features'"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_every_overseas_layer_is_in_its_official_crs_and_inside_its_territory(
        run_overseas: Path) -> None:
    found = contents(run_overseas / "territory.gpkg")
    for territory in OVERSEAS_TERRITORIES:
        xmin, ymin, xmax, ymax = ENVELOPES[territory.departement]
        for level in LAYERS:
            identifier, description, epsg, *bounds = found[territory.layer(level)]
            assert epsg == EPSG[territory.departement], territory.layer(level)
            assert xmin <= bounds[0] < bounds[2] <= xmax, (territory.layer(level), bounds)
            assert ymin <= bounds[1] < bounds[3] <= ymax, (territory.layer(level), bounds)
            assert identifier.endswith(f" – {territory.name}")
            assert f"EPSG:{epsg}" in description
    # the contract layers stay whole, in Lambert-93
    for level in LAYERS:
        assert found[level][2] == 2154
        assert "outre-mer compris" in found[level][1]


def test_overseas_geometries_are_the_lambert93_ones_reprojected(run_overseas: Path) -> None:
    """Each overseas commune is the contract layer's outline reprojected with pyproj (to a
    millimetre), and its area is its true one (Saint-Denis: 142 km², 497 km² in Lambert-93)."""
    import pyogrio
    from pyproj import Transformer

    gpkg = run_overseas / "territory.gpkg"
    lambert = pyogrio.read_dataframe(gpkg, layer="communes", columns=["code_insee"])
    lambert = lambert.set_index("code_insee").geometry
    for territory in OVERSEAS_TERRITORIES:
        local = pyogrio.read_dataframe(gpkg, layer=territory.layer("communes"),
                                       columns=["code_insee"]).set_index("code_insee").geometry
        assert len(local) > 0
        to_local = Transformer.from_crs("EPSG:2154", territory.crs, always_xy=True)
        expected = shapely.transform(lambert.loc[local.index].to_numpy(),
                                     lambda xy, t=to_local: np.column_stack(t.transform(*xy.T)))
        assert shapely.equals_exact(local.to_numpy(), expected, tolerance=1e-3).all()
    reunion = pyogrio.read_dataframe(gpkg, layer="communes_reunion").set_index("code_insee")
    assert reunion.geometry.loc["97411"].area / 1e6 == pytest.approx(142, abs=2)
    assert lambert.loc["97411"].area / 1e6 > 400


def test_feature_counts_add_up_and_the_communes_layer_stays_complete(run_overseas: Path) -> None:
    import pyogrio

    gpkg = run_overseas / "territory.gpkg"
    rows = communes_csv(run_overseas)
    per_departement = Counter(r["departement_code"] for r in rows)
    manifest = json.loads((run_overseas / "manifest.json").read_text(encoding="utf-8"))
    counts = manifest["layers"]
    # contract: communes holds every commune, as communes.csv
    assert counts["communes"] == len(rows) == pyogrio.read_info(gpkg, layer="communes")["features"]
    for territory in OVERSEAS_TERRITORIES:
        assert counts[territory.layer("communes")] == per_departement[territory.departement] > 0
        assert counts[territory.layer("departements")] == 1
        assert counts[territory.layer("regions")] == 1
    epci = {r["epci_siren"] for r in rows if r["departement_code"] in EPSG}
    assert sum(counts[t.layer("epci")] for t in OVERSEAS_TERRITORIES) == len(epci)
    assert counts["epci"] > len(epci)  # Corse-du-Sud's EPCI are in the contract layer only


def test_overseas_layers_carry_the_named_styles_with_their_level_classes(
        run_overseas: Path) -> None:
    """Every polygon layer has the catalogue's named styles, one default; an overseas layer's
    classes are its level's (a colour means the same everywhere)."""
    # the named styles of the territory layers (the scenarios layer's are per year)
    names = [style.name for style in polygon_style_specs()
             if catalogue().get(style.field, "communes")]
    with closing(sqlite3.connect(run_overseas / "territory.gpkg")) as db:
        styles: defaultdict[str, dict[str, tuple[str, int]]] = defaultdict(dict)
        for table, name, qml, default in db.execute(
                "SELECT f_table_name, styleName, styleQML, useAsDefault FROM layer_styles"):
            styles[table][name] = (qml, default)
    for territory in OVERSEAS_TERRITORIES:
        for level in LAYERS:
            mine = styles[territory.layer(level)]
            assert list(mine) == names, territory.layer(level)
            assert [d for _, d in mine.values()] == [1] + [0] * (len(names) - 1)
            assert all(mine[n][0] == styles[level][n][0] for n in names), territory.layer(level)


def test_density_rasters_cover_every_overseas_territory_in_its_crs(run_overseas: Path) -> None:
    import rasterio

    manifest = json.loads((run_overseas / "manifest.json").read_text(encoding="utf-8"))
    density = manifest["density_raster"]
    rows = communes_csv(run_overseas)
    totals: defaultdict[str, float] = defaultdict(float)
    for row in rows:
        totals[row["departement_code"]] += float(row["footprint_tco2e"])
    assert density["not_covered"] == [] and density["not_covered_footprint_tco2e"] == 0
    assert density["communes_spread"] == density["communes"] == len(rows)
    assert density["input_total"] == pytest.approx(totals["2A"], rel=1e-9)
    assert [d["departement_code"] for d in density["overseas"]] == list(EPSG)
    for entry in density["overseas"]:
        code = entry["departement_code"]
        assert entry["nom"] in density["covers"]
        assert entry["input_total"] == pytest.approx(totals[code], rel=1e-9)
        assert entry["skipped_communes"] == 0
        assert entry["file"] in manifest["outputs"] and entry["file"] in OWNED_NAMES
        with rasterio.open(run_overseas / entry["file"]) as src:
            assert src.crs.to_epsg() == EPSG[code] == int(entry["crs"].split(":")[1])
            assert src.res == (1000.0, 1000.0)
            assert src.transform.c % 1000 == 0 and src.transform.f % 1000 == 0
            xmin, ymin, xmax, ymax = ENVELOPES[code]
            assert xmin - 1000 <= src.bounds.left and src.bounds.right <= xmax + 1000
            assert ymin - 1000 <= src.bounds.bottom and src.bounds.top <= ymax + 1000
            assert float(src.read(1, masked=True).sum()) == pytest.approx(totals[code], rel=1e-5)
            assert entry["nom"] in src.tags()["COVERAGE"]
        assert (run_overseas / entry["style"]).is_file()
    # the metropolitan raster's tags name the overseas rasters
    with rasterio.open(run_overseas / DENSITY_RASTER) as src:
        coverage = src.tags()["COVERAGE"]
    assert all(t.density_raster() in coverage for t in OVERSEAS_TERRITORIES)


# --- the QGIS project ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_overseas(qgis_python: str, run_overseas: Path) -> dict:
    return run_qgis_script(qgis_python, PROBE, str(run_overseas / QGIS_PROJECT))


@pytest.mark.qgis
def test_project_groups_overseas_layers_in_their_crs(project_overseas: dict) -> None:
    layers = project_overseas["layers"]
    assert project_overseas["read"] and all(layer["valid"] for layer in layers)
    assert project_overseas["crs"] == "EPSG:2154"
    metropolitan = [x for x in layers if not x["groups"]]
    assert [x["crs"] for x in metropolitan] == ["EPSG:2154"] * 4 + ["EPSG:3035"]
    for territory in OVERSEAS_TERRITORIES:
        mine = [x for x in layers if x["groups"] == [OVERSEAS_GROUP, territory.name]]
        assert [x["source"].rsplit("|layername=", 1)[-1] for x in mine[:4]] == [
            territory.layer(level) for level in LAYERS]
        assert mine[4]["source"].endswith(territory.density_raster())
        assert [x["checked"] for x in mine] == [True, False, False, False, False]
        xmin, ymin, xmax, ymax = ENVELOPES[territory.departement]
        for layer in mine:
            assert layer["crs"] == territory.crs, layer["name"]
            extent = layer["extent"]
            # rasters: snapped outwards to the kilometre
            assert xmin - 1000 <= extent[0] < extent[2] <= xmax + 1000, (layer["name"], extent)
            assert ymin - 1000 <= extent[1] < extent[3] <= ymax + 1000, (layer["name"], extent)
            assert territory.name in layer["name"]
        for layer in mine[:4]:
            assert layer["renderer"]["type"] == "graduatedSymbol"
            assert layer["renderer"]["class_attribute"] == STYLE_FIELD
        assert mine[4]["renderer"]["type"] == "singlebandpseudocolor"


@pytest.mark.qgis
def test_project_draws_each_feature_once(project_overseas: dict, run_overseas: Path) -> None:
    """The metropolitan layers leave out the overseas features: per level, QGIS's feature
    counts add up to the contract layer's (all communes), and "zoom to layer" on the
    metropolitan communes frames Corse-du-Sud only."""
    counts = json.loads((run_overseas / "manifest.json").read_text(encoding="utf-8"))["layers"]
    layers = project_overseas["layers"]
    for index, level in enumerate(LAYERS):
        metropolitan = layers[index]
        assert metropolitan["source"].split("|layername=")[1].startswith(level)
        overseas = [x for x in layers if x["groups"]
                    and x["source"].rsplit("|layername=", 1)[-1].startswith(f"{level}_")]
        assert len(overseas) == len(OVERSEAS_TERRITORIES)
        assert metropolitan["feature_count"] + sum(x["feature_count"] for x in overseas) == (
            counts[level]), level
        assert metropolitan["subset"], level
    corse = layers[0]["extent"]
    assert 1.1e6 < corse[0] < corse[2] < 1.25e6 and 6.0e6 < corse[1] < corse[3] < 6.2e6


@pytest.mark.qgis
def test_project_of_one_overseas_territory_is_in_its_crs(qgis_python: str,
                                                         tmp_path: Path) -> None:
    from territory.run import run_pipeline
    from territory.settings import RunSettings

    out = tmp_path / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("974",), progress=False))
    seen = run_qgis_script(qgis_python, PROBE, str(out / QGIS_PROJECT))
    assert seen["crs"] == "EPSG:2975"
    view = seen["view_extent"]
    assert view["crs"] == "EPSG:2975"
    assert 290e3 < view["xmin"] < view["xmax"] < 410e3
    assert 7.59e6 < view["ymin"] < view["ymax"] < 7.71e6
    assert all(layer["groups"] == [OVERSEAS_GROUP, "La Réunion"] for layer in seen["layers"])
    assert [layer["crs"] for layer in seen["layers"]] == ["EPSG:2975"] * 5
    assert sum(layer["valid"] for layer in seen["layers"]) == 5
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["density_raster"]["covers"] == "La Réunion"
    assert "file" not in manifest["density_raster"]


def test_geopackage_and_overseas_rasters_pass_gdal_validators(gdal_validators: GdalValidators,
                                                              run_overseas: Path) -> None:
    """The GeoPackage with layers in six CRS is a valid OGC GeoPackage, each overseas raster a
    valid Cloud Optimized GeoTIFF."""
    proc = gdal_validators.gpkg(run_overseas / "territory.gpkg")
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    for territory in OVERSEAS_TERRITORIES:
        proc = gdal_validators.cog(run_overseas / territory.density_raster())
        assert proc.returncode == 0, proc.stdout + proc.stderr
