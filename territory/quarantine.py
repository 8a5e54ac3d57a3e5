"""Quarantine files: the rows a run set aside, as CSV a planner opens in a spreadsheet.

The raw fields come from the input files, so a cell may hold a spreadsheet formula
(``=HYPERLINK(...)``, ``@SUM(...)``, ``+cmd|...``). Following the OWASP rule against CSV
injection, a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
written with a leading ``'`` so a spreadsheet shows it as text instead of running it. Plain
numbers (``-1.5536``, ``+33``) are written as they are: they cannot be formulas, and a quote
would stop them from being read back as numbers.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: first characters that make a spreadsheet read a cell as a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


def neutralise_formula(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def write_quarantine_csv(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write quarantined rows to ``path`` (UTF-8 CSV), creating its folder.

    The columns are the union of the rows' keys in order of first appearance (``reason``
    alone when there is no row); header names and cells are neutralised against formula
    injection (see the module docstring).
    """
    rows = list(rows)
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([neutralise_formula(c) for c in columns or ["reason"]])
        for row in rows:
            writer.writerow([neutralise_formula(row.get(c, "")) for c in columns])
