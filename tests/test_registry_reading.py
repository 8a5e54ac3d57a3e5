"""The reader toolkit on DuckDB: rows as a table of text with their file line numbers, plain
UTF-8 files read by DuckDB itself, other files split in Python into the same table."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from territory.registries import read_registry
from territory.registries._rows import fold_name, open_rows

HEADER = "operateur;site;lon;lat\n"


def _lines(rows) -> list[int]:
    return [line for (line,) in rows.con.execute("SELECT line FROM rows ORDER BY line").fetchall()]


def test_plain_utf8_is_read_by_duckdb_with_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("Titre de l'export\n" + HEADER + "Orange;S1;-1,55;47,21\nSFR;S2;-1,56;47,22\n",
                    encoding="utf-8")
    rows = open_rows(path, header_contains=("operateur",))
    assert rows.splitter == "duckdb"
    assert rows.header == ["operateur", "site", "lon", "lat"]
    assert _lines(rows) == [3, 4]  # a title line, then the header on line 2
    assert rows.fields([4]) == {4: ["SFR", "S2", "-1,56", "47,22"]}


@pytest.mark.parametrize("body", [
    "Orange;S1;-1,55;47,21\n\nSFR;S2;-1,56;47,22\n",  # a blank line
    'Orange;"S1\nbis";-1,55;47,21\nSFR;S2;-1,56;47,22\n',  # a quoted line break
])
def test_rows_not_one_per_line_are_split_in_python_keeping_file_lines(
    tmp_path: Path, body: str,
) -> None:
    path = tmp_path / "a.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    rows = open_rows(path)
    assert rows.splitter == "python"
    assert _lines(rows) == [2, 4]


def test_gzip_and_cp1252_go_through_the_shared_opener(tmp_path: Path) -> None:
    path = tmp_path / "a.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "Bouygues Télécom;S1;-1,55;47,21\n").encode("cp1252")))
    rows = open_rows(path)
    assert rows.splitter == "python" and rows.encoding == "cp1252"
    assert rows.fields([2])[2][0] == "Bouygues Télécom"


def test_a_row_longer_than_the_header_keeps_all_its_fields(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "Orange;S1;-1,55;47,21\nSFR;S2;-1,56;47,22;x;y\n", encoding="utf-8")
    rows = open_rows(path)
    assert rows.splitter == "duckdb"
    assert rows.fields([3]) == {3: ["SFR", "S2", "-1,56", "47,22", "x", "y"]}


def test_antennas_with_decimal_commas_are_read_in_sql(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "Orange;S1;-1,5536;47,2180\n20810;S2;-1,5696;47,2100\n"
                    "Free;S3;abc;47,21\nOrange;S1;-1,5536;47,2180\n", encoding="utf-8")
    load = read_registry("antennas", path)
    assert load.rows["source_line"].tolist() == [2, 3]
    assert load.rows["x"].tolist() == [-1.5536, -1.5696]
    assert load.rows["operator"].tolist() == ["Orange", "SFR"]
    reasons = {q["line"]: q["reason"] for q in load.quarantine}
    assert reasons == {4: "non-numeric coordinates ('abc', '47,21')",
                       5: "duplicate of line 2 (same operator, coordinates and technologies)"}
    assert load.record.rows_read == 4 == len(load.rows) + len(load.quarantine)


def test_fold_name() -> None:
    assert fold_name(" Nom_Opérateur ") == "nom_operateur"
    assert fold_name("Coordonnée X") == "coordonnee_x"
