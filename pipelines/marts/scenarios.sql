-- The `scenarios` table (scenarios.csv): one row per territory of the run's extent (communes,
-- and the EPCI, départements and régions the run covers, whole), scenario and year, with the
-- change from the baseline of the same year. Empty when the run has no scenario.
with

places as (
    select code_insee, epci_siren, departement_code, region_code
    from int_communes_footprint
    where has_geometry
),

-- only the communes of the régions the run covers are summed (a région is the widest level)
rows as (
    select s.*, c.epci_siren, c.departement_code, c.region_code
    from int_communes_scenarios as s
    join places as c using (code_insee)
    where c.region_code in (select code_insee from regions)
),

grouped as materialized (
    select
        case
            when grouping(rows.code_insee) = 0 then 'communes'
            when grouping(epci_siren) = 0 then 'epci'
            when grouping(departement_code) = 0 then 'departements'
            else 'regions'
        end as level,
        coalesce(rows.code_insee, epci_siren, departement_code, region_code) as code_insee,
        scenario,
        year,
        exact_sum(footprint_tco2e) as footprint_tco2e,
        exact_sum(devices_tco2e) as devices_tco2e,
        exact_sum(networks_tco2e) as networks_tco2e,
        exact_sum(datacenters_tco2e) as datacenters_tco2e,
        exact_sum(embodied_tco2e) as embodied_tco2e,
        exact_sum(use_tco2e) as use_tco2e,
        exact_sum(use_kwh) as use_kwh,
        exact_sum(infrastructure_tco2e) as infrastructure_tco2e
    from rows
    group by grouping sets (
        (rows.code_insee, scenario, year), (epci_siren, scenario, year),
        (departement_code, scenario, year), (region_code, scenario, year))
),

-- the territories of the run's extent: those of the four layers
in_extent as (
    select 'communes' as level, code_insee from communes
    union all select 'epci', code_insee from epci
    union all select 'departements', code_insee from departements
    union all select 'regions', code_insee from regions
),

names as (
    select 'communes' as level, code_insee, nom from stg_communes
    union all select 'epci', code_insee, nom from stg_epci
    union all select 'departements', code_insee, nom from stg_departements
    union all select 'regions', code_insee, nom from stg_regions
),

final as (
    select
        g.level,
        g.code_insee,
        n.nom,
        g.scenario,
        sc.title as scenario_title,
        g.year::bigint as year,
        g.footprint_tco2e,
        g.devices_tco2e,
        g.networks_tco2e,
        g.datacenters_tco2e,
        g.embodied_tco2e,
        g.use_tco2e,
        g.use_kwh,
        g.infrastructure_tco2e,
        (g.footprint_tco2e / nullif(max(g.footprint_tco2e) filter (where g.scenario = 'baseline')
            over (partition by g.level, g.code_insee, g.year), 0) - 1) * 100
            as footprint_vs_baseline_pct
    from grouped as g
    join in_extent as e on e.level = g.level and e.code_insee = g.code_insee
    join stg_scenarios as sc on sc.scenario = g.scenario
    left join names as n on n.level = g.level and n.code_insee = g.code_insee
    where g.code_insee is not null
    order by case g.level when 'regions' then 1 when 'departements' then 2 when 'epci' then 3 else 4 end,
        g.code_insee, sc.position, g.year
)

select * from final
