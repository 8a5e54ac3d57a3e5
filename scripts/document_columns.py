"""Write the column list of ``communes.csv`` in docs/methodology.md from the column catalogue.

The table between the two marker lines of the methodology is generated from
``data/columns.toml`` (:mod:`territory.columns`): one row per column of the ``communes`` level,
in the file's order (that of ``communes.csv``). Run it after editing the catalogue::

    python3 scripts/document_columns.py          # rewrite the table
    python3 scripts/document_columns.py --check  # exit 1 when the table is out of date

tests/test_columns.py fails when the table is out of date.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from territory.columns import Catalogue, catalogue

METHODOLOGY = Path(__file__).resolve().parents[1] / "docs" / "methodology.md"
BEGIN = ("<!-- columns of communes.csv: generated from data/columns.toml by "
         "scripts/document_columns.py, do not edit -->")
END = "<!-- end of the generated columns -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def columns_table(columns: Catalogue, level: str = "communes") -> str:
    """The Markdown table of the columns of ``level``: name, French label, unit, description."""
    lines = ["| column | label | unit | description |", "| --- | --- | --- | --- |"]
    for column in columns.at(level):
        lines.append(f"| `{column.name}` | {_cell(column.label)} | {_cell(column.unit)} | "
                     f"{_cell(column.description)} |")
    return "\n".join(lines)


def documented(text: str, table: str, begin: str = BEGIN, end: str = END) -> str:
    """``text`` (the methodology) with the table between the markers ``begin`` and ``end``
    (those of the column list by default) replaced by ``table``."""
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        msg = f"{METHODOLOGY}: expected one {begin!r} line, then one {end!r} line"
        raise SystemExit(msg)
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}\n{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when docs/methodology.md is out of date, write nothing")
    args = parser.parse_args(argv)
    text = METHODOLOGY.read_text(encoding="utf-8")
    updated = documented(text, columns_table(catalogue()))
    if args.check:
        if updated != text:
            print(f"{METHODOLOGY} is out of date: run scripts/document_columns.py",
                  file=sys.stderr)
            return 1
        return 0
    if updated != text:
        METHODOLOGY.write_text(updated, encoding="utf-8")
        print(f"updated {METHODOLOGY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
