-- The scenarios of the run (territory run --scenario): the baseline first, then each scenario
-- given, with its French title and description. Empty when no scenario is asked for.
select scenario, title, description, position
from raw_scenarios
