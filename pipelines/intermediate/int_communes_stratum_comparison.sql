-- Each commune against the communes of its population stratum, all of France: the stratum's
-- median footprint per inhabitant and the commune's rank (1 = lowest footprint per inhabitant).
-- Uninhabited communes (per inhabitant = 0 by convention) are not ranked.
with

communes as (
    select
        code_insee,
        population,
        footprint_tco2e * 1000 / population as footprint_kgco2e_per_inhabitant
    from int_communes_footprint
    where population > 0
),

placed as (
    select c.*, s.stratum, s.label_fr as stratum_label
    from communes as c
    join stg_population_strata as s
        on c.population between s.min_population and s.max_population
),

final as (
    select
        code_insee,
        stratum,
        stratum_label,
        count(*) over (partition by stratum) as stratum_communes_count,
        median(footprint_kgco2e_per_inhabitant) over (partition by stratum)
            as stratum_median_kgco2e_per_inhabitant,
        rank() over (partition by stratum order by footprint_kgco2e_per_inhabitant)
            as stratum_rank
    from placed
)

select * from final
