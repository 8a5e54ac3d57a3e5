-- Equipment-rate multipliers by commune size class (population bounds inclusive).
select
    device,
    size_class,
    min_population::bigint as min_population,
    max_population::bigint as max_population,
    multiplier::double as multiplier,
    low::double as multiplier_low,
    high::double as multiplier_high
from raw_size_classes
