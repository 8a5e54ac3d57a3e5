"""Registry kinds, each declared once in a TOML file: ``data/registries/<kind>.toml``.

A spec says what a kind is and everything the run does with it: its French label, whether its
rows are points placed in communes or values per commune, the reader that reads it, the
GeoPackage layer and map style of its points, its energy model (which factor table and factor
ids) and, for kinds read by the generic point reader (:mod:`territory.registries.points`),
its columns with their accepted names, types and whether they are required. A new kind of
points is one TOML file plus its factor table (``factors_<kind>.csv`` beside it): staging,
quarantine, ``validate``, the GeoPackage layer and the map layer follow from the spec.

Specs are read from ``data/registries/`` and from the folders listed in the environment
variable :data:`SPECS_ENV` (separated by ``os.pathsep``), in that order; a kind declared twice
is an error. Loading is light (``tomllib``, no reader imported) and cached per folder list.
"""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from territory.errors import ConfigError

#: extra folders of registry specs (tests, or a planner's own kinds)
SPECS_ENV = "TERRITORY_REGISTRY_SPECS"
#: readers a spec can name: a module of territory.registries
READERS = ("antennas", "datacenters", "infrastructure", "fibre", "income", "points")
#: column types the generic point reader understands
COLUMN_TYPES = ("text", "number", "year", "code_insee")
#: energy models: the built-in kinds keep their formulas in int_registry_points_energy.sql;
#: ``power``: kWh a year = power_w x hours_per_year / 1000, from the kind's factor table
ENERGY_MODELS = ("antennas", "datacenters", "streetlights", "cameras", "sensors", "power", "none")
_TOP_KEYS = {"kind", "label", "aliases", "unnamed_fr", "placed", "reader", "layer", "crs", "energy",
             "map", "columns"}
_COLUMN_KEYS = {"names", "type", "required", "target"}
_MAP_KEYS = {"colour", "cluster", "fields", "shown", "size", "size_origin", "size_declared", "note"}


@dataclass(frozen=True)
class ColumnSpec:
    """A column of a generic point registry: its role, accepted names (compared folded: lower
    case, no accents, ``_`` for spaces and dashes), type, and whether a file must have it."""

    role: str
    names: tuple[str, ...]
    type: str = "text"
    required: bool = False
    #: column of raw_registry_points it fills (name, operator, subtype, installed_year,
    #: code_insee), or none (x / y)
    target: str | None = None


@dataclass(frozen=True)
class EnergySpec:
    """Which formula turns a point into electricity, and the factor ids it uses."""

    model: str
    factors: str | None = None  # the factor table file, beside the spec or in data/
    power_w: str | None = None
    hours_per_year: str | None = None


@dataclass(frozen=True)
class RegistrySpec:
    """One registry kind (see the module docstring)."""

    kind: str
    label: str
    placed: str  # "points" or "communes"
    reader: str
    path: Path
    layer: str | None = None
    crs: str | None = None
    energy: EnergySpec = EnergySpec("none")
    map: dict[str, Any] = field(default_factory=dict)
    columns: tuple[ColumnSpec, ...] = ()
    #: other names of the kind (French: ``antennes``), accepted wherever a kind is given
    aliases: tuple[str, ...] = ()
    #: French name shown for a point without one ("Centre de données sans nom")
    unnamed_fr: str | None = None

    @property
    def is_points(self) -> bool:
        return self.placed == "points"

    def factor_table(self) -> Path | None:
        """The spec's own factor table when it lies beside the spec file (else ``None``: the
        table is one of data/'s ``factors_*.csv``, loaded with the others)."""
        if not self.energy.factors:
            return None
        beside = self.path.parent / self.energy.factors
        return beside if beside.is_file() and beside.parent != _builtin_dir() else None

    def map_layer(self) -> dict[str, Any]:
        """The ``[[points]]`` entry of the map for this kind."""
        style = {"layer": self.kind, "kinds": [self.kind], "label": self.label,
                 "colour": "#666666", "cluster": True,
                 "fields": ["name", "subtype", "electricity_kwh", "territorial_tco2e",
                            "code_insee"]}
        return {**style, **self.map}


def _builtin_dir() -> Path:
    from territory.settings import data_dir

    return data_dir() / "registries"


def spec_folders() -> tuple[Path, ...]:
    """Folders of registry specs: ``data/registries`` and those of ``TERRITORY_REGISTRY_SPECS``."""
    extra = [Path(p) for p in os.environ.get(SPECS_ENV, "").split(os.pathsep) if p.strip()]
    return (_builtin_dir(), *extra)


def _fail(path: Path, what: str) -> ConfigError:
    return ConfigError(f"{path}: {what}")


def _column(path: Path, role: str, table: Any) -> ColumnSpec:
    if not isinstance(table, dict):
        raise _fail(path, f"[columns.{role}] must be a table (names, type, required)")
    unknown = sorted(set(table) - _COLUMN_KEYS)
    if unknown:
        raise _fail(path, f"[columns.{role}]: unknown key(s) {', '.join(unknown)}")
    kind = table.get("type", "text")
    if kind not in COLUMN_TYPES:
        raise _fail(path, f"[columns.{role}]: type {kind!r} is not one of {', '.join(COLUMN_TYPES)}")
    names = table.get("names", [role])
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise _fail(path, f"[columns.{role}]: names must be a list of column names")
    return ColumnSpec(role, tuple(names), kind, bool(table.get("required", False)),
                      table.get("target"))


def _spec(path: Path) -> RegistrySpec:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise _fail(path, f"cannot read the registry spec ({error})") from None
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(unknown)}")
    for key in ("kind", "label", "placed", "reader"):
        if not isinstance(data.get(key), str):
            raise _fail(path, f"{key} is required (text)")
    if not isinstance(data.get("unnamed_fr", ""), str):
        raise _fail(path, "unnamed_fr must be text")
    if data["placed"] not in ("points", "communes"):
        raise _fail(path, f"placed must be points or communes, got {data['placed']!r}")
    if data["reader"] not in READERS:
        raise _fail(path, f"reader must be one of {', '.join(READERS)}, got {data['reader']!r}")
    energy = data.get("energy", {"model": "none"})
    if energy.get("model") not in ENERGY_MODELS:
        raise _fail(path, f"[energy] model must be one of {', '.join(ENERGY_MODELS)}")
    if energy["model"] == "power" and not (energy.get("power_w") and energy.get("hours_per_year")):
        raise _fail(path, "[energy] model power needs power_w and hours_per_year (factor ids)")
    style = data.get("map", {})
    unknown = sorted(set(style) - _MAP_KEYS)
    if unknown:
        raise _fail(path, f"[map]: unknown key(s) {', '.join(unknown)}")
    columns = tuple(_column(path, role, t) for role, t in data.get("columns", {}).items())
    aliases = data.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise _fail(path, "aliases must be a list of names, e.g. [\"antennes\"]")
    if data["reader"] == "points" and not {"x", "y"} <= {c.role for c in columns}:
        raise _fail(path, "the points reader needs [columns.x] and [columns.y]")
    return RegistrySpec(
        kind=data["kind"], label=data["label"], placed=data["placed"], reader=data["reader"],
        path=path, layer=data.get("layer"), crs=data.get("crs"),
        energy=EnergySpec(energy["model"], energy.get("factors"), energy.get("power_w"),
                          energy.get("hours_per_year")),
        map=dict(style), columns=columns, aliases=tuple(aliases),
        unnamed_fr=data.get("unnamed_fr"))


@functools.lru_cache(maxsize=8)
def _load(folders: tuple[Path, ...]) -> dict[str, RegistrySpec]:
    specs: dict[str, RegistrySpec] = {}
    from territory.registries.kinds import KINDS

    def order(path: Path) -> tuple[int, str]:  # built-in kinds in their usual order
        return (KINDS.index(path.stem) if path.stem in KINDS else len(KINDS), path.stem)

    for folder in folders:
        for path in sorted(folder.glob("*.toml"), key=order):
            spec = _spec(path)
            if spec.kind in specs:
                raise _fail(path, f"kind {spec.kind!r} is already declared in "
                                  f"{specs[spec.kind].path}")
            specs[spec.kind] = spec
    _check_aliases(specs)
    return specs


def _check_aliases(specs: dict[str, RegistrySpec]) -> None:
    """An alias names one kind only, and no alias is another kind's name."""
    from territory.registries.kinds import fold_kind

    named: dict[str, str] = {fold_kind(kind): kind for kind in specs}
    for spec in specs.values():
        for alias in spec.aliases:
            other = named.setdefault(fold_kind(alias), spec.kind)
            if other != spec.kind:
                raise _fail(spec.path, f"alias {alias!r} already names the kind {other!r}")


def registry_specs() -> dict[str, RegistrySpec]:
    """Every registry kind's spec, by kind, in declaration order (built-in kinds first)."""
    return _load(spec_folders())


def registry_spec(kind: str) -> RegistrySpec:
    from territory.registries.kinds import canonical_kind

    specs = registry_specs()
    kind = canonical_kind(kind) or kind
    if kind not in specs:
        msg = f"unknown source kind {kind!r}; known kinds: {', '.join(specs)}"
        raise ConfigError(msg)
    return specs[kind]


def point_layers() -> dict[str, tuple[str, ...]]:
    """GeoPackage point layers and the kinds each holds, in the order of the kinds."""
    layers: dict[str, list[str]] = {}
    for spec in registry_specs().values():
        if spec.is_points:
            layers.setdefault(spec.layer or spec.kind, []).append(spec.kind)
    return {layer: tuple(kinds) for layer, kinds in layers.items()}


def map_point_layers(declared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The map's ``[[points]]`` entries: those the map definition declares (checked against
    the specs: known kinds, each kind drawn once), then one per point kind it leaves out,
    built from the kind's spec. Each entry gets the French name of an unnamed point
    (``unnamed``) from the spec of its first kind, when that spec declares one
    (``unnamed_fr``)."""
    specs = registry_specs()
    drawn: set[str] = set()
    for entry in declared:
        unknown = [k for k in entry.get("kinds", []) if k not in specs]
        if unknown:
            msg = (f"map definition: [[points]] layer {entry.get('layer')!r} names unknown "
                   f"kind(s) {', '.join(unknown)}; known: {', '.join(specs)}")
            raise ConfigError(msg)
        drawn.update(entry.get("kinds", []))
    extra = [spec.map_layer() for spec in specs.values() if spec.is_points and spec.kind not in drawn]
    layers = []
    for entry in [*declared, *extra]:
        kinds = entry.get("kinds", [])
        unnamed = specs[kinds[0]].unnamed_fr if kinds else None
        layers.append({**entry, "unnamed": unnamed} if unnamed else entry)
    return layers


def point_layer_style(layer: str) -> tuple[str, str] | None:
    """French label and colour of a GeoPackage point layer from its kinds' specs (labels
    joined when it holds several kinds), or ``None`` when no spec names the layer."""
    specs = [s for s in registry_specs().values() if s.is_points and (s.layer or s.kind) == layer]
    if not specs:
        return None
    return " ; ".join(s.label for s in specs), str(specs[0].map.get("colour", "#984ea3"))


def energy_models() -> list[tuple[str, str, str]]:
    """``(kind, power factor id, hours factor id)`` of the kinds with the ``power`` model."""
    return [(s.kind, s.energy.power_w or "", s.energy.hours_per_year or "")
            for s in registry_specs().values() if s.energy.model == "power"]


def extra_factor_tables() -> list[Path]:
    """Factor tables of specs outside data/ (they are loaded with data/'s tables)."""
    return [t for s in registry_specs().values() if (t := s.factor_table()) is not None]
