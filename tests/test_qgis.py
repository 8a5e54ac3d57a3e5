"""Open territory.gpkg in a real QGIS and check what the GIS team gets.

QGIS runs in the system Python (``/usr/bin/python3`` with Debian's ``python3-qgis``), not in the
interpreter running pytest, so tests/qgis_probe.py is run as a subprocess and prints what QGIS
sees as JSON; the assertions are here, against independent reads of the same file (sqlite3) and
the column catalogue (``territory.geopackage.field_aliases``).

Without /usr/bin/python3 or its ``qgis`` module these tests skip, or fail when ``CI=true`` or
``TERRITORY_REQUIRE_QGIS=1``.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from territory.columns import catalogue
from territory.geopackage import (
    POINT_DEFAULT_STYLE_NAMES,
    POINT_STYLE_NAMES,
    field_aliases,
    polygon_style_specs,
)
from territory.mapping import class_breaks, load_map_definition
from territory.settings import maps_dir
from tests.conftest import run_qgis_script

pytestmark = pytest.mark.qgis

#: French aliases of the polygon layers' fields, from the column catalogue
FIELD_ALIASES = field_aliases("communes")
#: the polygon layers' named styles (catalogue columns with a QGIS style), the default first
#: the named styles of the territory layers (not the scenarios layer's per-year columns)
POLYGON_STYLES = tuple(s for s in polygon_style_specs() if catalogue().get(s.field, "communes"))
STYLE_FIELD = POLYGON_STYLES[0].field
STYLE_NAME = POLYGON_STYLES[0].name

PROBE = Path(__file__).resolve().with_name("qgis_probe.py")
LAYERS = ("communes", "epci", "departements", "regions")
CRS = "EPSG:2154"
GEOMETRY_TYPE = "MultiPolygon"
#: the French title QGIS must show for each polygon layer
TITLES = {
    "communes": "Empreinte numérique par commune",
    "epci": "Empreinte numérique par EPCI",
    "departements": "Empreinte numérique par département",
    "regions": "Empreinte numérique par région",
}


def run_probe(python: str, gpkg: Path, layers: tuple[str, ...] = LAYERS) -> dict:
    """What QGIS sees in ``gpkg`` (see tests/qgis_probe.py)."""
    return run_qgis_script(python, PROBE, str(gpkg), *layers)


def sqlite_facts(gpkg: Path, layer: str) -> dict:
    """Row count, geometry column, styled-field statistics, stored styles and provenance, read
    with sqlite3, not QGIS."""
    definition = load_map_definition(maps_dir() / "footprint.toml")
    with closing(sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)) as db:
        rows = db.execute(f'SELECT count(*) FROM "{layer}"').fetchone()[0]
        distinct, nulls = db.execute(
            f'SELECT count(DISTINCT "{STYLE_FIELD}"), '
            f'sum(CASE WHEN "{STYLE_FIELD}" IS NULL THEN 1 ELSE 0 END) FROM "{layer}"'
        ).fetchone()
        geom = db.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)
        ).fetchone()
        columns = {c for (_, c, *_) in db.execute(f'PRAGMA table_info("{layer}")')}
        # the classes the web map draws for the same values (territory.mapping.class_breaks)
        styles = {}
        for spec in POLYGON_STYLES:
            if spec.field not in columns:
                continue
            where = "WHERE population > 0" if spec.intensive else ""
            considered = np.asarray([v for (v,) in db.execute(
                f'SELECT "{spec.field}" FROM "{layer}" {where}')], dtype=float)
            breaks = class_breaks(considered, len(definition["palette"]),
                                  definition["min_class_width_share"])
            styles[spec.field] = {
                "classes": len(breaks) + 1,
                "nulls": db.execute(f'SELECT count(*) FROM "{layer}" '
                                    f'WHERE "{spec.field}" IS NULL').fetchone()[0],
            }
        has_styles = db.execute("SELECT count(*) FROM sqlite_master "
                                "WHERE name = 'layer_styles'").fetchone()[0]
        defaults = [name for (name,) in db.execute(
            "SELECT styleName FROM layer_styles WHERE f_table_name = ? AND useAsDefault",
            (layer,))] if has_styles else []
        identifier, description = db.execute(
            "SELECT identifier, description FROM gpkg_contents WHERE table_name = ?", (layer,)
        ).fetchone()
        provenance = dict(db.execute("SELECT key, value FROM territory_metadata"))
    return {"rows": rows, "distinct": distinct, "nulls": nulls or 0,
            "geometry_column": geom[0] if geom else None,
            "classes": styles[STYLE_FIELD]["classes"], "styles": styles,
            "default_styles": defaults, "identifier": identifier, "description": description,
            "provenance": provenance}


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


def _label_pattern(unit: str) -> re.Pattern[str]:
    """A class label written the French way: "1\u00a0234,5 – 2\u00a0000 unit"."""
    number = r"-?\d{1,3}(?:\u00a0\d{3})*(?:,\d+)?"
    return re.compile(rf"{number} – {number} {re.escape(unit)}")


def style_problems(name: str, seen: dict, facts: dict) -> list[str]:
    """Everything wrong with the named styles QGIS lists for a polygon layer and loads one by
    one; empty when all is well."""
    problems = []

    def check(ok: bool, message: str) -> None:
        if not ok:
            problems.append(f"{name}: {message}")

    related = seen["database_styles"]["related"]
    names = [s["name"] for s in related]
    check(sorted(names) == sorted(spec.name for spec in POLYGON_STYLES),
          f"QGIS lists the styles {names}, expected {[spec.name for spec in POLYGON_STYLES]}")
    check(facts["default_styles"] == [STYLE_NAME],
          f"styles marked useAsDefault: {facts['default_styles']}, expected [{STYLE_NAME!r}]")
    loaded_default = [s["name"] for s in related if s["is_default"]]
    check(loaded_default == [STYLE_NAME],
          f"QGIS loads {loaded_default} as the default style, expected [{STYLE_NAME!r}]")
    by_name = {s["name"]: s for s in related}
    for spec in POLYGON_STYLES:
        style = by_name.get(spec.name)
        if style is None:
            continue
        loaded, what = style["loaded"], f"style {spec.name!r}"
        renderer = loaded["renderer"]
        check(loaded["ok"] is True and not style["error"],
              f"{what} does not load: {loaded['message']!r} {style['error']!r}")
        check(renderer["type"] == "graduatedSymbol"
              and renderer.get("graduated_method") == "color",
              f"{what} loads as {renderer['type']!r} {renderer.get('graduated_method')!r}")
        if renderer["type"] != "graduatedSymbol":
            continue
        check(renderer["class_attribute"] == spec.field,
              f"{what} classifies {renderer['class_attribute']!r}, expected {spec.field!r}")
        expected = facts["styles"][spec.field]
        check(len(renderer["ranges"]) == expected["classes"],
              f"{what}: {len(renderer['ranges'])} classes, {expected['classes']} on the web map")
        labels = [r["label"] for r in renderer["ranges"]]
        check(bool(labels) and all(_label_pattern(spec.unit).fullmatch(x) for x in labels),
              f"{what}: labels not French with the unit {spec.unit!r}: {labels}")
        check(all(r["lower"] <= r["upper"] and r["render"] for r in renderer["ranges"]),
              f"{what}: a class is inverted or hidden")
        check(loaded["not_drawn"] == expected["nulls"],
              f"{what}: QGIS would not draw {loaded['not_drawn']} features, "
              f"{expected['nulls']} have no {spec.field}")
        check(loaded["aliases"].get(spec.field) == FIELD_ALIASES[spec.field],
              f"{what}: alias of {spec.field} is {loaded['aliases'].get(spec.field)!r}")
        check(style["description"].startswith("Classes par quantiles"),
              f"{what}: description {style['description']!r}")
    return problems


def _text(html_text: str) -> str:
    """The text a user reads in an HTML page."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", html_text)).split())


def metadata_problems(name: str, seen: dict, facts: dict) -> list[str]:
    """Everything wrong with the metadata QGIS shows for a layer (Layer Properties > Metadata
    and Information) and the GDAL of QGIS reads; empty when all is well."""
    problems = []

    def check(ok: bool, message: str) -> None:
        if not ok:
            problems.append(f"{name}: {message}")

    md, provenance = seen["metadata"], facts["provenance"]
    check(md["title"] == facts["identifier"] and bool(md["title"]),
          f"title {md['title']!r}, gpkg_contents.identifier {facts['identifier']!r}")
    if name in TITLES:
        check(md["title"] == TITLES[name], f"title {md['title']!r}, expected {TITLES[name]!r}")
    check(md["abstract"] == facts["description"] and bool(md["abstract"]),
          f"abstract differs from gpkg_contents.description: {md['abstract']!r}")
    for key in ("factor_table_version", "population_vintage"):
        check(provenance[key] in md["abstract"], f"the abstract does not cite {key}")
    check("Sources : " in md["abstract"], "the abstract does not cite the sources")
    sources = [x.strip() for x in provenance["sources"].split(";") if x.strip()]
    missing = [x for x in sources if f"Source : {x}" not in md["history"]]
    check(not missing, f"history lacks the sources {missing}: {md['history']}")
    check(any(provenance["factor_table_version"] in h for h in md["history"]),
          f"history lacks the factor table version: {md['history']}")
    check(md["language"] == "fre" and md["type"] == "dataset",
          f"language {md['language']!r}, type {md['type']!r}")
    check(md["crs_authid"] == CRS, f"metadata CRS is {md['crs_authid']!r}")
    check(len(md["extent"]) == 1 and md["extent"][0][4] == CRS
          and md["extent"][0][0] < md["extent"][0][2],
          f"metadata extent is {md['extent']}")
    check("numérique" in md["keywords"].get("Mots-clés", []),
          f"keywords are {md['keywords']}")
    page = _text(md["html"])
    check(all(x in page for x in (md["title"], provenance["factor_table_version"],
                                  provenance["population_vintage"])),
          "the Information page does not show the title, factor version and population")
    check(seen["metadata_without_style"]["title"] == md["title"],
          "the title depends on the style applied")
    gdal = seen["gdal_metadata"]
    check("error" not in gdal, f"GDAL of QGIS: {gdal.get('error')}")
    if "error" not in gdal:
        for key in ("factor_table_version", "population_vintage"):
            check((gdal["layer"] or {}).get(key) == gdal["dataset"].get(key) == provenance[key],
                  f"GDAL {gdal['gdal_version']} reads {key} "
                  f"{(gdal['layer'] or {}).get(key)!r} / {gdal['dataset'].get(key)!r}")
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


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_named_styles_in_qgis(qgis_python: str, run_44: Path, probe_44: dict,
                                    layer: str) -> None:
    """The four named styles are listed, "Empreinte par habitant" alone is the default, and each
    loads as a graduated renderer on its column with French labels in its unit."""
    facts = sqlite_facts(run_44 / "territory.gpkg", layer)
    assert style_problems(layer, probe_44["layers"][layer], facts) == []


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_metadata_in_qgis(qgis_python: str, run_44: Path, probe_44: dict,
                                layer: str) -> None:
    """QGIS shows the French title, an abstract and a history citing the sources, the factor
    table version and the population vintage of ``territory_metadata``."""
    facts = sqlite_facts(run_44 / "territory.gpkg", layer)
    assert metadata_problems(layer, probe_44["layers"][layer], facts) == []


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


def test_checks_fail_on_a_wrong_default_and_without_metadata(qgis_python: str, run_44: Path,
                                                             tmp_path: Path) -> None:
    """Negative control: with "Empreinte totale" marked default instead of the per-inhabitant
    style, and without the metadata extension's documents nor the gpkg_contents title and
    abstract, the style and metadata checks report it. Without QGIS's own document but with
    GDAL's IDENTIFIER/DESCRIPTION, QGIS still shows the title and abstract."""
    gpkg = tmp_path / "territory.gpkg"
    shutil.copyfile(run_44 / "territory.gpkg", gpkg)
    with closing(sqlite3.connect(gpkg)) as db, db:
        db.execute("UPDATE layer_styles SET useAsDefault = (styleName = 'Empreinte totale')")
        db.execute("DELETE FROM gpkg_metadata_reference WHERE md_file_id IN (SELECT id FROM "
                   "gpkg_metadata WHERE md_standard_uri = 'http://mrcc.com/qgis.dtd')")
        db.execute("DELETE FROM gpkg_metadata WHERE md_standard_uri = 'http://mrcc.com/qgis.dtd'")
        db.execute("UPDATE gpkg_contents SET identifier = NULL, description = '' "
                   "WHERE table_name = 'regions'")
    seen = run_probe(qgis_python, gpkg)
    for layer in LAYERS:
        facts = sqlite_facts(gpkg, layer)
        styles = "\n".join(style_problems(layer, seen["layers"][layer], facts))
        assert "styles marked useAsDefault: ['Empreinte totale']" in styles, styles
        assert "QGIS loads ['Empreinte totale'] as the default style" in styles, styles
        metadata = metadata_problems(layer, seen["layers"][layer], facts)
        text = "\n".join(metadata)
        assert "history lacks the sources" in text, text
        if layer == "regions":
            assert f"expected {TITLES[layer]!r}" in text, text
            assert "abstract differs" in text, text
        else:
            # GDAL's route alone: gpkg_contents.identifier / description
            assert seen["layers"][layer]["metadata"]["title"] == TITLES[layer]
            assert not any("title" in p or "abstract" in p for p in metadata), metadata


def test_france_layers_in_qgis(qgis_python: str, run_france: Path) -> None:
    """National output: QGIS feature counts match the tables, styles and aliases load."""
    gpkg = run_france / "territory.gpkg"
    seen = run_probe(qgis_python, gpkg)
    problems = []
    for layer in LAYERS:
        facts = sqlite_facts(gpkg, layer)
        assert facts["rows"] > 0, layer
        problems += layer_problems(layer, seen["layers"][layer], facts)
        problems += style_problems(layer, seen["layers"][layer], facts)
        problems += metadata_problems(layer, seen["layers"][layer], facts)
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
    thematic default style (size by IT power, colour by operator), a plain single-marker
    alternative, French aliases and their metadata."""
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
            operators = {v for (v,) in db.execute(f'SELECT DISTINCT operator FROM "{layer}"')}
            title = db.execute("SELECT identifier FROM gpkg_contents WHERE table_name = ?",
                               (layer,)).fetchone()[0]
        assert facts["valid"], facts
        assert facts["feature_count"] == rows > 0
        assert facts["crs_authid"] == "EPSG:2154"
        assert facts["geometry_type"] == "Point"
        loaded = facts["load_default_style"]
        styles = facts["database_styles"]["related"]
        assert [s["name"] for s in styles] == [POINT_DEFAULT_STYLE_NAMES[layer],
                                               POINT_STYLE_NAMES[layer]]
        assert [s["name"] for s in styles if s["is_default"]] == [POINT_DEFAULT_STYLE_NAMES[layer]]
        assert loaded["ok"] is True
        assert loaded["aliases"]["operator"] == "Opérateur"
        # every style draws every point
        assert facts["on_open"]["not_drawn"] == 0
        assert all(s["loaded"]["ok"] and s["loaded"]["not_drawn"] == 0
                   and s["loaded"]["drawn"] == rows for s in styles), styles
        plain = styles[-1]["loaded"]["renderer"]
        assert plain["type"] == "singleSymbol"
        renderer = loaded["renderer"]
        if layer == "datacenters":
            assert (renderer["type"], renderer["class_attribute"], renderer["graduated_method"]) \
                == ("graduatedSymbol", "it_power_mw", "size")
            assert all(_label_pattern("MW").fullmatch(r["label"]) for r in renderer["ranges"])
            sizes = [r["symbol_size"] for r in renderer["ranges"]]
            assert sizes == sorted(sizes)
        else:
            assert (renderer["type"], renderer["class_attribute"]) == ("categorizedSymbol",
                                                                       "operator")
            values = [c["value"] for c in renderer["categories"]]
            assert set(values) == {v for v in operators if v} | {""}, values
            assert renderer["categories"][-1]["label"] == "Opérateur non renseigné"
        md = facts["metadata"]
        assert md["title"] == title and md["title"]
        assert md["crs_authid"] == "EPSG:2154"
        assert any(h.startswith("Source : ") for h in md["history"]), md["history"]


RASTER_PROBE = Path(__file__).resolve().with_name("qgis_raster_probe.py")


@pytest.mark.parametrize("extent", ["44", "France"])
def test_density_raster_of_a_run_opens_styled(qgis_python: str, run_44: Path, run_france: Path,
                                              extent: str) -> None:
    """territory_density_1km.tif: valid in QGIS, EPSG:3035, pyramids, its sidecar style applied
    when added (graduated pseudocolour, French labels), and it holds the communes' footprint."""
    import csv

    import rasterio

    out = run_44 if extent == "44" else run_france
    tif = out / "territory_density_1km.tif"
    seen = run_qgis_script(qgis_python, RASTER_PROBE, str(tif))["raster"]
    assert seen["valid"], seen.get("error")
    assert seen["crs_authid"] == "EPSG:3035"
    assert seen["has_pyramids"]
    assert seen["on_open"]["type"] == "singlebandpseudocolor"
    labels = seen["load_default_style"]["renderer"]["legend"]
    assert labels and all(label.endswith("tCO2e/km²/an") for label in labels)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["density_raster"]
    assert manifest["written"] and manifest["file"] == tif.name
    with (out / "communes.csv").open(encoding="utf-8", newline="") as handle:
        metropolitan = sum(float(r["footprint_tco2e"]) for r in csv.DictReader(handle)
                           if not r["departement_code"].startswith("97"))
    with rasterio.open(tif) as src:
        data = src.read(1, masked=True)
        assert src.res == (1000.0, 1000.0) and src.transform.c % 1000 == 0 and src.transform.f % 1000 == 0
    assert float(data.sum()) == pytest.approx(metropolitan, rel=1e-6)
