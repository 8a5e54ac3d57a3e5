"""Every exception the toolkit raises on purpose.

Each one subclasses a built-in so callers can catch either. Messages say what was expected,
what was found, and how to fix it, on one line: the command line prints ``str(error)`` as is.
"""

from __future__ import annotations


class TerritoryError(Exception):
    """Base class of the toolkit's errors."""


class InputError(TerritoryError, ValueError):
    """An input file is missing, unreadable or malformed (names the file, row and column)."""


class ConfigError(TerritoryError, ValueError):
    """A command-line option, setting or pipeline file is invalid."""


class FactorTableError(InputError):
    """A factor table in ``data/`` is inconsistent (missing factor, value outside its range)."""


class OutputError(TerritoryError, OSError):
    """The output folder cannot be written."""


class PipelineError(TerritoryError, RuntimeError):
    """A SQL model failed or an invariant check did not hold."""


class FetchError(TerritoryError, OSError):
    """A download failed; the cache keeps its previous copy (the message says which)."""
