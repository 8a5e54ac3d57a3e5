-- Annual use-phase electricity of each commune per usage profile: the devices' use_kwh
-- (int_communes_device_footprint, by the device's profile) and the registry points' kWh located
-- in the commune (int_registry_points_energy, by the kind's profile; a kind without an
-- assignment is flat). Multiplied by the profiles' shapes (int_profiles_hourly_shape) it gives
-- the commune's use by month x hour without expanding communes x devices x 288 cells.
with

assignments as (
    select * from stg_usage_profile_assignments
),

devices as (
    select d.code_insee, a.profile, exact_sum(d.use_kwh) as use_kwh
    from int_communes_device_footprint as d
    join assignments as a on a.subject_kind = 'device' and a.subject = d.device
    group by all
),

registries as (
    select e.code_insee, coalesce(a.profile, 'flat') as profile, exact_sum(e.kwh) as registries_kwh
    from int_registry_points_energy as e
    left join assignments as a on a.subject_kind = 'registry' and a.subject = e.kind
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
