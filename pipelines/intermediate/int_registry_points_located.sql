-- Each registry point placed in the commune that contains it (spatial join with an R-tree:
-- DuckDB's SPATIAL_JOIN operator). A point on a border shared by two communes goes to the
-- smaller code. Points in no commune stay with a null code_insee: the run quarantines them
-- ("outside every commune").
--
-- The result is exactly that of joining on ST_Intersects (GEOS), but faster: the join runs on
-- ST_DWithin, which spatial computes natively without converting the commune to a GEOS
-- geometry for every candidate point (about 2.5 times cheaper per pair), and GEOS is called
-- only for the few pairs where the native arithmetic could disagree with it, the points
-- within 10 m of the commune's outline. Native distances were off by less than a millimetre
-- in every test at Lambert-93 magnitudes, so a pair within 1 m of the commune (the join) but
-- more than 10 m from its outline is inside it, and a point in the commune is always within
-- 1 m of it.
-- See docs/benchmarks.md ("Placing points in communes") for the measurements.
with

points as (
    select row_number() over () as point_id, * from stg_registry_points
),

communes as (
    select code_insee, geometry, ST_Boundary(geometry) as outline
    from stg_communes
    where geometry is not null
),

matches as (
    select p.point_id, min(c.code_insee) as code_insee
    from points as p
    join communes as c on ST_DWithin(c.geometry, p.geometry, 1)
    where case
        when ST_DWithin(c.outline, p.geometry, 10) then ST_Intersects(c.geometry, p.geometry)
        else true
    end
    group by p.point_id
),

final as (
    select
        p.* exclude (declared_code_insee),
        coalesce(m.code_insee, p.declared_code_insee) as code_insee
    from points as p
    left join matches as m using (point_id)
)

select * from final
