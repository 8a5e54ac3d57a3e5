"""Current communes (COG 2026) with their legal populations and EPCI, the EPCI of 2026, and the
former commune codes.

``data/communes_cog2026.csv`` and ``data/former_communes.csv`` are derived from Etalab's
``@etalab/decoupage-administratif`` 6.0.0 by ``scripts/derive_communes.py`` (provenance in
``data/communes_cog2026.provenance.json``), ``data/epci_cog2026.csv`` (SIREN, name, type of each
EPCI) from the same package by ``scripts/derive_epci.py`` (``epci_cog2026.provenance.json``);
a run reads only these files.

Every input keyed by a commune code goes through :func:`to_current_codes`: a former code
(commune fusionnée, déléguée, associée, arrondissement municipal) is credited to the current
commune it belongs to, the values of several rows landing on one commune are combined (counts
summed, ratios recomputed), and only codes that exist nowhere are quarantined.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from territory.database import sql_literal
from territory.errors import InputError
from territory.i18n import N_, _
from territory.sources._files import InputRecord, sha256_of

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

COMMUNES_FILE = "communes_cog2026.csv"
FORMER_COMMUNES_FILE = "former_communes.csv"
PROVENANCE_FILE = "communes_cog2026.provenance.json"
COMMUNE_COLUMNS = ("code_insee", "nom", "departement", "region", "epci_siren", "population",
                   "population_year", "zone")
FORMER_COLUMNS = ("old_code", "new_code", "kind")
EPCI_FILE = "epci_cog2026.csv"
EPCI_PROVENANCE_FILE = "epci_cog2026.provenance.json"
EPCI_COLUMNS = ("siren", "nom", "type", "mode_financement", "communes")
#: the population the table gives (Mayotte: 2017 census, see population_year)
POPULATION_VINTAGE = "populations légales 2023 (INSEE, COG 2026)"
#: communes of the collectivités d'outre-mer (Saint-Pierre-et-Miquelon 975, Saint-Barthélemy
#: 977, Saint-Martin 978, Pacific 98x): real codes, outside the communes the toolkit maps
OVERSEAS_COLLECTIVITY = re.compile(r"^(97[5789]|98\d)\d{2}$")
ARRONDISSEMENT = "arrondissement municipal"
UNKNOWN_REASON = N_("no current commune has the code {code}, and it is no former code (COG 2026)")


@dataclass(frozen=True)
class CommuneCodes:
    """Current commune codes with their populations, and former code → current code."""

    populations: dict[str, int]
    former: dict[str, str]
    kinds: dict[str, str]

    def current_code(self, code: str) -> str | None:
        """The current commune ``code`` belongs to (itself when current); None when unknown."""
        if code in self.populations:
            return code
        return self.former.get(code)


@dataclass(frozen=True)
class Aggregation:
    """How the rows of several codes credited to one commune are combined.

    ``sums`` are added (unknown when a part is unknown); ``weighted`` columns are averaged over
    the parts that have them, weighted by another column; ``ratios`` are recomputed from two
    summed columns; ``all_true`` booleans hold when every part holds; any other column keeps
    the value of the row whose code is the current one (else the first row).
    """

    sums: tuple[str, ...] = ()
    weighted: dict[str, str] = field(default_factory=dict)
    ratios: dict[str, tuple[str, str]] = field(default_factory=dict)
    all_true: tuple[str, ...] = ()
    ratio_max: float | None = None
    note: str = "values summed"


#: combining the per-commune registries (see Aggregation)
AGGREGATIONS = {
    "fibre": Aggregation(
        sums=("ftth_connectable", "premises"),
        ratios={"ftth_share": ("ftth_connectable", "premises")}, ratio_max=1.0,
        note="premises and connectable premises summed, FttH share recomputed"),
    "income": Aggregation(
        sums=("households_fiscal", "persons_fiscal"),
        weighted={"median_income_eur": "persons_fiscal", "poverty_rate_pct": "persons_fiscal"},
        all_true=("secret",),
        note=("fiscal households and persons summed; median income and poverty rate averaged "
              "over the non-secret parts weighted by persons (an approximation of the median)")),
    "population": Aggregation(sums=("population",), note="populations summed"),
}


@dataclass
class Recoded:
    """What :func:`to_current_codes` did with a table of rows keyed by ``code_insee``."""

    rows: pd.DataFrame
    renamed: int = 0
    merged_communes: int = 0
    merged_rows: int = 0
    set_aside: dict[str, int] = field(default_factory=dict)
    quarantine: list[dict[str, Any]] = field(default_factory=list)

    def notes(self, aggregation: Aggregation) -> list[str]:
        """Manifest notes (English) on the codes replaced and the rows combined."""
        notes = []
        if self.renamed:
            notes.append(f"{self.renamed} rows with a former commune code credited to the "
                         "current commune (data/former_communes.csv, COG 2026)")
        if self.merged_communes:
            notes.append(f"{self.merged_rows} rows combined into {self.merged_communes} current "
                         f"communes: {aggregation.note}")
        return notes


def _check_table(
    con: duckdb.DuckDBPyConnection, table: str, path: Path, columns: tuple[str, ...],
) -> None:
    """Raise on a missing column or an empty code / name (row numbers count the header as 1)."""
    header = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    missing = [c for c in columns if c not in header]
    if missing:
        msg = f"{path}: row 1: column {missing[0]} missing (expected {','.join(columns)})"
        raise InputError(msg)
    for column in columns[:2]:
        empty = con.execute(f"SELECT _row FROM {table} WHERE coalesce(trim({column}), '') = '' "
                            "ORDER BY _row LIMIT 1").fetchone()
        if empty:
            msg = f"{path}: row {empty[0]}, column {column}: empty"
            raise InputError(msg)


def load_current_communes(con: duckdb.DuckDBPyConnection, folder: Path) -> list[InputRecord]:
    """Create ``raw_communes_cog`` and ``raw_former_communes`` from ``folder``'s tables (the
    project's ``data/``); a table that breaks a rule stops the run naming file, row, column."""
    import json

    records = []
    for table, name, columns in (("raw_communes_cog", COMMUNES_FILE, COMMUNE_COLUMNS),
                                 ("raw_former_communes", FORMER_COMMUNES_FILE, FORMER_COLUMNS)):
        path = folder / name
        if not path.is_file():
            msg = f"{path}: file missing; run scripts/derive_communes.py"
            raise InputError(msg)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _{table} AS SELECT *, row_number() OVER () + 1 AS _row "
            f"FROM read_csv({sql_literal(path)}, header = true, all_varchar = true, quote = '\"', "
            "escape = '\"')")
        _check_table(con, f"_{table}", path, columns)
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {', '.join(columns)} "
                    f"FROM _{table} ORDER BY _row")
        bad = con.execute(
            "SELECT _row, population FROM _raw_communes_cog "
            "WHERE NOT regexp_full_match(population, '[0-9]+') ORDER BY _row LIMIT 1"
        ).fetchone() if table == "raw_communes_cog" else con.execute(
            "SELECT _row, new_code FROM _raw_former_communes WHERE new_code NOT IN "
            "(SELECT code_insee FROM raw_communes_cog) ORDER BY _row LIMIT 1").fetchone()
        if bad:
            what = ("column population: {!r} is not a whole number" if table == "raw_communes_cog"
                    else f"column new_code: {{!r}} is no current commune of {COMMUNES_FILE}")
            msg = f"{path}: row {bad[0]}, {what.format(bad[1])}"
            raise InputError(msg)
        rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        con.execute(f"DROP TABLE _{table}")
        count = int(rows[0]) if rows else 0
        records.append(InputRecord(
            name=f"data:{name.removesuffix('.csv')}", path=str(path), sha256=sha256_of(path),
            rows_read=count, rows_kept=count))
    records.append(_load_epci(con, folder))
    provenance_path = folder / PROVENANCE_FILE
    if provenance_path.is_file():
        provenance = json.loads(provenance_path.read_text(encoding="utf-8"))
        for record in records[:2]:
            record.package = provenance.get("package")
            record.version = provenance.get("version")
            # ``url`` is for files territory fetched; the package's tarball is provenance
            record.notes.append(f"derived by scripts/derive_communes.py from "
                                f"{provenance.get('tarball')}")
    records[0].vintage = POPULATION_VINTAGE
    records[0].notes.append("Mayotte (976): 2017 census, as in the package (population_year)")
    return records


def _load_epci(con: duckdb.DuckDBPyConnection, folder: Path) -> InputRecord:
    """``raw_epci_cog`` from ``epci_cog2026.csv``: every commune's EPCI (``epci_siren`` of the
    communes table) must be one of its SIREN."""
    import json

    path = folder / EPCI_FILE
    if not path.is_file():
        msg = f"{path}: file missing; run scripts/derive_epci.py"
        raise InputError(msg)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _raw_epci_cog AS SELECT *, row_number() OVER () + 1 AS _row "
        f"FROM read_csv({sql_literal(path)}, header = true, all_varchar = true, quote = '\"', "
        "escape = '\"')")
    _check_table(con, "_raw_epci_cog", path, EPCI_COLUMNS)
    con.execute(f"CREATE OR REPLACE TABLE raw_epci_cog AS SELECT {', '.join(EPCI_COLUMNS)} "
                "FROM _raw_epci_cog ORDER BY _row")
    con.execute("DROP TABLE _raw_epci_cog")
    orphan = con.execute(
        "SELECT code_insee, epci_siren FROM raw_communes_cog WHERE coalesce(epci_siren, '') <> '' "
        "AND epci_siren NOT IN (SELECT siren FROM raw_epci_cog) ORDER BY code_insee LIMIT 1"
    ).fetchone()
    if orphan:
        msg = (f"{folder / COMMUNES_FILE}: commune {orphan[0]}: epci_siren {orphan[1]} is no "
               f"EPCI of {EPCI_FILE}")
        raise InputError(msg)
    rows = con.execute("SELECT count(*) FROM raw_epci_cog").fetchone()
    count = int(rows[0]) if rows else 0
    record = InputRecord(name=f"data:{EPCI_FILE.removesuffix('.csv')}", path=str(path),
                         sha256=sha256_of(path), rows_read=count, rows_kept=count)
    provenance_path = folder / EPCI_PROVENANCE_FILE
    if provenance_path.is_file():
        provenance = json.loads(provenance_path.read_text(encoding="utf-8"))
        record.package = provenance.get("package")
        record.version = provenance.get("version")
        record.notes.append(f"derived by scripts/derive_epci.py from {provenance.get('tarball')}")
    return record


def commune_codes(con: duckdb.DuckDBPyConnection) -> CommuneCodes:
    """The current communes and former codes loaded by :func:`load_current_communes`."""
    populations = dict(con.execute(
        "SELECT code_insee, population::BIGINT FROM raw_communes_cog").fetchall())
    former_rows = con.execute("SELECT old_code, new_code, kind FROM raw_former_communes").fetchall()
    return CommuneCodes(populations, {o: n for o, n, _ in former_rows},
                        {o: k for o, _, k in former_rows})


def _combine(group: pd.DataFrame, aggregation: Aggregation) -> dict[str, Any]:
    """One row from the rows of several codes credited to one commune."""
    combined = group.iloc[0].to_dict()
    for column in aggregation.sums:
        if column in group:
            values = group[column].astype("float64")
            combined[column] = values.sum() if values.notna().all() else math.nan
    for column, weight in aggregation.weighted.items():
        if column in group and weight in group:
            values, weights = group[column].astype("float64"), group[weight].astype("float64")
            usable = values.notna() & weights.notna() & (weights > 0)
            combined[column] = ((values[usable] * weights[usable]).sum() / weights[usable].sum()
                                if usable.any() else math.nan)
    for column, (numerator, denominator) in aggregation.ratios.items():
        if column in group:
            top, bottom = combined.get(numerator), combined.get(denominator)
            ratio = (top / bottom if isinstance(top, float) and isinstance(bottom, float)
                     and not math.isnan(top) and bottom > 0 else math.nan)
            if aggregation.ratio_max is not None and not math.isnan(ratio):
                ratio = min(ratio, aggregation.ratio_max)
            combined[column] = ratio
    for column in aggregation.all_true:
        if column in group:
            combined[column] = bool(group[column].fillna(False).astype(bool).all())
    return combined


def to_current_codes(
    rows: pd.DataFrame, codes: CommuneCodes, aggregation: Aggregation,
    describe: Iterable[str] = (),
) -> Recoded:
    """Rows keyed by ``code_insee`` re-keyed by current commune, one row per commune.

    A row of an arrondissement municipal whose commune also has a row is set aside (the
    commune's row counts it); a commune of a collectivité d'outre-mer is set aside; a code
    that is neither current nor former is quarantined (with the columns ``describe``).
    """
    import pandas as pd

    result = Recoded(rows=rows)
    if rows.empty:
        return result
    original = rows["code_insee"].astype(str)
    current = original.map(codes.current_code)
    present = set(original)
    arrondissement = [codes.kinds.get(code) == ARRONDISSEMENT and codes.former[code] in present
                      for code in original]
    overseas = current.isna() & original.str.match(OVERSEAS_COLLECTIVITY.pattern)
    unknown = current.isna() & ~overseas
    if any(arrondissement):
        result.set_aside[N_("arrondissement municipal: its commune's own row counts it")] = sum(
            arrondissement)
    if overseas.any():
        result.set_aside[
            N_("commune of a collectivité d'outre-mer: outside the communes mapped")] = int(
            overseas.sum())
    for index in rows.index[unknown]:
        code = original[index]
        result.quarantine.append({
            "code_insee": code, "reason": _(UNKNOWN_REASON).format(code=code),
            **{c: str(rows.at[index, c]) for c in describe if c in rows}})
    keep = ~(pd.Series(arrondissement, index=rows.index) | overseas | unknown)
    kept = rows[keep].copy()
    kept["code_insee"] = current[keep]
    result.renamed = int((original[keep] != current[keep]).sum())
    # the row already under the current code comes first: its other columns are kept
    kept["_former"] = original[keep] != current[keep]
    kept = kept.sort_values(["code_insee", "_former"], kind="stable")
    counts = kept["code_insee"].value_counts()
    repeated = counts[counts > 1]
    if repeated.empty:
        result.rows = kept.drop(columns="_former").reset_index(drop=True)
        return result
    single = kept[~kept["code_insee"].isin(repeated.index)]
    groups = kept[kept["code_insee"].isin(repeated.index)]
    combined = pd.DataFrame([_combine(g.drop(columns="_former"), aggregation)
                             for _, g in groups.groupby("code_insee", sort=True)])
    result.merged_communes, result.merged_rows = len(repeated), int(repeated.sum())
    frame = pd.concat([single.drop(columns="_former"), combined], ignore_index=True)
    for column in rows.columns:
        try:
            frame[column] = frame[column].astype(rows[column].dtype)
        except (TypeError, ValueError):
            pass  # a sum made an integer column unknown (NaN): it stays float
    result.rows = frame.sort_values("code_insee", kind="stable").reset_index(drop=True)
    return result
