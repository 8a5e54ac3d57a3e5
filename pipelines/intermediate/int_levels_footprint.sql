-- Communes summed to EPCI, départements and régions (all of France). Every column here is
-- extensive (a sum); per-inhabitant values are recomputed in the marts, never summed.
with

communes as (
    select * from int_communes_footprint
),

grouped as (
    select
        case
            when grouping(epci_siren) = 0 then 'epci'
            when grouping(departement_code) = 0 then 'departement'
            else 'region'
        end as level,
        case
            when grouping(epci_siren) = 0 then epci_siren
            when grouping(departement_code) = 0 then departement_code
            else region_code
        end as code_insee,
        count(*) as communes_count,
        sum(population)::bigint as population,
        sum(footprint_tco2e) as footprint_tco2e,
        sum(footprint_tco2e_low) as footprint_tco2e_low,
        sum(footprint_tco2e_high) as footprint_tco2e_high,
        sum(devices_tco2e) as devices_tco2e,
        sum(networks_tco2e) as networks_tco2e,
        sum(datacenters_tco2e) as datacenters_tco2e,
        sum(embodied_tco2e) as embodied_tco2e,
        sum(use_tco2e) as use_tco2e,
        sum(territorial_tco2e) as territorial_tco2e,
        sum(displaced_tco2e) as displaced_tco2e,
        sum(electricity_kwh) as electricity_kwh,
        sum(territorial_kwh) as territorial_kwh,
        sum(smartphones_units) as smartphones_units,
        sum(computers_units) as computers_units,
        sum(televisions_units) as televisions_units,
        sum(fixed_lines_units) as fixed_lines_units,
        sum(mobile_subscriptions_units) as mobile_subscriptions_units,
        sum(antennas_count)::bigint as antennas_count,
        sum(antennas_kwh) as antennas_kwh,
        sum(antennas_tco2e) as antennas_tco2e,
        sum(datacenters_count)::bigint as datacenters_count,
        sum(datacenters_it_power_mw) as datacenters_it_power_mw,
        sum(datacenters_located_kwh) as datacenters_located_kwh,
        sum(datacenters_located_tco2e) as datacenters_located_tco2e,
        sum(streetlights_count)::bigint as streetlights_count,
        sum(cameras_count)::bigint as cameras_count,
        sum(sensors_count)::bigint as sensors_count,
        sum(infrastructure_kwh) as infrastructure_kwh,
        sum(infrastructure_tco2e) as infrastructure_tco2e,
        sum(infrastructure_data_stored_tb) as infrastructure_data_stored_tb
    from communes
    where geometry is not null
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
