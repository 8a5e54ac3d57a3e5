"""Bad input, for every CSV reader: each variant of a small valid file is read, quarantined row by
row, or refused with one line naming the file and saying what to do; rows read always equal rows
kept + rows quarantined.

The variants are made here from one small valid table per kind (antennas, datacenters, street
lights / cameras / sensors, fibre, income, population): BOM, CRLF, trailing separators, extra
columns, a missing optional column, repeated header names, Windows-1252, gzip, zip, an empty
file, a header alone, a 200,000-character field, separator-only rows, an Excel workbook, UTF-16,
a PDF and an old ``.xls``.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pandas as pd
import pytest

from territory.errors import InputError
from territory.quarantine import write_quarantine_csv
from territory.registries import read_registry
from territory.sources.population import load_population_file

HUGE = 200_000


@dataclass(frozen=True)
class Sample:
    """A small valid table of one kind, and which of its columns the variants play with."""

    kind: str
    separator: str
    header: list[str]
    rows: list[list[str]]
    optional: str  # a column the reader can do without
    text: str  # a free-text column to fill with a huge field
    repeated: str  # a column whose name is repeated (the reader must keep reading the first)
    header_only_error: str | None = None  # the error of a header without rows, if any


_POINTS = [  # Nantes, Rezé, Saint-Nazaire
    ("-1.5536", "47.2184"), ("-1.5696", "47.1919"), ("-2.2139", "47.2735"),
]

SAMPLES = {
    "antennas": Sample(
        "antennas", ";", ["site_id", "operateur", "lon", "lat", "technologies", "adresse"],
        [["A1", "Orange", *_POINTS[0], "4G", "Quai de la Fosse"],
         ["A2", "SFR", *_POINTS[1], "4G/5G", "Rue de la Trébale, Rezé"],
         ["A3", "Free", *_POINTS[2], "2G/3G/4G", "Boulevard de l'Océan"]],
        optional="adresse", text="adresse", repeated="adresse",
    ),
    "datacenters": Sample(
        "datacenters", ";", ["nom", "exploitant", "lon", "lat", "capacity_mw"],
        [["Nantes Métropole DC", "Orange", *_POINTS[0], "12"],
         ["Rezé Échangeur", "Data4", *_POINTS[1], "2,5"],
         ["Saint-Nazaire Océan", "Free", *_POINTS[2], ""]],
        optional="exploitant", text="nom", repeated="nom",
        header_only_error="the CSV has a header line but no data rows",
    ),
    "fibre": Sample(
        "fibre", ",", ["Code commune", "Champ", "T4 2017", "T1 2018"],
        [["44109", "Locaux Raccordables", "150000", "160000"],
         ["44109", "Catégorie", "80", "80"],
         ["44143", "Locaux Raccordables", "20000", "21000"],
         ["44143", "Catégorie", "50", "80"],
         ["44184", "Locaux Raccordables", "30000", "31000"],
         ["44184", "Catégorie", "80", "80"]],
        optional="T4 2017", text="Champ", repeated="T1 2018",
        header_only_error="no data line below the header",
    ),
    "income": Sample(
        "income", ";",
        ["CODGEO", "LIBGEO", "NBMENFISC21", "NBPERSMENFISC21", "MED21", "TP6021"],
        [["44109", "Nantes", "150000", "290000", "24170", "17,5"],
         ["44143", "Rezé", "20000", "41000", "23990", "11"],
         ["44184", "Saint-Nazaire", "33000", "68000", "22100", "s"]],
        optional="NBPERSMENFISC21", text="LIBGEO", repeated="MED21",
        header_only_error="no data row below the header",
    ),
    "population": Sample(
        "population", ";", ["CODGEO", "LIBGEO", "PMUN"],
        [["44109", "Nantes", "320732"], ["44143", "Rezé", "42919"],
         ["44184", "Saint-Nazaire", "71887"]],
        optional="LIBGEO", text="LIBGEO", repeated="PMUN",
        header_only_error="no data row below the header",
    ),
}
for _kind in ("streetlights", "cameras", "sensors"):
    SAMPLES[_kind] = Sample(
        _kind, ";", ["nom", "type", "lon", "lat"],
        [["P1", "LED", *_POINTS[0]], ["P2", "Sodium haute pression", *_POINTS[1]],
         ["P3", "Éclairage public", *_POINTS[2]]],
        optional="type", text="nom", repeated="nom",
    )
KINDS = list(SAMPLES)


# -- reading, whatever the kind -----------------------------------------------------------------


@dataclass
class Outcome:
    """What a reader made of a file."""

    rows_read: int
    kept: pd.DataFrame
    quarantine: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    @property
    def reasons(self) -> list[tuple[int, str]]:
        return [(int(q["line"]), str(q["reason"]).split(":", 1)[0]) for q in self.quarantine]


def read(kind: str, path: Path) -> Outcome:
    if kind == "population":
        con = duckdb.connect()
        try:
            record, quarantine = load_population_file(con, path)
            kept = con.execute(
                "SELECT * FROM raw_population_override ORDER BY code_insee").df()
        finally:
            con.close()
        assert record.rows_read == record.rows_kept + record.rows_quarantined
        assert (record.rows_kept, record.rows_quarantined) == (len(kept), len(quarantine))
        return Outcome(record.rows_read, kept, quarantine)
    load = read_registry(kind, path)
    assert load.record.rows_read == load.record.rows_kept + load.record.rows_quarantined
    assert (load.record.rows_kept, load.record.rows_quarantined) == (
        len(load.rows), len(load.quarantine))
    return Outcome(load.record.rows_read, load.rows, load.quarantine, load.warnings)


def units(sample: Sample, rows: int) -> int:
    """Rows read for ``rows`` data lines: fibre counts communes (two lines each)."""
    return rows // 2 if sample.kind == "fibre" else rows


def comparable(outcome: Outcome) -> pd.DataFrame:
    """Kept rows without their line numbers (variants move lines)."""
    frame = outcome.kept.drop(columns=["source_line"], errors="ignore")
    return frame.reset_index(drop=True)


# -- the variants -------------------------------------------------------------------------------


def text_of(header: list[str], rows: list[list[str]], sep: str, end: str = "\n") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=sep, lineterminator=end).writerows([header, *rows])
    return out.getvalue()


def plain(sample: Sample) -> str:
    return text_of(sample.header, sample.rows, sample.separator)


def without(sample: Sample, column: str) -> str:
    i = sample.header.index(column)
    return text_of([h for h in sample.header if h != column],
                   [r[:i] + r[i + 1:] for r in sample.rows], sample.separator)


def extra_columns(sample: Sample) -> str:
    return text_of(["commentaire", *sample.header, "source"],
                   [["vu sur place", *r, "export 2024"] for r in sample.rows], sample.separator)


def repeated_header(sample: Sample) -> str:
    # the repeated column holds other values: the reader must read the first one
    other = "999" if sample.repeated not in ("adresse", "nom") else "autre valeur"
    return text_of([*sample.header, sample.repeated],
                   [[*r, other] for r in sample.rows], sample.separator)


def trailing_separators(sample: Sample, header_too: bool) -> str:
    sep = sample.separator
    lines = plain(sample).splitlines()
    return "".join(line + sep + "\n" if i or header_too else line + "\n"
                   for i, line in enumerate(lines))


def huge_field(sample: Sample) -> str:
    i = sample.header.index(sample.text)
    rows = [list(r) for r in sample.rows]
    rows[0][i] = "x" * HUGE
    return text_of(sample.header, rows, sample.separator)


def separator_rows(sample: Sample) -> str:
    empty = sample.separator * (len(sample.header) - 1)
    lines = plain(sample).splitlines()
    return "\n".join([lines[0], lines[1], empty, *lines[2:], empty]) + "\n"


def zipped(text: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export/donnees.csv", text.encode("utf-8"))
    return out.getvalue()


def _cell(text: str) -> Any:
    """A cell as a spreadsheet holds it: numbers as numbers."""
    if re.fullmatch(r"-?\d+", text) and not text.startswith("0"):
        return int(text)
    if re.fullmatch(r"-?\d+[.,]\d+", text):
        return float(text.replace(",", "."))
    return text or None


def workbook(sample: Sample) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Données"
    sheet.append(sample.header)
    for row in sample.rows:
        sheet.append([_cell(c) for c in row])
    book.create_sheet("Notes").append(["source", "export"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
XLS = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504

#: variant -> bytes of the file, from the sample
VARIANTS: dict[str, Callable[[Sample], bytes]] = {
    "bom": lambda s: b"\xef\xbb\xbf" + plain(s).encode(),
    "crlf": lambda s: text_of(s.header, s.rows, s.separator, "\r\n").encode(),
    "trailing_separators": lambda s: trailing_separators(s, header_too=True).encode(),
    "trailing_separators_rows_only": lambda s: trailing_separators(s, header_too=False).encode(),
    "extra_columns": lambda s: extra_columns(s).encode(),
    "repeated_header": lambda s: repeated_header(s).encode(),
    "cp1252": lambda s: plain(s).encode("cp1252"),
    "gzip": lambda s: gzip.compress(plain(s).encode()),
    "zip": lambda s: zipped(plain(s)),
    "xlsx": workbook,
    "utf16": lambda s: plain(s).encode("utf-16"),
    "utf16_without_bom": lambda s: plain(s).encode("utf-16-le"),
    "separator_only_rows": lambda s: separator_rows(s).encode(),
}
#: variants read exactly as the plain sample, and the warning each must give
SAME_ROWS = {
    "bom": None, "crlf": None, "trailing_separators": None,
    "trailing_separators_rows_only": None, "extra_columns": None,
    "repeated_header": "appears more than once", "cp1252": "cp1252", "gzip": "gzip-compressed",
    "zip": "donnees.csv inside the zip archive", "xlsx": "first sheet 'Données'",
    "utf16": "UTF-16", "utf16_without_bom": "UTF-16", "separator_only_rows": None,
}


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def one_line_error(kind: str, path: Path) -> str:
    with pytest.raises(InputError) as raised:
        read(kind, path)
    message = str(raised.value)
    assert "\n" not in message and "\r" not in message
    assert str(path) in message
    assert message.isprintable()
    assert not re.search(r"\\x[0-9a-f]{2}|\\u[0-9a-f]{4}|%PDF|\xd0\xcf", message), message
    assert len(message) < 400
    return message


# -- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_plain_sample_is_read_whole(tmp_path: Path, kind: str) -> None:
    sample = SAMPLES[kind]
    outcome = read(kind, write(tmp_path, "plain.csv", plain(sample).encode()))
    assert outcome.rows_read == len(outcome.kept) == units(sample, len(sample.rows))
    assert outcome.quarantine == []


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("kind", KINDS)
def test_variant_reads_the_same_rows(tmp_path: Path, kind: str, variant: str) -> None:
    sample = SAMPLES[kind]
    base = read(kind, write(tmp_path, "plain.csv", plain(sample).encode()))
    outcome = read(kind, write(tmp_path, f"{variant}.csv", VARIANTS[variant](sample)))
    pd.testing.assert_frame_equal(comparable(outcome), comparable(base))
    if variant == "separator_only_rows":
        # counted and quarantined, not dropped: lines 3 and the last one
        last = len(sample.rows) + 3
        assert outcome.reasons == [(3, "empty row"), (last, "empty row")]
        assert outcome.rows_read == units(sample, len(sample.rows)) + 2
    else:
        assert outcome.quarantine == []
        assert outcome.rows_read == base.rows_read
    expected_warning = SAME_ROWS[variant]
    if expected_warning and kind != "population":  # population reports no warnings
        assert any(expected_warning in w for w in outcome.warnings), outcome.warnings


@pytest.mark.parametrize("kind", KINDS)
def test_missing_optional_column(tmp_path: Path, kind: str) -> None:
    sample = SAMPLES[kind]
    outcome = read(kind, write(tmp_path, "short.csv", without(sample, sample.optional).encode()))
    assert outcome.quarantine == []
    assert len(outcome.kept) == outcome.rows_read == units(sample, len(sample.rows))
    if kind == "income":  # the file without NBPERSMENFISC21: persons left empty
        assert outcome.kept["persons_fiscal"].isna().all()
        assert outcome.kept["median_income_eur"].tolist() == [24170, 23990, 22100]
        assert any("no column NBPERSMENFISC21" in w for w in outcome.warnings)
    if kind == "datacenters":
        assert outcome.kept["operator"].isna().all()


@pytest.mark.parametrize("kind", KINDS)
def test_separator_only_row_is_quarantined_with_its_fields(tmp_path: Path, kind: str) -> None:
    sample = SAMPLES[kind]
    outcome = read(kind, write(tmp_path, "gaps.csv", separator_rows(sample).encode()))
    entry = outcome.quarantine[0]
    assert entry["reason"] == "empty row"
    assert all(entry[h] == "" for h in sample.header if h in entry)


@pytest.mark.parametrize("kind", KINDS)
def test_huge_field_quarantines_its_row(tmp_path: Path, kind: str) -> None:
    sample = SAMPLES[kind]
    outcome = read(kind, write(tmp_path, "huge.csv", huge_field(sample).encode()))
    first = outcome.quarantine[0]
    assert first["line"] in (2, "2")
    assert first["reason"].startswith("field too long: a field on line 2 is longer than 131,072")
    assert len(first["raw_text"]) < 300  # an excerpt, not the 200,000 characters
    if kind == "fibre":
        # the commune lost its "Locaux Raccordables" line: it is quarantined on its other line
        assert outcome.reasons == [(2, "field too long"), (3, "commune 44109")]
        assert outcome.kept["code_insee"].tolist() == ["44143", "44184"]
        assert outcome.rows_read == 4  # 3 communes + the unreadable line
    else:
        assert outcome.reasons == [(2, "field too long")]
        assert len(outcome.kept) == len(sample.rows) - 1
        assert outcome.rows_read == len(sample.rows)


@pytest.mark.parametrize("kind", KINDS)
def test_huge_header_field_is_a_one_line_error(tmp_path: Path, kind: str) -> None:
    sample = SAMPLES[kind]
    header = [*sample.header[:-1], sample.header[-1] + "x" * HUGE]
    path = write(tmp_path, "huge_header.csv", text_of(header, sample.rows, sample.separator)
                 .encode())
    message = one_line_error(kind, path)
    assert "longer than 131,072 characters" in message
    assert "field larger than field limit" not in message


@pytest.mark.parametrize("kind", KINDS)
def test_empty_file(tmp_path: Path, kind: str) -> None:
    for content in (b"", b"\n\n", b"\xef\xbb\xbf\r\n"):
        path = write(tmp_path, "empty.csv", content)
        assert one_line_error(kind, path).endswith("the file is empty")


@pytest.mark.parametrize("kind", KINDS)
def test_header_only(tmp_path: Path, kind: str) -> None:
    sample = SAMPLES[kind]
    path = write(tmp_path, "header.csv", text_of(sample.header, [], sample.separator).encode())
    if sample.header_only_error:
        assert one_line_error(kind, path).endswith(sample.header_only_error)
    else:  # point registries: an empty registry is read as such
        outcome = read(kind, path)
        assert (outcome.rows_read, len(outcome.kept), outcome.quarantine) == (0, 0, [])


@pytest.mark.parametrize(("name", "content", "what", "todo"), [
    ("report.csv", PDF, "this is a PDF document", "as CSV UTF-8"),
    ("old.xls", XLS, "this is an old-format Excel workbook (.xls)", "save it as CSV UTF-8"),
    ("sheet.ods", None, "this is an OpenDocument spreadsheet", "save it as CSV UTF-8"),
    ("two.zip", None, "this is a zip archive holding several files", "give one CSV file"),
    ("image.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "this is a PNG image", "CSV file"),
    ("binary.csv", b"CODGEO\x00\x01\x02\x03" * 200, "this is a binary file", "UTF-8"),
    ("damaged.xlsx", None, "this is an Excel workbook that cannot be read", "CSV UTF-8"),
])
@pytest.mark.parametrize("kind", ["antennas", "datacenters", "cameras", "fibre", "income",
                                  "population"])
def test_not_text_is_refused_saying_what_it_is(
    tmp_path: Path, kind: str, name: str, content: bytes | None, what: str, todo: str,
) -> None:
    if name == "sheet.ods":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
            archive.writestr("content.xml", "<office:document-content/>")
        content = out.getvalue()
    elif name == "two.zip":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("a.csv", plain(SAMPLES[kind]))
            archive.writestr("b.csv", plain(SAMPLES[kind]))
        content = out.getvalue()
    elif name == "damaged.xlsx":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("xl/workbook.xml", "<not a workbook")
        content = out.getvalue()
    path = write(tmp_path, name, content)
    message = one_line_error(kind, path)
    assert f"{path}: {what}" in message
    assert todo in message


def test_workbook_numbers_and_dates_read_as_text(tmp_path: Path) -> None:
    """Cells typed by a spreadsheet: an integer-valued float, a code that lost its zero, a
    date, a boolean; rows of the sheet keep their numbers as lines."""
    import datetime as dt

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["nom", "lon", "lat", "annee", "code_insee"])
    sheet.append(["P1", -1.5536, 47.2184, dt.datetime(2012, 3, 1), 44109])
    sheet.append([])  # an empty sheet row: skipped, not a row read
    sheet.append(["P2", -1.5696, 47.1919, 2015.0, 1001])
    path = tmp_path / "cameras.xlsx"
    book.save(path)
    load = read_registry("cameras", path)
    assert load.rows["source_line"].tolist() == [2, 4]
    assert load.rows["installed_year"].tolist() == [2012, 2015]
    assert load.rows["code_insee"].tolist() == ["44109", "01001"]
    assert load.rows["x"].tolist() == [-1.5536, -1.5696]
    assert load.record.rows_read == 2


def test_zipped_shapefile_is_still_a_vector_file() -> None:
    from tests.conftest import FIXTURES

    load = read_registry("streetlights", FIXTURES / "infrastructure" / "streetlights_l93.zip")
    assert len(load.rows) > 0 and not any("inside the zip archive" in w for w in load.warnings)


def test_unclosed_quote_is_quarantined_not_lost(tmp_path: Path) -> None:
    """An unclosed quote swallows the lines after it until the field limit: the reader says
    which lines, and the rows after are read again."""
    body = "".join(f"P{i};LED;-1.55;47.2{i % 10}\n" for i in range(8000))
    text = 'nom;type;lon;lat\nP;"LED;-1.55;47.21\n' + body
    load = read_registry("cameras", write(tmp_path, "quote.csv", text.encode()))
    assert load.quarantine[0]["line"] == 2
    assert re.match(r"field too long: a field on lines 2-\d+ is longer than",
                    load.quarantine[0]["reason"])
    assert len(load.rows) > 0
    assert load.record.rows_read == len(load.rows) + len(load.quarantine)


# -- quarantine files ---------------------------------------------------------------------------


def test_quarantine_csv_neutralises_formulas(tmp_path: Path) -> None:
    path = tmp_path / "quarantine" / "cameras.csv"
    rows = [
        {"line": 2, "reason": "no coordinates", "nom": "=HYPERLINK(\"http://x\",\"clic\")",
         "type": "+cmd|' /C calc'!A0"},
        {"line": 3, "reason": "no coordinates", "nom": "@SUM(A1:A9)", "type": "-2+3",
         "lon": "-1.5536", "=evil": "\tTAB", "note": "\rCR"},
        {"line": 4, "reason": "exact duplicate", "nom": "P4 = P3", "type": "LED", "lon": -1.5},
    ]
    write_quarantine_csv(path, rows)
    with path.open(encoding="utf-8", newline="") as handle:
        got = list(csv.reader(handle))
    assert got[0] == ["line", "reason", "nom", "type", "lon", "'=evil", "note"]
    assert got[1] == ["2", "no coordinates", "'=HYPERLINK(\"http://x\",\"clic\")",
                      "'+cmd|' /C calc'!A0", "", "", ""]
    assert got[2] == ["3", "no coordinates", "'@SUM(A1:A9)", "'-2+3", "-1.5536", "'\tTAB",
                      "'\rCR"]
    # text that does not start a formula, and plain numbers, are written as they are
    assert got[3] == ["4", "exact duplicate", "P4 = P3", "LED", "-1.5", "", ""]


def test_quarantine_csv_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "q" / "empty.csv"
    write_quarantine_csv(path, [])
    assert path.read_bytes() == b"reason\r\n"


# -- validate ------------------------------------------------------------------------------------


def test_validate_groups_reasons_with_first_rows(tmp_path: Path) -> None:
    from territory.validate import format_report, validate_file

    empty = ";;;;\n" * 12
    text = ("nom;exploitant;lon;lat;capacity_mw\n"
            "=HYPERLINK(\"x\");Orange;-1.5536;47.2184;12\n"  # line 2, kept
            + empty  # lines 3-14
            + "Au large;;-3.0;46.5;\n"  # line 15, at sea
            + "x" * HUGE + ";;-1.55;47.2;\n")  # line 16
    report = validate_file(write(tmp_path, "dc.csv", text.encode()), "datacenters")
    assert report["rows_read"] == 15
    assert report["rows_kept"] == 1 and report["rows_quarantined"] == 14
    assert report["reasons"] == [
        {"reason": "empty row", "count": 12, "first_rows": list(range(3, 13))},
        {"reason": "field too long", "count": 1, "first_rows": [16]},
        {"reason": "outside every French commune", "count": 1, "first_rows": [15]},
    ]
    lines = format_report(report).splitlines()
    assert "          12  empty row (rows 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, …)" in lines
    assert "           1  outside every French commune (rows 15)" in lines


def test_validate_names_unknown_codes(tmp_path: Path) -> None:
    from territory.validate import format_report, validate_file

    sample = SAMPLES["income"]
    rows = [*sample.rows, ["99999", "Nulle part", "1", "1", "20000", "10"]]
    path = write(tmp_path, "income.csv", text_of(sample.header, rows, ";").encode())
    report = validate_file(path, "income")
    assert report["reasons"] == [
        {"reason": "no current commune has this code", "count": 1, "first_rows": ["99999"]}]
    assert "no current commune has this code (codes 99999)" in format_report(report)
    assert report["rows_read"] == 4 and report["rows_kept"] == 3


def test_income_secret_values_survive_every_variant(tmp_path: Path) -> None:
    """The secret 's' of Saint-Nazaire's poverty rate stays NaN, not 0, through a workbook."""
    outcome = read("income", write(tmp_path, "w.xlsx", workbook(SAMPLES["income"])))
    rates = outcome.kept["poverty_rate_pct"].tolist()
    assert rates[:2] == [17.5, 11.0] and math.isnan(rates[2])
