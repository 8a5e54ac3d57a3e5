"""TOML pipeline files (``pipelines/*.toml``): run parameters a scheduled job can pin.

Known keys of ``[run]``: ``departements`` (list of codes), ``datacenter_scope``,
``population_file`` (path, relative to the TOML file). Registries are declared in
``[sources.<name>]`` tables with ``kind``, ``path`` (relative to the TOML file), and optional
``crs``, ``encoding``, ``separator``, ``commune``, ``year`` and ``columns`` (a table of
role = column name). Unknown keys are rejected so a typo does not silently do nothing.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from territory.errors import ConfigError

KNOWN_KEYS = {"departements", "datacenter_scope", "population_file", "description", "retention_days"}
SOURCE_KEYS = {"kind", "path", "crs", "encoding", "separator", "commune", "year", "columns", "description"}


def read_pipeline_file(path: Path) -> dict[str, Any]:
    """Read and validate a TOML pipeline file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"{path}: pipeline file not found"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as error:
        msg = f"{path}: invalid TOML ({error})"
        raise ConfigError(msg) from error
    run = data.get("run", {})
    unknown = sorted(set(run) - KNOWN_KEYS) + sorted(set(data) - {"run", "sources"})
    if unknown:
        msg = f"{path}: unknown keys {', '.join(unknown)}; known [run] keys: {', '.join(sorted(KNOWN_KEYS))}"
        raise ConfigError(msg)
    if "departements" in run and not (
        isinstance(run["departements"], list) and all(isinstance(c, str) for c in run["departements"])
    ):
        msg = f"{path}: [run] departements must be a list of strings such as [\"44\", \"2A\"]"
        raise ConfigError(msg)
    if "population_file" in run:
        run["population_file"] = str((path.parent / run["population_file"]).resolve())
    run["sources"] = [_source(path, name, spec) for name, spec in data.get("sources", {}).items()]
    return run


def _source(path: Path, name: str, spec: dict[str, Any]) -> tuple[str, Path, dict[str, Any]]:
    from territory.registries._common import KINDS

    unknown = sorted(set(spec) - SOURCE_KEYS)
    if unknown:
        msg = f"{path}: [sources.{name}]: unknown keys {', '.join(unknown)}; known: {', '.join(sorted(SOURCE_KEYS))}"
        raise ConfigError(msg)
    if spec.get("kind") not in KINDS:
        msg = f"{path}: [sources.{name}]: kind must be one of {', '.join(KINDS)}, got {spec.get('kind')!r}"
        raise ConfigError(msg)
    if "path" not in spec:
        msg = f"{path}: [sources.{name}]: path is missing"
        raise ConfigError(msg)
    options = {k: v for k, v in spec.items() if k not in ("kind", "path")}
    return spec["kind"], (path.parent / spec["path"]).resolve(), options
