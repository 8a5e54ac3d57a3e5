"""`territory target`: laptops for collège pupils under three policies (issue 13 §3).

Two Loire-Atlantique runs per module: one with the three policies and no age file (pupils at the
national share, flagged as estimates), one through the command line with an age file for two
communes, French policy names and a foreign file in the output folder.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pyogrio
import pytest

from territory.cli import main
from territory.settings import RunSettings, data_dir
from territory.sources.factors import read_factor_table
from territory.targeting import POLICIES, policy_name, run_targeting
from tests.conftest import realdata_path, run_qgis_script

AGE_HEADER = ("CODGEO;P21_POP;P21_POP0014;P21_POP1529;P21_POP3044;P21_POP4559;P21_POP6074;"
              "P21_POP75P")
#: Nantes and La Baule-Escoublac, with their 0-14 band
AGE_ROWS = {"44109": 50000.0, "44055": 1500.0}
SUMMED = ("pupils", "pupils_without_computer", "devices", "embodied_tco2e", "avoided_purchases",
          "net_embodied_tco2e", "annualised_tco2e")
PROBE = Path(__file__).resolve().with_name("qgis_probe.py")
CHROMIUM = Path("/usr/bin/chromium")


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "targeting.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _by(rows: list[dict[str, str]], level: str) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["code_insee"], r["policy"]): r for r in rows if r["level"] == level}


@pytest.fixture(scope="module")
def out_44(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("target44") / "out"
    run_targeting(RunSettings(out_dir=out, departements=("44",), progress=False))
    return out


@pytest.fixture(scope="module")
def out_age(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("target-age")
    source = folder / "base-cc-evol-struct-pop-2021.csv"
    source.write_text(
        AGE_HEADER + "\n"
        "44109;320000;50000;90000;70000;50000;40000;20000\n"
        "44055;17000;1500;1500;2000;3000;4500;4500\n", encoding="utf-8")
    out = folder / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the planner's notes", encoding="utf-8")
    assert main(["target", "--departement", "loire atlantique", "--out", str(out), "--quiet",
                 "--force", "--policy", "défavorisés", "--policy", "reconditionnes",
                 "--source", f"age={source}"]) == 0
    return out


def test_equipping_only_the_disadvantaged_needs_fewer_devices_and_less_co2(out_44):
    rows = _rows(out_44)
    for level in ("commune", "departement"):
        by = _by(rows, level)
        codes = {code for code, _ in by}
        for code in codes:
            everyone, some = by[(code, "all")], by[(code, "disadvantaged")]
            if float(everyone["pupils"]) == 0:
                continue
            assert float(some["devices"]) < float(everyone["devices"]), code
            assert float(some["net_embodied_tco2e"]) < float(everyone["net_embodied_tco2e"])
            assert float(some["embodied_tco2e"]) < float(everyone["embodied_tco2e"])
            # both equip every pupil without a computer
            assert float(some["devices"]) == pytest.approx(
                float(everyone["pupils_without_computer"]), rel=1e-5, abs=2e-3)
    total = _by(rows, "departement")
    assert float(total[("44", "disadvantaged")]["devices"]) < 0.5 * float(
        total[("44", "all")]["devices"])


def test_refurbished_emits_less_than_new_for_the_same_pupils(out_44):
    by = _by(_rows(out_44), "departement")
    new, refurbished = by[("44", "disadvantaged")], by[("44", "refurbished")]
    assert refurbished["devices"] == new["devices"]
    share = float(read_factor_table(data_dir())["refurbished.laptop_embodied_share"]["value"])
    assert float(refurbished["embodied_tco2e"]) == pytest.approx(
        share * float(new["embodied_tco2e"]), rel=1e-4)
    assert float(refurbished["net_embodied_tco2e"]) < float(new["net_embodied_tco2e"])
    assert float(refurbished["tco2e_per_pupil_newly_equipped"]) < float(
        new["tco2e_per_pupil_newly_equipped"])


def test_communes_add_up_to_the_departement(out_44):
    rows = _rows(out_44)
    communes = [r for r in rows if r["level"] == "commune"]
    totals = _by(rows, "departement")
    assert len(communes) == 3 * len({r["code_insee"] for r in communes}) > 600
    assert {k for k in totals} == {("44", p) for p in POLICIES}
    for policy in POLICIES:
        total = totals[("44", policy)]
        assert total["nom"] == "Loire-Atlantique"
        for column in SUMMED:
            summed = sum(float(r[column]) for r in communes if r["policy"] == policy)
            assert summed == pytest.approx(float(total[column]), rel=1e-6, abs=0.5), column
        assert float(total["tco2e_per_pupil_newly_equipped"]) == pytest.approx(
            float(total["net_embodied_tco2e"]) / float(total["pupils_without_computer"]),
            rel=1e-4)


def test_without_age_file_pupils_are_the_national_share_and_flagged(out_44):
    factors = read_factor_table(data_dir())
    communes = pyogrio.read_dataframe(out_44 / "targeting.gpkg", layer="communes",
                                      read_geometry=False).set_index("code_insee")
    assert communes["pupils_estimated"].all()
    rows = [r for r in _rows(out_44) if r["level"] == "commune"]
    assert all(r["pupils_estimated"] == "true" for r in rows)
    nantes = next(r for r in rows if r["code_insee"] == "44109")
    population = _population("44109")
    assert float(nantes["pupils"]) == pytest.approx(
        population * float(factors["population.share_11_14"]["value"]), rel=1e-6)
    manifest = json.loads((out_44 / "targeting.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["age_file"] is None
    assert "estimate" in manifest["parameters"]["pupils"]


def _population(code: str) -> float:
    """The commune's legal population (COG 2026 table of data/)."""
    with (data_dir() / "communes_cog2026.csv").open(encoding="utf-8", newline="") as handle:
        return next(float(r["population"]) for r in csv.DictReader(handle)
                    if r["code_insee"] == code)


def test_equipment_rate_follows_income_decile_and_poverty(out_44):
    factors = read_factor_table(data_dir())

    def rate(decile: int) -> float:
        return float(factors[f"computer_by_income.decile_{decile}"]["value"])

    rows = [r for r in _rows(out_44) if r["level"] == "commune" and r["policy"] == "all"]
    checked = 0
    for r in rows:
        decile = int(r["income_decile"])
        if r["poverty_rate_pct"]:
            p = float(r["poverty_rate_pct"]) / 100
            expected = p * rate(1) + (1 - p) * rate(decile)
            checked += 1
        else:
            expected = rate(decile)
        assert float(r["equipment_rate"]) == pytest.approx(expected, abs=1e-3), r["code_insee"]
        assert float(r["pupils_without_computer"]) == pytest.approx(
            float(r["pupils"]) * (1 - float(r["equipment_rate"])), rel=1e-5, abs=2e-3)
    assert checked > 50
    # a poorer commune leaves more of its pupils without a computer
    by_code = {r["code_insee"]: r for r in rows}
    assert float(by_code["44109"]["poverty_rate_pct"]) > 15


def test_age_file_gives_the_pupils_of_the_communes_it_lists(out_age):
    share = float(read_factor_table(data_dir())["population.share_11_14_in_0_14"]["value"])
    rows = _rows(out_age)
    assert {r["policy"] for r in rows} == {"disadvantaged", "refurbished"}
    communes = _by(rows, "commune")
    for code, band in AGE_ROWS.items():
        row = communes[(code, "disadvantaged")]
        assert row["pupils_estimated"] == "false"
        assert float(row["pupils"]) == pytest.approx(band * share, abs=1e-3)
    others = [r for (code, _), r in communes.items() if code not in AGE_ROWS]
    assert others and all(r["pupils_estimated"] == "true" for r in others)
    manifest = json.loads((out_age / "targeting.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["age_file"].endswith("base-cc-evol-struct-pop-2021.csv")
    assert manifest["parameters"]["policies"] == ["disadvantaged", "refurbished"]
    record = next(r for r in manifest["inputs"] if r["name"] == "age")
    assert record["rows_kept"] == 2


def test_outputs_are_written_beside_other_files(out_age, out_44):
    assert (out_age / "notes.txt").read_text(encoding="utf-8") == "the planner's notes"
    names = {"targeting.csv", "targeting.gpkg", "targeting.html", "targeting.json"}
    assert {p.name for p in out_age.iterdir()} == names | {"notes.txt"}
    assert {p.name for p in out_44.iterdir()} == names
    manifest = json.loads((out_44 / "targeting.json").read_text(encoding="utf-8"))
    assert set(manifest["outputs"]) == names - {"targeting.json"}
    assert manifest["rows"]["targeting.csv"] == len(_rows(out_44))
    factors = manifest["factors"]
    assert {"laptop.embodied_kgco2e", "refurbished.laptop_embodied_share",
            "population.share_11_14", "computer_by_income.decile_10"} <= set(factors)
    assert all(f["source"] for f in factors.values())


def test_a_foreign_folder_is_refused_and_an_unknown_policy_is_a_usage_error(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("x", encoding="utf-8")
    assert main(["target", "--departement", "44", "--out", str(out), "--quiet",
                 "--policy", "everyone"]) == 2
    assert "unknown policy 'everyone'" in capsys.readouterr().err
    assert main(["target", "--out", str(out), "--quiet"]) == 2
    # a folder holding other files and no territory manifest: refused before any work
    assert main(["target", "--departement", "44", "--out", str(out), "--quiet"]) == 4
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert policy_name("Reconditionnés") == "refurbished"
    assert policy_name("tous") == "all"


def test_geopackage_layer_has_a_column_per_policy_and_french_aliases(out_44):
    gpkg = out_44 / "targeting.gpkg"
    info = pyogrio.read_info(gpkg, layer="communes")
    assert info["features"] == len({r["code_insee"] for r in _rows(out_44)
                                    if r["level"] == "commune"})
    assert info["crs"] == "EPSG:2154"
    for policy in POLICIES:
        for measure in ("devices", "net_embodied_tco2e", "avoided_purchases"):
            assert f"{measure}_{policy}" in info["fields"]
    with closing(sqlite3.connect(gpkg)) as db:
        styles = db.execute("SELECT styleName, styleQML, useAsDefault FROM layer_styles "
                            "ORDER BY id").fetchall()
    assert [s[2] for s in styles] == [1, 0, 0]
    assert 'name="Ordinateurs distribués – tous"' in styles[0][1]
    assert 'attr="devices_all"' in styles[0][1]


@pytest.mark.qgis
def test_geopackage_opens_styled_in_qgis(out_44, qgis_python):
    seen = run_qgis_script(qgis_python, PROBE, str(out_44 / "targeting.gpkg"), "communes",
                           "--field", "devices_all")
    layer = seen["layers"]["communes"]
    assert layer["valid"] and layer["crs_authid"] == "EPSG:2154"
    assert layer["on_open"]["renderer"]["type"] == "graduatedSymbol"
    assert layer["on_open"]["renderer"]["class_attribute"] == "devices_all"
    assert layer["on_open"]["not_drawn"] == 0
    assert layer["on_open"]["aliases"]["pupils"] == "Collégiens (11-14 ans)"
    assert layer["on_open"]["aliases"]["devices_refurbished"] == (
        "Ordinateurs distribués – reconditionné")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless (skipped without it unless the browser tests are required)."""
    required = (os.environ.get("CI", "").lower() in ("true", "1")
                or os.environ.get("TERRITORY_REQUIRE_BROWSER") == "1")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            pytest.fail("playwright is not installed")
        pytest.skip("playwright is not installed")
    if not CHROMIUM.exists():
        if required:
            pytest.fail(f"{CHROMIUM} is absent")
        pytest.skip(f"{CHROMIUM} is absent")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=["--no-sandbox", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.mark.browser
def test_map_opens_offline_and_the_policy_selector_recolours(out_44, browser):
    html = out_44 / "targeting.html"
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"http", html.read_text("utf-8"))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    refused: list[str] = []
    errors: list[str] = []
    page = context.new_page()

    def guard(route: Any) -> None:
        if route.request.url.startswith(("file:", "data:")):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(html.resolve().as_uri(), wait_until="load", timeout=60_000)
        page.wait_for_function("window.targetingMap !== undefined", timeout=30_000)
        count = page.evaluate("window.targetingMap.layer.getLayers().length")
        assert count == pyogrio.read_info(out_44 / "targeting.gpkg", layer="communes")["features"]
        colours = ("() => window.targetingMap.layer.getLayers()"
                   ".map(l => l.options.fillColor)")
        before = page.evaluate(colours)
        assert page.evaluate("window.targetingMap.state.policy") == "all"
        assert "Tous les collégiens" in page.inner_text(".targeting-panel")
        page.select_option("#targeting-policy", "disadvantaged")
        after = page.evaluate(colours)
        assert page.evaluate("window.targetingMap.state.policy") == "disadvantaged"
        # the classes are shared: fewer laptops, lighter communes (palette index goes down)
        palette = page.evaluate("JSON.parse(document.getElementById('targeting-data')"
                                ".textContent).measures[0].colours")
        assert sum(palette.index(c) for c in after) < sum(palette.index(c) for c in before)
        assert sum(b != a for b, a in zip(before, after, strict=True)) > count / 2
        # Nantes keeps the darkest class: it has the most pupils without a computer
        assert page.evaluate("window.targetingMap.colourOf('44109')") == palette[-1]
        assert "13" in page.inner_text("#targeting-total")
        page.select_option("#targeting-measure", "net_embodied_tco2e")
        assert "tCO₂e" in page.inner_text("#targeting-legend")
        assert refused == [] and errors == []
    finally:
        context.close()


@pytest.mark.realdata
def test_filosofi_file_gives_the_poverty_rates(tmp_path):
    source = realdata_path("insee", "cc_filosofi_2021_COM.csv")
    out = tmp_path / "out"
    assert main(["target", "--commune", "Nantes", "--commune", "44184", "--out", str(out),
                 "--quiet", "--policy", "all", "--source", f"income={source}"]) == 0
    rows = _by(_rows(out), "commune")
    assert set(rows) == {("44109", "all"), ("44184", "all")}
    nantes = rows[("44109", "all")]
    assert float(nantes["poverty_rate_pct"]) == 17.0  # TP6021 of 44109 in the file
    manifest = json.loads((out / "targeting.json").read_text(encoding="utf-8"))
    record = next(r for r in manifest["inputs"] if r["name"] == "income")
    assert record["rows_kept"] > 30_000
    # the extent is two communes of the département: its total is their sum
    total = _by(_rows(out), "departement")[("44", "all")]
    assert float(total["devices"]) == pytest.approx(
        sum(float(r["devices"]) for r in rows.values()), rel=1e-5)
