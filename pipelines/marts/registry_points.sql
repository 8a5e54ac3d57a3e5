-- Registry points placed in a commune of the run's extent, with their electricity and
-- emissions: split into the `datacenters`, `antennas` and `infrastructure` layers when written.
-- One row per registry point: not compressed (see int_registry_points_located).
-- storage: uncompressed
select
    p.kind,
    p.code_insee,
    p.name,
    p.operator,
    p.subtype,
    p.technologies,
    p.has_5g,
    p.capacity_mw,
    p.pue,
    p.capacity_origin,
    p.installed_year,
    e.it_power_mw,
    e.it_power_origin,
    e.kwh as electricity_kwh,
    e.tco2e as territorial_tco2e,
    e.tco2e_low as territorial_tco2e_low,
    e.tco2e_high as territorial_tco2e_high,
    e.data_stored_tb,
    p.source_file,
    p.source_line,
    p.geometry
from int_registry_points_located as p
join int_registry_points_energy as e using (kind, source_file, source_line)
join stg_communes as c on c.code_insee = p.code_insee
where p.geometry is not null
    and in_extent(c.departement_code, p.code_insee)
