-- People per commune and age band aged 12 and over, where an INSEE file by age band was given
-- (--source age=FILE; 12-14-year-olds are the population.share_12_14_in_0_14 of the 0-14
-- band), with the band's national share of the population (population.share_age_* factors).
with

age as (
    select * from stg_age
),

final as (
    select
        code_insee,
        unnest(['age_12_14', 'age_15_29', 'age_30_44', 'age_45_59', 'age_60_74',
            'age_75_plus']) as band,
        unnest([age_0_14 * factor('population.share_12_14_in_0_14'), age_15_29, age_30_44,
            age_45_59, age_60_74, age_75_plus]) as people,
        unnest([
            factor('population.share_age_0_14') * factor('population.share_12_14_in_0_14'),
            factor('population.share_age_15_29'), factor('population.share_age_30_44'),
            factor('population.share_age_45_59'), factor('population.share_age_60_74'),
            factor('population.share_age_75_plus')]) as share_national,
        age_0_14 + age_15_29 + age_30_44 + age_45_59 + age_60_74 + age_75_plus as people_all_ages
    from age
)

select * from final
