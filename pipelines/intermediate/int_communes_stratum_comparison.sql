-- Each commune against the communes of its population stratum, all of France: the stratum's
-- median footprint per inhabitant and the commune's rank (1 = lowest footprint per inhabitant).
-- Uninhabited communes (per inhabitant = 0 by convention) are not ranked. Equal values (at
-- 0.1 kgCO2e) share the lowest rank.
with

communes as (
    select
        code_insee,
        population,
        footprint_tco2e * 1000 / population as footprint_kgco2e_per_inhabitant
    from int_communes_footprint
    -- the communes of the published layers: a commune without a boundary is quarantined
    where population > 0 and has_geometry
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
        -- ranked at the precision shown (0.1 kg): equal values share a rank, and the last
        -- digits of a floating-point sum (whose order varies from run to run) decide nothing
        rank() over (partition by stratum order by round(footprint_kgco2e_per_inhabitant, 1))
            as stratum_rank
    from placed
)

select * from final
