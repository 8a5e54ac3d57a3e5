-- Device catalogue with its factors side by side (value, low, high). Datacenter services have
-- only a user count (equipment rate, units per owner): the national datacenter footprint is
-- shared among their users, so they have no embodied, lifetime or use figure of their own.
with

devices as (
    select device, label_fr, component, basis, territorial::boolean as territorial
    from raw_devices
),

final as (
    select
        *,
        factor(device || '.equipment_rate') as equipment_rate,
        factor_low(device || '.equipment_rate') as equipment_rate_low,
        factor_high(device || '.equipment_rate') as equipment_rate_high,
        factor(device || '.units_per_owner') as units_per_owner,
        factor_low(device || '.units_per_owner') as units_per_owner_low,
        factor_high(device || '.units_per_owner') as units_per_owner_high,
        case when component <> 'datacenters' then factor(device || '.embodied_kgco2e') end
            as embodied_kgco2e,
        case when component <> 'datacenters' then factor_low(device || '.embodied_kgco2e') end
            as embodied_kgco2e_low,
        case when component <> 'datacenters' then factor_high(device || '.embodied_kgco2e') end
            as embodied_kgco2e_high,
        case when component <> 'datacenters' then factor(device || '.lifetime_years') end
            as lifetime_years,
        case when component <> 'datacenters' then factor_low(device || '.lifetime_years') end
            as lifetime_years_low,
        case when component <> 'datacenters' then factor_high(device || '.lifetime_years') end
            as lifetime_years_high,
        case when component <> 'datacenters' then factor(device || '.use_kwh_per_year') end
            as use_kwh_per_year,
        case when component <> 'datacenters' then factor_low(device || '.use_kwh_per_year') end
            as use_kwh_per_year_low,
        case when component <> 'datacenters' then factor_high(device || '.use_kwh_per_year') end
            as use_kwh_per_year_high
    from devices
)

select * from final
