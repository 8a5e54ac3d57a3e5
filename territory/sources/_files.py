"""Plumbing shared by the loaders: checksums and provenance records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
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
    ``url`` and ``fetched`` (UTC date and time) are set when the file is a copy downloaded by
    ``territory fetch`` (see :func:`with_fetch_provenance`).
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
    url: str | None = None
    fetched: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)

    def balanced(self) -> bool:
        """True when every row read is accounted for."""
        return self.rows_read == (
            self.rows_kept + self.rows_quarantined + sum(self.rows_set_aside.values())
        )


def derived_file_mismatch(
    folder: Path, file: str, provenance_file: str, inputs: Sequence[str],
    records: Sequence[InputRecord],
) -> tuple[str | None, dict[str, Any]]:
    """Why ``folder/file``, derived from the inputs named ``inputs`` (SHA-256 recorded under
    ``inputs_sha256`` in ``provenance_file``), does not fit the inputs of ``records``
    (``None`` when it does), and its provenance document."""
    try:
        provenance = json.loads((folder / provenance_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"no readable {provenance_file} in {folder}", {}
    if not (folder / file).is_file():
        return f"no {file} in {folder}", provenance
    built = provenance.get("inputs_sha256", {})
    now = {r.name: r.sha256 for r in records}
    differing = sorted(n for n in inputs if built.get(n) is None or built.get(n) != now.get(n))
    if differing:
        return f"derived from other files than {', '.join(differing)}", provenance
    return None, provenance


def with_fetch_provenance(record: InputRecord) -> InputRecord:
    """``record`` with the URL and fetch date of its file when ``territory fetch`` downloaded it
    (read from the cache's sidecar); a note when the file changed since it was fetched."""
    from territory.fetch import provenance_of

    copy = provenance_of(Path(record.path))
    if copy is None:
        return record
    record.url = copy.url
    record.fetched = copy.fetched
    if record.sha256 and record.sha256 != copy.sha256:
        note = f"the cached copy changed since it was fetched from {copy.url}"
        record.notes = [*record.notes, note]
    return record
