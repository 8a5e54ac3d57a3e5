"""The kinds of registry a planner can give, declared once (light: no reader is imported).

Each kind may have other names, French ones such as ``antennes`` or ``eclairage_public``:
the ``aliases`` of its spec (``data/registries/<kind>.toml``), accepted by ``--source``,
``territory validate --kind`` and the ``kind`` of a pipeline file's sources. Names are compared
folded (case, accents, spaces and hyphens ignored: ``Éclairage public`` is ``eclairage_public``).
"""

from __future__ import annotations

import re
import unicodedata

#: source kinds, named the same in the CLI, the TOML pipeline files and the layers
KINDS = ("datacenters", "antennas", "streetlights", "cameras", "sensors", "fibre", "income")
#: kinds whose rows are points placed in communes (the others are per-commune values)
POINT_KINDS = ("datacenters", "antennas", "streetlights", "cameras", "sensors")


def all_kinds() -> tuple[str, ...]:
    """Every kind with a spec: the built-in ones (data/registries/*.toml) and those declared
    in the folders of ``TERRITORY_REGISTRY_SPECS`` (see :mod:`territory.registries.specs`)."""
    from territory.registries.specs import registry_specs

    return tuple(registry_specs())


def fold_kind(name: str) -> str:
    """A kind's name folded to compare it: lower case, no accents, ``_`` for spaces, hyphens
    and apostrophes (``Centres de données`` → ``centres_de_donnees``)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[\s\-.'’]+", "_", plain.strip().lower()).strip("_")


def kind_aliases() -> dict[str, str]:
    """Every other name of a kind (as its spec spells it) → the kind."""
    from territory.registries.specs import registry_specs

    return {alias: spec.kind for spec in registry_specs().values() for alias in spec.aliases}


def canonical_kind(name: str) -> str | None:
    """The kind that ``name`` names (a kind or one of its aliases, compared folded), or
    ``None``."""
    from territory.registries.specs import registry_specs

    folded = fold_kind(name)
    for spec in registry_specs().values():
        if folded == fold_kind(spec.kind) or folded in map(fold_kind, spec.aliases):
            return spec.kind
    return None


def kinds_help() -> str:
    """The kinds with their other names, for help texts: ``antennas (antennes), …``."""
    from territory.registries.specs import registry_specs

    return ", ".join(f"{spec.kind} ({', '.join(spec.aliases)})" if spec.aliases else spec.kind
                     for spec in registry_specs().values())
