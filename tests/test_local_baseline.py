"""The local baseline: households, income, age and jobs move devices between communes; the
national check can fail; sensitivity.csv; ranks within the model's uncertainty."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from territory.cli import main
from territory.sources.census import AGE, JOBS, figure_column
from tests.conftest import realdata_path

AGE_HEADER = ("CODGEO;P21_POP;P21_POP0014;P21_POP1529;P21_POP3044;P21_POP4559;P21_POP6074;"
              "P21_POP75P;P15_POP;P15_POP0014")


def _communes(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "communes.csv", dtype={"code_insee": str})


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _sensitivity(out: Path) -> list[dict[str, str]]:
    with (out / "sensitivity.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def communes_44(run_44: Path) -> pd.DataFrame:
    return _communes(run_44)


def test_per_inhabitant_footprint_falls_as_persons_per_household_rise(communes_44):
    inhabited = communes_44[communes_44["population"] > 0].sort_values("persons_per_household")
    # the households effect falls as households get bigger (the income multiplier of the
    # household devices it scales makes it not strictly monotonic)
    effects = inhabited["households_effect_pct"]
    assert inhabited["persons_per_household"].corr(effects, method="spearman") < -0.95
    assert effects.iloc[0] > 0 > effects.iloc[-1]
    # and the footprint per inhabitant follows it across the département
    rho = inhabited["persons_per_household"].corr(
        inhabited["footprint_kgco2e_per_inhabitant"], method="spearman")
    assert rho < -0.2, rho


def test_computers_per_household_rise_with_median_income(communes_44):
    by_decile = communes_44.groupby("income_decile")["income_effect_pct"].mean()
    assert len(by_decile) >= 3
    assert by_decile.is_monotonic_increasing
    assert by_decile.iloc[0] < 0 < by_decile.iloc[-1]
    # the communes of one decile share the same income multiplier: more income, more devices
    rich = communes_44.nlargest(10, "median_income_eur")["income_effect_pct"].mean()
    poor = communes_44.nsmallest(10, "median_income_eur")["income_effect_pct"].mean()
    assert rich > poor


def test_professional_devices_concentrate_where_jobs_are(communes_44):
    inhabited = communes_44[communes_44["population"] > 0]
    jobs_per_inhabitant = inhabited["jobs"] / inhabited["population"]
    national = 28_200_000 / 68_350_067  # jobs.national_jobs over the COG population
    above = inhabited[jobs_per_inhabitant > national * 1.05]
    below = inhabited[jobs_per_inhabitant < national * 0.95]
    assert (above["jobs_effect_pct"] > 0).all() and (below["jobs_effect_pct"] < 0).all()
    herblain = communes_44.set_index("code_insee").loc["44162"]  # business parks of Nantes' west
    assert herblain["jobs"] > herblain["population"] * national
    assert herblain["jobs_effect_pct"] > 5


def test_manifest_says_where_each_driver_comes_from(run_44):
    drivers = _manifest(run_44)["local_drivers"]
    assert drivers["age"]["model"].startswith("no age file")
    assert drivers["age"]["communes_with_age_structure"] == 0
    assert drivers["households"]["communes_by_source"]["recensement 2021"] > 34_800
    income = drivers["income"]["communes_by_source"]
    assert income["Filosofi 2021 (commune)"] > 31_000
    assert income["secret : moyenne des communes de l'EPCI"] > 3_000


def test_national_population_within_half_a_percent_of_insee(run_44):
    check = {c["check"]: c for c in _manifest(run_44)["national_check"]["checks"]}
    assert abs(check["population"]["relative_gap"]) <= 0.005
    assert check["population"]["passed"]


def test_datacenters_from_reference_are_kept_out_of_the_verdict(run_44):
    national = _manifest(run_44)["national_check"]
    components = {c["component"]: c for c in national["components"]}
    assert components["datacenters"]["from_reference"]
    assert not components["devices"]["from_reference"]
    bottom_up = next(c for c in national["checks"] if c["check"] == "bottom_up")
    assert bottom_up["model"] == pytest.approx(
        components["devices"]["model_tco2e"] + components["networks"]["model_tco2e"], abs=2)
    # a check whose figure is the survey's own is labelled and not judged
    for check in national["checks"]:
        if check["from_reference"]:
            assert check["check"] not in national["failed"]


def test_national_check_can_fail_and_follows_the_factors(run_44, tmp_path):
    national = _manifest(run_44)["national_check"]
    smartphones = next(c for c in national["checks"] if c["check"] == "smartphones_stock")
    # 62 M smartphones in service vs 18 M sold a year x 2.5 years: the model's stock is too big
    assert not smartphones["passed"] and "smartphones_stock" in national["failed"]
    assert national["verdict"] == "fail"
    out = tmp_path / "out"
    assert main(["run", "--departement", "44", "--out", str(out), "--quiet",
                 "--factor", "smartphone.lifetime_years=3.5", "--national-reference", "2020"]) == 0
    other = _manifest(out)["national_check"]
    longer = next(c for c in other["checks"] if c["check"] == "smartphones_stock")
    assert longer["reference"] == pytest.approx(smartphones["reference"] * 3.5 / 2.5, rel=1e-6)
    assert longer["passed"]
    # the bottom-up components against the 2020 study (17.2 Mt) instead of the 2022 update
    assert national["reference_tco2e"] == 29.5e6 and other["reference_tco2e"] == 17.2e6
    assert other["reference"].startswith("ADEME/Arcep 2022 (2020 data)")
    assert _manifest(out)["parameters"]["national_reference"] == "2020"


def test_sensitivity_lists_every_factor_at_its_bounds(run_44):
    rows = _sensitivity(run_44)
    national = _manifest(run_44)["national_check"]
    assert {int(r["total_tco2e"]) for r in rows} == {national["footprint_tco2e"]}
    by_id = {r["factor_id"]: r for r in rows}
    # every factor of data/ is there, largest swing first
    assert "electricity.kgco2e_per_kwh" in by_id and "check.population_france" in by_id
    swings = [int(r["swing_tco2e"]) for r in rows]
    assert swings == sorted(swings, reverse=True) and swings[0] > 0
    # a TV's embodied emissions move the total; an income decile's rate only moves devices
    tv = by_id["television.embodied_kgco2e"]
    assert int(tv["total_at_low_tco2e"]) < int(tv["total_tco2e"]) <= int(tv["total_at_high_tco2e"])
    decile = by_id["computer_by_income.decile_1"]
    assert decile["role"] == "moves devices between communes" and int(decile["swing_tco2e"]) == 0


def test_sensitivity_at_a_bound_matches_a_run_with_that_factor(run_44, tmp_path):
    rows = {r["factor_id"]: r for r in _sensitivity(run_44)}
    out = tmp_path / "out"
    assert main(["run", "--departement", "44", "--out", str(out), "--quiet",
                 "--factor", "television.lifetime_years=10"]) == 0
    rerun = _manifest(out)["national_check"]["footprint_tco2e"]
    assert int(rows["television.lifetime_years"]["total_at_high_tco2e"]) == pytest.approx(
        rerun, abs=2)


def test_ranks_are_given_only_outside_the_uncertainty(communes_44):
    inhabited = communes_44[communes_44["population"] > 0]
    within = inhabited["stratum_position"] == "dans la moyenne de sa strate"
    assert within.any() and (~within).any()
    assert inhabited.loc[within, "stratum_rank"].isna().all()
    assert inhabited.loc[~within, "stratum_rank"].notna().all()
    above = inhabited["stratum_position"] == "au-dessus de la médiane de sa strate"
    assert (inhabited.loc[above, "footprint_kgco2e_per_inhabitant"]
            > inhabited.loc[above, "stratum_median_kgco2e_per_inhabitant"]).all()


def test_insee_column_names_are_recognised():
    assert figure_column(JOBS.figures[0], ["CODGEO", "P16_EMPLT", "P22_EMPLT", "P22_EMPLT_SAL"]) \
        == ("P22_EMPLT", "emplois au lieu de travail", 2022)
    header = AGE_HEADER.split(";")
    assert [figure_column(f, header)[0] for f in AGE.figures] == [  # type: ignore[index]
        "P21_POP0014", "P21_POP1529", "P21_POP3044", "P21_POP4559", "P21_POP6074", "P21_POP75P"]


def test_age_file_moves_smartphones_and_computers_with_age(tmp_path, communes_44):
    # two communes of the same size with opposite age structures, INSEE's exact header
    source = tmp_path / "base-cc-evol-struct-pop-2021.csv"
    source.write_text(
        AGE_HEADER + "\n"
        "44109;320000;50000;90000;70000;50000;40000;20000;300000;50000\n"  # young: Nantes
        "44055;17000;1500;1500;2000;3000;4500;4500;16000;1600\n",  # older: La Baule
        encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", "--departement", "44", "--out", str(out), "--quiet",
                 "--source", f"age={source}"]) == 0
    communes = _communes(out).set_index("code_insee")
    assert communes.loc["44109", "age_effect_pct"] > 0 > communes.loc["44055", "age_effect_pct"]
    assert communes.drop(index=["44109", "44055"])["age_effect_pct"].isna().all()
    record = next(r for r in _manifest(out)["inputs"] if r["name"] == "age")
    assert record["rows_read"] == 2 and record["rows_kept"] == 2
    assert any("P21_POP75P" in note for note in record["notes"])
    assert _manifest(out)["parameters"]["age_file"] == str(source)
    assert _manifest(out)["local_drivers"]["age"]["communes_with_age_structure"] == 2
    before = communes_44.set_index("code_insee")
    # the other communes keep their footprint (the national mean moves them by a hair only)
    assert communes.loc["44020", "footprint_tco2e"] == pytest.approx(
        before.loc["44020", "footprint_tco2e"], rel=1e-3)


@pytest.mark.realdata
def test_jobs_file_of_the_comparateur_replaces_the_estimate(tmp_path, communes_44):
    source = realdata_path("insee", "base_cc_comparateur_dep44.csv")
    out = tmp_path / "out"
    assert main(["run", "--departement", "44", "--out", str(out), "--quiet",
                 "--source", f"jobs={source}"]) == 0
    communes = _communes(out).set_index("code_insee")
    assert communes.loc["44109", "jobs"] == pytest.approx(213_420.04, abs=0.01)
    assert (communes["jobs_source"] == "fichier INSEE fourni").all()
    record = next(r for r in _manifest(out)["inputs"] if r["name"] == "jobs")
    assert record["rows_read"] == 207 and record["rows_kept"] == 207
    assert "P22_EMPLT" in record["vintage"] and "2022" in record["vintage"]
    # Nantes counts more jobs than the estimate from 2014 establishments: more devices there
    before = communes_44.set_index("code_insee")
    assert communes.loc["44109", "jobs_effect_pct"] > before.loc["44109", "jobs_effect_pct"]


@pytest.mark.parametrize(("row", "message"), [
    ("phone,income,internet_by_income,x", r"row 2, column device: 'phone' is not one of"),
    ("laptop,weather,internet_by_income,x", r"row 2, column driver: 'weather' is not one of"),
    ("laptop,income,computer_by_wealth,x",
     r"row 2, column rates: no factor computer_by_wealth\.decile_1"),
])
def test_a_bad_device_driver_row_stops_the_run_naming_row_and_column(tmp_path, row, message):
    from territory.database import connect
    from territory.errors import FactorTableError
    from territory.sources.drivers import (
        DEVICE_DRIVER_COLUMNS,
        DEVICE_DRIVERS_FILE,
        load_device_drivers,
    )

    con = connect()
    con.execute("CREATE TABLE raw_devices AS SELECT 'laptop' AS device")
    con.execute("CREATE TABLE raw_factors AS SELECT 'internet_by_income.decile_1' AS id")
    (tmp_path / DEVICE_DRIVERS_FILE).write_text(
        ",".join(DEVICE_DRIVER_COLUMNS) + "\n" + row + "\n", encoding="utf-8")
    with pytest.raises(FactorTableError, match=message):
        load_device_drivers(con, tmp_path)
    (tmp_path / DEVICE_DRIVERS_FILE).write_text("device,driver\nlaptop,income\n", encoding="utf-8")
    with pytest.raises(FactorTableError, match="row 1: .*header"):
        load_device_drivers(con, tmp_path)
