-- The levers of each scenario (territory/scenarios.py checked them): the lever, its target (a
-- device, or a parameter of the lever), the value reached in by_year.
select scenario, lever, target, value, by_year
from raw_scenario_levers
