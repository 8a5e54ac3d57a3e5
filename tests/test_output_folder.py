"""Scheduled runs into shared folders: foreign files kept, one run at a time, up-to-date runs
skipped, modes from the umask, symlinks replaced not followed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from territory.errors import LockBusyError, OutputError
from territory.output_folder import LOCK, OutputFolder
from territory.run import run_pipeline
from territory.settings import RunSettings
from tests.conftest import kill_mid_run

COMMAND = [sys.executable, "-m", "territory.cli"]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: a quick run: Loire-Atlantique without the raster
QUICK = ("run", "--departement", "44", "--no-density-raster", "--quiet")


def _run(*args: str, cwd: Path | None = None, umask: int | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout,
                          check=False, cwd=cwd, preexec_fn=set_umask)


def _foreign(folder: Path) -> dict[str, str]:
    """Put a user's files in ``folder``; return them as {relative path: content}."""
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    files = {"notes.txt": "keep", "sub/data.csv": "a,b\n1,2\n", "quarantine/mine.txt": "mine"}
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return files


def _still_there(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        assert (folder / name).read_text() == text, name


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished quick run, copied by the tests that change it."""
    out = tmp_path_factory.mktemp("quick") / "out"
    result = _run(*QUICK, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def _copy_run(quick_run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(quick_run, out, symlinks=True)
    return out


def test_foreign_folder_is_refused_and_left_as_it_was(tmp_path):
    """The data-loss report: `territory run --out d` with the user's notes in d."""
    files = _foreign(tmp_path / "d")
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    result = _run(*QUICK, "--out", str(tmp_path / "d"))
    assert result.returncode == 4, result.stderr
    assert "holds no territory manifest" in result.stderr and "--force" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    _still_there(tmp_path / "d", files)
    after = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                   if p.name != LOCK)
    assert after == before


def test_force_writes_beside_foreign_files_and_reruns_keep_them(tmp_path):
    folder = tmp_path / "d"
    files = _foreign(folder)
    result = _run(*QUICK, "--out", str(folder), "--force")
    assert result.returncode == 0, result.stderr
    _still_there(folder, files)
    assert {"communes.csv", "map.html", "territory.gpkg", "manifest.json"} <= {
        p.name for p in folder.iterdir()}
    # the folder now holds a manifest: a second run needs no --force and keeps them too
    result = _run(*QUICK, "--out", str(folder), "--datacenter-scope", "with_abroad")
    assert result.returncode == 0, result.stderr
    _still_there(folder, files)
    assert not [p for p in folder.iterdir() if p.name.startswith(".territory-partial-")]


def test_out_dot_in_a_folder_with_files(tmp_path):
    files = _foreign(tmp_path)
    result = _run(*QUICK, "--out", ".", cwd=tmp_path)
    assert result.returncode == 4
    result = _run(*QUICK, "--out", ".", "--force", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _still_there(tmp_path, files)
    assert (tmp_path / "communes.csv").is_file()


def test_failed_run_keeps_foreign_files_and_previous_outputs(quick_run, tmp_path):
    out = _copy_run(quick_run, tmp_path)
    files = _foreign(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != LOCK}
    bad = tmp_path / "population.csv"
    bad.write_text("CODGEO;PMUN\n44109;abc\n")
    result = _run(*QUICK, "--out", str(out), "--source", f"population={bad}")
    assert result.returncode == 3, result.stderr
    _still_there(out, files)
    assert {p: p.read_bytes() for p in out.rglob("*")
            if p.is_file() and p.name != LOCK} == before


def test_killed_run_keeps_foreign_files_and_the_next_run_cleans_up(quick_run, tmp_path):
    out = _copy_run(quick_run, tmp_path)
    files = _foreign(out)
    before = (out / "communes.csv").read_bytes()
    kill_mid_run([*COMMAND, "run", "--departement", "44", "--out", str(out), "--force"])
    _still_there(out, files)
    assert (out / "communes.csv").read_bytes() == before
    # the killed run's staging folder is hidden, and the next run removes it
    assert [p.name for p in out.iterdir() if p.name.startswith(".territory-partial-")]
    result = _run(*QUICK, "--out", str(out), "--force")
    assert result.returncode == 0, result.stderr
    assert not [p for p in out.iterdir() if p.name.startswith(".territory-partial-")]
    _still_there(out, files)


def test_symlink_named_like_an_output_is_replaced_not_followed(quick_run, tmp_path):
    out = _copy_run(quick_run, tmp_path)
    target = tmp_path / "precious.csv"
    target.write_text("precious")
    (out / "communes.csv").unlink()
    (out / "communes.csv").symlink_to(target)
    result = _run(*QUICK, "--out", str(out), "--force")
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "precious"
    assert not (out / "communes.csv").is_symlink()
    assert (out / "communes.csv").read_text(encoding="utf-8").startswith("code_insee,")


def test_outputs_follow_the_umask(tmp_path):
    out = tmp_path / "shared" / "out"
    result = _run(*QUICK, "--out", str(out), umask=0o022)
    assert result.returncode == 0, result.stderr
    for path in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = 0o755 if path.is_dir() else 0o644
        assert mode == expected, f"{path}: {oct(mode)}"


def test_files_of_the_previous_run_no_longer_written_are_removed(tmp_path):
    """A run with a registry, then one without: its quarantine file goes, the user's stays."""
    out = tmp_path / "out"
    cameras = FIXTURES / "map" / "cameras_44.csv"
    result = _run(*QUICK, "--out", str(out), "--source", f"cameras={cameras}")
    assert result.returncode == 0, result.stderr
    listed = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["outputs"]
    assert "quarantine/cameras.csv" in listed
    (out / "quarantine" / "mine.txt").write_text("mine")
    result = _run(*QUICK, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert not (out / "quarantine" / "cameras.csv").exists()
    assert (out / "quarantine" / "mine.txt").read_text() == "mine"


# ---------------------------------------------------------------------------------------------
# one run at a time

_HOLDER = """
import sys, time
from pathlib import Path
from territory.output_folder import OutputFolder
with OutputFolder(Path(sys.argv[1]), force=True) as folder:
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _hold(folder: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding the folder's lock for ``seconds``."""
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder), str(seconds)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "locked"
    process.stdout.close()
    return process


def test_second_run_exits_with_its_own_code_naming_the_other(tmp_path):
    out = tmp_path / "out"
    holder = _hold(out, 60)
    try:
        result = _run(*QUICK, "--out", str(out))
        assert result.returncode == 5, result.stderr
        assert f"pid {holder.pid}" in result.stderr and "started 20" in result.stderr
        assert not (out / "communes.csv").exists()
    finally:
        holder.kill()
        holder.wait()


def test_second_run_waits_for_the_first(tmp_path):
    out = tmp_path / "out"
    holder = _hold(out, 2)
    try:
        result = _run(*QUICK, "--out", str(out), "--wait", "120")
        assert result.returncode == 0, result.stderr
        assert holder.wait(timeout=10) == 0
        assert (out / "communes.csv").is_file()
    finally:
        holder.kill()


def test_lock_of_a_killed_run_is_taken_over(tmp_path):
    out = tmp_path / "out"
    holder = _hold(out, 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (out / LOCK).exists()
    with OutputFolder(out) as folder:
        assert folder.staging.is_dir()


def test_lock_in_process_and_foreign_check():
    """The context manager itself: busy lock raises LockBusyError, a file is not a folder."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        with OutputFolder(out), pytest.raises(LockBusyError):
            # flock locks belong to the open file: a second open in the same process conflicts
            OutputFolder(out).__enter__()
        (Path(tmp) / "file").write_text("x")
        with pytest.raises(OutputError, match="not a folder"):
            OutputFolder(Path(tmp) / "file").__enter__()


# ---------------------------------------------------------------------------------------------
# up to date

def _mtimes(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*")
            if p.is_file() and p.name != LOCK}


def test_unchanged_run_is_up_to_date_and_force_rebuilds(quick_run, tmp_path):
    out = _copy_run(quick_run, tmp_path)
    before = _mtimes(out)
    result = _run(*QUICK[:-1], "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stderr
    assert _mtimes(out) == before
    result = _run(*QUICK, "--out", str(out), "--force")
    assert result.returncode == 0, result.stderr
    assert _mtimes(out)["manifest.json"] != before["manifest.json"]


@pytest.mark.parametrize("change", ["corrupt", "delete"])
def test_damaged_output_is_rebuilt(quick_run, tmp_path, change):
    out = _copy_run(quick_run, tmp_path)
    original = (out / "communes.csv").read_bytes()
    if change == "corrupt":
        with (out / "communes.csv").open("r+b") as handle:
            handle.seek(100)
            handle.write(b"#")
    else:
        (out / "communes.csv").unlink()
    result = _run(*QUICK[:-1], "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "up to date" not in result.stderr
    assert (out / "communes.csv").read_bytes() == original


def test_changed_input_file_rebuilds(tmp_path):
    cameras = tmp_path / "cameras.csv"
    shutil.copyfile(FIXTURES / "map" / "cameras_44.csv", cameras)
    out = tmp_path / "out"
    settings = RunSettings(out_dir=out, departements=("44",), density_raster=False,
                           progress=False, sources=(("cameras", cameras, {}),))
    first = run_pipeline(settings)
    assert not first.up_to_date
    assert run_pipeline(settings).up_to_date
    lines = cameras.read_text(encoding="utf-8").splitlines(keepends=True)
    cameras.write_text("".join(lines[:-1]), encoding="utf-8")  # one camera fewer
    third = run_pipeline(settings)
    assert not third.up_to_date
    assert third.manifest["run_key"] != first.manifest["run_key"]
    assert third.manifest["layers"]["infrastructure"] == first.manifest["layers"]["infrastructure"] - 1


def test_run_help_lists_the_exit_codes():
    """Operators read the exit codes in `territory run --help` (and docs/scheduling.md)."""
    result = _run("run", "--help")
    assert result.returncode == 0
    for line in ("0    success", "2    usage error", "3    data error", "4    output error",
                 "5    busy", "--wait", "--force"):
        assert line in result.stdout, line
    schedule = (Path(__file__).resolve().parents[1] / "docs" / "scheduling.md").read_text(
        encoding="utf-8")
    for code in ("| 0 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |"):
        assert code in schedule


def test_an_edited_external_registry_spec_changes_the_run_key(tmp_path, monkeypatch):
    """A kind declared in a TERRITORY_REGISTRY_SPECS folder defines the run as much as data/."""
    from territory.freshness import run_key

    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "notes.txt").write_text("first", encoding="utf-8")
    monkeypatch.setenv("TERRITORY_REGISTRY_SPECS", str(specs))
    settings = RunSettings(out_dir=tmp_path / "out", departements=("44",))
    first = run_key(settings)
    (specs / "notes.txt").write_text("second", encoding="utf-8")
    assert first is not None and run_key(settings) != first
