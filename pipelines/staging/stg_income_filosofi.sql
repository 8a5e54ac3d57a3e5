-- Median disposable income per consumption unit and poverty rate per commune, Filosofi 2021
-- (INSEE; data/income_filosofi2021.csv, current codes). Secret figures are null.
select
    code_insee,
    try_cast(fiscal_households as double) as fiscal_households,
    try_cast(median_income_eur as double) as median_income_eur,
    try_cast(poverty_rate_pct as double) as poverty_rate_pct
from raw_income_filosofi
