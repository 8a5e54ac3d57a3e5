"""Plumbing shared by the loaders: checksums and provenance records."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class InputRecord:
    """Provenance of one input, written to ``manifest.json``.

    ``rows_read`` = ``rows_kept`` + ``rows_set_aside`` (rows outside the scope of the table
    by design, with the reason) + ``rows_quarantined`` (bad rows, written to ``quarantine/``).
    """

    name: str
    path: str
    sha256: str
    package: str | None = None
    version: str | None = None
    vintage: str | None = None
    rows_read: int = 0
    rows_kept: int = 0
    rows_quarantined: int = 0
    rows_set_aside: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)

    def balanced(self) -> bool:
        """True when every row read is accounted for."""
        return self.rows_read == (
            self.rows_kept + self.rows_quarantined + sum(self.rows_set_aside.values())
        )
