-- Each registry point placed in the commune that contains it (spatial join with an R-tree,
-- chosen by DuckDB for the ST_Intersects predicate). A point on a border shared by two
-- communes goes to the smaller code. Points in no commune stay with a null code_insee: the
-- run quarantines them ("outside every commune").
with

points as (
    select row_number() over () as point_id, * from stg_registry_points
),

communes as (
    select code_insee, geometry from stg_communes where geometry is not null
),

matches as (
    select p.point_id, min(c.code_insee) as code_insee
    from points as p
    join communes as c on ST_Intersects(c.geometry, p.geometry)
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
