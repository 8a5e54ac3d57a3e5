"""Time of day and season: hourly.csv, usage profiles, grid intensity and --source grid=FILE."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pyogrio
import pytest

from territory.cli import main
from territory.database import connect
from territory.errors import InputError
from territory.pipeline import discover_models, run_models
from territory.settings import data_dir, pipelines_dir
from territory.sources import load_factor_tables
from territory.sources.grid import load_grid, read_eco2mix
from territory.sources.usage_profiles import load_usage_profiles
from tests.conftest import FIXTURES, realdata_path

GRID = FIXTURES / "grid" / "eco2mix_2024-01-15.csv"
STREETLIGHTS = FIXTURES / "infrastructure" / "streetlights_l93.zip"
LEVEL_LAYERS = {"regions": "regions", "departements": "departements", "epci": "epci",
                "communes": "communes"}


def _hourly_sums(path: Path) -> dict[tuple[str, str], tuple[float, float, float, float, int]]:
    con = duckdb.connect()
    rows = con.execute(
        "SELECT level, code_insee, sum(use_kwh), sum(use_tco2e), sum(registries_kwh), "
        "sum(registries_tco2e), count(*) FROM read_csv(?, types = {'code_insee': 'VARCHAR'}) "
        "GROUP BY ALL", [str(path)]).fetchall()
    return {(r[0], r[1]): (r[2], r[3], r[4], r[5], r[6]) for r in rows}


def _layer(out: Path, layer: str) -> dict[str, dict[str, float]]:
    frame = pyogrio.read_dataframe(out / "territory.gpkg", layer=layer, read_geometry=False)
    return {str(r["code_insee"]): r for r in frame.to_dict("records")}


def _run(out: Path, *args: str) -> dict:
    assert main(["run", "--out", str(out), "--quiet", "--no-density-raster", *args]) == 0
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def test_hourly_use_sums_to_the_annual_use_of_every_territory(run_44: Path) -> None:
    sums = _hourly_sums(run_44 / "hourly.csv")
    assert {level for level, _ in sums} == set(LEVEL_LAYERS)
    for level, layer in LEVEL_LAYERS.items():
        annual = _layer(run_44, layer)
        codes = {code for lvl, code in sums if lvl == level}
        assert codes == set(annual), level
        for code in codes:
            use_kwh, use_tco2e, _, _, cells = sums[(level, code)]
            assert cells == 288
            assert use_kwh == pytest.approx(annual[code]["use_kwh"], rel=1e-3)
            # the hourly weighting moves emissions by a few % at most, never the kWh
            assert use_tco2e == pytest.approx(annual[code]["use_tco2e"], rel=0.05)
    manifest = json.loads((run_44 / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["hourly"]["levels"] == ["regions", "departements", "epci", "communes"]
    assert manifest["hourly"]["grid_intensity"]["approximation"] is True
    assert "hourly.csv" in manifest["outputs"]


def test_street_lights_are_lit_at_night_and_longer_in_december() -> None:
    shares: dict[tuple[int, int], float] = {}
    weights: dict[int, float] = {}
    with (data_dir() / "usage_profiles.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["profile"] == "street_lighting":
                shares[(int(row["month"]), int(row["hour"]))] = float(row["share"])
                weights[int(row["month"])] = float(row["day_weight"])
    for month in (6, 12):
        assert shares[(month, 12)] == 0  # noon: off
        assert shares[(month, 1)] > 0.05  # 1 am: on
    assert shares[(12, 18)] > 0 and shares[(6, 18)] == 0  # dark at 18 h in December only
    assert weights[12] > 1.5 * weights[6]  # December nights are much longer than June's
    assert sum(shares[(12, h)] for h in range(24)) == pytest.approx(1)


def _carbon_weights(grid_file: Path | None = None) -> dict[str, tuple[float, float, float]]:
    con = connect()
    load_factor_tables(con, data_dir())
    load_usage_profiles(con, data_dir())
    load_grid(con, data_dir(), grid_file)
    models = discover_models(pipelines_dir())
    wanted = {"stg_factors", "stg_grid_intensity", "stg_usage_profiles",
              "int_profiles_hourly_shape", "int_profiles_carbon_weights"}
    run_models(con, [m for m in models if m.name in wanted])
    rows = con.execute("SELECT profile, flexible_share, carbon_weight, low_carbon_weight "
                       "FROM int_profiles_carbon_weights").fetchall()
    return {str(p): (float(f), float(c), float(low)) for p, f, c, low in rows}


def test_profile_carbon_weights_and_the_low_carbon_hours_lever() -> None:
    weights = _carbon_weights(GRID)
    assert weights["flat"][1] == pytest.approx(1)
    for flexible, carbon, low in weights.values():
        assert low <= carbon + 1e-12
        if flexible == 0:
            assert low == pytest.approx(carbon)
    # January of the fixture: 80 g at 17-20 h, 20 g otherwise; charging moved out of the evening
    assert weights["night_charging"][2] < weights["night_charging"][1]
    assert weights["tv_evening"][1] > weights["night_charging"][1]


def test_grid_file_changes_use_tco2e_and_a_flat_grid_gives_the_annual_figure(tmp_path: Path) -> None:
    default = tmp_path / "default"
    _run(default, "--commune", "34172", "--source", f"streetlights={STREETLIGHTS}")
    sums = _hourly_sums(default / "hourly.csv")
    registries_kwh, registries_tco2e = sums[("communes", "34172")][2:4]
    annual = _layer(default, "communes")["34172"]
    assert registries_kwh > 0
    assert registries_kwh == pytest.approx(
        annual["antennas_kwh"] + annual["datacenters_located_kwh"] + annual["infrastructure_kwh"],
        rel=1e-3)
    assert registries_tco2e == pytest.approx(
        annual["antennas_tco2e"] + annual["datacenters_located_tco2e"]
        + annual["infrastructure_tco2e"], rel=0.05)

    # a user's January with an evening peak: January's evening cells weigh more
    user = tmp_path / "user"
    manifest = _run(user, "--commune", "34172", "--source", f"reseau_electrique={GRID}")
    grid = manifest["hourly"]["grid_intensity"]
    assert grid["user_file_months"] == [1] and grid["embedded_months_kept"] == list(range(2, 13))
    record = next(i for i in manifest["inputs"] if i["name"] == "grid")
    assert (record["rows_read"], record["rows_kept"]) == (72, 48)
    before = _cells(default / "hourly.csv", "34172")
    after = _cells(user / "hourly.csv", "34172")
    assert after[(1, 18)][0] == pytest.approx(before[(1, 18)][0])  # kWh unchanged
    assert after[(1, 18)][1] / after[(1, 3)][1] > 3 * before[(1, 18)][1] / before[(1, 3)][1]

    # the same rate at every hour of every month: every weight is 1, hourly = annual
    flat = tmp_path / "flat.csv"
    lines = GRID.read_text(encoding="utf-8").splitlines()
    rows = [lines[0]]
    for month in range(1, 13):
        rows += [line.replace("2024-01-15", f"2024-{month:02d}-15").replace(";80;", ";20;")
                 for line in lines[1:]]
    flat.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    flat_out = tmp_path / "flat"
    _run(flat_out, "--commune", "34172", "--source", f"grid={flat}")
    use_kwh, use_tco2e = _hourly_sums(flat_out / "hourly.csv")[("communes", "34172")][:2]
    commune = _layer(flat_out, "communes")["34172"]
    assert use_tco2e == pytest.approx(commune["use_tco2e"], rel=1e-9)
    assert use_kwh == pytest.approx(commune["use_kwh"], rel=1e-9)


def _cells(path: Path, code: str) -> dict[tuple[int, int], tuple[float, float]]:
    with path.open(encoding="utf-8") as handle:
        return {(int(r["month"]), int(r["hour"])): (float(r["use_kwh"]), float(r["use_tco2e"]))
                for r in csv.DictReader(handle) if r["level"] == "communes" and r["code_insee"] == code}


def test_a_broken_grid_row_is_one_error_naming_file_row_and_column(tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.csv"
    lines = GRID.read_text(encoding="utf-8").splitlines()
    fields = lines[5].split(";")
    fields[18] = "abc"
    lines[5] = ";".join(fields)
    broken.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"broken.csv: row 6, column 'Taux de CO2 \(g/kWh\)': 'abc'"):
        read_eco2mix(broken)
    code = main(["run", "--commune", "34172", "--out", str(tmp_path / "out"), "--quiet",
                 "--no-density-raster", "--source", f"grille={broken}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3
    assert len(err) == 1 and "row 6" in err[0] and "Taux de CO2" in err[0]


def test_unknown_grid_layout_names_the_columns(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a;b\r\n1;2\r\n", encoding="utf-8")
    with pytest.raises(InputError, match="Taux de CO2"):
        read_eco2mix(other)


@pytest.mark.realdata
def test_reads_the_real_eco2mix_export() -> None:
    path = realdata_path("rte", "eco2mix-national-tr.csv")
    reading = read_eco2mix(path)
    assert reading.rows_read == 2976 and reading.rows_kept == 2976
    assert reading.months == [12]
    assert sorted(h for _, h in reading.cells) == list(range(24))
    assert all(30 < v < 150 for v in reading.cells.values())
    # the embedded table's measured month is this file's December, to the rounding
    with (data_dir() / "grid_intensity_month_hour.csv").open(encoding="utf-8") as handle:
        embedded = {(int(r["month"]), int(r["hour"])): float(r["gco2_per_kwh"])
                    for r in csv.DictReader(handle)}
    for hour in range(24):
        assert embedded[(12, hour)] == pytest.approx(reading.cells[(12, hour)], abs=1e-3)
