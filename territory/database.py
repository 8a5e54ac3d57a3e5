"""DuckDB connections with the spatial extension loaded from its Python wheel.

The extension file shipped by ``duckdb-extension-spatial`` is loaded by path: nothing is
downloaded and nothing is written to the user's home (auto-install and auto-load are off and
the extension directory points to a throw-away folder).
"""

from __future__ import annotations

import numbers
import tempfile
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from territory.errors import ConfigError, PipelineError

#: the in-memory database a run's tables live in (attached compressed)
RUN_DATABASE = "run"
#: an in-memory database beside it, not compressed, for the tables of one row per registry point
#: (see :func:`compact`); names resolve in both (``search_path``)
POINTS_DATABASE = "points"
_SEARCH_PATH = f"SET search_path = '{RUN_DATABASE}.main,{POINTS_DATABASE}.main'"


def sql_literal(value: object) -> str:
    """``value`` written as a DuckDB literal: ``None``, a bool, an integer, a real number (as a
    DOUBLE; NumPy's too), a string or path (quotes doubled), or a list or tuple of them (a list
    literal).

    The run's computation writes its values into the SQL text instead of binding them as
    parameters: DuckDB's Python client imports pandas, and pyarrow with it, to look at any bound
    parameter (75 MiB that a run without registry files otherwise needs only to write its
    outputs; docs/benchmarks.md). DuckDB has no quoting function of its own
    (``duckdb.ConstantExpression`` converts its value the same way).
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    # NumPy's integers and floats too (repr(np.float64(1.5)) is "np.float64(1.5)")
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return f"'{float(value)!r}'::DOUBLE"
    if isinstance(value, str | Path):
        text = value.as_posix() if isinstance(value, Path) else value
        return "'" + text.replace("'", "''") + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(sql_literal(item) for item in value) + "]"
    msg = f"no SQL literal for a {type(value).__name__}"
    raise TypeError(msg)


def insert_rows(con: duckdb.DuckDBPyConnection, table: str,
                rows: Iterable[Sequence[object]]) -> None:
    """Insert ``rows`` (tuples of Python values) into ``table``, as literals (see
    :func:`sql_literal`: what ``executemany`` would bind)."""
    values = [f"({', '.join(sql_literal(value) for value in row)})" for row in rows]
    if values:
        con.execute(f"INSERT INTO {table} VALUES {', '.join(values)}")


def spatial_extension_path() -> Path:
    """Path of ``spatial.duckdb_extension`` inside the ``duckdb-extension-spatial`` wheel."""
    import duckdb_extension_spatial

    version = metadata.version("duckdb-extension-spatial")
    root = Path(duckdb_extension_spatial.__file__).parent / "extensions"
    path = root / f"v{version}" / "spatial.duckdb_extension"
    if not path.is_file():
        found = sorted(root.glob("*/spatial.duckdb_extension"))
        if not found:
            msg = f"the spatial extension file is missing from {root}; reinstall duckdb-extension-spatial"
            raise ConfigError(msg)
        path = found[-1]
    if duckdb.__version__ != version:
        msg = (
            f"duckdb {duckdb.__version__} cannot load the spatial extension built for "
            f"{version}; run `pip install duckdb=={version}`"
        )
        raise ConfigError(msg)
    return path


def connect(
    database: str = ":memory:", *, threads: int | None = None, scratch_dir: Path | None = None
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB connection with the spatial extension loaded.

    Parameters
    ----------
    database
        DuckDB database path, in memory by default.
    threads
        Worker threads; DuckDB's default (one per core) when ``None``.
    scratch_dir
        Folder for DuckDB's spill files and (empty) extension directory; a new temporary
        folder when ``None``. The caller removes it.
    """
    scratch = str(scratch_dir) if scratch_dir else tempfile.mkdtemp(prefix="territory-duckdb-")
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "allow_unsigned_extensions": "true",
        "extension_directory": scratch,
        "temp_directory": scratch,
    }
    con = duckdb.connect(database, config=config)
    con.execute(f"SET home_directory = '{scratch}'")
    if database == ":memory:":
        # an in-memory database attached with COMPRESS: DuckDB stores the run's larger tables
        # compressed (ALP, bit-packing, dictionary + FSST), which the default in-memory
        # database does not. Measured (docs/benchmarks.md): tables 274 -> 109 MiB at the end
        # of a département run, all of France's peak 60-150 MiB lower, 0.5-1 s more
        con.execute(f"ATTACH ':memory:' AS {RUN_DATABASE} (COMPRESS)")
        con.execute(f"ATTACH ':memory:' AS {POINTS_DATABASE}")
        con.execute(f"USE {RUN_DATABASE}")
        con.execute(_SEARCH_PATH)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute(f"LOAD '{spatial_extension_path().as_posix()}'")
    # DuckDB adds doubles in the order its threads finish, so a plain sum() differs in its last
    # bits from run to run; summed as 38-digit decimals (12 after the point) the total is exact
    # and the same whatever the order: same inputs, byte-identical outputs. Models use
    # exact_sum(x) (a FILTER becomes exact_sum(case when … then x end)).
    con.execute("CREATE MACRO exact_sum(x) AS sum(x::DECIMAL(38, 12))::DOUBLE")
    # the upper levels a GROUP BY GROUPING SETS ((epci_siren), (departement_code), (region_code))
    # gives, named as their layers (territory.writers.LAYERS), and each group's code
    con.execute("CREATE MACRO upper_level(by_epci, by_departement) AS CASE WHEN by_epci = 0 "
                "THEN 'epci' WHEN by_departement = 0 THEN 'departements' ELSE 'regions' END")
    con.execute("CREATE MACRO upper_level_code(by_epci, by_departement, epci, departement, "
                "region) AS CASE WHEN by_epci = 0 THEN epci WHEN by_departement = 0 "
                "THEN departement ELSE region END")
    # the run's extent (set_extent by the runner): every commune when
    # both lists are empty, else those of the départements listed and, when communes are
    # listed (an extent given by EPCI or communes), only those
    con.execute("CREATE MACRO whole_france() AS len(getvariable('departements')) = 0")
    con.execute("CREATE MACRO in_extent(departement_code, code_insee) AS "
                "(len(getvariable('departements')) = 0 "
                "OR list_contains(getvariable('departements'), departement_code)) "
                "AND (coalesce(len(getvariable('communes')), 0) = 0 "
                "OR list_contains(getvariable('communes'), code_insee))")
    return con


def set_extent(con: duckdb.DuckDBPyConnection, departements: Sequence[str],
               communes: Sequence[str]) -> None:
    """Set the run's extent read by the ``in_extent`` macro: its départements and, for an
    extent given by EPCI or communes, its communes (empty lists: all of France). Variables
    belong to a connection: a cursor that filters on the extent needs them set too."""
    con.execute(f"SET VARIABLE departements = {sql_literal(list(departements))}::VARCHAR[]")
    con.execute(f"SET VARIABLE communes = {sql_literal(list(communes))}::VARCHAR[]")


def compact(con: duckdb.DuckDBPyConnection, *, restart_threads: bool = False) -> bool:
    """Compress the run's tables written since the last call (a ``CHECKPOINT`` of the run's
    database) and, if asked, restart DuckDB's worker threads; return whether the checkpoint
    ran.

    An in-memory table is stored uncompressed until a checkpoint, which DuckDB runs by itself
    only when its write-ahead log would pass a size an in-memory database never reaches.
    Measured after each table model (docs/benchmarks.md): a département run's peak 577 -> 511 MiB
    for 0.1-0.2 s, all of France with the six scenarios 1488 -> 1257 MiB for 0.7 s, all of
    France alone 797 -> 777 MiB for 0.4 s. Tables of one row per registry point are kept out of it
    (:func:`uncompressed_table`): compressing a million points took 0.44 s, a quarter of the
    time to read and place them. DuckDB refuses a checkpoint while another cursor has a write
    transaction open (a model on the other lane, :func:`territory.pipeline.run_models`) or any
    transaction on the connection itself (a result not fully fetched): the tables are then
    compressed at the next call.

    DuckDB's worker threads keep the memory of the queries they ran until they stop (it is not
    in ``duckdb_memory()``, and ``malloc_trim`` does not return it): after the national models
    of a département run they held about 250 MiB more than the tables. Setting the threads to
    one and back stops and restarts them in a millisecond, but the next queries then take fresh
    memory from the system: after every model it cost a département run 0.3 s, so the runner
    asks for it after the models that ran long enough to have used much memory.
    """
    try:
        # the connection's default database: the run's (``USE`` in connect and cursor); not
        # asking whether it is attached saves a catalogue query per model (2 ms each beside
        # the writers' threads)
        con.execute("CHECKPOINT")
        compressed = True
    except duckdb.TransactionException:
        compressed = False
    if restart_threads:
        restart_worker_threads(con)
    return compressed


def restart_worker_threads(con: duckdb.DuckDBPyConnection) -> None:
    """Stop and restart DuckDB's worker threads, which gives back the memory they keep
    (see :func:`compact`). Queries running on other cursors go on."""
    threads = int(fetch_value(con, "SELECT current_setting('threads')"))
    if threads > 1:
        con.execute("SET threads = 1")
        con.execute(f"SET threads = {threads}")


def share_variables(source: duckdb.DuckDBPyConnection, target: duckdb.DuckDBPyConnection) -> None:
    """Set on ``target`` the variables set on ``source`` (``SET VARIABLE`` belongs to a
    connection; a cursor starts without them). ``source`` must not be running a query."""
    for name, type_ in source.execute("SELECT name, type FROM duckdb_variables()").fetchall():
        # fetchall, not fetchone: a result left open keeps a transaction open on ``source``,
        # and DuckDB then refuses every checkpoint (the tables stay uncompressed)
        [(value,)] = source.execute(f"SELECT getvariable({sql_literal(name)})").fetchall()
        literal = sql_literal(value)
        target.execute(f"SET VARIABLE {name} = {literal}::{type_}")


def uncompressed_table(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """``name`` qualified in the run's uncompressed database (registry points), or as it is when
    ``con`` was not opened by :func:`connect` in memory."""
    return f"{POINTS_DATABASE}.main.{name}" if _attached(con, POINTS_DATABASE) else name


def _attached(con: duckdb.DuckDBPyConnection, database: str) -> bool:
    row = con.execute("SELECT count(*) FROM duckdb_databases() "
                      f"WHERE database_name = {sql_literal(database)}").fetchone()
    return bool(row and row[0])


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A new cursor on ``con``'s database (for another thread), in the run's database when
    ``con`` was opened by :func:`connect`. Only the new cursor runs queries: ``con`` may be in
    use by another thread."""
    new = con.cursor()
    if _attached(new, RUN_DATABASE):
        new.execute(f"USE {RUN_DATABASE}")
        new.execute(_SEARCH_PATH)
    return new


def fetch_value(con: duckdb.DuckDBPyConnection, sql: str, parameters: object = None) -> Any:
    """The first column of the first row of ``sql`` (an aggregate's single value)."""
    row = con.execute(sql, parameters).fetchone()
    if row is None:
        msg = f"query returned no row: {sql}"
        raise PipelineError(msg)
    return row[0]
