-- Annual use-phase electricity per commune of the `communes` layer and usage profile (devices
-- and registry points): hourly.csv's communes rows are these x hourly_profiles, written when the
-- run has few enough communes (territory/hourly.py).
select p.code_insee, p.profile, p.use_kwh, p.registries_kwh
from int_communes_profile_kwh as p
semi join communes as c using (code_insee)
