"""The per-commune tables of local drivers (households, income, jobs) derived from INSEE files by
scripts/derive_local_drivers.py: their layout, keys and reference values, and (with the real
files) that the script reproduces them."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from territory.settings import data_dir
from territory.sources.cog import COMMUNE_COLUMNS, COMMUNES_FILE
from territory.sources.drivers import (
    APPROXIMATIONS,
    HOUSEHOLDS_COLUMNS,
    HOUSEHOLDS_FILE,
    INCOME_COLUMNS,
    INCOME_FILE,
    JOBS_COLUMNS,
    JOBS_FILE,
    SIZE_CLASS_COLUMNS,
    SIZE_CLASSES_FILE,
    TABLES,
    provenance_file,
    read_table,
)
from tests.conftest import realdata_path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "derive_local_drivers.py"
COLUMNS = {HOUSEHOLDS_FILE: HOUSEHOLDS_COLUMNS, INCOME_FILE: INCOME_COLUMNS,
           JOBS_FILE: JOBS_COLUMNS}
CODE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
#: Nantes' establishments by size class in the 2014 source row (E14TS0ND … E14TS500)
NANTES_ESTABLISHMENTS = {"E14TS0ND": 15381, "E14TS1": 4808, "E14TS6": 963, "E14TS10": 683,
                         "E14TS20": 461, "E14TS50": 160, "E14TS100": 77, "E14TS200": 38,
                         "E14TS500": 14}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _script():
    spec = importlib.util.spec_from_file_location("derive_local_drivers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations there
    spec.loader.exec_module(module)
    return module


def _table(name: str) -> dict[str, dict[str, str]]:
    rows = read_table(data_dir() / name, COLUMNS[name])
    by_code = {r["code_insee"]: r for r in rows}
    assert len(by_code) == len(rows), f"{name}: a code is repeated"
    return by_code


@pytest.fixture(scope="module")
def current_codes() -> set[str]:
    return {r["code_insee"] for r in read_table(data_dir() / COMMUNES_FILE, COMMUNE_COLUMNS)}


@pytest.mark.parametrize("name", list(COLUMNS))
def test_tables_are_keyed_by_current_communes(name, current_codes):
    table = _table(name)  # declared columns, no repeated code
    assert all(CODE.match(code) for code in table), "codes are 5-character text"
    assert "01001" in table  # leading zeros kept
    assert set(table) <= current_codes
    assert len(table) > 34_000  # of 34,875 current communes
    provenance = json.loads((data_dir() / provenance_file(name)).read_text("utf-8"))
    assert provenance["derived_files_sha256"] == {name: _sha256(data_dir() / name)}
    assert provenance["counts"]["communes_in_table"] == len(table)
    assert provenance["url"].startswith("https://raw.githubusercontent.com/")


def test_households_census_2021():
    table = _table(HOUSEHOLDS_FILE)
    assert table["44109"] == {"code_insee": "44109", "population_2021": "323204",
                              "households_2021": "170340"}  # Nantes
    households = sum(int(r["households_2021"]) for r in table.values())
    assert 28_000_000 < households < 31_000_000
    # Paris, Lyon, Marseille: only their arrondissements are in the source, summed
    assert int(table["75056"]["households_2021"]) > 1_000_000
    assert "69123" in table and "13055" in table
    # Mayotte: no 2021 census, left out and recorded
    assert not any(code.startswith("976") for code in table)
    provenance = json.loads((data_dir() / provenance_file(HOUSEHOLDS_FILE)).read_text("utf-8"))
    assert len(provenance["counts"]["codes_without_census_figures"]) == 17
    assert provenance["counts"]["households_2021"] == households


def test_income_filosofi_2021():
    table = _table(INCOME_FILE)
    assert table["44109"] == {"code_insee": "44109", "fiscal_households": "141228",
                              "median_income_eur": "24170", "poverty_rate_pct": "17.0",
                              "approximation": ""}  # Nantes
    assert {r["approximation"] for r in table.values()} <= {"", *APPROXIMATIONS}
    medians = [Decimal(r["median_income_eur"]) for r in table.values() if r["median_income_eur"]]
    assert 30_000 < len(medians) < len(table)  # secret communes have empty cells
    assert all(10_000 < m < 60_000 for m in medians)
    rates = [Decimal(r["poverty_rate_pct"]) for r in table.values() if r["poverty_rate_pct"]]
    assert all(0 <= r <= 100 for r in rates)
    # 01187 merges two former communes with figures: a weighted mean, flagged
    assert table["01187"]["approximation"] == "merged"
    assert table["01187"]["fiscal_households"] == str(322 + 78)
    assert table["01187"]["median_income_eur"] == str(round((322 * 23000 + 78 * 21390) / 400))


def test_jobs_from_establishments_2014():
    table = _table(JOBS_FILE)
    classes = read_table(data_dir() / SIZE_CLASSES_FILE, SIZE_CLASS_COLUMNS)
    assert [c["column"] for c in classes] == list(NANTES_ESTABLISHMENTS)
    for c in classes:
        assert Decimal(c["low"]) <= Decimal(c["assumed_jobs"]) <= Decimal(c["high"])
        assert c["source"] and c["year"] == "2014"
    nantes = table["44109"]
    assert nantes["establishments"] == str(sum(NANTES_ESTABLISHMENTS.values()))  # 22,585
    expected = sum(NANTES_ESTABLISHMENTS[c["column"]] * Decimal(c["assumed_jobs"])
                   for c in classes)
    assert Decimal(nantes["jobs_estimated"]) == expected.to_integral_value()
    assert "2A004" in table  # Corsica kept as published
    jobs = sum(int(r["jobs_estimated"]) for r in table.values())
    print(f"jobs_estimated, national sum: {jobs:,}")
    assert 10_000_000 < jobs < 30_000_000
    assert sum(int(r["establishments"]) for r in table.values()) == 4_528_492


@pytest.mark.realdata
def test_the_script_reproduces_the_committed_tables(tmp_path):
    source = realdata_path("insee")
    assert _script().main(["all", "--from", str(source), "--out", str(tmp_path)]) == 0
    for name in TABLES.values():
        assert (tmp_path / name).read_bytes() == (data_dir() / name).read_bytes(), name
        committed = json.loads((data_dir() / provenance_file(name)).read_text("utf-8"))
        assert committed["source_sha256"] == _sha256(source / committed["source_file"])
        fresh = json.loads((tmp_path / provenance_file(name)).read_text("utf-8"))
        assert fresh["counts"] == committed["counts"]


def test_the_script_refuses_a_file_that_is_not_the_pinned_one(tmp_path):
    (tmp_path / "cc_filosofi_2021_COM.csv").write_text("CODGEO;MED21\n44109;24170\n", "utf-8")
    assert _script().main(["income", "--from", str(tmp_path), "--out", str(tmp_path / "out")]) == 3
    assert not (tmp_path / "out").exists()
