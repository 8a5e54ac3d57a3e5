-- One row per scenario and year: the trend every scenario shares (electricity factor of the
-- year, datacenter growth) and how far each lever with parameters has gone (0 in the base year,
-- its full value from its `by` year, linear between). The years are the run's scenario years
-- (territory/scenarios.py: the base year, then every 5 years to 2050).
with

scenarios as (
    select scenario from stg_scenarios
),

years as (
    select year, year - min(year) over () as t, min(year) over () as base_year
    from (select unnest(getvariable('scenario_years')) as year)
),

levers as (
    select * from stg_scenario_levers
    where lever in ('fibre', 'streetlights', 'datacenters', 'low_carbon_hours')
),

trend as (
    select
        factor('electricity.kgco2e_per_kwh') as ef_base,
        factor('trajectory.electricity_kgco2e_per_kwh_2050') as ef_2050,
        factor('trajectory.datacenters_growth_per_year_to_2035') as dc_growth_1,
        factor('trajectory.datacenters_growth_per_year_after_2035') as dc_growth_2,
        factor('trajectory.datacenters_growth_break_year') as dc_break,
        factor('datacenters.default_pue') as pue_now,
        factor('fixed_access.ftth_kwh_per_line_year') as ftth_kwh_per_line,
        factor('streetlights.power_w') as light_w,
        factor('lever.streetlights_led_power_w') as led_w,
        factor('streetlights.hours_per_year') as light_h,
        factor('lever.avoided_heating_kgco2e_per_kwh') as avoided_heating_kgco2e_per_kwh
),

grid as (
    select s.scenario, y.year, y.t, y.base_year
    from scenarios as s
    cross join years as y
),

-- a lever's share of its final value in a year
ramped as (
    select
        g.scenario,
        g.year,
        l.lever,
        l.target,
        least(g.t / (l.by_year - g.base_year), 1.0) as ramp,
        l.value * least(g.t / (l.by_year - g.base_year), 1.0) as value,
        l.value as target_value
    from grid as g
    join levers as l on l.scenario = g.scenario
),

lever_values as (
    select
        g.scenario,
        g.year,
        g.t,
        g.base_year,
        max(r.target_value) filter (where r.lever = 'datacenters' and r.target = 'pue') as pue,
        max(r.ramp) filter (where r.lever = 'datacenters' and r.target = 'pue') as pue_ramp,
        coalesce(max(r.value) filter (where r.lever = 'fibre' and r.target = 'ftth_share'), 0)
            as ftth_fraction,
        coalesce(max(r.value) filter (where r.lever = 'streetlights' and r.target = 'led_share'), 0)
            as led_share,
        coalesce(max(r.value) filter (
            where r.lever = 'streetlights' and r.target = 'switch_off_hours_per_night'), 0)
            as switch_off_hours,
        coalesce(max(r.value) filter (where r.lever = 'low_carbon_hours' and r.target = 'shifted_share'), 0)
            as shifted_share,
        coalesce(max(r.value) filter (where r.lever = 'datacenters' and r.target = 'heat_recovery_share'), 0)
            as heat_recovery_share
    from grid as g
    left join ramped as r on r.scenario = g.scenario and r.year = g.year
    group by g.scenario, g.year, g.t, g.base_year
),

final as (
    select
        v.scenario,
        v.year,
        v.t,
        -- electricity: linear from today's life-cycle factor to the 2050 factor
        -- (2050: the year of trajectory.electricity_kgco2e_per_kwh_2050)
        tr.ef_base + (tr.ef_2050 - tr.ef_base) * v.t / (2050 - v.base_year) as electricity_kgco2e_per_kwh,
        -- datacenters: two growth periods, before and after the study's 2035 horizon
        power(1 + tr.dc_growth_1, least(v.year, tr.dc_break) - v.base_year)
            * power(1 + tr.dc_growth_2, greatest(v.year - tr.dc_break, 0)) as datacenters_growth,
        -- datacenters' energy as the PUE goes from today's mean to the target
        coalesce((tr.pue_now + (v.pue - tr.pue_now) * v.pue_ramp) / tr.pue_now, 1.0)
            as datacenters_pue_ratio,
        -- share of the fixed lines moved from today's mix to the FttH figure
        v.ftth_fraction,
        tr.ftth_kwh_per_line,
        -- street lights: share converted to LED, and hours switched off each night
        (1 - v.led_share * (1 - tr.led_w / tr.light_w))
            * greatest(tr.light_h - 365 * v.switch_off_hours, 0) / tr.light_h as streetlights_kwh_ratio,
        v.shifted_share,
        -- share of the datacenters' electricity delivered as heat to a heat network, and the
        -- emissions a kWh of that heat spares (reported, not subtracted from the footprint)
        v.heat_recovery_share,
        tr.avoided_heating_kgco2e_per_kwh
    from lever_values as v
    cross join trend as tr
)

select * from final
