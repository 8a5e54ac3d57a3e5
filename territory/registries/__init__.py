"""Registries a planner holds, read as they are published: datacenters, mobile antenna sites,
connected city infrastructure (street lights, cameras, sensors), fibre coverage and income.

Each kind has one module with a ``read(path, *, options)`` function returning a
:class:`~territory.registries._common.RegistryLoad`: the rows kept (points with their
coordinates and CRS, or per-commune values), the rows quarantined with their reason, and the
provenance record. Nothing here joins to communes or computes emissions: the SQL models do.
"""

from __future__ import annotations

from typing import Any

from territory.registries.kinds import KINDS

__all__ = ["KINDS", "RegistryLoad", "read_registry"]


def __getattr__(name: str) -> Any:
    # the readers (and pandas) are imported when first used: the command line starts fast
    if name in ("RegistryLoad", "read_registry"):
        from territory.registries import _common

        return getattr(_common, name)
    raise AttributeError(name)
