"""The map's data encoding and classes, without a browser (tests/test_browser.py opens the maps)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from territory.mapping import (
    MAP_COLUMNS,
    MapLevel,
    _indicators,
    class_breaks,
    encode_numbers,
    encode_texts,
    encode_varints,
    load_map_definition,
)
from territory.settings import maps_dir

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
