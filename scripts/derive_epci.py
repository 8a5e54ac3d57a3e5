"""Derive ``data/epci_cog2026.csv`` (the EPCI of 2026) from Etalab's ``@etalab/decoupage-administratif``.

Writes two files (into ``data/`` unless ``--out`` says otherwise)::

    epci_cog2026.csv                 one row per EPCI à fiscalité propre on 1 January 2026:
                                     siren, nom, type (CC, CA, CU, METRO, MET69),
                                     mode_financement (FPU, FA), communes (member count)
    epci_cog2026.provenance.json     package, version, tarball URL and SHA-256, SHA-256 of the
                                     files read and written, date, licence, counts

The package is the one ``scripts/derive_communes.py`` reads (same version, same checks: the
files read must have the SHA-256 recorded there), and the member communes are those that
script writes as ``epci_siren`` in ``data/communes_cog2026.csv``: the run takes each commune's
EPCI from that column and the EPCI's name and type from this file.

Usage::

    python scripts/derive_epci.py                    # npm pack, write into data/
    python scripts/derive_epci.py --from ../shared/realdata/etalab --out /tmp/cog
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# the package, its pinned version and checks are derive_communes.py's (one place)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from derive_communes import (
    LICENCE,
    PACKAGE,
    SOURCE_SHA256,
    TARBALL_SHA256,
    TARBALL_URL,
    VERSION,
    ZONES,
    DeriveError,
    _check_sources,
    _csv_bytes,
    _npm_pack,
    _read_folder,
    _read_tarball,
    _sha256,
)

from territory.sources.cog import EPCI_COLUMNS, EPCI_FILE, EPCI_PROVENANCE_FILE


def derive_epci(communes: list[dict[str, Any]], epci: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One row per EPCI, sorted by SIREN; its communes counted among the current communes of
    metropolitan France and the DROM (those of ``communes_cog2026.csv``)."""
    current = {c["code"] for c in communes
               if c["type"] == "commune-actuelle" and c["zone"] in ZONES}
    rows = []
    seen: set[str] = set()
    for e in sorted(epci, key=lambda e: e["code"]):
        if e["code"] in seen:
            msg = f"epci.json: SIREN {e['code']} twice"
            raise DeriveError(msg)
        seen.add(e["code"])
        members = [m["code"] for m in e["membres"]]
        unknown = [code for code in members if code not in current]
        if unknown:
            msg = f"epci.json: EPCI {e['code']} has members {', '.join(unknown[:5])} that are no current commune"
            raise DeriveError(msg)
        rows.append({"siren": e["code"], "nom": e["nom"], "type": e["type"],
                     "mode_financement": e.get("modeFinancement", ""),
                     "communes": str(len(members))})
    return rows


def derive(source: Path | None, out: Path) -> dict[str, Any]:
    """Obtain the package (``npm pack`` when ``source`` is None), write the table into ``out``
    and return the provenance written beside it."""
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
    rows = derive_epci(json.loads(files["communes.json"]), json.loads(files["epci.json"]))
    data = _csv_bytes(EPCI_COLUMNS, rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / EPCI_FILE).write_bytes(data)
    types: dict[str, int] = {}
    for row in rows:
        types[row["type"]] = types.get(row["type"], 0) + 1
    provenance = {
        "package": PACKAGE,
        "version": VERSION,
        "tarball": TARBALL_URL,
        "tarball_sha256": TARBALL_SHA256,
        "obtained_from": "npm pack" if source is None else origin,
        "tarball_checked": tarball_sha is not None,
        "source_files_sha256": {f"package/data/{k}": v for k, v in SOURCE_SHA256.items()},
        "derived_files_sha256": {EPCI_FILE: _sha256(data)},
        "derived_on": datetime.now(UTC).strftime("%Y-%m-%d"),
        "script": "scripts/derive_epci.py",
        "licence": LICENCE,
        "what": ("EPCI à fiscalité propre on 1 January 2026 (DGCL, as in the package): SIREN, "
                 "name, type, financing; members: epci_siren of communes_cog2026.csv"),
        "counts": {"epci": len(rows), "by_type": dict(sorted(types.items())),
                   "member_communes": sum(int(r["communes"]) for r in rows)},
    }
    (out / EPCI_PROVENANCE_FILE).write_text(
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
        print(f"derive_epci: {error}", file=sys.stderr)
        return 3
    counts = provenance["counts"]
    print(f"{counts['epci']:,} EPCI, {counts['member_communes']:,} member communes → {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
