-- Every factor (value, low, high), one row per id, with the run's overrides already applied to
-- raw_factors. Models read it through the factor('id'), factor_low('id') and factor_high('id')
-- macros (territory/pipeline.py), which stop the run on an unknown id.
select id, value, low, high, unit
from raw_factors
