-- Each commune against the communes of its population stratum, all of France: the stratum's
-- median footprint per inhabitant and the commune's rank (1 = lowest footprint per inhabitant).
-- Uninhabited communes (per inhabitant = 0 by convention) are not ranked. Equal values (at
-- 0.1 kgCO2e) share the lowest rank.
-- A rank is only given when the commune stays on the same side of its stratum's median with
-- every factor at its low and at its high bound, by more than the change those bounds make
-- to its ratio to the median: otherwise the gap is within the model's uncertainty and the
-- commune is "dans la moyenne de sa strate" (stratum_rank null). Factors common to all
-- communes scale the commune and the median alike and cancel out in the ratio; what is left
-- is the uncertainty of what makes communes differ (their mix of devices).
with

communes as (
    select
        code_insee,
        population,
        footprint_tco2e * 1000 / population as footprint_kgco2e_per_inhabitant,
        footprint_tco2e_low * 1000 / population as low_kgco2e_per_inhabitant,
        footprint_tco2e_high * 1000 / population as high_kgco2e_per_inhabitant
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

medians as (
    select
        *,
        count(*) over (partition by stratum) as stratum_communes_count,
        median(footprint_kgco2e_per_inhabitant) over (partition by stratum)
            as stratum_median_kgco2e_per_inhabitant,
        median(low_kgco2e_per_inhabitant) over (partition by stratum) as stratum_median_low,
        median(high_kgco2e_per_inhabitant) over (partition by stratum) as stratum_median_high
    from placed
),

ratios as (
    select
        *,
        footprint_kgco2e_per_inhabitant / stratum_median_kgco2e_per_inhabitant - 1 as gap,
        low_kgco2e_per_inhabitant / stratum_median_low - 1 as gap_low,
        high_kgco2e_per_inhabitant / stratum_median_high - 1 as gap_high
    from medians
),

final as (
    select
        code_insee,
        stratum,
        stratum_label,
        stratum_communes_count,
        stratum_median_kgco2e_per_inhabitant,
        -- ranked at the precision shown (0.1 kg): equal values share a rank, and the last
        -- digits of a floating-point sum (whose order varies from run to run) decide nothing
        rank() over (partition by stratum order by round(footprint_kgco2e_per_inhabitant, 1))
            as stratum_rank_all,
        gap,
        abs(gap) <= greatest(abs(gap_low - gap), abs(gap_high - gap))
            or sign(gap_low) <> sign(gap) or sign(gap_high) <> sign(gap)
            as within_uncertainty
    from ratios
)

select
    code_insee,
    stratum,
    stratum_label,
    stratum_communes_count,
    stratum_median_kgco2e_per_inhabitant,
    case when not within_uncertainty then stratum_rank_all end as stratum_rank,
    case
        when within_uncertainty then 'dans la moyenne de sa strate'
        when gap > 0 then 'au-dessus de la médiane de sa strate'
        else 'en dessous de la médiane de sa strate'
    end as stratum_position
from final
