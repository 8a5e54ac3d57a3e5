"""``territory validate``: check a registry file without running the pipeline.

Reads the file with its kind's reader, places its points in communes (DuckDB spatial join on
the embedded boundaries) or matches its commune codes, and reports rows read, kept and
quarantined grouped by reason (count and first rows), and how many communes the kept rows fall
in.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from territory.database import connect, fetch_value
from territory.i18n import N_, _, translated
from territory.pipeline import discover_models, run_models
from territory.registries import read_registry
from territory.registries.specs import registry_spec
from territory.registries.tables import create_registry_tables
from territory.settings import data_dir, pipelines_dir
from territory.sources import load_boundaries
from territory.sources.cog import (
    AGGREGATIONS,
    commune_codes,
    to_current_codes,
)

OUTSIDE = N_("outside every French commune")
UNKNOWN_CODE = N_("no current commune has this code")
#: how many rows (or codes) of each reason the report names
FIRST_ROWS = 10


def validate_file(path: Path, kind: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate one registry file; return the report (see the module docstring).

    ``reasons`` is a list of ``{"reason", "count", "first_rows"}``, most frequent first:
    ``first_rows`` holds up to :data:`FIRST_ROWS` source line numbers (feature numbers for
    vector files), or commune codes for codes no current commune has.
    """
    load = read_registry(kind, path, options=options)
    reasons: dict[str, list[Any]] = defaultdict(list)
    for row in load.quarantine:
        reasons[_short(row["reason"])].append(row["line"])
    unknown: list[str] = []
    set_aside = 0
    work = Path(tempfile.mkdtemp(prefix="territory-validate-"))
    try:
        con = connect(scratch_dir=work)
        boundaries = load_boundaries(con, work, data_dir())
        # former commune codes are credited to the current commune, as in a run
        aggregation = AGGREGATIONS.get(kind)
        if aggregation is not None:
            recoded = to_current_codes(load.rows, commune_codes(con), aggregation)
            load.rows = recoded.rows
            unknown = [row["code_insee"] for row in recoded.quarantine]
            set_aside = sum(recoded.set_aside.values())
            for reason, count in recoded.set_aside.items():
                load.warnings.append(_("{count} rows set aside: {reason}").format(
                    count=count, reason=_(reason)))
        create_registry_tables(con, [load], boundaries)
        con.execute("SET VARIABLE retention_days = NULL::DOUBLE")
        wanted = {"stg_communes", "stg_registry_points", "int_registry_points_located"}
        run_models(con, [m for m in discover_models(pipelines_dir()) if m.name in wanted])
        if registry_spec(kind).is_points:
            outside = [line for (line,) in con.execute(
                "SELECT source_line FROM int_registry_points_located WHERE code_insee IS NULL "
                "ORDER BY source_line").fetchall()]
            communes = fetch_value(
                con, "SELECT count(DISTINCT code_insee) FROM int_registry_points_located")
            if outside:
                reasons[_(OUTSIDE)] += outside
        else:
            table = "raw_fibre" if kind == "fibre" else "raw_income"
            outside = unknown + [code for (code,) in con.execute(
                f"SELECT r.code_insee FROM {table} AS r ANTI JOIN stg_communes AS c "
                "USING (code_insee) ORDER BY r.code_insee").fetchall()]
            communes = fetch_value(
                con, f"SELECT count(*) FROM {table} AS r SEMI JOIN stg_communes AS c "
                "USING (code_insee)")
            if outside:
                reasons[_(UNKNOWN_CODE)] += outside
        lost = len(outside)
        con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "kind": kind,
        "path": str(path),
        "rows_read": load.record.rows_read,
        "rows_kept": load.record.rows_kept - lost - set_aside,
        "rows_set_aside": set_aside,
        "rows_quarantined": load.record.rows_quarantined + lost,
        "reasons": [
            {"reason": reason, "count": len(rows), "first_rows": rows[:FIRST_ROWS]}
            for reason, rows in sorted(reasons.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ],
        "communes": int(communes),
        "crs": load.crs,
        "warnings": [translated(warning) for warning in load.warnings],
    }


def _short(reason: str) -> str:
    """A reason without its row-specific details (values after a colon), to count them."""
    return reason.split(":", 1)[0].strip()


def format_report(report: dict[str, Any]) -> str:
    """The report as a few lines for a terminal."""
    lines = [
        f"{report['path']} ({report['kind']})",
        _("  rows read:        {count}").format(count=report["rows_read"]),
        _("  rows kept:        {count} in {communes} communes").format(
            count=report["rows_kept"], communes=report["communes"]),
        _("  rows quarantined: {count}").format(count=report["rows_quarantined"]),
    ]
    for entry in report["reasons"]:
        shown = ", ".join(map(str, entry["first_rows"]))
        more = ", …" if entry["count"] > len(entry["first_rows"]) else ""
        template = (_("    {count:>8}  {reason} (codes {shown}{more})")
                    if entry["reason"] == _(UNKNOWN_CODE)
                    else _("    {count:>8}  {reason} (rows {shown}{more})"))
        lines.append(template.format(count=entry["count"], reason=entry["reason"], shown=shown,
                                     more=more))
    lines += [_("  note: {warning}").format(warning=w) for w in report["warnings"]]
    return "\n".join(lines)
