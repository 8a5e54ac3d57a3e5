"""Command line: ``territory run``.

Errors print one line on stderr and exit with status 1 (2 for a bad option).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from territory.errors import TerritoryError
from territory.settings import DATACENTER_SCOPES, MAP_ASSETS, RunSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="territory",
        description=(
            "Environmental footprint of digital technology per French commune, EPCI, "
            "département and région, from embedded open data (no network needed)."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="compute the footprint and write territory.gpkg, map.html, communes.csv, manifest.json",
        description=(
            "Compute the footprint of every commune (all of France by default) and write "
            "territory.gpkg (QGIS-styled layers communes, epci, departements, regions), map.html "
            "(offline interactive map), communes.csv, manifest.json and quarantine/ into the "
            "output folder. Outputs are replaced only when the run succeeds."
        ),
    )
    run.add_argument("--out", type=Path, default=Path("out"), metavar="DIR",
                     help="output folder (default: out/); replaced atomically at the end")
    run.add_argument("--departement", action="append", default=[], metavar="CODE",
                     help="keep only this département's communes (repeatable), e.g. 44 or 2A")
    run.add_argument("--config", type=Path, metavar="FILE",
                     help="TOML pipeline file from pipelines/ (parameters such as datacenter_scope)")
    run.add_argument("--source", action="append", default=[], metavar="KIND=FILE",
                     help="replace an embedded input; supported: population=FILE (INSEE legal "
                          "populations CSV)")
    run.add_argument("--datacenter-scope", choices=DATACENTER_SCOPES, default=None,
                     help="france: ADEME/Arcep 2022 scope (default); with_abroad: Jan 2025 "
                          "update counting datacenters abroad")
    run.add_argument("--map-assets", choices=MAP_ASSETS, default="inline",
                     help="inline Leaflet in map.html (default, opens offline) or link a CDN")
    run.add_argument("--map-tolerance", type=float, default=None, metavar="METRES",
                     help="map simplification tolerance (default 600 m for France, 60 m for "
                          "départements)")
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def _settings(args: argparse.Namespace) -> RunSettings:
    from territory.config import read_pipeline_file

    config = read_pipeline_file(args.config) if args.config else {}
    population = config.get("population_file")
    for item in args.source:
        kind, sep, value = item.partition("=")
        if not sep or not value:
            msg = f"--source expects KIND=FILE, got {item!r}"
            raise TerritoryError(msg)
        if kind != "population":
            msg = f"--source: unknown kind {kind!r}; supported: population"
            raise TerritoryError(msg)
        population = Path(value)
    return RunSettings(
        out_dir=args.out,
        departements=tuple(args.departement) or tuple(config.get("departements", ())),
        population_file=Path(population) if population else None,
        datacenter_scope=args.datacenter_scope or config.get("datacenter_scope", "france"),
        map_assets=args.map_assets,
        map_tolerance_m=args.map_tolerance,
        progress=not args.quiet,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``territory`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        from territory.run import run_pipeline

        run_pipeline(_settings(args))
    except TerritoryError as error:
        print(f"territory: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("territory: interrupted; previous outputs left untouched", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
