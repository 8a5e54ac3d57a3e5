"""Checks of a run's results: each mart's contract, the footprint's invariants, the national
comparison, and every input row accounted for.

A mart's contract (``pipelines/marts/contracts.toml``) declares its columns in order, each with
its DuckDB type and ``NOT NULL`` where a null would be a bug, and its unique key. A mart that
breaks it stops the run with a :class:`~territory.errors.PipelineError` naming the mart, the
column and what failed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from territory.database import sql_literal
from territory.errors import ConfigError, PipelineError
from territory.i18n import _
from territory.sources._files import InputRecord

#: columns of the territory layers that must never be null (the outputs contract): each layer's
#: contract must declare them NOT NULL
CONTRACT_COLUMNS = (
    "code_insee", "nom", "population", "footprint_tco2e", "footprint_tco2e_low",
    "footprint_tco2e_high", "footprint_kgco2e_per_inhabitant", "devices_tco2e",
    "networks_tco2e", "datacenters_tco2e", "embodied_tco2e", "use_tco2e", "territorial_tco2e",
)
_CONTRACT_KEYS = {"columns", "unique_key"}
_TYPE = re.compile(r"([A-Z][A-Z0-9_]*(?:\(\d+(?:, ?\d+)?\))?)( NOT NULL)?")


@dataclass(frozen=True)
class Column:
    """One declared column of a mart."""

    name: str
    type: str
    not_null: bool


@dataclass(frozen=True)
class Contract:
    """What a mart promises: its columns in order and the key no two rows share."""

    mart: str
    columns: tuple[Column, ...]
    unique_key: tuple[str, ...]
    path: Path


def load_contracts(path: Path) -> dict[str, Contract]:
    """Read and validate the contracts file; mart name -> contract."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        msg = _("{path}: cannot read the mart contracts ({error})").format(path=path,
                                                                           error=error)
        raise ConfigError(msg) from error
    contracts = {}
    for mart, spec in data.items():
        where = f"{path}: [{mart}]"
        if not isinstance(spec, dict):
            msg = _("{where}: expected a table with columns and unique_key").format(where=where)
            raise ConfigError(msg)
        unknown = sorted(set(spec) - _CONTRACT_KEYS)
        if unknown:
            msg = _("{where}: unknown keys {unknown}; known: {known}").format(
                where=where, unknown=", ".join(unknown), known=", ".join(sorted(_CONTRACT_KEYS)))
            raise ConfigError(msg)
        columns = []
        for name, declared in spec.get("columns", {}).items():
            match = _TYPE.fullmatch(declared) if isinstance(declared, str) else None
            if match is None:
                msg = _("{where}: column {name}: expected a DuckDB type optionally followed by "
                        "NOT NULL, such as \"DOUBLE NOT NULL\", got {value!r}").format(
                    where=where, name=name, value=declared)
                raise ConfigError(msg)
            columns.append(Column(name, match.group(1), bool(match.group(2))))
        if not columns:
            msg = _("{where}: no columns declared").format(where=where)
            raise ConfigError(msg)
        key = spec.get("unique_key", [])
        names = {c.name for c in columns}
        if not key or not all(isinstance(k, str) and k in names for k in key):
            msg = _("{where}: unique_key must list declared columns, got {value!r}").format(
                where=where, value=key)
            raise ConfigError(msg)
        contracts[mart] = Contract(mart, tuple(columns), tuple(key), path)
    return contracts


def check_contracts(
    con: duckdb.DuckDBPyConnection, contracts: dict[str, Contract], marts: Sequence[str]
) -> None:
    """Check each of ``marts`` (tables in ``con``) against its contract."""
    for mart in marts:
        if mart not in contracts:
            msg = _("mart {mart} has no contract in {path}").format(
                mart=mart, path=next(iter(contracts.values())).path)
            raise PipelineError(msg)
        check_contract(con, contracts[mart])
    for mart, contract in contracts.items():
        if mart not in marts:
            msg = _("{path}: [{mart}] is the contract of no mart of pipelines/marts/").format(
                path=contract.path, mart=mart)
            raise PipelineError(msg)


def check_contract(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Check one mart: columns (names, order, types), nulls, unique key."""
    where = _("mart {mart}").format(mart=contract.mart)
    actual = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        f"WHERE table_name = {sql_literal(contract.mart)} ORDER BY column_index").fetchall()
    declared = [c.name for c in contract.columns]
    names = [name for name, _ in actual]
    missing = [n for n in declared if n not in names]
    extra = [n for n in names if n not in declared]
    if missing:
        msg = _("{where}, column {column}: declared in {path} but not in the table").format(
            where=where, column=missing[0], path=contract.path)
        raise PipelineError(msg)
    if extra:
        msg = _("{where}, column {column}: not declared in {path}").format(
            where=where, column=extra[0], path=contract.path)
        raise PipelineError(msg)
    if names != declared:
        moved = next(a for a, b in zip(names, declared, strict=True) if a != b)
        msg = _("{where}, column {column}: not in the order declared in {path}").format(
            where=where, column=moved, path=contract.path)
        raise PipelineError(msg)
    for column, (_name, data_type) in zip(contract.columns, actual, strict=True):
        if data_type != column.type:
            msg = _("{where}, column {column}: type {type}, declared {declared}").format(
                where=where, column=column.name, type=data_type, declared=column.type)
            raise PipelineError(msg)
    required = [c.name for c in contract.columns if c.not_null]
    if required:
        nulls = con.execute(
            f"SELECT {', '.join(f'count(*) - count({_quote(c)})' for c in required)} "
            f"FROM {_quote(contract.mart)}").fetchone() or ()
        for name, count in zip(required, nulls, strict=True):
            if count:
                msg = _("{where}, column {column}: {count} null values, declared NOT "
                        "NULL").format(where=where, column=name, count=count)
                raise PipelineError(msg)
    key = ", ".join(_quote(k) for k in contract.unique_key)
    duplicate = con.execute(
        f"SELECT {key}, count(*) FROM {_quote(contract.mart)} GROUP BY ALL HAVING count(*) > 1 "
        "ORDER BY ALL LIMIT 1").fetchone()
    if duplicate:
        *value, count = duplicate
        msg = _("{where}, column {column}: unique key {value} is on {count} rows").format(
            where=where, column=", ".join(contract.unique_key), value=", ".join(map(str, value)),
            count=count)
        raise PipelineError(msg)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_invariants(con: duckdb.DuckDBPyConnection, layers: Sequence[str]) -> None:
    """Assert the footprint's invariants on ``layers``: its parts add up to it."""
    for layer in layers:
        gap = con.execute(
            f"SELECT max(abs(devices_tco2e + networks_tco2e + datacenters_tco2e - footprint_tco2e)), "
            f"max(abs(embodied_tco2e + use_tco2e - footprint_tco2e)) FROM {layer}"
        ).fetchone() or (0, 0)
        if max(g or 0 for g in gap) > 1e-6:
            msg = _("layer {layer}: parts do not add up to footprint_tco2e (gap {gap})").format(
                layer=layer, gap=max(gap))
            raise PipelineError(msg)


def check_rows_accounted(records: Sequence[InputRecord]) -> None:
    """Every input's rows read = kept + set aside + quarantined."""
    unbalanced = [r.name for r in records if not r.balanced()]
    if unbalanced:
        msg = _("rows read do not equal rows kept + set aside + quarantined for {names}").format(
            names=", ".join(unbalanced))
        raise PipelineError(msg)


def create_empty_marts(con: duckdb.DuckDBPyConnection, contracts: dict[str, Contract],
                       marts: Iterable[str]) -> None:
    """Create ``marts`` (not computed by this run: a scenario mart without scenarios) as empty
    tables with their contract's columns, so that outputs and checks see them as they are."""
    for mart in marts:
        columns = ", ".join(f'"{c.name}" {c.type}' for c in contracts[mart].columns)
        con.execute(f"CREATE OR REPLACE TABLE {mart} ({columns})")
