-- The usage profile of each device type (subject_kind = 'device') and registry kind
-- ('registry'), from data/usage_profile_assignments.csv.
select subject_kind, subject, profile
from raw_usage_profile_assignments
