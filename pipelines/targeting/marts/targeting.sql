-- Targeted equipment of collège pupils (`territory target`): one row per commune of the run's
-- extent and policy, and one per département and policy (level = 'departement', the sums of its
-- communes). Read on top of the footprint models (the communes mart, the age file's staging).
--   pupils: people aged 11-14, the population.share_11_14_in_0_14 of the commune's 0-14 band
--     where an age file was given (--source age=FILE), else population x population.share_11_14
--     (pupils_estimated);
--   equipment rate: the share of households with a computer in the national standard-of-living
--     decile of the commune's median income (computer_by_income.decile_N); where Filosofi gives
--     the poverty rate p, the poor households take the first decile's rate:
--     rate = p x rate(decile 1) + (1 - p) x rate(decile of the median);
--   pupils without a computer = pupils x (1 - rate);
--   policies: all (a new laptop per pupil), disadvantaged (a new laptop per pupil without a
--     computer), refurbished (a refurbished laptop per pupil without a computer: embodied x
--     refurbished.laptop_embodied_share);
--   avoided purchases: laptops given to pupils already equipped x
--     targeting.purchase_substitution_share, each a new laptop the household does not buy;
--   net embodied = embodied - avoided purchases x a new laptop's embodied emissions; annualised
--     over laptop.lifetime_years; per pupil newly equipped (the pupils without a computer).
with

extent_communes as (
    select code_insee, nom, population, income_decile, poverty_rate_pct, departement_code
    from communes
),

age as (
    select code_insee, age_0_14 from stg_age
),

pupils as (
    select
        c.*,
        coalesce(a.age_0_14 * factor('population.share_11_14_in_0_14'),
            c.population * factor('population.share_11_14')) as pupils,
        a.age_0_14 is null as pupils_estimated
    from extent_communes as c
    left join age as a using (code_insee)
),

-- the equipment rate of each decile (1-10)
decile_rates as (
    select t.decile, factor('computer_by_income.decile_' || t.decile) as rate
    from range(1, 11) as t(decile)
),

rated as (
    select
        p.*,
        -- no decile (no median income anywhere around): the national rate
        coalesce(d.rate, factor('check.households_with_computer_share')) as decile_rate,
        p.poverty_rate_pct / 100 as poverty_share
    from pupils as p
    left join decile_rates as d on d.decile = p.income_decile
),

equipped as (
    select
        r.*,
        case when r.poverty_share is null then r.decile_rate
            else r.poverty_share * (select rate from decile_rates where decile = 1)
                + (1 - r.poverty_share) * r.decile_rate
        end as equipment_rate
    from rated as r
),

policies as (
    select * from (values
        ('all', false, false),
        ('disadvantaged', true, false),
        ('refurbished', true, true)
    ) as t(policy, only_without_computer, refurbished)
),

per_commune as (
    select
        'commune' as level,
        e.code_insee,
        e.nom,
        e.departement_code,
        p.policy,
        e.pupils,
        e.pupils_estimated,
        e.income_decile,
        e.poverty_rate_pct,
        e.equipment_rate,
        e.pupils * (1 - e.equipment_rate) as pupils_without_computer,
        case when p.only_without_computer then e.pupils * (1 - e.equipment_rate)
            else e.pupils end as devices,
        case when p.only_without_computer then 0.0
            else e.pupils * e.equipment_rate end as devices_to_equipped,
        factor('laptop.embodied_kgco2e') / 1000 * case when p.refurbished
            then factor('refurbished.laptop_embodied_share') else 1.0 end as device_tco2e
    from equipped as e
    cross join policies as p
),

measured as (
    select
        * exclude (device_tco2e),
        devices * device_tco2e as embodied_tco2e,
        devices_to_equipped * factor('targeting.purchase_substitution_share')
            as avoided_purchases
    from per_commune
),

netted as (
    select
        *,
        embodied_tco2e - avoided_purchases * factor('laptop.embodied_kgco2e') / 1000
            as net_embodied_tco2e
    from measured
),

departements as (
    select
        'departement' as level,
        n.departement_code as code_insee,
        any_value(d.nom) as nom,
        n.departement_code,
        n.policy,
        sum(n.pupils) as pupils,
        bool_or(n.pupils_estimated) as pupils_estimated,
        null::bigint as income_decile,
        null::double as poverty_rate_pct,
        1 - sum(n.pupils_without_computer) / nullif(sum(n.pupils), 0) as equipment_rate,
        sum(n.pupils_without_computer) as pupils_without_computer,
        sum(n.devices) as devices,
        sum(n.devices_to_equipped) as devices_to_equipped,
        sum(n.embodied_tco2e) as embodied_tco2e,
        sum(n.avoided_purchases) as avoided_purchases,
        sum(n.net_embodied_tco2e) as net_embodied_tco2e
    from netted as n
    left join stg_departements as d on d.code_insee = n.departement_code
    group by n.departement_code, n.policy
),

final as (
    select
        level,
        code_insee,
        nom,
        departement_code,
        policy,
        pupils,
        pupils_estimated,
        income_decile,
        poverty_rate_pct,
        equipment_rate,
        pupils_without_computer,
        devices,
        devices_to_equipped,
        embodied_tco2e,
        avoided_purchases,
        net_embodied_tco2e,
        net_embodied_tco2e / factor('laptop.lifetime_years') as annualised_tco2e,
        net_embodied_tco2e / nullif(pupils_without_computer, 0)
            as tco2e_per_pupil_newly_equipped
    from (
        select * from netted
        union all by name
        select * from departements
    )
)

select * from final
