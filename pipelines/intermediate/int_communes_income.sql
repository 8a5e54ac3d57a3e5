-- Median disposable income per commune and the standard-of-living decile it falls in.
-- The commune's own figure (an income file given with --source income=FILE, else Filosofi
-- 2021); where INSEE keeps it secret (small communes), the mean of the EPCI's communes that
-- have one, else of the département's (weighted by households): median_income_source says.
with

communes as (
    select code_insee, departement_code, epci_siren from stg_communes
),

households as (
    select code_insee, households from int_communes_households
),

supplied as (
    select code_insee, median_income_eur, poverty_rate_pct from stg_income
),

filosofi as (
    select * from stg_income_filosofi
),

own as (
    select
        c.code_insee,
        c.departement_code,
        c.epci_siren,
        h.households,
        coalesce(s.median_income_eur, f.median_income_eur) as median_income_eur,
        coalesce(s.poverty_rate_pct, f.poverty_rate_pct) as poverty_rate_pct,
        case
            when s.median_income_eur is not null then 'fichier de revenus fourni'
            when f.median_income_eur is not null then 'Filosofi 2021 (commune)'
        end as median_income_source
    from communes as c
    join households as h using (code_insee)
    left join supplied as s using (code_insee)
    left join filosofi as f using (code_insee)
),

epci as (
    select
        epci_siren,
        exact_sum(median_income_eur * households) / nullif(exact_sum(households), 0) as median_income_eur
    from own
    where median_income_eur is not null and epci_siren is not null
    group by 1
),

departements as (
    select
        departement_code,
        exact_sum(median_income_eur * households) / nullif(exact_sum(households), 0) as median_income_eur
    from own
    where median_income_eur is not null
    group by 1
),

placed as (
    select
        o.code_insee,
        coalesce(o.median_income_eur, e.median_income_eur, d.median_income_eur) as median_income_eur,
        o.poverty_rate_pct,
        case
            when o.median_income_eur is not null then o.median_income_source
            when e.median_income_eur is not null then 'secret : moyenne des communes de l''EPCI'
            when d.median_income_eur is not null then 'secret : moyenne des communes du département'
        end as median_income_source
    from own as o
    left join epci as e using (epci_siren)
    left join departements as d using (departement_code)
),

-- the national limits D1 … D9 of the standard of living (disposable income per consumption unit)
limits as (
    select i as decile, factor('income.decile_' || i || '_eur') as limit_eur
    from range(1, 10) as t(i)
),

-- the decile (1-10) of the national distribution the commune's median falls in
deciles as (
    select p.code_insee, 1 + count(*) as income_decile
    from placed as p
    join limits as l on p.median_income_eur > l.limit_eur
    group by 1
),

final as (
    select
        p.code_insee,
        p.median_income_eur,
        p.poverty_rate_pct,
        p.median_income_source,
        case when p.median_income_eur is not null then coalesce(d.income_decile, 1) end
            as income_decile
    from placed as p
    left join deciles as d using (code_insee)
)

select * from final
