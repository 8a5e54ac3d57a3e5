-- Device catalogue with its factors side by side (value, low, high).
with

devices as (
    select device, label_fr, component, basis, territorial::boolean as territorial
    from raw_devices
),

factors as (
    select split_part(id, '.', 1) as device, split_part(id, '.', 2) as name, value, low, high
    from raw_factors
),

final as (
    select
        d.*,
        max(value) filter (where name = 'equipment_rate') as equipment_rate,
        max(low) filter (where name = 'equipment_rate') as equipment_rate_low,
        max(high) filter (where name = 'equipment_rate') as equipment_rate_high,
        max(value) filter (where name = 'units_per_owner') as units_per_owner,
        max(low) filter (where name = 'units_per_owner') as units_per_owner_low,
        max(high) filter (where name = 'units_per_owner') as units_per_owner_high,
        max(value) filter (where name = 'embodied_kgco2e') as embodied_kgco2e,
        max(low) filter (where name = 'embodied_kgco2e') as embodied_kgco2e_low,
        max(high) filter (where name = 'embodied_kgco2e') as embodied_kgco2e_high,
        max(value) filter (where name = 'lifetime_years') as lifetime_years,
        max(low) filter (where name = 'lifetime_years') as lifetime_years_low,
        max(high) filter (where name = 'lifetime_years') as lifetime_years_high,
        max(value) filter (where name = 'use_kwh_per_year') as use_kwh_per_year,
        max(low) filter (where name = 'use_kwh_per_year') as use_kwh_per_year_low,
        max(high) filter (where name = 'use_kwh_per_year') as use_kwh_per_year_high
    from devices as d
    left join factors as f using (device)
    group by all
)

select * from final
