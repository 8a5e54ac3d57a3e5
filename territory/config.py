"""TOML pipeline files (``pipelines/*.toml``): run parameters a scheduled job can pin.

Known keys: ``departements`` (list of codes), ``datacenter_scope``, ``population_file`` (path,
relative to the TOML file). Unknown keys are rejected so a typo does not silently do nothing.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from territory.errors import ConfigError

KNOWN_KEYS = {"departements", "datacenter_scope", "population_file", "description"}


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
    unknown = sorted(set(run) - KNOWN_KEYS) + sorted(set(data) - {"run"})
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
    return run
