-- Use-phase electricity and emissions by month x local hour of the régions, départements and
-- EPCI of the `regions`, `departements` and `epci` layers (whole-territory totals, as there):
-- the communes' use per profile (int_communes_profile_kwh) summed per territory, x each
-- profile's share of its annual use in the cell; emissions x the cell's tCO2e per kWh
-- (int_profiles_hourly_shape). The 288 cells of a territory sum to its annual use_kwh.
with

communes as (
    select p.*, f.epci_siren, f.departement_code, f.region_code
    from int_communes_profile_kwh as p
    join int_communes_footprint as f using (code_insee)
    where f.has_geometry
),

levels as (
    select
        upper_level(grouping(epci_siren), grouping(departement_code)) as level,
        upper_level_code(grouping(epci_siren), grouping(departement_code), epci_siren,
            departement_code, region_code) as code_insee,
        profile,
        exact_sum(use_kwh) as use_kwh,
        exact_sum(registries_kwh) as registries_kwh
    from communes
    group by grouping sets ((epci_siren, profile), (departement_code, profile), (region_code, profile))
),

published as (
    select 'epci' as level, code_insee from epci
    union all select 'departements', code_insee from departements
    union all select 'regions', code_insee from regions
),

final as (
    select
        l.level,
        l.code_insee,
        s.month,
        s.hour,
        exact_sum(l.use_kwh * s.annual_share) as use_kwh,
        exact_sum(l.use_kwh * s.annual_share * s.tco2e_per_kwh) as use_tco2e,
        exact_sum(l.registries_kwh * s.annual_share) as registries_kwh,
        exact_sum(l.registries_kwh * s.annual_share * s.tco2e_per_kwh) as registries_tco2e
    from levels as l
    semi join published as p using (level, code_insee)
    join int_profiles_hourly_shape as s using (profile)
    group by all
)

select * from final
order by level, code_insee, month, hour
