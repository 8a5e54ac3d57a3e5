"""Per-commune registries: Arcep FttH deployment (``fibre``) and INSEE Filosofi (``income``)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from territory.errors import InputError
from territory.registries import read_registry
from territory.sources.factors import read_factors
from tests.conftest import FIXTURES, realdata_path

FIBRE = FIXTURES / "fibre"
INCOME = FIXTURES / "income"
DATA = Path(__file__).resolve().parents[1] / "data"


def _by_code(load):
    return load.rows.set_index("code_insee")


# --------------------------------------------------------------------------- fibre


def test_fibre_fixture_counts_and_values():
    load = read_registry("fibre", FIBRE / "ftthCommunes.csv")
    assert load.kind == "fibre"
    assert load.crs is None
    assert list(load.rows.columns) == [
        "code_insee", "quarter", "ftth_connectable", "coverage_class", "premises", "ftth_share"]
    # 14 communes (units) seen on 27 data lines: 9 kept, 5 quarantined
    assert load.record.rows_read == 14
    assert load.record.rows_kept == 9
    assert load.record.rows_quarantined == 5
    assert any("27 data lines, 2 per commune" in note for note in load.record.notes)
    assert load.record.vintage == "T1 2018"
    rows = _by_code(load)
    assert list(rows.index) == [
        "01001", "01002", "2A004", "2B033", "44109", "44143", "44184", "44190", "55039"]
    assert set(rows["quarter"]) == {"T1 2018"}
    nantes = rows.loc["44109"]
    assert nantes["ftth_connectable"] == 96868  # "96 868" with a non-breaking space
    assert nantes["coverage_class"] == 50
    assert nantes["premises"] == 171980 + 8990
    assert nantes["ftth_share"] == pytest.approx(96868 / 180970)
    assert rows.loc["01001", "ftth_connectable"] == 12  # written "1001"
    assert rows.loc["01001", "coverage_class"] == 5
    assert rows.loc["01002", "ftth_connectable"] == 0  # "-"
    assert rows.loc["01002", "premises"] == 163  # companion code written "1002"
    assert rows.loc["2A004", "ftth_connectable"] == 31486
    assert rows.loc["2A004", "coverage_class"] == 80
    assert rows.loc["2A004", "ftth_share"] == pytest.approx(31486 / (33108 + 2622))
    assert rows.loc["2B033", "premises"] == 22000
    assert rows.loc["44143", "ftth_share"] == 1.0  # 21,000 connectable for 20,175 premises: capped
    assert math.isnan(rows.loc["44190", "premises"])  # not in the companion file
    assert math.isnan(rows.loc["44190", "ftth_share"])
    assert rows.loc["55039", "premises"] == 0  # "-" and "-"
    assert math.isnan(rows.loc["55039", "ftth_share"])
    assert str(rows["ftth_connectable"].dtype) == "int64"
    assert str(rows["coverage_class"].dtype) == "int64"


def test_fibre_codes_are_text_with_leading_zeros():
    rows = read_registry("fibre", FIBRE / "ftthCommunes.csv").rows
    assert all(isinstance(code, str) and len(code) == 5 for code in rows["code_insee"])
    assert {"01001", "01002", "2A004", "2B033"} <= set(rows["code_insee"])


def test_fibre_quarantine_reasons():
    load = read_registry("fibre", FIBRE / "ftthCommunes.csv")
    by_line = {q["line"]: q for q in load.quarantine}
    assert sorted(by_line) == [16, 17, 18, 22, 24]
    assert "Catégorie' line is missing" in by_line[16]["reason"]
    assert by_line[16]["Code commune"] == "44020"
    assert "'ABCDE' is not an INSEE commune code" in by_line[17]["reason"]
    assert "'n.c.' is not a number" in by_line[18]["reason"]
    assert "duplicate 'Locaux Raccordables' line (lines 20, 22)" in by_line[22]["reason"]
    assert "coverage class '33'" in by_line[24]["reason"]
    for entry in load.quarantine:
        assert {"line", "reason", "Code commune", "Champ", "T1 2018"} <= set(entry)


def test_fibre_companion_found_next_to_the_file_is_reported():
    load = read_registry("fibre", FIBRE / "ftthCommunes.csv")
    assert any("communes.csv" in w and "found next to" in w for w in load.warnings)
    assert any("leading zero" in w for w in load.warnings)
    assert any("share capped to 1" in w for w in load.warnings)
    assert any("1 communes are not in communes.csv" in w for w in load.warnings)


def test_fibre_without_companion_share_is_nan(tmp_path):
    alone = tmp_path / "ftthCommunes.csv"
    shutil.copy(FIBRE / "ftthCommunes.csv", alone)
    load = read_registry("fibre", alone)
    assert load.record.rows_read == 14 and len(load.rows) == 9
    assert load.rows["premises"].isna().all()
    assert load.rows["ftth_share"].isna().all()
    assert _by_code(load).loc["44109", "ftth_connectable"] == 96868
    assert not any("communes.csv" in w for w in load.warnings)
    # the look-up can also be turned off
    off = read_registry("fibre", FIBRE / "ftthCommunes.csv", options={"premises_file": False})
    assert off.rows["ftth_share"].isna().all()


def test_fibre_companion_given_as_option(tmp_path):
    alone = tmp_path / "ftth.csv"
    shutil.copy(FIBRE / "ftthCommunes.csv", alone)
    companion = tmp_path / "elsewhere.csv"
    shutil.copy(FIBRE / "communes.csv", companion)
    load = read_registry("fibre", alone, options={"premises_file": str(companion)})
    assert _by_code(load).loc["44109", "ftth_share"] == pytest.approx(96868 / 180970)
    assert not any("found next to" in w for w in load.warnings)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ftth_empty.csv", "the file is empty"),
        ("ftth_wrong_separator.csv", "another separator than the header"),
        ("communes.csv", "not an Arcep FttH-per-commune file: no column Champ"),
    ],
)
def test_fibre_bad_inputs_raise_one_line(name, expected):
    path = FIBRE / name
    with pytest.raises(InputError) as raised:
        read_registry("fibre", path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert expected in message


def test_fibre_bad_companion_raises(tmp_path):
    with pytest.raises(InputError, match="companion file .* not found"):
        read_registry("fibre", FIBRE / "ftthCommunes.csv",
                      options={"premises_file": str(tmp_path / "missing.csv")})
    wrong = tmp_path / "premises.csv"
    shutil.copy(INCOME / "cc_filosofi_2021_COM.csv", wrong)
    with pytest.raises(InputError) as raised:
        read_registry("fibre", FIBRE / "ftthCommunes.csv", options={"premises_file": str(wrong)})
    assert str(raised.value).startswith(str(wrong)) and "\n" not in str(raised.value)


def test_fibre_header_only_raises(tmp_path):
    path = tmp_path / "ftth.csv"
    path.write_text("Code commune,Champ,T3 2017,T4 2017,T1 2018\n", encoding="utf-8")
    with pytest.raises(InputError, match="no data line"):
        read_registry("fibre", path)


# --------------------------------------------------------------------------- income


def test_income_fixture_counts_and_values():
    load = read_registry("income", INCOME / "cc_filosofi_2021_COM.csv")
    assert load.kind == "income"
    assert load.crs is None
    assert list(load.rows.columns) == [
        "code_insee", "year", "households_fiscal", "persons_fiscal", "median_income_eur",
        "poverty_rate_pct", "secret"]
    assert load.record.rows_read == 16
    assert load.record.rows_kept == 12
    assert load.record.rows_quarantined == 4
    assert load.record.vintage == "2021"
    rows = _by_code(load)
    assert set(rows["year"]) == {2021}
    nantes = rows.loc["44109"]
    assert nantes["households_fiscal"] == 141228
    assert nantes["persons_fiscal"] == 276858
    assert nantes["median_income_eur"] == 24170
    assert nantes["poverty_rate_pct"] == 17.0  # "17,0"
    assert not nantes["secret"]
    assert rows.loc["44020", "median_income_eur"] == 23740  # "23 740"
    assert rows.loc["2A004", "poverty_rate_pct"] == 16.0
    assert rows.loc["2B033", "median_income_eur"] == 20530
    assert rows.loc["97202", "poverty_rate_pct"] == 35.0


def test_income_secret_rows_are_kept():
    rows = _by_code(read_registry("income", INCOME / "cc_filosofi_2021_COM.csv"))
    assert sorted(rows.index[rows["secret"]]) == ["01003", "44190"]
    for code in ("01003", "44190"):
        assert rows.loc[code, ["households_fiscal", "persons_fiscal", "median_income_eur",
                               "poverty_rate_pct"]].isna().all()
    # only the poverty rate withheld: not a secret row
    assert not rows.loc["01001", "secret"]
    assert rows.loc["01001", "median_income_eur"] == 25820
    assert math.isnan(rows.loc["01001", "poverty_rate_pct"])
    # 'nd' (not available) is kept as NaN, not secret
    assert not rows.loc["55039", "secret"]
    assert math.isnan(rows.loc["55039", "median_income_eur"])
    assert rows["secret"].dtype == bool


def test_income_codes_are_text_with_leading_zeros():
    load = read_registry("income", INCOME / "cc_filosofi_2021_COM.csv")
    codes = list(load.rows["code_insee"])
    assert all(isinstance(code, str) and len(code) == 5 for code in codes)
    assert {"01001", "01003", "2A004", "2B033"} <= set(codes)  # 01001 written "1001"
    assert any("leading zero" in w for w in load.warnings)


def test_income_quarantine_reasons():
    load = read_registry("income", INCOME / "cc_filosofi_2021_COM.csv")
    by_line = {q["line"]: q for q in load.quarantine}
    assert sorted(by_line) == [13, 15, 16, 17]
    assert "'4410A' is not an INSEE commune code" in by_line[13]["reason"]
    assert "column MED21: 'n.c.' is neither a number nor 's'" in by_line[15]["reason"]
    assert "column TP6021: '150,0' is outside [0, 100]" in by_line[16]["reason"]
    assert "duplicate code 44109 (first on line 7)" in by_line[17]["reason"]
    assert by_line[17]["CODGEO"] == "44109"


def test_income_other_vintage_detected_by_prefix():
    load = read_registry("income", INCOME / "cc_filosofi_2020_COM.csv")
    rows = _by_code(load)
    assert load.record.vintage == "2020"
    assert set(rows["year"]) == {2020}
    # TP6020, not TP60AGE120 / TP60AGE220 that come before it
    assert rows.loc["44109", "poverty_rate_pct"] == 17.5
    assert rows.loc["44109", "median_income_eur"] == 23600
    assert rows.loc["44190", "secret"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("filosofi_empty.csv", "the file is empty"),
        ("filosofi_comma_separator.csv", "the separator ',' is also the decimal mark"),
    ],
)
def test_income_bad_inputs_raise_one_line(name, expected):
    path = INCOME / name
    with pytest.raises(InputError) as raised:
        read_registry("income", path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert expected in message


def test_income_wrong_layout_raises_one_line(tmp_path):
    path = tmp_path / "filosofi.csv"
    path.write_text("CODGEO;NBMENFISC21;TP6021\n44109;141228;12,5\n", encoding="utf-8")
    with pytest.raises(InputError) as raised:
        read_registry("income", path)
    message = str(raised.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert "no column MEDYY" in message


def test_income_needs_only_the_median(tmp_path):
    path = tmp_path / "filosofi.csv"
    path.write_text("CODGEO;NBMENFISC21;MED21\n44109;141228;24170\n", encoding="utf-8")
    load = read_registry("income", path)
    row = load.rows.iloc[0]
    assert (row["code_insee"], row["year"], row["median_income_eur"]) == ("44109", 2021, 24170)
    assert row["households_fiscal"] == 141228
    assert math.isnan(row["persons_fiscal"]) and math.isnan(row["poverty_rate_pct"])
    assert "no column NBPERSMENFISC21, TP6021: persons_fiscal, poverty_rate_pct left empty" in (
        load.warnings)
    with pytest.raises(InputError, match="no header line"):
        read_registry("income", FIBRE / "ftthCommunes.csv")


# --------------------------------------------------------------------------- factors


def test_fibre_factor_table():
    factors = {f["id"]: f for f in read_factors(DATA / "factors_fibre.csv")}
    assert set(factors) == {"fixed_access.ftth_kwh_per_line_year",
                            "fixed_access.copper_kwh_per_line_year"}
    header = (DATA / "factors.csv").read_text(encoding="utf-8").splitlines()[0]
    assert (DATA / "factors_fibre.csv").read_text(encoding="utf-8").splitlines()[0] == header
    ftth = factors["fixed_access.ftth_kwh_per_line_year"]
    copper = factors["fixed_access.copper_kwh_per_line_year"]
    assert ftth["high"] <= 10 and ftth["value"] < copper["value"]
    assert copper["value"] == 35
    assert all(f["source"].strip() for f in factors.values())


# --------------------------------------------------------------------------- real files


@pytest.mark.realdata
def test_real_arcep_ftth_communes():
    path = realdata_path("arcep", "ftthCommunes.csv")
    load = read_registry("fibre", path)  # finds arcep/communes.csv next to it
    assert load.record.rows_read == 35361
    assert load.record.rows_kept == 35361
    assert load.record.rows_quarantined == 0
    assert any("70,722 data lines" in note for note in load.record.notes)
    assert any("found next to" in w for w in load.warnings)
    rows = _by_code(load)
    nantes = rows.loc["44109"]
    assert nantes["quarter"] == "T1 2018"
    assert nantes["ftth_connectable"] == 96868
    assert nantes["coverage_class"] == 50
    assert nantes["premises"] == 171980 + 8990
    assert 0 < nantes["ftth_share"] <= 1
    assert rows.loc["01001", "ftth_connectable"] == 0
    assert rows.index.str.startswith("44").sum() == 208
    assert {"2A004", "2B033"} <= set(rows.index)
    assert rows["premises"].notna().all()  # every commune is in the companion file
    assert rows["ftth_share"].isna().sum() == 5  # communes with no dwelling or establishment
    # more connectable premises than dwellings + establishments: capped to 1
    assert any(w.startswith("689 communes have more FttH-connectable") for w in load.warnings)
    assert (rows["ftth_share"] == 1).sum() == 689 + 30  # 30 communes exactly at 100 %


@pytest.mark.realdata
def test_real_insee_filosofi():
    path = realdata_path("insee", "cc_filosofi_2021_COM.csv")
    load = read_registry("income", path)
    assert load.record.rows_read == 34909
    assert load.record.rows_kept == 34909
    assert load.record.rows_quarantined == 0
    assert load.record.vintage == "2021"
    rows = _by_code(load)
    nantes = rows.loc["44109"]
    assert nantes["median_income_eur"] == 24170
    assert nantes["poverty_rate_pct"] == 17.0
    assert not nantes["secret"]
    assert int(rows["secret"].sum()) == 3593  # every value 's'
    assert int(rows["poverty_rate_pct"].notna().sum()) == 4397
    assert int(rows["median_income_eur"].isna().sum()) == 3593 + 12  # + 12 'nd' communes
    assert rows.index.str.startswith("44").sum() == 207
    assert all(len(code) == 5 for code in rows.index)
    assert rows.loc["01001", "median_income_eur"] == 25820
