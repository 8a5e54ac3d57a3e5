"""The generic point reader: any kind whose spec (``data/registries/<kind>.toml``) says
``reader = "points"`` is read from its declared columns alone.

The file is opened by :func:`~territory.registries._rows.open_rows` (DuckDB's ``read_csv``,
every column as text) and cleaned in SQL: coordinates with ``TRY_CAST`` (decimal commas
allowed), attributes by their declared type (``text``, ``number``, ``year``, ``code_insee``).
Columns are found by the names the spec accepts (compared folded, see
:func:`~territory.registries._rows.fold_name`) or by ``options["columns"]`` (role = column).
The CRS is ``options["crs"]``, else the spec's ``crs``, else inferred from the coordinate
ranges; any CRS pyproj knows is accepted (other than WGS84 and Lambert-93, points are
reprojected to WGS84).

A row is quarantined, with its reason, when it has the wrong number of fields, no
coordinates, coordinates that are not numbers, coordinates outside France
(:data:`~territory.registries._rows.FRANCE_EXTENTS`), or repeats an earlier row (same
coordinates and name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from territory.errors import InputError
from territory.i18n import N_, Message, _
from territory.registries._common import LAMBERT93, WGS84, RegistryLoad, infer_crs
from territory.registries._rows import FRANCE_EXTENTS, Rows, fold_name, normalise_crs, open_rows
from territory.registries.specs import ColumnSpec, RegistrySpec
from territory.sources._files import InputRecord, sha256_of

#: SQL of each column type, from the column's text ``{t}``
_TYPES = {
    "text": "nullif(trim({t}), '')",
    "number": "TRY_CAST(replace(replace(trim({t}), ' ', ''), ',', '.') AS DOUBLE)",
    "year": "TRY_CAST(regexp_extract({t}, '(1[89][0-9]{{2}}|20[0-9]{{2}})') AS BIGINT)",
    "code_insee": ("CASE WHEN regexp_full_match(trim({t}), '[0-9]{{4}}') THEN '0' || trim({t}) "
                   "WHEN regexp_full_match(upper(trim({t})), '[0-9]{{5}}|2[AB][0-9]{{3}}') "
                   "THEN upper(trim({t})) END"),
}
_NUMBER = "TRY_CAST(replace(trim({t}), ',', '.') AS DOUBLE)"


def _resolve(path: Path, spec: RegistrySpec, header: list[str],
             declared: dict[str, Any]) -> dict[str, int]:
    """Index of each role's column: declared by the options, else the first accepted name."""
    folded = [fold_name(h) for h in header]
    roles = {c.role: c for c in spec.columns}
    unknown = sorted(set(declared) - set(roles))
    if unknown:
        msg = _("{path}: unknown role(s) {unknown} in the columns option; known: {known}").format(
            path=path, unknown=", ".join(unknown), known=", ".join(roles))
        raise InputError(msg)
    index: dict[str, int] = {}
    for column in spec.columns:
        wanted = [str(declared[column.role])] if column.role in declared else list(column.names)
        for name in wanted:
            if fold_name(name) in folded and folded.index(fold_name(name)) not in index.values():
                index[column.role] = folded.index(fold_name(name))
                break
        else:
            if column.required or column.role in declared:
                msg = _("{path}: no {role} column (accepted names: {names}) in the header "
                        "({header}); declare it with the columns option, e.g. {example}").format(
                    path=path, role=column.role, names=", ".join(wanted),
                    header=", ".join(header)[:200],
                    example=f'columns = {{{column.role} = "..."}}')
                raise InputError(msg)
    return index


def _settle_crs(
    path: Path, spec: RegistrySpec, rows: Rows, options: dict[str, Any], warnings: list[str],
) -> str:
    """The CRS of the parsed coordinates; other CRSs than WGS84 / Lambert-93 are reprojected."""
    con = rows.con
    declared = options.get("crs") or spec.crs
    if declared:
        label, crs = normalise_crs(path, declared, N_("the crs option"))
    else:
        coords = con.execute("SELECT x, y FROM parsed WHERE x IS NOT NULL").fetchnumpy()
        if not len(coords["x"]):
            return WGS84
        guess = infer_crs(pd.Series(coords["x"]), pd.Series(coords["y"]))
        if guess.crs is None:
            msg = _("{path}: coordinate ranges fit neither WGS84 nor Lambert-93; declare the CRS "
                    "with the crs option (e.g. {example})").format(path=path,
                                                                   example='crs = "EPSG:2154"')
            raise InputError(msg)
        if guess.warning:
            warnings.append(guess.warning)
        if guess.swapped:
            con.execute("UPDATE parsed SET x = y, y = x")
        return guess.crs
    if crs is not None:  # reprojected with pyproj, vectorised
        from pyproj import Transformer

        coords = con.execute("SELECT line, x, y FROM parsed WHERE x IS NOT NULL").fetchnumpy()
        lon, lat = Transformer.from_crs(crs, WGS84, always_xy=True).transform(
            coords["x"], coords["y"])
        moved = pd.DataFrame({"line": coords["line"], "lon": lon, "lat": lat})  # noqa: F841
        con.execute("UPDATE parsed SET x = moved.lon, y = moved.lat FROM moved "
                    "WHERE parsed.line = moved.line")
        warnings.append(Message("coordinates reprojected from {source} to {target}",
                                source=label, target=WGS84))
        return WGS84
    return label


def _attribute(rows: Rows, column: ColumnSpec, index: dict[str, int]) -> str:
    text = f"coalesce({rows.column(index[column.role])}, '')"
    return _TYPES[column.type].format(t=text)


def read(path: Path, *, spec: RegistrySpec, options: dict[str, Any]) -> RegistryLoad:
    """Read a registry of points of ``spec``'s kind (see the module docstring)."""
    rows = open_rows(path, encoding=options.get("encoding"), separator=options.get("separator"))
    header, con = rows.header, rows.con
    warnings = list(rows.warnings)
    if rows.encoding != "utf-8" and not options.get("encoding"):
        warnings.append(Message("encoding not declared: read as {encoding}",
                                encoding=rows.encoding))
    index = _resolve(path, spec, header, options.get("columns") or {})
    x, y = (f"coalesce({rows.column(index[r])}, '')" for r in ("x", "y"))
    attributes = [c for c in spec.columns if c.target and c.role in index]
    selected = "".join(f", {_attribute(rows, c, index)} AS {c.target}" for c in attributes)
    con.execute(f"""
        CREATE TABLE parsed AS
        SELECT line, {_NUMBER.format(t=x)} AS x, {_NUMBER.format(t=y)} AS y,
               CASE WHEN nfields IS DISTINCT FROM {len(header)}
                        THEN 'wrong number of fields: ' || coalesce(nfields::VARCHAR, 'more')
                             || ' where the header has {len(header)}'
                    WHEN trim({x}) = '' OR trim({y}) = '' THEN 'no coordinates'
                    WHEN NOT isfinite({_NUMBER.format(t=x)}) OR NOT isfinite({_NUMBER.format(t=y)})
                         OR {_NUMBER.format(t=x)} IS NULL OR {_NUMBER.format(t=y)} IS NULL
                        THEN 'non-numeric coordinates: ' || trim({x}) || ', ' || trim({y})
               END AS problem
               {selected}
        FROM rows""")
    con.execute("UPDATE parsed SET x = NULL, y = NULL WHERE problem IS NOT NULL")
    crs = _settle_crs(path, spec, rows, options, warnings)
    boxes = " OR ".join(f"(x BETWEEN {x0} AND {x1} AND y BETWEEN {y0} AND {y1})"
                        for x0, x1, y0, y1 in FRANCE_EXTENTS.get(crs, ((-1e9, 1e9, -1e9, 1e9),)))
    name = "name" if any(c.target == "name" for c in attributes) else "NULL::VARCHAR"
    con.execute(f"""
        UPDATE parsed SET problem = 'coordinates outside France: ' || x || ', ' || y || ' ({crs})'
        WHERE problem IS NULL AND NOT ({boxes})""")
    con.execute(f"""
        UPDATE parsed SET problem = 'exact duplicate: same coordinates and name as line ' || d.first
        FROM (SELECT line, min(line) OVER (PARTITION BY x, y, {name}) AS first
              FROM parsed WHERE problem IS NULL) AS d
        WHERE parsed.line = d.line AND d.line <> d.first""")
    problems = con.execute("SELECT line, problem FROM parsed WHERE problem IS NOT NULL "
                           "ORDER BY line").fetchall()
    fields = rows.fields([line for line, _ in problems])
    quarantine = list(rows.rejected)
    for line, reason in problems:
        raw = {(header[i] if i < len(header) and header[i] else f"column_{i + 1}"): v
               for i, v in enumerate(fields.get(line, []))}
        quarantine.append({"line": line, "reason": reason,
                           **{(f"raw_{k}" if k in ("line", "reason") else k): v
                              for k, v in raw.items()}})
    quarantine.sort(key=lambda entry: entry["line"])
    targets = "".join(f", {c.target}" for c in attributes)
    kept = con.execute(f"SELECT line AS source_line, x, y{targets} FROM parsed "
                       "WHERE problem IS NULL ORDER BY line").to_arrow_table()
    record = InputRecord(name=spec.kind, path=str(path), sha256=sha256_of(path),
                         rows_read=rows.count + len(rows.rejected))
    con.close()
    return RegistryLoad(kind=spec.kind, rows=kept, crs=crs if crs in (WGS84, LAMBERT93) else WGS84,
                        quarantine=quarantine, record=record, warnings=warnings)
