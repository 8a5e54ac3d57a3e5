"""Registry CSV files as DuckDB tables of text, for readers that clean them in SQL.

:func:`open_rows` puts a file's data rows into the DuckDB table ``rows`` of a private in-memory
connection: ``line`` (the file line the row is on; the header is line 1 unless title lines sit
above it), ``nfields`` (how many fields the row has, NULL when more than the table holds) and
``c1`` … ``cN`` (VARCHAR, one per header column, empty fields as ``''``). Readers then parse
numbers, dates and codes with ``TRY_CAST`` and friends, so no Python runs per row.

Two ways in, one table out:

- a plain UTF-8 CSV (the common case: national registries) is read by DuckDB's ``read_csv``
  directly (every column as text, the separator sniffed here and given explicitly, quotes
  ``"``, rows padded with NULL), with no Python pass over its rows. Its rows are numbered in
  file order (DuckDB keeps insertion order: ``rowid``), which are its lines once the number of
  rows is checked against the number of lines;
- anything else (gzip, zip, an Excel workbook, UTF-16, Windows-1252 text, blank lines, quoted
  line breaks, fields longer than :data:`~territory.registries._common.FIELD_LIMIT`) is split
  by :func:`~territory.registries._common.read_csv_table`, which keeps its line numbers and
  quarantines what no reader can use (empty rows, overlong fields), and the rows it kept are
  loaded into the same table.

A reader of large files may first try :func:`open_typed_rows`: a plain file without quotes,
whose coordinate columns ``read_csv`` parses as numbers while reading, and which the reader
parses straight from ``read_csv`` without a table of text; it gives up (and calls
:func:`open_rows`) on any row that path cannot read exactly as this one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from territory.i18n import Message, _
from territory.registries._common import (
    _GZIP,
    _NOT_TEXT,
    _ZIP,
    FIELD_LIMIT,
    _header_names,
    _read_bytes,
    read_csv_table,
    sniff_separator,
)

#: bytes of the file looked at to find the header line
_HEAD_BYTES = 1 << 20


@dataclass
class Rows:
    """A registry file's rows in DuckDB (see the module docstring).

    ``rejected`` are the quarantine entries of rows no reader can use (empty rows, overlong
    fields): they count as rows read. ``count`` is the number of rows in ``rows``.
    """

    con: duckdb.DuckDBPyConnection
    header: list[str]
    separator: str
    encoding: str
    count: int
    rejected: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: how the rows were split: ``duckdb`` (read_csv) or ``python`` (csv module)
    splitter: str = "duckdb"
    #: fields of rows longer than the table (Python splitter), by line
    overflow: dict[int, list[str]] = field(default_factory=dict)
    _path: Path | None = None
    _lines: list[str] | None = None

    def column(self, index: int) -> str:
        """The SQL name of header column ``index`` (0-based) in ``rows``."""
        return f"c{index + 1}"

    def fields(self, lines: list[int]) -> dict[int, list[str]]:
        """The fields of the rows on ``lines``, as the csv module splits them (rows with more
        fields than the table holds are split again from the file's text)."""
        if not lines:
            return {}
        import numpy as np

        self.con.register("_wanted", {"line": np.asarray(lines, dtype=np.int64)})
        try:
            return dict(self._rows("SEMI JOIN _wanted USING (line)"))
        finally:
            self.con.unregister("_wanted")

    def all_rows(self) -> list[tuple[int, list[str]]]:
        """Every row as ``(line, fields)``, in file order, as :class:`CsvTable` has them: for
        readers that still check their rows in Python (small per-commune files)."""
        return self._rows("ORDER BY line")

    def _rows(self, clause: str) -> list[tuple[int, list[str]]]:
        names = [c[0] for c in self.con.execute("SELECT * FROM rows LIMIT 0").description]
        columns = ", ".join(n for n in names if n not in ("line", "nfields"))
        width = len(self.header)
        out = []
        for line, nfields, *cells in self.con.execute(
                f"SELECT line, nfields, {columns} FROM rows {clause}").fetchall():
            if nfields is None:
                row = self.overflow.get(line) or self._split_again(line)
            else:
                row = [c if c is not None else "" for c in cells[:nfields]]
            if len(row) > width and not any(c.strip() for c in row[width:]):
                row = row[:width]
            out.append((line, row))
        return out

    def _split_again(self, line: int) -> list[str]:
        if self._lines is None:
            assert self._path is not None
            self._lines = self._path.read_text(encoding="utf-8").splitlines()
        row = next(csv.reader(io.StringIO(self._lines[line - 1]), delimiter=self.separator), [])
        width = len(self.header)
        if len(row) > width and not any(c.strip() for c in row[width:]):
            row = row[:width]
        return row


def _plain_text(raw: bytes, encoding: str | None) -> str | None:
    """The text of a plain UTF-8 file DuckDB can read as it is, else ``None``."""
    if encoding and encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return None
    if raw.startswith((_GZIP, _ZIP, b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw[:4096]:
        return None
    if any(raw.startswith(magic) for magic, _, _ in _NOT_TEXT):
        return None
    if b"\r" in raw and raw.count(b"\r") != raw.count(b"\r\n"):
        return None  # old Mac line ends
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _header_line(
    path: Path, lines: list[str], header_contains: tuple[str, ...], max_title_lines: int,
) -> int | None:
    """Index of the header line (title lines above it skipped), or ``None`` when not found."""
    if not header_contains:
        return 0
    import re

    wanted = {h.lower() for h in header_contains}
    for i, line in enumerate(lines[: max_title_lines + 1]):
        cells = {c.strip().strip('"').lower() for c in re.split(r"[;,\t|]", line[:10_000])}
        if cells & wanted:
            return i
    return None


def open_rows(
    path: Path, *, encoding: str | None = None, separator: str | None = None,
    header_contains: tuple[str, ...] = (), max_title_lines: int = 10,
) -> Rows:
    """Read a registry CSV into a DuckDB table of text (see the module docstring).

    Raises :class:`InputError` as :func:`read_csv_table` does (the file is not text, has no
    header line, …).
    """
    raw = _read_bytes(path)
    text = _plain_text(raw, encoding)
    if text is not None:
        fast = _read_with_duckdb(path, raw, text, separator, header_contains, max_title_lines)
        if fast is not None:
            return fast
    return _read_with_python(path, encoding, separator, header_contains, max_title_lines)


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The one row of an aggregate query."""
    row = con.execute(sql).fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    return row


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con


def _read_with_duckdb(
    path: Path, raw: bytes, text: str, separator: str | None,
    header_contains: tuple[str, ...], max_title_lines: int,
) -> Rows | None:
    """DuckDB's read_csv on a plain UTF-8 file; ``None`` when the rows are not one per line
    (blank lines, quoted line breaks) or something the csv module treats apart (overlong
    fields, a header it cannot split): the Python splitter then decides."""
    text = text.removeprefix("\ufeff")
    head = text[:_HEAD_BYTES].splitlines()
    start = _header_line(path, head, header_contains, max_title_lines)
    if start is None or start >= len(head) or len(head[start]) > FIELD_LIMIT:
        return None
    sep = sniff_separator(head[start][:10_000], separator)
    if len(sep) != 1 or sep in ('"', "\n", "\r"):
        return None
    try:
        cells = next(csv.reader([head[start]], delimiter=sep))
    except (csv.Error, StopIteration):
        return None
    if '"' in head[start] and head[start].count('"') % 2:
        return None  # a quoted header field spanning lines
    width = max(len(cells), 1)
    lines_after = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1) - start - 1
    if lines_after <= 0:
        return None
    con = _connect()
    declared = ", ".join(f"'c{i + 1}': 'VARCHAR'" for i in range(width + 1))
    last = f"c{width + 1}"
    padded = " + ".join(f"(c{i + 1} IS NULL)::INTEGER" for i in range(width))
    try:  # a line longer than the field limit is an error here: the Python splitter decides
        con.execute(
            f"""CREATE TABLE _read AS SELECT * FROM read_csv(?, delim = ?, quote = '"',
                escape = '"', header = false, skip = ?, all_varchar = true,
                auto_detect = false, null_padding = true, strict_mode = false,
                nullstr = '\x01\x02', comment = '', new_line = ?,
                max_line_size = {FIELD_LIMIT}, columns = {{{declared}}})""",
            [str(path), sep, start + 1, "\\r\\n" if b"\r\n" in raw else "\\n"],
        )
    except duckdb.Error:
        con.close()
        return None
    (count,) = _one(con, "SELECT count(*) FROM _read")
    if count != lines_after:
        con.close()
        return None
    header, warnings = _names(con, cells, width)
    con.execute("CREATE TABLE _skipped (line BIGINT)")
    con.execute(
        f"""CREATE VIEW rows AS
            SELECT rowid + {start + 2} AS line,
                   CASE WHEN {last} IS NOT NULL THEN NULL ELSE {width} - ({padded}) END
                       AS nfields,
                   * EXCLUDE ({last})
            FROM _read""")
    rejected = _empty_rows(con, header, width)
    if rejected or _one(con, "SELECT count(*) FROM _skipped")[0]:
        con.execute(
            f"""CREATE OR REPLACE VIEW rows AS
                SELECT * FROM (
                    SELECT rowid + {start + 2} AS line,
                           CASE WHEN {last} IS NOT NULL THEN NULL
                                ELSE {width} - ({padded}) END AS nfields,
                           * EXCLUDE ({last})
                    FROM _read) ANTI JOIN _skipped USING (line)""")
        count = _one(con, "SELECT count(*) FROM rows")[0]
    return Rows(con, header, sep, "utf-8", count, rejected, warnings, "duckdb", _path=path)


def _names(con: duckdb.DuckDBPyConnection, cells: list[str], width: int) -> tuple[list[str], list[str]]:
    """Header names as :func:`read_csv_table` gives them (trailing unnamed columns no row
    fills dropped, repeated names suffixed)."""
    used = 0
    if cells and not cells[-1].strip():
        filled = _one(con, "SELECT " + ", ".join(
            f"count(*) FILTER (WHERE trim(c{i + 1}) <> '')" for i in range(width)) + " FROM _read")
        used = max((i + 1 for i, n in enumerate(filled) if n), default=0)
    fake_row = [(0, ["x"] * used)] if used else []
    return _header_names(cells, fake_row)


def _empty_rows(con: duckdb.DuckDBPyConnection, header: list[str], width: int) -> list[dict[str, Any]]:
    """Rows made only of separators are set aside (``empty row``); a line of blanks alone is
    not a row (the csv module skips it too)."""
    from territory.registries._common import REASON_EMPTY_ROW, _raw_names

    blank = " AND ".join(f"trim(coalesce(c{i + 1}, '')) = ''" for i in range(width))
    rejected = []
    blanks = con.execute(
        f"SELECT * FROM rows WHERE nfields IS NOT NULL AND {blank} ORDER BY line").fetchall()
    for line, nfields, *cells in blanks:
        con.execute("INSERT INTO _skipped VALUES (?)", [line])
        if nfields <= 1:
            continue
        raw = {(header[i] if i < len(header) and header[i] else f"column_{i + 1}"): c or ""
               for i, c in enumerate(cells[:nfields])}
        rejected.append({"line": line, "reason": _(REASON_EMPTY_ROW), **_raw_names(raw)})
    return rejected


def _read_with_python(
    path: Path, encoding: str | None, separator: str | None,
    header_contains: tuple[str, ...], max_title_lines: int,
) -> Rows:
    table = read_csv_table(path, encoding=encoding, separator=separator,
                           header_contains=header_contains, max_title_lines=max_title_lines)
    width = max(len(table.header), 1)
    con = _connect()
    columns = ", ".join(f"c{i + 1} VARCHAR" for i in range(width))
    con.execute(f"CREATE TABLE rows (line BIGINT, nfields INTEGER, {columns})")
    if table.rows:
        import pyarrow as pa

        data: dict[str, list[Any]] = {"line": [], "nfields": []}
        for i in range(width):
            data[f"c{i + 1}"] = []
        for line, row in table.rows:
            data["line"].append(line)
            data["nfields"].append(len(row) if len(row) <= width else None)
            for i in range(width):
                data[f"c{i + 1}"].append(row[i] if i < len(row) else None)
        arrow = pa.table(data)
        con.register("_arrow", arrow)
        con.execute("INSERT INTO rows SELECT * FROM _arrow")
        con.unregister("_arrow")
    overflow = {line: row for line, row in table.rows if len(row) > width}
    return Rows(con, table.header, table.separator, table.decoded.encoding, len(table.rows),
                list(table.rejected), list(table.warnings), "python", overflow)


# -- typed reading: the fast path of large, clean files ----------------------------------------


@dataclass
class TypedRows(Rows):
    """A plain registry CSV that DuckDB's ``read_csv`` reads with its coordinate columns
    parsed as numbers (see :func:`open_typed_rows`): no table ``rows`` is made; ``source`` is
    the ``read_csv`` call (its parameters ``source_parameters``), whose columns ``c1`` …
    ``cN`` are ``DOUBLE`` for the coordinates and text for the others, the file's rows in
    order, ``count`` of them from line ``first_line`` on, one per line. The reader parses
    straight from it, and the fields of a row, as text, are cut from the file's bytes (the
    file has no quotes)."""

    source: str = ""
    source_parameters: list[Any] = field(default_factory=list)
    first_line: int = 2
    _raw: bytes = b""
    _ends: Any = None

    def fields(self, lines: list[int]) -> dict[int, list[str]]:
        if not lines:
            return {}
        import numpy as np

        if self._ends is None:  # offset of every line end, once
            self._ends = np.flatnonzero(np.frombuffer(self._raw, dtype=np.uint8) == 10)
        out = {}
        for line in lines:
            start = int(self._ends[line - 2]) + 1 if line >= 2 else 0
            end = int(self._ends[line - 1]) if line - 1 < len(self._ends) else len(self._raw)
            text = self._raw[start:end].decode("utf-8").removesuffix("\r")
            out[line] = text.split(self.separator)
        return out

    def sha256(self) -> str:
        """SHA-256 of the file, from the bytes read (the file is not read again)."""
        import hashlib

        return hashlib.sha256(self._raw).hexdigest()


def open_typed_rows(
    path: Path, *, numbers: Callable[[list[str]], list[int]], encoding: str | None = None,
    separator: str | None = None, header_contains: tuple[str, ...] = (),
    max_title_lines: int = 10,
) -> TypedRows | None:
    """A plain registry CSV to be read by DuckDB with the columns ``numbers(header)`` names
    parsed as numbers (``DOUBLE``, decimal commas when the first row has one) while the file
    is read, instead of a table of text cast afterwards; ``None`` when the file is not one
    this path can read exactly as :func:`open_rows` would: not plain UTF-8, any ``"`` in it
    (quoting), a header ending with an unnamed column, a first row whose number of fields
    differs from the header's. The reader must also give up (and use :func:`open_rows`) when
    ``read_csv`` fails (``strict_mode``: a row with another number of fields than the header,
    a value it cannot parse as a number: text, the other decimal mark) or reads another
    number of rows than ``count`` (blank lines).

    DuckDB's number parser is the one ``TRY_CAST`` uses: with the decimal comma given, it
    accepts exactly the texts ``TRY_CAST(replace(text, ',', '.') AS DOUBLE)`` accepts, with
    the same values (an empty field is NULL).
    """
    raw = _read_bytes(path)
    if b'"' in raw:
        return None
    text = _plain_text(raw, encoding)
    if text is None:
        return None
    text = text.removeprefix("\ufeff")
    head = text[:_HEAD_BYTES].splitlines()
    start = _header_line(path, head, header_contains, max_title_lines)
    if start is None or start + 1 >= len(head) or len(head[start]) > FIELD_LIMIT:
        return None
    sep = sniff_separator(head[start][:10_000], separator)
    if len(sep) != 1 or sep in ('"', "\n", "\r"):
        return None
    cells = head[start].split(sep)
    if not cells[-1].strip():
        return None
    header, warnings = _header_names(cells, [])
    try:
        typed = numbers(header)
    except Exception:  # noqa: BLE001 - the general path reports what is wrong with the header
        return None
    first = head[start + 1].split(sep)
    if not typed or len(first) != len(cells) or any(i >= len(cells) for i in typed):
        return None
    decimal = "," if any("," in first[i] for i in typed) else "."
    if decimal == sep:
        return None
    lines_after = raw.count(b"\n") + (0 if raw.endswith(b"\n") else 1) - start - 1
    declared = ", ".join(f"'c{i + 1}': '{'DOUBLE' if i in typed else 'VARCHAR'}'"
                         for i in range(len(cells)))
    # no new_line: with strict_mode, new_line = '\r\n' reads no row at all (DuckDB 1.5); the
    # line ends are found by read_csv, and the reader checks the number of rows
    source = f"""read_csv(?, delim = ?, quote = '"', escape = '"', header = false, skip = ?,
        auto_detect = false, strict_mode = true, null_padding = false, nullstr = '\x01\x02',
        comment = '', decimal_separator = ?, max_line_size = {FIELD_LIMIT},
        columns = {{{declared}}})"""
    return TypedRows(_connect(), header, sep, "utf-8", lines_after, [], warnings,
                     "duckdb-typed", _path=path, source=source,
                     source_parameters=[str(path), sep, start + 1, decimal],
                     first_line=start + 2, _raw=raw)


# -- names, extents and CRS, shared by the readers ------------------------------------------

#: plausible extents of France (x min, x max, y min, y max) per CRS; points outside are
#: quarantined
FRANCE_EXTENTS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "EPSG:4326": (
        (-5.8, 10.0, 41.0, 51.6),  # metropolitan France and Corsica
        (-63.2, -60.7, 14.3, 18.2),  # Guadeloupe, Martinique, Saint-Martin, Saint-Barthélemy
        (-54.7, -51.5, 2.0, 6.0),  # Guyane
        (55.1, 56.0, -21.5, -20.8),  # La Réunion
        (44.9, 45.4, -13.1, -12.5),  # Mayotte
        (-56.6, -56.0, 46.7, 47.2),  # Saint-Pierre-et-Miquelon
    ),
    # Lambert-93 is the metropolitan projection (Corsica included)
    "EPSG:2154": ((0.0, 1_300_000.0, 6_000_000.0, 7_200_000.0),),
}


def fold_name(text: str) -> str:
    """A column name folded to compare it: lower case, accents stripped, spaces, dashes, dots
    and apostrophes as ``_``."""
    import re
    import unicodedata

    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[\s\-.'’]+", "_", plain.strip().strip('"').lower()).strip("_")


def normalise_crs(path: Path, declared: Any, where: str) -> tuple[str, Any]:
    """``(label, pyproj CRS or None)`` of a declared CRS (an EPSG code, ``EPSG:n``, a URN, a
    name pyproj knows, ``Lambert-93``, ``WGS84``): ``EPSG:4326`` and ``EPSG:2154`` need no
    pyproj object, any other CRS comes with one so the points can be reprojected."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    text = str(declared).strip()
    folded = fold_name(text).replace("_", "")
    if "crs84" in folded or folded in {"wgs84", "4326", "epsg4326", "lonlat"}:
        return "EPSG:4326", None
    if folded in {"lambert93", "l93", "rgf93", "rgf93lambert93", "2154", "epsg2154"}:
        return "EPSG:2154", None
    try:
        crs = CRS.from_user_input(int(text) if text.isdigit() else text)
    except CRSError:
        msg = _("{path}: unknown CRS {crs!r} in {where}; use EPSG:2154 (Lambert-93) or "
                "EPSG:4326 (WGS84)").format(path=path, crs=text, where=_(where))
        from territory.errors import InputError

        raise InputError(msg) from None
    if crs.to_epsg() == 4326 or crs.equals(CRS("EPSG:4326"), ignore_axis_order=True):
        return "EPSG:4326", None
    if crs.to_epsg() == 2154:
        return "EPSG:2154", None
    label = ":".join(crs.to_authority()) if crs.to_authority() else crs.name
    return label, crs


def read_all_rows(
    path: Path, options: dict[str, Any], warnings: list[str]
) -> tuple[list[str], list[tuple[int, list[str]]], str, Rows]:
    """Header, every data row with its line, and the separator of a registry CSV read with the
    ``encoding`` and ``separator`` of ``options`` (detected when absent); the reader's warnings
    (and the encoding it guessed) are added to ``warnings``. The returned :class:`Rows` has its
    connection closed: only its ``rejected`` rows and metadata are still to be read."""
    table = open_rows(path, encoding=options.get("encoding"), separator=options.get("separator"))
    header, rows, separator = table.header, table.all_rows(), table.separator
    table.con.close()
    warnings += table.warnings
    if table.encoding != "utf-8" and not options.get("encoding"):
        warnings.append(Message("encoding not declared: decoded as {encoding}",
                                encoding=table.encoding))
    return header, rows, separator, table
