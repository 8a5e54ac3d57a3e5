-- The `departements` layer: the départements of the run's extent.
select
    f.code_insee,
    d.nom,
    d.region_code,
    f.* exclude (level, code_insee),
    g.geometry
from int_levels_footprint as f
join int_levels_geometry as g on g.level = 'departements' and g.code_insee = f.code_insee
left join stg_departements as d on d.code_insee = f.code_insee
where f.level = 'departements'
    and (whole_france() or list_contains(getvariable('departements'), f.code_insee))
