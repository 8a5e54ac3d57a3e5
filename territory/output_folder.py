"""The output folder of a run: what territory owns in it, one writer at a time, atomic updates.

Operators point scheduled runs at folders that hold other things too. A run therefore

- owns only the names it writes (:data:`OWNED_NAMES`, the outputs contract of
  ``shared/mission/contract.md`` plus the density raster and ``maps/``) and the files the previous
  run's ``manifest.json`` lists; every other file and folder in the output folder is left alone;
- refuses a non-empty folder that holds neither a territory manifest nor only names it owns,
  unless forced (and even then removes nothing it does not own);
- writes everything into a hidden staging folder inside the output folder and moves each file
  into place with :func:`os.replace` (atomic per file; a symlink named like an output is replaced,
  never followed), ``manifest.json`` last, then removes the files the previous run wrote that
  this run no longer writes;
- gives files and folders the user's umask (``mkdtemp`` would leave them ``0700``);
- holds an exclusive lock on ``.territory.lock`` (:func:`fcntl.flock`) for the whole run and
  removes the file at the end: the kernel releases the lock when the process dies, so the file
  left by a killed run is simply locked again by the next run.

The lock is hand-written on :mod:`fcntl` rather than taken from ``filelock``: ``filelock`` opens
its lock file with ``O_TRUNC``, which would erase the pid and start time that a waiting run
reads from the file to say who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Self

from territory.errors import LockBusyError, OutputError
from territory.overseas import density_raster_names

MANIFEST = "manifest.json"
LOCK = ".territory.lock"
STAGING_PREFIX = ".territory-partial-"

#: top-level names a run may write: the outputs contract, the density raster and its style,
#: the QGIS project, the per-département maps (``territory map`` and multi-département runs) and
#: the overseas density rasters
OWNED_NAMES = density_raster_names() | frozenset({
    "territory.gpkg", "map.html", "communes.csv", MANIFEST, "quarantine", "scenarios.csv",
    "hourly.csv", "sensitivity.csv", "territory_density_1km.tif", "territory_density_1km.qml",
    "maps", "compare.csv", "territoire.xlsx", "territory.qgz",
    # `territory target`
    "targeting.csv", "targeting.gpkg", "targeting.html", "targeting.json",
})


def _umask() -> int:
    # os.umask is the only way to read it; set and restore at once (the run is single-threaded
    # when this is called)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The territory manifest in ``folder``, or ``None`` when there is none (or it is not one)."""
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or "territory_version" not in data:
        return None
    return data


def _safe_relative(name: str) -> PurePosixPath | None:
    """``name`` as a path inside the folder, or ``None`` when it would leave it."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(p in ("..", ".", "") for p in path.parts):
        return None
    return path


def previous_outputs(manifest: dict[str, Any] | None) -> set[PurePosixPath]:
    """Files the previous run wrote, as listed by its manifest (paths that stay inside)."""
    if not manifest or not isinstance(manifest.get("outputs"), dict):
        return set()
    found = (_safe_relative(str(name)) for name in manifest["outputs"])
    return {p for p in found if p is not None}


class OutputFolder:
    """An output folder being written by one run (see the module docstring).

    Use as a context manager: entering creates the folder, takes the lock, checks that the
    folder may be written and creates the staging folder; leaving removes the staging folder
    (whatever happened) and releases the lock. :meth:`publish` moves the staged files into place.
    """

    def __init__(self, path: Path, *, force: bool = False, wait_s: float = 0.0,
                 command: str = "run") -> None:
        self.path = path
        self.force = force
        self.wait_s = wait_s
        self.command = command
        self.staging: Path = path
        self.previous: dict[str, Any] | None = None
        self._lock_fd: int | None = None
        self._created = False
        self._published = False
        self._mode = 0o666 & ~_umask()

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        try:
            if self.path.exists() and not self.path.is_dir():
                msg = f"the output path {self.path} exists and is not a folder"
                raise OutputError(msg)
            self._created = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock()
        except OSError as error:
            if isinstance(error, OutputError | LockBusyError):
                raise
            msg = f"cannot write the output folder {self.path}: {error.strerror or error}"
            raise OutputError(msg) from error
        try:
            self.previous = read_manifest(self.path)
            self._refuse_foreign_folder()
            self._remove_stale_staging()
            self.staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self.path))
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.staging != self.path:
                shutil.rmtree(self.staging, ignore_errors=True)
        finally:
            self._unlock()
        if self._created and not self._published:
            # a run that failed in a folder it created leaves no empty folder behind
            with contextlib.suppress(OSError):
                self.path.rmdir()

    # -- ownership ---------------------------------------------------------------------------

    def _refuse_foreign_folder(self) -> None:
        if self.previous is not None or self.force:
            return
        foreign = sorted(
            entry.name for entry in self.path.iterdir()
            if entry.name not in OWNED_NAMES and entry.name != LOCK
            and not entry.name.startswith(STAGING_PREFIX)
        )
        if foreign:
            shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
            msg = (f"the output folder {self.path} is not empty and holds no territory manifest "
                   f"({len(foreign)} other entries: {shown}); choose an empty or new folder, or "
                   "add --force to write territory's files beside them (nothing else is touched)")
            raise OutputError(msg)

    def _remove_stale_staging(self) -> None:
        """Staging folders of killed runs (the lock is ours, so none is in use)."""
        for entry in self.path.glob(f"{STAGING_PREFIX}*"):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)

    # -- publishing --------------------------------------------------------------------------

    def publish(self, *, remove_previous: bool = True) -> list[str]:
        """Move every staged file into the output folder (``manifest.json`` last), remove the
        files the previous run wrote that this one did not (unless ``remove_previous`` is false:
        ``territory map`` adds maps, it does not replace a run), and return the files published."""
        staged = sorted(
            PurePosixPath(p.relative_to(self.staging).as_posix())
            for p in self.staging.rglob("*") if p.is_file() and not p.is_symlink()
        )
        staged.sort(key=lambda p: p.as_posix() == MANIFEST)
        folders = {p.relative_to(self.staging) for p in self.staging.rglob("*") if p.is_dir()}
        try:
            for folder in sorted(folders, key=lambda p: len(p.parts)):
                self._make_folder(folder)
            for rel in staged:
                source = self.staging.joinpath(*rel.parts)
                os.chmod(source, self._mode)
                os.replace(source, self.path.joinpath(*rel.parts))
            stale = previous_outputs(self.previous) - set(staged) if remove_previous else set()
            for rel in sorted(stale):
                target = self.path.joinpath(*rel.parts)
                if target.is_file() or target.is_symlink():
                    target.unlink()
                    self._remove_if_empty(rel.parent, keep=folders)
        except OSError as error:
            msg = f"cannot write into the output folder {self.path}: {error.strerror or error}"
            raise OutputError(msg) from error
        finally:
            self._published = True
        return [p.as_posix() for p in staged]

    def _remove_if_empty(self, rel: PurePosixPath, keep: set[Path]) -> None:
        """Remove an owned sub-folder the previous run wrote into, once nothing is left in it."""
        if not rel.parts or Path(*rel.parts) in keep or rel.parts[0] not in OWNED_NAMES:
            return
        target = self.path.joinpath(*rel.parts)
        if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
            target.rmdir()

    def _make_folder(self, rel: Path) -> None:
        """Create ``rel`` inside the output folder; a symlink or file in its place is replaced."""
        target = self.path / rel
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        if not target.exists():
            target.mkdir(mode=0o777 & ~_umask())

    # -- lock --------------------------------------------------------------------------------

    def _lock(self) -> None:
        path = self.path / LOCK
        deadline = time.monotonic() + max(self.wait_s, 0.0)
        while True:
            if not self.path.is_dir():  # a run that failed there removed the folder it created
                self.path.mkdir(parents=True, exist_ok=True)
                self._created = True
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), self._mode)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    msg = (f"another territory run is writing {self.path} ({holder}); "
                           "try again later, or wait for it with --wait SECONDS")
                    raise LockBusyError(msg) from None
                os.close(fd)
                time.sleep(0.2)
                continue
            # the holder we waited for removes the file when it is done: a lock on a file that
            # is no longer at the path locks nothing, so take the one that is there now
            try:
                same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({
            "pid": os.getpid(), "command": self.command,
            "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        }).encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        """Remove the lock file while still holding it (a waiting run then re-opens the path),
        then release it. A killed run leaves the file, unlocked: the next run takes it."""
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                (self.path / LOCK).unlink()
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None


def _read_holder(fd: int) -> str:
    """Who holds the lock, from what it wrote into the lock file."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "pid unknown"
    return f"pid {info.get('pid', '?')}, `territory {info.get('command', '?')}`, started {info.get('started', '?')}"

