"""Datacenter registry reader: OSM GeoJSON, capacity GeoJSON, CSV in WGS84 or Lambert-93."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import Point, shape

from territory.errors import InputError
from territory.registries import read_registry
from territory.registries.datacenters import COLUMNS
from territory.sources._files import sha256_of
from tests.conftest import FIXTURES, realdata_path

DC = FIXTURES / "datacenters"

#: mainland France bounding box (lon, lat)
FRANCE_BOX = (-5.3, 9.7, 41.3, 51.2)


def reasons(load) -> dict[int, str]:
    return {q["line"]: q["reason"] for q in load.quarantine}


def in_france_box(rows) -> int:
    lon_min, lon_max, lat_min, lat_max = FRANCE_BOX
    return int((rows.x.between(lon_min, lon_max) & rows.y.between(lat_min, lat_max)).sum())


# -- OSM-style GeoJSON --------------------------------------------------------------------------


def test_osm_counts_and_reasons() -> None:
    load = read_registry("datacenters", DC / "osm_sample.geojson")
    assert load.kind == "datacenters"
    assert load.crs == "EPSG:4326"
    assert list(load.rows.columns) == list(COLUMNS)
    assert load.record.name == "datacenters"
    assert load.record.sha256 == sha256_of(DC / "osm_sample.geojson")
    record = load.record
    assert (record.rows_read, record.rows_kept, record.rows_quarantined) == (10, 6, 4)
    assert load.record.balanced()
    assert list(load.rows.source_line) == [1, 2, 3, 5, 7, 10]
    assert reasons(load) == {
        4: "no geometry",
        6: "duplicate of line 1 (same coordinates and name)",
        8: "non-numeric coordinates",
        9: "empty geometry",
    }
    # raw properties travel with the quarantined row
    no_geometry = next(q for q in load.quarantine if q["line"] == 4)
    assert no_geometry["name"] == "Site without geometry"
    assert no_geometry["osm_id"] == 555


def test_osm_attributes() -> None:
    rows = read_registry("datacenters", DC / "osm_sample.geojson").rows.set_index("source_line")
    assert rows.loc[1, "osm_id"] == "8297362166"
    assert rows.loc[1, "operator"] == "RTE"
    assert rows.loc[3, "osm_id"] == "789"  # osmtogeojson "@id": "relation/789"
    assert rows.loc[10, "operator"] is None  # blank text is None
    assert rows.loc[10, "x"] == pytest.approx(8.6821)  # abroad, kept: no country filter here
    assert set(rows.capacity_origin) == {"missing"}
    assert rows.capacity_mw.isna().all() and rows.pue.isna().all()
    # same coordinates, other name: a distinct site
    assert rows.loc[7, "name"] == "Datacenter RTE annexe"


def test_html_in_names_is_kept_as_text() -> None:
    rows = read_registry("datacenters", DC / "osm_sample.geojson").rows.set_index("source_line")
    assert rows.loc[5, "name"] == "<img src=x onerror=alert(1)>"
    assert rows.loc[5, "operator"] == "<b>Op</b>"


def test_polygon_becomes_a_point_inside_it() -> None:
    features = json.loads((DC / "osm_sample.geojson").read_text(encoding="utf-8"))["features"]
    rows = read_registry("datacenters", DC / "osm_sample.geojson").rows.set_index("source_line")
    u_shape = shape(features[1]["geometry"])
    point = Point(rows.loc[2, "x"], rows.loc[2, "y"])
    assert point.within(u_shape)
    assert not u_shape.centroid.within(u_shape)  # the centroid would have been wrong
    multi = shape(features[2]["geometry"])
    assert Point(rows.loc[3, "x"], rows.loc[3, "y"]).within(multi)


# -- capacity GeoJSON ---------------------------------------------------------------------------


def test_capacity_origin_and_bad_values() -> None:
    load = read_registry("datacenters", DC / "capacity_sample.geojson")
    assert (load.record.rows_read, len(load.rows), len(load.quarantine)) == (8, 4, 4)
    rows = load.rows.set_index("source_line")
    assert rows.capacity_origin.to_dict() == {
        1: "declared", 2: "modelled", 7: "missing", 8: "declared",
    }
    assert rows.loc[1, "capacity_mw"] == 12.5 and rows.loc[1, "pue"] == 1.3
    assert rows.loc[2, "capacity_mw"] == 20.0 and rows.loc[2, "osm_id"] == "47923380"
    # "7,5" and "1.4" given as text
    assert rows.loc[8, "capacity_mw"] == 7.5 and rows.loc[8, "pue"] == 1.4
    assert rows.loc[1, "osm_id"] is None
    assert reasons(load) == {
        3: "pue is not a number: 'abc'",
        4: "capacity_mw out of plausible range (0, 1000]: 0",
        5: "capacity_mw out of plausible range (0, 1000]: 1500",
        6: "pue out of plausible range [1, 3]: 0.9",
    }
    bad_pue = next(q for q in load.quarantine if q["line"] == 3)
    assert bad_pue["pue"] == "abc" and bad_pue["name"] == "Bad pue"


# -- CRS ----------------------------------------------------------------------------------------


def test_geojson_without_crs_is_inferred_with_a_warning() -> None:
    load = read_registry("datacenters", DC / "osm_sample.geojson")
    assert load.warnings == ["CRS not declared: WGS84 (EPSG:4326) inferred from coordinate ranges"]
    assert load.warnings[0] in load.record.notes


def test_geojson_crs_member_is_honoured() -> None:
    load = read_registry("datacenters", DC / "lambert93_crs.geojson")
    assert load.crs == "EPSG:2154"
    assert load.warnings == []
    assert list(load.rows.x) == [652000.0, 355000.0]


def test_csv_with_latitude_and_longitude_swapped() -> None:
    load = read_registry("datacenters", DC / "latlon_swapped.csv")
    assert load.crs == "EPSG:4326"
    assert load.warnings == [
        "CRS not declared: WGS84 inferred, latitude and longitude swapped in the file",
    ]
    assert (load.record.rows_read, len(load.rows), len(load.quarantine)) == (5, 3, 2)
    rows = load.rows.set_index("source_line")
    assert (rows.loc[2, "x"], rows.loc[2, "y"]) == (2.3399, 48.9196)
    assert rows.loc[2, "name"] == "Paris Nord"
    assert rows.capacity_origin.to_dict() == {2: "declared", 3: "missing", 4: "declared"}
    assert rows.loc[4, "capacity_mw"] == 4.5
    assert reasons(load) == {5: "no coordinates", 6: "non-numeric coordinates"}
    assert next(q for q in load.quarantine if q["line"] == 6)["lon"] == "quarante-huit"


def test_lambert93_csv_inferred_then_declared() -> None:
    load = read_registry("datacenters", DC / "lambert93.csv")
    assert load.crs == "EPSG:2154"
    assert load.warnings == [
        "CRS not declared: Lambert-93 (EPSG:2154) inferred from coordinate ranges",
    ]
    assert (load.record.rows_read, len(load.rows), len(load.quarantine)) == (4, 3, 1)
    assert reasons(load) == {5: "duplicate of line 3 (same coordinates and name)"}
    assert list(load.rows.name) == ["Paris site", "Nantes site", "Lyon site"]
    assert list(load.rows.operator) == ["Op A", "Op B", None]
    declared = read_registry("datacenters", DC / "lambert93.csv", options={"crs": "EPSG:2154"})
    assert declared.crs == "EPSG:2154" and declared.warnings == []
    assert declared.rows.x.iloc[0] == 652000.5


def test_csv_columns_option(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("site;E;N;MW;eff\nA;2.35;48.85;5;1.3\nB;-1.55;47.21;;\n", encoding="utf-8")
    options = {"columns": {"x": "E", "y": "N", "name": "site", "capacity_mw": "MW", "pue": "eff"},
               "crs": "EPSG:4326"}
    load = read_registry("datacenters", path, options=options)
    assert load.warnings == []
    assert list(load.rows.name) == ["A", "B"]
    assert list(load.rows.capacity_origin) == ["declared", "missing"]
    assert load.rows.pue.iloc[0] == 1.3


# -- files that cannot be read ------------------------------------------------------------------


def _one_line_error(path: Path, options: dict | None = None) -> str:
    with pytest.raises(InputError) as caught:
        read_registry("datacenters", path, options=options)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_invalid_json() -> None:
    assert "invalid JSON at line 3" in _one_line_error(DC / "invalid.geojson")


def test_empty_file() -> None:
    assert "empty" in _one_line_error(DC / "empty.geojson")


def test_not_a_feature_collection(tmp_path: Path) -> None:
    path = tmp_path / "feature.geojson"
    path.write_text('{"type": "Feature", "geometry": null, "properties": {}}', encoding="utf-8")
    assert "not a GeoJSON FeatureCollection (found type 'Feature')" in _one_line_error(path)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]", encoding="utf-8")
    assert "not a GeoJSON FeatureCollection (found a JSON list)" in _one_line_error(listing)


def test_feature_collection_without_features(tmp_path: Path) -> None:
    path = tmp_path / "none.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    assert "no features" in _one_line_error(path)


def test_csv_without_coordinate_columns(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("site,commune\nA,Nantes\n", encoding="utf-8")
    message = _one_line_error(path)
    assert "no coordinate columns" in message
    assert "site, commune" in message
    assert "columns option" in message and 'x = "' in message


def test_declared_column_missing(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("lon,lat\n2.3,48.8\n", encoding="utf-8")
    assert "column 'E' declared for x" in _one_line_error(path, {"columns": {"x": "E", "y": "lat"}})


def test_unsupported_crs_member(tmp_path: Path) -> None:
    path = tmp_path / "utm.geojson"
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32631"}},
        "features": [{
            "type": "Feature", "properties": {},
            "geometry": {"type": "Point", "coordinates": [450000, 5400000]},
        }],
    }), encoding="utf-8")
    assert "unsupported CRS" in _one_line_error(path)


def test_coordinates_fitting_no_crs(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("x,y\n5000000,5000000\n6000000,100\n", encoding="utf-8")
    assert "fit neither WGS84 nor Lambert-93" in _one_line_error(path)


# -- real files ---------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_osm_extract() -> None:
    path = realdata_path("datacenters", "datacenters_osm.geojson")
    load = read_registry("datacenters", path)
    assert load.record.rows_read == 4166
    assert load.record.rows_kept + load.record.rows_quarantined == 4166
    assert (load.record.rows_kept, load.record.rows_quarantined) == (4166, 0)
    assert load.crs == "EPSG:4326"
    assert in_france_box(load.rows) == 693
    assert set(load.rows.capacity_origin) == {"missing"}
    assert load.rows.osm_id.notna().all()


@pytest.mark.realdata
def test_real_capacity_file() -> None:
    path = realdata_path("datacenters", "datacenters.geojson")
    load = read_registry("datacenters", path)
    assert load.record.rows_read == 2616
    assert load.record.rows_kept + load.record.rows_quarantined == 2616
    assert (load.record.rows_kept, load.record.rows_quarantined) == (2616, 0)
    assert load.rows.capacity_origin.value_counts().to_dict() == {"modelled": 2518, "declared": 98}
    assert in_france_box(load.rows) == 433
    # the file's own country field: 455 rows say FR, but only 255 of them lie in mainland France's
    # box (the others are in the UK, Ireland and the Netherlands): the commune join must decide
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    country = {i + 1: f["properties"].get("country") for i, f in enumerate(features)}
    fr = load.rows[load.rows.source_line.map(country) == "FR"]
    assert len(fr) == 455
    assert fr.capacity_origin.value_counts().to_dict() == {"modelled": 436, "declared": 19}
    assert in_france_box(fr) == 255
