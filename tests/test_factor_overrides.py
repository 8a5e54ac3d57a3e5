"""Per-run factor overrides ([factors], --factor, datacenter_scope) and TOML validation."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from territory.cli import _factor_options
from territory.config import read_pipeline_file
from territory.errors import ConfigError
from territory.freshness import run_key
from territory.mapping import load_map_definition
from territory.run import run_pipeline
from territory.settings import RunSettings, data_dir, maps_dir, pipelines_dir
from territory.sources.factors import read_factor_table, resolve_overrides

LIFETIME = "smartphone.lifetime_years"  # 2.5 years in data/, low 2, high 4


@pytest.fixture(scope="module")
def table() -> dict:
    return read_factor_table(data_dir())


def test_number_keeps_the_table_bounds_and_records_what_it_replaced(table):
    resolved = resolve_overrides(table, [(LIFETIME, 3.5, None, None)], "x.toml: [factors]")
    assert resolved[LIFETIME] == {"value": 3.5, "low": 2.0, "high": 4.0,
                                  "was": {"value": 2.5, "low": 2.0, "high": 4.0}}


def test_unknown_id_names_the_id_the_file_and_close_ids(table):
    with pytest.raises(ConfigError, match=r"x\.toml: \[factors\]: unknown factor id "
                       r"'smartphone\.lifetime_year'.*did you mean smartphone\.lifetime_years"):
        resolve_overrides(table, [("smartphone.lifetime_year", 3.5, None, None)],
                          "x.toml: [factors]")


@pytest.mark.parametrize(("override", "message"), [
    ((LIFETIME, 5.0, None, None), r"5 is outside \[2, 4\] \(bounds not given are the table's"),
    ((LIFETIME, 3.0, 3.5, 4.0), r"3 is outside \[3.5, 4\]"),
    (("smartphone.embodied_kgco2e", -1.0, -2.0, 0.0), "cannot be negative"),
    ((LIFETIME, 0.0, 0.0, 1.0), "must be above 0 years"),
    ((LIFETIME, float("nan"), None, None), "finite number"),
    ((LIFETIME, True, None, None), "finite number"),
    ((LIFETIME, "smartphone.embodied_kgco2e", None, None), "the units differ"),
])
def test_values_out_of_range_are_refused(table, override, message):
    with pytest.raises(ConfigError, match=message):
        resolve_overrides(table, [override], "--factor")


def test_an_id_takes_another_factors_figures(table):
    resolved = resolve_overrides(
        table, [("datacenters.national_footprint_tco2e",
                 "datacenters.national_footprint_with_abroad_tco2e", None, None)], "--factor")
    entry = resolved["datacenters.national_footprint_tco2e"]
    other = table["datacenters.national_footprint_with_abroad_tco2e"]
    assert entry["value"] == other["value"] and entry["high"] == other["high"]
    assert entry["from"] == "datacenters.national_footprint_with_abroad_tco2e"


def test_datacenter_scope_is_a_factor_selection():
    assert RunSettings().all_factor_overrides == ()
    assert RunSettings(datacenter_scope="with_abroad").all_factor_overrides == (
        ("datacenters.national_footprint_tco2e",
         "datacenters.national_footprint_with_abroad_tco2e", None, None),)
    with pytest.raises(ConfigError, match="keep one"):
        RunSettings(datacenter_scope="with_abroad",
                    factor_overrides=(("datacenters.national_footprint_tco2e", 1e6, None, None),))


def test_different_overrides_give_different_run_keys(tmp_path):
    base = RunSettings(out_dir=tmp_path)
    keys = {run_key(base),
            run_key(RunSettings(out_dir=tmp_path, factor_overrides=((LIFETIME, 3.5, None, None),))),
            run_key(RunSettings(out_dir=tmp_path, factor_overrides=((LIFETIME, 3.0, None, None),))),
            run_key(RunSettings(out_dir=tmp_path, factor_overrides=((LIFETIME, 3.0, 2.0, 3.5),)))}
    assert None not in keys and len(keys) == 4
    same = RunSettings(out_dir=tmp_path, factor_overrides=((LIFETIME, 3.5, None, None),))
    assert run_key(same) == run_key(
        RunSettings(out_dir=tmp_path, factor_overrides=((LIFETIME, 3.5, None, None),)))


def test_pipeline_file_factors_quoted_unquoted_and_tables(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[run]\ndepartements = ["44"]\n\n[factors]\n'
                    f'"{LIFETIME}" = 3.5\n'
                    "television.lifetime_years = { value = 9, low = 7, high = 12 }\n"
                    'datacenters.national_footprint_tco2e = '
                    '"datacenters.national_footprint_with_abroad_tco2e"\n', encoding="utf-8")
    assert read_pipeline_file(path)["factor_overrides"] == (
        (LIFETIME, 3.5, None, None),
        ("television.lifetime_years", 9, 7, 12),
        ("datacenters.national_footprint_tco2e",
         "datacenters.national_footprint_with_abroad_tco2e", None, None),
    )


@pytest.mark.parametrize(("text", "message"), [
    ('[factors]\n"smartphone.lifetim_years" = 3\n',
     r"run\.toml: \[factors\]: unknown factor id 'smartphone\.lifetim_years'"),
    (f'[factors]\n"{LIFETIME}" = {{ value = 3, lo = 2 }}\n', r"\[factors\] .*unknown keys lo"),
    ('[run]\ndepartement = ["44"]\n', r"run\.toml: \[run\]: unknown keys departement"),
    ('[runs]\ndepartements = ["44"]\n', r"run\.toml: unknown keys runs"),
])
def test_pipeline_file_errors_name_the_key_and_the_file(tmp_path, text, message):
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        read_pipeline_file(path)


def test_factor_option():
    assert _factor_options([f"{LIFETIME}=3.5", "television.lifetime_years=9:7:12"]) == [
        (LIFETIME, 3.5, None, None), ("television.lifetime_years", 9.0, 7.0, 12.0)]
    with pytest.raises(ConfigError, match="--factor expects"):
        _factor_options([f"{LIFETIME}:3.5"])
    with pytest.raises(ConfigError, match="--factor: unknown factor id 'nope'"):
        _factor_options(["nope=1"])


@pytest.mark.parametrize(("anchor", "added", "message"), [
    ("min_class_width_share = 0.005\n", "classes = 7\n",
     r"footprint\.toml: unknown keys classes"),
    ("[[points]]\n", 'color = "#000"\n', r"footprint\.toml: \[\[points\]\] unknown keys color"),
    ("[[levels]]\n", "intensif = true\n",
     r"footprint\.toml: \[\[levels\]\] unknown keys intensif"),
    ("[popup]\n", "tooltips = []\n", r"footprint\.toml: \[popup\] unknown keys tooltips"),
])
def test_map_definition_unknown_keys(tmp_path, anchor, added, message):
    text = (maps_dir() / "footprint.toml").read_text(encoding="utf-8")
    assert anchor in text
    path = tmp_path / "footprint.toml"
    path.write_text(text.replace(anchor, anchor + added, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_map_definition(path)
    assert load_map_definition(maps_dir() / "footprint.toml")["title"]


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def _embodied(folder: Path) -> float:
    import csv

    with (folder / "communes.csv").open(encoding="utf-8") as handle:
        return sum(float(row["embodied_tco2e"]) for row in csv.DictReader(handle))


@pytest.fixture(scope="module")
def longer_lifetime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("override") / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("44",), progress=False,
                             density_raster=False,
                             factor_overrides=((LIFETIME, 3.5, None, None),)))
    return out


def test_longer_smartphone_lifetime_lowers_the_footprint(run_44, longer_lifetime):
    base, longer = _manifest(run_44), _manifest(longer_lifetime)
    assert base["factor_overrides"] == {}
    assert longer["factor_overrides"] == {LIFETIME: {
        "value": 3.5, "low": 2.0, "high": 4.0, "was": {"value": 2.5, "low": 2.0, "high": 4.0}}}
    assert longer["factor_table_version"] == base["factor_table_version"]
    national, national_base = longer["national_check"], base["national_check"]
    assert national["footprint_tco2e"] < national_base["footprint_tco2e"]
    assert national["embodied_share"] < national_base["embodied_share"]
    # 2.5 -> 3.5 years: smartphones' embodied emissions per year drop by 2/7
    assert _embodied(longer_lifetime) < _embodied(run_44) - 1000
    with sqlite3.connect(longer_lifetime / "territory.gpkg") as db:
        stored = dict(db.execute("SELECT key, value FROM territory_metadata").fetchall())
    assert json.loads(stored["factor_overrides"])[LIFETIME]["value"] == 3.5
    with sqlite3.connect(run_44 / "territory.gpkg") as db:
        keys = {k for (k,) in db.execute("SELECT key FROM territory_metadata")}
    assert "factor_overrides" not in keys


def test_with_abroad_scope_goes_through_the_override(tmp_path, run_44):
    out = tmp_path / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("44",), progress=False,
                             density_raster=False, datacenter_scope="with_abroad",
                             national_reference="2020"))
    manifest = _manifest(out)
    entry = manifest["factor_overrides"]["datacenters.national_footprint_tco2e"]
    assert entry["from"] == "datacenters.national_footprint_with_abroad_tco2e"
    assert entry["value"] > entry["was"]["value"]
    assert manifest["parameters"]["datacenter_scope"] == "with_abroad"
    national, base = manifest["national_check"], _manifest(run_44)["national_check"]
    assert national["shares"]["datacenters"] > base["shares"]["datacenters"] + 0.1
    # against the 2020 study, with_abroad compares with its restatement (25 Mt)
    assert national["reference"].startswith("ADEME update Jan 2025 (2020 restated)")
    assert national["reference_tco2e"] == 25e6



def test_factor_macros_read_staging_and_fail_loudly_on_an_unknown_id(tmp_path):
    from territory.database import connect
    from territory.errors import PipelineError
    from territory.pipeline import discover_models, run_models
    from territory.sources import load_factor_tables

    for layer in ("staging", "intermediate", "marts"):
        (tmp_path / layer).mkdir()
    (tmp_path / "staging" / "stg_factors.sql").write_text(
        (pipelines_dir() / "staging" / "stg_factors.sql").read_text(encoding="utf-8"),
        encoding="utf-8")
    (tmp_path / "intermediate" / "int_good.sql").write_text(
        f"select factor('{LIFETIME}') as v, factor_low('{LIFETIME}') as lo, "
        f"factor_high('{LIFETIME}') as hi", encoding="utf-8")
    (tmp_path / "intermediate" / "int_bad.sql").write_text(
        "select factor('smartphone.no_such_factor') as v", encoding="utf-8")
    models = {m.name: m for m in discover_models(tmp_path)}
    # the runner knows that a model calling factor() reads stg_factors
    assert models["int_good"].depends_on == {"stg_factors"}
    con = connect()
    load_factor_tables(con, data_dir())
    run_models(con, [models["stg_factors"], models["int_good"]])
    assert con.execute("SELECT v, lo, hi FROM int_good").fetchone() == (2.5, 2.0, 4.0)
    with pytest.raises(PipelineError, match=r"int_bad\.sql: model int_bad failed: .*factor "
                       r"smartphone\.no_such_factor is not in the factor tables"):
        run_models(con, [models["int_bad"]])


def test_no_model_pivots_factors_or_reads_raw_tables_beyond_staging():
    for path in pipelines_dir().glob("*/*.sql"):
        sql = path.read_text(encoding="utf-8").lower()
        assert "filter (where id" not in sql, path
        if path.parent.name != "staging":
            assert "raw_" not in sql, path
