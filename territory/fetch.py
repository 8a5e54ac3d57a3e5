"""Fetching official sources: the catalogue of files the registries read, and a download cache
that a failed download never spoils.

The catalogue is ``data/official_sources.toml`` (name, French title, kind, URL, expected format,
publisher, licence, note). ``territory fetch`` downloads its entries, or the ``url = "…"`` of a
pipeline file's sources; ``territory run`` never downloads, it reads the cached copies.

Cache layout: the folder is ``--cache DIR``, else ``$TERRITORY_CACHE``, else the user cache
folder (``platformdirs.user_cache_dir("territory")``). Each URL gets a sub-folder named after
the SHA-256 of the URL, holding the file (named after the URL) and a sidecar ``.fetch.json``:
``url``, ``final_url`` (after redirects), ``file``, ``fetched`` (UTC, when the bytes were last
downloaded), ``checked`` (UTC, when the server last confirmed them), ``sha256``, ``size``,
``etag``, ``last_modified`` and ``content_type``.

A download goes to a temporary file in that folder, is flushed to disk, checked (the
Content-Length was received in full; the body is not empty and not an HTML page; a zip starts
with ``PK``, JSON with ``{`` or ``[``, gzip with its magic bytes, a CSV holds no NUL byte) and
only then renamed over the previous copy. Server errors (5xx, 429), timeouts and broken
connections are retried with exponential backoff; 4xx answers and refused bodies are not. On
any failure the previous copy and its sidecar are left as they were and the message says when
that copy was fetched. A cached copy is revalidated with ``If-None-Match`` /
``If-Modified-Since``: a 304 keeps it and only updates ``checked``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from territory.errors import ConfigError, FetchError
from territory.i18n import N_, _

if TYPE_CHECKING:
    import httpx

#: environment variable naming the cache folder
CACHE_ENV = "TERRITORY_CACHE"
#: name of the sidecar next to each cached file
SIDECAR = ".fetch.json"
#: expected formats a body is checked against
FORMATS = ("csv", "json", "geojson", "zip", "gz")
#: kinds a catalogue entry may feed: the registry kinds, populations, and reference series
CATALOGUE_EXTRA_KINDS = ("population", "electricity")

_CATALOGUE_KEYS = {"title", "kind", "url", "format", "publisher", "licence", "note"}
_HEAD = 4096


@dataclass(frozen=True)
class OfficialSource:
    """One entry of ``data/official_sources.toml``."""

    name: str
    title: str
    kind: str
    url: str
    format: str
    publisher: str
    licence: str
    note: str = ""


@dataclass(frozen=True)
class CachedCopy:
    """A file in the cache and what its sidecar says about it."""

    path: Path
    url: str
    final_url: str
    fetched: str
    checked: str
    sha256: str
    size: int
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None

    @property
    def fetched_label(self) -> str:
        """``2026-03-01 10:02 UTC``: when the bytes were downloaded."""
        return self.fetched.replace("T", " ")[:16] + " UTC"


@dataclass(frozen=True)
class FetchResult:
    """What ``fetch`` did: ``downloaded`` new bytes, or the server said ``not modified``."""

    copy: CachedCopy
    status: str


@dataclass(frozen=True)
class RetryPolicy:
    """How hard a download tries: ``tries`` attempts, waiting ``backoff_s``, then twice that…,
    each request timing out after ``timeout_s`` seconds without data."""

    tries: int = 3
    backoff_s: float = 2.0
    timeout_s: float = 60.0


def official_sources(path: Path | None = None) -> dict[str, OfficialSource]:
    """The catalogue of official sources, by name (``data/official_sources.toml``)."""
    from territory.registries.kinds import KINDS
    from territory.settings import data_dir

    path = path or data_dir() / "official_sources.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        msg = _("{path}: cannot read the catalogue of official sources ({error})").format(
            path=path, error=error)
        raise ConfigError(msg) from error
    kinds = (*KINDS, *CATALOGUE_EXTRA_KINDS)
    sources = {}
    for name, spec in data.get("sources", {}).items():
        where = f"{path}: [sources.{name}]"
        missing = sorted(_CATALOGUE_KEYS - {"note"} - set(spec))
        unknown = sorted(set(spec) - _CATALOGUE_KEYS)
        if missing or unknown:
            msg = _("{where}: missing keys {missing}, unknown keys {unknown}").format(
                where=where, missing=missing, unknown=unknown)
            raise ConfigError(msg)
        if spec["kind"] not in kinds:
            msg = _("{where}: kind must be one of {known}, got {value!r}").format(
                where=where, known=", ".join(kinds), value=spec["kind"])
            raise ConfigError(msg)
        if spec["format"] not in FORMATS:
            msg = _("{where}: format must be one of {known}, got {value!r}").format(
                where=where, known=", ".join(FORMATS), value=spec["format"])
            raise ConfigError(msg)
        check_url(spec["url"], where)
        sources[name] = OfficialSource(name=name, **spec)
    return sources


def cache_dir(override: Path | None = None) -> Path:
    """The cache folder: ``override``, else ``$TERRITORY_CACHE``, else the user cache folder."""
    if override is not None:
        return override
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import platformdirs

    return Path(platformdirs.user_cache_dir("territory"))


def format_of_url(url: str) -> str | None:
    """The format a URL's file name announces (``.csv``, ``.zip``, ``.csv.gz`` …), if any."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]).lower()
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    return suffix if suffix in FORMATS else None


def cached_copy(url: str, cache: Path | None = None) -> CachedCopy | None:
    """The cached copy of ``url``, or ``None`` when there is none (or it does not match its
    sidecar's size)."""
    return _read_sidecar(_folder(url, cache_dir(cache)))


def provenance_of(path: Path) -> CachedCopy | None:
    """The sidecar of ``path`` when ``path`` is a cached download, else ``None``."""
    copy = _read_sidecar(path.parent)
    return copy if copy is not None and copy.path.name == path.name else None


def check_url(url: Any, where: str) -> None:
    """Raise :class:`~territory.errors.ConfigError` unless ``url`` is an http(s) address."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        msg = _("{where}: url must be an http:// or https:// address, got {value!r}").format(
            where=where, value=url)
        raise ConfigError(msg)


def fetch(
    url: str, *, expected: str | None = None, name: str | None = None, cache: Path | None = None,
    policy: RetryPolicy = RetryPolicy(), sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Download ``url`` into the cache (or revalidate the cached copy) and return the copy.

    ``expected`` is the format the body must have (one of :data:`FORMATS`; guessed from the URL
    when ``None``); ``name`` names the file when the URL's path does not. Raises
    :class:`~territory.errors.FetchError`, leaving the previous copy untouched, when the server
    refuses, keeps failing, or sends something else than expected.
    """
    import httpx

    from territory import __version__

    check_url(url, url)
    expected = expected or format_of_url(url)
    folder = _folder(url, cache_dir(cache))
    previous = _read_sidecar(folder)
    if previous is not None and _sha256(previous.path) != previous.sha256:
        previous = None  # damaged in place: download again, without conditions
    headers = {}
    if previous is not None:
        if previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
    reason = ""
    with httpx.Client(
        follow_redirects=True, timeout=httpx.Timeout(policy.timeout_s),
        headers={"User-Agent": f"territory/{__version__} (territory fetch)"},
    ) as client:
        for attempt in range(policy.tries):
            if attempt:
                sleep(policy.backoff_s * 2 ** (attempt - 1))
            try:
                return _attempt(client, url, headers, folder, previous, expected, name)
            except _Retryable as error:
                reason = str(error)
            except _Refused as error:
                raise _failure(url, str(error), previous) from None
            except httpx.TimeoutException:
                reason = _("no data for {seconds:g} s (timeout)").format(
                    seconds=policy.timeout_s)
            except httpx.TransportError as error:
                reason = _("connection failed ({error})").format(
                    error=f"{type(error).__name__}: {error}")
            except httpx.HTTPError as error:
                raise _failure(url, f"{type(error).__name__}: {error}", previous) from error
    raise _failure(url, _("{reason}, after {tries} tries").format(reason=reason,
                                                                   tries=policy.tries), previous)


# -- plumbing ----------------------------------------------------------------------------------


class _Retryable(Exception):
    """A failure worth another try (server error, truncated body)."""


class _Refused(Exception):
    """A failure another try would repeat (4xx answer, body of the wrong kind)."""


def _folder(url: str, cache: Path) -> Path:
    return cache / hashlib.sha256(url.encode("utf-8")).hexdigest()[:24]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _sha256(path: Path) -> str:
    from territory.sources._files import sha256_of

    return sha256_of(path) if path.is_file() else ""


def _read_sidecar(folder: Path) -> CachedCopy | None:
    try:
        meta = json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
        copy = CachedCopy(
            path=folder / meta["file"], url=meta["url"], final_url=meta["final_url"],
            fetched=meta["fetched"], checked=meta["checked"], sha256=meta["sha256"],
            size=int(meta["size"]), etag=meta.get("etag"), last_modified=meta.get("last_modified"),
            content_type=meta.get("content_type"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not copy.path.is_file() or copy.path.stat().st_size != copy.size:
        return None
    return copy


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _failure(url: str, reason: str, previous: CachedCopy | None) -> FetchError:
    reason = " ".join(reason.split())  # one line, whatever the library's message
    if previous is not None:
        kept = _("kept the copy fetched on {when} ({path})").format(
            when=previous.fetched_label, path=previous.path)
    else:
        kept = _("nothing in the cache for it yet")
    return FetchError(_("{url}: download failed: {reason}; {kept}").format(
        url=url, reason=reason, kept=kept))


def _file_name(url: str, name: str | None, expected: str | None, content_type: str) -> str:
    """The cached file's name: the URL's, else ``name`` (or ``download``) plus the format."""
    last = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    last = re.sub(r"[^\w.\-]+", "_", last).lstrip(".")
    if "." in last and len(last) <= 120 and last.rsplit(".", 1)[-1].lower() in FORMATS:
        return last
    fmt = expected or _format_of_content_type(content_type) or "bin"
    stem = re.sub(r"[^\w.\-]+", "_", name or "download").lstrip(".") or "download"
    return f"{stem}.{fmt}"


def _format_of_content_type(content_type: str) -> str | None:
    ctype = content_type.split(";")[0].strip().lower()
    return {
        "text/csv": "csv", "application/csv": "csv", "application/json": "json",
        "application/geo+json": "geojson", "application/zip": "zip", "application/gzip": "gz",
        "application/x-gzip": "gz",
    }.get(ctype)


def _refusal(head: bytes, size: int, expected: str | None, content_type: str) -> str | None:
    """Why a body is not the expected file, or ``None`` when it looks right."""
    if size == 0 or not head.strip():
        return _("the server sent an empty body")
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    markup = text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<!--"))
    if markup or (text.startswith(b"<") and expected in ("csv", "json", "geojson")):
        what = _("an HTML page") if markup or b"<html" in text else _("markup")
        ctype = content_type or _("not given")
        return _("{what} (Content-Type {type}) came instead of {expected}").format(
            what=what, type=ctype, expected=expected or _("a data file"))
    if expected == "zip" and not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _("the body is not a zip archive (no PK signature)")
    if expected == "gz" and not head.startswith(b"\x1f\x8b"):
        return _("the body is not gzip-compressed")
    if expected in ("json", "geojson") and text[:1] not in (b"{", b"["):
        return _("the body is not JSON (starts with {head!r})").format(head=head[:20])
    if expected == "csv" and b"\x00" in head:
        return _("the body is binary, not CSV text")
    return None


def _attempt(
    client: httpx.Client, url: str, headers: dict[str, str], folder: Path,
    previous: CachedCopy | None, expected: str | None, name: str | None,
) -> FetchResult:
    with client.stream("GET", url, headers=headers) as response:
        status = response.status_code
        if status == 304 and previous is not None:
            checked = _now()
            meta = {**_sidecar_dict(previous), "checked": checked}
            _write_json_atomically(folder / SIDECAR, meta)
            return FetchResult(_read_sidecar(folder) or previous, N_("not modified"))
        if status >= 500 or status == 429:
            raise _Retryable(f"HTTP {status} {response.reason_phrase}")
        if status != 200:
            raise _Refused(f"HTTP {status} {response.reason_phrase}")
        return _store(response, url, folder, previous, expected, name)


def _store(
    response: httpx.Response, url: str, folder: Path, previous: CachedCopy | None,
    expected: str | None, name: str | None,
) -> FetchResult:
    content_type = response.headers.get("content-type", "")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
    try:
        digest, size, head = hashlib.sha256(), 0, b""
        with os.fdopen(fd, "wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if len(head) < _HEAD:
                    head += chunk[: _HEAD - len(head)]
            out.flush()
            os.fsync(out.fileno())
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and response.num_bytes_downloaded != int(declared):
            msg = _("truncated body: {received:,} bytes received, Content-Length "
                    "{declared:,}").format(received=response.num_bytes_downloaded,
                                           declared=int(declared))
            raise _Retryable(msg)
        refusal = _refusal(head, size, expected, content_type)
        if refusal:
            raise _Refused(refusal)
        file_name = _file_name(url, name, expected, content_type)
        now = _now()
        meta = {
            "url": url, "final_url": str(response.url), "file": file_name, "fetched": now,
            "checked": now, "sha256": digest.hexdigest(), "size": size,
            "etag": response.headers.get("etag"),
            "last_modified": response.headers.get("last-modified"),
            "content_type": content_type or None,
        }
        os.replace(tmp, folder / file_name)
        _write_json_atomically(folder / SIDECAR, meta)
        _sync_folder(folder)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if previous is not None and previous.path.name != file_name:
        previous.path.unlink(missing_ok=True)
    copy = _read_sidecar(folder)
    if copy is None:  # pragma: no cover - only when the folder is changed under our feet
        msg = _("{folder}: the cached copy vanished right after it was written").format(
            folder=folder)
        raise FetchError(msg)
    return FetchResult(copy, N_("downloaded"))


def _sidecar_dict(copy: CachedCopy) -> dict[str, Any]:
    return {
        "url": copy.url, "final_url": copy.final_url, "file": copy.path.name,
        "fetched": copy.fetched, "checked": copy.checked, "sha256": copy.sha256,
        "size": copy.size, "etag": copy.etag, "last_modified": copy.last_modified,
        "content_type": copy.content_type,
    }
