"""Shared fixtures: one national run and one Loire-Atlantique run per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from territory.run import run_pipeline
from territory.settings import RunSettings

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def realdata_path(*parts: str) -> Path:
    """Path inside ../shared/realdata; skips (or fails under TERRITORY_REQUIRE_REALDATA=1)
    when the folder is absent."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        reason = f"real-data sample {path} is absent (a fresh clone has no ../shared/realdata)"
        if os.environ.get("TERRITORY_REQUIRE_REALDATA") == "1":
            pytest.fail(reason + " and TERRITORY_REQUIRE_REALDATA=1")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def run_44(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Output folder of `territory run --departement 44`."""
    out = tmp_path_factory.mktemp("run44") / "out"
    run_pipeline(RunSettings(out_dir=out, departements=("44",), progress=False))
    return out


@pytest.fixture(scope="session")
def run_france(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Output folder of `territory run` (all of France)."""
    out = tmp_path_factory.mktemp("runfr") / "out"
    run_pipeline(RunSettings(out_dir=out, progress=False))
    return out
