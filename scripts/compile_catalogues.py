"""Compile the gettext catalogues of territory (``territory/locale/*/LC_MESSAGES/*.po``) into the
``.mo`` files read at run time, and check them against the messages marked in the code.

    python3 scripts/compile_catalogues.py            # write every .mo beside its .po
    python3 scripts/compile_catalogues.py --check    # exit 1 when a .mo is stale or a marked
                                                     # message has no translation

Standard library only (a small msgfmt: the ``.mo`` is GNU's format, without hash table, entries
sorted by msgid, so the same ``.po`` always gives the same bytes). Fuzzy entries and empty
translations are left out, as ``msgfmt`` does. Marked messages are the string literals given to
``_``, ``N_``, ``ngettext`` and ``Message`` (first argument) in ``territory/``; argparse's own messages (looked up in the same
catalogue) are those of the running Python's ``argparse`` module.
"""

from __future__ import annotations

import argparse
import ast
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "territory"
LOCALE = PACKAGE / "locale"
#: functions whose literal arguments are messages of the catalogue
MARKERS = {"_": 1, "N_": 1, "ngettext": 2, "Message": 1}


@dataclass
class Entry:
    """One message of a ``.po`` file."""

    msgid: str
    msgid_plural: str | None = None
    msgstr: list[str] = field(default_factory=list)
    fuzzy: bool = False
    line: int = 0

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr) and not self.fuzzy


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v"}


def _unquote(text: str, where: str) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError(f"{where}: expected a quoted string, got {text!r}")
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def read_po(path: Path) -> list[Entry]:
    """The entries of a ``.po`` file (header entry ``msgid ""`` included, obsolete ``#~`` ones
    left out)."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None
    fuzzy = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        where = f"{path}:{number}"
        if not line or line.startswith("#~"):
            continue
        if line.startswith("#,"):
            fuzzy = "fuzzy" in line
            continue
        if line.startswith("#"):
            continue
        if line.startswith("msgid "):
            current = Entry(_unquote(line[6:], where), fuzzy=fuzzy, line=number)
            entries.append(current)
            target, fuzzy = ("msgid", 0), False
        elif line.startswith("msgid_plural ") and current is not None:
            current.msgid_plural = _unquote(line[13:], where)
            target = ("msgid_plural", 0)
        elif line.startswith("msgstr[") and current is not None:
            index = int(line[7:line.index("]")])
            while len(current.msgstr) <= index:
                current.msgstr.append("")
            current.msgstr[index] = _unquote(line[line.index("]") + 1:], where)
            target = ("msgstr", index)
        elif line.startswith("msgstr ") and current is not None:
            current.msgstr = [_unquote(line[7:], where)]
            target = ("msgstr", 0)
        elif line.startswith('"') and current is not None and target is not None:
            text = _unquote(line, where)
            if target[0] == "msgid":
                current.msgid += text
            elif target[0] == "msgid_plural":
                current.msgid_plural = (current.msgid_plural or "") + text
            else:
                current.msgstr[target[1]] += text
        else:
            raise ValueError(f"{where}: cannot read {raw!r}")
    return entries


def compile_mo(entries: list[Entry]) -> bytes:
    """The ``.mo`` bytes of ``entries`` (translated ones and the header)."""
    pairs: dict[bytes, bytes] = {}
    for entry in entries:
        if entry.msgid and not entry.translated:
            continue
        if entry.msgid == "" and entry.fuzzy:
            continue
        key = entry.msgid if entry.msgid_plural is None else f"{entry.msgid}\0{entry.msgid_plural}"
        pairs[key.encode("utf-8")] = "\0".join(entry.msgstr).encode("utf-8")
    keys = sorted(pairs)
    count = len(keys)
    originals_at = 7 * 4
    translations_at = originals_at + count * 8
    data_at = translations_at + count * 8
    originals, translations, blob = [], [], b""
    for key in keys:
        originals.append((len(key), data_at + len(blob)))
        blob += key + b"\0"
    for key in keys:
        value = pairs[key]
        translations.append((len(value), data_at + len(blob)))
        blob += value + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, count, originals_at, translations_at, 0, data_at)
    tables = b"".join(struct.pack("<2I", *pair) for pair in originals + translations)
    return header + tables + blob


def catalogues() -> list[Path]:
    """Every ``.po`` file of the package."""
    return sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))


def marked_messages(root: Path = PACKAGE) -> dict[str, list[str]]:
    """Messages marked in the Python files under ``root``: msgid (``singular\\0plural`` for
    ``ngettext``) → where (``file:line``). A marker given an f-string or a concatenation is
    reported under the key ``""``, since it can never be translated; one given a variable is a
    lookup of a message marked elsewhere (with ``N_``) and is skipped."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in MARKERS):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            args = node.args[:MARKERS[node.func.id]]
            if any(isinstance(arg, ast.JoinedStr | ast.BinOp) for arg in args):
                found.setdefault("", []).append(where)  # an f-string or a concatenation
                continue
            texts = [arg.value for arg in args
                     if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
            if len(texts) != MARKERS[node.func.id]:
                continue  # a variable: a message marked elsewhere (N_), looked up at run time
            found.setdefault("\0".join(texts), []).append(where)
    return found


def argparse_messages() -> list[str]:
    """The messages argparse translates (``_`` and ``ngettext`` literals of its source)."""
    source = Path(argparse.__file__).read_text(encoding="utf-8")
    messages = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("_", "ngettext")):
            texts = [a.value for a in node.args[:2 if node.func.id == "ngettext" else 1]
                     if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if texts:
                messages.append("\0".join(texts))
    return sorted(set(messages))


def problems() -> list[str]:
    """What ``--check`` reports: stale ``.mo`` files and marked messages without a translation
    in each catalogue."""
    found = []
    marked = marked_messages()
    for place in marked.get("", []):
        found.append(f"{place}: a marker given an f-string or a concatenation (never translated)")
    for po in catalogues():
        entries = read_po(po)
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != compile_mo(entries):
            found.append(f"{mo.relative_to(ROOT)} is stale: run scripts/compile_catalogues.py")
        translated = {(e.msgid if e.msgid_plural is None else f"{e.msgid}\0{e.msgid_plural}")
                      for e in entries if e.translated}
        for msgid, places in sorted(marked.items()):
            if msgid and msgid not in translated:
                found.append(f"{po.relative_to(ROOT)}: no translation of {msgid!r} "
                             f"({places[0]})")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="check instead of writing: exit 1 on a stale .mo or a missing "
                             "translation")
    args = parser.parse_args()
    if args.check:
        found = problems()
        for line in found:
            print(line, file=sys.stderr)
        return 1 if found else 0
    for po in catalogues():
        po.with_suffix(".mo").write_bytes(compile_mo(read_po(po)))
        print(f"wrote {po.with_suffix('.mo').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
