"""``territory run`` and ``territory map``: from embedded data to the output folder, all or
nothing.

Everything is written to a staging folder inside the output folder and moved into place file by
file at the end (:mod:`territory.output_folder`), so a failed or killed run leaves the previous
outputs as they were and files territory did not write are never touched. A run whose inputs,
parameters and outputs have not changed since the last one does nothing
(:mod:`territory.freshness`); that check imports nothing heavy, so it answers within a second.
The computation itself is in :mod:`territory.build`.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from territory.freshness import is_up_to_date, run_key
from territory.i18n import _
from territory.output_folder import OutputFolder
from territory.settings import RunSettings


@dataclass
class RunResult:
    """What a run produced: the output folder and its manifest; ``up_to_date`` when nothing had
    changed since the previous run, which is then the manifest's run."""

    out_dir: Path
    manifest: dict[str, Any]
    up_to_date: bool = False


def run_maps(settings: RunSettings) -> list[Path]:
    """``territory map``: compute the run's extent and write one map per département of
    ``settings.departements`` (all of France when empty) into ``<out_dir>/maps/``, each file
    replaced atomically; nothing else in the output folder is touched.

    Communes are still compared with the communes of their stratum in all of France.
    """
    from territory import build

    steps = build.Steps(progress=settings.progress)
    work = Path(tempfile.mkdtemp(prefix="territory-work-"))
    try:
        with OutputFolder(settings.out_dir, force=settings.force, wait_s=settings.wait_s,
                          command="map") as folder:
            names = build.write_departement_maps(settings, steps, work, folder.staging)
            folder.publish(remove_previous=False)
            written = [settings.out_dir / name for name in names]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    steps.say(_("done: {outputs}").format(outputs=", ".join(str(p) for p in written)))
    return written


def run_pipeline(settings: RunSettings) -> RunResult:
    """Run the whole pipeline and write the outputs into ``settings.out_dir``.

    When the previous run in that folder had the same inputs and parameters and its outputs are
    intact, nothing is computed (unless ``settings.force``) and ``up_to_date`` is set.

    Raises
    ------
    TerritoryError
        With a one-line message, for any bad input, option or output folder, or when another
        run holds the folder (:class:`~territory.errors.LockBusyError`).
    """
    started = datetime.now(UTC)
    with OutputFolder(settings.out_dir, force=settings.force, wait_s=settings.wait_s) as folder:
        key = run_key(settings)
        if not settings.force and is_up_to_date(settings.out_dir, folder.previous, key):
            return RunResult(settings.out_dir, folder.previous or {}, up_to_date=True)
        from territory import build

        steps = build.Steps(progress=settings.progress, start=time.perf_counter())
        work = Path(tempfile.mkdtemp(prefix="territory-work-"))
        try:
            manifest = build.build_outputs(settings, steps, started, work, folder.staging)
            manifest["run_key"] = key
            build.write_manifest(folder.staging / "manifest.json", manifest)
            folder.publish()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    steps.say(_("done: {outputs}").format(outputs=settings.out_dir))
    return RunResult(settings.out_dir, manifest)
