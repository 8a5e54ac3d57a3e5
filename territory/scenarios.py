"""Scenarios: what the footprint becomes to 2050 without action, and with levers.

A scenario is a TOML file (the shipped ones are in ``pipelines/scenarios/``)::

    [scenario]
    title = "Sobriété"                    # French, shown in the map and the outputs
    description = "Moins d'écrans…"

    [levers]
    by = 2030                             # levers are reached linearly from the base year
                                          # to this year, then held (each lever may set its own)
    lifetime_extension_years = { smartphone = 1, laptop = 2 }   # years added to the lifetime
    refurbished_share = { smartphone = 0.2 }                    # share of purchases refurbished
    stock_change = { television = -0.3 }                        # relative change of the stock
    fibre = { ftth_share = 1.0 }                                # share of copper lines moved to FttH
    streetlights = { led_share = 1.0, switch_off_hours_per_night = 5 }
    datacenters = { pue = 1.2, heat_recovery_share = 0.3 }      # target PUE; share of their
                                                                # energy delivered as heat
    low_carbon_hours = { shifted_share = 1.0 }                  # flexible use moved to clean hours

Every scenario includes the trend trajectories (households, population, jobs, connected objects,
networks, datacenters, electricity; ``data/factors_trajectories.csv``); the baseline
(``baseline.toml``) has no lever. This module reads and checks the files (an unknown key, device
or out-of-range value is one error naming the file and the key) and loads them into DuckDB as
``raw_scenarios`` and ``raw_scenario_levers``; the arithmetic is in the SQL models
(``pipelines/intermediate/int_scenario_*.sql``, ``int_scenario_lines.sql``, ``int_scenarios.sql``, the
``scenarios`` mart).
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from territory.database import insert_rows
from territory.errors import ConfigError
from territory.i18n import _
from territory.settings import pipelines_dir
from territory.sources._files import InputRecord, sha256_of

#: the output of a scenario run: every territory, scenario and year
SCENARIOS_CSV = "scenarios.csv"
#: scenarios.csv: the ``scenarios`` mart, tonnes to the kilogram and kWh to the kWh (1.5 M rows
#: for all of France and seven scenarios: 60 % of the bytes of the full doubles), without the
#: scenarios' titles (in manifest.json's ``scenarios``, the map and the GeoPackage)
SCENARIOS_CSV_SELECT = (
    "SELECT * EXCLUDE (scenario_title) REPLACE (round(footprint_tco2e, 3) AS footprint_tco2e, "
    "round(devices_tco2e, 3) AS devices_tco2e, round(networks_tco2e, 3) AS networks_tco2e, "
    "round(datacenters_tco2e, 3) AS datacenters_tco2e, round(embodied_tco2e, 3) AS embodied_tco2e, "
    "round(use_tco2e, 3) AS use_tco2e, round(use_kwh) AS use_kwh, "
    "round(infrastructure_tco2e, 3) AS infrastructure_tco2e, "
    "round(datacenters_heat_recovered_kwh) AS datacenters_heat_recovered_kwh, "
    "round(avoided_heating_tco2e, 3) AS avoided_heating_tco2e, "
    "round(footprint_vs_baseline_pct, 2) AS footprint_vs_baseline_pct) FROM scenarios")
#: the GeoPackage layer of the scenarios (communes x scenario, a column per year) and the
#: catalogue level of its columns
SCENARIOS_LAYER = "scenarios"
#: prefix of a scenario file's input record (manifest ``inputs``; not a source of the map)
SCENARIO_RECORD = "scenario:"
#: the staging model of the scenarios: the models that read it run only in scenario runs
SCENARIO_SOURCE = "stg_scenarios"
#: the scenario every scenario run includes (its trend, without lever)
BASELINE = "baseline"
#: first and last years of the scenarios (the model's baseline is the first)
BASE_YEAR = 2025
LAST_YEAR = 2050

#: levers keyed by device: (lowest, highest) value allowed
DEVICE_LEVERS: dict[str, tuple[float, float]] = {
    "lifetime_extension_years": (0.0, 10.0),
    "refurbished_share": (0.0, 1.0),
    "stock_change": (-1.0, 1.0),
}
#: levers with named parameters: parameter -> (lowest, highest)
PARAMETER_LEVERS: dict[str, dict[str, tuple[float, float]]] = {
    "fibre": {"ftth_share": (0.0, 1.0)},
    "streetlights": {"led_share": (0.0, 1.0), "switch_off_hours_per_night": (0.0, 12.0)},
    "datacenters": {"pue": (1.0, 3.0), "heat_recovery_share": (0.0, 1.0)},
    "low_carbon_hours": {"shifted_share": (0.0, 1.0)},
}
_TOP_KEYS = ("scenario", "levers")
_SCENARIO_KEYS = ("title", "description")


@dataclass(frozen=True)
class Lever:
    """One lever value: ``lever`` (``stock_change``…), ``target`` (a device or a parameter),
    ``value`` reached in ``by_year``."""

    lever: str
    target: str
    value: float
    by_year: int


@dataclass(frozen=True)
class Scenario:
    """A scenario file, checked."""

    name: str
    title: str
    description: str
    path: Path
    levers: tuple[Lever, ...] = field(default_factory=tuple)


def shipped_dir() -> Path:
    """Folder of the shipped scenarios (``pipelines/scenarios/``)."""
    return pipelines_dir() / "scenarios"


def shipped_names() -> list[str]:
    """Names of the shipped scenarios (file stems)."""
    return sorted(p.stem for p in shipped_dir().glob("*.toml"))


def resolve(value: str) -> Path:
    """A scenario file given as a path or as the name of a shipped scenario (``sobriety``)."""
    path = Path(value)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            msg = _("{path}: no such scenario file").format(path=value)
            raise ConfigError(msg)
        return path
    shipped = shipped_dir() / f"{value}.toml"
    if shipped.is_file():
        return shipped
    names = shipped_names()
    close = difflib.get_close_matches(value, names, n=3, cutoff=0.5)
    msg = (_("unknown scenario {value!r} (not a file, not a shipped scenario); closest: "
             "{names}") if close
           else _("unknown scenario {value!r} (not a file, not a shipped scenario); shipped: "
                  "{names}")).format(value=value, names=", ".join(close or names))
    raise ConfigError(msg)


def _unknown(path: Path, where: str, keys: set[str], known: tuple[str, ...] | list[str]) -> None:
    unknown = sorted(keys - set(known))
    if unknown:
        close = (difflib.get_close_matches(unknown[0], list(known), n=1)
                 or [k for k in sorted(known) if k.startswith(unknown[0])][:1])
        place = where.removesuffix(": ")
        template = (_("{path}: {where}: unknown key {key!r}") if place
                    else _("{path}: unknown key {key!r}"))
        hint = _(" (did you mean {close!r}?)").format(close=close[0]) if close else ""
        msg = _("{error}{hint}; known: {known}").format(
            error=template.format(path=path, where=place, key=unknown[0]), hint=hint,
            known=", ".join(sorted(known)))
        raise ConfigError(msg)


def _number(path: Path, where: str, value: object, bounds: tuple[float, float]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        msg = _("{path}: {where} must be a number, got {value!r}").format(
            path=path, where=where, value=value)
        raise ConfigError(msg)
    low, high = bounds
    if not low <= float(value) <= high:
        msg = _("{path}: {where} = {value} is outside [{low:g}, {high:g}]").format(
            path=path, where=where, value=value, low=low, high=high)
        raise ConfigError(msg)
    return float(value)


def _by_year(path: Path, where: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not BASE_YEAR < value <= LAST_YEAR:
        msg = _("{path}: {where}by must be a year after {first} and at most {last}, got "
                "{value!r}").format(path=path, where=where, first=BASE_YEAR,
                                    last=LAST_YEAR, value=value)
        raise ConfigError(msg)
    return value


def _table(path: Path, where: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        msg = _("{path}: {where} must be a table").format(path=path, where=where)
        raise ConfigError(msg)
    return value


def _levers(path: Path, table: dict[str, Any], devices: list[str]) -> list[Lever]:
    known = ["by", *DEVICE_LEVERS, *PARAMETER_LEVERS]
    _unknown(path, "[levers]: ", set(table), known)
    default_by = _by_year(path, "[levers]: ", table.get("by", 2030))
    levers = []
    for name, bounds in DEVICE_LEVERS.items():
        if name not in table:
            continue
        entries = _table(path, f"[levers.{name}]", table[name])
        by = _by_year(path, f"[levers.{name}]: ", entries.get("by", default_by))
        _unknown(path, f"[levers.{name}]: ", set(entries) - {"by"}, devices)
        levers += [Lever(name, device, _number(path, f"[levers.{name}] {device}", value, bounds), by)
                   for device, value in sorted(entries.items()) if device != "by"]
    for name, parameters in PARAMETER_LEVERS.items():
        if name not in table:
            continue
        entries = _table(path, f"[levers.{name}]", table[name])
        by = _by_year(path, f"[levers.{name}]: ", entries.get("by", default_by))
        _unknown(path, f"[levers.{name}]: ", set(entries) - {"by"}, list(parameters))
        levers += [Lever(name, key, _number(path, f"[levers.{name}] {key}", entries[key],
                                            parameters[key]), by)
                   for key in sorted(entries) if key != "by"]
    return levers


def read_scenario(path: Path, devices: list[str]) -> Scenario:
    """Read and check one scenario file; ``devices`` are the device ids of ``data/devices.csv``."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        msg = _("{path}: not valid TOML: {error}").format(path=path, error=error)
        raise ConfigError(msg) from error
    except OSError as error:
        msg = _("{path}: cannot read: {error}").format(path=path, error=error.strerror)
        raise ConfigError(msg) from error
    _unknown(path, "", set(document), _TOP_KEYS)
    head = _table(path, "[scenario]", document.get("scenario"))
    _unknown(path, "[scenario]: ", set(head), _SCENARIO_KEYS)
    for key in _SCENARIO_KEYS:
        if not isinstance(head.get(key), str) or not head[key].strip():
            msg = _("{path}: [scenario] {key} is missing (a French text)").format(path=path,
                                                                                  key=key)
            raise ConfigError(msg)
    levers = _levers(path, _table(path, "[levers]", document.get("levers", {})), devices)
    return Scenario(path.stem, head["title"].strip(), head["description"].strip(), path,
                    tuple(levers))


def refurbished_factor(device: str) -> str:
    """Factor id of a refurbished device's embodied share (a professional device takes the
    household device's: ``laptop_pro`` → ``refurbished.laptop_embodied_share``)."""
    return f"refurbished.{device.removesuffix('_pro')}_embodied_share"


def _check_refurbished(scenario: Scenario, factors: set[str]) -> None:
    for lever in scenario.levers:
        if lever.lever == "refurbished_share" and not (
                f"refurbished.{lever.target}_embodied_share" in factors
                or refurbished_factor(lever.target) in factors):
            msg = (f"{scenario.path}: [levers.refurbished_share] {lever.target}: no refurbished "
                   f"figure for this device (factor {refurbished_factor(lever.target)} in data/)")
            raise ConfigError(msg)


def load_scenarios(con: duckdb.DuckDBPyConnection, given: tuple[str, ...]) -> list[InputRecord]:
    """Create ``raw_scenarios`` and ``raw_scenario_levers`` (empty when no scenario is given;
    else the baseline first, then each given scenario once) and return their provenance."""
    con.execute("CREATE OR REPLACE TABLE raw_scenarios (scenario VARCHAR, title VARCHAR, "
                "description VARCHAR, position INTEGER)")
    con.execute("CREATE OR REPLACE TABLE raw_scenario_levers (scenario VARCHAR, lever VARCHAR, "
                "target VARCHAR, value DOUBLE, by_year INTEGER)")
    if not given:
        return []
    devices = [str(r[0]) for r in con.execute("SELECT device FROM raw_devices").fetchall()]
    factors = {str(r[0]) for r in con.execute("SELECT id FROM raw_factors").fetchall()}
    paths = [shipped_dir() / f"{BASELINE}.toml", *(resolve(v) for v in given)]
    scenarios: dict[str, Scenario] = {}
    for path in paths:
        scenario = read_scenario(path, devices)
        _check_refurbished(scenario, factors)
        if scenario.name in scenarios and scenarios[scenario.name].path.resolve() != path.resolve():
            msg = _("{path}: a scenario named {name!r} is already given ({other}); rename one "
                    "file").format(path=path, name=scenario.name,
                                   other=scenarios[scenario.name].path)
            raise ConfigError(msg)
        scenarios[scenario.name] = scenario
    ordered = list(scenarios.values())
    insert_rows(con, "raw_scenarios",
                [[s.name, s.title, s.description, i] for i, s in enumerate(ordered)])
    insert_rows(con, "raw_scenario_levers",
                [[s.name, lv.lever, lv.target, lv.value, lv.by_year]
                 for s in ordered for lv in s.levers])
    return [InputRecord(name=f"{SCENARIO_RECORD}{s.name}", path=str(s.path), sha256=sha256_of(s.path),
                        rows_read=len(s.levers), rows_kept=len(s.levers)) for s in ordered]


#: devices that follow a trend of their own (data/device_trajectories.csv); ``from_reference``
#: marks a trend taken from the study the trajectory check compares with (left out of its verdict)
DEVICE_TRAJECTORIES_FILE = "device_trajectories.csv"
DEVICE_TRAJECTORY_COLUMNS = ("device", "growth", "applies_to", "from_reference", "note")
#: what a device trajectory grows: its stock, or its footprint (energy and equipment) per unit
APPLIES_TO = ("stock", "per_unit")


def load_device_trajectories(con: duckdb.DuckDBPyConnection, folder: Path) -> InputRecord:
    """Create ``raw_device_trajectories`` from ``folder``'s ``device_trajectories.csv``, checked
    against the devices and factors already loaded: an unknown device, factor or ``applies_to``
    stops the run naming file, row and column."""
    from territory.errors import FactorTableError
    from territory.sources.drivers import read_table

    path = folder / DEVICE_TRAJECTORIES_FILE
    try:
        rows = read_table(path, DEVICE_TRAJECTORY_COLUMNS)
    except (OSError, ValueError) as error:
        msg = _("{path}: row 1: {error}").format(path=path, error=error)
        raise FactorTableError(msg) from error
    devices = {str(r[0]) for r in con.execute("SELECT device FROM raw_devices").fetchall()}
    factors = {str(r[0]) for r in con.execute("SELECT id FROM raw_factors").fetchall()}
    seen: set[tuple[str, str]] = set()
    for line, row in enumerate(rows, start=2):
        for column, known in (("device", devices), ("growth", factors),
                              ("applies_to", set(APPLIES_TO)),
                              ("from_reference", {"true", "false"})):
            if row[column] not in known:
                close = difflib.get_close_matches(row[column], sorted(known), n=1)
                hint = _(" (did you mean {close!r}?)").format(close=close[0]) if close else ""
                msg = _("{path}: row {row}, column {column}: unknown {value!r}{hint}").format(
                    path=path, row=line, column=column, value=row[column], hint=hint)
                raise FactorTableError(msg)
        key = (row["device"], row["applies_to"])
        if key in seen:
            msg = _("{path}: row {row}, column device: {device} has two {applies_to} "
                    "trends").format(path=path, row=line, device=row["device"],
                                     applies_to=row["applies_to"])
            raise FactorTableError(msg)
        seen.add(key)
    con.execute("CREATE OR REPLACE TABLE raw_device_trajectories "
                "(device VARCHAR, growth VARCHAR, applies_to VARCHAR, from_reference BOOLEAN)")
    insert_rows(con, "raw_device_trajectories",
                [[r["device"], r["growth"], r["applies_to"], r["from_reference"] == "true"]
                 for r in rows])
    return InputRecord(name="data:device_trajectories", path=str(path), sha256=sha256_of(path),
                       rows_read=len(rows), rows_kept=len(rows))


def scenario_years() -> list[int]:
    """The years of the scenarios: the base year, then every five years to 2050."""
    return list(range(BASE_YEAR, LAST_YEAR + 1, 5))


def scenarios_layer_sql() -> str:
    """The ``scenarios`` GeoPackage layer's attributes: one row per commune of the extent and
    scenario, the footprint and its change from the baseline one column per year (the layer is
    a spatial view taking the ``communes`` layer's outlines)."""
    pivots = ",\n".join(
        f"max(s.{column}) FILTER (WHERE s.year = {year}) AS {column}_{year}"
        for column in ("footprint_tco2e", "footprint_vs_baseline_pct") for year in scenario_years())
    return (
        "SELECT s.code_insee, s.nom, s.scenario, s.scenario_title,\n"
        f"{pivots}\n"
        "FROM scenarios AS s\n"
        "WHERE s.level = 'communes'\n"
        "GROUP BY s.code_insee, s.nom, s.scenario, s.scenario_title\n"
        "ORDER BY s.code_insee, s.scenario")
