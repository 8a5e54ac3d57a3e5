-- Each registry point placed in the commune that contains it. A point on a border shared by two
-- communes goes to the smaller code. Points in no commune stay with a null code_insee: the run
-- quarantines them ("outside every commune").
--
-- First the commune grid (territory/registries/commune_grid.py): a point whose Lambert-93 cell
-- is wholly inside one commune (and met by no other), or wholly outside every commune, came
-- with that answer in grid_code (looked up when the registry tables were filled; null when the
-- grid does not fit the run's boundaries). The other points (cells crossed by a border or a
-- coast) go to the exact spatial join.
--
-- The exact join (DuckDB's SPATIAL_JOIN operator, an R-tree) gives exactly the result of
-- ST_Intersects (GEOS), but faster: it runs on ST_DWithin, which spatial computes natively
-- without converting the commune to a GEOS geometry for every candidate point (about 2.5 times
-- cheaper per pair), and GEOS is called only for the few pairs where the native arithmetic
-- could disagree with it, the points within 10 m of the commune's outline. Native distances
-- were off by less than a millimetre in every test at Lambert-93 magnitudes, so a pair within
-- 1 m of the commune (the join) but more than 10 m from its outline is inside it, and a point
-- in the commune is always within 1 m of it.
-- See docs/benchmarks.md ("Placing points in communes") for the measurements.
with

points as (
    select row_number() over () as point_id, * from stg_registry_points
),

-- points of pure cells of the commune grid: their commune, or '' outside every commune
gridded as (
    select point_id, grid_code as code_insee from points where grid_code is not null
),

communes as (
    select code_insee, geometry, ST_Boundary(geometry) as outline
    from stg_communes
    where geometry is not null
),

exact as (
    select p.point_id, min(c.code_insee) as code_insee
    from (select * from points where grid_code is null) as p
    join communes as c on ST_DWithin(c.geometry, p.geometry, 1)
    where case
        when ST_DWithin(c.outline, p.geometry, 10) then ST_Intersects(c.geometry, p.geometry)
        else true
    end
    group by p.point_id
),

matches as (
    select point_id, code_insee from exact
    union all
    select point_id, code_insee from gridded where code_insee <> ''
),

final as (
    select
        p.* exclude (declared_code_insee, grid_code),
        coalesce(m.code_insee, p.declared_code_insee) as code_insee
    from points as p
    left join matches as m using (point_id)
)

select * from final
