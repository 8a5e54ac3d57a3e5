"""French or English: the language of the command line, from gettext catalogues.

Messages are written in English in the code and marked ``_("…")`` (``ngettext`` for plurals,
``N_`` for constants translated where they are shown); their French translations live in the
catalogue ``territory/locale/fr/LC_MESSAGES/territory.po`` (domain ``territory``), compiled to
the ``.mo`` beside it by ``scripts/compile_catalogues.py``. The catalogue also translates
argparse's own strings (``usage:``, ``error:``, …), which argparse looks up in the global gettext
domain.

Nothing is translated until :func:`install` is called — the command line does it once at start
—, so the library speaks English when used from Python. :func:`install` reads the locale as
gettext does: the first of ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` that is set
(its first ``:``-separated entry); French when it starts with ``fr``, English otherwise.
Placeholders are named (``{path}``) and filled with :meth:`str.format` after translation.

Messages recorded in a machine-read file as well as shown to the user — a registry's notes and
warnings (``notes`` of manifest.json), the names of a run's steps (keys of ``step_timings_s``)
— are :class:`Message` objects: English strings (what the files keep, whatever the locale) that
remember their template and values, translated where they are shown (:func:`translated`).
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

#: gettext domain of the catalogues (territory/locale/<language>/LC_MESSAGES/territory.mo)
DOMAIN = "territory"
#: the variables that choose the language, in gettext's order of precedence
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")

_active: gettext.NullTranslations | None = None


def locale_dir() -> Path:
    """The folder holding the catalogues (package data)."""
    return Path(__file__).resolve().parent / "locale"


def language(environ: Mapping[str, str] | None = None) -> str:
    """``"fr"`` when the locale is French, ``"en"`` otherwise (see the module docstring)."""
    environ = os.environ if environ is None else environ
    for variable in LOCALE_VARIABLES:
        value = environ.get(variable, "")
        if value:
            return "fr" if value.split(":", 1)[0].strip().lower().startswith("fr") else "en"
    return "en"


def install(environ: Mapping[str, str] | None = None) -> str:
    """Choose the language of the messages from the locale, for territory's messages and
    argparse's; return it (``"fr"`` or ``"en"``)."""
    global _active
    chosen = language(environ)
    if chosen == "fr":
        _active = gettext.translation(DOMAIN, locale_dir(), languages=["fr"], fallback=True)
        gettext.bindtextdomain(DOMAIN, str(locale_dir()))
        gettext.textdomain(DOMAIN)
    else:
        reset()
    return chosen


def reset() -> None:
    """Back to English (untranslated messages), for territory's messages and argparse's."""
    global _active
    _active = None
    if gettext.textdomain() == DOMAIN:
        gettext.textdomain("messages")


def _(message: str) -> str:
    """``message`` in the language chosen by :func:`install` (English before)."""
    return message if _active is None else _active.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """``singular`` or ``plural``, by ``n``, in the language chosen by :func:`install`."""
    if _active is None:
        return singular if n == 1 else plural
    return _active.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it (a constant translated with
    :func:`_` where it is shown)."""
    return message


class Message(str):
    """A message kept in English — the string itself, e.g. a note of manifest.json — that can
    still be shown in the user's language with :func:`translated`: ``Message("{count} rows
    with no name", count=3)`` is ``"3 rows with no name"`` and remembers its template (marked for
    the catalogue, as ``_`` marks) and its values (messages themselves, possibly)."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, /, **values: Any) -> Self:
        message = super().__new__(cls, template.format(**values))
        message.template = template
        message.values = values
        return message

    def __reduce__(self) -> tuple[Any, ...]:
        return _message, (self.template, self.values)


def _message(template: str, values: dict[str, Any]) -> Message:
    """Unpickle a :class:`Message`."""
    return Message(template, **values)


def translated(message: str) -> str:
    """``message`` in the language chosen by :func:`install`: a :class:`Message`'s template
    translated then filled (its values translated too), any other string looked up as is
    (a constant marked with :func:`N_`, or text that has no translation and stays as it is)."""
    if isinstance(message, Message):
        values = {name: translated(value) if isinstance(value, Message) else value
                  for name, value in message.values.items()}
        return _(message.template).format(**values)
    return _(message)
