-- materialized: view
-- Registry points (datacenters, antennas, street lights, cameras, sensors) in Lambert-93.
-- Rows placed in a commune by the file itself (no coordinates, a commune given for the whole
-- file) keep a null geometry and their code_insee.
-- A view: only int_registry_points_located reads it, so its million geometries are not written
-- to a table only to be read once (the view is computed inside that model's query); point_id
-- (the raw row's rowid) identifies a point there.
select
    rowid as point_id,
    kind,
    source_file,
    source_line,
    name,
    operator,
    subtype,
    technologies,
    coalesce(has_5g, false) as has_5g,
    capacity_mw,
    pue,
    capacity_origin,
    installed_year,
    code_insee as declared_code_insee,
    grid_code,
    case
        when x is null or y is null or isnan(x) or isnan(y) then null
        when crs = 'EPSG:2154' then ST_Point(x, y)
        else ST_Transform(ST_Point(x, y), crs, 'EPSG:2154', always_xy := true)
    end as geometry
from raw_registry_points
