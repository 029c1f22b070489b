"""Downloader retry and fallback behaviour against real local HTTP servers."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from debfetch.cache import Cache, default_cache_dir
from debfetch.download import Downloader
from debfetch.errors import DownloadError, IntegrityError
from debfetch.transport import UrllibTransport

BODY = b"payload " * 1000
SHA = hashlib.sha256(BODY).hexdigest()


@contextmanager
def flaky_server(failures: int, status: int = 503) -> Iterator[tuple[str, list[str]]]:
    """Serve BODY at any path, answering ``status`` to the first ``failures`` requests."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            if len(hits) <= failures:
                self.send_error(status)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


def downloader(tmp_path: Path, retries: int = 3) -> Downloader:
    return Downloader(transport=UrllibTransport(), cache=Cache(tmp_path / "cache"), retries=retries,
                      backoff=0.01, timeout=5)


def test_transient_errors_are_retried(tmp_path: Path) -> None:
    with flaky_server(failures=2) as (url, hits):
        path = downloader(tmp_path).get_verified([f"{url}/f"], sha256=SHA, size=len(BODY), what="f")
    assert path.read_bytes() == BODY and len(hits) == 3


def test_retries_are_bounded(tmp_path: Path) -> None:
    with flaky_server(failures=10) as (url, hits), pytest.raises(DownloadError) as info:
        downloader(tmp_path, retries=2).get_verified([f"{url}/f"], sha256=SHA, size=len(BODY), what="f")
    assert len(hits) == 2 and "HTTP 503" in str(info.value)


def test_404_is_not_retried(tmp_path: Path) -> None:
    with flaky_server(failures=10, status=404) as (url, hits), pytest.raises(DownloadError):
        downloader(tmp_path).get_bytes([f"{url}/a"], what="a")
    assert len(hits) == 1


def test_unreachable_host_is_skipped_for_the_rest_of_the_run(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    d = downloader(tmp_path)
    with flaky_server(failures=0) as (url, _hits):
        assert d.get_bytes([f"{dead}/x", f"{url}/x"], what="x")[1] == BODY
        assert d.get_verified([f"{dead}/y", f"{url}/y"], sha256=SHA, size=len(BODY), what="y").is_file()
    assert d.dead_hosts == {dead.removeprefix("http://")}


def test_wrong_bytes_name_the_url(tmp_path: Path) -> None:
    with flaky_server(failures=0) as (url, _hits), pytest.raises(IntegrityError) as info:
        downloader(tmp_path).get_verified([f"{url}/z"], sha256="0" * 64, size=len(BODY), what="z 1.0")
    assert str(info.value).startswith(f"{url}/z: z 1.0: sha256")
    with flaky_server(failures=0) as (url, _hits), pytest.raises(IntegrityError, match="more than the expected 10"):
        downloader(tmp_path).get_verified([f"{url}/z"], sha256=SHA, size=10, what="z")
    assert not list((tmp_path / "cache" / "sha256").iterdir())


def test_default_cache_dir() -> None:
    assert default_cache_dir({"ASSEMBLER_CACHE": "/c", "XDG_CACHE_HOME": "/x"}) == Path("/c")
    assert default_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/assembler")
    assert default_cache_dir({}) == Path.home() / ".cache" / "assembler"
