"""The map's data encoding and classes, without a browser (tests/test_browser.py opens the maps)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from territory.errors import ConfigError
from territory.mapping import (
    MapLevel,
    _indicators,
    class_breaks,
    encode_numbers,
    encode_texts,
    encode_varints,
    load_map_definition,
    map_columns,
    read_map_data,
)
from territory.settings import maps_dir

#: the numbers the map needs of the communes (from the map definition and the column catalogue)
MAP_COLUMNS = map_columns(load_map_definition(maps_dir() / "footprint.toml"), "communes")[0]

DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def decode_varints(text: str) -> list[int]:
    """The format as documented (zigzag, 5 bits per character, sixth bit = more follows),
    decoded independently of the browser's decoder."""
    out, value, shift = [], 0, 0
    for char in text:
        digit = DIGITS.index(char)
        value |= (digit & 31) << shift
        if digit & 32:
            shift += 5
        else:
            out.append(value >> 1 if value % 2 == 0 else -((value + 1) >> 1))
            value, shift = 0, 0
    return out


@pytest.mark.parametrize("values", [
    [0], [1, -1, 15, 16, -16, 31, 32, -33], [2**40, -(2**40), 123_456_789, -987_654],
    list(range(-1000, 1000, 7)),
])
def test_varints_round_trip(values: list[int]) -> None:
    text = encode_varints(values)
    assert set(text) <= set(DIGITS), "only JSON-safe characters"
    assert decode_varints(text) == values


def test_varints_are_compact_for_small_numbers() -> None:
    assert len(encode_varints([0, 1, -1, 15, -16])) == 5
    assert encode_varints([]) == ""


def test_encode_numbers_forms() -> None:
    assert encode_numbers([3.0, 3.0, 3.0], "antennas_count") == {"c": 3}
    few = encode_numbers([0, 1, 0, 0, 1, 0, 0, 0], "antennas_count")
    assert few["u"] == [0, 1] and decode_varints(few["i"]) == [0, 1, 0, 0, 1, 0, 0, 0]
    many = encode_numbers([12.34, 56.78, 9.99], "footprint_tco2e")
    assert many["s"] == 10 and decode_varints(many["v"]) == [123, 568, 100]
    missing = encode_numbers([1.5, None, float("nan"), 2.0], "pue")
    assert missing["n"] == [1, 2]


def test_encode_texts() -> None:
    enc = encode_texts(["b", "a", None, "b"])
    assert enc["u"] == ["", "a", "b"]
    assert [enc["u"][i] for i in decode_varints(enc["i"])] == ["b", "a", "", "b"]


def test_class_breaks_give_the_minimum_its_own_class() -> None:
    """Communes without any antenna (most of them) are not painted like those with two."""
    values = np.array([0.0] * 90 + [2, 2, 2, 3, 4, 6, 9, 12, 20, 40])
    breaks = class_breaks(values, 7)
    assert breaks[0] == 0.0
    assert len(breaks) >= 3
    # a count where every non-zero commune has the same value still shows two classes
    assert class_breaks(np.array([0.0] * 50 + [2.0] * 3), 7) == [0.0]
    # without a dominant minimum, the limits stay strictly inside the range
    spread = class_breaks(np.arange(100.0), 7)
    assert 0.0 < spread[0] and spread[-1] < 99.0 and len(spread) == 6


def test_class_breaks_of_a_real_per_inhabitant_spread() -> None:
    """Communes from about 170 to 250 kgCO₂e per inhabitant (Loire-Atlantique with its local
    drivers) get the whole palette: the minimum class width of the map definition merges
    nothing there."""
    definition = load_map_definition(maps_dir() / "footprint.toml")
    rng = np.random.default_rng(44)
    values = np.concatenate([rng.normal(185, 6, 180), rng.uniform(200, 253, 27), [169.5]])
    breaks = class_breaks(values, len(definition["palette"]), definition["min_class_width_share"])
    assert len(breaks) + 1 >= 5
    assert values.min() < breaks[0] and breaks[-1] < values.max()


def test_encode_numbers_without_any_value() -> None:
    """A column the mart leaves empty everywhere (the age effect without an age file) is one
    null, not a list of every row."""
    assert encode_numbers([float("nan")] * 5, "age_effect_pct") == {"c": None}


def test_popup_drivers_are_catalogue_columns(tmp_path: Path) -> None:
    """The drivers of the popup ([[popup.drivers]]) are sent to the map with the stratum
    position; a driver naming a column the catalogue lacks, an unknown key or no effect is an
    error."""
    definition = load_map_definition(maps_dir() / "footprint.toml")
    effects = [d["effect"] for d in definition["popup"]["drivers"]]
    assert {"households_effect_pct", "income_effect_pct", "age_effect_pct",
            "jobs_effect_pct"} <= set(effects)
    numbers, texts = map_columns(definition, "communes")
    assert set(effects) | {"persons_per_household", "income_decile", "jobs",
                           "footprint_vs_national_pct", "stratum_rank"} <= set(numbers)
    assert "stratum_position" in texts
    # upper levels have no drivers: nothing of them is asked of the EPCI mart
    assert not set(effects) & set(map_columns(definition, "epci")[0])
    source = (maps_dir() / "footprint.toml").read_text(encoding="utf-8")
    for old, new, error in [
        ('effect = "jobs_effect_pct"', 'effect = "jobs_effects_pct"', "jobs_effects_pct"),
        ('effect = "age_effect_pct"', 'effect = "age_effect_pct"\ncolour = "red"', "colour"),
        ('effect = "age_effect_pct"', 'value = "jobs"', "'effect'"),
    ]:
        assert old in source
        path = tmp_path / "map.toml"
        path.write_text(source.replace(old, new), encoding="utf-8")
        with pytest.raises(ConfigError, match=error):
            load_map_definition(path)


def test_national_average_is_the_models() -> None:
    """The average the gaps are taken to is the one the run gives (the model's national figure),
    not one recovered from the territories' values: a level with gaps carries it as given, a
    level without gaps does not, and without it no level has one."""

    from territory.mapping import build_map

    definition = load_map_definition(maps_dir() / "footprint.toml")
    values = {c: np.full(2, 100.0) for c in MAP_COLUMNS}
    # gaps that would give back 200 kgCO2e/hab.: the map must not use them
    values["footprint_kgco2e_per_inhabitant"] = np.array([230.0, 180.0])
    values["footprint_vs_national_pct"] = np.array([15.0, -10.0])
    boxes = np.array([shapely.box(-1.6, 47.2, -1.5, 47.3), shapely.box(-1.5, 47.2, -1.4, 47.3)])
    communes = MapLevel("communes", "Communes", ["99001", "99002"], ["a", "b"], values, boxes)
    upper = {c: values[c] for c in map_columns(definition, "epci")[0]}
    assert "footprint_vs_national_pct" not in upper
    epci = MapLevel("epci", "EPCI", ["999999999", "999999998"], ["c", "d"], upper, boxes)

    def levels(page: str) -> list[dict[str, object]]:
        return read_map_data(page)["levels"]

    with_national = levels(build_map([communes, epci], definition, national=213.1931,
                                     orientation=False))
    assert with_national[0]["national"] == pytest.approx(213.1931)
    assert "national" not in with_national[1]
    assert all("national" not in level for level in levels(
        build_map([communes, epci], definition, orientation=False)))


def test_map_data_carries_the_drivers() -> None:
    """The page's data block has the national average of the communes, the drivers with their
    French wording and the catalogue's short labels and units, and unknown values as nulls."""

    from territory.mapping import build_map

    definition = load_map_definition(maps_dir() / "footprint.toml")
    values = {c: np.array([200.0, 210.0]) for c in MAP_COLUMNS}
    values["footprint_kgco2e_per_inhabitant"] = np.array([220.0, 190.0])
    values["footprint_vs_national_pct"] = np.array([10.0, -5.0])
    values["stratum_rank"] = np.array([np.nan, 12.0])
    values["age_effect_pct"] = np.array([np.nan, np.nan])
    level = MapLevel("communes", "Communes", ["99001", "99002"], ["Une", "Deux"], values,
                     np.array([shapely.box(-1.6, 47.2, -1.5, 47.3), shapely.box(-1.5, 47.2, -1.4, 47.3)]),
                     texts={"population_stratum": ["de 500 à 999 habitants"] * 2,
                            "stratum_position": ["dans la moyenne de sa strate",
                                                 "au-dessus de la médiane de sa strate"]})
    page = build_map([level], definition, national=200.0)
    data = read_map_data(page)
    communes = data["levels"][0]
    assert communes["national"] == pytest.approx(200.0)
    assert communes["values"]["stratum_rank"]["n"] == [0]
    assert communes["values"]["age_effect_pct"] == {"c": None}
    assert communes["texts"]["stratum_position"]["u"] == ["au-dessus de la médiane de sa strate",
                                                          "dans la moyenne de sa strate"]
    popup = data["popup"]
    assert popup["national_gap"] == "footprint_vs_national_pct"
    assert popup["stratum_position"] == "stratum_position"
    households = next(d for d in popup["drivers"] if d["effect"] == "households_effect_pct")
    assert households["more"].startswith("Ménages plus petits")
    assert data["columns"]["jobs_effect_pct"]["short"] == "Emplois sur place"
    assert data["columns"]["persons_per_household"]["unit"] == "pers./ménage"


def test_optional_indicators_need_a_value() -> None:
    definition = load_map_definition(maps_dir() / "footprint.toml")
    values = {c: np.ones(2) for c in MAP_COLUMNS}
    values["antennas_count"] = np.zeros(2)
    level = MapLevel("communes", "Communes", ["1", "2"], ["a", "b"], values,
                     np.array([shapely.box(0, 0, 1, 1)] * 2))
    columns = [ind["column"] for ind in _indicators(definition, [level])]
    assert columns[0] == definition["indicator"]
    assert "antennas_count" not in columns
    assert "devices_tco2e" in columns and "datacenters_located_tco2e" in columns
    values["antennas_count"] = np.array([0.0, 3.0])
    assert "antennas_count" in [ind["column"] for ind in _indicators(definition, [level])]


# ---------------------------------------------------------------- the page and its front-end files

#: the map's front-end files, shipped as package data
FRONT_END_FILES = ("static/map.js", "static/map.css", "templates/map.html.j2")


def _small_map(**options: object) -> str:
    from territory.mapping import build_map

    level = MapLevel("communes", "Communes", ["99001", "99002"], ["Une", "Deux"],
                     {c: [100.0, 200.0] for c in MAP_COLUMNS},
                     np.array([shapely.box(-1.6, 47.2, -1.5, 47.3), shapely.box(-1.5, 47.2, -1.4, 47.3)]))
    return build_map([level], load_map_definition(maps_dir() / "footprint.toml"), **options)


def test_front_end_files_are_package_data() -> None:
    """importlib.resources finds the files, and pyproject.toml declares them as package data,
    so that a wheel (a non-editable install) carries them."""
    import tomllib
    from fnmatch import fnmatch
    from importlib import resources

    from territory.settings import PROJECT_ROOT

    package = resources.files("territory")
    for name in FRONT_END_FILES:
        assert package.joinpath(name).is_file(), name
        assert package.joinpath(name).read_text(encoding="utf-8").strip(), name
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["territory"]
    shipped = [p.relative_to(PROJECT_ROOT / "territory").as_posix()
               for folder in ("static", "templates")
               for p in (PROJECT_ROOT / "territory" / folder).rglob("*") if p.is_file()]
    assert set(FRONT_END_FILES) <= set(shipped)
    for name in shipped:
        assert any(fnmatch(name, g) for g in globs), f"territory/{name} is not package data"


def test_page_is_made_of_the_front_end_files() -> None:
    """The page has the template's skeleton, map.css in a style element, map.js in a script
    element after the data block, and Leaflet inlined; built twice, it is the same text."""
    from importlib import resources

    page = _small_map()
    package = resources.files("territory")
    css = package.joinpath("static/map.css").read_text(encoding="utf-8")
    js = package.joinpath("static/map.js").read_text(encoding="utf-8")
    assert f"<style>{css}</style>" in page
    assert f"<script>{js}</script>" in page
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"fr\">")
    assert page.index('<div id="territory-map">') < page.index('id="territory-data"') \
        < page.index(f"<script>{js}")
    assert "Leaflet 1.9.3" in page and "<link" not in page and " src=" not in page
    assert page == _small_map()


def test_page_with_leaflet_from_the_cdn() -> None:
    from territory.mapping import LEAFLET_CDN

    page = _small_map(assets="cdn")
    assert f'<link rel="stylesheet" href="{LEAFLET_CDN}/leaflet.css">' in page
    assert f'<script src="{LEAFLET_CDN}/leaflet.js"></script>' in page
    assert "Leaflet 1.9.3" not in page


def test_page_escapes_the_title_and_the_data() -> None:
    """A title with markup stays text; a name with a closing script tag cannot end the data
    block (gzip-compressed JSON in base64: no "<" in it) and comes back whole."""
    from territory.mapping import build_map

    definition = load_map_definition(maps_dir() / "footprint.toml")
    definition["title"] = "</title><script>alert(1)</script>"
    level = MapLevel("communes", "Communes", ["99001"], ["</script><script>alert(2)</script>"],
                     {c: [1.0] for c in MAP_COLUMNS}, np.array([shapely.box(0, 45, 1, 46)]))
    page = build_map([level], definition)
    assert "<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>" in page
    assert "alert(1)</script>" not in page and "alert(2)</script>" not in page
    assert read_map_data(page)["levels"][0]["names"] == ["</script><script>alert(2)</script>"]


def test_no_javascript_or_css_in_python_strings() -> None:
    """The browser side lives in territory/static: no string of the package's Python code holds
    JavaScript or CSS."""
    import ast

    from territory.settings import PROJECT_ROOT

    markers = ("function(", "function (", "document.get", "document.create", "document.query",
               "addEventListener", "L.map(", "{ background", "border-radius:", "font-size:")
    found = []
    for path in sorted((PROJECT_ROOT / "territory").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found += [f"{path.name}:{node.lineno} {m!r}" for m in markers if m in node.value]
    assert found == []


def _square(lon: float, lat: float, size: float = 0.1) -> shapely.Polygon:
    return shapely.box(lon, lat, lon + size, lat + size)


def _level(codes: list[str], geometries: list[shapely.Polygon]) -> MapLevel:
    return MapLevel(layer="communes", label="Communes", codes=codes, names=codes,
                    values={c: [1.0] * len(codes) for c in MAP_COLUMNS},
                    geometries=np.array(geometries, dtype=object))


def test_insets_move_overseas_communes_into_boxes_west_of_the_mainland() -> None:
    """With metropolitan communes on the map, Guadeloupe's and La Réunion's communes are moved
    into boxes west of them, within their vertical extent, shapes kept (same width/height
    ratio on screen); the mainland does not move; the frame holds both."""
    from territory.mapping import _frame, _mercator, apply_insets, plan_insets

    definition = load_map_definition(maps_dir() / "footprint.toml")
    mainland = [_square(-1.6, 47.2), _square(7.0, 48.5), _square(9.0, 42.0)]
    guadeloupe = shapely.box(-61.8, 15.9, -61.2, 16.5)
    reunion = shapely.box(55.2, -21.4, 55.8, -20.9)
    level = _level(["44109", "67482", "2A004", "97101", "97411"], [*mainland, guadeloupe, reunion])
    insets = plan_insets([level], definition)
    assert [i.label for i in insets] == ["Guadeloupe", "La Réunion"]
    (moved,), _ = apply_insets([level], [], insets)
    for before, after in zip(mainland, moved.geometries[:3], strict=True):
        assert shapely.equals(before, after)
    for original, inset, shape in ((guadeloupe, insets[0], moved.geometries[3]),
                                   (reunion, insets[1], moved.geometries[4])):
        x0, y0, x1, y1 = shape.bounds
        assert x1 < -1.6, "the inset is west of the mainland"
        assert 42.0 <= y0 and y1 <= 48.6, "within the mainland's vertical extent"
        (bs, bw), (bn, be) = inset.box_lat_lng()
        assert bw <= x0 and x1 <= be and bs <= y0 and y1 <= bn, "inside its box"

        def ratio(g: shapely.Geometry) -> float:
            xs, ys = _mercator(np.array(g.exterior.coords))
            return float(np.ptp(xs) / np.ptp(ys))

        assert ratio(shape) == pytest.approx(ratio(original), rel=1e-3)
    (south, west), (north, east) = _frame([moved], insets)
    assert west <= insets[0].box_lat_lng()[0][1] and east >= 9.1 and north >= 48.6 and south <= 42.0


def test_no_insets_on_a_map_of_overseas_communes_only() -> None:
    """A run of La Réunion alone frames La Réunion: its communes stay where they are."""
    from territory.mapping import plan_insets

    definition = load_map_definition(maps_dir() / "footprint.toml")
    level = _level(["97411", "97415"], [_square(55.4, -20.9), _square(55.3, -21.0)])
    assert plan_insets([level], definition) == []


def test_points_send_the_source_file_name_only() -> None:
    """No folder of the machine that ran territory reaches the page: POSIX and Windows paths
    are cut to the file's name; the kind's French name of an unnamed point is sent."""
    from territory.mapping import MapPoints, _points_payload
    from territory.registries.specs import map_point_layers

    definition = load_map_definition(maps_dir() / "footprint.toml")
    spec = next(s for s in map_point_layers(definition["points"]) if s["layer"] == "datacenters")
    points = MapPoints(layer="datacenters", lon=np.array([-1.5, -1.4]), lat=np.array([47.2, 47.3]),
                       fields={"name": [None, "Un"],
                               "source_file": ["/home/me/data/dc.geojson", "C:\\Users\\me\\dc.csv"]})
    payload = _points_payload(points, spec)
    assert "/me/" not in payload["fields"] and "\\me" not in payload["fields"]
    assert sorted(json.loads(payload["fields"])["source_file"]["u"]) == ["dc.csv", "dc.geojson"]
    assert payload["unnamed"] == "Centre de données sans nom"


def test_the_data_block_is_compressed_and_reads_back() -> None:
    """encode_data: gzip-compressed JSON in base64, the same bytes for the same payload, read
    back whole (names with accents, quotes and markup included)."""
    from territory.mapping import DATA_ENCODING, encode_data

    payload = {"levels": [{"names": ["Saint-Étienne", "L'Haÿ-les-Roses", "<b>x</b>"] * 2000,
                           "codes": [f"{i:05d}" for i in range(6000)]}]}
    block = encode_data(payload)
    assert block == encode_data(payload)
    assert set(block) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    assert len(block) < len(json.dumps(payload, ensure_ascii=False)) / 3
    page = f'<script type="text/plain" id="territory-data" data-encoding="{DATA_ENCODING}">{block}</script>'
    assert read_map_data(page) == payload
    with pytest.raises(ValueError, match="data block"):
        read_map_data('<script type="application/json" id="territory-data">{}</script>')
