-- Outlines of the EPCI, départements and régions the run covers: whole EPCI and régions even
-- when only some of their communes are selected, and every département of the régions
-- covered (what a région's outline is the union of). The outlines themselves are unions of
-- the communes' outlines, derived once (stg_level_outlines).
with

communes as (
    select c.code_insee, c.epci_siren, c.departement_code, d.region_code
    from stg_communes as c
    left join stg_departements as d on d.code_insee = c.departement_code
    where c.geometry is not null
),

selected as (
    select *
    from communes
    where in_extent(departement_code, code_insee)
),

covered as (
    select distinct 'epci' as level, epci_siren as code_insee from selected
    union all
    select distinct 'departements', departement_code from communes
    where region_code in (select region_code from selected)
    union all
    select distinct 'regions', region_code from selected
),

final as (
    select o.level, o.code_insee, o.geometry
    from stg_level_outlines as o
    join covered as c using (level, code_insee)
)

select * from final
