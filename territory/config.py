"""TOML pipeline files (``pipelines/*.toml``): run parameters a scheduled job can pin.

Known keys of ``[run]``: ``departements`` (list of codes or names), ``epcis`` (list of SIRENs
or names), ``communes`` (list of codes or names; the extent is the union of the three, see
:mod:`territory.extent`), ``datacenter_scope``,
``national_reference`` (``"2022"`` or ``"2020"``),
``population_file``, ``jobs_file``, ``age_file`` (paths, relative to the TOML file). Registries are declared in
``[sources.<name>]`` tables with ``kind`` (its French name is accepted too: ``antennes``,
``eclairage_public``…), ``path`` (relative to the TOML file) and/or ``url``, and optional
``crs``, ``encoding``, ``separator``, ``commune``, ``year`` and ``columns`` (a table of role =
column name). Unknown keys are rejected so a typo does not silently do nothing.

A ``[factors]`` table overrides factors of ``data/`` for the runs of this file:
``"smartphone.lifetime_years" = 3.5`` (the table's low and high kept), or
``{ value = 3.5, low = 3, high = 4 }``, or the id of another factor whose figures are taken
(same unit). Ids are checked against the factor tables (an unknown id is an error naming the
closest ones); dotted keys may be written unquoted.

A source with a ``url`` is downloaded by ``territory fetch --config FILE``, never by a run: the
run reads the cached copy (see :mod:`territory.fetch`), unless ``path`` is given too and the file
is there, which then wins. A url-only source missing from the cache is an error naming the
fetch command.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from territory.errors import ConfigError
from territory.i18n import _
from territory.settings import FactorOverride, data_dir

#: per-commune INSEE files of a pipeline's [run] table (paths relative to the TOML file)
CENSUS_KEYS = ("population_file", "jobs_file", "age_file")
KNOWN_KEYS = {"departements", "epcis", "communes", "datacenter_scope", "national_reference",
              "description", "retention_days", "scenarios", *CENSUS_KEYS}
TABLES = {"run", "sources", "factors"}
OVERRIDE_KEYS = {"value", "low", "high"}
SOURCE_KEYS = {
    "kind", "path", "url", "crs", "encoding", "separator", "commune", "year", "columns",
    "description",
}


def read_pipeline_file(path: Path) -> dict[str, Any]:
    """Read and validate a TOML pipeline file."""
    data = _load(path)
    run = data.get("run", {})
    for key in CENSUS_KEYS:
        if key in run:
            run[key] = str((path.parent / run[key]).resolve())
    # scenarios: shipped names, or files relative to the TOML file
    scenarios = run.get("scenarios", [])
    if not isinstance(scenarios, list) or not all(isinstance(v, str) for v in scenarios):
        msg = _("{path}: [run] scenarios must be a list of scenario names or files").format(
            path=path)
        raise ConfigError(msg)
    run["scenarios"] = [str((path.parent / v).resolve()) if v.endswith(".toml") else v
                        for v in scenarios]
    run["sources"] = [_source(path, name, spec) for name, spec in data.get("sources", {}).items()]
    run["factor_overrides"] = factor_overrides(path, data.get("factors", {}))
    return run


def factor_overrides(path: Path, table: dict[str, Any]) -> tuple[FactorOverride, ...]:
    """The ``[factors]`` table of a pipeline file as overrides, checked against ``data/``."""
    from territory.sources.factors import check_overrides

    overrides = tuple(_overrides(path, "", table))
    check_overrides(data_dir(), overrides, f"{path}: [factors]")
    return overrides


def _overrides(path: Path, prefix: str, table: dict[str, Any]) -> list[FactorOverride]:
    found: list[FactorOverride] = []
    for key, spec in table.items():
        fid = prefix + key
        if isinstance(spec, dict) and "value" in spec:
            unknown = sorted(set(spec) - OVERRIDE_KEYS)
            if unknown:
                msg = _("{path}: [factors] {id}: unknown keys {unknown}; known: {known}").format(
                    path=path, id=fid, unknown=", ".join(unknown),
                    known=", ".join(sorted(OVERRIDE_KEYS)))
                raise ConfigError(msg)
            found.append((fid, spec["value"], spec.get("low"), spec.get("high")))
        elif isinstance(spec, dict):
            # an unquoted dotted key (smartphone.lifetime_years = 3.5) is a nested table in TOML
            found += _overrides(path, fid + ".", spec)
        else:
            found.append((fid, spec, None, None))
    return found


def source_urls(path: Path) -> list[tuple[str, str, str]]:
    """``(name, kind, url)`` of the sources of a pipeline file that give a ``url``."""
    data = _load(path)
    found = []
    for name, spec in data.get("sources", {}).items():
        _check_source(path, name, spec)
        if "url" in spec:
            found.append((name, spec["kind"], spec["url"]))
    return found


def _load(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = _("{path}: pipeline file not found").format(path=path)
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as error:
        msg = _("{path}: invalid TOML ({error})").format(path=path, error=error)
        raise ConfigError(msg) from error
    run = data.get("run", {})
    unknown = sorted(set(data) - TABLES)
    if unknown:
        msg = _("{path}: unknown keys {unknown}; known tables: {known}").format(
            path=path, unknown=", ".join(unknown), known=", ".join(sorted(TABLES)))
        raise ConfigError(msg)
    unknown = sorted(set(run) - KNOWN_KEYS)
    if unknown:
        msg = _("{path}: [run]: unknown keys {unknown}; known: {known}").format(
            path=path, unknown=", ".join(unknown), known=", ".join(sorted(KNOWN_KEYS)))
        raise ConfigError(msg)
    examples = {"departements": '["44", "2A"]', "epcis": '["244400404", "Rennes Métropole"]',
                "communes": '["44109", "Saint-Herblain"]'}
    for key, example in examples.items():
        if key in run and not (
            isinstance(run[key], list) and all(isinstance(c, str) for c in run[key])
        ):
            msg = _("{path}: [run] {key} must be a list of strings such as {example}").format(
                path=path, key=key, example=example)
            raise ConfigError(msg)
    return data


def _check_source(path: Path, name: str, spec: dict[str, Any]) -> None:
    from territory.registries.kinds import canonical_kind, kinds_help

    unknown = sorted(set(spec) - SOURCE_KEYS)
    if unknown:
        msg = _("{path}: [sources.{name}]: unknown keys {unknown}; known: {known}").format(
            path=path, name=name, unknown=", ".join(unknown), known=", ".join(sorted(SOURCE_KEYS)))
        raise ConfigError(msg)
    kind = spec.get("kind")
    if not isinstance(kind, str) or canonical_kind(kind) is None:
        msg = _("{path}: [sources.{name}]: kind must be one of {kinds}, got {kind!r}").format(
            path=path, name=name, kinds=kinds_help(), kind=kind)
        raise ConfigError(msg)
    spec["kind"] = canonical_kind(kind)
    if "path" not in spec and "url" not in spec:
        msg = _("{path}: [sources.{name}]: path (or url) is missing").format(path=path,
                                                                              name=name)
        raise ConfigError(msg)
    if "url" in spec:
        from territory.fetch import check_url

        check_url(spec["url"], f"{path}: [sources.{name}]")


def _source(path: Path, name: str, spec: dict[str, Any]) -> tuple[str, Path, dict[str, Any]]:
    _check_source(path, name, spec)
    options = {k: v for k, v in spec.items() if k not in ("kind", "path", "url")}
    if "path" in spec:
        local = (path.parent / spec["path"]).resolve()
        if "url" not in spec or local.exists():
            return spec["kind"], local, options
    from territory.fetch import cache_dir, cached_copy

    copy = cached_copy(spec["url"])
    if copy is None:
        msg = _("{path}: [sources.{name}]: {url} is not in the cache ({cache}): run `territory "
                "fetch --config {path}` first").format(path=path, name=name, url=spec["url"],
                                                       cache=cache_dir())
        raise ConfigError(msg)
    return spec["kind"], copy.path, options
