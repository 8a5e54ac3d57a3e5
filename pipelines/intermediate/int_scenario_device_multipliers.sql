-- One row per scenario, year and device type: what multiplies the base year's stock, embodied
-- footprint per unit and electricity per unit. Stocks follow their basis (households,
-- population, jobs: trajectory.*_growth_per_year) and, for the devices of
-- data/device_trajectories.csv, a trend of their own; levers: lifetime extension (embodied per
-- year = embodied / lifetime), refurbished purchases (a refurbished device carries a share of a
-- new one's embodied footprint), stock change (sobriety). The datacenter services follow the
-- national datacenter trajectory (energy and equipment), at the scenario's PUE.
-- carbon_multiplier: the low-carbon hours lever moves a share of each device's flexible use to
-- the cleanest hours of the day (int_profiles_carbon_weights, by the device's usage profile).
-- stock_multiplier_independent leaves out the trends taken from the ADEME/Arcep prospective the
-- trajectory check compares with (from_reference in data/device_trajectories.csv: at their low
-- value): the check judges that trajectory (territory/trajectory_check.py).
with

parameters as (
    select * from int_scenario_parameters
),

devices as (
    select device, component, basis, lifetime_years from stg_devices
),

trends as (
    select
        t.device,
        t.applies_to,
        f.value as growth,
        f.low as growth_low,
        t.from_reference
    from stg_device_trajectories as t
    join stg_factors as f on f.id = t.growth
),

basis_growth as (
    select
        factor('trajectory.households_growth_per_year') as households,
        factor('trajectory.population_growth_per_year') as persons_12plus,
        factor('trajectory.jobs_growth_per_year') as jobs
),

-- embodied footprint of a refurbished device, as a share of a new one's: its own figure, else
-- that of the household device a professional one is (laptop for laptop_pro); none for the
-- devices the refurbished lever cannot name (territory/scenarios.py checks it)
refurbished as (
    select d.device, coalesce(f.value, g.value) as embodied_share
    from devices as d
    left join stg_factors as f on f.id = 'refurbished.' || d.device || '_embodied_share'
    left join stg_factors as g
        on g.id = 'refurbished.' || regexp_replace(d.device, '_pro$', '') || '_embodied_share'
),

levers as (
    select
        p.scenario,
        p.year,
        l.target as device,
        l.lever,
        l.value * least(p.t / (l.by_year - min(p.year) over ()), 1.0) as value
    from stg_scenario_levers as l
    join parameters as p on p.scenario = l.scenario
    where l.lever in ('lifetime_extension_years', 'refurbished_share', 'stock_change')
),

-- emissions per kWh of a device's use once its flexible use moves to low-carbon hours, relative
-- to its use where it is today
carbon as (
    select a.subject as device, w.low_carbon_weight / w.carbon_weight as shifted_ratio
    from stg_usage_profile_assignments as a
    join int_profiles_carbon_weights as w on w.profile = a.profile
    where a.subject_kind = 'device'
),

grid as (
    select
        p.scenario,
        p.year,
        p.t,
        p.datacenters_growth,
        p.datacenters_pue_ratio,
        1 - p.shifted_share * (1 - coalesce(c.shifted_ratio, 1)) as carbon_multiplier,
        d.device,
        d.component,
        d.lifetime_years,
        case d.basis
            when 'households' then b.households
            when 'persons_12plus' then b.persons_12plus
            when 'jobs' then b.jobs
        end as basis_growth,
        coalesce(st.growth, 0) as stock_trend,
        coalesce(case when st.from_reference then st.growth_low else st.growth end, 0)
            as stock_trend_independent,
        coalesce(pu.growth, 0) as per_unit_trend,
        r.embodied_share as refurbished_embodied_share,
        coalesce(max(l.value) filter (where l.lever = 'lifetime_extension_years'), 0)
            as lifetime_added_years,
        coalesce(max(l.value) filter (where l.lever = 'refurbished_share'), 0) as refurbished_share,
        coalesce(max(l.value) filter (where l.lever = 'stock_change'), 0) as stock_change
    from parameters as p
    cross join devices as d
    cross join basis_growth as b
    left join refurbished as r on r.device = d.device
    left join carbon as c on c.device = d.device
    left join trends as st on st.device = d.device and st.applies_to = 'stock'
    left join trends as pu on pu.device = d.device and pu.applies_to = 'per_unit'
    left join levers as l on l.scenario = p.scenario and l.year = p.year and l.device = d.device
    group by all
),

final as (
    select
        scenario,
        year,
        device,
        component,
        case when component = 'datacenters' then 1.0
            else power(1 + basis_growth, t) * power(1 + stock_trend, t) * (1 + stock_change)
        end as stock_multiplier,
        case when component = 'datacenters' then 1.0
            else power(1 + basis_growth, t) * power(1 + stock_trend_independent, t) * (1 + stock_change)
        end as stock_multiplier_independent,
        case when component = 'datacenters' then datacenters_growth
            else lifetime_years / (lifetime_years + lifetime_added_years)
                * (1 - refurbished_share * (1 - coalesce(refurbished_embodied_share, 1)))
                * power(1 + per_unit_trend, t)
        end as embodied_multiplier,
        case when component = 'datacenters' then datacenters_growth * datacenters_pue_ratio
            else power(1 + per_unit_trend, t)
        end as use_multiplier,
        carbon_multiplier,
        lifetime_added_years,
        refurbished_share,
        stock_change
    from grid
)

select * from final
