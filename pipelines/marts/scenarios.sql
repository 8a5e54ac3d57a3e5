-- The `scenarios` table (scenarios.csv): one row per territory of the run's extent (those of the
-- four layers: its communes, and the EPCI, départements and régions it covers), scenario and
-- year, with the change from the baseline of the same year, then the territory's name. Empty when the run has no scenario.
with

in_extent as (
    select 'communes' as level, code_insee, nom from communes
    union all select 'epci', code_insee, nom from epci
    union all select 'departements', code_insee, nom from departements
    union all select 'regions', code_insee, nom from regions
),

final as (
    select
        s.level,
        s.code_insee,
        s.scenario,
        sc.title as scenario_title,
        s.year::bigint as year,
        s.footprint_tco2e,
        s.devices_tco2e,
        s.networks_tco2e,
        s.datacenters_tco2e,
        s.embodied_tco2e,
        s.use_tco2e,
        s.use_kwh,
        s.infrastructure_tco2e,
        s.datacenters_heat_recovered_kwh,
        s.avoided_heating_tco2e,
        (s.footprint_tco2e / nullif(b.footprint_tco2e, 0) - 1) * 100 as footprint_vs_baseline_pct,
        -- after the contract's columns (level, code_insee, scenario, year, footprint...)
        e.nom
    from int_scenarios as s
    join int_scenarios as b
        on b.level = s.level and b.code_insee = s.code_insee and b.year = s.year
        and b.scenario = 'baseline'
    join in_extent as e on e.level = s.level and e.code_insee = s.code_insee
    join stg_scenarios as sc on sc.scenario = s.scenario
    order by case s.level when 'regions' then 1 when 'departements' then 2 when 'epci' then 3 else 4 end,
        s.code_insee, sc.position, s.year
)

select * from final
