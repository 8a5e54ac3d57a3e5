-- One row per territory (int_scenario_lines), scenario and year: the base year's device lines
-- times the scenario's multipliers, the use phase at the year's electricity factor; and the
-- street lights, cameras and sensors the registries place there (territorial, not part of the
-- footprint, as in the layers). Fixed lines: the fibre lever moves a share of the lines from
-- their current energy per line to the FttH figure. The low-carbon hours lever lowers the
-- emissions of a kWh of the devices whose use can move in the day (their carbon multiplier),
-- not the kWh. Empty when the run has no scenario.
--
-- How: a territory's lines are a vector over the device types (in device order), each scenario
-- year a vector of multipliers per component (zero for the devices of other components); a
-- component's total is their dot product, summed in a fixed order (the same inputs give the
-- same bits). Measured on a département run: 28 M joined rows (communes x devices x scenario
-- years) summed as exact decimals took 26 s; the vectors' cross join takes about 1 s for all of
-- France with seven scenarios.
with

lines as (
    select * from int_scenario_lines
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
        coalesce(max(case when m.device = 'fixed_access'
            then p.ftth_fraction * p.ftth_kwh_per_line * m.stock_multiplier * m.use_multiplier end), 0)
            as ftth_kwh_per_line,
        coalesce(max(case when m.device = 'fixed_access' then m.carbon_multiplier end), 1)
            as fixed_carbon_multiplier,
        count(*) as devices_count,
        any_value(p.electricity_kgco2e_per_kwh) as electricity_kgco2e_per_kwh,
        any_value(p.streetlights_kwh_ratio) as streetlights_kwh_ratio
    from int_scenario_device_multipliers as m
    join int_scenario_parameters as p on p.scenario = m.scenario and p.year = m.year
    group by m.scenario, m.year
),

products as (
    select
        l.level,
        l.code_insee,
        m.scenario,
        m.year,
        m.electricity_kgco2e_per_kwh as ef,
        l.streetlights_kwh * m.streetlights_kwh_ratio + l.other_kwh as infrastructure_kwh,
        list_dot_product(l.embodied_tco2e, m.embodied_devices) as embodied_devices,
        list_dot_product(l.embodied_tco2e, m.embodied_networks) as embodied_networks,
        list_dot_product(l.embodied_tco2e, m.embodied_datacenters) as embodied_datacenters,
        list_dot_product(l.use_kwh, m.use_devices) as kwh_devices,
        list_dot_product(l.use_kwh, m.use_networks) + l.fixed_lines * m.ftth_kwh_per_line
            as kwh_networks,
        list_dot_product(l.use_kwh, m.use_datacenters) as kwh_datacenters,
        -- kWh weighted by the carbon multiplier (kWh where no lever shifts use)
        list_dot_product(l.use_kwh, m.co2_devices) as co2_kwh_devices,
        list_dot_product(l.use_kwh, m.co2_networks)
            + l.fixed_lines * m.ftth_kwh_per_line * m.fixed_carbon_multiplier as co2_kwh_networks,
        list_dot_product(l.use_kwh, m.co2_datacenters) as co2_kwh_datacenters
    from lines as l
    cross join multipliers as m
    -- every territory has a line per device type (the vectors line up)
    where l.devices_count = m.devices_count
),

final as (
    select
        level,
        code_insee,
        scenario,
        year,
        embodied_devices + embodied_networks + embodied_datacenters
            + (co2_kwh_devices + co2_kwh_networks + co2_kwh_datacenters) * ef / 1000
            as footprint_tco2e,
        embodied_devices + co2_kwh_devices * ef / 1000 as devices_tco2e,
        embodied_networks + co2_kwh_networks * ef / 1000 as networks_tco2e,
        embodied_datacenters + co2_kwh_datacenters * ef / 1000 as datacenters_tco2e,
        embodied_devices + embodied_networks + embodied_datacenters as embodied_tco2e,
        (co2_kwh_devices + co2_kwh_networks + co2_kwh_datacenters) * ef / 1000 as use_tco2e,
        kwh_devices + kwh_networks + kwh_datacenters as use_kwh,
        infrastructure_kwh * ef / 1000 as infrastructure_tco2e
    from products
)

select * from final
