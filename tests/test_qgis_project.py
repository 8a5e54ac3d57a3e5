"""territory.qgz opened in a real QGIS, and what the manifest says the density raster covers.

QGIS runs in the system Python (see tests/test_qgis.py): tests/qgis_project_probe.py opens the
project with ``QgsProject.read`` and prints what QGIS sees; the assertions are here, against
independent reads of the files (sqlite3, zipfile, rasterio) and the column catalogue. The
project is opened from a copy of the output folder moved elsewhere: its paths are relative.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter, defaultdict
from contextlib import closing
from pathlib import Path

import pytest

from territory.geopackage import POINT_STYLE_NAMES, field_aliases, polygon_style_specs
from territory.qgis_project import QGIS_PROJECT
from territory.writers import DENSITY_COVERS, DENSITY_LAYER_NAME, DENSITY_RASTER
from tests.conftest import run_qgis_script

PROBE = Path(__file__).resolve().with_name("qgis_project_probe.py")
POLYGON_NAMES = ["Communes", "EPCI", "Départements", "Régions"]
POLYGON_LAYERS = ["communes", "epci", "departements", "regions"]
#: the default style's column (the catalogue's qgis_default_style)
STYLE_FIELD = polygon_style_specs()[0].field
OVERSEAS = ["971", "972", "973", "974", "976"]


def moved_copy(out: Path, tmp_path: Path) -> Path:
    """A copy of an output folder under another name, elsewhere; the original stays."""
    target = tmp_path / "shared" / "copie du dossier"
    shutil.copytree(out, target)
    return target


def default_style(gpkg: Path, layer: str) -> ET.Element:
    """The renderer of ``layer``'s default style in ``layer_styles``, read with sqlite3."""
    with closing(sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)) as db:
        (qml,) = db.execute("SELECT styleQML FROM layer_styles WHERE f_table_name = ? "
                            "AND useAsDefault", (layer,)).fetchone()
    renderer = ET.fromstring(qml.split("'SYSTEM'>", 1)[1]).find("renderer-v2")
    assert renderer is not None
    return renderer


@pytest.fixture(scope="module")
def project_44(qgis_python: str, run_44: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = moved_copy(run_44, tmp_path_factory.mktemp("qgz"))
    seen = run_qgis_script(qgis_python, PROBE, str(folder / QGIS_PROJECT))
    seen["folder"] = str(folder)
    return seen


@pytest.mark.qgis
def test_project_opens_from_a_moved_folder(project_44: dict, run_44: Path) -> None:
    """Every layer is valid and read from the moved copy, not from where the run wrote it."""
    assert project_44["read"] is True
    assert project_44["absolute_paths"] is False
    assert project_44["layers"]
    for layer in project_44["layers"]:
        assert layer["valid"], layer["name"]
        assert layer["source"].startswith(project_44["folder"] + "/"), layer["source"]
        assert str(run_44) not in layer["source"]
    assert project_44["crs"] == "EPSG:2154"


@pytest.mark.qgis
def test_project_layer_order_names_and_visibility(project_44: dict) -> None:
    """Communes on top and checked, upper levels unchecked below, the raster at the bottom."""
    layers = project_44["layers"]
    assert [x["name"] for x in layers] == [*POLYGON_NAMES, DENSITY_LAYER_NAME]
    assert [x["checked"] for x in layers] == [True, False, False, False, False]
    assert [x["provider"] for x in layers] == ["ogr"] * 4 + ["gdal"]
    assert [x["source"].rsplit("|layername=", 1)[-1] for x in layers[:4]] == POLYGON_LAYERS


@pytest.mark.qgis
def test_project_polygon_layers_have_the_geopackage_default_style(project_44: dict,
                                                                  run_44: Path) -> None:
    """Each polygon layer is drawn with the GeoPackage's default style: graduated on the same
    column, the same classes and labels; French aliases; the GeoPackage's title."""
    aliases = field_aliases("communes")
    for name, layer in zip(POLYGON_LAYERS, project_44["layers"][:4], strict=True):
        stored = default_style(run_44 / "territory.gpkg", name)
        renderer = layer["renderer"]
        assert renderer["type"] == stored.get("type") == "graduatedSymbol", name
        assert renderer["class_attribute"] == stored.get("attr") == STYLE_FIELD, name
        labels = [r.get("label") for r in stored.iter("range")]
        assert [r["label"] for r in renderer["ranges"]] == labels, name
        assert layer["aliases"]["footprint_tco2e"] == aliases["footprint_tco2e"]
        assert layer["feature_count"] > 0
        assert layer["crs"] == "EPSG:2154"
        assert layer["title"].startswith("Empreinte numérique par "), layer["title"]


@pytest.mark.qgis
def test_project_raster_layer_styled_and_says_what_it_covers(project_44: dict,
                                                              run_44: Path) -> None:
    raster = project_44["layers"][-1]
    assert raster["crs"] == "EPSG:3035"
    assert raster["renderer"]["type"] == "singlebandpseudocolor"
    qml = ET.parse(run_44 / DENSITY_RASTER.replace(".tif", ".qml")).getroot()
    labels = [item.get("label") for item in qml.iter("item")]
    assert [item["label"] for item in raster["renderer"]["items"]] == labels
    assert DENSITY_COVERS in raster["abstract"] and DENSITY_COVERS in raster["notes"]
    assert raster["title"] == DENSITY_LAYER_NAME


@pytest.mark.qgis
def test_project_view_title_and_metadata(project_44: dict, run_44: Path) -> None:
    """The initial view frames the run's communes; title and metadata cite the factor table
    version and the extent."""
    manifest = json.loads((run_44 / "manifest.json").read_text(encoding="utf-8"))
    with closing(sqlite3.connect(run_44 / "territory.gpkg")) as db:
        xmin, ymin, xmax, ymax = db.execute(
            "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = 'communes'"
        ).fetchone()
    view = project_44["view_extent"]
    assert view["crs"] == "EPSG:2154"
    assert view["xmin"] <= xmin and view["ymin"] <= ymin
    assert view["xmax"] >= xmax and view["ymax"] >= ymax
    # framed: no more than 10 % wider than the communes on each side
    assert view["xmax"] - view["xmin"] <= 1.2 * (xmax - xmin)
    assert "(44)" in project_44["title"]
    metadata = project_44["metadata"]
    assert metadata["title"] == project_44["title"]
    assert manifest["factor_table_version"] in metadata["abstract"]
    assert manifest["factor_table_version"] in metadata["identifier"]
    assert metadata["language"] == "fre"


@pytest.mark.qgis
def test_project_without_its_data_is_reported_invalid(qgis_python: str, run_44: Path,
                                                      tmp_path: Path) -> None:
    """Negative control: the project alone in another folder has no valid layer, so the
    validity checks above depend on the relative paths."""
    shutil.copyfile(run_44 / QGIS_PROJECT, tmp_path / QGIS_PROJECT)
    seen = run_qgis_script(qgis_python, PROBE, str(tmp_path / QGIS_PROJECT))
    assert len(seen["layers"]) == 5
    assert not any(layer["valid"] for layer in seen["layers"])


@pytest.mark.qgis
def test_project_puts_registry_points_on_top(qgis_python: str, tmp_path: Path) -> None:
    """With registries, their point layers come first, checked, with their default style."""
    from territory.run import run_pipeline
    from territory.settings import RunSettings

    fixtures = Path(__file__).parent / "fixtures"
    out = tmp_path / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("44",), progress=False, sources=(
        ("antennas", fixtures / "antennas" / "arcep_sites_44.csv", {}),)))
    folder = moved_copy(out, tmp_path)
    seen = run_qgis_script(qgis_python, PROBE, str(folder / QGIS_PROJECT))
    layers = seen["layers"]
    assert [x["name"] for x in layers] == [POINT_STYLE_NAMES["antennas"], *POLYGON_NAMES,
                                           DENSITY_LAYER_NAME]
    antennas = layers[0]
    assert antennas["valid"] and antennas["checked"] and antennas["feature_count"] > 0
    assert antennas["renderer"]["type"] == default_style(out / "territory.gpkg",
                                                         "antennas").get("type")
    assert antennas["renderer"]["class_attribute"] == "operator"


def test_project_is_a_zipped_qgs_with_relative_paths(run_44: Path) -> None:
    """One .qgs entry with a fixed date; no absolute path of the run's folder inside."""
    with zipfile.ZipFile(run_44 / QGIS_PROJECT) as archive:
        (entry,) = archive.infolist()
        text = archive.read(entry).decode("utf-8")
    assert entry.filename == "territory.qgs"
    assert entry.date_time == (1980, 1, 1, 0, 0, 0)
    assert str(run_44) not in text and "/tmp" not in text
    root = ET.fromstring(text.split("'SYSTEM'>", 1)[1])
    sources = [e.text for e in root.iter("datasource")]
    assert sources[:4] == [f"./territory.gpkg|layername={x}" for x in POLYGON_LAYERS]
    assert sources[4] == f"./{DENSITY_RASTER}"


# --- what the density raster covers ------------------------------------------------------------

def test_manifest_raster_covers_metropole_and_nothing_left_out_for_44(run_44: Path) -> None:
    density = json.loads((run_44 / "manifest.json").read_text(encoding="utf-8"))["density_raster"]
    assert density["covers"] == DENSITY_COVERS
    assert density["not_covered"] == []
    assert density["not_covered_footprint_tco2e"] == 0


def test_manifest_says_every_overseas_departement_has_its_raster(run_france: Path) -> None:
    """A France run: the metropolitan raster holds the metropolitan footprint, and each of the
    five overseas départements has its own raster holding its communes' footprint (communes.csv,
    read independently); nothing is left out, and the metropolitan raster's tags and style
    name the overseas rasters."""
    import rasterio

    manifest = json.loads((run_france / "manifest.json").read_text(encoding="utf-8"))
    density = manifest["density_raster"]
    counts: Counter[str] = Counter()
    totals: defaultdict[str, float] = defaultdict(float)
    national = 0.0
    with (run_france / "communes.csv").open(encoding="utf-8") as file:
        for row in csv.DictReader(file):
            national += float(row["footprint_tco2e"])
            if row["departement_code"].startswith("97"):
                counts[row["departement_code"]] += 1
                totals[row["departement_code"]] += float(row["footprint_tco2e"])
    assert density["covers"].startswith(DENSITY_COVERS + ", ")
    assert density["not_covered"] == [] and density["not_covered_footprint_tco2e"] == 0
    assert density["communes_spread"] == density["communes"] == manifest["layers"]["communes"]
    listed = density["overseas"]
    assert [d["departement_code"] for d in listed] == OVERSEAS == sorted(counts)
    for entry in listed:
        assert entry["input_total"] == pytest.approx(totals[entry["departement_code"]], rel=1e-9)
        assert entry["nom"] in density["covers"]
    assert density["input_total"] == pytest.approx(national - sum(totals.values()), rel=1e-9)
    with rasterio.open(run_france / DENSITY_RASTER) as src:
        coverage = src.tags()["COVERAGE"]
    qml = (run_france / DENSITY_RASTER.replace(".tif", ".qml")).read_text(encoding="utf-8")
    for text in (coverage, qml):
        assert DENSITY_COVERS in text
        assert all(code in text for code in OVERSEAS), text[:500]
