"""Run the SQL models of ``pipelines/`` in dependency order.

A model is one ``.sql`` file in ``staging/``, ``intermediate/`` or ``marts/``; its table takes
the file's name. Dependencies are the other models (and ``raw_*`` tables) its SQL names after
``from`` or ``join``; the runner orders models so that each runs after what it reads.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from territory.errors import PipelineError

LAYERS = ("staging", "intermediate", "marts")
_REFERENCE = re.compile(r"\b(?:from|join)\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)
_CTE = re.compile(r"\b([a-z_][a-z0-9_]*)\s+as\s+(?:not\s+)?(?:materialized\s*)?\(", re.IGNORECASE)


@dataclass(frozen=True)
class Model:
    """One SQL model: its name, layer, file and the models it reads."""

    name: str
    layer: str
    path: Path
    sql: str
    depends_on: frozenset[str]


def discover_models(folder: Path) -> list[Model]:
    """Find the models under ``folder`` and return them in an order that respects dependencies."""
    files = [(layer, path) for layer in LAYERS for path in sorted((folder / layer).glob("*.sql"))]
    names = {path.stem for _, path in files}
    models = {}
    for layer, path in files:
        sql = path.read_text(encoding="utf-8")
        code = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
        ctes = {m.lower() for m in _CTE.findall(code)}
        refs = ({m.lower() for m in _REFERENCE.findall(code)} - ctes) & names - {path.stem}
        models[path.stem] = Model(path.stem, layer, path, sql, frozenset(refs))
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
) -> dict[str, float]:
    """Create one table per model; return the seconds each took."""
    timings = {}
    for model in models:
        start = time.perf_counter()
        try:
            con.execute(f"CREATE OR REPLACE TABLE {model.name} AS {model.sql}")
        except duckdb.Error as error:
            first = str(error).splitlines()[0]
            msg = f"{model.path}: model {model.name} failed: {first}"
            raise PipelineError(msg) from error
        timings[model.name] = time.perf_counter() - start
        if on_model:
            on_model(model, timings[model.name])
    return timings
