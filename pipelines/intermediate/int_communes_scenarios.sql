-- One row per commune (all of France), scenario and year: the footprint of the base year's
-- device lines (int_communes_device_footprint) times the scenario's multipliers, the use phase
-- at the year's electricity factor; and the street lights, cameras and sensors the registries
-- place in the commune (territorial, not part of the footprint, as in the communes layer).
-- Fixed lines: the fibre lever moves a share of each commune's lines from its current energy
-- per line to the FttH figure. The low-carbon hours lever lowers the emissions of a kWh of the
-- devices whose use can move in the day (their carbon multiplier), not the kWh. Empty when the
-- run has no scenario.
--
-- How: each commune's lines are a vector over the device types (in device order), each scenario
-- year a vector of multipliers per component (zero for the devices of other components); a
-- component's total is their dot product. 35,000 communes x 36 scenario years are 1.3 M rows
-- of a few dot products, summed in a fixed order (the same inputs give the same bits), instead
-- of 28 M joined rows summed as exact decimals (26 s on a département run, measured).
with

-- the vectors are sorted lists of structs rather than list(... order by device): an ordered
-- aggregate keeps a sort buffer per group, about 1 GB and 4 s for 35,000 communes (measured)
device_lists as (
    select
        code_insee,
        list_sort(list({'device': device, 'embodied': embodied_tco2e, 'use': use_kwh})) as parts,
        coalesce(max(units) filter (where device = 'fixed_access'), 0) as fixed_lines,
        count(*) as devices_count
    from int_communes_device_footprint
    group by code_insee
),

lines as (
    select
        code_insee,
        list_transform(parts, p -> p.embodied) as embodied_tco2e,
        list_transform(parts, p -> p.use) as use_kwh,
        fixed_lines,
        devices_count
    from device_lists
),

multipliers as (
    select
        m.scenario,
        m.year,
        list(case when m.component = 'devices' then m.stock_multiplier * m.embodied_multiplier else 0 end
            order by m.device) as embodied_devices,
        list(case when m.component = 'networks' then m.stock_multiplier * m.embodied_multiplier else 0 end
            order by m.device) as embodied_networks,
        list(case when m.component = 'datacenters' then m.stock_multiplier * m.embodied_multiplier else 0 end
            order by m.device) as embodied_datacenters,
        list(case when m.component = 'devices' then m.stock_multiplier * m.use_multiplier else 0 end
            order by m.device) as use_devices,
        -- the fibre lever keeps (1 - ftth_fraction) of each fixed line's current energy
        list(case when m.component = 'networks' then m.stock_multiplier * m.use_multiplier
                * case when m.device = 'fixed_access' then 1 - p.ftth_fraction else 1 end
            else 0 end order by m.device) as use_networks,
        list(case when m.component = 'datacenters' then m.stock_multiplier * m.use_multiplier else 0 end
            order by m.device) as use_datacenters,
        -- the same, emissions: with the low-carbon hours lever's carbon multiplier
        list(case when m.component = 'devices'
            then m.stock_multiplier * m.use_multiplier * m.carbon_multiplier else 0 end
            order by m.device) as co2_devices,
        list(case when m.component = 'networks' then m.stock_multiplier * m.use_multiplier
                * m.carbon_multiplier
                * case when m.device = 'fixed_access' then 1 - p.ftth_fraction else 1 end
            else 0 end order by m.device) as co2_networks,
        list(case when m.component = 'datacenters'
            then m.stock_multiplier * m.use_multiplier * m.carbon_multiplier else 0 end
            order by m.device) as co2_datacenters,
        -- and gives the other share the FttH figure per line
        max(case when m.device = 'fixed_access'
            then p.ftth_fraction * p.ftth_kwh_per_line * m.stock_multiplier * m.use_multiplier end)
            as ftth_kwh_per_line,
        max(case when m.device = 'fixed_access' then m.carbon_multiplier end) as fixed_carbon_multiplier,
        count(*) as devices_count,
        any_value(p.electricity_kgco2e_per_kwh) as electricity_kgco2e_per_kwh,
        any_value(p.streetlights_kwh_ratio) as streetlights_kwh_ratio
    from int_scenario_device_multipliers as m
    join int_scenario_parameters as p on p.scenario = m.scenario and p.year = m.year
    group by m.scenario, m.year
),

registries as (
    select
        code_insee,
        exact_sum(case when kind = 'streetlights' then kwh else 0 end) as streetlights_kwh,
        exact_sum(case when kind in ('cameras', 'sensors') then kwh else 0 end) as other_kwh
    from int_registry_points_energy
    where kind in ('streetlights', 'cameras', 'sensors')
    group by code_insee
),

products as (
    select
        l.code_insee,
        m.scenario,
        m.year,
        m.electricity_kgco2e_per_kwh,
        m.streetlights_kwh_ratio,
        list_dot_product(l.embodied_tco2e, m.embodied_devices) as embodied_devices,
        list_dot_product(l.embodied_tco2e, m.embodied_networks) as embodied_networks,
        list_dot_product(l.embodied_tco2e, m.embodied_datacenters) as embodied_datacenters,
        list_dot_product(l.use_kwh, m.use_devices) as kwh_devices,
        list_dot_product(l.use_kwh, m.use_networks) + l.fixed_lines * coalesce(m.ftth_kwh_per_line, 0)
            as kwh_networks,
        list_dot_product(l.use_kwh, m.use_datacenters) as kwh_datacenters,
        -- kWh weighted by the carbon multiplier (kWh where no lever shifts use)
        list_dot_product(l.use_kwh, m.co2_devices) as co2_kwh_devices,
        list_dot_product(l.use_kwh, m.co2_networks)
            + l.fixed_lines * coalesce(m.ftth_kwh_per_line * m.fixed_carbon_multiplier, 0) as co2_kwh_networks,
        list_dot_product(l.use_kwh, m.co2_datacenters) as co2_kwh_datacenters
    from lines as l
    cross join multipliers as m
    -- every commune has a line per device type (the vectors line up)
    where l.devices_count = m.devices_count
),

final as (
    select
        p.code_insee,
        p.scenario,
        p.year,
        p.embodied_devices + p.embodied_networks + p.embodied_datacenters
            + (p.co2_kwh_devices + p.co2_kwh_networks + p.co2_kwh_datacenters)
            * p.electricity_kgco2e_per_kwh / 1000 as footprint_tco2e,
        p.embodied_devices + p.co2_kwh_devices * p.electricity_kgco2e_per_kwh / 1000 as devices_tco2e,
        p.embodied_networks + p.co2_kwh_networks * p.electricity_kgco2e_per_kwh / 1000 as networks_tco2e,
        p.embodied_datacenters + p.co2_kwh_datacenters * p.electricity_kgco2e_per_kwh / 1000
            as datacenters_tco2e,
        p.embodied_devices + p.embodied_networks + p.embodied_datacenters as embodied_tco2e,
        (p.co2_kwh_devices + p.co2_kwh_networks + p.co2_kwh_datacenters)
            * p.electricity_kgco2e_per_kwh / 1000 as use_tco2e,
        p.kwh_devices + p.kwh_networks + p.kwh_datacenters as use_kwh,
        coalesce((r.streetlights_kwh * p.streetlights_kwh_ratio + r.other_kwh)
            * p.electricity_kgco2e_per_kwh / 1000, 0) as infrastructure_tco2e
    from products as p
    left join registries as r on r.code_insee = p.code_insee
)

select * from final
