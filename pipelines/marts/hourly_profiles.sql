-- Usage profiles by month x local hour, for the writers: the share of each profile's annual use
-- in the cell and the tCO2e per kWh there (the life-cycle electricity factor x the grid's
-- intensity over its annual mean, see int_profiles_hourly_shape).
select
    profile,
    month,
    hour,
    annual_share,
    intensity_weight,
    tco2e_per_kwh,
    gco2_per_kwh,
    origin
from int_profiles_hourly_shape
