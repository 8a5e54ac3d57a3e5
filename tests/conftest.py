"""Shared fixtures: one national run and one Loire-Atlantique run per test session."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
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


#: the system Python that has Debian's python3-qgis (QGIS runs there, not in the test's Python)
QGIS_PYTHON = "/usr/bin/python3"


def qgis_env() -> dict[str, str]:
    """Environment for QGIS_PYTHON: headless Qt, none of this interpreter's paths."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def run_qgis_script(python: str, script: Path, *args: str, timeout: float = 600) -> dict:
    """Run a probe script (tests/qgis_probe.py, tests/qgis_raster_probe.py) in QGIS's Python and
    return the JSON it prints last; fail the test, with its output, when it does not."""
    proc = subprocess.run([python, str(script), *args], env=qgis_env(), check=False,
                          capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        pytest.fail(f"{script.name} exited with {proc.returncode} on {' '.join(args)}\n"
                    f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def require_system_modules(modules: str, needs: str) -> None:
    """Return when QGIS_PYTHON imports ``modules`` (comma-separated); otherwise skip the test,
    or fail it when CI=true or TERRITORY_REQUIRE_QGIS=1. ``needs`` names the Debian packages."""
    reason = None
    if not Path(QGIS_PYTHON).exists():
        reason = f"{QGIS_PYTHON} is absent (these tests need Debian's {needs})"
    else:
        check = subprocess.run([QGIS_PYTHON, "-c", f"import {modules}"], env=qgis_env(),
                               check=False, capture_output=True, text=True, timeout=120)
        if check.returncode != 0:
            reason = (f"{QGIS_PYTHON} cannot import {modules} (install {needs}): "
                      f"{(check.stderr.strip().splitlines() or ['?'])[-1]}")
    if reason:
        if (os.environ.get("CI", "").lower() in ("true", "1")
                or os.environ.get("TERRITORY_REQUIRE_QGIS") == "1"):
            pytest.fail(reason + " and CI=true or TERRITORY_REQUIRE_QGIS=1")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def qgis_python() -> str:
    """/usr/bin/python3 once it is known to import ``qgis.core``; skips without it, or fails
    when CI=true or TERRITORY_REQUIRE_QGIS=1."""
    require_system_modules("qgis.core", "python3-qgis qgis-providers")
    return QGIS_PYTHON


#: GDAL's validators (Debian's python3-gdal, in QGIS_PYTHON), with their options
GPKG_VALIDATOR = ("osgeo_utils.samples.validate_gpkg", "-k", "--extra")
COG_VALIDATOR = ("osgeo_utils.samples.validate_cloud_optimized_geotiff",)


@dataclass(frozen=True)
class GdalValidators:
    """GDAL's OGC GeoPackage and Cloud Optimized GeoTIFF validators, run in ``python``."""

    python: str

    def _run(self, command: tuple[str, ...], path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.python, "-m", *command, str(path)], env=qgis_env(),
                              check=False, capture_output=True, text=True, timeout=300)

    def gpkg(self, path: Path) -> subprocess.CompletedProcess[str]:
        """``validate_gpkg -k --extra``: exit 0 and nothing printed when the file conforms,
        otherwise one ``Req N: ...`` line per error (warnings are printed too)."""
        return self._run(GPKG_VALIDATOR, path)

    def cog(self, path: Path) -> subprocess.CompletedProcess[str]:
        """``validate_cloud_optimized_geotiff``: exit 0 when the file is a valid COG."""
        return self._run(COG_VALIDATOR, path)


@pytest.fixture(scope="session")
def gdal_validators() -> GdalValidators:
    """GDAL's validators once QGIS_PYTHON imports them; skips without them (install
    python3-gdal), or fails when CI=true or TERRITORY_REQUIRE_QGIS=1."""
    modules = ", ".join(command[0] for command in (GPKG_VALIDATOR, COG_VALIDATOR))
    require_system_modules(modules, "python3-gdal")
    return GdalValidators(QGIS_PYTHON)


def kill_mid_run(argv: list[str]) -> None:
    """Start ``argv`` (a `territory run`), wait until its footprint models are done, then kill
    it without warning (SIGKILL) while it writes its outputs."""
    import signal
    import time

    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:
        if "footprint models" in line:
            break
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stderr.close()


@pytest.fixture(autouse=True, scope="session")
def english_messages() -> Iterator[None]:
    """The command line speaks the locale's language (territory.i18n) and the tests assert its
    English messages: LANGUAGE=en for every test and subprocess, whatever the machine's locale
    (tests/test_i18n.py sets the locale it wants)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LANGUAGE", "en")
        yield


@pytest.fixture(scope="module")
def boundaries(tmp_path_factory: pytest.TempPathFactory):
    """A connection holding the staging models of the boundaries (``stg_departements``,
    ``stg_communes``, ``stg_level_outlines``), built as a run builds them, and the run's input
    records; one per test module (tests add tables to it)."""
    from territory.database import connect
    from territory.pipeline import discover_models, run_models
    from territory.settings import data_dir, pipelines_dir
    from territory.sources import load_boundaries

    work = tmp_path_factory.mktemp("boundaries")
    con = connect(scratch_dir=work)
    records = load_boundaries(con, work, data_dir())
    models = {m.name: m for m in discover_models(pipelines_dir())}
    run_models(con, [models[n] for n in ("stg_departements", "stg_communes", "stg_level_outlines")])
    yield con, records
    con.close()


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
