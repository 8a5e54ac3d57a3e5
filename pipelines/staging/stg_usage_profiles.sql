-- Usage profiles (data/usage_profiles.csv): per profile, month and local hour, the share of a
-- day's use in that hour (24 shares summing to 1) and the day's use relative to the year's
-- average day; with the share of the use that could move in the day (factors_hourly.csv).
select
    p.profile,
    p.month,
    p.hour,
    p.share,
    p.day_weight,
    factor('profile.' || p.profile || '.flexible_share') as flexible_share,
    factor_low('profile.' || p.profile || '.flexible_share') as flexible_share_low,
    factor_high('profile.' || p.profile || '.flexible_share') as flexible_share_high
from raw_usage_profiles as p
