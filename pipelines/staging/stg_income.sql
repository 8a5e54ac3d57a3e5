-- Median income and poverty rate per commune from an income registry (one row per commune code).
select
    code_insee,
    max(median_income_eur) as median_income_eur,
    max(poverty_rate_pct) as poverty_rate_pct
from raw_income
group by code_insee
