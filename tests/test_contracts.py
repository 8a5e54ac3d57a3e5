"""Mart contracts (pipelines/marts/contracts.toml) checked after the models ran."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from territory.build import LAYERS, Steps, _compute
from territory.checks import CONTRACT_COLUMNS, check_contract, check_contracts, load_contracts
from territory.database import cursor
from territory.errors import ConfigError, PipelineError
from territory.pipeline import discover_models
from territory.settings import RunSettings, pipelines_dir

CONTRACTS = pipelines_dir() / "marts" / "contracts.toml"
MARTS = [m.name for m in discover_models(pipelines_dir()) if m.layer == "marts"]


@pytest.fixture(scope="module")
def computed(tmp_path_factory: pytest.TempPathFactory):
    """The models of a Loire-Atlantique run, in a DuckDB connection."""
    result = _compute(RunSettings(departements=("44",), progress=False), Steps(progress=False),
                      tmp_path_factory.mktemp("contracts"))
    yield result.con
    result.con.close()


def test_every_mart_has_a_contract_with_the_output_columns_not_null():
    contracts = load_contracts(CONTRACTS)
    assert sorted(contracts) == sorted(MARTS)
    for layer in LAYERS:
        declared = {c.name: c for c in contracts[layer].columns}
        assert all(declared[name].not_null for name in CONTRACT_COLUMNS), layer
        assert contracts[layer].unique_key == ("code_insee",)


def test_the_real_marts_pass(computed):
    check_contracts(computed, load_contracts(CONTRACTS), MARTS)
    (rows,) = computed.execute("SELECT count(*) FROM communes").fetchone()
    assert rows == 207  # Loire-Atlantique's communes: the contract was checked on real rows


@pytest.mark.parametrize(("alteration", "message"), [
    ("UPDATE {t} SET population = NULL WHERE code_insee = '44109'",
     "mart {t}, column population: 1 null values, declared NOT NULL"),
    ("INSERT INTO {t} SELECT * FROM {t} WHERE code_insee = '44109'",
     "mart {t}, column code_insee: unique key 44109 is on 2 rows"),
    ("ALTER TABLE {t} ALTER population TYPE DOUBLE",
     "mart {t}, column population: type DOUBLE, declared BIGINT"),
    ("ALTER TABLE {t} DROP COLUMN nom", "mart {t}, column nom: declared in .*contracts.toml but not"),
    ("ALTER TABLE {t} ADD COLUMN surprise INTEGER", "mart {t}, column surprise: not declared"),
])
def test_a_broken_contract_is_reported(computed, alteration, message):
    table = "communes"
    copy = cursor(computed)
    copy.execute(f"CREATE TEMP TABLE altered AS SELECT * FROM {table}")
    contract = load_contracts(CONTRACTS)[table]
    copy.execute(alteration.format(t="altered"))
    renamed = type(contract)("altered", contract.columns, contract.unique_key, contract.path)
    try:
        with pytest.raises(PipelineError, match=message.format(t="altered")):
            check_contract(copy, renamed)
    finally:
        copy.execute("DROP TABLE altered")


def test_a_mart_without_contract_is_reported(tmp_path):
    path = tmp_path / "contracts.toml"
    path.write_text('[communes]\nunique_key = ["code_insee"]\n[communes.columns]\n'
                    'code_insee = "VARCHAR NOT NULL"\n', encoding="utf-8")
    con = duckdb.connect()
    con.execute("CREATE TABLE communes AS SELECT '44109' AS code_insee")
    con.execute("CREATE TABLE epci AS SELECT '244400404' AS code_insee")
    with pytest.raises(PipelineError, match="mart epci has no contract"):
        check_contracts(con, load_contracts(path), ["communes", "epci"])
    with pytest.raises(PipelineError, match=r"\[communes\] is the contract of no mart"):
        check_contracts(con, load_contracts(path), [])


@pytest.mark.parametrize(("text", "message"), [
    ('[communes]\nunique_key = ["code_insee"]\nkey = 1\n[communes.columns]\ncode_insee = "VARCHAR"\n',
     r"\[communes\]: unknown keys key"),
    ('[communes]\nunique_key = ["code"]\n[communes.columns]\ncode_insee = "VARCHAR"\n',
     "unique_key must list declared columns"),
    ('[communes]\nunique_key = ["code_insee"]\n[communes.columns]\ncode_insee = "varchar null"\n',
     "column code_insee: expected a DuckDB type"),
])
def test_contract_file_errors(tmp_path: Path, text, message):
    path = tmp_path / "contracts.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_contracts(path)
