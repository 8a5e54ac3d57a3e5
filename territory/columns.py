"""The column catalogue (``data/columns.toml``): every published column declared once.

Each column has its French label and unit, a short description, the levels where it exists and,
for the indicators, its default map and QGIS style. The GeoPackage (field aliases, named QGIS
styles), the map (indicators, legends, popups), the density raster's style and the column list
of ``docs/methodology.md`` (``scripts/document_columns.py``) read it.

The same name may be declared twice for different levels: ``territorial_tco2e`` of a territory
("Émissions sur le territoire") is not that of a registry point ("Émissions"). A name and a
level identify one column.

Loading checks every key and type; an error names the file and the key, on one line. Nothing is
read at import time: :func:`catalogue` reads the file the first time it is asked for.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from territory.errors import ConfigError
from territory.settings import data_dir

#: where a column may exist: the four polygon marts, then the registry points and the scenarios
LEVELS = ("communes", "epci", "departements", "regions", "registry_points", "scenarios")
#: the polygon levels (administrative territories)
TERRITORY_LEVELS = LEVELS[:4]
TYPES = ("text", "integer", "number", "boolean")
QUANTITIES = ("extensive", "intensive")
CLASSIFICATIONS = ("quantile",)
CATALOGUE_FILE = "columns.toml"


@dataclass(frozen=True)
class Style:
    """Default map and QGIS style of a numeric column.

    Attributes
    ----------
    palette
        Colours of the classes, lightest first (a palette of the catalogue).
    palette_name
        Name of that palette in the catalogue (``YlOrRd``).
    classification
        Classification method (``quantile``).
    map_indicator
        Offered in the map's list of indicators.
    optional
        Offered on the map only where some territory has a non-zero value (registry columns).
    qgis_style
        A named graduated QGIS style of every polygon layer that has the column.
    """

    palette: tuple[str, ...]
    palette_name: str
    classification: str
    map_indicator: bool = False
    optional: bool = False
    qgis_style: bool = False


@dataclass(frozen=True)
class Column:
    """One column of the catalogue (see ``data/columns.toml`` for the meaning of each field)."""

    name: str
    levels: tuple[str, ...]
    type: str
    label: str
    unit: str
    description: str
    short_label: str = ""
    decimals: int | None = None
    quantity: str | None = None
    style: Style | None = None

    @property
    def gis_unit(self) -> str:
        """The unit as GIS labels write it: ASCII digits (CO2, not CO₂)."""
        return self.unit.translate(_SUBSCRIPTS)

    @property
    def alias(self) -> str:
        """French field alias (QGIS): the label, then the unit in brackets."""
        return f"{self.label} ({self.gis_unit})" if self.unit else self.label

    @property
    def titled(self) -> str:
        """The label and its unit as the map writes them (popups of registry points)."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def intensive(self) -> bool:
        """A ratio (per inhabitant, a share...): map classes from inhabited territories only."""
        return self.quantity == "intensive"

    @property
    def integer(self) -> bool:
        """Whole numbers: legend classes read "2", "3 – 5"."""
        return self.type == "integer"


_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")


@dataclass(frozen=True)
class Catalogue:
    """The columns of ``data/columns.toml``, in the file's order.

    Attributes
    ----------
    path
        File read.
    columns
        Every column, in the file's order.
    palettes
        Palette name -> colours, lightest first.
    qgis_default_style
        Column whose QGIS style is applied when a polygon layer is added.
    """

    path: Path
    columns: tuple[Column, ...]
    palettes: dict[str, tuple[str, ...]]
    qgis_default_style: str

    def at(self, level: str) -> list[Column]:
        """The columns of ``level``, in the catalogue's order."""
        return [c for c in self.columns if level in c.levels]

    def column(self, name: str, level: str) -> Column:
        """The column ``name`` of ``level``; a ConfigError naming the file when there is none."""
        for c in self.columns:
            if c.name == name and level in c.levels:
                return c
        msg = f"{self.path}: no column {name!r} at level {level!r}"
        raise ConfigError(msg)

    def get(self, name: str, level: str) -> Column | None:
        """The column ``name`` of ``level``, or None."""
        return next((c for c in self.columns if c.name == name and level in c.levels), None)

    def map_indicators(self) -> list[Column]:
        """The columns offered as map indicators, in the catalogue's order."""
        return [c for c in self.columns if c.style and c.style.map_indicator]

    def qgis_styles(self) -> list[Column]:
        """The columns with a named QGIS style, the default one first."""
        styled = [c for c in self.columns if c.style and c.style.qgis_style]
        return sorted(styled, key=lambda c: c.name != self.qgis_default_style)


@cache
def catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue of ``path`` (default ``data/columns.toml``), read once."""
    return load_catalogue(path or data_dir() / CATALOGUE_FILE)


_COLUMN_KEYS = {"name": str, "levels": list, "type": str, "label": str, "unit": str,
                "description": str, "short_label": str, "decimals": int, "quantity": str,
                "style": dict}
_REQUIRED = ("name", "levels", "type", "label", "unit", "description")
_STYLE_KEYS = {"palette": str, "classification": str, "map_indicator": bool, "optional": bool,
               "qgis_style": bool}


def load_catalogue(path: Path) -> Catalogue:
    """Read and check a column catalogue; a ConfigError names the file and the key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        msg = f"{path}: cannot read the column catalogue ({error})"
        raise ConfigError(msg) from error
    unknown = sorted(set(raw) - {"qgis_default_style", "palettes", "columns"})
    if unknown:
        msg = f"{path}: unknown keys {', '.join(unknown)}; known: columns, palettes, qgis_default_style"
        raise ConfigError(msg)
    palettes = _palettes(path, raw.get("palettes", {}))
    entries = raw.get("columns")
    if not isinstance(entries, list) or not entries:
        msg = f"{path}: no [[columns]]"
        raise ConfigError(msg)
    columns = tuple(_column(path, i, entry, palettes) for i, entry in enumerate(entries))
    seen: set[tuple[str, str]] = set()
    for c in columns:
        for level in c.levels:
            if (c.name, level) in seen:
                msg = f"{path}: column {c.name!r} is declared twice for level {level!r}"
                raise ConfigError(msg)
            seen.add((c.name, level))
    default = raw.get("qgis_default_style")
    if not any(c.name == default and c.style and c.style.qgis_style for c in columns):
        msg = f"{path}: qgis_default_style {default!r} is not a column with qgis_style = true"
        raise ConfigError(msg)
    return Catalogue(path, columns, palettes, str(default))


def _palettes(path: Path, raw: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        msg = f"{path}: [palettes] must be a table"
        raise ConfigError(msg)
    out = {}
    for name, colours in raw.items():
        if not (isinstance(colours, list) and len(colours) >= 2
                and all(isinstance(c, str) and len(c) == 7 and c.startswith("#")
                        for c in colours)):
            msg = f"{path}: palettes.{name} must be a list of at least two #rrggbb colours"
            raise ConfigError(msg)
        out[name] = tuple(colours)
    return out


def _checked(path: Path, where: str, table: Any, keys: dict[str, type]) -> dict[str, Any]:
    """``table`` once every key is known and of its type."""
    if not isinstance(table, dict):
        msg = f"{path}: {where} must be a table"
        raise ConfigError(msg)
    for key, value in table.items():
        if key not in keys:
            msg = f"{path}: {where} unknown key {key!r}; known: {', '.join(keys)}"
            raise ConfigError(msg)
        # bool is an int in Python: a decimals of true is no number of decimals
        if not isinstance(value, keys[key]) or (keys[key] is int and isinstance(value, bool)):
            msg = (f"{path}: {where}.{key} must be a {keys[key].__name__}, "
                   f"not {type(value).__name__} {value!r}")
            raise ConfigError(msg)
    return table


def _one_of(path: Path, where: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        msg = f"{path}: {where} is {value!r}; expected one of {', '.join(allowed)}"
        raise ConfigError(msg)


def _column(path: Path, index: int, entry: Any, palettes: dict[str, tuple[str, ...]]) -> Column:
    name = entry.get("name") if isinstance(entry, dict) else None
    where = f"columns[{index}]" + (f" ({name})" if isinstance(name, str) else "")
    entry = _checked(path, where, entry, _COLUMN_KEYS)
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        msg = f"{path}: {where} lacks {', '.join(missing)}"
        raise ConfigError(msg)
    if not entry["levels"]:
        msg = f"{path}: {where}.levels is empty"
        raise ConfigError(msg)
    for level in entry["levels"]:
        _one_of(path, f"{where}.levels", level, LEVELS)
    _one_of(path, f"{where}.type", entry["type"], TYPES)
    numeric = entry["type"] in ("integer", "number")
    for key in ("decimals", "quantity", "style"):
        if key in entry and not numeric:
            msg = f"{path}: {where}.{key} is for numbers only (type is {entry['type']!r})"
            raise ConfigError(msg)
        if key in ("decimals", "quantity") and numeric and key not in entry:
            msg = f"{path}: {where} lacks {key} (a number column needs it)"
            raise ConfigError(msg)
    if "quantity" in entry:
        _one_of(path, f"{where}.quantity", entry["quantity"], QUANTITIES)
    style = None
    if "style" in entry:
        raw = _checked(path, f"{where}.style", entry["style"], _STYLE_KEYS)
        for key in ("palette", "classification"):
            if key not in raw:
                msg = f"{path}: {where}.style lacks {key}"
                raise ConfigError(msg)
        _one_of(path, f"{where}.style.palette", raw["palette"], tuple(palettes))
        _one_of(path, f"{where}.style.classification", raw["classification"], CLASSIFICATIONS)
        style = Style(palettes[raw["palette"]], raw["palette"], raw["classification"],
                      raw.get("map_indicator", False), raw.get("optional", False),
                      raw.get("qgis_style", False))
    return Column(
        name=entry["name"], levels=tuple(entry["levels"]), type=entry["type"],
        label=entry["label"], unit=entry["unit"], description=entry["description"],
        short_label=entry.get("short_label", ""), decimals=entry.get("decimals"),
        quantity=entry.get("quantity"), style=style,
    )
