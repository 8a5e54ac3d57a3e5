"""Run the SQL models of ``pipelines/`` in dependency order.

A model is one ``.sql`` file in ``staging/``, ``intermediate/`` or ``marts/``; its table takes
the file's name. Dependencies are the other models (and ``raw_*`` tables) its SQL names after
``from`` or ``join``, and the tables read by the macros it calls (:data:`MACROS`); the runner
orders models so that each runs after what it reads.

Factor lookups are macros: ``factor('smartphone.lifetime_years')`` is the factor's central value,
``factor_low(...)`` and ``factor_high(...)`` its bounds, read from ``stg_factors``. An id that is
not in the factor tables stops the run (a missing factor is a bug, never a silent NULL).

A model is a table unless its file starts with the line ``-- materialized: view``: a view is
computed each time it is read, inside the query that reads it, and holds no memory between
steps (used for the per-commune-and-device models, a million rows that only their sums need).

A model whose file has the line ``-- row order: any`` is written without keeping its rows in
the order its query produces them (DuckDB's ``preserve_insertion_order`` off for that model):
for a large table that every reader sorts or sums, never reads in table order.

Models may run side by side (``lanes``, for all of France: settings.NATIONAL_MODEL_LANES): each
starts, in the discovered order, as soon as the models it reads have ended, on its own cursor.
A model's values do not depend on it; the row order of a table no model sorts is not fixed
either way, and the outputs are written sorted.

After each table model the run's database is compacted (:func:`territory.database.compact`:
DuckDB compresses an in-memory table only at a checkpoint). A model whose file has the line
``-- storage: uncompressed`` is kept out of it (:func:`territory.database.uncompressed_table`):
for the tables of one row per registry point, which compressing costs more time than it saves
memory. After a model that ran :data:`RESTART_THREADS_AFTER_S` or more, DuckDB's worker threads
are restarted, which gives back the memory they keep.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import duckdb

from territory.database import compact, cursor, share_variables, uncompressed_table
from territory.errors import PipelineError

LAYERS = ("staging", "intermediate", "marts")
_REFERENCE = re.compile(r"\b(?:from|join)\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)
_MATERIALIZED = re.compile(r"--\s*materialized:\s*(table|view)\s*$", re.IGNORECASE)
_ANY_ORDER = re.compile(r"^--\s*row order:\s*any\s*$", re.IGNORECASE | re.MULTILINE)
_UNCOMPRESSED = re.compile(r"^--\s*storage:\s*uncompressed\s*$", re.IGNORECASE | re.MULTILINE)
_CTE = re.compile(r"\b([a-z_][a-z0-9_]*)\s+as\s+(?:not\s+)?(?:materialized\s*)?\(", re.IGNORECASE)
#: a model that ran this long has DuckDB's worker threads restarted after it, which gives back
#: the memory they keep (territory.database.compact)
RESTART_THREADS_AFTER_S = 0.1




def _factor_macro(name: str, column: str) -> str:
    return (
        f"CREATE OR REPLACE MACRO {name}(factor_id) AS coalesce("
        f"(SELECT {column} FROM stg_factors WHERE id = factor_id), "
        f"error('factor ' || factor_id || ' is not in the factor tables of data/'))"
    )


#: macros the models call: name -> (the model it reads, the SQL creating it). DuckDB binds a
#: macro's subquery when the macro is created, so each is created as soon as its table exists;
#: a model that calls one depends on that table.
MACROS = {
    "factor": ("stg_factors", _factor_macro("factor", "value")),
    "factor_low": ("stg_factors", _factor_macro("factor_low", "low")),
    "factor_high": ("stg_factors", _factor_macro("factor_high", "high")),
}
_MACRO_CALL = re.compile(rf"\b({'|'.join(MACROS)})\s*\(", re.IGNORECASE)


@dataclass(frozen=True)
class Model:
    """One SQL model: its name, layer, file and the models it reads."""

    name: str
    layer: str
    path: Path
    sql: str
    depends_on: frozenset[str]
    materialized: str = "table"
    #: its rows need not keep the order its query gives them (``-- row order: any``)
    any_order: bool = False
    #: its table is not compressed (``-- storage: uncompressed``)
    uncompressed: bool = False


def discover_models(folder: Path) -> list[Model]:
    """Find the models under ``folder`` and return them in an order that respects dependencies."""
    files = [(layer, path) for layer in LAYERS for path in sorted((folder / layer).glob("*.sql"))]
    names = {path.stem for _, path in files}
    models = {}
    for layer, path in files:
        sql = path.read_text(encoding="utf-8")
        code = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
        ctes = {m.lower() for m in _CTE.findall(code)}
        refs = {m.lower() for m in _REFERENCE.findall(code)} - ctes
        refs |= {MACROS[m.lower()][0] for m in _MACRO_CALL.findall(code)}
        refs = refs & names - {path.stem}
        first = _MATERIALIZED.match(sql.lstrip().split("\n", 1)[0])
        materialized = first.group(1).lower() if first else "table"
        models[path.stem] = Model(path.stem, layer, path, sql, frozenset(refs), materialized,
                                  bool(_ANY_ORDER.search(sql)),
                                  bool(_UNCOMPRESSED.search(sql)))
    ordered: list[Model] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            msg = f"pipelines: models form a cycle through {name}"
            raise PipelineError(msg)
        visiting.add(name)
        for dep in sorted(models[name].depends_on):
            visit(dep)
        visiting.discard(name)
        done.add(name)
        ordered.append(models[name])

    for name in models:
        visit(name)
    return ordered


def run_models(
    con: duckdb.DuckDBPyConnection,
    models: list[Model],
    *,
    on_model: Callable[[Model, float], None] | None = None,
    lanes: int = 1,
) -> dict[str, float]:
    """Create one table (or view) per model; return the seconds each took.

    With ``lanes`` > 1, models whose inputs are ready run side by side, each on its own cursor
    (with ``con``'s variables), taken in the order of ``models``: most models read a table of
    35,000 communes, which DuckDB scans on one thread, so the second core is otherwise idle.
    ``on_model`` is called on the calling thread as each model ends. A model whose rows may come
    in any order (``-- row order: any``) runs alone: the setting it changes is the database's.
    """
    if lanes <= 1 or len(models) < 2:
        timings = {}
        for model in models:
            timings[model.name] = _run_model(con, model)
            if on_model:
                on_model(model, timings[model.name])
        return timings
    return _run_side_by_side(con, models, on_model, lanes)


def _run_model(con: duckdb.DuckDBPyConnection, model: Model) -> float:
    """Create ``model``'s table or view on ``con``, compact the database (and, after a long
    model, restart DuckDB's worker threads); return the seconds."""
    start = time.perf_counter()
    try:
        if model.any_order:
            con.execute("SET preserve_insertion_order = false")
        name = uncompressed_table(con, model.name) if model.uncompressed else model.name
        con.execute(f"CREATE OR REPLACE {model.materialized.upper()} {name} AS {model.sql}")
    except duckdb.Error as error:
        first = str(error).splitlines()[0]
        msg = f"{model.path}: model {model.name} failed: {first}"
        raise PipelineError(msg) from error
    finally:
        if model.any_order:
            con.execute("RESET preserve_insertion_order")
    for table, create in MACROS.values():
        if table == model.name:
            con.execute(create)
    if model.materialized == "table" and not model.uncompressed:
        compact(con, restart_threads=time.perf_counter() - start >= RESTART_THREADS_AFTER_S)
    return time.perf_counter() - start


def _run_side_by_side(
    con: duckdb.DuckDBPyConnection,
    models: list[Model],
    on_model: Callable[[Model, float], None] | None,
    lanes: int,
) -> dict[str, float]:
    names = {m.name for m in models}
    cursors = [cursor(con) for _ in range(lanes)]
    try:
        for lane in cursors:
            share_variables(con, lane)
        return _schedule(models, names, list(cursors), on_model)
    finally:
        for lane in cursors:
            lane.close()


def _schedule(
    models: list[Model],
    names: set[str],
    free: list[duckdb.DuckDBPyConnection],
    on_model: Callable[[Model, float], None] | None,
) -> dict[str, float]:
    """Run ``models`` on the ``free`` cursors, each as soon as the models it reads have ended."""
    waiting = list(models)
    done: set[str] = set()
    running: dict[Future[float], tuple[Model, duckdb.DuckDBPyConnection]] = {}
    timings: dict[str, float] = {}
    with ThreadPoolExecutor(max_workers=len(free)) as pool:
        while waiting or running:
            alone = any(m.any_order for m, _ in running.values())
            for model in list(waiting):
                if alone or not free:
                    break
                if not model.depends_on & names <= done:
                    continue
                if model.any_order and running:
                    break  # it waits for the running models, and nothing starts before it
                lane = free.pop()
                waiting.remove(model)
                # DuckDB's worker threads are restarted after a long model here too: without,
                # all of France with every registry layer held 90-140 MiB more (880-950 MiB)
                running[pool.submit(_run_model, lane, model)] = (model, lane)
                alone = model.any_order
            ended, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in ended:
                model, lane = running.pop(future)
                free.append(lane)
                timings[model.name] = future.result()
                done.add(model.name)
                if on_model:
                    on_model(model, timings[model.name])
    return timings
