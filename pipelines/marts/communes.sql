-- The `communes` layer: one row per commune that has a geometry, within the run's extent:
-- its départements and, when it is given EPCI or communes, its list of communes (empty or
-- unset: all the communes of the départements).
with

-- the boundaries are joined in here only (from staging), not carried through the models
footprint as (
    select f.*, s.* exclude (code_insee), n.* exclude (code_insee), g.geometry
    from int_communes_footprint as f
    left join int_communes_stratum_comparison as s using (code_insee)
    left join int_communes_national_comparison as n using (code_insee)
    left join stg_communes as g using (code_insee)
),

final as (
    select
        code_insee,
        nom,
        population::bigint as population,
        footprint_tco2e,
        footprint_tco2e_low,
        footprint_tco2e_high,
        case when population > 0 then footprint_tco2e * 1000 / population else 0 end
            as footprint_kgco2e_per_inhabitant,
        devices_tco2e,
        networks_tco2e,
        datacenters_tco2e,
        embodied_tco2e,
        use_tco2e,
        territorial_tco2e,
        displaced_tco2e,
        use_kwh,
        territorial_kwh,
        smartphones_units,
        computers_units,
        televisions_units,
        fixed_lines_units,
        mobile_subscriptions_units,
        antennas_count,
        antennas_kwh,
        antennas_tco2e,
        datacenters_count,
        datacenters_it_power_mw,
        datacenters_located_kwh,
        datacenters_located_tco2e,
        streetlights_count,
        cameras_count,
        sensors_count,
        infrastructure_kwh,
        infrastructure_tco2e,
        infrastructure_data_stored_tb,
        ftth_share,
        households,
        persons_per_household,
        jobs,
        median_income_eur,
        income_decile::bigint as income_decile,
        poverty_rate_pct,
        footprint_vs_national_pct,
        households_effect_pct,
        income_effect_pct,
        age_effect_pct,
        jobs_effect_pct,
        stratum_label as population_stratum,
        stratum_communes_count,
        stratum_median_kgco2e_per_inhabitant,
        stratum_rank,
        stratum_position,
        departement_code,
        region_code,
        epci_siren,
        population_source,
        households_source,
        jobs_source,
        median_income_source,
        population_estimated,
        geometry_origin,
        geometry
    from footprint
    where geometry is not null
        and in_extent(departement_code, code_insee)
)

select * from final
