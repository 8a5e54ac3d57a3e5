-- The `epci` layer: EPCI with at least one commune in the run's extent (whole EPCI totals).
select
    f.code_insee,
    e.nom,
    e.epci_type,
    f.* exclude (level, code_insee),
    g.geometry
from int_levels_footprint as f
join int_levels_geometry as g on g.level = 'epci' and g.code_insee = f.code_insee
left join stg_epci as e on e.code_insee = f.code_insee
where f.level = 'epci'
