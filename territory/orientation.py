"""The map's orientation layer: coast, main rivers, préfectures and sous-préfectures.

A choropleth alone does not say where one is: zoomed on Nantes, nothing showed where the Loire
runs. This layer is package data (``package_data/orientation/orientation.parquet``, built by
``scripts/derive_orientation.py`` from Natural Earth, Etalab's découpage administratif and the
embedded commune boundaries; provenance beside it). :func:`orientation_for_map` takes what a
map needs of it: the features around the map's territories, simplified to the map's own
tolerance, those of overseas départements drawn as insets moved into their boxes like the
polygons. :mod:`territory.mapping` encodes them into the page; ``static/map.js`` draws them as a
light overlay that takes no clicks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import numpy as np
import shapely

from territory.errors import ConfigError

#: the package-data file of the layer
ORIENTATION_FILE = ("package_data", "orientation", "orientation.parquet")
#: place kinds, in the order of their importance (a préfecture is shown from the national view,
#: a sous-préfecture when the map is zoomed in)
PLACE_KINDS = ("prefecture", "sous_prefecture")
#: margin kept around the map's territories, in degrees: rivers and towns just beyond a
#: département's edge still say where one is
MARGIN_DEG = 0.3


@dataclass(frozen=True)
class Orientation:
    """Orientation features in EPSG:4326.

    Attributes
    ----------
    coast
        Coast lines (LineString or MultiLineString).
    rivers, river_names, river_ranks
        River lines, their French names and Natural Earth scalerank (smaller = larger river).
    places, place_names, place_kinds, place_codes
        Points of the préfectures and sous-préfectures, their names, kinds
        (:data:`PLACE_KINDS`) and INSEE codes.
    """

    coast: list[shapely.Geometry]
    rivers: list[shapely.Geometry]
    river_names: list[str]
    river_ranks: list[float]
    places: list[shapely.Point]
    place_names: list[str]
    place_kinds: list[str]
    place_codes: list[str]


def load_orientation() -> Orientation:
    """The whole layer, read from the package data."""
    import duckdb

    path = resources.files("territory").joinpath(*ORIENTATION_FILE)
    try:
        with resources.as_file(path) as file:
            rows = duckdb.connect().execute(
                "SELECT kind, name, rank, geometry, code FROM read_parquet(?) ORDER BY kind, rank, name",
                [file.as_posix()]).fetchall()
    except (OSError, duckdb.Error) as error:
        msg = f"territory/{'/'.join(ORIENTATION_FILE)}: cannot read the orientation layer ({error})"
        raise ConfigError(msg) from error
    geometries = shapely.from_wkb([bytes(r[3]) for r in rows])
    kinds = [r[0] for r in rows]
    rivers = [i for i, k in enumerate(kinds) if k == "river"]
    places = sorted((i for i, k in enumerate(kinds) if k in PLACE_KINDS),
                    key=lambda i: (PLACE_KINDS.index(kinds[i]), rows[i][1]))
    return Orientation(
        coast=[geometries[i] for i, k in enumerate(kinds) if k == "coast"],
        rivers=[geometries[i] for i in rivers], river_names=[rows[i][1] or "" for i in rivers],
        river_ranks=[float(rows[i][2] or 0) for i in rivers],
        places=[geometries[i] for i in places], place_names=[rows[i][1] for i in places],
        place_kinds=[kinds[i] for i in places], place_codes=[rows[i][4] for i in places],
    )


#: a rectangle (west, south, east, north) in degrees and what to do with the features in it:
#: nothing (None) or move them (an inset's transform of lon/lat coordinates)
Region = tuple[tuple[float, float, float, float], Callable[[np.ndarray], np.ndarray] | None]


def orientation_for_map(layer: Orientation, regions: list[Region], tolerance_deg: float) -> Orientation:
    """The features of ``layer`` within each region (clipped to it, moved as the region says),
    lines simplified to ``tolerance_deg``: what one map draws."""
    coast: list[shapely.Geometry] = []
    rivers: list[shapely.Geometry] = []
    names: list[str] = []
    ranks: list[float] = []
    places: list[shapely.Point] = []
    place_names: list[str] = []
    place_kinds: list[str] = []
    place_codes: list[str] = []
    for (west, south, east, north), move in regions:
        box = (west - MARGIN_DEG, south - MARGIN_DEG, east + MARGIN_DEG, north + MARGIN_DEG)

        def take(line: shapely.Geometry, box: tuple[float, ...] = box,
                 move: Callable[[np.ndarray], np.ndarray] | None = move) -> shapely.Geometry | None:
            clipped = shapely.simplify(shapely.clip_by_rect(line, *box), tolerance_deg)
            if clipped.is_empty or clipped.length == 0:
                return None
            return shapely.transform(clipped, move) if move is not None else clipped

        coast += [g for g in (take(line) for line in layer.coast) if g is not None]
        for line, name, rank in zip(layer.rivers, layer.river_names, layer.river_ranks, strict=True):
            kept = take(line)
            if kept is not None:
                rivers.append(kept)
                names.append(name)
                ranks.append(rank)
        for point, name, kind, code in zip(layer.places, layer.place_names, layer.place_kinds,
                                           layer.place_codes, strict=True):
            if box[0] <= point.x <= box[2] and box[1] <= point.y <= box[3]:
                places.append(shapely.transform(point, move) if move is not None else point)
                place_names.append(name)
                place_kinds.append(kind)
                place_codes.append(code)
    return Orientation(coast, rivers, names, ranks, places, place_names, place_kinds, place_codes)
