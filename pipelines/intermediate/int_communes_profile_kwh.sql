-- Annual use-phase electricity of each commune per usage profile: the devices' use_kwh
-- (int_communes_device_footprint, by the device's profile) and the registry points' kWh located
-- in the commune (int_registry_points_energy, by the kind's profile; a kind without an
-- assignment is flat). Multiplied by the profiles' shapes (int_profiles_hourly_shape) it gives
-- the commune's use by month x hour without expanding communes x devices x 288 cells.
-- Only the communes the run's territories add up, those of the régions and EPCI it covers (the
-- upper levels are whole-territory totals, as in their layers): all of France for a national
-- run, 1,500 communes' lines instead of 35,000 for a département.
with

assignments as (
    select * from stg_usage_profile_assignments
),

-- the communes of the EPCI and régions the run covers (int_levels_geometry: whole units)
needed as (
    select c.code_insee
    from stg_communes as c
    left join stg_departements as d on d.code_insee = c.departement_code
    where c.epci_siren in (select code_insee from int_levels_geometry where level = 'epci')
        or d.region_code in (select code_insee from int_levels_geometry where level = 'regions')
),

devices as (
    select d.code_insee, a.profile, exact_sum(d.use_kwh) as use_kwh
    from int_communes_device_footprint as d
    join assignments as a on a.subject_kind = 'device' and a.subject = d.device
    semi join needed as n on n.code_insee = d.code_insee
    group by all
),

registries as (
    select e.code_insee, coalesce(a.profile, 'flat') as profile, exact_sum(e.kwh) as registries_kwh
    from int_registry_points_energy as e
    left join assignments as a on a.subject_kind = 'registry' and a.subject = e.kind
    semi join needed as n on n.code_insee = e.code_insee
    group by all
),

final as (
    select
        code_insee,
        profile,
        coalesce(d.use_kwh, 0) as use_kwh,
        coalesce(r.registries_kwh, 0) as registries_kwh
    from devices as d
    full join registries as r using (code_insee, profile)
)

select * from final
