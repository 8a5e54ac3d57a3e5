-- Devices, lines and users per commune and device type: basis x equipment rate x size-class
-- multiplier x units per owner. The multiplier is normalised so that the national stock keeps
-- the national rate (the size class only moves devices between communes).
with

bases as (
    select * from int_communes_bases
),

devices as (
    select * from stg_devices
),

size_classes as (
    select * from stg_size_classes
),

per_commune as (
    select
        b.code_insee,
        d.*,
        case d.basis
            when 'inhabitants' then b.inhabitants
            when 'households' then b.households
            when 'persons_12plus' then b.persons_12plus
        end as basis_count,
        case d.basis
            when 'inhabitants' then b.inhabitants
            when 'households' then b.households_low
            when 'persons_12plus' then b.persons_12plus_low
        end as basis_count_low,
        case d.basis
            when 'inhabitants' then b.inhabitants
            when 'households' then b.households_high
            when 'persons_12plus' then b.persons_12plus_high
        end as basis_count_high,
        coalesce(s.multiplier, 1.0) as multiplier,
        coalesce(s.multiplier_low, 1.0) as multiplier_low,
        coalesce(s.multiplier_high, 1.0) as multiplier_high
    from bases as b
    cross join devices as d
    left join size_classes as s
        on s.device = d.device and b.population between s.min_population and s.max_population
),

national_mean as (
    select
        *,
        sum(basis_count * multiplier) over (partition by device)
            / nullif(sum(basis_count) over (partition by device), 0) as mean_multiplier
    from per_commune
),

-- low and high are divided by the central mean too, so low <= central <= high still holds
normalised as (
    select
        *,
        multiplier / mean_multiplier as multiplier_normalised,
        multiplier_low / mean_multiplier as multiplier_normalised_low,
        multiplier_high / mean_multiplier as multiplier_normalised_high
    from national_mean
),

final as (
    select
        *,
        basis_count * equipment_rate * multiplier_normalised * units_per_owner as units,
        basis_count_low * equipment_rate_low * multiplier_normalised_low * units_per_owner_low
            as units_low,
        basis_count_high * equipment_rate_high * multiplier_normalised_high * units_per_owner_high
            as units_high
    from normalised
)

select * from final
