"""Registries through the whole run: placed in communes, counted, turned into electricity and
emissions located in the commune, quarantined when outside every commune, accounted for."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

from territory.registries import read_registry
from territory.run import run_pipeline
from territory.settings import RunSettings

FIXTURES = Path(__file__).parent / "fixtures"
ANTENNAS = FIXTURES / "antennas" / "arcep_sites_44.csv"
DATACENTERS = FIXTURES / "datacenters" / "osm_sample.geojson"
COMMAND = [sys.executable, "-m", "territory.cli"]


def _factor(factor_id: str) -> float:
    for table in sorted((Path(__file__).parents[1] / "data").glob("factors*.csv")):
        with table.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["id"] == factor_id:
                    return float(row["value"])
    raise KeyError(factor_id)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Loire-Atlantique without and with the antenna and datacenter registries."""
    base = tmp_path_factory.mktemp("base") / "out"
    run_pipeline(RunSettings(out_dir=base, departements=("44",), progress=False))
    with_registries = tmp_path_factory.mktemp("registries") / "out"
    run_pipeline(RunSettings(
        out_dir=with_registries, departements=("44",), progress=False,
        sources=(("antennas", ANTENNAS, {}), ("datacenters", DATACENTERS, {})),
    ))
    return base, with_registries


def test_points_are_counted_in_the_commune_that_contains_them(runs):
    _, out = runs
    communes = pyogrio.read_dataframe(out / "territory.gpkg", layer="communes")
    load = read_registry("antennas", ANTENNAS)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(load.rows["x"], load.rows["y"]), crs=load.crs)
    inside = gpd.sjoin(points.to_crs(2154), communes[["code_insee", "geometry"]], predicate="within")
    expected = inside.groupby("code_insee").size()
    counted = communes.set_index("code_insee")["antennas_count"]
    assert expected.sum() >= 4
    assert (counted[counted > 0].sort_index() == expected.sort_index()).all()
    assert counted.sum() == expected.sum()
    site_kwh = _factor("antennas.site_kwh_per_year")
    with_antennas = communes[communes["antennas_count"] > 0]
    assert (with_antennas["antennas_kwh"] - with_antennas["antennas_count"] * site_kwh).abs().max() < 1e-6


def test_territorial_accounting_adds_what_is_located_and_nothing_else(runs):
    base, out = runs
    before = pd.read_csv(base / "communes.csv", dtype={"code_insee": str}).set_index("code_insee")
    after = pd.read_csv(out / "communes.csv", dtype={"code_insee": str}).set_index("code_insee")
    assert (after["footprint_tco2e"] - before["footprint_tco2e"]).abs().max() < 1e-9
    located = after["antennas_tco2e"] + after["datacenters_located_tco2e"] + after["infrastructure_tco2e"]
    assert located.sum() > 0
    gap = after["territorial_tco2e"] - before["territorial_tco2e"] - located
    assert gap.abs().max() < 1e-9
    displaced = after["footprint_tco2e"] - after["territorial_tco2e"]
    assert (after["displaced_tco2e"] - displaced).abs().max() < 1e-9
    ef = _factor("electricity.kgco2e_per_kwh")
    assert after["antennas_tco2e"].sum() == pytest.approx(after["antennas_kwh"].sum() * ef / 1000)
    # the upper levels sum their communes' registry columns too
    departement = pyogrio.read_dataframe(out / "territory.gpkg", layer="departements").iloc[0]
    assert departement["antennas_count"] == after["antennas_count"].sum()


def test_every_row_is_kept_or_quarantined_with_a_reason(runs):
    _, out = runs
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    antennas = next(i for i in manifest["inputs"] if i["name"] == "antennas")
    assert antennas["rows_read"] == 12
    # rows placed in another département than the run's are set aside with that reason
    assert set(antennas["rows_set_aside"]) <= {"outside the run's extent"}
    assert antennas["rows_read"] == (antennas["rows_kept"] + antennas["rows_quarantined"]
                                     + sum(antennas["rows_set_aside"].values()))
    quarantine = pd.read_csv(out / "quarantine" / "antennas.csv")
    assert len(quarantine) == antennas["rows_quarantined"]
    assert quarantine["reason"].notna().all()
    assert quarantine["reason"].str.contains("no coordinates").any()
    datacenters = next(i for i in manifest["inputs"] if i["name"] == "datacenters")
    outside = pd.read_csv(out / "quarantine" / "datacenters.csv")
    # the fixture's Frankfurt site is read fine but lies in no French commune
    assert outside["reason"].eq("outside every French commune").sum() == 1
    assert datacenters["rows_read"] == (datacenters["rows_kept"] + datacenters["rows_quarantined"]
                                        + sum(datacenters["rows_set_aside"].values()))


def test_registry_layers_open_styled(runs):
    _, out = runs
    layers = dict(pyogrio.list_layers(out / "territory.gpkg"))
    assert layers["antennas"] == "Point" and layers["datacenters"] == "Point"
    antennas = pyogrio.read_dataframe(out / "territory.gpkg", layer="antennas")
    assert antennas["code_insee"].str.startswith("44").all()
    assert (antennas["electricity_kwh"] > 0).all()
    with sqlite3.connect(out / "territory.gpkg") as db:
        styles = dict(db.execute(
            "SELECT f_table_name, styleQML FROM layer_styles WHERE useAsDefault").fetchall())
    # the default style of the antennas colours them by operator, with French aliases
    assert 'type="categorizedSymbol"' in styles["antennas"]
    assert 'attr="operator"' in styles["antennas"]
    assert "Opérateur" in styles["antennas"]


def test_validate_json(tmp_path):
    result = subprocess.run([*COMMAND, "validate", str(ANTENNAS), "--kind", "antennas", "--json"],
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {"kind", "rows_read", "rows_kept", "rows_quarantined", "reasons", "communes"} <= set(report)
    assert report["kind"] == "antennas"
    assert report["rows_read"] == report["rows_kept"] + report["rows_quarantined"] == 12
    assert sum(r["count"] for r in report["reasons"]) == report["rows_quarantined"]
    for entry in report["reasons"]:
        assert set(entry) == {"reason", "count", "first_rows"}
        assert 0 < len(entry["first_rows"]) <= min(entry["count"], 10)
        assert all(isinstance(line, int) for line in entry["first_rows"])
    assert report["communes"] >= 4


def test_sources_declared_in_a_pipeline_file(tmp_path):
    config = tmp_path / "pipeline.toml"
    config.write_text(
        "[run]\ndepartements = [\"44\"]\n\n"
        f"[sources.antennes]\nkind = \"antennas\"\npath = \"{ANTENNAS.as_posix()}\"\n\n"
        "[sources.absente]\nkind = \"cameras\"\npath = \"nowhere.geojson\"\ncrs = \"EPSG:2154\"\n",
        encoding="utf-8",
    )
    listing = subprocess.run([*COMMAND, "sources", "--config", str(config)],
                             capture_output=True, text=True, timeout=120, check=False)
    assert listing.returncode == 1  # one declared file is missing
    assert "antennas" in listing.stdout and "MISSING" in listing.stdout
    run = subprocess.run([*COMMAND, "run", "--config", str(config), "--out", str(tmp_path / "out"), "--quiet"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 3  # data error: an input file is missing
    assert run.stderr.count("\n") == 1 and "nowhere.geojson" in run.stderr


def test_unknown_source_kind():
    result = subprocess.run([*COMMAND, "run", "--source", "radars=x.csv", "--quiet"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2  # usage error
    assert "unknown kind 'radars'" in result.stderr and "antennas" in result.stderr


def test_points_at_sea_and_html_names(tmp_path):
    source = tmp_path / "sites.csv"
    source.write_text(
        "nom;lon;lat\n"
        "<img src=x onerror=alert(1)>;-1.5536;47.2184\n"  # Nantes
        "Au large;-3.0;46.5\n",                         # Bay of Biscay
        encoding="utf-8",
    )
    from territory.validate import validate_file

    report = validate_file(source, "datacenters")
    assert (report["rows_read"], report["rows_kept"], report["rows_quarantined"]) == (2, 1, 1)
    assert report["reasons"] == [
        {"reason": "outside every French commune", "count": 1, "first_rows": [3]}]
    assert report["communes"] == 1
    out = tmp_path / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("44",), progress=False,
                             sources=(("datacenters", source, {}),)))
    layer = pyogrio.read_dataframe(out / "territory.gpkg", layer="datacenters")
    assert layer["name"].tolist() == ["<img src=x onerror=alert(1)>"]
    assert layer["code_insee"].tolist() == ["44109"]


@pytest.mark.realdata
def test_real_registries_land_where_they_are(tmp_path):
    from tests.conftest import realdata_path

    antennas = realdata_path("anfr", "2018_01_Sites_mobiles_2G_3G_4G_France_metropolitaine_L93.csv")
    cameras = realdata_path("city-infra", "VilleMTP_MTP_CameraSurv.geojson")
    outline = realdata_path("boundaries", "departement-44-loire-atlantique.geojson")
    out = tmp_path / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("44", "34"), progress=False,
                             sources=(("antennas", antennas, {}), ("cameras", cameras, {}))))
    communes = pyogrio.read_dataframe(out / "territory.gpkg", layer="communes").set_index("code_insee")
    # Montpellier's 141 cameras all land in Montpellier
    assert communes.loc["34172", "cameras_count"] == 141
    assert communes["cameras_count"].sum() == 141
    # Loire-Atlantique's mobile sites land in its communes: as many as the reader keeps inside
    # the IGN outline of the département (small differences at the coast and the borders)
    load = read_registry("antennas", antennas)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(load.rows["x"], load.rows["y"]), crs=2154)
    inside = gpd.sjoin(points, gpd.read_file(outline).to_crs(2154), predicate="within")
    in_44 = communes[communes.index.str.startswith("44")]["antennas_count"].sum()
    assert in_44 == pytest.approx(len(inside), abs=10)
    assert (communes.loc["44109", "antennas_count"]) > 50  # Nantes
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    record = next(i for i in manifest["inputs"] if i["name"] == "antennas")
    # the national file in a Loire-Atlantique run: the other départements' sites are set aside
    assert record["rows_read"] == 77_148 == (record["rows_kept"] + record["rows_quarantined"]
                                             + record["rows_set_aside"]["outside the run's extent"])


def test_camera_retention_is_a_parameter(tmp_path):
    cameras = FIXTURES / "infrastructure" / "cameras_l93_nocrs.geojson"
    kwh = {}
    for days in (30, 7):
        out = tmp_path / f"out{days}"
        run_pipeline(RunSettings(out_dir=out, departements=("34",), progress=False,
                                 sources=(("cameras", cameras, {}),), retention_days=days))
        communes = pd.read_csv(out / "communes.csv", dtype={"code_insee": str}).set_index("code_insee")
        assert communes.loc["34172", "cameras_count"] == 4  # Montpellier
        kwh[days] = communes.loc["34172", "infrastructure_kwh"]
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["parameters"]["retention_days"] == days
    per_camera = 4 * _factor("cameras.data_tb_per_year") * _factor("storage.kwh_per_tb_year")
    assert kwh[30] - kwh[7] == pytest.approx(per_camera * (30 - 7) / 365)
    power_only = 4 * _factor("cameras.power_w") * 8760 / 1000
    assert kwh[7] == pytest.approx(power_only + per_camera * 7 / 365)
