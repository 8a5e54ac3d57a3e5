"""Derive the COG 2026 commune tables of ``data/`` from Etalab's ``@etalab/decoupage-administratif``.

Writes three files (into ``data/`` unless ``--out`` says otherwise)::

    communes_cog2026.csv             one row per current commune of metropolitan France and the
                                     DROM (Mayotte included): code_insee, nom, departement,
                                     region, epci_siren, population, population_year, zone
    former_communes.csv              old_code, new_code, kind: every former code (communes
                                     fusionnées, déléguées, associées; arrondissements
                                     municipaux) and the current commune it belongs to
    communes_cog2026.provenance.json package, version, tarball URL and SHA-256, SHA-256 of the
                                     files read and written, date, licence, counts

By default the package is downloaded with ``npm pack`` (the only step that needs npm and the
network; the toolkit itself only reads the derived files). ``--from PATH`` reads a tarball or a
folder holding ``communes.json`` and ``epci.json`` (the package's ``data/``) instead. Either
way the files read are checked against the SHA-256 recorded below for the pinned version, so
the same tables come out whichever way the package was obtained.

Usage::

    python scripts/derive_communes.py                # npm pack, write into data/
    python scripts/derive_communes.py --from ../shared/realdata/etalab --out /tmp/cog
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# the tables' names and columns are the runtime's (one place): territory.sources.cog reads them
from territory.sources.cog import (
    COMMUNE_COLUMNS,
    COMMUNES_FILE,
    FORMER_COLUMNS,
    FORMER_COMMUNES_FILE,
    PROVENANCE_FILE,
)

PACKAGE = "@etalab/decoupage-administratif"
VERSION = "6.0.0"
TARBALL_URL = (
    "https://registry.npmjs.org/@etalab/decoupage-administratif/-/decoupage-administratif-6.0.0.tgz")
#: SHA-256 of the npm tarball of VERSION and of the files read from it
TARBALL_SHA256 = "c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a"
SOURCE_SHA256 = {
    "communes.json": "6cafec09b4e127d08edc47f366b28261bee70cca323fbfcb957dd169fcad9284",
    "epci.json": "40758ace686311837c484da81c2a8ba00a9f356bc6210f3316c6b19daa4dc967",
}
#: zones kept: the COM (Polynésie, Nouvelle-Calédonie, Saint-Martin…) are outside the toolkit
ZONES = ("metro", "drom")
#: year of the population the package gives: INSEE's populations légales 2023 (in force on
#: 1 January 2026), except Mayotte, where the package uses the 2017 census (package README)
POPULATION_YEAR = "2023"
POPULATION_YEAR_BY_DEPARTEMENT = {"976": "2017"}
KINDS = {
    "commune-deleguee": "déléguée",
    "commune-associee": "associée",
    "arrondissement-municipal": "arrondissement municipal",
}
LICENCE = ("package code: MIT (LICENSE, copyright Etalab); data: Licence Ouverte / Etalab "
           "(INSEE Code officiel géographique 2026 and populations légales 2023, DGCL EPCI 2026)")


class DeriveError(Exception):
    """The package could not be obtained or does not hold what was expected."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npm_pack(folder: Path) -> Path:
    """Download the pinned tarball with ``npm pack`` into ``folder``."""
    try:
        done = subprocess.run(
            ["npm", "pack", f"{PACKAGE}@{VERSION}", "--json", "--pack-destination", str(folder)],
            capture_output=True, text=True, check=False, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as error:
        msg = f"npm pack {PACKAGE}@{VERSION} failed ({error}); use --from PATH"
        raise DeriveError(msg) from error
    if done.returncode != 0:
        msg = f"npm pack {PACKAGE}@{VERSION} failed: {done.stderr.strip()[-300:]}"
        raise DeriveError(msg)
    return folder / json.loads(done.stdout)[0]["filename"]


def _read_tarball(path: Path) -> dict[str, bytes]:
    data = path.read_bytes()
    if _sha256(data) != TARBALL_SHA256:
        msg = (f"{path}: SHA-256 {_sha256(data)} is not that of {PACKAGE} {VERSION} "
               f"({TARBALL_SHA256})")
        raise DeriveError(msg)
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for name in SOURCE_SHA256:
            member = archive.extractfile(f"package/data/{name}")
            if member is None:
                msg = f"{path}: package/data/{name} missing"
                raise DeriveError(msg)
            files[name] = member.read()
    return files


def _read_folder(path: Path) -> dict[str, bytes]:
    files = {}
    for name in SOURCE_SHA256:
        candidates = [path / name, path / "data" / name, path / "package" / "data" / name]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            msg = f"{path}: no {name} (looked in {', '.join(str(p) for p in candidates)})"
            raise DeriveError(msg)
        files[name] = found.read_bytes()
    return files


def _check_sources(files: dict[str, bytes], origin: str) -> None:
    for name, expected in SOURCE_SHA256.items():
        if _sha256(files[name]) != expected:
            msg = (f"{origin}: {name} has SHA-256 {_sha256(files[name])}, not that of "
                   f"{PACKAGE} {VERSION} ({expected})")
            raise DeriveError(msg)


def derive_tables(
    communes: list[dict[str, Any]], epci: list[dict[str, Any]],
) -> tuple[list[dict[str, str]], list[dict[str, str]], list[str]]:
    """The rows of the two tables, and notes on the choices made (conflicts resolved)."""
    current = {c["code"]: c for c in communes
               if c["type"] == "commune-actuelle" and c["zone"] in ZONES}
    epci_of = {m["code"]: e["code"] for e in epci for m in e["membres"]}
    rows = []
    for code in sorted(current):
        c = current[code]
        if "population" not in c:
            msg = f"communes.json: current commune {code} has no population"
            raise DeriveError(msg)
        rows.append({
            "code_insee": code, "nom": c["nom"], "departement": c["departement"],
            "region": c["region"], "epci_siren": epci_of.get(code, ""),
            "population": str(c["population"]),
            "population_year": POPULATION_YEAR_BY_DEPARTEMENT.get(c["departement"], POPULATION_YEAR),
            "zone": c["zone"],
        })
    # former codes: anciensCodes of the communes nouvelles, then the current status of the
    # communes déléguées / associées and arrondissements (which wins: it is today's parent)
    former: dict[str, tuple[str, str]] = {}
    for code, c in current.items():
        for old in c.get("anciensCodes", []):
            former[old] = (code, "fusionnée")
    notes = []
    for c in communes:
        kind = KINDS.get(c["type"])
        parent = c.get("commune") or c.get("chefLieu")
        if kind is None or parent not in current or c["code"] in current:
            continue  # a déléguée sharing its parent's code is the parent itself
        previous = former.get(c["code"])
        if previous and previous[0] != parent:
            notes.append(f"{c['code']} ({c['nom']}) is in the anciensCodes of {previous[0]} but is "
                         f"today a commune {kind} of {parent}: {parent} kept")
        former[c["code"]] = (parent, kind)
    unknown = sorted(old for old, (new, _) in former.items() if new not in current)
    if unknown:
        msg = f"communes.json: former codes {', '.join(unknown[:5])} point to no current commune"
        raise DeriveError(msg)
    former_rows = [{"old_code": old, "new_code": new, "kind": kind}
                   for old, (new, kind) in sorted(former.items())]
    return rows, former_rows, notes


def _csv_bytes(columns: tuple[str, ...], rows: list[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def derive(source: Path | None, out: Path) -> dict[str, Any]:
    """Obtain the package (``npm pack`` when ``source`` is None), write the tables into
    ``out`` and return the provenance written beside them."""
    with tempfile.TemporaryDirectory() as scratch:
        tarball_sha = None
        if source is None:
            tarball = _npm_pack(Path(scratch))
            files, origin, tarball_sha = _read_tarball(tarball), "npm pack", TARBALL_SHA256
        elif source.is_file():
            files, origin, tarball_sha = _read_tarball(source), str(source), TARBALL_SHA256
        else:
            files, origin = _read_folder(source), str(source)
    _check_sources(files, origin)
    communes, former, notes = derive_tables(
        json.loads(files["communes.json"]), json.loads(files["epci.json"]))
    out.mkdir(parents=True, exist_ok=True)
    written = {COMMUNES_FILE: _csv_bytes(COMMUNE_COLUMNS, communes),
               FORMER_COMMUNES_FILE: _csv_bytes(FORMER_COLUMNS, former)}
    for name, data in written.items():
        (out / name).write_bytes(data)
    kinds: dict[str, int] = {}
    for row in former:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    provenance = {
        "package": PACKAGE,
        "version": VERSION,
        "tarball": TARBALL_URL,
        "tarball_sha256": TARBALL_SHA256,
        "obtained_from": "npm pack" if source is None else origin,
        "tarball_checked": tarball_sha is not None,
        "source_files_sha256": {f"package/data/{k}": v for k, v in SOURCE_SHA256.items()},
        "derived_files_sha256": {name: _sha256(data) for name, data in written.items()},
        "derived_on": datetime.now(UTC).strftime("%Y-%m-%d"),
        "script": "scripts/derive_communes.py",
        "licence": LICENCE,
        "population": ("population municipale, populations légales 2023 (INSEE, in force on "
                       "1 January 2026, COG 2026); Mayotte: 2017 census (as in the package)"),
        "counts": {
            "communes": len(communes),
            "population": sum(int(r["population"]) for r in communes),
            "communes_by_zone": {z: sum(r["zone"] == z for r in communes) for z in ZONES},
            "former_codes": len(former),
            "former_codes_by_kind": dict(sorted(kinds.items())),
        },
        "notes": notes,
    }
    (out / PROVENANCE_FILE).write_text(
        json.dumps(provenance, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return provenance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="a tarball of the package, or a folder with communes.json and "
                             "epci.json (default: npm pack)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data",
                        help="folder written (default: the project's data/)")
    args = parser.parse_args(argv)
    try:
        provenance = derive(args.source, args.out)
    except (DeriveError, OSError, ValueError) as error:
        print(f"derive_communes: {error}", file=sys.stderr)
        return 3
    counts = provenance["counts"]
    print(f"{counts['communes']:,} communes, {counts['population']:,} inhabitants, "
          f"{counts['former_codes']:,} former codes → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
