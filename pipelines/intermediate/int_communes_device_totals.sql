-- Footprint totals per commune (all of France) from its device lines: central / low / high,
-- the components, embodied and use, the territorial part, units of the main devices, and the
-- part each local driver explains. A model of its own (int_communes_footprint joins it to the
-- communes' other tables): written together, the aggregate and the 70-column table it feeds
-- held 160 MiB at once on a département run; apart, DuckDB's workers give back the first's
-- memory before the second (territory.database.compact).
with

lines as (
    select * from int_communes_device_footprint
),

totals as (
    select
        code_insee,
        exact_sum(embodied_tco2e + use_tco2e) as footprint_tco2e,
        exact_sum(embodied_tco2e_low + use_tco2e_low) as footprint_tco2e_low,
        exact_sum(embodied_tco2e_high + use_tco2e_high) as footprint_tco2e_high,
        exact_sum(case when component = 'devices' then embodied_tco2e + use_tco2e end) as devices_tco2e,
        exact_sum(case when component = 'networks' then embodied_tco2e + use_tco2e end) as networks_tco2e,
        exact_sum(case when component = 'datacenters' then embodied_tco2e + use_tco2e end)
            as datacenters_tco2e,
        exact_sum(embodied_tco2e) as embodied_tco2e,
        exact_sum(use_tco2e) as use_tco2e,
        exact_sum(use_kwh) as use_kwh,
        exact_sum(case when territorial then use_tco2e end) as territorial_tco2e,
        exact_sum(case when territorial then use_kwh end) as territorial_kwh,
        exact_sum(case when device in ('smartphone', 'smartphone_pro') then units end) as smartphones_units,
        exact_sum(case when device in ('laptop', 'desktop', 'laptop_pro', 'desktop_pro') then units end)
            as computers_units,
        exact_sum(case when device = 'television' then units end) as televisions_units,
        exact_sum(case when device = 'internet_box' then units end) as fixed_lines_units,
        exact_sum(case when device = 'mobile_access' then units end) as mobile_subscriptions_units,
        exact_sum(case when basis = 'households' then basis_driver_effect_tco2e else 0 end)
            as households_effect_tco2e,
        exact_sum(income_effect_tco2e) as income_effect_tco2e,
        exact_sum(age_effect_tco2e
            + case when basis = 'persons_12plus' then basis_driver_effect_tco2e else 0 end)
            as age_effect_tco2e,
        exact_sum(case when basis = 'jobs' then basis_driver_effect_tco2e else 0 end)
            as jobs_effect_tco2e
    from lines
    group by code_insee
)

select * from totals
