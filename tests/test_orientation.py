"""The map's orientation layer (coast, rivers, préfectures and sous-préfectures), without a
browser: the package data against its provenance, what a map takes of it, what the page
carries. tests/test_browser.py checks it drawn in Chromium."""

from __future__ import annotations

import hashlib
import json
from importlib import resources

import numpy as np
import pytest
import shapely

from territory.mapping import (
    MapLevel,
    build_map,
    load_map_definition,
    map_columns,
    read_map_data,
)
from territory.orientation import load_orientation, orientation_for_map
from territory.settings import maps_dir

NANTES = shapely.Point(-1.5536, 47.2184)
#: the main rivers a reader of a French map looks for
MAIN_RIVERS = ("Loire", "Seine", "Rhône", "Garonne", "Dordogne", "Rhin", "Meuse", "Moselle", "Saône")


def test_package_data_matches_its_provenance() -> None:
    folder = resources.files("territory").joinpath("package_data", "orientation")
    provenance = json.loads(folder.joinpath("provenance.json").read_text(encoding="utf-8"))
    data = folder.joinpath("orientation.parquet").read_bytes()
    derived = provenance["derived_files"]["orientation.parquet"]
    assert hashlib.sha256(data).hexdigest() == derived["sha256"]
    assert provenance["script"] == "scripts/derive_orientation.py"
    assert provenance["sources"]["decoupage_administratif"]["version"] == "6.0.0"
    assert "public domain" in provenance["licences"]["natural_earth"]
    assert "Licence Ouverte" in provenance["licences"]["decoupage_administratif"]
    layer = load_orientation()
    assert derived["rows"] == {"coast": len(layer.coast), "river": len(layer.rivers),
                               "prefecture": layer.place_kinds.count("prefecture"),
                               "sous_prefecture": layer.place_kinds.count("sous_prefecture")}


def test_layer_has_the_chefs_lieux_and_the_main_rivers() -> None:
    layer = load_orientation()
    places = set(zip(layer.place_names, layer.place_kinds, strict=True))
    # every département of the COG that has communes: 96 metropolitan and 5 overseas
    assert layer.place_kinds.count("prefecture") == 101
    # Saint-Denis: préfecture of La Réunion, sous-préfecture of Seine-Saint-Denis
    assert {("Nantes", "prefecture"), ("Saint-Denis", "prefecture"), ("Saint-Denis", "sous_prefecture"),
            ("Saint-Nazaire", "sous_prefecture"), ("Châteaubriant", "sous_prefecture")} <= places
    assert set(MAIN_RIVERS) <= set(layer.river_names)
    nantes = layer.places[layer.place_names.index("Nantes")]
    assert nantes.distance(NANTES) < 0.02, "Nantes placed away from its town hall"
    loire = shapely.union_all([g for g, n in zip(layer.rivers, layer.river_names, strict=True) if n == "Loire"])
    assert loire.distance(NANTES) < 0.02, "the Loire does not pass through Nantes"
    # the coast runs along the sea, not along land borders (Geneva–Strasbourg is inland)
    coast = shapely.union_all(layer.coast)
    assert coast.distance(shapely.Point(-2.2, 47.25)) < 0.05   # Loire estuary, Saint-Nazaire
    assert coast.distance(shapely.Point(7.75, 48.58)) > 0.3    # Strasbourg, on the Rhine border


def test_a_map_takes_what_lies_around_its_territories() -> None:
    layer = load_orientation()
    around_nantes = orientation_for_map(layer, [((-1.8, 47.1, -1.3, 47.35), None)], 60 / 111_000)
    assert "Nantes" in around_nantes.place_names and "Marseille" not in around_nantes.place_names
    assert "Loire" in around_nantes.river_names and "Seine" not in around_nantes.river_names
    assert all(shapely.bounds(g)[0] >= -2.1 for g in around_nantes.rivers), "rivers not clipped"

    def move(xy: np.ndarray) -> np.ndarray:
        return xy + np.array([-40.0, 0.0])

    moved = orientation_for_map(layer, [((-1.8, 47.1, -1.3, 47.35), move)], 60 / 111_000)
    nantes = moved.places[moved.place_names.index("Nantes")]
    assert nantes.x == pytest.approx(-41.55, abs=0.05), "an inset's places are not moved"


def test_page_carries_the_layer_and_stays_small() -> None:
    definition = load_map_definition(maps_dir() / "footprint.toml")
    values = {c: np.array([200.0, 210.0]) for c in map_columns(definition, "communes")[0]}
    level = MapLevel("communes", "Communes", ["99001", "99002"], ["Une", "Deux"], values,
                     np.array([shapely.box(-1.6, 47.2, -1.5, 47.3), shapely.box(-1.5, 47.2, -1.4, 47.3)]))
    page = build_map([level], definition)
    orientation = read_map_data(page)["orientation"]
    assert "Nantes" in orientation["places"]["names"]
    assert "Loire" in orientation["rivers"]["names"]
    assert len(orientation["places"]["kinds"]) == len(orientation["places"]["names"])
    assert len(json.dumps(orientation)) < 20_000
    off = build_map([level], definition, orientation=False)
    assert read_map_data(off)["orientation"] is None
