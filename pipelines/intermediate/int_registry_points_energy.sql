-- Electricity and emissions of each registry point placed in a commune, central / low / high.
-- antennas: energy per operator-site, plus the 5G share when the site has 5G;
-- datacenters (running all year, 8,760 h): IT power (declared by the file, else the sourced default: a power the file
-- itself marks as a modelled default is not used) x hours x load factor x PUE;
-- street lights: power x lighting hours; cameras and sensors: power all year plus the energy
-- of storing what they record for the retention period.
-- One row per registry point: not compressed (see int_registry_points_located).
-- storage: uncompressed
with

points as (
    select
        * exclude (capacity_mw),
        case when capacity_origin = 'declared' then capacity_mw end as capacity_mw
    from int_registry_points_located
    where code_insee is not null
),

f as (
    select
        factor('electricity.kgco2e_per_kwh') as ef,
        factor_low('electricity.kgco2e_per_kwh') as ef_low,
        factor_high('electricity.kgco2e_per_kwh') as ef_high,
        factor('antennas.site_kwh_per_year') as antenna_kwh,
        factor_low('antennas.site_kwh_per_year') as antenna_kwh_low,
        factor_high('antennas.site_kwh_per_year') as antenna_kwh_high,
        factor('antennas.5g_extra_share') as g5,
        factor_low('antennas.5g_extra_share') as g5_low,
        factor_high('antennas.5g_extra_share') as g5_high,
        factor('datacenters.default_it_power_mw') as dc_mw,
        factor_low('datacenters.default_it_power_mw') as dc_mw_low,
        factor_high('datacenters.default_it_power_mw') as dc_mw_high,
        factor('datacenters.default_pue') as pue,
        factor_low('datacenters.default_pue') as pue_low,
        factor_high('datacenters.default_pue') as pue_high,
        factor('datacenters.it_load_factor') as load,
        factor_low('datacenters.it_load_factor') as load_low,
        factor_high('datacenters.it_load_factor') as load_high,
        factor('streetlights.power_w') as light_w,
        factor_low('streetlights.power_w') as light_w_low,
        factor_high('streetlights.power_w') as light_w_high,
        factor('streetlights.hours_per_year') as light_h,
        factor_low('streetlights.hours_per_year') as light_h_low,
        factor_high('streetlights.hours_per_year') as light_h_high,
        factor('cameras.power_w') as cam_w,
        factor_low('cameras.power_w') as cam_w_low,
        factor_high('cameras.power_w') as cam_w_high,
        factor('cameras.data_tb_per_year') as cam_tb,
        factor_low('cameras.data_tb_per_year') as cam_tb_low,
        factor_high('cameras.data_tb_per_year') as cam_tb_high,
        -- retention is a run parameter (retention_days), the factor table's value by default
        coalesce(getvariable('retention_days'), factor('cameras.retention_days'))
            as cam_days,
        factor('cameras.hours_per_year') as cam_h,
        factor('sensors.hours_per_year') as sensor_h,
        factor('sensors.power_w') as sensor_w,
        factor_low('sensors.power_w') as sensor_w_low,
        factor_high('sensors.power_w') as sensor_w_high,
        factor('sensors.data_mb_per_year') as sensor_mb,
        factor('storage.kwh_per_tb_year') as storage_kwh,
        factor_low('storage.kwh_per_tb_year') as storage_kwh_low,
        factor_high('storage.kwh_per_tb_year') as storage_kwh_high
),

energy as (
    select
        p.kind,
        p.source_file,
        p.source_line,
        p.code_insee,
        case p.kind
            when 'datacenters' then coalesce(p.capacity_mw, f.dc_mw)
        end as it_power_mw,
        case
            when p.kind <> 'datacenters' then null
            when p.capacity_mw is not null then 'déclarée'
            else 'modélisée (valeur par défaut)'
        end as it_power_origin,
        case p.kind
            when 'cameras' then f.cam_tb * f.cam_days / 365
            when 'sensors' then f.sensor_mb / 1e6 * f.cam_days / 365
        end as data_stored_tb,
        case p.kind
            when 'antennas' then f.antenna_kwh * (1 + f.g5 * p.has_5g::int)
            when 'datacenters' then coalesce(p.capacity_mw, f.dc_mw) * 1000 * 8760 * f.load * coalesce(p.pue, f.pue)
            when 'streetlights' then f.light_w * f.light_h / 1000
            when 'cameras' then f.cam_w * f.cam_h / 1000 + f.cam_tb * f.cam_days / 365 * f.storage_kwh
            when 'sensors' then f.sensor_w * f.sensor_h / 1000
        end as kwh,
        case p.kind
            when 'antennas' then f.antenna_kwh_low * (1 + f.g5_low * p.has_5g::int)
            when 'datacenters' then coalesce(p.capacity_mw, f.dc_mw_low) * 1000 * 8760 * f.load_low * coalesce(p.pue, f.pue_low)
            when 'streetlights' then f.light_w_low * f.light_h_low / 1000
            when 'cameras' then f.cam_w_low * f.cam_h / 1000 + f.cam_tb_low * f.cam_days / 365 * f.storage_kwh_low
            when 'sensors' then f.sensor_w_low * f.sensor_h / 1000
        end as kwh_low,
        case p.kind
            when 'antennas' then f.antenna_kwh_high * (1 + f.g5_high * p.has_5g::int)
            when 'datacenters' then coalesce(p.capacity_mw, f.dc_mw_high) * 1000 * 8760 * f.load_high * coalesce(p.pue, f.pue_high)
            when 'streetlights' then f.light_w_high * f.light_h_high / 1000
            when 'cameras' then f.cam_w_high * f.cam_h / 1000 + f.cam_tb_high * f.cam_days / 365 * f.storage_kwh_high
            when 'sensors' then f.sensor_w_high * f.sensor_h / 1000
        end as kwh_high,
        f.ef, f.ef_low, f.ef_high
    from points as p
    cross join f
    where p.kind not in (select kind from registry_energy_models)
),

-- kinds whose spec (data/registries/<kind>.toml) has the power model: power (W) x hours a
-- year / 1000, with the factor ids the spec names (registry_energy_models)
declared as (
    select
        p.kind,
        p.source_file,
        p.source_line,
        p.code_insee,
        null::double as it_power_mw,
        null::varchar as it_power_origin,
        null::double as data_stored_tb,
        w.value * h.value / 1000 as kwh,
        w.low * h.low / 1000 as kwh_low,
        w.high * h.high / 1000 as kwh_high,
        f.ef, f.ef_low, f.ef_high
    from points as p
    join registry_energy_models as m using (kind)
    left join stg_factors as w on w.id = m.power_w
    left join stg_factors as h on h.id = m.hours_per_year
    cross join f
),

final as (
    select
        * exclude (ef, ef_low, ef_high),
        kwh * ef / 1000 as tco2e,
        kwh_low * ef_low / 1000 as tco2e_low,
        kwh_high * ef_high / 1000 as tco2e_high
    from (select * from energy union all by name select * from declared)
)

select * from final
