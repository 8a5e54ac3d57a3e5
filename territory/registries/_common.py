"""What every registry reader shares: decoding, separators, numbers, CRS inference, the result.

Readers never drop a row silently: a row is kept or quarantined with a reason, and
``rows_read == rows_kept + rows_quarantined`` (checked by :func:`read_registry`). A file that
cannot be read at all raises :class:`~territory.errors.InputError` with one line naming the file
and what is wrong.
"""

from __future__ import annotations

import csv
import importlib
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from territory.errors import ConfigError, InputError
from territory.registries.kinds import KINDS, POINT_KINDS
from territory.sources._files import InputRecord, sha256_of, with_fetch_provenance

WGS84 = "EPSG:4326"
LAMBERT93 = "EPSG:2154"

#: an INSEE commune code: five digits, or 2A/2B and three digits (Corsica)
INSEE_CODE = re.compile(r"^(\d{5}|2[AB]\d{3})$")

_MISSING = {"", "#n/a", "n/a", "na", "nan", "null", "none", "-", "nd", "n.d."}


@dataclass
class RegistryLoad:
    """The result of reading one registry file.

    Attributes
    ----------
    kind
        One of :data:`KINDS`.
    rows
        Rows kept. Point kinds have ``source_line`` (line or feature number in the file), ``x``,
        ``y`` (floats, in ``crs``) and their attributes; per-commune kinds have ``code_insee``
        and their values.
    crs
        CRS of ``x`` / ``y`` (``EPSG:4326`` or ``EPSG:2154``); ``None`` for per-commune kinds.
    quarantine
        Rows set aside: each a dict with ``line``, ``reason`` and the raw fields.
    record
        Provenance (path, sha256, rows read / kept / quarantined).
    warnings
        What was inferred rather than declared (encoding, separator, CRS, swapped axes).
    """

    kind: str
    rows: pd.DataFrame
    crs: str | None
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    record: InputRecord | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DecodedText:
    """A text file decoded with the encoding that fits."""

    text: str
    encoding: str


def decode_text(path: Path, encoding: str | None = None) -> DecodedText:
    """Read a text file as UTF-8 (BOM allowed), else Windows-1252, unless ``encoding`` is given."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        msg = f"{path}: cannot read the file ({error.strerror or error})"
        raise InputError(msg) from error
    if not raw.strip():
        msg = f"{path}: the file is empty"
        raise InputError(msg)
    if encoding:
        try:
            return DecodedText(raw.decode(encoding), encoding)
        except (UnicodeDecodeError, LookupError) as error:
            msg = f"{path}: cannot decode the file as {encoding} ({error})"
            raise InputError(msg) from error
    for candidate in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return DecodedText(raw.decode(candidate), "utf-8" if candidate == "utf-8-sig" else candidate)
        except UnicodeDecodeError:
            continue
    msg = f"{path}: cannot decode the file (tried UTF-8, Windows-1252, Latin-1)"
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


def read_csv_rows(
    path: Path, *, encoding: str | None = None, separator: str | None = None,
    header_contains: tuple[str, ...] = (), max_title_lines: int = 10,
) -> tuple[list[str], list[tuple[int, list[str]]], DecodedText, str]:
    """Decode a CSV file and split it into its header and rows (with their line numbers).

    ``header_contains``: names of which at least one must be in the header line; title lines
    above it (as in Arcep's exports) are skipped, up to ``max_title_lines``.
    """
    decoded = decode_text(path, encoding)
    lines = decoded.text.splitlines()
    start = 0
    if header_contains:
        wanted = {h.lower() for h in header_contains}
        for i, line in enumerate(lines[: max_title_lines + 1]):
            cells = {c.strip().strip('"').lower() for c in re.split(r"[;,\t|]", line)}
            if cells & wanted:
                start = i
                break
        else:
            msg = (
                f"{path}: no header line with any of {', '.join(header_contains)} in the first "
                f"{max_title_lines + 1} lines"
            )
            raise InputError(msg)
    sep = sniff_separator(lines[start], separator)
    reader = csv.reader(io.StringIO("\n".join(lines[start:])), delimiter=sep)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        msg = f"{path}: no header line"
        raise InputError(msg) from None
    rows = []
    for offset, row in enumerate(reader):
        if not any(cell.strip() for cell in row):
            continue
        rows.append((start + 2 + offset, row))
    return header, rows, decoded, sep


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
        return CrsGuess(None, False, "no coordinates to infer a CRS from")

    def share(mask: pd.Series) -> float:
        return float(mask.mean())

    lonlat = share(x.between(-180, 180) & y.between(-90, 90))
    metro_lonlat = share(x.between(-6, 10) & y.between(41, 52))
    metro_latlon = share(y.between(-6, 10) & x.between(41, 52))
    l93 = share(x.between(-400_000, 1_400_000) & y.between(5_900_000, 7_300_000))
    if l93 >= 0.5:
        return CrsGuess(LAMBERT93, False, "CRS not declared: Lambert-93 (EPSG:2154) inferred from coordinate ranges")
    if metro_latlon > metro_lonlat and metro_latlon >= 0.5:
        return CrsGuess(WGS84, True, "CRS not declared: WGS84 inferred, latitude and longitude swapped in the file")
    if lonlat >= 0.5:
        return CrsGuess(WGS84, False, "CRS not declared: WGS84 (EPSG:4326) inferred from coordinate ranges")
    return CrsGuess(None, False, "coordinate ranges fit neither WGS84 nor Lambert-93")


def read_registry(kind: str, path: Path, *, options: dict[str, Any] | None = None) -> RegistryLoad:
    """Read one registry file of ``kind`` and check that every row is accounted for."""
    if kind not in KINDS:
        msg = f"unknown source kind {kind!r}; known kinds: {', '.join(KINDS)}"
        raise ConfigError(msg)
    if not path.exists():
        msg = f"{path}: {kind} file not found"
        raise InputError(msg)
    module = importlib.import_module(f"territory.registries.{kind if kind not in ('streetlights', 'cameras', 'sensors') else 'infrastructure'}")
    load: RegistryLoad = module.read(path, kind=kind, options=options or {})
    record = load.record or InputRecord(name=kind, path=str(path), sha256=sha256_of(path) if path.is_file() else "")
    record.rows_kept = len(load.rows)
    record.rows_quarantined = len(load.quarantine)
    record.notes = [*record.notes, *load.warnings]
    load.record = with_fetch_provenance(record)
    if record.rows_read != record.rows_kept + record.rows_quarantined:
        msg = (
            f"{path}: {kind} reader lost rows: read {record.rows_read}, kept {record.rows_kept}, "
            f"quarantined {record.rows_quarantined}"
        )
        raise InputError(msg)
    return load
