"""The command line in French when the locale is French, in English otherwise (territory.i18n,
territory/locale/fr/LC_MESSAGES/territory.po), and the catalogue kept in step with the code."""

from __future__ import annotations

import gettext
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from territory import i18n
from territory.registries import read_registry
from territory.registries.kinds import canonical_kind

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CAMERAS = FIXTURES / "infrastructure" / "cameras_paris_lonlat.csv"
COMMAND = [sys.executable, "-m", "territory.cli"]


def _compiler() -> ModuleType:
    """scripts/compile_catalogues.py, imported from its file."""
    spec = importlib.util.spec_from_file_location("compile_catalogues",
                                                  ROOT / "scripts" / "compile_catalogues.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def territory(*args: str, lang: str) -> subprocess.CompletedProcess[str]:
    """Run the command line with only ``LANG`` choosing the locale."""
    env = {k: v for k, v in os.environ.items() if k not in i18n.LOCALE_VARIABLES}
    env["LANG"] = lang
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([*COMMAND, *args], env=env, capture_output=True, text=True,
                          check=False, timeout=300)


@pytest.fixture
def french() -> Iterator[None]:
    """territory's messages in French for one in-process test, English again after."""
    i18n.install({"LANG": "fr_FR.UTF-8"})
    yield
    i18n.reset()


def test_language_follows_gettext_precedence():
    assert i18n.language({"LANG": "fr_FR.UTF-8"}) == "fr"
    assert i18n.language({"LANG": "fr_CA"}) == "fr"
    assert i18n.language({"LANG": "C"}) == "en"
    assert i18n.language({}) == "en"
    assert i18n.language({"LANG": "de_DE.UTF-8"}) == "en"
    # LANGUAGE, then LC_ALL, then LC_MESSAGES, then LANG; LANGUAGE may list several
    assert i18n.language({"LANGUAGE": "fr:en", "LANG": "C"}) == "fr"
    assert i18n.language({"LC_ALL": "C.UTF-8", "LANG": "fr_FR.UTF-8"}) == "en"
    assert i18n.language({"LC_MESSAGES": "fr_BE.UTF-8", "LANG": "en_GB"}) == "fr"


def test_library_speaks_english_until_installed(monkeypatch):
    monkeypatch.setenv("LANGUAGE", "fr")
    i18n.reset()
    assert i18n._("empty row") == "empty row"
    assert i18n.install() == "fr"
    try:
        assert i18n._("empty row") == "ligne vide"
        assert i18n.ngettext("expected %s argument", "expected %s arguments", 2) == (
            "%s arguments attendus")
        # argparse's messages go through gettext's global domain
        assert gettext.gettext("usage: ") == "utilisation : "
    finally:
        i18n.reset()
    assert i18n._("empty row") == "empty row"
    assert gettext.gettext("usage: ") == "usage: "


def test_help_in_french_and_in_english():
    french = territory("--help", lang="fr_FR.UTF-8")
    assert french.returncode == 0, french.stderr
    assert french.stdout.startswith("utilisation : territory")
    assert "Empreinte environnementale du numérique" in french.stdout
    assert "afficher ce message d'aide et quitter" in french.stdout
    english = territory("--help", lang="C")
    assert english.returncode == 0, english.stderr
    assert english.stdout.startswith("usage: territory")
    assert "Environmental footprint of digital technology" in english.stdout
    assert "Empreinte" not in english.stdout

    run_help = territory("run", "--help", lang="fr_FR.UTF-8")
    assert "codes de sortie :" in run_help.stdout
    assert "dossier de sortie (par défaut : out/)" in run_help.stdout
    assert "natures, avec leurs noms français : " in " ".join(run_help.stdout.split())


def test_argparse_usage_and_error_in_french():
    result = territory("validate", "sites.csv", lang="fr_FR.UTF-8")
    assert result.returncode == 2
    assert result.stderr.startswith("utilisation : territory validate")
    assert "territory validate : erreur : les arguments suivants sont requis : --kind" in (
        result.stderr)
    english = territory("validate", "sites.csv", lang="C")
    assert "territory validate: error: the following arguments are required: --kind" in (
        english.stderr)
    choice = territory("compare", "a", "b", "--level", "canton", lang="fr_FR.UTF-8")
    assert "choix invalide : 'canton' (choisir parmi" in choice.stderr


def test_unknown_departement_in_both_languages():
    french = territory("run", "--departement", "Loire Atlantiqe", "--out", "unused",
                       lang="fr_FR.UTF-8")
    assert french.returncode == 2
    assert french.stderr.strip() == (
        "territory : erreur : département inconnu 'Loire Atlantiqe' ; les plus proches : "
        "Loire-Atlantique (44), Pyrénées-Atlantiques (64)")
    english = territory("run", "--departement", "Loire Atlantiqe", "--out", "unused", lang="C")
    assert english.returncode == 2
    assert english.stderr.strip() == (
        "territory: error: unknown département 'Loire Atlantiqe'; closest: "
        "Loire-Atlantique (44), Pyrénées-Atlantiques (64)")


def test_missing_file_in_both_languages(tmp_path):
    missing = tmp_path / "sites.csv"
    french = territory("validate", str(missing), "--kind", "antennes", lang="fr_FR.UTF-8")
    assert french.returncode == 3
    assert french.stderr.strip() == f"territory : erreur : {missing} : fichier antennas introuvable"
    english = territory("validate", str(missing), "--kind", "antennas", lang="C")
    assert english.returncode == 3
    assert english.stderr.strip() == f"territory: error: {missing}: antennas file not found"


def test_quarantine_reasons_in_french(french, tmp_path):
    from territory.quarantine import write_quarantine_csv

    load = read_registry("cameras", CAMERAS)
    reasons = [row["reason"] for row in load.quarantine]
    assert "coordonnées non numériques : lon='abc'" in reasons
    write_quarantine_csv(tmp_path / "cameras.csv", load.quarantine)
    text = (tmp_path / "cameras.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("line,reason,")  # the columns keep their names
    assert "coordonnées non numériques : lon='abc'" in text
    i18n.reset()
    english = read_registry("cameras", CAMERAS)
    assert "non-numeric coordinates: lon='abc'" in [row["reason"] for row in english.quarantine]


def test_validate_output_in_french():
    result = territory("validate", str(CAMERAS), "--kind", "videoprotection", lang="fr_FR.UTF-8")
    assert result.returncode == 0, result.stderr
    assert "  lignes lues :                11" in result.stdout
    assert "lignes en quarantaine :      4" in result.stdout
    assert "coordonnées non numériques (lignes 5)" in result.stdout
    report = json.loads(territory("validate", str(CAMERAS), "--kind", "cameras", "--json",
                                  lang="fr_FR.UTF-8").stdout)
    # the keys are a machine contract: English; the human messages follow the locale
    assert {"kind", "rows_read", "rows_kept", "rows_quarantined", "reasons"} <= set(report)
    assert "coordonnées non numériques" in [entry["reason"] for entry in report["reasons"]]
    english = territory("validate", str(CAMERAS), "--kind", "cameras", lang="C")
    assert "rows quarantined: 4" in english.stdout
    assert "non-numeric coordinates (rows 5)" in english.stdout


def test_french_kind_names_are_accepted():
    for name, kind in [("antennes", "antennas"), ("centres_de_donnees", "datacenters"),
                       ("Centres de données", "datacenters"), ("eclairage", "streetlights"),
                       ("éclairage public", "streetlights"), ("cameras", "cameras"),
                       ("caméras", "cameras"), ("videoprotection", "cameras"),
                       ("vidéoprotection", "cameras"), ("capteurs", "sensors"),
                       ("fibre", "fibre"), ("revenus", "income")]:
        assert canonical_kind(name) == kind, name


def test_catalogue_is_compiled_and_complete():
    """Fails when the .mo is older than the .po, or a message marked in territory/ (``_``,
    ``N_``, ``ngettext``) has no French translation: run scripts/compile_catalogues.py after
    editing the .po, and translate every new message there."""
    compiler = _compiler()
    assert compiler.catalogues(), "no catalogue under territory/locale"
    assert compiler.problems() == []
    # argparse's messages are in the catalogue too
    translated = {e.msgid if e.msgid_plural is None else f"{e.msgid}\0{e.msgid_plural}"
                  for po in compiler.catalogues() for e in compiler.read_po(po) if e.translated}
    missing = set(compiler.argparse_messages()) - translated
    assert not missing, f"argparse messages without a French translation: {sorted(missing)}"


def test_the_checker_sees_a_stale_catalogue_and_a_missing_translation(tmp_path):
    compiler = _compiler()
    po = compiler.catalogues()[0]
    entries = compiler.read_po(po)
    assert compiler.compile_mo(entries) == po.with_suffix(".mo").read_bytes()
    fewer = [e for e in entries if e.msgid != "empty row"]
    assert compiler.compile_mo(fewer) != po.with_suffix(".mo").read_bytes()
    package = tmp_path / "territory"
    package.mkdir()
    (package / "module.py").write_text(
        'from territory.i18n import _\nA = _("a message nobody translated")\n'
        'B = _(f"an f-string {A}")\n', encoding="utf-8")
    compiler.ROOT = tmp_path
    marked = compiler.marked_messages(package)
    assert "a message nobody translated" in marked
    assert marked[""] == ["territory/module.py:3"]


def test_translations_keep_their_placeholders():
    compiler = _compiler()
    placeholder = re.compile(r"\{[^{}]*\}|%\([a-z_]+\)[sr]|%[sr]")
    for po in compiler.catalogues():
        for entry in compiler.read_po(po):
            if not entry.msgid:
                continue
            for text in entry.msgstr:
                assert sorted(placeholder.findall(text)) == sorted(
                    placeholder.findall(entry.msgid)), (po, entry.msgid)
                assert "\n" not in text or "\n" in entry.msgid, entry.msgid


# -- messages of every module family in French (issue 12, item 1) -------------------------------


def test_message_is_english_where_recorded_and_translated_where_shown(french):
    note = i18n.Message("{count} rows had a commune code without its leading zero "
                        "(e.g. 1001 → 01001)", count=3)
    assert note == "3 rows had a commune code without its leading zero (e.g. 1001 → 01001)"
    assert json.loads(json.dumps([note])) == [str(note)]  # what manifest.json records
    assert i18n.translated(note) == (
        "3 lignes avaient un code commune sans son zéro initial (p. ex. 1001 → 01001)")
    nested = i18n.Message("file: {note}", note=i18n.Message("gzip-compressed"))
    assert i18n.translated(nested) == "fichier : compressé en gzip"
    import pickle

    assert i18n.translated(pickle.loads(pickle.dumps(note))) == i18n.translated(note)


def test_registry_notes_stay_english_in_the_manifest_and_show_in_french(french):
    from territory.validate import format_report, validate_file

    load = read_registry("cameras", CAMERAS)
    assert load.record is not None
    # the manifest's notes are English whatever the locale (a machine contract)
    assert any(note.startswith("columns detected: x=lon, y=lat") for note in load.record.notes)
    assert "CRS not declared: WGS84 (EPSG:4326) inferred from coordinate ranges" in (
        load.record.notes)
    shown = [i18n.translated(w) for w in load.warnings]
    assert any(w.startswith("colonnes détectées : x=lon, y=lat") for w in shown)
    assert "SCR non déclaré : WGS84 (EPSG:4326) déduit des étendues des coordonnées" in shown
    text = format_report(validate_file(CAMERAS, "cameras", {}))
    assert "  remarque : colonnes détectées : x=lon, y=lat" in text
    assert "columns detected" not in text


def test_factor_table_error_in_french(french, tmp_path):
    from territory.errors import FactorTableError
    from territory.sources.factors import FACTOR_COLUMNS, read_factors

    path = tmp_path / "factors.csv"
    row = {c: "x" for c in FACTOR_COLUMNS} | {"id": "tv.power_w", "value": "abc", "low": "1",
                                               "high": "2"}
    path.write_text(",".join(FACTOR_COLUMNS) + "\n" + ",".join(row[c] for c in FACTOR_COLUMNS)
                    + "\n", encoding="utf-8")
    with pytest.raises(FactorTableError) as caught:
        read_factors(path)
    assert str(caught.value) == f"{path} : ligne 2, colonne value : 'abc' n'est pas un nombre"


def test_pipeline_file_error_in_french(french, tmp_path):
    from territory.config import read_pipeline_file
    from territory.errors import ConfigError

    path = tmp_path / "run.toml"
    path.write_text('[run]\ndepartement = ["44"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_pipeline_file(path)
    assert str(caught.value).startswith(f"{path} : [run] : clés inconnues departement ; connues : ")


def test_scenario_file_error_in_french(french, tmp_path):
    from territory.errors import ConfigError
    from territory.scenarios import read_scenario

    path = tmp_path / "mine.toml"
    path.write_text('[scenario]\ntitle = "Sobriété"\ndescription = "Moins d\'écrans"\n'
                    "[levers]\nlifetim = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_scenario(path, ["smartphone"])
    message = str(caught.value)
    assert message.startswith(f"{path} : [levers] : clé inconnue 'lifetim'"), message
    assert " ; connues : " in message and "\n" not in message
    i18n.reset()
    with pytest.raises(ConfigError, match=r": \[levers\]: unknown key 'lifetim'"):
        read_scenario(path, ["smartphone"])


def test_grid_file_error_in_french(french, tmp_path):
    from territory.errors import InputError
    from territory.sources.grid import read_eco2mix

    path = tmp_path / "eco2mix.csv"
    path.write_text("Date - Heure;Taux de CO2 (g/kWh)\n2024-01-15T18:30:00+01:00;beaucoup\n",
                    encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_eco2mix(path)
    assert str(caught.value) == (
        f"{path} : ligne 2, colonne 'Taux de CO2 (g/kWh)' : 'beaucoup' n'est pas un taux de "
        "CO2 en g/kWh (un nombre entre 0 et 2000)")


def test_compare_summary_in_french(french, tmp_path):
    from territory.compare import Comparison, format_summary

    same = {"old": "v1", "new": "v1"}
    result = Comparison(
        level="commune", old_dir=tmp_path / "2025", new_dir=tmp_path / "2026",
        csv_path=tmp_path / "compare.csv", why_path=tmp_path / "compare-why.json",
        columns=["footprint_tco2e"], skipped=[], statuses={"matched": 2},
        totals={"footprint_tco2e": {"old": 10.0, "new": 12.0, "change_pct": 20.0}}, top=[],
        unmatched=[{"status": "only_old", "code_insee": "44225", "nom": "Ancienne"}],
        why={"factor_table_version": same, "population_vintage": same,
             "territory_version": same, "parameters_changed": {}, "inputs_changed": [],
             "inputs_appeared": [], "inputs_disappeared": [], "rows_kept_changed": []})
    lines = format_summary(result).splitlines()
    assert lines[1] == "totaux (tous les territoires de chaque calcul) :"
    assert "territoires : 2 matched" in lines
    assert "aucune empreinte n'a changé" in lines
    assert "seulement dans l'ancien calcul (only_old) : 44225 Ancienne" in lines
    assert "  version des tables de facteurs : inchangé (v1)" in lines
    assert "  aucune entrée, aucun paramètre ni aucune version n'a changé" in lines
    i18n.reset()
    english = format_summary(result).splitlines()
    assert "territories: 2 matched" in english
    assert "  no input, parameter or version changed" in english


def test_progress_lines_in_french_with_english_timing_keys(french, capsys):
    from territory.build import Steps

    steps = Steps(progress=True, live=False)  # cron: one line per step when it ends
    with steps.step(i18n.N_("footprint models and boundaries of the upper levels")):
        pass
    with steps.step(i18n.Message("reading {kind} registry {path}", kind="fibre",
                                 path="ftth.csv")):
        pass
    steps.say(i18n._("done: {outputs}").format(outputs="out"))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith("] modèles d'empreinte et contours des niveaux supérieurs : 0.0 s")
    assert lines[1].endswith("] lecture du registre fibre ftth.csv : 0.0 s")
    assert lines[2].endswith("] terminé : out")
    # the manifest's step_timings_s keys stay English (tests and tools look for them)
    assert list(steps.timings) == ["footprint models and boundaries of the upper levels",
                                   "reading fibre registry ftth.csv"]
