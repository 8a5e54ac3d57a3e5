"""Every exception the toolkit raises on purpose.

Each one subclasses a built-in so callers can catch either. Messages say what was expected,
what was found, and how to fix it, on one line: the command line prints ``str(error)`` as is
and exits with the error's ``exit_code``.

Exit codes of the command line, for schedulers (also in ``territory run --help`` and
``docs/scheduling.md``):

====  ======================================================================================
code  meaning
====  ======================================================================================
0     success: outputs written, or already up to date (nothing changed since the last run)
1     internal error (a bug: please report it with ``TERRITORY_DEBUG=1``'s traceback)
2     usage error: unknown option, bad value, bad pipeline file (:class:`ConfigError`)
3     data error: an input file is missing, unreadable or malformed, or an invariant failed
      (:class:`InputError`, :class:`PipelineError`)
4     output error: the output folder cannot be written, or holds other files
      (:class:`OutputError`)
5     busy: another run is writing the same output folder (:class:`LockBusyError`)
6     download failed (``territory fetch``); the cache keeps its previous copy
      (:class:`FetchError`)
130   interrupted (Ctrl-C or SIGINT); the previous outputs are left as they were
====  ======================================================================================
"""

from __future__ import annotations

#: exit code of each outcome (see the module docstring)
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


class TerritoryError(Exception):
    """Base class of the toolkit's errors."""

    exit_code = 1


class InputError(TerritoryError, ValueError):
    """An input file is missing, unreadable or malformed (names the file, row and column)."""

    exit_code = 3


class ConfigError(TerritoryError, ValueError):
    """A command-line option, setting or pipeline file is invalid."""

    exit_code = 2


class FactorTableError(InputError):
    """A factor table in ``data/`` is inconsistent (missing factor, value outside its range)."""


class OutputError(TerritoryError, OSError):
    """The output folder cannot be written, or holds files territory did not write."""

    exit_code = 4


class LockBusyError(TerritoryError, OSError):
    """Another run holds the output folder's lock (names its pid and start time)."""

    exit_code = 5


class PipelineError(TerritoryError, RuntimeError):
    """A SQL model failed or an invariant check did not hold."""

    exit_code = 3


class FetchError(TerritoryError, OSError):
    """A download failed; the cache keeps its previous copy (the message says which)."""

    exit_code = 6
