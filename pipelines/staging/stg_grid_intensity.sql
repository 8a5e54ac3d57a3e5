-- The grid's carbon intensity by month and local hour (gCO2/kWh, éCO2mix's 'Taux de CO2': direct
-- production emissions), with where each figure comes from: measured, approximated (embedded
-- table, data/grid_intensity_month_hour.csv) or user_file (--source grid=FILE).
select
    month::integer as month,
    hour::integer as hour,
    gco2_per_kwh::double as gco2_per_kwh,
    origin
from raw_grid_intensity
