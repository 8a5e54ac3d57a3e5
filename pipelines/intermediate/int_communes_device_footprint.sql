-- materialized: view
-- Annual footprint per commune and device type, central / low / high, and the part of it each
-- local driver explains (the stock without that driver x the footprint of one unit).
-- Devices and networks: embodied = units x embodied kgCO2e / lifetime; use = units x kWh x
-- electricity factor. Datacenters: the national datacenter footprint shared per internet user,
-- its use phase being the national datacenter electricity x electricity factor.
-- int_communes_device_stocks (700,000 rows) is read where it is needed, three times, not through
-- a CTE: DuckDB 1.5 drops NOT MATERIALIZED from a view's stored SQL, and a CTE read more than
-- once is then materialized at every read of the view (measured: 100 MiB and 0.07 s each time)
with

devices as (
    select * from stg_devices
),

-- where a fibre registry gives the commune's FttH share, the fixed network's energy per line
-- mixes the fibre and copper figures; elsewhere the national figure per line applies
-- (the device is a join key, not a filter on the left side: DuckDB then hashes the join instead
-- of a nested loop, 50 s on a département run with the national fibre file)
fibre as (
    select code_insee, 'fixed_access' as device, ftth_share
    from int_communes_registries
    where ftth_share is not null
),

lines as (
    select
        factor('fixed_access.ftth_kwh_per_line_year') as ftth,
        factor_low('fixed_access.ftth_kwh_per_line_year') as ftth_low,
        factor_high('fixed_access.ftth_kwh_per_line_year') as ftth_high,
        factor('fixed_access.copper_kwh_per_line_year') as copper,
        factor_low('fixed_access.copper_kwh_per_line_year') as copper_low,
        factor_high('fixed_access.copper_kwh_per_line_year') as copper_high
),

-- the national datacenter footprint: datacenter_scope = with_abroad overrides this factor with
-- datacenters.national_footprint_with_abroad_tco2e before the models run
factors as (
    select
        factor('electricity.kgco2e_per_kwh') as electricity_kgco2e_per_kwh,
        factor_low('electricity.kgco2e_per_kwh') as electricity_kgco2e_per_kwh_low,
        factor_high('electricity.kgco2e_per_kwh') as electricity_kgco2e_per_kwh_high,
        factor('datacenters.national_footprint_tco2e') as datacenters_national_tco2e,
        factor_low('datacenters.national_footprint_tco2e') as datacenters_national_tco2e_low,
        factor_high('datacenters.national_footprint_tco2e') as datacenters_national_tco2e_high,
        factor('datacenters.national_electricity_kwh') as datacenters_national_kwh,
        factor_low('datacenters.national_electricity_kwh') as datacenters_national_kwh_low,
        factor_high('datacenters.national_electricity_kwh') as datacenters_national_kwh_high
),

users as (
    select
        code_insee,
        units,
        units_without_basis_driver,
        units_without_income,
        units_without_age,
        (sum((units)::decimal(38, 12)) over ())::double as national_units,
        units / (sum((units)::decimal(38, 12)) over ())::double as share,
        units_low / (sum((units_low)::decimal(38, 12)) over ())::double as share_low,
        units_high / (sum((units_high)::decimal(38, 12)) over ())::double as share_high
    from int_communes_device_stocks
    where component = 'datacenters'
),

equipment as (
    select
        s.code_insee,
        s.device,
        s.component,
        s.territorial,
        s.units,
        s.units_low,
        s.units_high,
        s.units * d.embodied_kgco2e / d.lifetime_years / 1000 as embodied_tco2e,
        s.units_low * d.embodied_kgco2e_low / d.lifetime_years_high / 1000 as embodied_tco2e_low,
        s.units_high * d.embodied_kgco2e_high / d.lifetime_years_low / 1000 as embodied_tco2e_high,
        s.units * coalesce(fb.ftth_share * l.ftth + (1 - fb.ftth_share) * l.copper, d.use_kwh_per_year)
            as use_kwh,
        s.units_low * coalesce(fb.ftth_share * l.ftth_low + (1 - fb.ftth_share) * l.copper_low,
            d.use_kwh_per_year_low) as use_kwh_low,
        s.units_high * coalesce(fb.ftth_share * l.ftth_high + (1 - fb.ftth_share) * l.copper_high,
            d.use_kwh_per_year_high) as use_kwh_high,
        s.basis,
        s.units_without_basis_driver,
        s.units_without_income,
        s.units_without_age,
        (d.embodied_kgco2e / d.lifetime_years
            + coalesce(fb.ftth_share * l.ftth + (1 - fb.ftth_share) * l.copper, d.use_kwh_per_year)
            * f.electricity_kgco2e_per_kwh) / 1000 as tco2e_per_unit
    from int_communes_device_stocks as s
    join devices as d using (device)
    left join fibre as fb on fb.code_insee = s.code_insee and fb.device = s.device
    cross join lines as l
    cross join factors as f
    where s.component <> 'datacenters'
),

datacenters as (
    select
        u.code_insee,
        s.device,
        s.component,
        s.territorial,
        s.units,
        s.units_low,
        s.units_high,
        u.share * f.datacenters_national_tco2e
            - u.share * f.datacenters_national_kwh * f.electricity_kgco2e_per_kwh / 1000
            as embodied_tco2e,
        greatest(u.share_low * f.datacenters_national_tco2e_low
            - u.share_low * f.datacenters_national_kwh_low * f.electricity_kgco2e_per_kwh_low / 1000, 0)
            as embodied_tco2e_low,
        greatest(u.share_high * f.datacenters_national_tco2e_high
            - u.share_high * f.datacenters_national_kwh_high * f.electricity_kgco2e_per_kwh_high / 1000, 0)
            as embodied_tco2e_high,
        u.share * f.datacenters_national_kwh as use_kwh,
        u.share_low * f.datacenters_national_kwh_low as use_kwh_low,
        u.share_high * f.datacenters_national_kwh_high as use_kwh_high,
        s.basis,
        u.units_without_basis_driver,
        u.units_without_income,
        u.units_without_age,
        f.datacenters_national_tco2e / nullif(u.national_units, 0) as tco2e_per_unit
    from users as u
    join int_communes_device_stocks as s
        on s.code_insee = u.code_insee and s.component = 'datacenters'
    cross join factors as f
),

final as (
    select
        e.* exclude (units_without_basis_driver, units_without_income, units_without_age,
            tco2e_per_unit),
        -- how much of the line each local driver explains (central)
        (e.units - e.units_without_basis_driver) * e.tco2e_per_unit as basis_driver_effect_tco2e,
        (e.units - e.units_without_income) * e.tco2e_per_unit as income_effect_tco2e,
        (e.units - e.units_without_age) * e.tco2e_per_unit as age_effect_tco2e,
        e.use_kwh * f.electricity_kgco2e_per_kwh / 1000 as use_tco2e,
        e.use_kwh_low * f.electricity_kgco2e_per_kwh_low / 1000 as use_tco2e_low,
        e.use_kwh_high * f.electricity_kgco2e_per_kwh_high / 1000 as use_tco2e_high
    from (select * from equipment union all by name select * from datacenters) as e
    cross join factors as f
)

select * from final
