"""Downloads are bounded and https-only (jaxbp.mnist.download).

A local HTTP server on 127.0.0.1 (a thread; never the network) serves an endless
body, a body announcing more than the file can be, a redirect to plain http and a
normal file.  Plain http to 127.0.0.1 is allowed only through the explicit
``allow_http_loopback=True`` test hook.  Every server loop is bounded.
"""

from __future__ import annotations

import functools
import io
import threading
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jaxbp.mnist import download, files

NAME = "t10k-labels-idx1-ubyte.gz"
SERVER_CAP = 64 * 2**20  # the endless body stops by itself after this many bytes
OK_BODY = bytes(range(256)) * 16  # 4 KiB


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path.startswith("/endless/"):
            self.send_response(200)
            self.end_headers()
            chunk = b"\0" * 2**16
            try:
                for _ in range(SERVER_CAP // len(chunk)):
                    self.wfile.write(chunk)
                    self.server.sent += len(chunk)
            except OSError:  # the client hung up: what it should do
                pass
        elif self.path.startswith("/liar/"):
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
        elif self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", "http://192.0.2.1/" + NAME)  # plain http elsewhere
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(OK_BODY)))
            self.end_headers()
            self.wfile.write(OK_BODY)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.requests, srv.sent = [], 0
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv, f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


LOOPBACK_FETCH = functools.partial(download.fetch, allow_http_loopback=True)


def test_endless_response_is_abandoned_with_bounded_memory(server, tmp_path):
    srv, base = server
    url = f"{base}/endless/{NAME}"
    final = tmp_path / NAME
    tracemalloc.start()
    try:
        with pytest.raises(download.DownloadError) as err:
            download.from_mirrors([url], final, lambda f: None, False, fetch=LOOPBACK_FETCH)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    limit = download.limit_for(NAME)
    msg = str(err.value)
    assert url in msg and str(limit) in msg and "\n" not in msg
    assert peak < 4 * limit  # what was held: about the bound, not the body
    assert srv.sent < SERVER_CAP  # the client stopped reading long before the server's cap
    assert not final.exists() and list(tmp_path.iterdir()) == []


def test_fetch_stops_at_max_bytes(server):
    srv, base = server
    out = io.BytesIO()
    with pytest.raises(download.DownloadError, match="abandoned"):
        LOOPBACK_FETCH(f"{base}/endless/x.gz", out, False, 100_000)
    assert 0 < len(out.getvalue()) <= 100_000


def test_announced_oversize_is_refused_before_reading(server):
    srv, base = server
    url = f"{base}/liar/{NAME}"
    with pytest.raises(download.DownloadError, match="larger than the file can be") as err:
        LOOPBACK_FETCH(url, io.BytesIO(), False)
    assert url in str(err.value)


def test_a_file_within_the_bound_downloads(server, tmp_path):
    srv, base = server
    final = tmp_path / NAME
    seen = []
    download.from_mirrors(
        [f"{base}/ok/{NAME}"], final, lambda f: seen.append(f.read()), False, fetch=LOOPBACK_FETCH
    )
    assert final.read_bytes() == OK_BODY == seen[0]


def test_plain_http_is_refused_by_default(server, tmp_path):
    srv, base = server
    url = f"{base}/ok/{NAME}"
    with pytest.raises(download.DownloadError, match="non-https"):
        download.fetch(url, io.BytesIO(), False)
    with pytest.raises(download.DownloadError, match="non-https"):
        download.from_mirrors([url], tmp_path / NAME, lambda f: None, False)
    assert srv.requests == []  # refused before connecting


def test_redirect_to_plain_http_is_refused(server):
    srv, base = server
    with pytest.raises(download.DownloadError, match="http://192.0.2.1/"):
        LOOPBACK_FETCH(f"{base}/redirect/{NAME}", io.BytesIO(), False)
    assert len(srv.requests) == 1


@pytest.mark.parametrize(
    "url", ["http://example.org/a.gz", "ftp://example.org/a.gz", "http://10.0.0.1/a.gz"]
)
def test_check_url_refuses_other_schemes_even_with_the_hook(url):
    with pytest.raises(download.DownloadError, match="non-https"):
        download.check_url(url, allow_http_loopback=True)


def test_mirrors_are_https_and_every_file_has_a_bound():
    for dataset, mirrors in files.MIRRORS.items():
        assert mirrors and all(m.startswith("https://") for m in mirrors), dataset
        for base in files.FILES.values():
            size = files.GZ_SIZES[dataset][base]
            largest = max(t[base] for t in files.GZ_SIZES.values())  # the name is all it knows
            assert size < download.limit_for(base + ".gz") <= max(largest * 1.01, largest + 2**16)
            assert size < files.SIZES[dataset][base]  # compressed is smaller than the IDX file
