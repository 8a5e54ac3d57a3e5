-- Which devices follow a trend of their own on top of their basis's (data/device_trajectories.csv):
-- the factor giving the yearly growth, and whether it grows the stock or the footprint per unit.
select device, growth, applies_to
from raw_device_trajectories
