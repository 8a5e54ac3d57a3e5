-- Counting bases per commune, central / low / high: inhabitants, households (population /
-- the commune's persons per household, census 2021), people aged 12 and over, and jobs at the
-- place of work. The *_reference columns are what the commune would count without its local
-- driver (households of the national average size, people aged 12+ at the national share,
-- jobs at the national number per inhabitant): the drivers' effects are measured against them.
with

population as (
    select * from int_communes_population
),

households as (
    select * from int_communes_households
),

age as (
    select * from int_communes_age
),

jobs as (
    select * from int_communes_jobs
),

joined as (
    select
        p.code_insee,
        p.population,
        h.households,
        a.persons_12plus,
        a.persons_12plus_low,
        a.persons_12plus_high,
        a.persons_12plus_national_share,
        j.jobs
    from population as p
    join households as h using (code_insee)
    join age as a using (code_insee)
    join jobs as j using (code_insee)
),

national as (
    select
        exact_sum(households) / nullif(exact_sum(population), 0) as households_per_inhabitant,
        exact_sum(jobs) / nullif(exact_sum(population), 0) as jobs_per_inhabitant
    from joined
),

final as (
    select
        j.code_insee,
        j.population::double as inhabitants,
        -- census counts: no bound of their own
        j.households,
        j.households as households_low,
        j.households as households_high,
        j.persons_12plus,
        j.persons_12plus_low,
        j.persons_12plus_high,
        j.jobs,
        j.jobs as jobs_low,
        j.jobs as jobs_high,
        j.population * n.households_per_inhabitant as households_reference,
        j.persons_12plus_national_share as persons_12plus_reference,
        j.population * n.jobs_per_inhabitant as jobs_reference,
        j.population
    from joined as j
    cross join national as n
)

select * from final
