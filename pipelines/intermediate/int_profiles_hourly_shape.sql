-- Each profile spread over the 12 x 24 cells of a typical year (365 days, no 29 February):
-- annual_share = the share of the profile's annual use in (month, hour) = days x day_weight x
-- share, normalised to 1 over the year; intensity_weight = the grid's intensity in the cell over
-- its annual mean, weighted by time (each cell counts its month's days), so that a flat profile
-- has a weight of exactly 1. éCO2mix's rate (direct production emissions) sets only this SHAPE;
-- the level stays the model's life-cycle factor electricity.kgco2e_per_kwh (ADEME):
-- use_tco2e(m, h) = use_kwh(m, h) x electricity.kgco2e_per_kwh / 1000 x intensity_weight(m, h).
-- low_carbon_hour: one of the month's N lowest-intensity hours (hourly.low_carbon_window_hours).
with

days as (
    select
        m::integer as month,
        dayofmonth(last_day(make_date(2023, m::integer, 1)))::double as days
    from range(1, 13) as t(m)
),

grid as (
    select
        g.*,
        d.days,
        -- summed as exact decimals: the same bits whatever the order of the rows
        sum((g.gco2_per_kwh * d.days)::decimal(38, 12)) over ()::double / sum(d.days) over ()
            as mean_gco2_per_kwh,
        row_number() over (partition by g.month order by g.gco2_per_kwh, g.hour) as rank_in_month
    from stg_grid_intensity as g
    join days as d using (month)
),

cells as (
    select
        p.profile,
        p.month,
        p.hour,
        p.flexible_share,
        g.days * p.day_weight * p.share as weight,
        g.gco2_per_kwh,
        g.origin,
        g.gco2_per_kwh / g.mean_gco2_per_kwh as intensity_weight,
        g.rank_in_month <= factor('hourly.low_carbon_window_hours') as low_carbon_hour
    from stg_usage_profiles as p
    join grid as g using (month, hour)
),

final as (
    select
        profile,
        month,
        hour,
        weight / (sum(weight::decimal(38, 12)) over (partition by profile))::double as annual_share,
        intensity_weight,
        factor('electricity.kgco2e_per_kwh') / 1000 * intensity_weight as tco2e_per_kwh,
        gco2_per_kwh,
        origin,
        low_carbon_hour,
        flexible_share
    from cells
)

select * from final
