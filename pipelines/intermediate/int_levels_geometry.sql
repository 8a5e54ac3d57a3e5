-- Outlines of the EPCI, départements and régions the run covers, as unions of their
-- communes (whole EPCI and régions even when only some of their communes are selected).
with

communes as (
    select epci_siren, departement_code, region_code, geometry
    from int_communes_footprint
    where geometry is not null
),

selected as (
    select *
    from communes
    where len(getvariable('departements')) = 0
        or list_contains(getvariable('departements'), departement_code)
),

departements as (
    select departement_code as code_insee, region_code, ST_Union_Agg(geometry) as geometry
    from communes
    where region_code in (select region_code from selected)
    group by all
),

epci as (
    select epci_siren as code_insee, ST_Union_Agg(geometry) as geometry
    from communes
    where epci_siren in (select epci_siren from selected)
    group by all
),

regions as (
    select region_code as code_insee, ST_Union_Agg(geometry) as geometry
    from departements
    group by all
),

final as (
    select 'epci' as level, code_insee, geometry from epci
    union all
    select 'departement', code_insee, geometry from departements
    union all
    select 'region', code_insee, geometry from regions
)

select * from final
