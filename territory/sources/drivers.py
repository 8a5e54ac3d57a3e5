"""Local drivers of the device stock per current commune (COG 2026): households, income, jobs.

Three compact tables of ``data/``, keyed by the current commune code, derived from INSEE files
by ``scripts/derive_local_drivers.py`` (a provenance JSON beside each table); a run reads only
these tables, never the INSEE files:

* ``households_census2021.csv``: census 2021 population and households (base du comparateur
  de territoires). Mayotte has no 2021 census: its communes have no row;
* ``income_filosofi2021.csv``: Filosofi 2021 fiscal households, median disposable income per
  consumption unit and poverty rate. An empty cell is a figure INSEE does not publish
  (statistical secrecy, or not available); ``approximation`` says when the figures of a
  commune combine several former communes (:data:`APPROXIMATIONS`);
* ``jobs_establishments2014.csv``: establishments in 2014 and the jobs they stand for,
  estimated from their size classes with the assumed jobs per establishment of
  ``establishment_size_classes.csv``.

A current commune without a row has no figure in the source: the runtime falls back.
"""

from __future__ import annotations

import csv
from pathlib import Path

HOUSEHOLDS_FILE = "households_census2021.csv"
HOUSEHOLDS_COLUMNS = ("code_insee", "population_2021", "households_2021")

INCOME_FILE = "income_filosofi2021.csv"
INCOME_COLUMNS = ("code_insee", "fiscal_households", "median_income_eur", "poverty_rate_pct",
                  "approximation")
#: values of ``approximation``: "" when the figures are INSEE's for the commune itself
APPROXIMATION_MERGED = "merged"
APPROXIMATION_PARTIAL = "partial"
APPROXIMATIONS = {
    APPROXIMATION_MERGED: ("several former communes have figures: fiscal households summed, "
                           "median = mean of their medians weighted by fiscal households, "
                           "poverty rate = mean of their rates weighted by persons"),
    APPROXIMATION_PARTIAL: ("several former communes, only one of them with figures (the others "
                            "secret): the figures of that part alone"),
}

JOBS_FILE = "jobs_establishments2014.csv"
JOBS_COLUMNS = ("code_insee", "establishments", "jobs_estimated")

SIZE_CLASSES_FILE = "establishment_size_classes.csv"
SIZE_CLASS_COLUMNS = ("size_class", "column", "min_employees", "max_employees", "assumed_jobs",
                      "low", "high", "source", "year")

#: every table derived by scripts/derive_local_drivers.py, by its sub-command
TABLES = {"households": HOUSEHOLDS_FILE, "income": INCOME_FILE, "jobs": JOBS_FILE}


def provenance_file(table: str) -> str:
    """Name of the provenance JSON beside ``table`` (``x.csv`` → ``x.provenance.json``)."""
    return table.removesuffix(".csv") + ".provenance.json"


def read_table(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of one of these tables, as text; ValueError when its header is not
    ``columns``."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != columns:
            msg = f"{path}: header {reader.fieldnames} is not {list(columns)}"
            raise ValueError(msg)
        return list(reader)
