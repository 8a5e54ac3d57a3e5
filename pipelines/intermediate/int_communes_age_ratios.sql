-- Equipment rates that follow the age structure (data/device_drivers.csv, driver = age): per
-- commune with an age file and rates prefix, the rate expected from the commune's age
-- structure divided by the rate expected from the national structure. A band without a factor
-- (computers of 12-14-year-olds) is left out. Communes without an age file have no row (1).
with

bands as (
    select * from int_communes_age_bands
),

prefixes as (
    select distinct rates from stg_device_drivers where driver = 'age'
),

rated as (
    select b.code_insee, b.people, b.share_national, p.rates, f.value as rate
    from bands as b
    cross join prefixes as p
    join stg_factors as f on f.id = p.rates || '.' || b.band
),

final as (
    select
        code_insee,
        rates,
        sum(people * rate) / nullif(sum(people), 0)
            / (sum(share_national * rate) / sum(share_national)) as age_ratio
    from rated
    group by all
)

select * from final
