"""Scenarios to 2050: files checked, scenarios.csv, each lever moving only what it should and
monotonically, levers combined without double counting, the trajectory check."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from territory.errors import ConfigError
from territory.mapping import read_map_data
from territory.run import run_pipeline
from territory.scenarios import (
    BASELINE,
    read_scenario,
    resolve,
    scenario_years,
    shipped_dir,
    shipped_names,
)
from territory.settings import RunSettings

FIXTURES = Path(__file__).parent / "fixtures"
STREETLIGHTS = FIXTURES / "infrastructure" / "streetlights_l93.zip"
DEVICES = [row["device"] for row in csv.DictReader(
    (Path(__file__).parent.parent / "data" / "devices.csv").read_text(encoding="utf-8")
    .splitlines())]
COMPONENTS = ("devices_tco2e", "networks_tco2e", "datacenters_tco2e")


def _rows(out: Path) -> dict[tuple[str, str, str, int], dict[str, float]]:
    """scenarios.csv by (level, code, scenario, year), numbers as floats."""
    rows = {}
    with (out / "scenarios.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = (row["level"], row["code_insee"], row["scenario"], int(row["year"]))
            rows[key] = {k: float(v) for k, v in row.items()
                         if k.endswith(("_tco2e", "_kwh"))}
    return rows


def _write(folder: Path, name: str, levers: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'[scenario]\ntitle = "{name}"\ndescription = "test"\n\n[levers]\n{levers}\n',
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def levers_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Montpellier (one commune, street lights given) with one scenario per lever setting."""
    folder = tmp_path_factory.mktemp("scenario-files")
    files = [
        _write(folder, "life1", "lifetime_extension_years = { smartphone = 1, laptop = 1 }"),
        _write(folder, "life2", "lifetime_extension_years = { smartphone = 2, laptop = 2 }"),
        _write(folder, "refurb20", "refurbished_share = { smartphone = 0.2, laptop = 0.2 }"),
        _write(folder, "refurb50", "refurbished_share = { smartphone = 0.5, laptop = 0.5 }"),
        _write(folder, "life_and_refurb", "lifetime_extension_years = { smartphone = 2, "
               "laptop = 2 }\nrefurbished_share = { smartphone = 0.5, laptop = 0.5 }"),
        _write(folder, "fewer_tv", "stock_change = { television = -0.3 }"),
        _write(folder, "fibre", "fibre = { ftth_share = 1.0 }"),
        _write(folder, "switch_off", "streetlights = { switch_off_hours_per_night = 5 }"),
        _write(folder, "led", "streetlights = { led_share = 1.0 }"),
        _write(folder, "pue", "datacenters = { pue = 1.2 }"),
        _write(folder, "heat", "datacenters = { heat_recovery_share = 0.5 }"),
        _write(folder, "shifted", "low_carbon_hours = { shifted_share = 1.0 }"),
        _write(folder, "late", "by = 2050\nlifetime_extension_years = { laptop = 2 }"),
    ]
    out = tmp_path_factory.mktemp("scenario-levers") / "out"
    run_pipeline(RunSettings(out_dir=out, communes=("34172",), progress=False,
                             density_raster=False, scenarios=tuple(map(str, files)),
                             sources=(("streetlights", STREETLIGHTS, {}),)))
    return out, _rows(out)


def _commune(rows: dict, scenario: str, year: int) -> dict[str, float]:
    return rows[("communes", "34172", scenario, year)]


# ---------------------------------------------------------------- files


def test_every_shipped_scenario_reads_with_a_french_title() -> None:
    names = shipped_names()
    assert {"baseline", "sobriety", "longer-life", "refurbished", "fibre-and-switch-off",
            "low-carbon-hours", "combined"} <= set(names)
    for name in names:
        scenario = read_scenario(shipped_dir() / f"{name}.toml", DEVICES)
        assert scenario.title and scenario.description
        assert (name == BASELINE) == (not scenario.levers), name


@pytest.mark.parametrize(("text", "message"), [
    ('[scenario]\ntitle = "t"\ndescription = "d"\nclasses = 7\n', "unknown key 'classes'"),
    ('[scenario]\ntitle = "t"\ndescription = "d"\n[levers]\nlifetime = 1\n',
     "unknown key 'lifetime' (did you mean 'lifetime_extension_years'?)"),
    (('[scenario]\ntitle = "t"\ndescription = "d"\n[levers]\n'
      'stock_change = { televison = -0.3 }\n'),
     "unknown key 'televison' (did you mean 'television'?)"),
    (('[scenario]\ntitle = "t"\ndescription = "d"\n[levers]\n'
      'refurbished_share = { laptop = 1.5 }\n'),
     "refurbished_share] laptop = 1.5 is outside [0, 1]"),
    ('[scenario]\ntitle = "t"\ndescription = "d"\n[levers]\nby = 2024\n', "by must be a year"),
    ('[scenario]\ndescription = "d"\n', "[scenario] title is missing"),
])
def test_a_bad_scenario_file_is_one_error_naming_file_and_key(
        tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        read_scenario(path, DEVICES)
    assert str(path) in str(error.value)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_an_unknown_scenario_name_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="closest: sobriety"):
        resolve("sobriet")


def test_the_command_line_refuses_an_unknown_scenario(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "territory.cli", "run", "--commune", "34172", "--scenario",
         "sobrietyy", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "unknown scenario 'sobrietyy'" in done.stderr
    assert "closest: sobriety" in done.stderr
    assert not (tmp_path / "out" / "scenarios.csv").exists()


def test_a_refurbished_lever_on_a_device_without_a_figure_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "tv", "refurbished_share = { television = 0.2 }")
    with pytest.raises(ConfigError, match=r"television: no refurbished figure"):
        run_pipeline(RunSettings(out_dir=tmp_path / "out", communes=("34172",), progress=False,
                                 density_raster=False, scenarios=(str(path),)))


# ---------------------------------------------------------------- scenarios.csv


@pytest.fixture(scope="module")
def shipped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Loire-Atlantique with every shipped scenario."""
    out = tmp_path_factory.mktemp("scenarios44") / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("44",), progress=False,
                             density_raster=False,
                             scenarios=tuple(n for n in shipped_names() if n != BASELINE)))
    return out


def test_scenarios_csv_has_every_territory_scenario_and_year(shipped_run: Path) -> None:
    with (shipped_run / "scenarios.csv").open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        # the outputs contract's order: level, code_insee, scenario, year, footprint columns
        assert reader.fieldnames[:10] == [
            "level", "code_insee", "scenario", "year",
            "footprint_tco2e", "devices_tco2e", "networks_tco2e", "datacenters_tco2e",
            "embodied_tco2e", "use_tco2e"]
        assert reader.fieldnames[-1] == "nom"
        rows = list(reader)
    with (shipped_run / "communes.csv").open(encoding="utf-8") as handle:
        communes = {r["code_insee"]: r for r in csv.DictReader(handle)}
    scenarios = {r["scenario"] for r in rows}
    assert scenarios == set(shipped_names())
    cells = defaultdict(set)
    for row in rows:
        cells[(row["level"], row["code_insee"])].add((row["scenario"], int(row["year"])))
    expected = {(s, y) for s in scenarios for y in scenario_years()}
    assert all(found == expected for found in cells.values())
    assert {code for level, code in cells if level == "communes"} == set(communes)
    assert ("departements", "44") in cells and ("regions", "52") in cells
    assert ("epci", "244400404") in cells  # Nantes Métropole
    manifest = json.loads((shipped_run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scenarios"]["names"][0] == BASELINE
    assert manifest["scenarios"]["titles"]["combined"] == "Combiné"
    assert "scenarios.csv" in manifest["outputs"]


def test_the_base_year_is_the_run_and_levers_start_from_it(shipped_run: Path) -> None:
    rows = _rows(shipped_run)
    with (shipped_run / "communes.csv").open(encoding="utf-8") as handle:
        communes = {r["code_insee"]: r for r in csv.DictReader(handle)}
    base = scenario_years()[0]
    for code in ("44109", "44184", "44003"):
        now = communes[code]
        for scenario in shipped_names():
            row = rows[("communes", code, scenario, base)]
            # scenarios.csv gives tonnes to the kilogram, kWh to the kWh
            assert row["footprint_tco2e"] == pytest.approx(float(now["footprint_tco2e"]), abs=6e-4)
            for column in (*COMPONENTS, "embodied_tco2e", "use_tco2e"):
                assert row[column] == pytest.approx(float(now[column]), abs=6e-4), column
            assert row["use_kwh"] == pytest.approx(float(now["use_kwh"]), abs=0.6)


def test_communes_add_up_to_the_departement(shipped_run: Path) -> None:
    rows = _rows(shipped_run)
    for scenario in ("baseline", "combined"):
        for year in (2030, 2050):
            total = sum(v["footprint_tco2e"] for (level, _, s, y), v in rows.items()
                        if level == "communes" and s == scenario and y == year)
            assert rows[("departements", "44", scenario, year)]["footprint_tco2e"] == \
                pytest.approx(total, rel=1e-7)


def test_combined_is_below_each_lever_alone_everywhere(shipped_run: Path) -> None:
    rows = _rows(shipped_run)
    singles = [n for n in shipped_names() if n not in (BASELINE, "combined")]
    for (level, code, scenario, year), values in rows.items():
        if scenario != "combined" or year == scenario_years()[0]:
            continue
        for single in singles:
            assert values["footprint_tco2e"] <= \
                rows[(level, code, single, year)]["footprint_tco2e"] * (1 + 1e-12), \
                (level, code, single, year)


def test_the_trend_grows_and_the_trajectory_check_is_recorded(shipped_run: Path) -> None:
    rows = _rows(shipped_run)
    trend = [rows[("departements", "44", BASELINE, y)]["footprint_tco2e"] for y in scenario_years()]
    assert trend == sorted(trend) and trend[-1] > trend[0]
    check = json.loads((shipped_run / "manifest.json").read_text(encoding="utf-8"))[
        "trajectory_check"]
    assert [h["year"] for h in check["horizons"]] == [2030, 2050]
    for horizon in check["horizons"]:
        expected = {2030: 1.45 ** 0.5, 2050: 2.87 / 1.45 ** 0.5}[horizon["year"]]
        assert horizon["reference_growth_from_base_year"] == pytest.approx(expected, rel=1e-3)
        gap = horizon["model_growth_from_base_year"] / expected - 1
        assert horizon["within_tolerance"] == (abs(gap) <= 0.15)
        # judged without the reference's own connected-objects growth: a lower trajectory
        assert horizon["model_growth_from_base_year"] < \
            horizon["from_reference"]["model_growth_from_base_year"]
    assert check["passed"] == all(h["within_tolerance"] for h in check["horizons"])


def test_without_scenario_there_is_no_scenarios_csv(run_44: Path) -> None:
    assert not (run_44 / "scenarios.csv").exists()
    manifest = json.loads((run_44 / "manifest.json").read_text(encoding="utf-8"))
    assert "trajectory_check" not in manifest


# ---------------------------------------------------------------- levers


def test_a_longer_life_lowers_embodied_never_use_and_more_years_lower_it_more(levers_run) -> None:
    _, rows = levers_run
    for year in scenario_years()[1:]:
        base, one, two = (_commune(rows, s, year) for s in ("baseline", "life1", "life2"))
        assert two["embodied_tco2e"] < one["embodied_tco2e"] < base["embodied_tco2e"]
        assert one["use_tco2e"] == pytest.approx(base["use_tco2e"], rel=1e-12)
        assert one["networks_tco2e"] == pytest.approx(base["networks_tco2e"], rel=1e-12)


def test_more_refurbished_purchases_lower_embodied(levers_run) -> None:
    _, rows = levers_run
    for year in scenario_years()[1:]:
        base, low, high = (_commune(rows, s, year) for s in ("baseline", "refurb20", "refurb50"))
        assert high["embodied_tco2e"] < low["embodied_tco2e"] < base["embodied_tco2e"]
        assert low["use_kwh"] == pytest.approx(base["use_kwh"], rel=1e-12)


def test_levers_reach_their_value_in_their_year_then_hold(levers_run) -> None:
    _, rows = levers_run
    # the saving (tCO2e) on the devices: zero in the base year, full in 2030, then held (the
    # stocks of smartphones and laptops grow slowly with population and households)
    cut = {y: _commune(rows, "baseline", y)["devices_tco2e"]
           - _commune(rows, "life2", y)["devices_tco2e"] for y in scenario_years()}
    assert cut[2025] == pytest.approx(0, abs=1e-9)
    assert 0 < cut[2030]
    assert cut[2035] == pytest.approx(cut[2030], rel=0.03)
    late = {y: _commune(rows, "baseline", y)["devices_tco2e"]
            - _commune(rows, "late", y)["devices_tco2e"] for y in scenario_years()}
    assert late[2030] < late[2040] < late[2050]


def test_lifetime_and_refurbished_combine_without_double_counting(levers_run) -> None:
    """Both shrink the embodied footprint per unit of the same devices: the combined saving is
    less than the sum of the savings (it multiplies them: documented in docs/methodology.md)."""
    _, rows = levers_run
    for year in scenario_years()[1:]:
        base = _commune(rows, "baseline", year)["embodied_tco2e"]
        life = base - _commune(rows, "life2", year)["embodied_tco2e"]
        refurb = base - _commune(rows, "refurb50", year)["embodied_tco2e"]
        both = base - _commune(rows, "life_and_refurb", year)["embodied_tco2e"]
        assert max(life, refurb) < both < life + refurb


def test_sobriety_fibre_pue_and_hours_move_only_their_part(levers_run) -> None:
    _, rows = levers_run
    year = 2030
    base = _commune(rows, "baseline", year)
    tv = _commune(rows, "fewer_tv", year)
    assert tv["devices_tco2e"] < base["devices_tco2e"]
    assert tv["networks_tco2e"] == pytest.approx(base["networks_tco2e"], rel=1e-12)
    fibre = _commune(rows, "fibre", year)
    assert fibre["networks_tco2e"] < base["networks_tco2e"]
    assert fibre["devices_tco2e"] == pytest.approx(base["devices_tco2e"], rel=1e-12)
    assert fibre["embodied_tco2e"] == pytest.approx(base["embodied_tco2e"], rel=1e-12)
    pue = _commune(rows, "pue", year)
    assert pue["datacenters_tco2e"] < base["datacenters_tco2e"]
    assert pue["devices_tco2e"] == pytest.approx(base["devices_tco2e"], rel=1e-12)
    shifted = _commune(rows, "shifted", year)
    assert shifted["use_kwh"] == pytest.approx(base["use_kwh"], rel=1e-12)
    assert shifted["use_tco2e"] <= base["use_tco2e"]
    assert shifted["embodied_tco2e"] == pytest.approx(base["embodied_tco2e"], rel=1e-12)


def test_switching_street_lights_off_or_to_led_lowers_their_use(levers_run) -> None:
    out, rows = levers_run
    for year in scenario_years()[1:]:
        base = _commune(rows, "baseline", year)
        assert base["infrastructure_tco2e"] > 0
        off = _commune(rows, "switch_off", year)
        led = _commune(rows, "led", year)
        assert off["infrastructure_tco2e"] < base["infrastructure_tco2e"]
        assert led["infrastructure_tco2e"] < base["infrastructure_tco2e"]
        assert off["footprint_tco2e"] == pytest.approx(base["footprint_tco2e"], rel=1e-12)
    # five hours a night of the 4,000 lit hours a year, reached in 2030
    base, off = _commune(rows, "baseline", 2030), _commune(rows, "switch_off", 2030)
    with (out / "communes.csv").open(encoding="utf-8") as handle:
        commune = next(csv.DictReader(handle))
    assert float(commune["streetlights_count"]) > 0
    assert off["infrastructure_tco2e"] < base["infrastructure_tco2e"] * (1 - 0.4)


def test_the_scenarios_layer_opens_styled_in_qgis(qgis_python: str, shipped_run: Path) -> None:
    """One feature per commune and scenario, a column per year with French aliases, a graduated
    style per year whose classes are shared by the years."""
    from tests.test_qgis import run_probe

    seen = run_probe(qgis_python, shipped_run / "territory.gpkg", ("scenarios",))
    layer = seen["layers"]["scenarios"]
    with (shipped_run / "communes.csv").open(encoding="utf-8") as handle:
        communes = sum(1 for _ in csv.DictReader(handle))
    assert layer["valid"] and layer["crs_authid"] == "EPSG:2154"
    assert layer["feature_count"] == communes * len(shipped_names())
    opened = layer["on_open"]
    assert opened["aliases"]["footprint_tco2e_2050"] == "Empreinte totale 2050 (tCO2e/an)"
    assert opened["aliases"]["footprint_vs_baseline_pct_2030"] == "Écart au tendanciel 2030 (%)"
    assert opened["renderer"]["type"] == "graduatedSymbol"
    assert opened["not_drawn"] == 0
    styles = {s["name"]: s["loaded"] for s in layer["database_styles"]["related"]}
    for year in scenario_years():
        assert f"Empreinte totale {year}" in styles
        assert f"Écart au tendanciel {year}" in styles
    bounds = {year: [r["upper"] for r in styles[f"Empreinte totale {year}"]["renderer"]["ranges"]][:-1]
              for year in (2030, 2050)}
    assert bounds[2030] == bounds[2050]


def test_heat_recovery_is_reported_beside_the_footprint_never_subtracted(levers_run) -> None:
    _, rows = levers_run
    for year in scenario_years()[1:]:
        base, heat = _commune(rows, "baseline", year), _commune(rows, "heat", year)
        assert base["avoided_heating_tco2e"] == 0 and base["datacenters_heat_recovered_kwh"] == 0
        assert heat["footprint_tco2e"] == pytest.approx(base["footprint_tco2e"], rel=1e-12)
        assert heat["avoided_heating_tco2e"] > 0
        # half of the datacenters' electricity (reached in 2030), at most
        assert heat["datacenters_heat_recovered_kwh"] <= 0.5 * base["use_kwh"]
    assert _commune(rows, "heat", 2035)["datacenters_heat_recovered_kwh"] > \
        _commune(rows, "heat", 2030)["datacenters_heat_recovered_kwh"]  # the datacenters grow


def test_the_scenarios_layer_is_a_view_on_the_communes_outlines(gdal_validators,
                                                               shipped_run: Path) -> None:
    """The outlines are stored once (the communes layer); the layer is a GeoPackage spatial view
    over an attributes table, and the file still conforms."""
    import sqlite3
    from contextlib import closing

    from tests.test_conformance import _assert_conforms

    with closing(sqlite3.connect(shipped_run / "territory.gpkg")) as db:
        kinds = dict(db.execute("SELECT name, type FROM sqlite_master "
                                "WHERE name IN ('scenarios', 'scenarios_values')").fetchall())
        assert kinds == {"scenarios": "view", "scenarios_values": "table"}
        assert db.execute("SELECT data_type, srs_id FROM gpkg_contents "
                          "WHERE table_name = 'scenarios'").fetchone() == ("features", 2154)
        rows = db.execute("SELECT count(*), count(DISTINCT fid) FROM scenarios").fetchone()
    assert rows[0] == rows[1] > 0
    _assert_conforms(gdal_validators, shipped_run / "territory.gpkg")


def test_scenario_files_are_not_credited_as_map_sources(shipped_run: Path) -> None:
    """Scenario files and the trajectory table are assumptions, not data: the map's sources line
    names no TOML file nor device_trajectories.csv (manifest.json lists them as inputs)."""
    data = json.dumps(read_map_data((shipped_run / "map.html").read_text(encoding="utf-8")),
                      ensure_ascii=False)
    sources = re.search(r"Sources : [^<\"]*", data)
    assert sources, "no sources line in the map"
    assert ".toml" not in sources.group(0) and "device_trajectories" not in sources.group(0)
    names = {i["name"] for i in json.loads(
        (shipped_run / "manifest.json").read_text(encoding="utf-8"))["inputs"]}
    assert {"scenario:combined", "data:device_trajectories"} <= names


@pytest.mark.parametrize(("row", "message"), [
    ("iot_objet,trajectory.jobs_growth_per_year,stock,false,",
     "row 2, column device: unknown 'iot_objet' (did you mean 'iot_object'?)"),
    ("iot_object,trajectory.jobs_growth_per_yer,stock,false,", "row 2, column growth: unknown"),
    ("iot_object,trajectory.jobs_growth_per_year,stocks,false,", "row 2, column applies_to"),
    ("iot_object,trajectory.jobs_growth_per_year,stock,yes,", "row 2, column from_reference"),
])
def test_a_bad_device_trajectory_row_is_one_error_naming_row_and_column(
        tmp_path: Path, row: str, message: str) -> None:
    import duckdb

    from territory.errors import FactorTableError
    from territory.scenarios import DEVICE_TRAJECTORIES_FILE, load_device_trajectories

    (tmp_path / DEVICE_TRAJECTORIES_FILE).write_text(
        "device,growth,applies_to,from_reference,note\n" + row + "\n", encoding="utf-8")
    con = duckdb.connect()
    con.execute("CREATE TABLE raw_devices AS SELECT unnest(?::VARCHAR[]) AS device", [DEVICES])
    con.execute("CREATE TABLE raw_factors AS SELECT 'trajectory.jobs_growth_per_year' AS id")
    with pytest.raises(FactorTableError) as error:
        load_device_trajectories(con, tmp_path)
    assert message in str(error.value) and "\n" not in str(error.value)
