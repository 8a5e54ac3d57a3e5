-- Scalar factors (electricity, households, national datacenter figures) as one row.
select
    max(value) filter (where id = 'electricity.kgco2e_per_kwh') as electricity_kgco2e_per_kwh,
    max(low) filter (where id = 'electricity.kgco2e_per_kwh') as electricity_kgco2e_per_kwh_low,
    max(high) filter (where id = 'electricity.kgco2e_per_kwh') as electricity_kgco2e_per_kwh_high,
    max(value) filter (where id = 'population.persons_per_household') as persons_per_household,
    max(low) filter (where id = 'population.persons_per_household') as persons_per_household_low,
    max(high) filter (where id = 'population.persons_per_household') as persons_per_household_high,
    max(value) filter (where id = 'population.share_12plus') as share_12plus,
    max(low) filter (where id = 'population.share_12plus') as share_12plus_low,
    max(high) filter (where id = 'population.share_12plus') as share_12plus_high,
    max(value) filter (where id = getvariable('datacenter_factor')) as datacenters_national_tco2e,
    max(low) filter (where id = getvariable('datacenter_factor')) as datacenters_national_tco2e_low,
    max(high) filter (where id = getvariable('datacenter_factor')) as datacenters_national_tco2e_high,
    max(value) filter (where id = 'datacenters.national_electricity_kwh') as datacenters_national_kwh,
    max(low) filter (where id = 'datacenters.national_electricity_kwh') as datacenters_national_kwh_low,
    max(high) filter (where id = 'datacenters.national_electricity_kwh') as datacenters_national_kwh_high
from raw_factors
