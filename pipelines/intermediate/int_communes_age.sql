-- People aged 12 and over per commune: from its age structure where an INSEE file by age band
-- was given (--source age=FILE), else the national share (population.share_12plus).
with

population as (
    select code_insee, population from int_communes_population
),

known as (
    select code_insee, sum(people) / nullif(any_value(people_all_ages), 0) as share_12plus
    from int_communes_age_bands
    group by 1
),

final as (
    select
        p.code_insee,
        p.population * coalesce(k.share_12plus, factor('population.share_12plus')) as persons_12plus,
        p.population * coalesce(k.share_12plus, factor_low('population.share_12plus'))
            as persons_12plus_low,
        p.population * coalesce(k.share_12plus, factor_high('population.share_12plus'))
            as persons_12plus_high,
        -- people aged 12+ at the national share: what the commune would count without its
        -- age structure
        p.population * factor('population.share_12plus') as persons_12plus_national_share,
        k.code_insee is not null as age_structure_known
    from population as p
    left join known as k using (code_insee)
)

select * from final
