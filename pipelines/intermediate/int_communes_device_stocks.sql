-- Devices, lines and users per commune and device type:
--   basis x equipment rate x local multiplier x units per owner.
-- The basis follows the commune (households, people aged 12+, jobs at the place of work).
-- The local multiplier is the product of the drivers of data/device_drivers.csv: the equipment
-- rate of the commune's income decile and of its age structure, each relative to the national
-- rate; it is divided by its national mean (weighted by the basis) so that the national stock
-- keeps the national rate: the drivers move devices between communes, they add none.
-- units_without_<driver> (central) is the stock the commune would have without that driver:
-- the effects shown to planners are the differences.
-- A table (not a view): the footprint model reads it three times and the national sums per
-- device once more; recomputing its joins each time cost more than its memory (about 80 MB).
with

bases as (
    select * from int_communes_bases
),

devices as (
    select * from stg_devices
),

drivers as (
    select * from stg_device_drivers
),

income as (
    select code_insee, income_decile from int_communes_income
),

age_ratios as (
    select * from int_communes_age_ratios
),

-- each decile's rate relative to the mean of the ten (deciles hold a tenth of the people each)
income_rates as (
    select
        d.device,
        t.decile,
        factor(d.rates || '.decile_' || t.decile)
            / avg(factor(d.rates || '.decile_' || t.decile)) over (partition by d.device)
            as ratio
    from drivers as d
    cross join range(1, 11) as t(decile)
    where d.driver = 'income'
),

age_devices as (
    select device, rates from drivers where driver = 'age'
),

-- read twice (national mean, final): computed twice rather than held in memory
per_commune as not materialized (
    select
        b.code_insee,
        d.device,
        d.basis,
        case d.basis
            when 'inhabitants' then b.inhabitants
            when 'households' then b.households
            when 'persons_12plus' then b.persons_12plus
            when 'jobs' then b.jobs
        end as basis_count,
        case d.basis
            when 'inhabitants' then b.inhabitants
            when 'households' then b.households_low
            when 'persons_12plus' then b.persons_12plus_low
            when 'jobs' then b.jobs_low
        end as basis_count_low,
        case d.basis
            when 'inhabitants' then b.inhabitants
            when 'households' then b.households_high
            when 'persons_12plus' then b.persons_12plus_high
            when 'jobs' then b.jobs_high
        end as basis_count_high,
        case d.basis
            when 'inhabitants' then b.inhabitants
            when 'households' then b.households_reference
            when 'persons_12plus' then b.persons_12plus_reference
            when 'jobs' then b.jobs_reference
        end as basis_reference,
        coalesce(ir.ratio, 1.0) as income_multiplier,
        coalesce(ar.age_ratio, 1.0) as age_multiplier
    from bases as b
    cross join devices as d
    left join income as i on i.code_insee = b.code_insee
    left join income_rates as ir on ir.device = d.device and ir.decile = i.income_decile
    left join age_devices as ad on ad.device = d.device
    left join age_ratios as ar on ar.code_insee = b.code_insee and ar.rates = ad.rates
),

national_mean as (
    select
        device,
        exact_sum(basis_count * income_multiplier * age_multiplier)
            / nullif(exact_sum(basis_count), 0) as mean_multiplier
    from per_commune
    group by device
),

final as (
    select
        p.code_insee,
        d.device,
        d.component,
        d.territorial,
        p.basis,
        p.basis_count * d.equipment_rate * p.income_multiplier * p.age_multiplier
            / m.mean_multiplier * d.units_per_owner as units,
        p.basis_count_low * d.equipment_rate_low * p.income_multiplier * p.age_multiplier
            / m.mean_multiplier * d.units_per_owner_low as units_low,
        p.basis_count_high * d.equipment_rate_high * p.income_multiplier * p.age_multiplier
            / m.mean_multiplier * d.units_per_owner_high as units_high,
        -- without the commune's basis driver (households, age for people 12+, jobs)
        p.basis_reference * d.equipment_rate * p.income_multiplier * p.age_multiplier
            / m.mean_multiplier * d.units_per_owner as units_without_basis_driver,
        p.basis_count * d.equipment_rate * p.age_multiplier
            / m.mean_multiplier * d.units_per_owner as units_without_income,
        p.basis_count * d.equipment_rate * p.income_multiplier
            / m.mean_multiplier * d.units_per_owner as units_without_age
    from per_commune as p
    join national_mean as m using (device)
    join devices as d using (device)
)

select * from final
