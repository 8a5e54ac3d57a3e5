"""Registry kinds declared once (data/registries/*.toml): the specs, and a new kind made of a
spec, a factor table and a fixture alone, found in the GeoPackage, the map and validate."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from territory.mapping import read_map_data
from territory.registries.kinds import KINDS, POINT_KINDS
from territory.registries.specs import SPECS_ENV, map_point_layers, point_layers, registry_specs

ROOT = Path(__file__).resolve().parents[1]
COMMAND = [sys.executable, "-m", "territory.cli"]

CHARGERS_SPEC = """
kind = "chargers"
label = "Bornes de recharge"
placed = "points"
reader = "points"
layer = "chargers"

[energy]
model = "power"
factors = "factors_chargers.csv"
power_w = "chargers.power_w"
hours_per_year = "chargers.hours_per_year"

[map]
colour = "#00a0b0"
cluster = true
fields = ["name", "operator", "electricity_kwh", "territorial_tco2e", "code_insee"]

[columns.x]
names = ["lon", "longitude", "consolidated_longitude", "xlongitude"]
type = "number"
required = true

[columns.y]
names = ["lat", "latitude", "consolidated_latitude", "ylatitude"]
type = "number"
required = true

[columns.name]
names = ["nom_station", "nom", "name"]
target = "name"

[columns.operator]
names = ["nom_operateur", "operateur"]
target = "operator"

[columns.year]
names = ["date_mise_en_service", "mise_en_service"]
type = "year"
target = "installed_year"
"""
CHARGERS_FACTORS = (
    "id,value,low,high,unit,source,year,confidence,note\n"
    "chargers.power_w,100,50,200,W/unit,\"test figure\",2024,L,\n"
    "chargers.hours_per_year,8760,8760,8760,h/yr,\"test figure\",2024,L,\n"
)
# as data.gouv.fr's IRVE file writes them: ';' here, decimal commas, an accent in a header
CHARGERS_CSV = (
    "nom_station;Nom_Opérateur;consolidated_longitude;consolidated_latitude;date_mise_en_service\n"
    "Nantes Commerce;Izivia;-1,5586;47,2130;2021-03-04\n"
    "Saint-Nazaire Gare;Tesla;-2,2118;47,2861;15/06/2019\n"
    "Sans position;Izivia;;;2020-01-01\n"
    "Madrid;Iberdrola;-3,7038;40,4168;2022-01-01\n"
    "Nantes Commerce;Izivia;-1,5586;47,2130;2021-03-04\n"
)


def test_every_builtin_kind_has_a_spec() -> None:
    specs = registry_specs()
    assert tuple(specs) == KINDS
    assert tuple(k for k, s in specs.items() if s.is_points) == POINT_KINDS
    assert point_layers() == {
        "datacenters": ("datacenters",), "antennas": ("antennas",),
        "infrastructure": ("streetlights", "cameras", "sensors"),
    }


def test_the_map_definition_agrees_with_the_specs() -> None:
    definition = tomllib.loads((ROOT / "maps" / "footprint.toml").read_text(encoding="utf-8"))
    specs = registry_specs()
    for entry in definition["points"]:
        for kind in entry["kinds"]:
            assert specs[kind].label == entry["label"], kind
            assert specs[kind].map["colour"] == entry["colour"], kind
    # every point kind is drawn once: declared in the map, or from its spec
    layers = map_point_layers(definition["points"])
    drawn = [k for entry in layers for k in entry["kinds"]]
    assert sorted(drawn) == sorted(POINT_KINDS)


@pytest.fixture()
def chargers(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "chargers.toml").write_text(CHARGERS_SPEC, encoding="utf-8")
    (specs / "factors_chargers.csv").write_text(CHARGERS_FACTORS, encoding="utf-8")
    fixture = tmp_path / "irve.csv"
    fixture.write_text(CHARGERS_CSV, encoding="utf-8")
    env = {**os.environ, SPECS_ENV: str(specs), "PYTHONPATH": str(ROOT)}
    return fixture, env


def test_a_new_kind_from_a_spec_and_a_fixture_alone(
    tmp_path: Path, chargers: tuple[Path, dict[str, str]],
) -> None:
    fixture, env = chargers
    out = tmp_path / "out"
    run = subprocess.run(
        [*COMMAND, "run", "--departement", "44", "--no-density-raster", "--quiet",
         "--source", f"chargers={fixture}", "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]

    # the GeoPackage has a chargers layer with the two points of Loire-Atlantique
    with sqlite3.connect(out / "territory.gpkg") as db:
        titles = dict(db.execute("SELECT table_name, identifier FROM gpkg_contents"))
        assert titles.get("chargers") == "Bornes de recharge"
        styles = {r[0] for r in db.execute(
            "SELECT styleName FROM layer_styles WHERE f_table_name = 'chargers'")}
        assert "Bornes de recharge" in styles
        rows = db.execute("SELECT name, operator, installed_year, electricity_kwh, code_insee "
                          "FROM chargers ORDER BY name").fetchall()
    assert [r[0] for r in rows] == ["Nantes Commerce", "Saint-Nazaire Gare"]
    assert [r[1] for r in rows] == ["Izivia", "Tesla"]
    assert [r[2] for r in rows] == [2021, 2019]
    assert [r[3] for r in rows] == [pytest.approx(876.0)] * 2  # 100 W x 8,760 h / 1000
    assert [r[4] for r in rows] == ["44109", "44184"]

    # the map draws them with the spec's label and colour
    data = json.dumps(read_map_data((out / "map.html").read_text(encoding="utf-8")),
                      ensure_ascii=False)
    assert "Bornes de recharge" in data and "#00a0b0" in data

    # the quarantine and the manifest account for every row
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    record = next(r for r in manifest["inputs"] if r["name"] == "chargers")
    assert record["rows_read"] == 5
    assert record["rows_kept"] == 2 and record["rows_quarantined"] == 3

    # validate --json reads it with the same spec
    check = subprocess.run([*COMMAND, "validate", "--kind", "chargers", "--json", str(fixture)],
                           capture_output=True, text=True, timeout=300, check=False, env=env)
    assert check.returncode == 0, check.stderr[-2000:]
    report = json.loads(check.stdout)
    assert (report["rows_read"], report["rows_kept"], report["rows_quarantined"]) == (5, 2, 3)
    reasons = {r["reason"]: r["first_rows"] for r in report["reasons"]}
    assert reasons == {"no coordinates": [4], "coordinates outside France": [5],
                       "exact duplicate": [6]}
    assert report["communes"] == 2
