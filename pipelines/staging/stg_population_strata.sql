-- Population strata (DGCL) within which a commune is compared with its peers.
select
    stratum::integer as stratum,
    label_fr,
    min_population::bigint as min_population,
    max_population::bigint as max_population
from raw_population_strata
