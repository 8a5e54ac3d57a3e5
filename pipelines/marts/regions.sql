-- The `regions` layer: the régions of the run's extent (whole-région totals).
select
    f.code_insee,
    r.nom,
    f.* exclude (level, code_insee),
    g.geometry
from int_levels_footprint as f
join int_levels_geometry as g on g.level = 'regions' and g.code_insee = f.code_insee
left join stg_regions as r on r.code_insee = f.code_insee
where f.level = 'regions'
