-- The base year's device lines of every territory a scenario run reports (communes with a
-- boundary, EPCI, départements and régions of the régions the run's extent touches) as vectors
-- over the device types, in device order: embodied tCO2e and use kWh per device type, the
-- fixed lines, and the kWh of the street lights and of the other connected infrastructure the
-- registries place there. Upper levels are sums of their communes' lines, so that a scenario
-- multiplies every level the same way (int_scenarios): the levels add up by construction of
-- the sums, not of the scenario. Run only when the run has scenarios.
with

places as (
    select code_insee, epci_siren, departement_code, region_code
    from int_communes_footprint
    where has_geometry
),

-- the communes of the run's extent, and the régions they are in
extent_regions as (
    select distinct region_code
    from places
    where in_extent(departement_code, code_insee)
),

scope as (
    select p.*
    from places as p
    where p.region_code in (select region_code from extent_regions)
        -- reading stg_scenarios also makes this model one the run skips without scenarios
        and exists (select 1 from stg_scenarios)
),

device_lines as (
    select f.device, f.units, f.embodied_tco2e, f.use_kwh, s.*
    from int_communes_device_footprint as f
    join scope as s using (code_insee)
),

-- the upper levels' lines per device type: sums of their communes'
upper_by_device as (
    select
        upper_level(grouping(epci_siren), grouping(departement_code)) as level,
        upper_level_code(grouping(epci_siren), grouping(departement_code), epci_siren,
            departement_code, region_code) as code_insee,
        device,
        exact_sum(embodied_tco2e) as embodied_tco2e,
        exact_sum(use_kwh) as use_kwh,
        exact_sum(case when device = 'fixed_access' then units else 0 end) as fixed_lines
    from device_lines
    group by grouping sets ((epci_siren, device), (departement_code, device), (region_code, device))
),

-- a commune has one line per device type: nothing to sum
by_device as (
    select 'communes' as level, code_insee, device, embodied_tco2e, use_kwh,
        case when device = 'fixed_access' then units else 0 end as fixed_lines
    from device_lines
    union all
    select * from upper_by_device
),

registries as (
    select
        case
            when grouping(code_insee) = 0 then 'communes'
            when grouping(epci_siren) = 0 then 'epci'
            when grouping(departement_code) = 0 then 'departements'
            else 'regions'
        end as level,
        coalesce(code_insee, epci_siren, departement_code, region_code) as code_insee,
        exact_sum(case when kind = 'streetlights' then kwh else 0 end) as streetlights_kwh,
        exact_sum(case when kind in ('cameras', 'sensors') then kwh else 0 end) as other_kwh
    from (
        select e.kind, e.kwh, s.*
        from int_registry_points_energy as e
        join scope as s using (code_insee)
        where e.kind in ('streetlights', 'cameras', 'sensors')
    )
    group by grouping sets ((code_insee), (epci_siren), (departement_code), (region_code))
),

-- the vectors are sorted lists of structs rather than list(... order by device): an ordered
-- aggregate keeps a sort buffer per group, about 1 GB and 4 s for 35,000 communes (measured)
device_lists as (
    select
        level,
        code_insee,
        list_sort(list({'device': device, 'embodied': embodied_tco2e, 'use': use_kwh})) as parts,
        sum(fixed_lines) as fixed_lines,
        count(*) as devices_count
    from by_device
    where code_insee is not null
    group by level, code_insee
),

vectors as (
    select
        level,
        code_insee,
        list_transform(parts, p -> p.embodied) as embodied_tco2e,
        list_transform(parts, p -> p.use) as use_kwh,
        fixed_lines,
        devices_count
    from device_lists
),

final as (
    select
        v.*,
        coalesce(r.streetlights_kwh, 0) as streetlights_kwh,
        coalesce(r.other_kwh, 0) as other_kwh
    from vectors as v
    left join registries as r on r.level = v.level and r.code_insee = v.code_insee
)

select * from final
