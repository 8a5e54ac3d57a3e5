-- Carbon weight of each usage profile: how much more (> 1) or less (< 1) CO2 a kWh of that
-- profile emits than a kWh spread evenly over the year, given the grid's intensity by month and
-- hour. carbon_weight = sum(shape x intensity) / (sum(shape) x mean intensity);
-- low_carbon_weight = the same once the profile's flexible share of each month's use is moved,
-- in equal parts, to that month's low-carbon hours (the hourly.low_carbon_window_hours hours of
-- lowest intensity): the scenario lever "low-carbon hours" multiplies use_tco2e by
-- low_carbon_weight / carbon_weight. _low / _high: with the flexible share's high / low bound
-- (more flexibility, lower weight).
with

shape as (
    select * from int_profiles_hourly_shape
),

months as (
    select
        profile,
        month,
        any_value(flexible_share) as flexible_share,
        sum(annual_share) as month_share,
        sum(annual_share * intensity_weight) as month_weighted,
        avg(intensity_weight) filter (where low_carbon_hour) as low_carbon_intensity_weight
    from shape
    group by profile, month
),

flex as (
    select
        s.profile,
        factor_low('profile.' || s.profile || '.flexible_share') as flexible_share_low,
        factor_high('profile.' || s.profile || '.flexible_share') as flexible_share_high
    from (select distinct profile from shape) as s
),

final as (
    select
        m.profile,
        any_value(m.flexible_share) as flexible_share,
        sum(m.month_weighted) / sum(m.month_share) as carbon_weight,
        sum((1 - m.flexible_share) * m.month_weighted
            + m.flexible_share * m.month_share * m.low_carbon_intensity_weight)
            / sum(m.month_share) as low_carbon_weight,
        sum((1 - f.flexible_share_high) * m.month_weighted
            + f.flexible_share_high * m.month_share * m.low_carbon_intensity_weight)
            / sum(m.month_share) as low_carbon_weight_low,
        sum((1 - f.flexible_share_low) * m.month_weighted
            + f.flexible_share_low * m.month_share * m.low_carbon_intensity_weight)
            / sum(m.month_share) as low_carbon_weight_high
    from months as m
    join flex as f using (profile)
    group by m.profile
)

select * from final
