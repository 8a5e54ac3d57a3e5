"""`territory fetch`: downloads into the cache through a loopback HTTP server (no internet).

Each failure (404, 500s, a stalled server, a truncated body, an HTML page served as CSV) must
leave the previous cached copy and its sidecar byte for byte as they were.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from territory.cli import main
from territory.errors import FetchError
from territory.fetch import SIDECAR, RetryPolicy, cached_copy, fetch, official_sources
from territory.registries.kinds import KINDS

FIXTURES = Path(__file__).parent / "fixtures"
ANTENNAS = FIXTURES / "antennas" / "arcep_sites_44.csv"
FAST = RetryPolicy(tries=3, backoff_s=0.01, timeout_s=0.5)
STALL_LIMIT_S = 5.0  # a stalled handler gives up after this, whatever happens


@dataclass
class Behaviour:
    """What the loopback server does, changed by the tests between requests."""

    mode: str = "ok"
    body: bytes = b""
    etag: str = '"v1"'
    failures_left: int = 0
    hits: dict[str, int] = field(default_factory=dict)
    conditional: list[str | None] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(state: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest's output clean
            pass

        def _send(self, status: int, body: bytes, ctype: str = "text/csv; charset=utf-8",
                  extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            state.hits[self.path] = state.hits.get(self.path, 0) + 1
            if self.path == "/old/sites.csv":
                self.send_response(302)
                self.send_header("Location", "/data/sites.csv")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            state.conditional.append(self.headers.get("If-None-Match"))
            mode = state.mode
            if mode == "flaky":
                if state.failures_left > 0:
                    state.failures_left -= 1
                    self._send(500, b"internal error")
                    return
                mode = "ok"
            if mode == "ok":
                if self.headers.get("If-None-Match") == state.etag:
                    self.send_response(304)
                    self.send_header("ETag", state.etag)
                    self.end_headers()
                    return
                self._send(200, state.body, extra={
                    "ETag": state.etag, "Last-Modified": "Mon, 02 Mar 2026 08:00:00 GMT"})
            elif mode == "404":
                self._send(404, b"not found")
            elif mode == "500":
                self._send(500, b"internal error")
            elif mode == "stall":
                state.release.wait(STALL_LIMIT_S)
                self._send(200, state.body)
            elif mode == "truncated":
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(state.body) + 5000))
                self.end_headers()
                self.wfile.write(state.body[:40])
                self.wfile.flush()
                self.close_connection = True
            elif mode == "html":
                self._send(200, b"<!DOCTYPE html>\n<html><body>Maintenance</body></html>",
                           ctype="text/html")
            elif mode == "empty":
                self._send(200, b"")

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Behaviour]]:
    """A loopback HTTP server on a free port, serving /data/sites.csv as told by its Behaviour."""
    state = Behaviour(body=ANTENNAS.read_bytes())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    # a client that gave up (the timeout test) closes the socket mid-answer: not an error here
    httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TERRITORY_CACHE", str(folder))
    return folder


def _snapshot(url: str) -> dict[str, bytes]:
    copy = cached_copy(url)
    assert copy is not None
    return {p.name: p.read_bytes() for p in copy.path.parent.iterdir()}


def test_download_checks_and_records_the_copy(server, cache):
    base, _state = server
    url = base + "/data/sites.csv"
    result = fetch(url, policy=FAST)
    assert result.status == "downloaded"
    assert result.copy.path.read_bytes() == ANTENNAS.read_bytes()
    assert result.copy.path.parent.parent == cache
    meta = json.loads((result.copy.path.parent / SIDECAR).read_text(encoding="utf-8"))
    assert meta["url"] == meta["final_url"] == url
    assert meta["size"] == ANTENNAS.stat().st_size
    assert meta["etag"] == '"v1"'
    assert meta["last_modified"] == "Mon, 02 Mar 2026 08:00:00 GMT"
    import hashlib
    assert meta["sha256"] == hashlib.sha256(ANTENNAS.read_bytes()).hexdigest()
    assert sorted(p.name for p in result.copy.path.parent.iterdir()) == [SIDECAR, "sites.csv"]


def test_a_second_fetch_is_conditional_and_304_keeps_the_copy(server, cache):
    base, state = server
    url = base + "/data/sites.csv"
    first = fetch(url, policy=FAST)
    time.sleep(1.1)  # the sidecar's dates have one-second resolution
    second = fetch(url, policy=FAST)
    assert state.conditional == [None, '"v1"']
    assert second.status == "not modified"
    assert second.copy.fetched == first.copy.fetched
    assert second.copy.checked > first.copy.checked
    assert second.copy.path.read_bytes() == ANTENNAS.read_bytes()
    # a new version on the server replaces the copy
    state.etag, state.body = '"v2"', ANTENNAS.read_bytes() + b"20801;355121;6689041;1;1;1\n"
    third = fetch(url, policy=FAST)
    assert third.status == "downloaded"
    assert third.copy.path.read_bytes().endswith(b"6689041;1;1;1\n")


@pytest.mark.parametrize(("mode", "expected_hits", "words"), [
    ("404", 1, "HTTP 404"),
    ("500", 3, "HTTP 500"),
    ("stall", 3, "timeout"),
    ("truncated", 3, "connection failed"),
    ("html", 1, "an HTML page"),
    ("empty", 1, "empty body"),
])
def test_a_failed_download_keeps_the_previous_copy(server, cache, mode, expected_hits, words):
    base, state = server
    url = base + "/data/sites.csv"
    fetch(url, policy=FAST)
    before = _snapshot(url)
    fetched = cached_copy(url).fetched
    state.mode, state.hits = mode, {}
    delays: list[float] = []
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch(url, policy=FAST, sleep=delays.append)
    assert time.monotonic() - started < 4 * FAST.timeout_s + 2
    message = str(caught.value)
    assert words in message
    assert f"kept the copy fetched on {fetched.replace('T', ' ')[:16]} UTC" in message
    assert "\n" not in message
    assert state.hits["/data/sites.csv"] == expected_hits
    assert len(delays) == expected_hits - 1
    assert _snapshot(url) == before  # file and sidecar byte for byte, no temp file left


def test_server_errors_are_retried_with_backoff(server, cache):
    base, state = server
    state.mode, state.failures_left = "flaky", 2
    delays: list[float] = []
    result = fetch(base + "/data/sites.csv", policy=RetryPolicy(tries=3, backoff_s=0.5),
                   sleep=delays.append)
    assert result.status == "downloaded"
    assert state.hits["/data/sites.csv"] == 3
    assert delays == [0.5, 1.0]


def test_a_first_download_that_fails_leaves_nothing(server, cache):
    base, state = server
    state.mode = "html"
    with pytest.raises(FetchError, match="nothing in the cache for it yet"):
        fetch(base + "/data/sites.csv", policy=FAST)
    assert cached_copy(base + "/data/sites.csv") is None
    assert not any(p.is_file() for p in cache.rglob("*"))


def test_a_redirect_is_followed_and_the_final_url_recorded(server, cache):
    base, _state = server
    result = fetch(base + "/old/sites.csv", policy=FAST)
    assert result.copy.url == base + "/old/sites.csv"
    assert result.copy.final_url == base + "/data/sites.csv"
    assert result.copy.path.read_bytes() == ANTENNAS.read_bytes()


def test_the_expected_format_is_checked(server, cache):
    base, _state = server
    with pytest.raises(FetchError, match="not a zip archive"):
        fetch(base + "/data/sites.csv", expected="zip", policy=FAST)
    with pytest.raises(FetchError, match="not JSON"):
        fetch(base + "/data/sites.csv", expected="geojson", policy=FAST)


def test_fetch_list_names_every_official_source(capsys, cache):
    assert main(["fetch", "--list"]) == 0
    out = capsys.readouterr().out
    catalogue = official_sources()
    assert {"arcep-sites-mobiles-2018", "insee-filosofi-2021", "rte-eco2mix-national-tr",
            "osm-datacenters-france", "arcep-ftth-commune"} <= set(catalogue)
    for source in catalogue.values():
        assert source.name in out and source.url in out
        assert source.kind in (*KINDS, "population", "electricity")
        assert source.url.startswith("https://")
    assert "not fetched" in out and str(cache) in out


def test_fetch_an_unknown_name_fails_on_one_line(capsys, cache):
    assert main(["fetch", "no-such-source"]) == 2  # usage error
    err = capsys.readouterr().err.strip()
    assert "unknown source 'no-such-source'" in err and "\n" not in err


def test_url_sources_are_fetched_then_run_offline(server, cache, tmp_path, capsys):
    base, state = server
    url = base + "/data/sites.csv"
    config = tmp_path / "pipeline.toml"
    config.write_text(
        f'[run]\ndepartements = ["44"]\n\n[sources.antennes]\nkind = "antennas"\nurl = "{url}"\n',
        encoding="utf-8")
    out = tmp_path / "out"
    run = ["run", "--offline", "--config", str(config), "--departement", "44", "--out", str(out),
           "--quiet", "--no-density-raster"]

    assert main(run) == 2  # not fetched yet: the run does not download, it says what to do
    err = capsys.readouterr().err.strip()
    assert "is not in the cache" in err and f"territory fetch --config {config}" in err
    assert "\n" not in err and state.hits == {}

    assert main(["fetch", "--config", str(config)]) == 0
    assert "downloaded" in capsys.readouterr().out
    state.mode = "404"  # the server going away does not matter to an offline run
    assert main(run) == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    copy = cached_copy(url)
    record = next(r for r in manifest["inputs"] if r["name"] == "antennas")
    assert record["path"] == str(copy.path)
    assert record["url"] == url
    assert record["fetched"] == copy.fetched
    assert record["sha256"] == copy.sha256
    assert record["rows_kept"] > 0
    assert state.hits == {"/data/sites.csv": 1}
    embedded = [r for r in manifest["inputs"] if r["name"] != "antennas"]
    assert embedded and all(r["url"] is None for r in embedded)


def test_a_local_path_wins_over_the_url_when_present(cache, tmp_path):
    from territory.config import read_pipeline_file

    config = tmp_path / "pipeline.toml"
    local = tmp_path / "sites.csv"
    local.write_bytes(ANTENNAS.read_bytes())
    config.write_text('[sources.antennes]\nkind = "antennas"\npath = "sites.csv"\n'
                      'url = "https://example.invalid/sites.csv"\n', encoding="utf-8")
    assert read_pipeline_file(config)["sources"][0][1] == local
    local.unlink()
    with pytest.raises(Exception, match="is not in the cache"):
        read_pipeline_file(config)
