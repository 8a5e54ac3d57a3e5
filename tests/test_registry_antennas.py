"""Mobile antenna sites reader: Arcep/ANFR national CSV, Paris antennes-relais CSV, generic CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from territory.errors import ConfigError, InputError
from territory.registries import read_registry
from territory.registries._common import LAMBERT93, WGS84
from territory.sources.factors import read_factors
from tests.conftest import FIXTURES, realdata_path

HERE = FIXTURES / "antennas"
COLUMNS = ["source_line", "x", "y", "operator", "site_id",
           "has_2g", "has_3g", "has_4g", "has_5g", "technologies"]


def reasons(load) -> dict[int, str]:
    return {q["line"]: q["reason"] for q in load.quarantine}


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def one_line_error(excinfo: pytest.ExceptionInfo, path: Path) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# ---------------------------------------------------------------- Arcep / ANFR national layout


def test_arcep_fixture_counts_and_reasons():
    load = read_registry("antennas", HERE / "arcep_sites_44.csv")
    assert load.crs == LAMBERT93
    assert load.record.name == "antennas"
    assert load.record.rows_read == 12
    assert len(load.rows) == 7
    assert len(load.quarantine) == 5
    assert set(COLUMNS) <= set(load.rows.columns)
    got = reasons(load)
    assert sorted(got) == [6, 7, 8, 9, 13]
    assert got[6].startswith("duplicate of line 2")
    assert got[7].startswith("non-numeric coordinates")
    assert got[8].startswith("no technology")
    assert "outside France" in got[9]
    assert got[13] == "no coordinates"
    # raw fields travel with the quarantined row
    last = next(q for q in load.quarantine if q["line"] == 13)
    assert last["X"] == "#N/A" and last["Operateur"] == "20815" and last["3G"] == "1"


def test_arcep_fixture_operators_and_technologies():
    rows = read_registry("antennas", HERE / "arcep_sites_44.csv").rows.set_index("source_line")
    assert rows.loc[2, "operator"] == "Orange"
    assert rows.loc[3, "operator"] == "SFR"
    assert rows.loc[4, "operator"] == "Free Mobile"
    assert rows.loc[5, "operator"] == "Bouygues Telecom"
    assert rows.loc[12, "operator"] == "20899"  # unknown code kept as written
    assert rows.loc[4, "technologies"] == "3G/4G"
    assert not rows.loc[4, "has_2g"] and rows.loc[4, "has_3g"] and rows.loc[4, "has_4g"]
    assert not rows["has_5g"].any()
    assert rows.loc[2, "x"] == 355120.0 and rows.loc[2, "y"] == 6689040.0
    assert rows["site_id"].isna().all()
    assert rows.index.dtype == "int64"


def test_arcep_unknown_operator_warned():
    load = read_registry("antennas", HERE / "arcep_sites_44.csv")
    assert any("20899" in w for w in load.warnings)
    assert any("20899" in n for n in load.record.notes)


def test_arcep_title_line_and_latin1():
    load = read_registry("antennas", HERE / "arcep_title_latin1.csv")
    assert load.crs == LAMBERT93
    assert load.record.rows_read == 2
    assert list(load.rows["source_line"]) == [3, 4]  # title line above the header
    assert list(load.rows["operator"]) == ["Orange", "Bouygues Telecom"]
    assert any("encoding" in w for w in load.warnings)


def test_arcep_bad_flag_quarantined(tmp_path):
    text = "Operateur;X;Y;2G;3G;4G\n20801;355120;6689040;1;oui;x\n20810;355120;6689040;1;2;0\n"
    path = write(tmp_path, "flags.csv", text)
    load = read_registry("antennas", path)
    assert len(load.rows) == 1 and load.rows.loc[0, "technologies"] == "2G/3G/4G"
    assert reasons(load) == {3: "technology flag 3G='2' is not 0/1"}


def test_arcep_short_row_quarantined(tmp_path):
    text = "Operateur;X;Y;2G;3G;4G\n20801;355120;6689040;1;1;1\n20810;355120;6689040\n"
    path = write(tmp_path, "short.csv", text)
    load = read_registry("antennas", path)
    assert len(load.rows) == 1
    assert "3 fields instead of 6" in reasons(load)[3]


def test_header_only_file_reads_no_rows(tmp_path):
    path = write(tmp_path, "header.csv", "Operateur;X;Y;2G;3G;4G\n")
    load = read_registry("antennas", path)
    assert load.record.rows_read == 0 and load.rows.empty and load.crs == LAMBERT93
    assert list(load.rows.columns[:3]) == ["source_line", "x", "y"]


# ---------------------------------------------------------------- Paris layout


def test_paris_fixture_counts_and_reasons():
    load = read_registry("antennas", HERE / "paris_antennes.csv")
    assert load.crs == WGS84
    assert load.record.rows_read == 11
    assert len(load.rows) == 7
    got = reasons(load)
    assert sorted(got) == [8, 10, 11, 12]
    assert got[8].startswith("duplicate of line 2")
    assert got[10].startswith("unreadable coordinates")
    assert "outside France" in got[11]
    assert got[12].startswith("no technology")


def test_paris_fixture_operators_5g_and_unknown_technology():
    load = read_registry("antennas", HERE / "paris_antennes.csv")
    rows = load.rows.set_index("source_line")
    assert set(rows["operator"]) == {"Free Mobile", "Bouygues Telecom", "Orange", "SFR"}
    assert rows.loc[7, "operator"] == "Free Mobile"  # written "Free Mobile", not "FREE MOBILE"
    # 5G from the type text
    assert rows.loc[2, "has_5g"] and rows.loc[2, "technologies"] == "3G/4G/5G"
    # 5G from a 5G commissioning date although the type says 3G/4G
    assert rows.loc[6, "has_5g"] and rows.loc[6, "technologies"] == "3G/4G/5G"
    assert not rows.loc[5, "has_5g"] and rows.loc[5, "technologies"] == "2G/3G/4G"
    # Bouygues rows have an empty type: kept, technologies unknown
    assert rows.loc[4, "operator"] == "Bouygues Telecom"
    assert rows.loc[4, "technologies"] is None
    assert not rows.loc[4, ["has_2g", "has_3g", "has_4g", "has_5g"]].any()
    assert any("no technology information" in w for w in load.warnings)
    assert rows.loc[2, "site_id"] == "75116_113_01"
    assert rows.loc[2, "x"] == pytest.approx(2.279549734702397)
    assert rows.loc[2, "y"] == pytest.approx(48.85833815460331)
    assert rows.loc[2, "installed_year"] == 2019


def test_paris_broken_point_falls_back_to_geo_shape():
    load = read_registry("antennas", HERE / "paris_antennes.csv")
    rows = load.rows.set_index("source_line")
    assert rows.loc[9, "x"] == pytest.approx(2.3467) and rows.loc[9, "y"] == pytest.approx(48.8489)
    assert any("geo_shape" in w and "line 9" in w for w in load.warnings)


def test_paris_point_is_never_evaluated(capfd):
    load = read_registry("antennas", HERE / "paris_antennes.csv")
    assert "pwned" not in capfd.readouterr().out
    assert 10 in reasons(load)


# ---------------------------------------------------------------- generic layout


def test_lambert93_in_lonlat_columns_detected_and_warned():
    load = read_registry("antennas", HERE / "lonlat_l93.csv")
    assert load.crs == LAMBERT93
    assert len(load.rows) == 4 and not load.quarantine
    assert any("Lambert-93" in w and "inferred" in w for w in load.warnings)
    assert any("named as degrees" in w for w in load.warnings)
    rows = load.rows.set_index("site_id")
    assert rows.loc["A2", "has_5g"] and rows.loc["A2", "technologies"] == "4G/5G"
    assert rows.loc["A3", "technologies"] == "4G"  # "LTE"
    assert rows.loc["A4", "operator"] == "Free Mobile" and rows.loc["A4", "technologies"] is None


def test_generic_swapped_lat_lon(tmp_path):
    text = "lon;lat;operateur;4g\n47.2180;-1.5536;Orange;1\n47.2735;-2.2137;SFR;1\n"
    path = write(tmp_path, "swapped.csv", text)
    load = read_registry("antennas", path)
    assert load.crs == WGS84
    assert any("swapped" in w for w in load.warnings)
    assert load.rows.loc[0, "x"] == pytest.approx(-1.5536)
    assert load.rows.loc[0, "y"] == pytest.approx(47.2180)


def test_generic_declared_columns_and_crs(tmp_path):
    text = "site,easting,northing,gen\nS1,355120,6689040,4G\nS2,abc,6689040,4G\n"
    path = write(tmp_path, "declared.csv", text)
    columns = {"x": "easting", "y": "northing", "site_id": "site", "technologies": "gen"}
    options = {"columns": columns, "crs": "Lambert93"}
    load = read_registry("antennas", path, options=options)
    assert load.crs == LAMBERT93
    assert not any("inferred" in w for w in load.warnings)
    assert load.rows.loc[0, "site_id"] == "S1" and load.rows.loc[0, "technologies"] == "4G"
    assert reasons(load)[3].startswith("non-numeric coordinates")


def test_generic_declared_crs_that_does_not_fit_is_warned(tmp_path):
    path = write(tmp_path, "mislabelled.csv", "x,y\n355120,6689040\n")
    load = read_registry("antennas", path, options={"crs": "EPSG:4326"})
    assert load.crs == WGS84
    assert any("look like EPSG:2154" in w for w in load.warnings)
    assert "outside France" in reasons(load)[2]


def test_generic_declared_column_missing(tmp_path):
    path = write(tmp_path, "cols.csv", "easting,northing\n355120,6689040\n")
    with pytest.raises(InputError) as excinfo:
        read_registry("antennas", path, options={"columns": {"x": "easting", "y": "nord"}})
    message = one_line_error(excinfo, path)
    assert "'nord'" in message and "options columns" in message


def test_missing_y_column(tmp_path):
    path = write(tmp_path, "noy.csv", "Operateur;X;2G;3G;4G\n20801;355120;1;1;1\n")
    with pytest.raises(InputError) as excinfo:
        read_registry("antennas", path)
    message = one_line_error(excinfo, path)
    assert "no y coordinate column" in message and "columns x=" in message


def test_unknown_column_role_is_a_config_error(tmp_path):
    path = write(tmp_path, "cols.csv", "x,y\n355120,6689040\n")
    with pytest.raises(ConfigError):
        read_registry("antennas", path, options={"columns": {"lon": "x", "y": "y"}})


def test_generic_coordinates_fitting_no_crs(tmp_path):
    path = write(tmp_path, "nowhere.csv", "x,y\n5000000,100\n5000001,101\n")
    with pytest.raises(InputError) as excinfo:
        read_registry("antennas", path)
    assert "options crs" in one_line_error(excinfo, path)


# ---------------------------------------------------------------- unreadable files


def test_empty_file():
    path = HERE / "empty.csv"
    with pytest.raises(InputError) as excinfo:
        read_registry("antennas", path)
    assert "empty" in one_line_error(excinfo, path)


def test_wrong_separator():
    path = HERE / "wrong_separator.csv"
    with pytest.raises(InputError) as excinfo:
        read_registry("antennas", path)
    message = one_line_error(excinfo, path)
    assert "separator" in message and "options separator" in message


def test_wrong_separator_declared_reads():
    load = read_registry("antennas", HERE / "wrong_separator.csv", options={"separator": ":"})
    assert load.crs == LAMBERT93 and len(load.rows) == 2
    assert list(load.rows["operator"]) == ["Orange", "SFR"]


def test_unknown_header():
    path = HERE / "unknown_header.csv"
    with pytest.raises(InputError) as excinfo:
        read_registry("antennas", path)
    message = one_line_error(excinfo, path)
    assert "unknown antenna file layout" in message and "options columns x=" in message


def test_declared_separator_mismatch(tmp_path):
    path = write(tmp_path, "semi.csv", "lon,lat\n-1.55,47.21\n")
    with pytest.raises(InputError) as excinfo:
        read_registry("antennas", path, options={"separator": ";"})
    assert "separator" in one_line_error(excinfo, path)


def test_fixtures_are_small():
    for path in HERE.iterdir():
        assert path.stat().st_size < 20_000, path


# ---------------------------------------------------------------- factor table


def test_antenna_factor_table():
    table = Path(__file__).resolve().parents[1] / "data" / "factors_antennas.csv"
    factors = {f["id"]: f for f in read_factors(table)}
    assert {"antennas.site_kwh_per_year", "antennas.5g_extra_share"} <= set(factors)
    site = factors["antennas.site_kwh_per_year"]
    assert site["low"] <= site["value"] <= site["high"] and 15_000 <= site["value"] <= 52_560
    assert factors["antennas.5g_extra_share"]["value"] == pytest.approx(0.40)
    assert all(str(f["source"]).strip() for f in factors.values())


# ---------------------------------------------------------------- real files


NATIONAL = ("anfr", "2018_01_Sites_mobiles_2G_3G_4G_France_metropolitaine_L93.csv")


@pytest.fixture(scope="module")
def national():
    return read_registry("antennas", realdata_path(*NATIONAL))


@pytest.mark.realdata
def test_real_national_file(national):
    load = national
    assert load.crs == LAMBERT93
    assert load.record.rows_read == 77_148
    assert len(load.rows) + len(load.quarantine) == load.record.rows_read
    assert load.record.balanced()
    got = reasons(load)
    assert got[77_149] == "no coordinates"  # the last row, 20815;#N/A;#N/A;0;1;0
    assert set(load.rows["operator"]) == {"Orange", "SFR", "Free Mobile", "Bouygues Telecom"}
    assert not load.rows["has_5g"].any()  # 2018: no 5G
    counts = {}
    for reason in got.values():
        key = "duplicate" if reason.startswith("duplicate") else reason.split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    # 1,574 Orange rows have 0 on all three flags; 72 more rows repeat an earlier one exactly
    assert counts == {"no technology": 1_574, "duplicate": 72, "no coordinates": 1}
    assert len(load.rows) == 75_501


@pytest.mark.realdata
def test_real_national_file_loire_atlantique(national):
    import geopandas as gpd

    boundary = gpd.read_file(realdata_path("boundaries", "departement-44-loire-atlantique.geojson"))
    dept = boundary.to_crs(LAMBERT93).union_all()
    rows = national.rows
    points = gpd.GeoSeries(gpd.points_from_xy(rows["x"], rows["y"]), crs=national.crs)
    inside = points[points.within(dept)]
    # the README counts 1,270 rows inside the polygon; 13 of them are Orange rows with no
    # technology (0;0;0), quarantined, so 1,257 are kept
    assert len(inside) == 1_257
    q = [item for item in national.quarantine if item["reason"].startswith("no technology")]
    xs, ys = [float(i["X"]) for i in q], [float(i["Y"]) for i in q]
    q_points = gpd.GeoSeries(gpd.points_from_xy(xs, ys), crs=LAMBERT93)
    assert abs(len(inside) + int(q_points.within(dept).sum()) - 1_270) <= 5


@pytest.mark.realdata
def test_real_paris_file():
    load = read_registry("antennas", realdata_path("anfr", "paris_antennes_relais.csv"))
    assert load.crs == WGS84
    assert load.record.rows_read == 2_170
    assert len(load.rows) + len(load.quarantine) == 2_170
    assert len(load.rows) >= 0.95 * 2_170
    assert load.rows["x"].between(2.2, 2.5).all() and load.rows["y"].between(48.8, 48.91).all()
    ops = load.rows["operator"].value_counts().to_dict()
    assert ops == {"Free Mobile": 599, "Bouygues Telecom": 587, "SFR": 518, "Orange": 466}
    assert int(load.rows["has_5g"].sum()) == 1_374
    assert int(load.rows["technologies"].isna().sum()) == 587  # every Bouygues row


# ---------------------------------------------------------------- typed reading (fast path)


def _both_readers(path: Path, monkeypatch: pytest.MonkeyPatch):
    """The file read as read_registry reads it, then with the typed path switched off."""
    from territory.registries import antennas

    typed = read_registry("antennas", path)
    with monkeypatch.context() as patch:
        patch.setattr(antennas, "_read_typed", lambda path, options: None)
        text = read_registry("antennas", path)
    return typed, text


def test_typed_reading_is_the_text_readers(tmp_path, monkeypatch):
    from territory.registries import antennas

    lines = ["operateur;code_site;longitude;latitude;4G"]
    for i in range(60):
        op = ("Orange", " SFR ", "20815", "Zebra", "")[i % 5]
        lines.append(f"{op};S{i};{-1 + i / 50:.4f};{47 + i / 100:.4f};1".replace(".", ","))
    lines += [
        "Orange;S1;2,50;45,5;1",  # line 62
        "Orange;S2;2,5;45,5;1",  # duplicate of line 62, written otherwise
        "SFR;S3;-0;45,5;1",
        "SFR;S4;0,0;45,5;1",  # duplicate of the line before (-0 = 0)
        "Orange;S5;60,5;45,5;1",  # outside France
        "Orange;S6;3,5;45,5;0",  # 4G flag 0 only: no technology
    ]
    path = write(tmp_path, "clean.csv", "\n".join(lines) + "\n")
    rows = antennas._read_typed(path, {})
    assert rows is not None and antennas._load(rows, path, "antennas", {}) is not None
    typed, text = _both_readers(path, monkeypatch)
    assert typed.table.equals(text.table)
    assert typed.quarantine == text.quarantine
    assert [str(w) for w in typed.warnings] == [str(w) for w in text.warnings]
    assert typed.record.sha256 == text.record.sha256
    assert reasons(typed) == {
        63: "duplicate of line 62 (same operator, coordinates and technologies)",
        65: "duplicate of line 64 (same operator, coordinates and technologies)",
        66: "coordinates (60.5, 45.5) outside France for EPSG:4326",
        67: "no technology (no 2G, 3G, 4G or 5G)",
    }
    assert typed.quarantine[0]["code_site"] == "S2"  # raw fields cut from the file's line
    assert set(typed.rows["operator"].dropna()) == {"Orange", "SFR", "Free Mobile", "Zebra"}
    assert list(typed.rows["source_line"]) == sorted(typed.rows["source_line"])


@pytest.mark.parametrize("change", [
    lambda lines: lines[:3] + [""] + lines[3:],  # a blank line
    lambda lines: lines[:3] + ["Orange;S9;2,5;"] + lines[3:],  # an empty coordinate
    lambda lines: lines[:3] + ["Orange;S9;2.5;45,5"] + lines[3:],  # the other decimal mark
    lambda lines: lines[:3] + ["Orange;S9;2,5;45,5;x"] + lines[3:],  # one field too many
    lambda lines: lines[:3] + ["Orangé;S9;2,5;45,5"] + lines[3:],  # accents: Python folds them
])
def test_typed_reading_gives_up_on_rows_sql_cannot_parse(tmp_path, monkeypatch, change):
    from territory.registries import antennas

    lines = ["operateur;code_site;longitude;latitude"]
    lines += [f"SFR;S{i};{2 + i / 10:.1f};45,5".replace(".", ",") for i in range(8)]
    path = write(tmp_path, "odd.csv", "\n".join(change(lines)) + "\n")
    rows = antennas._read_typed(path, {})
    assert rows is None or antennas._load(rows, path, "antennas", {}) is None
    typed, text = _both_readers(path, monkeypatch)
    assert typed.table.equals(text.table)
    assert typed.quarantine == text.quarantine
    assert typed.record.rows_read == text.record.rows_read >= 8
