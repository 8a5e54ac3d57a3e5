-- Which devices follow a trend of their own on top of their basis's (data/device_trajectories.csv):
-- the factor giving the yearly growth, whether it grows the stock or the footprint per unit, and
-- whether it is taken from the study the trajectory check compares with.
select device, growth, applies_to, from_reference
from raw_device_trajectories
