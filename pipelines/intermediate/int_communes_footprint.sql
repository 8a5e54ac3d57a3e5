-- One row per commune (all of France): footprint totals, splits and territorial accounting
-- (consumption-based footprint of the residents; emissions located in the commune; the gap).
with

lines as (
    select * from int_communes_device_footprint
),

totals as (
    select
        code_insee,
        sum(embodied_tco2e + use_tco2e) as footprint_tco2e,
        sum(embodied_tco2e_low + use_tco2e_low) as footprint_tco2e_low,
        sum(embodied_tco2e_high + use_tco2e_high) as footprint_tco2e_high,
        sum(embodied_tco2e + use_tco2e) filter (where component = 'devices') as devices_tco2e,
        sum(embodied_tco2e + use_tco2e) filter (where component = 'networks') as networks_tco2e,
        sum(embodied_tco2e + use_tco2e) filter (where component = 'datacenters')
            as datacenters_tco2e,
        sum(embodied_tco2e) as embodied_tco2e,
        sum(use_tco2e) as use_tco2e,
        sum(use_kwh) as electricity_kwh,
        sum(use_tco2e) filter (where territorial) as territorial_tco2e,
        sum(use_kwh) filter (where territorial) as territorial_kwh,
        sum(units) filter (where device in ('smartphone', 'smartphone_pro')) as smartphones_units,
        sum(units) filter (where device in ('laptop', 'desktop', 'laptop_pro', 'desktop_pro'))
            as computers_units,
        sum(units) filter (where device = 'television') as televisions_units,
        sum(units) filter (where device = 'internet_box') as fixed_lines_units,
        sum(units) filter (where device = 'mobile_access') as mobile_subscriptions_units
    from lines
    group by code_insee
),

final as (
    select
        c.code_insee,
        c.nom,
        c.departement_code,
        d.region_code,
        c.epci_siren,
        p.population,
        p.population_source,
        p.population_estimated,
        c.geometry_origin,
        t.* exclude (code_insee, territorial_tco2e, territorial_kwh),
        -- territorial: home devices in use, plus what the registries place in the commune
        t.territorial_tco2e + r.registries_tco2e as territorial_tco2e,
        t.territorial_kwh + r.registries_kwh as territorial_kwh,
        t.footprint_tco2e - t.territorial_tco2e - r.registries_tco2e as displaced_tco2e,
        r.* exclude (code_insee, registries_tco2e, registries_tco2e_low, registries_tco2e_high,
            registries_kwh),
        c.geometry
    from stg_communes as c
    join int_communes_population as p using (code_insee)
    join totals as t using (code_insee)
    join int_communes_registries as r using (code_insee)
    left join stg_departements as d on d.code_insee = c.departement_code
)

select * from final
