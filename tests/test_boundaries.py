"""Embedded boundaries checked against an independent source (IGN Admin Express 2018, in
../shared/realdata/boundaries)."""

from __future__ import annotations

import geopandas as gpd
import pytest

from tests.conftest import realdata_path


@pytest.mark.realdata
def test_loire_atlantique_matches_admin_express(run_44):
    ours = gpd.read_file(run_44 / "territory.gpkg", layer="communes", engine="pyogrio")
    ign = gpd.read_file(realdata_path("boundaries", "communes-44-loire-atlantique.geojson")).to_crs(2154)
    outline = gpd.read_file(realdata_path("boundaries", "departement-44-loire-atlantique.geojson")).to_crs(2154)
    assert ours.crs.to_epsg() == 2154
    # same département, whatever the commune mergers between 2018 and now
    assert ours.area.sum() == pytest.approx(outline.area.sum(), rel=0.01)
    assert ours.area.sum() == pytest.approx(ign.area.sum(), rel=0.01)
    # communes whose code did not change keep their shape
    merged = ours.merge(ign, left_on="code_insee", right_on="code", suffixes=("", "_ign"))
    assert len(merged) >= 150
    ratio = merged.geometry.area / gpd.GeoSeries(merged["geometry_ign"], crs=2154).area
    assert ((ratio - 1).abs() < 0.05).mean() > 0.95
    nantes = merged[merged["code_insee"] == "44109"]
    assert float(nantes.geometry.area.iloc[0]) == pytest.approx(65.2e6, rel=0.03)  # 65.19 km²
    # every commune point of the 2018 file falls in one of our communes of département 44
    points = ign.representative_point()
    inside = gpd.sjoin(gpd.GeoDataFrame(geometry=points, crs=2154), ours, predicate="within")
    assert inside.index.nunique() == len(ign)
