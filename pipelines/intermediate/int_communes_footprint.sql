-- One row per commune (all of France): footprint totals, splits and territorial accounting
-- (consumption-based footprint of the residents; emissions located in the commune; the gap).
-- The boundaries stay in stg_communes (the marts join them in): has_geometry says which
-- communes have one.
with

totals as (
    select * from int_communes_device_totals
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
        -- the local drivers of the device stock
        h.households,
        h.persons_per_household,
        h.households_source,
        j.jobs,
        j.jobs_source,
        i.median_income_eur,
        i.poverty_rate_pct,
        i.median_income_source,
        i.income_decile,
        a.age_structure_known,
        c.geometry is not null as has_geometry
    from stg_communes as c
    join int_communes_population as p using (code_insee)
    join totals as t using (code_insee)
    join int_communes_registries as r using (code_insee)
    join int_communes_households as h using (code_insee)
    join int_communes_jobs as j using (code_insee)
    join int_communes_income as i using (code_insee)
    join int_communes_age as a using (code_insee)
    left join stg_departements as d on d.code_insee = c.departement_code
)

select * from final
