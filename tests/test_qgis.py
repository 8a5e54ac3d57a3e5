"""Open territory.gpkg in a real QGIS and check what the GIS team gets.

QGIS runs in the system Python (``/usr/bin/python3`` with Debian's ``python3-qgis``), not in the
interpreter running pytest, so tests/qgis_probe.py is run as a subprocess and prints what QGIS
sees as JSON; the assertions are here, against independent reads of the same file (sqlite3) and
``territory.geopackage.FIELD_ALIASES``.

Without /usr/bin/python3 or its ``qgis`` module these tests skip, or fail when ``CI=true`` or
``TERRITORY_REQUIRE_QGIS=1``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from territory.geopackage import FIELD_ALIASES, POINT_STYLE_NAMES, STYLE_FIELD
from territory.mapping import class_breaks, load_map_definition
from territory.settings import maps_dir

pytestmark = pytest.mark.qgis

QGIS_PYTHON = "/usr/bin/python3"
PROBE = Path(__file__).resolve().with_name("qgis_probe.py")
LAYERS = ("communes", "epci", "departements", "regions")
CRS = "EPSG:2154"
GEOMETRY_TYPE = "MultiPolygon"


def _qgis_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def _qgis_required() -> bool:
    return (os.environ.get("CI", "").lower() in ("true", "1")
            or os.environ.get("TERRITORY_REQUIRE_QGIS") == "1")


@pytest.fixture(scope="session")
def qgis_python() -> str:
    """/usr/bin/python3 once it is known to import ``qgis.core``."""
    reason = None
    if not Path(QGIS_PYTHON).exists():
        reason = f"{QGIS_PYTHON} is absent (QGIS tests need Debian's python3-qgis)"
    else:
        check = subprocess.run(
            [QGIS_PYTHON, "-c", "import qgis.core"], env=_qgis_env(),
            capture_output=True, text=True, timeout=120,
        )
        if check.returncode != 0:
            reason = (f"{QGIS_PYTHON} cannot import qgis.core (install python3-qgis "
                      f"qgis-providers): {(check.stderr.strip().splitlines() or ['?'])[-1]}")
    if reason:
        if _qgis_required():
            pytest.fail(reason + " and CI=true or TERRITORY_REQUIRE_QGIS=1")
        pytest.skip(reason)
    return QGIS_PYTHON


def run_probe(python: str, gpkg: Path, layers: tuple[str, ...] = LAYERS) -> dict:
    """What QGIS sees in ``gpkg`` (see tests/qgis_probe.py)."""
    proc = subprocess.run(
        [python, str(PROBE), str(gpkg), *layers], env=_qgis_env(),
        capture_output=True, text=True, timeout=600,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        pytest.fail(f"QGIS probe exited with {proc.returncode} on {gpkg}\n"
                    f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def sqlite_facts(gpkg: Path, layer: str) -> dict:
    """Row count, geometry column and styled-field statistics read with sqlite3, not QGIS."""
    with closing(sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)) as db:
        rows = db.execute(f'SELECT count(*) FROM "{layer}"').fetchone()[0]
        distinct, nulls = db.execute(
            f'SELECT count(DISTINCT "{STYLE_FIELD}"), '
            f'sum(CASE WHEN "{STYLE_FIELD}" IS NULL THEN 1 ELSE 0 END) FROM "{layer}"'
        ).fetchone()
        geom = db.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)
        ).fetchone()
        inhabited = [v for (v,) in db.execute(
            f'SELECT "{STYLE_FIELD}" FROM "{layer}" WHERE population > 0')]
    # the classes the web map draws for the same values (territory.mapping.class_breaks)
    definition = load_map_definition(maps_dir() / "footprint.toml")
    breaks = class_breaks(np.asarray(inhabited, dtype=float), len(definition["palette"]),
                          definition["min_class_width_share"])
    return {"rows": rows, "distinct": distinct, "nulls": nulls or 0,
            "geometry_column": geom[0] if geom else None, "classes": len(breaks) + 1}


def layer_problems(name: str, seen: dict, facts: dict) -> list[str]:
    """Everything wrong with one layer as QGIS opened it; empty when all is well."""
    if not seen.get("valid"):
        return [f"{name}: QGIS cannot open {seen.get('uri')}: {seen.get('error')}"]
    problems = []

    def check(ok: bool, message: str) -> None:
        if not ok:
            problems.append(f"{name}: {message}")

    check(seen["feature_count"] == facts["rows"],
          f"QGIS counts {seen['feature_count']} features, the table has {facts['rows']} rows")
    check(seen["crs_authid"] == CRS, f"CRS is {seen['crs_authid']!r}, expected {CRS}")
    check(seen["geometry_type"] == GEOMETRY_TYPE,
          f"geometry type is {seen['geometry_type']}, expected {GEOMETRY_TYPE}")
    check(facts["geometry_column"] == "geom",
          f"geometry column is {facts['geometry_column']!r}, expected 'geom'")
    check(not seen["extent_empty"], "empty extent")

    db_styles = seen["database_styles"]
    check(db_styles["related_count"] >= 1,
          f"no style in layer_styles for this layer ({db_styles['message']!r})")
    check(all(s["qml_graduated"] and not s["error"] for s in db_styles["related"]),
          f"a stored style is not a graduated QML: {db_styles['related']}")

    # explicit loadDefaultStyle() on a layer created without any style applied
    loaded = seen["load_default_style"]
    check(loaded["renderer_before"]["type"] != "graduatedSymbol",
          "renderer already graduated before loadDefaultStyle(): the check would prove nothing")
    check(loaded["ok"] is True,
          f"loadDefaultStyle() returned ({loaded['message']!r}, {loaded['ok']})")
    renderer = loaded["renderer"]
    check(renderer["type"] == "graduatedSymbol",
          f"renderer after loadDefaultStyle() is {renderer['type']!r}, not graduatedSymbol")
    if renderer["type"] == "graduatedSymbol":
        check(renderer["class_attribute"] == STYLE_FIELD,
              f"classes on {renderer['class_attribute']!r}, expected {STYLE_FIELD!r}")
        check(len(renderer["ranges"]) == facts["classes"],
              f"{len(renderer['ranges'])} classes in QGIS, {facts['classes']} on the web map "
              f"({facts['distinct']} distinct values)")
        check(all(r["label"] and r["render"] and r["symbol_color"] for r in renderer["ranges"]),
              f"a class has no label, symbol or is hidden: {renderer['ranges']}")
        classified = loaded["classified"]
        check(classified["unclassified"] == 0,
              f"{classified['unclassified']} features fall in no class, so QGIS does not draw them")
        check(classified["null"] == facts["nulls"],
              f"QGIS reads {classified['null']} NULL {STYLE_FIELD}, sqlite3 {facts['nulls']}")

    # French aliases, exactly as declared in territory.geopackage
    aliases = loaded["aliases"]
    expected = {f: a for f, a in FIELD_ALIASES.items() if f in aliases}
    check(len(expected) >= 5, f"only {len(expected)} known fields in the layer: {list(aliases)}")
    wrong = {f: aliases[f] for f, a in expected.items() if aliases[f] != a}
    check(not wrong, f"aliases differ from FIELD_ALIASES: {wrong}")
    check("Empreinte" in aliases.get("footprint_tco2e", ""),
          f"alias of footprint_tco2e is {aliases.get('footprint_tco2e')!r}")

    # what a user gets by simply adding the layer: QGIS applies the default style by itself
    on_open = seen["on_open"]
    check(on_open["renderer"]["type"] == "graduatedSymbol"
          and on_open["renderer"].get("class_attribute") == STYLE_FIELD,
          f"renderer when the layer is added is {on_open['renderer']['type']!r}")
    check(on_open["aliases"].get("footprint_tco2e") == FIELD_ALIASES["footprint_tco2e"],
          f"alias when the layer is added is {on_open['aliases'].get('footprint_tco2e')!r}")
    return problems


# qgis_python comes first in every signature so a missing QGIS skips before any pipeline run

@pytest.fixture(scope="module")
def probe_44(qgis_python: str, run_44: Path) -> dict:
    return run_probe(qgis_python, run_44 / "territory.gpkg")


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_opens_styled_in_qgis(qgis_python: str, run_44: Path, probe_44: dict,
                                    layer: str) -> None:
    """Valid, counted, in Lambert-93, with its graduated default style and French aliases."""
    seen = probe_44["layers"][layer]
    facts = sqlite_facts(run_44 / "territory.gpkg", layer)
    assert facts["rows"] > 0
    assert layer_problems(layer, seen, facts) == []


def test_probe_fails_without_layer_styles(qgis_python: str, run_44: Path,
                                          tmp_path: Path) -> None:
    """Negative control: with ``layer_styles`` dropped every layer must be reported unstyled,
    so the checks above cannot pass on QGIS defaults."""
    gpkg = tmp_path / "territory.gpkg"
    shutil.copyfile(run_44 / "territory.gpkg", gpkg)
    with closing(sqlite3.connect(gpkg)) as db, db:
        db.execute("DROP TABLE layer_styles")
        db.execute("DELETE FROM gpkg_contents WHERE table_name = 'layer_styles'")
    seen = run_probe(qgis_python, gpkg)
    for layer in LAYERS:
        problems = layer_problems(layer, seen["layers"][layer], sqlite_facts(gpkg, layer))
        text = "\n".join(problems)
        assert "loadDefaultStyle() returned" in text, text
        assert "not graduatedSymbol" in text, text
        assert "alias of footprint_tco2e" in text, text


def test_france_layers_in_qgis(qgis_python: str, run_france: Path) -> None:
    """National output: QGIS feature counts match the tables, styles and aliases load."""
    gpkg = run_france / "territory.gpkg"
    seen = run_probe(qgis_python, gpkg)
    problems = []
    for layer in LAYERS:
        facts = sqlite_facts(gpkg, layer)
        assert facts["rows"] > 0, layer
        problems += layer_problems(layer, seen["layers"][layer], facts)
    assert problems == []
    counts = {layer: seen["layers"][layer]["feature_count"] for layer in LAYERS}
    assert counts["communes"] > 30_000 and counts["departements"] >= 96, counts


# The QML classes as QGIS reads them: ordered bounds, the unit kept in each label.

def test_class_bounds_are_ordered(probe_44: dict) -> None:
    inverted = {
        layer: [(r["lower"], r["upper"]) for r in seen["load_default_style"]["renderer"]["ranges"]
                if r["lower"] > r["upper"]]
        for layer, seen in probe_44["layers"].items()
    }
    assert not any(inverted.values()), inverted


def test_class_labels_keep_unit(probe_44: dict) -> None:
    labels = [r["label"] for seen in probe_44["layers"].values()
              for r in seen["load_default_style"]["renderer"]["ranges"]]
    assert labels and all(label.endswith(" kgCO2e/hab./an") for label in labels), labels


def test_registry_point_layers_in_qgis(qgis_python: str, tmp_path: Path) -> None:
    """The datacenters and antennas layers open in QGIS: valid points in Lambert-93, with their
    default single-symbol style and French aliases."""
    from territory.run import run_pipeline
    from territory.settings import RunSettings

    fixtures = Path(__file__).parent / "fixtures"
    out = tmp_path / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("44", "75"), progress=False, sources=(
        ("antennas", fixtures / "antennas" / "arcep_sites_44.csv", {}),
        ("datacenters", fixtures / "datacenters" / "osm_sample.geojson", {}),
    )))
    gpkg = out / "territory.gpkg"
    seen = run_probe(qgis_python, gpkg, ("antennas", "datacenters"))
    for layer in ("antennas", "datacenters"):
        facts = seen["layers"][layer]
        with closing(sqlite3.connect(gpkg)) as db:
            rows = db.execute(f'SELECT count(*) FROM "{layer}"').fetchone()[0]
        assert facts["valid"], facts
        assert facts["feature_count"] == rows > 0
        assert facts["crs_authid"] == "EPSG:2154"
        assert facts["geometry_type"] == "Point"
        loaded = facts["load_default_style"]
        styles = facts["database_styles"]["related"]
        assert [s["name"] for s in styles] == [POINT_STYLE_NAMES[layer]]
        assert loaded["ok"] is True
        assert loaded["renderer"]["type"] == "singleSymbol"
        assert loaded["aliases"]["operator"] == "Opérateur"
