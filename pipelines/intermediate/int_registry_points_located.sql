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
-- Every reader sorts these rows or sums them: they are written in whatever order the join
-- gives them (a million rows: about half the time of keeping the points' order).
-- row order: any
-- Not compressed (compressing a million points costs about 0.4 s, a quarter of reading and
-- placing them):
-- storage: uncompressed
with

communes as (
    select code_insee, geometry, ST_Boundary(geometry) as outline
    from stg_communes
    where geometry is not null
),

-- the points the grid left undecided (grid_code null), placed by the exact join
exact as (
    select p.point_id, min(c.code_insee) as code_insee
    from stg_registry_points as p
    join communes as c on ST_DWithin(c.geometry, p.geometry, 1)
    where p.grid_code is null
        and case
            when ST_DWithin(c.outline, p.geometry, 10) then ST_Intersects(c.geometry, p.geometry)
            else true
        end
    group by p.point_id
)

-- a point of a pure cell of the grid takes the grid's commune ('' outside every commune: none),
-- the others the exact join's; a point in no commune keeps the code its file declared
select
    p.* exclude (declared_code_insee, grid_code),
    coalesce(
        case when p.grid_code is null then e.code_insee else nullif(p.grid_code, '') end,
        p.declared_code_insee
    ) as code_insee
from stg_registry_points as p
left join exact as e using (point_id)
