"""An INSEE population CSV that replaces the default (COG 2026) populations
(``--source population=FILE``): the population kind of :mod:`territory.sources.census`.

Population columns are recognised by name, best kind first: legal populations (``PMUN``,
``PMUN23``, ``population_municipale``), census populations (``P21_POP``, ``P22_POP``),
``population_2021``, ``population``, or total populations (``PTOT``, ``PTOT23``). A 0 where the
commune has inhabitants is quarantined as "no figure" (Mayotte before its census).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from territory.sources._files import InputRecord
from territory.sources.census import POPULATION, figure_column, load_census_file
from territory.sources.cog import CommuneCodes


def population_column(header: list[str]) -> tuple[str, str, int | None] | None:
    """The population column of ``header``: (name, kind, year or None); None when absent."""
    return figure_column(POPULATION.figures[0], header)


def load_population_file(
    con: duckdb.DuckDBPyConnection, path: Path, codes: CommuneCodes | None = None,
) -> tuple[InputRecord, list[dict[str, str]]]:
    """Create ``raw_population_override(code_insee, population)`` from an INSEE CSV."""
    return load_census_file(con, POPULATION, path, codes)
