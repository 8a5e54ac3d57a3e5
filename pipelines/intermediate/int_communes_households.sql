-- Households per commune (the one place they are counted): the commune's population divided by
-- its persons per household in the 2021 census (INSEE), so that a commune of students or of
-- people living alone counts more households than a commune of families of the same size. A
-- commune without a census figure (Mayotte: no 2021 census) takes its département's, else the
-- national factor.
with

population as (
    select * from int_communes_population
),

communes as (
    select code_insee, departement_code from stg_communes
),

census as (
    select * from stg_households
),

departements as (
    select
        c.departement_code,
        exact_sum(s.population_2021) / exact_sum(s.households_2021) as persons_per_household
    from census as s
    join communes as c using (code_insee)
    group by 1
),

final as (
    select
        p.code_insee,
        coalesce(
            s.population_2021 / s.households_2021,
            d.persons_per_household,
            factor('population.persons_per_household')
        ) as persons_per_household,
        case
            when s.code_insee is not null then 'recensement 2021'
            when d.persons_per_household is not null
                then 'recensement 2021, moyenne du département'
            else 'moyenne nationale'
        end as households_source
    from population as p
    join communes as c using (code_insee)
    left join census as s using (code_insee)
    left join departements as d using (departement_code)
)

select
    f.code_insee,
    f.persons_per_household,
    p.population / f.persons_per_household as households,
    f.households_source
from final as f
join population as p using (code_insee)
