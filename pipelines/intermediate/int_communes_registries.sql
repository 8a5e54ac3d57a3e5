-- Registry points summed per commune: counts, electricity and emissions located there, and
-- the data stored by connected infrastructure; fibre coverage as an attribute.
with

energy as (
    select * from int_registry_points_energy
),

per_commune as (
    select
        code_insee,
        count(*) filter (where kind = 'antennas') as antennas_count,
        exact_sum(case when kind = 'antennas' then kwh end) as antennas_kwh,
        exact_sum(case when kind = 'antennas' then tco2e end) as antennas_tco2e,
        count(*) filter (where kind = 'datacenters') as datacenters_count,
        exact_sum(case when kind = 'datacenters' then it_power_mw end) as datacenters_it_power_mw,
        exact_sum(case when kind = 'datacenters' then kwh end) as datacenters_located_kwh,
        exact_sum(case when kind = 'datacenters' then tco2e end) as datacenters_located_tco2e,
        count(*) filter (where kind = 'streetlights') as streetlights_count,
        count(*) filter (where kind = 'cameras') as cameras_count,
        count(*) filter (where kind = 'sensors') as sensors_count,
        exact_sum(case when kind in ('streetlights', 'cameras', 'sensors') then kwh end) as infrastructure_kwh,
        exact_sum(case when kind in ('streetlights', 'cameras', 'sensors') then tco2e end)
            as infrastructure_tco2e,
        exact_sum(data_stored_tb) as infrastructure_data_stored_tb,
        exact_sum(tco2e) as registries_tco2e,
        exact_sum(tco2e_low) as registries_tco2e_low,
        exact_sum(tco2e_high) as registries_tco2e_high,
        exact_sum(kwh) as registries_kwh
    from energy
    group by code_insee
),

fibre as (
    select * from stg_fibre
),

final as (
    select
        c.code_insee,
        coalesce(r.antennas_count, 0) as antennas_count,
        coalesce(r.antennas_kwh, 0) as antennas_kwh,
        coalesce(r.antennas_tco2e, 0) as antennas_tco2e,
        coalesce(r.datacenters_count, 0) as datacenters_count,
        coalesce(r.datacenters_it_power_mw, 0) as datacenters_it_power_mw,
        coalesce(r.datacenters_located_kwh, 0) as datacenters_located_kwh,
        coalesce(r.datacenters_located_tco2e, 0) as datacenters_located_tco2e,
        coalesce(r.streetlights_count, 0) as streetlights_count,
        coalesce(r.cameras_count, 0) as cameras_count,
        coalesce(r.sensors_count, 0) as sensors_count,
        coalesce(r.infrastructure_kwh, 0) as infrastructure_kwh,
        coalesce(r.infrastructure_tco2e, 0) as infrastructure_tco2e,
        coalesce(r.infrastructure_data_stored_tb, 0) as infrastructure_data_stored_tb,
        coalesce(r.registries_tco2e, 0) as registries_tco2e,
        coalesce(r.registries_tco2e_low, 0) as registries_tco2e_low,
        coalesce(r.registries_tco2e_high, 0) as registries_tco2e_high,
        coalesce(r.registries_kwh, 0) as registries_kwh,
        fi.ftth_share
    from stg_communes as c
    left join per_commune as r using (code_insee)
    left join fibre as fi using (code_insee)
)

select * from final
