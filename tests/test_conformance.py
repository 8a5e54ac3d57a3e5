"""The outputs against their formats' own validators, and the same outputs from the same inputs.

- every GeoPackage a run writes passes GDAL's OGC GeoPackage validator (``validate_gpkg -k
  --extra``), with and without registry point layers;
- the density raster passes GDAL's Cloud Optimized GeoTIFF validator;
- two runs on the same inputs write the same raster bytes and the same GeoPackage tables (no
  time stamp in either: the run's time is in manifest.json only).

Negative controls show that each validator rejects what it should, so a pass means something.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling

from territory.writers import DENSITY_RASTER
from territory.density import NODATA
from territory.geopackage import CONTENT_DATE
from territory.run import run_pipeline
from territory.settings import RunSettings
from tests.conftest import GdalValidators

FIXTURES = Path(__file__).parent / "fixtures"
#: one registry of each kind of point layer (antennas, datacenters, infrastructure)
REGISTRIES = (
    ("antennas", FIXTURES / "antennas" / "arcep_sites_44.csv"),
    ("datacenters", FIXTURES / "map" / "datacenters_44.geojson"),
    ("cameras", FIXTURES / "map" / "cameras_44.csv"),
)
POINT_LAYERS = {"antennas", "datacenters", "infrastructure"}


def _report(proc: Any) -> str:
    return f"exit {proc.returncode}\nstdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"


def _assert_conforms(validators: GdalValidators, gpkg: Path) -> None:
    proc = validators.gpkg(gpkg)
    # exit 0 and nothing printed: no error ("Req N: ...") and no warning either
    assert proc.returncode == 0, _report(proc)
    assert proc.stdout.strip() == "", _report(proc)


def _tables(gpkg: Path) -> dict[str, list[tuple]]:
    """Every table of the GeoPackage (sqlite_master's too): its rows, in a set order."""
    with closing(sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)) as db:
        out = {"sqlite_master": db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()}
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            width = len(db.execute(f'SELECT * FROM "{name}" LIMIT 0').description)
            order = ", ".join(str(i) for i in range(1, width + 1))
            out[name] = db.execute(f'SELECT * FROM "{name}" ORDER BY {order}').fetchall()
    return out


def _differences(first: dict[str, list[tuple]], second: dict[str, list[tuple]]) -> list[str]:
    problems = [f"table {name} in one GeoPackage only"
                for name in sorted(set(first) ^ set(second))]
    for name in sorted(set(first) & set(second)):
        a, b = first[name], second[name]
        if len(a) != len(b):
            problems.append(f"{name}: {len(a)} rows, then {len(b)}")
            continue
        changed = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
        if changed:
            x, y = changed[0]
            columns = [i for i, (u, v) in enumerate(zip(x, y, strict=True)) if u != v]
            problems.append(f"{name}: {len(changed)} rows differ, first in columns {columns}: "
                            f"{str([x[i] for i in columns])[:200]} then "
                            f"{str([y[i] for i in columns])[:200]}")
    return problems


# --------------------------------------------------------------------------------------------
# GeoPackage


def test_geopackage_of_the_loire_atlantique_run_conforms(gdal_validators: GdalValidators,
                                                          run_44: Path) -> None:
    _assert_conforms(gdal_validators, run_44 / "territory.gpkg")


@pytest.fixture(scope="module")
def run_44_registries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`territory run --departement 44` with an antenna, a datacenter and a camera registry."""
    out = tmp_path_factory.mktemp("conformance_registries") / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("44",), progress=False,
                             sources=tuple((kind, path, {}) for kind, path in REGISTRIES)))
    return out


def test_geopackage_with_point_layers_conforms(gdal_validators: GdalValidators,
                                               run_44_registries: Path) -> None:
    gpkg = run_44_registries / "territory.gpkg"
    with closing(sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)) as db:
        points = {name for (name,) in db.execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type = 'features'")}
    assert points >= POINT_LAYERS, "the run should have written every point layer"
    _assert_conforms(gdal_validators, gpkg)


def test_validator_rejects_a_text_primary_key(gdal_validators: GdalValidators, run_44: Path,
                                              tmp_path: Path) -> None:
    """Negative control: the metadata table as it was (``key TEXT PRIMARY KEY``) is refused."""
    gpkg = tmp_path / "territory.gpkg"
    shutil.copyfile(run_44 / "territory.gpkg", gpkg)
    with closing(sqlite3.connect(gpkg)) as db, db:
        rows = db.execute("SELECT key, value FROM territory_metadata").fetchall()
        db.execute("DROP TABLE territory_metadata")
        db.execute("CREATE TABLE territory_metadata (key TEXT PRIMARY KEY, value TEXT)")
        db.executemany("INSERT INTO territory_metadata VALUES (?, ?)", rows)
    proc = gdal_validators.gpkg(gpkg)
    assert proc.returncode == 1, _report(proc)
    assert ("Req 119: table territory_metadata has a PRIMARY KEY of type TEXT instead of "
            "INTEGER") in proc.stdout.splitlines(), _report(proc)


def test_geopackage_holds_no_time_of_generation(run_44: Path) -> None:
    """run.py's provenance still has a ``generated`` key: the writer leaves it out, and every
    date column holds the fixed date."""
    with closing(sqlite3.connect(f"file:{run_44 / 'territory.gpkg'}?mode=ro", uri=True)) as db:
        keys = {key for (key,) in db.execute("SELECT key FROM territory_metadata")}
        dates = {
            "gpkg_contents.last_change": {d for (d,) in db.execute(
                "SELECT last_change FROM gpkg_contents")},
            "gpkg_metadata_reference.timestamp": {d for (d,) in db.execute(
                "SELECT timestamp FROM gpkg_metadata_reference")},
            "layer_styles.update_time": {d for (d,) in db.execute(
                "SELECT update_time FROM layer_styles")},
        }
        documents = [text for (text,) in db.execute("SELECT metadata FROM gpkg_metadata")]
    assert "factor_table_version" in keys and "generated" not in keys
    assert dates == {key: {CONTENT_DATE} for key in dates}
    assert documents and not any("generated" in text or "Généré le" in text
                                 for text in documents)


# --------------------------------------------------------------------------------------------
# density raster


def test_density_raster_is_a_cloud_optimized_geotiff(gdal_validators: GdalValidators,
                                                     run_44: Path) -> None:
    raster = run_44 / DENSITY_RASTER
    proc = gdal_validators.cog(raster)
    assert proc.returncode == 0, _report(proc)
    assert f"{raster} is a valid cloud optimized GeoTIFF" in proc.stdout
    assert "warning" not in proc.stdout.lower(), proc.stdout
    with rasterio.open(raster) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
        assert src.crs.to_epsg() == 3035 and src.dtypes == ("float32",)
        assert src.nodata == NODATA and src.block_shapes[0] == (256, 256)
        assert src.overviews(1)[:2] == [2, 4]
        assert "DATETIME" not in " ".join(src.tags())
    assert (run_44 / DENSITY_RASTER).with_suffix(".qml").is_file()


def test_validator_rejects_a_plain_geotiff(gdal_validators: GdalValidators,
                                           tmp_path: Path) -> None:
    """Negative control: a tiled GeoTIFF with overviews added afterwards (the raster as it was
    written before) is not a Cloud Optimized GeoTIFF."""
    path = tmp_path / "plain.tif"
    data = np.arange(300 * 300, dtype=np.float32).reshape(300, 300)
    with rasterio.open(path, "w", driver="GTiff", width=300, height=300, count=1,
                       dtype="float32", crs="EPSG:3035", nodata=NODATA, tiled=True,
                       blockxsize=256, blockysize=256, compress="deflate",
                       transform=Affine(1000.0, 0.0, 3_400_000.0, 0.0, -1000.0, 2_800_000.0),
                       ) as dst:
        dst.write(data, 1)
        dst.build_overviews([2, 4], Resampling.average)
    proc = gdal_validators.cog(path)
    assert proc.returncode == 1, _report(proc)
    assert "is NOT a valid cloud optimized GeoTIFF" in proc.stdout


# --------------------------------------------------------------------------------------------
# same inputs, same outputs


def _run_44(out: Path) -> Path:
    run_pipeline(RunSettings(out_dir=out, departements=("44",), progress=False))
    return out


@pytest.fixture(scope="module")
def runs_twice(run_44: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """run_44 and a second, ordinary run of --departement 44 into another folder."""
    return run_44, _run_44(tmp_path_factory.mktemp("same_b") / "out")


def test_same_raster_bytes(runs_twice: tuple[Path, Path]) -> None:
    first, second = runs_twice
    assert (first / DENSITY_RASTER).read_bytes() == (second / DENSITY_RASTER).read_bytes()
    assert ((first / DENSITY_RASTER).with_suffix(".qml").read_bytes()
            == (second / DENSITY_RASTER).with_suffix(".qml").read_bytes())


def test_same_geopackage_tables(runs_twice: tuple[Path, Path]) -> None:
    first, second = (_tables(out / "territory.gpkg") for out in runs_twice)
    assert {"gpkg_contents", "gpkg_metadata", "gpkg_metadata_reference", "layer_styles",
            "territory_metadata", "communes", "rtree_communes_geom"} <= set(first)
    assert _differences(first, second) == []


def test_same_csv_map_and_quarantine_bytes(runs_twice: tuple[Path, Path]) -> None:
    """communes.csv, map.html, territoire.xlsx, territory.qgz and every quarantine CSV are
    byte-identical (the model's sums are exact, so DuckDB's thread order does not change a bit;
    no date outside manifest.json)."""
    first, second = runs_twice
    names = ["communes.csv", "map.html", "territoire.xlsx", "territory.qgz",
             *(p.relative_to(first).as_posix() for p in (first / "quarantine").glob("*.csv"))]
    assert len(names) > 3
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    manifests = [json.loads((out / "manifest.json").read_text(encoding="utf-8"))
                 for out in runs_twice]
    assert manifests[0]["outputs"] == manifests[1]["outputs"]


def test_difference_check_sees_a_changed_date(runs_twice: tuple[Path, Path],
                                              tmp_path: Path) -> None:
    """Negative control: one date changed in a copy is reported."""
    first, second = runs_twice
    copy = tmp_path / "territory.gpkg"
    shutil.copyfile(second / "territory.gpkg", copy)
    with closing(sqlite3.connect(copy)) as db, db:
        db.execute("UPDATE gpkg_contents SET last_change = '2031-05-04T10:00:00.000Z' "
                   "WHERE table_name = 'communes'")
    problems = _differences(_tables(first / "territory.gpkg"), _tables(copy))
    assert problems and problems[0].startswith("gpkg_contents: 1 rows differ")
