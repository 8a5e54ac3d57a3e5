"""The column catalogue (data/columns.toml): it names exactly the marts' columns, and the
GeoPackage, the map and the methodology take their labels and indicators from it."""

from __future__ import annotations

import importlib.util
import sqlite3
import tomllib
import xml.etree.ElementTree as ET
from contextlib import closing
from pathlib import Path
from types import ModuleType

import numpy as np
import pyarrow as pa
import pytest
import shapely

from territory.columns import LEVELS, TERRITORY_LEVELS, catalogue, load_catalogue
from territory.errors import ConfigError
from territory.mapping import read_map_data
from territory.settings import PROJECT_ROOT, data_dir, maps_dir, pipelines_dir

MARTS = LEVELS  # communes, epci, departements, regions, registry_points


@pytest.fixture(scope="module")
def mart_columns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """The columns of every mart, as DuckDB computes them for Loire-Atlantique (the registry
    points table exists without registries, with its columns)."""
    from territory.build import Steps, _compute
    from territory.settings import RunSettings

    work = tmp_path_factory.mktemp("marts")
    computed = _compute(RunSettings(out_dir=work / "out", departements=("44",), progress=False),
                        Steps(progress=False), work)
    try:
        return {mart: [name for (name,) in computed.con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
            "ORDER BY column_index", [mart]).fetchall() if name != "geometry"]
            for mart in MARTS}
    finally:
        computed.con.close()


@pytest.mark.parametrize("mart", MARTS)
def test_catalogue_names_the_columns_of_each_mart(mart_columns: dict[str, list[str]],
                                                  mart: str) -> None:
    """A mart column missing from the catalogue, or a catalogue column the mart lacks, fails."""
    assert mart_columns[mart], f"no columns read for {mart}"
    declared = [c.name for c in catalogue().at(mart)]
    assert sorted(set(mart_columns[mart]) - set(declared)) == [], \
        f"columns of the {mart} mart missing from data/columns.toml"
    assert sorted(set(declared) - set(mart_columns[mart])) == [], \
        f"columns of data/columns.toml at level {mart} that the {mart} mart does not have"


def test_catalogue_follows_communes_csv(run_44: Path) -> None:
    """The communes' columns are catalogued in the order of communes.csv (the documented order)."""
    header = (run_44 / "communes.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert [c.name for c in catalogue().at("communes")] == header


def test_catalogue_agrees_with_the_mart_contracts() -> None:
    """Same columns as pipelines/marts/contracts.toml, with a compatible type."""
    contracts = tomllib.loads((pipelines_dir() / "marts" / "contracts.toml").read_text("utf-8"))
    kinds = {"VARCHAR": "text", "BIGINT": "integer", "DOUBLE": "number", "BOOLEAN": "boolean"}
    for mart in MARTS:
        declared = {name: kinds[spec.split()[0]]
                    for name, spec in contracts[mart]["columns"].items() if name != "geometry"}
        assert {c.name: c.type for c in catalogue().at(mart)} == declared, mart


def test_every_column_is_labelled_and_described() -> None:
    for column in catalogue().columns:
        assert column.label.strip() and column.description.strip(), column.name
        assert "CO2" not in column.unit, f"{column.name}: write CO₂ (GIS labels get CO2)"
        if column.type in ("integer", "number"):
            assert column.decimals is not None and column.quantity, column.name


# ---------------------------------------------------------------- the GeoPackage

def _qml_aliases(gpkg: Path, layer: str) -> list[dict[str, str]]:
    with closing(sqlite3.connect(gpkg)) as db:
        rows = db.execute("SELECT styleQML FROM layer_styles WHERE f_table_name = ?",
                          (layer,)).fetchall()
        columns = [name for (_, name, *_) in db.execute(f'PRAGMA table_info("{layer}")')
                   if name not in ("fid", "geom")]
    assert rows, f"no style for {layer}"
    aliases = [{a.get("field"): a.get("name") for a in ET.fromstring(qml).iter("alias")}
               for (qml,) in rows]
    assert all(set(a) == set(columns) for a in aliases), f"{layer}: a column has no alias"
    return aliases


@pytest.mark.parametrize("layer", TERRITORY_LEVELS)
def test_geopackage_aliases_are_the_catalogue_labels(run_44: Path, layer: str) -> None:
    labels = {c.name: c.label for c in catalogue().at(layer)}
    units = {c.name: c.unit.replace("₂", "2") for c in catalogue().at(layer)}
    for aliases in _qml_aliases(run_44 / "territory.gpkg", layer):
        expected = {name: f"{labels[name]} ({units[name]})" if units[name] else labels[name]
                    for name in aliases}
        assert aliases == expected
    assert aliases["footprint_kgco2e_per_inhabitant"] == "Empreinte par habitant (kgCO2e/hab./an)"


def test_point_layer_aliases_are_the_catalogue_labels(tmp_path: Path) -> None:
    from territory.geopackage import save_layers_geopackage

    columns = catalogue().at("registry_points")
    n = 3
    table = pa.table({
        **{c.name: pa.array([None] * n, type={"text": pa.string(), "integer": pa.int64(),
                                             "number": pa.float64(), "boolean": pa.bool_()}[c.type])
           for c in columns},
        "geometry": shapely.to_wkb(shapely.points([300_000, 301_000, 302_000], [6_700_000] * n)),
    })
    table = table.set_column(table.column_names.index("kind"), "kind", pa.array(["antennas"] * n))
    gpkg = tmp_path / "points.gpkg"
    save_layers_geopackage({}, gpkg, crs="EPSG:2154", metadata={}, points={"antennas": table})
    for aliases in _qml_aliases(gpkg, "antennas"):
        assert aliases == {c.name: c.alias for c in columns}
        assert aliases["territorial_tco2e"] == "Émissions (tCO2e/an)"


def test_qgis_styles_are_the_catalogue_styled_columns() -> None:
    from territory.geopackage import polygon_style_specs

    styled = [c for c in catalogue().columns if c.style and c.style.qgis_style]
    specs = polygon_style_specs()
    assert specs[0].field == catalogue().qgis_default_style
    assert sorted(s.field for s in specs) == sorted(c.name for c in styled)
    assert all(s.name == (catalogue().get(s.field, "communes")
                          or catalogue().column(s.field, "scenarios")).label for s in specs)


# ---------------------------------------------------------------- the map

def _page_data(html: str) -> dict:
    return read_map_data(html)


def test_map_indicators_are_the_catalogue_indicators(run_44: Path) -> None:
    """Without registries, the page lists every map indicator of the catalogue but the optional
    ones (registry columns), the opening one first, with the catalogue's labels and units."""
    data = _page_data((run_44 / "map.html").read_text(encoding="utf-8"))
    indicators = [c for c in catalogue().map_indicators() if not c.style.optional]
    opening = "footprint_kgco2e_per_inhabitant"
    expected = sorted(indicators, key=lambda c: c.name != opening)
    assert [i["column"] for i in data["indicators"]] == [c.name for c in expected]
    assert [(i["label"], i["unit"]) for i in data["indicators"]] == [
        (c.label, c.unit) for c in expected]
    assert data["indicatorLabel"] == "Empreinte par habitant" and data["unit"] == "kgCO₂e/hab./an"
    for name, meta in data["columns"].items():
        column = catalogue().column(name, "communes")
        assert (meta["label"], meta["unit"], meta["decimals"]) == (
            column.label, column.unit, column.decimals)


def _level(values: dict[str, list[float]]) -> object:
    from territory.mapping import MapLevel

    return MapLevel("communes", "Communes", ["99001", "99002"], ["Une", "Deux"], values,
                    np.array([shapely.box(0, 45, 1, 46), shapely.box(1, 45, 2, 46)]))


def test_every_catalogue_indicator_with_values_is_offered() -> None:
    from territory.mapping import build_map, load_map_definition, map_columns

    definition = load_map_definition(maps_dir() / "footprint.toml")
    numbers, _ = map_columns(definition, "communes")
    page = build_map([_level({c: [1.0, 2.0] for c in numbers})], definition)
    listed = [i["column"] for i in _page_data(page)["indicators"]]
    assert sorted(listed) == sorted(c.name for c in catalogue().map_indicators())


def test_a_level_without_an_indicator_is_an_error() -> None:
    from territory.mapping import build_map, load_map_definition, map_columns

    definition = load_map_definition(maps_dir() / "footprint.toml")
    values = {c: [1.0, 2.0] for c in map_columns(definition, "communes")[0]}
    del values["networks_tco2e"]
    with pytest.raises(ConfigError, match="no values of the indicator networks_tco2e"):
        build_map([_level(values)], definition)


def _map_file(tmp_path: Path, old: str, new: str) -> Path:
    text = (maps_dir() / "footprint.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "footprint.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_an_indicator_not_in_the_catalogue_is_an_error(tmp_path: Path) -> None:
    from territory.mapping import load_map_definition

    path = _map_file(tmp_path, 'indicator = "footprint_kgco2e_per_inhabitant"',
                     'indicator = "footprint_per_smartphone"')
    with pytest.raises(ConfigError, match=r"footprint\.toml: indicator 'footprint_per_smartphone'"
                                          r" is not a map indicator of .*columns\.toml"):
        load_map_definition(path)
    path = _map_file(tmp_path, 'size = "it_power_mw"', 'size = "power_mw"')
    with pytest.raises(ConfigError, match=r"names 'power_mw', not a registry_points column"):
        load_map_definition(path)
    path = _map_file(tmp_path, 'stratum_rank = "stratum_rank"', 'stratum_rank = "rang"')
    with pytest.raises(ConfigError, match=r"\[popup\] names 'rang'"):
        load_map_definition(path)


def test_a_catalogue_indicator_no_level_has_is_an_error(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A communes-only column marked as a map indicator cannot be drawn on the EPCI."""
    from territory import mapping

    text = (data_dir() / "columns.toml").read_text(encoding="utf-8")
    old = 'decimals = 2\nquantity = "intensive"\n\n[[columns]]\nname = "households"'
    assert old in text
    path = tmp_path / "columns.toml"
    path.write_text(text.replace(old, old.replace(
        'quantity = "intensive"\n', 'quantity = "intensive"\nstyle = { palette = "YlOrRd", '
        'classification = "quantile", map_indicator = true }\n'), 1), encoding="utf-8")
    changed = load_catalogue(path)
    assert "ftth_share" in [c.name for c in changed.map_indicators()]
    monkeypatch.setattr(mapping, "catalogue", lambda: changed)
    with pytest.raises(ConfigError, match=r"columns\.toml: ftth_share is a map indicator but the "
                                          r"map's level epci, departements, regions"):
        mapping.load_map_definition(maps_dir() / "footprint.toml")


# ---------------------------------------------------------------- loading errors

@pytest.mark.parametrize(("old", "new", "message"), [
    ('label = "Empreinte totale"', 'libelle = "Empreinte totale"',
     r"columns\.toml: columns\[3\] \(footprint_tco2e\) unknown key 'libelle'"),
    ('decimals = 1\nquantity = "extensive"\nstyle', 'decimals = "1"\nquantity = "extensive"\nstyle',
     r"columns\.toml: columns\[3\] \(footprint_tco2e\)\.decimals must be a int, not str '1'"),
    ('type = "integer"\nlabel = "Population municipale"', 'type = "entier"\nlabel = "Population"',
     r"columns\[2\] \(population\)\.type is 'entier'; expected one of text, integer"),
    ('palette = "YlOrRd", classification = "quantile", map_indicator = true, qgis_style = true }',
     'palette = "Reds", classification = "quantile", map_indicator = true, qgis_style = true }',
     r"\(footprint_tco2e\)\.style\.palette is 'Reds'; expected one of YlOrRd"),
    ('levels = ["epci", "departements", "regions"]', 'levels = ["epci", "cantons"]',
     r"\(communes_count\)\.levels is 'cantons'"),
    ('qgis_default_style = "footprint_kgco2e_per_inhabitant"', 'qgis_default_style = "nom"',
     r"qgis_default_style 'nom' is not a column with qgis_style = true"),
])
def test_catalogue_errors_name_the_file_and_the_key(tmp_path: Path, old: str, new: str,
                                                    message: str) -> None:
    text = (data_dir() / "columns.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "columns.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as error:
        load_catalogue(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_a_column_declared_twice_for_a_level_is_an_error(tmp_path: Path) -> None:
    text = (data_dir() / "columns.toml").read_text(encoding="utf-8")
    path = tmp_path / "columns.toml"
    path.write_text(text + '\n[[columns]]\nname = "nom"\nlevels = ["regions"]\ntype = "text"\n'
                    'label = "Nom"\nunit = ""\ndescription = "Nom."\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="column 'nom' is declared twice for level 'regions'"):
        load_catalogue(path)


# ---------------------------------------------------------------- the documentation

def _script() -> ModuleType:
    path = PROJECT_ROOT / "scripts" / "document_columns.py"
    spec = importlib.util.spec_from_file_location("document_columns", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_methodology_lists_the_catalogue_columns() -> None:
    """docs/methodology.md is up to date: run scripts/document_columns.py after editing the
    catalogue."""
    script = _script()
    text = script.METHODOLOGY.read_text(encoding="utf-8")
    assert script.documented(text, script.columns_table(catalogue())) == text, \
        "docs/methodology.md is out of date: run python3 scripts/document_columns.py"
    for column in catalogue().at("communes"):
        assert f"| `{column.name}` | {column.label} |" in text
    # the check notices a change of the catalogue
    assert script.documented(text, script.columns_table(catalogue()).replace(
        "Empreinte totale", "Empreinte")) != text
