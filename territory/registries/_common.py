"""What every registry reader shares: decoding, separators, numbers, CRS inference, the result.

Readers never drop a row silently: a row is kept or quarantined with a reason, and
``rows_read == rows_kept + rows_quarantined`` (checked by :func:`read_registry`). A file that
cannot be read at all raises :class:`~territory.errors.InputError` with one line naming the file
and what is wrong.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import importlib
import io
import math
import re
import warnings as pywarnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from territory.errors import InputError
from territory.i18n import N_, Message, _
from territory.registries.kinds import POINT_KINDS  # noqa: F401 - re-exported
from territory.sources._files import InputRecord, sha256_of, with_fetch_provenance

if TYPE_CHECKING:
    # pandas (and the pyarrow it loads) is imported when registry rows are first handled: a run
    # without registries computes without it (see territory.database.sql_literal)
    import pandas as pd

WGS84 = "EPSG:4326"
LAMBERT93 = "EPSG:2154"

#: an INSEE commune code: five digits, or 2A/2B and three digits (Corsica)
INSEE_CODE = re.compile(r"^(\d{5}|2[AB]\d{3})$")

_MISSING = {"", "#n/a", "n/a", "na", "nan", "null", "none", "-", "nd", "n.d."}


class RegistryLoad:
    """The result of reading one registry file.

    Attributes
    ----------
    kind
        One of :data:`KINDS`.
    rows
        Rows kept, as a pandas DataFrame. Point kinds have ``source_line`` (line or feature
        number in the file), ``x``, ``y`` (floats, in ``crs``) and their attributes;
        per-commune kinds have ``code_insee`` and their values. Readers that clean their rows
        in DuckDB hand over an Arrow table (``table``), turned into a DataFrame only when
        ``rows`` is asked for: the run inserts the Arrow table as it is.
    crs
        CRS of ``x`` / ``y`` (``EPSG:4326`` or ``EPSG:2154``); ``None`` for per-commune kinds.
    quarantine
        Rows set aside: each a dict with ``line``, ``reason`` and the raw fields.
    record
        Provenance (path, sha256, rows read / kept / quarantined).
    warnings
        What was inferred rather than declared (encoding, separator, CRS, swapped axes).
    """

    def __init__(
        self, kind: str, rows: Any, crs: str | None,
        quarantine: list[dict[str, Any]] | None = None, record: InputRecord | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        self.kind = kind
        self.table = rows
        self.crs = crs
        self.quarantine = quarantine if quarantine is not None else []
        self.record = record
        self.warnings = warnings if warnings is not None else []

    @property
    def rows(self) -> pd.DataFrame:
        """The rows kept as a DataFrame (converted from Arrow once, when first asked for)."""
        import pandas as pd

        if not isinstance(self.table, pd.DataFrame):
            import pyarrow as pa

            arrow = self.table
            frame = arrow.to_pandas()
            for name, kind in zip(arrow.column_names, arrow.schema.types, strict=True):
                if pa.types.is_integer(kind):
                    frame[name] = frame[name].astype("Int64" if name != "source_line" else "int64")
                elif not (pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
                    frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
            self.table = frame
        return self.table

    @rows.setter
    def rows(self, frame: pd.DataFrame) -> None:
        """Replace the rows kept (per-commune rows re-keyed to current codes, for instance)."""
        self.table = frame

    @property
    def row_count(self) -> int:
        return int(self.table.num_rows if hasattr(self.table, "num_rows") else len(self.table))


@dataclass(frozen=True)
class DecodedText:
    """A text file decoded with the encoding that fits.

    ``notes`` say how the text was reached (a gzip or zip wrapper, an Excel workbook's first
    sheet); ``separator`` is the field separator when the text was written here (a workbook
    turned into CSV text), so no sniffing is needed.
    """

    text: str
    encoding: str
    notes: tuple[str, ...] = ()
    separator: str | None = None


#: what a file is, told by its first bytes, when it is not text: (magic, what, what to do)
_NOT_TEXT = (
    (b"%PDF", N_("a PDF document"),
     N_("export the table from the software that made the PDF as CSV UTF-8")),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
     N_("an old-format Excel workbook (.xls) or another Microsoft Office file"),
     N_("open it in a spreadsheet and save it as CSV UTF-8 (or as .xlsx)")),
    (b"SQLite format 3\x00", N_("an SQLite database (a GeoPackage?)"),
     N_("export the table as CSV UTF-8 (or give it where a vector file is accepted)")),
    (b"PAR1", N_("a Parquet file"), N_("export it as CSV UTF-8")),
    (b"\x89PNG", N_("a PNG image"), N_("give the CSV file itself")),
    (b"\xff\xd8\xff", N_("a JPEG image"), N_("give the CSV file itself")),
    (b"GIF8", N_("a GIF image"), N_("give the CSV file itself")),
    (b"7z\xbc\xaf\x27\x1c", N_("a 7-Zip archive"), N_("extract it and give the CSV inside")),
    (b"Rar!", N_("a RAR archive"), N_("extract it and give the CSV inside")),
)
_GZIP = b"\x1f\x8b"
_ZIP = b"PK\x03\x04"
#: members of a zip archive that can be the text input
_TEXT_MEMBERS = (".csv", ".txt", ".tsv", ".json", ".geojson")
#: the field separator of a workbook's sheet written as CSV text
_SHEET_SEPARATOR = ";"


class MissingHeaderError(InputError):
    """A CSV file without a header line: none at all (``searched`` empty), or none holding any
    of the names ``searched`` in its first lines."""

    def __init__(self, message: str, searched: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.searched = searched


def _refuse(path: Path, what: str, todo: str) -> InputError:
    """``what`` and ``todo``: messages (translated here, looked up as they are)."""
    return InputError(_("{path}: this is {what}, not CSV text: {todo}").format(
        path=path, what=_(what), todo=_(todo)))


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except IsADirectoryError:
        msg = _("{path}: is a folder, not a file (give the CSV file)").format(path=path)
        raise InputError(msg) from None
    except OSError as error:
        msg = _("{path}: cannot read the file ({error})").format(path=path,
                                                             error=error.strerror or error)
        raise InputError(msg) from error


def _gunzip(path: Path, raw: bytes) -> bytes:
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        msg = _("{path}: a damaged gzip file ({error}): compress it again or unzip it").format(
            path=path, error=type(error).__name__)
        raise InputError(msg) from None


def _unzip(path: Path, raw: bytes) -> tuple[str, bytes] | None:
    """The text member of a zip archive and its bytes, or ``None`` for an Excel workbook."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile:
        raise _refuse(path, _("a damaged zip archive"), _("zip the CSV file again")) from None
    with archive:
        names = [n for n in archive.namelist()
                 if not n.endswith("/") and not n.startswith("__MACOSX/")]
        if "xl/workbook.xml" in names:
            return None
        if "mimetype" in names and b"opendocument.spreadsheet" in archive.read("mimetype"):
            raise _refuse(path, _("an OpenDocument spreadsheet (.ods)"),
                          _("open it and save it as CSV UTF-8 (or as .xlsx)"))
        if "word/document.xml" in names:
            raise _refuse(path, _("a Word document"), _("give the table as CSV UTF-8"))
        texts = [n for n in names if n.lower().endswith(_TEXT_MEMBERS)]
        shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        if not texts:
            raise _refuse(path, _("a zip archive without a CSV file (it holds {names})").format(
                names=shown or _("nothing")), _("extract the table and give it as CSV UTF-8"))
        if len(texts) > 1:
            raise _refuse(path, _("a zip archive holding several files ({names})").format(
                names=shown), _("extract it and give one CSV file"))
        try:
            return texts[0], archive.read(texts[0])
        except (zipfile.BadZipFile, OSError, zlib.error, RuntimeError) as error:
            what = _("a zip archive whose {member} cannot be extracted ({error})").format(
                member=texts[0], error=type(error).__name__)
            raise _refuse(path, what, _("extract it and give the CSV file itself")) from None


def _cell_text(value: Any) -> str:
    """A workbook cell as the text a CSV export would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _workbook(path: Path, raw: bytes, notes: list[str]) -> DecodedText:
    """The first sheet of an Excel workbook as CSV text (one line per sheet row, so line
    numbers are the sheet's row numbers)."""
    import openpyxl  # only needed for workbooks

    out = io.StringIO()
    writer = csv.writer(out, delimiter=_SHEET_SEPARATOR, lineterminator="\n")
    try:
        with pywarnings.catch_warnings():
            pywarnings.simplefilter("ignore")  # style warnings of workbooks made by other tools
            book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
            try:
                sheet = book.worksheets[0]
                title, count = sheet.title, len(book.sheetnames)
                rows = []
                for row in sheet.iter_rows(values_only=True):
                    cells = [_cell_text(v) for v in row]
                    while cells and not cells[-1].strip():
                        cells.pop()
                    rows.append(cells)
            finally:
                book.close()
    except Exception as error:  # noqa: BLE001 - openpyxl raises many kinds on damaged files
        what = _("an Excel workbook that cannot be read ({error})").format(
            error=type(error).__name__)
        raise _refuse(path, what, _("open it and save it as CSV UTF-8")) from None
    width = max(map(len, rows), default=0)  # a sheet has no "missing separator": pad rows
    for cells in rows:
        if cells:
            writer.writerow(cells + [""] * (width - len(cells)))
        else:
            out.write("\n")  # an empty sheet row: a blank line, not a data row
    text = out.getvalue()
    if not text.strip():
        msg = _("{path}: the first sheet ({title!r}) of this Excel workbook is empty").format(
            path=path, title=title)
        raise InputError(msg)
    notes.append(
        Message("read the first sheet {title!r} of an Excel workbook ({count} other sheet(s) "
                "ignored)", title=title, count=count - 1) if count > 1
        else Message("read the first sheet {title!r} of an Excel workbook", title=title))
    return DecodedText(text, "utf-8", tuple(notes), _SHEET_SEPARATOR)


def _utf16(raw: bytes) -> str | None:
    """The UTF-16 codec of text with a BOM, or of BOM-less text whose every other byte is NUL."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    sample = raw[:4096]
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    evens, odds = sample[0::2].count(0), sample[1::2].count(0)
    if odds > 0.4 * (len(sample) // 2) and evens <= odds // 10:
        return "utf-16-le"
    if evens > 0.4 * (len(sample) // 2) and odds <= evens // 10:
        return "utf-16-be"
    return None


def _decode_declared(path: Path, raw: bytes, encoding: str, notes: list[str]) -> DecodedText:
    """Decode ``raw`` with the encoding the user declared (a leading BOM dropped)."""
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as error:
        reason = error.reason if isinstance(error, UnicodeDecodeError) else _("unknown encoding")
        msg = _("{path}: cannot decode the file as {encoding} ({reason}): check the encoding "
                "option").format(path=path, encoding=encoding, reason=reason)
        raise InputError(msg) from None
    return DecodedText(text.removeprefix("\ufeff"), encoding, tuple(notes))


def decode_text(path: Path, encoding: str | None = None) -> DecodedText:
    """Open any text input: plain, gzip or zip (one CSV inside), or an Excel workbook's first
    sheet; decode it as UTF-8 (BOM allowed), UTF-16 (BOM or NUL pattern), else Windows-1252,
    unless ``encoding`` is given.

    Raises :class:`InputError` naming the file, what it is and what to do when it is not text
    (PDF, old ``.xls``, a database, an image, an archive without a CSV) or is empty.
    """
    raw = _read_bytes(path)
    notes: list[str] = []
    for _attempt in range(3):  # a zip in a gzip is the most nesting worth undoing
        if raw.startswith(_GZIP):
            raw = _gunzip(path, raw)
            notes.append(N_("gzip-compressed"))
        elif raw.startswith(_ZIP):
            member = _unzip(path, raw)
            if member is None:
                return _workbook(path, raw, notes)
            notes.append(Message("read {member} inside the zip archive", member=member[0]))
            raw = member[1]
        else:
            break
    for magic, what, todo in _NOT_TEXT:
        if raw.startswith(magic):
            raise _refuse(path, what, todo)
    if not raw.strip():
        msg = _("{path}: the file is empty").format(path=path)
        raise InputError(msg)
    if encoding:
        return _decode_declared(path, raw, encoding, notes)
    candidates: tuple[str, ...] = ("utf-8-sig", "cp1252", "latin-1")
    wide = _utf16(raw)
    if wide:
        candidates = (wide,)
    elif b"\x00" in raw[:4096]:
        raise _refuse(path, _("a binary file (it holds NUL bytes)"),
                      _("give a CSV file saved as UTF-8"))
    for candidate in candidates:
        try:
            text = raw.decode(candidate).removeprefix("\ufeff")
        except UnicodeDecodeError:
            continue
        if not text.strip():
            msg = _("{path}: the file is empty").format(path=path)
            raise InputError(msg)
        name = {"utf-8-sig": "utf-8", "utf-16-le": "utf-16", "utf-16-be": "utf-16"}.get(
            candidate, candidate)
        if name == "utf-16":
            notes.append(N_("UTF-16 text"))
        return DecodedText(text, name, tuple(notes))
    msg = _("{path}: cannot decode the file (tried {encodings}): give it as UTF-8").format(
        path=path, encodings=", ".join(candidates))
    raise InputError(msg)


def sniff_separator(header_line: str, declared: str | None = None) -> str:
    """The field separator of a CSV header line: the declared one, else the most frequent of
    ``;``, ``,``, tab and ``|`` outside quotes."""
    if declared:
        return declared
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {sep: unquoted.count(sep) for sep in (";", ",", "\t", "|")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","


#: the longest field read (the csv module's default limit); a longer one is quarantined
FIELD_LIMIT = 131_072
REASON_EMPTY_ROW = N_("empty row")
REASON_FIELD_TOO_LONG = N_("field too long")


@dataclass
class CsvTable:
    """A CSV file split into its header and rows.

    Attributes
    ----------
    header
        Column names, stripped; trailing unnamed columns no row uses are dropped, and a name
        seen before gets ``_2``, ``_3``… (with a warning).
    rows
        ``(line, fields)`` of every data row, ``line`` being the file line it starts on.
        Blank cells a trailing separator adds beyond the header are dropped.
    rejected
        Quarantine entries (``line``, ``reason`` and the raw fields) of rows no reader can use:
        rows made only of separators (``empty row``) and rows with a field longer than
        :data:`FIELD_LIMIT` (``field too long``, usually an unclosed quote). They count as rows
        read: readers add them to their quarantine.
    warnings
        What the reader should pass on (renamed columns, how the file was opened).
    """

    header: list[str]
    rows: list[tuple[int, list[str]]]
    decoded: DecodedText
    separator: str
    rejected: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _header_names(cells: list[str], rows: list[tuple[int, list[str]]]) -> tuple[list[str], list[str]]:
    """Stripped names, trailing unnamed columns no row fills dropped, repeated names suffixed."""
    names = [c.strip() for c in cells]
    if names and not names[-1]:
        used = max((i + 1 for _, row in rows for i, c in enumerate(row) if c.strip()), default=0)
        while names and not names[-1] and len(names) > used:
            names.pop()
    warnings: list[str] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            continue
        if name not in seen:
            seen[name] = i
            continue
        suffix = 2
        while f"{name}_{suffix}" in names:
            suffix += 1
        names[i] = f"{name}_{suffix}"
        warnings.append(Message("column name {name!r} appears more than once (columns {first} "
                                "and {second}): column {second} is read as {renamed!r}",
                                name=name, first=seen[name] + 1, second=i + 1,
                                renamed=names[i]))
    return names, warnings


def _excerpt(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


def read_csv_table(
    path: Path, *, encoding: str | None = None, separator: str | None = None,
    header_contains: tuple[str, ...] = (), max_title_lines: int = 10,
) -> CsvTable:
    """Open a CSV file (see :func:`decode_text`) and split it into its header and rows.

    ``header_contains``: names of which at least one must be in the header line; title lines
    above it (as in Arcep's exports) are skipped, up to ``max_title_lines``. Rows made only of
    separators and rows with a field longer than :data:`FIELD_LIMIT` go to ``rejected``;
    blank lines are skipped.
    """
    decoded = decode_text(path, encoding)
    lines = decoded.text.splitlines()
    start = 0
    if header_contains:
        wanted = {h.lower() for h in header_contains}
        for i, title in enumerate(lines[: max_title_lines + 1]):
            cells = {c.strip().strip('"').lower() for c in re.split(r"[;,\t|]", title[:10_000])}
            if cells & wanted:
                start = i
                break
        else:
            msg = _("{path}: no header line with any of {names} in the first {count} "
                    "lines").format(path=path, names=", ".join(header_contains),
                                    count=max_title_lines + 1)
            raise MissingHeaderError(msg, header_contains)
    sep = decoded.separator or sniff_separator(lines[start][:10_000], separator)
    csv.field_size_limit(FIELD_LIMIT)  # process-wide: another caller may have raised it
    reader = csv.reader(io.StringIO("\n".join(lines[start:])), delimiter=sep)
    try:
        header_cells = next(reader)
    except StopIteration:
        msg = _("{path}: no header line").format(path=path)
        raise MissingHeaderError(msg) from None
    except csv.Error as error:
        problem = (_("a field is longer than {limit:,} characters (an unclosed "
                     "quote?)").format(limit=FIELD_LIMIT)
                   if "field limit" in str(error)
                   else _("it cannot be split into fields ({error})").format(error=error))
        msg = _("{path}: line {line}: the header line cannot be read: {problem}; fix it").format(
            path=path, line=start + 1, problem=problem)
        raise InputError(msg) from None
    rows: list[tuple[int, list[str]]] = []
    rejected: list[dict[str, Any]] = []
    empty: list[tuple[int, list[str]]] = []
    done = reader.line_num
    while True:
        line = start + done + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            last = start + reader.line_num
            where = (_("lines {first}-{last}").format(first=line, last=last) if last > line
                     else _("line {line}").format(line=line))
            reason = (_("{reason}: a field on {where} is longer than {limit:,} characters (an "
                        "unclosed quote?)").format(reason=_(REASON_FIELD_TOO_LONG), where=where,
                                                   limit=FIELD_LIMIT)
                      if "field limit" in str(error)
                      else _("unreadable row: {error}").format(error=error))
            rejected.append({"line": line, "reason": reason, "raw_text": _excerpt(lines[line - 1])})
            done = reader.line_num
            continue
        done = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        if not any(cell.strip() for cell in row):
            empty.append((line, row))
            continue
        rows.append((line, row))
    header, warnings = _header_names(header_cells, rows)
    for line, row in empty:
        raw = {(header[i] if i < len(header) and header[i] else f"column_{i + 1}"): c
               for i, c in enumerate(row)}
        rejected.append({"line": line, "reason": _(REASON_EMPTY_ROW), **_raw_names(raw)})
    width = len(header)
    rows = [(line, row[:width] if len(row) > width and not any(c.strip() for c in row[width:])
             else row) for line, row in rows]
    rejected.sort(key=lambda entry: entry["line"])
    warnings += [Message("file: {note}", note=Message(note) if not isinstance(note, Message)
                         else note) for note in decoded.notes]
    return CsvTable(header, rows, decoded, sep, rejected, warnings)


def _raw_names(raw: dict[str, str]) -> dict[str, str]:
    """Raw fields renamed when they would hide a quarantine entry's ``line`` or ``reason``."""
    return {(f"raw_{k}" if k in ("line", "reason") else k): v for k, v in raw.items()}


def normalize_code(raw: str) -> str | None:
    """An INSEE commune code as text (``01001``, ``2A004``), or ``None`` when it is not one.

    A 4-digit code is a code whose leading zero a spreadsheet dropped (``1001`` → ``01001``).
    """
    code = raw.strip().strip('"').upper()
    if code.isdigit() and len(code) == 4:
        code = "0" + code
    return code if INSEE_CODE.match(code) else None


def parse_number(text: Any) -> float | None:
    """A number as French open data writes it, or ``None`` when absent or secret.

    Handles decimal commas, spaces and non-breaking spaces as thousands separators, ``#N/A``,
    ``-`` and ``s`` (INSEE statistical secrecy). Raises ``ValueError`` for anything else.
    """
    if text is None:
        return None
    if isinstance(text, int | float):
        return None if isinstance(text, float) and math.isnan(text) else float(text)
    cleaned = str(text).strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
    if cleaned.lower() in _MISSING or cleaned.lower() == "s":
        return None
    if cleaned.count(",") == 1 and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    return float(cleaned)


@dataclass(frozen=True)
class CrsGuess:
    """What the coordinate ranges say: the CRS, whether x and y are swapped, and a warning."""

    crs: str | None
    swapped: bool
    warning: str | None


def infer_crs(xs: pd.Series, ys: pd.Series, declared: str | None = None) -> CrsGuess:
    """Infer the CRS of coordinates from their ranges (France): WGS84 lon/lat, WGS84 with lat/lon
    swapped, or Lambert-93 metres. A declared CRS is trusted."""
    if declared:
        return CrsGuess(declared, False, None)
    x, y = xs.dropna(), ys.dropna()
    if x.empty:
        return CrsGuess(None, False, Message("no coordinates to infer a CRS from"))

    def share(mask: pd.Series) -> float:
        return float(mask.mean())

    lonlat = share(x.between(-180, 180) & y.between(-90, 90))
    metro_lonlat = share(x.between(-6, 10) & y.between(41, 52))
    metro_latlon = share(y.between(-6, 10) & x.between(41, 52))
    l93 = share(x.between(-400_000, 1_400_000) & y.between(5_900_000, 7_300_000))
    if l93 >= 0.5:
        return CrsGuess(LAMBERT93, False, Message(
            "CRS not declared: Lambert-93 (EPSG:2154) inferred from coordinate ranges"))
    if metro_latlon > metro_lonlat and metro_latlon >= 0.5:
        return CrsGuess(WGS84, True, Message(
            "CRS not declared: WGS84 inferred, latitude and longitude swapped in the file"))
    if lonlat >= 0.5:
        return CrsGuess(WGS84, False, Message(
            "CRS not declared: WGS84 (EPSG:4326) inferred from coordinate ranges"))
    return CrsGuess(None, False, Message("coordinate ranges fit neither WGS84 nor Lambert-93"))


def read_registry(kind: str, path: Path, *, options: dict[str, Any] | None = None) -> RegistryLoad:
    """Read one registry file of ``kind`` and check that every row is accounted for."""
    from territory.registries.specs import registry_spec

    spec = registry_spec(kind)  # ConfigError for an unknown kind
    if not path.exists():
        msg = _("{path}: {kind} file not found").format(path=path, kind=kind)
        raise InputError(msg)
    module = importlib.import_module(f"territory.registries.{spec.reader}")
    if spec.reader == "points":
        load: RegistryLoad = module.read(path, spec=spec, options=options or {})
    else:
        load = module.read(path, kind=kind, options=options or {})
    record = load.record or InputRecord(name=kind, path=str(path), sha256=sha256_of(path) if path.is_file() else "")
    record.rows_kept = load.row_count
    record.rows_quarantined = len(load.quarantine)
    record.notes = [*record.notes, *load.warnings]
    load.record = with_fetch_provenance(record)
    if record.rows_read != record.rows_kept + record.rows_quarantined:
        msg = _("{path}: {kind} reader lost rows: read {read}, kept {kept}, quarantined "
                "{quarantined}").format(path=path, kind=kind, read=record.rows_read,
                                        kept=record.rows_kept,
                                        quarantined=record.rows_quarantined)
        raise InputError(msg)
    return load
