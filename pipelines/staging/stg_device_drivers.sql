-- Which devices follow which local driver (data/device_drivers.csv): the driver (income or
-- age) and the prefix of the factors giving the equipment rate by income decile or age band.
select device, driver, rates
from raw_device_drivers
