-- materialized: view
-- Devices, lines and users per commune and device type: basis x equipment rate x size-class
-- multiplier x units per owner. The multiplier is divided by its national mean (weighted by
-- the basis) so that the national stock keeps the national rate: the size class only moves
-- devices between communes. Low and high multipliers are divided by the same central mean.
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

-- read twice (national mean, final): computed twice rather than held in memory
per_commune as not materialized (
    select
        b.code_insee,
        d.device,
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
    select device, exact_sum(basis_count * multiplier) / nullif(exact_sum(basis_count), 0) as mean_multiplier
    from per_commune
    group by device
),

final as (
    select
        p.code_insee,
        d.device,
        d.component,
        d.territorial,
        p.basis_count * d.equipment_rate * p.multiplier / m.mean_multiplier * d.units_per_owner
            as units,
        p.basis_count_low * d.equipment_rate_low * p.multiplier_low / m.mean_multiplier
            * d.units_per_owner_low as units_low,
        p.basis_count_high * d.equipment_rate_high * p.multiplier_high / m.mean_multiplier
            * d.units_per_owner_high as units_high
    from per_commune as p
    join national_mean as m using (device)
    join devices as d using (device)
)

select * from final
