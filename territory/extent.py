"""The extent of a run: the départements it keeps, given by code (``44``, ``2A``) or by name.

A name is compared folded (case, accents, spaces, hyphens and apostrophes ignored), so
``Loire-Atlantique``, ``loire atlantique`` and ``LOIRE ATLANTIQUE`` all give ``44``, and
``cotes d armor`` gives ``22``. An unknown value is a :class:`~territory.errors.ConfigError`
naming the closest départements (by name), and the valid codes in compact form.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

from territory.errors import ConfigError
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
    # fold_name drops a typographic apostrophe with the accents (d’Armor → darmor): make it ASCII
    return fold_name(text.replace("’", "'"))


def _as_code(value: str) -> str:
    code = value.strip().upper()
    return "0" + code if code.isdigit() and len(code) == 1 else code


def _unknown(value: str, known: Mapping[str, str], by_name: Mapping[str, str]) -> str:
    codes = _compact_codes(known)
    if _CODE_LIKE.fullmatch(value.strip()):
        return (f"unknown département code {value!r}; valid codes: {codes} "
                f"(or a name, e.g. {_label(known, '44')})")
    folded = _fold(value)
    containing = [name for name in by_name if folded and folded in name]
    close = difflib.get_close_matches(folded, list(by_name), n=_SUGGESTIONS, cutoff=0.6)
    suggested = list(dict.fromkeys([*containing, *close]))[:_SUGGESTIONS]
    if not suggested:
        return (f"unknown département {value!r}: no name is close; give a name or a code "
                f"({codes})")
    closest = ", ".join(_label(known, by_name[name]) for name in suggested)
    return f"unknown département {value!r}; closest: {closest}"


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
