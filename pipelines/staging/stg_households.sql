-- Households and population per commune, census 2021 (INSEE; data/households_census2021.csv,
-- current codes): the persons per household of each commune.
select
    code_insee,
    population_2021::double as population_2021,
    households_2021::double as households_2021
from raw_households_census
where households_2021::double > 0 and population_2021::double > 0
