-- Communes summed to EPCI, départements and régions (all of France). Every column here is
-- extensive (a sum); per-inhabitant values are recomputed in the marts, never summed.
with

communes as (
    select * from int_communes_footprint
),

grouped as (
    select
        upper_level(grouping(epci_siren), grouping(departement_code)) as level,
        upper_level_code(grouping(epci_siren), grouping(departement_code), epci_siren,
            departement_code, region_code) as code_insee,
        count(*) as communes_count,
        exact_sum(population)::bigint as population,
        exact_sum(footprint_tco2e) as footprint_tco2e,
        exact_sum(footprint_tco2e_low) as footprint_tco2e_low,
        exact_sum(footprint_tco2e_high) as footprint_tco2e_high,
        exact_sum(devices_tco2e) as devices_tco2e,
        exact_sum(networks_tco2e) as networks_tco2e,
        exact_sum(datacenters_tco2e) as datacenters_tco2e,
        exact_sum(embodied_tco2e) as embodied_tco2e,
        exact_sum(use_tco2e) as use_tco2e,
        exact_sum(territorial_tco2e) as territorial_tco2e,
        exact_sum(displaced_tco2e) as displaced_tco2e,
        exact_sum(use_kwh) as use_kwh,
        exact_sum(territorial_kwh) as territorial_kwh,
        exact_sum(smartphones_units) as smartphones_units,
        exact_sum(computers_units) as computers_units,
        exact_sum(televisions_units) as televisions_units,
        exact_sum(fixed_lines_units) as fixed_lines_units,
        exact_sum(mobile_subscriptions_units) as mobile_subscriptions_units,
        exact_sum(antennas_count)::bigint as antennas_count,
        exact_sum(antennas_kwh) as antennas_kwh,
        exact_sum(antennas_tco2e) as antennas_tco2e,
        exact_sum(datacenters_count)::bigint as datacenters_count,
        exact_sum(datacenters_it_power_mw) as datacenters_it_power_mw,
        exact_sum(datacenters_located_kwh) as datacenters_located_kwh,
        exact_sum(datacenters_located_tco2e) as datacenters_located_tco2e,
        exact_sum(streetlights_count)::bigint as streetlights_count,
        exact_sum(cameras_count)::bigint as cameras_count,
        exact_sum(sensors_count)::bigint as sensors_count,
        exact_sum(infrastructure_kwh) as infrastructure_kwh,
        exact_sum(infrastructure_tco2e) as infrastructure_tco2e,
        exact_sum(infrastructure_data_stored_tb) as infrastructure_data_stored_tb
    from communes
    where has_geometry
    group by grouping sets ((epci_siren), (departement_code), (region_code))
),

final as (
    select
        *,
        case when population > 0 then footprint_tco2e * 1000 / population else 0 end
            as footprint_kgco2e_per_inhabitant
    from grouped
    where code_insee is not null
)

select * from final
