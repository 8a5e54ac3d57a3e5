-- Each commune against the national average footprint per inhabitant (all communes of France
-- that have a boundary), and how much of the gap each local driver explains: its households
-- (persons per household), its income (equipment rates by income decile), its age structure
-- (where an age file was given) and the jobs located there (professional devices). Each effect
-- is the footprint the driver adds or removes, per inhabitant, in % of the national average;
-- they do not add up exactly to the gap (the drivers multiply each other).
with

communes as (
    select * from int_communes_footprint
    where has_geometry
),

national as (
    select exact_sum(footprint_tco2e) * 1000 / exact_sum(population) as kgco2e_per_inhabitant
    from communes
),

final as (
    select
        c.code_insee,
        n.kgco2e_per_inhabitant as national_kgco2e_per_inhabitant,
        case when c.population > 0 then
            (c.footprint_tco2e * 1000 / c.population / n.kgco2e_per_inhabitant - 1) * 100
        end as footprint_vs_national_pct,
        case when c.population > 0 then
            c.households_effect_tco2e * 1000 / c.population / n.kgco2e_per_inhabitant * 100
        end as households_effect_pct,
        case when c.population > 0 then
            c.income_effect_tco2e * 1000 / c.population / n.kgco2e_per_inhabitant * 100
        end as income_effect_pct,
        case when c.population > 0 and c.age_structure_known then
            c.age_effect_tco2e * 1000 / c.population / n.kgco2e_per_inhabitant * 100
        end as age_effect_pct,
        case when c.population > 0 then
            c.jobs_effect_tco2e * 1000 / c.population / n.kgco2e_per_inhabitant * 100
        end as jobs_effect_pct
    from communes as c
    cross join national as n
)

select * from final
