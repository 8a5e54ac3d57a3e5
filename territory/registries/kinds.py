"""The kinds of registry a planner can give, declared once (light: no reader is imported)."""

from __future__ import annotations

#: source kinds, named the same in the CLI, the TOML pipeline files and the layers
KINDS = ("datacenters", "antennas", "streetlights", "cameras", "sensors", "fibre", "income")
#: kinds whose rows are points placed in communes (the others are per-commune values)
POINT_KINDS = ("datacenters", "antennas", "streetlights", "cameras", "sensors")


def all_kinds() -> tuple[str, ...]:
    """Every kind with a spec: the built-in ones (data/registries/*.toml) and those declared
    in the folders of ``TERRITORY_REGISTRY_SPECS`` (see :mod:`territory.registries.specs`)."""
    from territory.registries.specs import registry_specs

    return tuple(registry_specs())
