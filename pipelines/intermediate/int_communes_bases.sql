-- Counting bases per commune (inhabitants, households, people aged 12+), central / low / high,
-- and the commune's size class.
with

population as (
    select * from int_communes_population
),

factors as (
    select
        factor('population.persons_per_household') as persons_per_household,
        factor_low('population.persons_per_household') as persons_per_household_low,
        factor_high('population.persons_per_household') as persons_per_household_high,
        factor('population.share_12plus') as share_12plus,
        factor_low('population.share_12plus') as share_12plus_low,
        factor_high('population.share_12plus') as share_12plus_high
),

final as (
    select
        p.code_insee,
        p.population::double as inhabitants,
        p.population / f.persons_per_household as households,
        p.population / f.persons_per_household_high as households_low,
        p.population / f.persons_per_household_low as households_high,
        p.population * f.share_12plus as persons_12plus,
        p.population * f.share_12plus_low as persons_12plus_low,
        p.population * f.share_12plus_high as persons_12plus_high,
        p.population
    from population as p
    cross join factors as f
)

select * from final
