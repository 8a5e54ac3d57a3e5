-- Jobs at the place of work per commune: INSEE's figure where a file was given (--source
-- jobs=FILE, P22_EMPLT…), else the commune's share of the jobs estimated from establishments by
-- size class (2014) times the national number of jobs (jobs.national_jobs). Professional
-- devices follow them.
with

communes as (
    select code_insee from stg_communes
),

supplied as (
    select * from stg_jobs_override
),

estimated as (
    select * from stg_jobs_estimate
),

national as (
    select exact_sum(jobs_estimated) as jobs_estimated from estimated
),

final as (
    select
        c.code_insee,
        coalesce(
            s.jobs,
            e.jobs_estimated / n.jobs_estimated * factor('jobs.national_jobs'),
            0
        ) as jobs,
        case
            when s.jobs is not null then 'fichier INSEE fourni'
            when e.jobs_estimated is not null
                then 'estimés : établissements par tranche d''effectif (INSEE, 2014)'
            else 'aucun établissement connu (0 emploi)'
        end as jobs_source,
        s.jobs is null as jobs_estimated
    from communes as c
    cross join national as n
    left join supplied as s using (code_insee)
    left join estimated as e using (code_insee)
)

select * from final
