"""First contact: a URL that never answered like Bitrix24 fails fast, with one message naming the fix.

Each case runs a tiny HTTP server on loopback that answers every POST with one shape (an HTML page,
JSON that is not Bitrix, ...), counts the attempts, and gives the client a fake sleep that records
the waits it decided on (nothing really sleeps).
"""

from __future__ import annotations

import http.server
import socket
import threading

import pytest
from conftest import FAST

from bitrix24.client import Bitrix24Client
from bitrix24.errors import AuthError, Bitrix24Error
from simportal import SimPortal

CODE = "abcdef1234567890"
HTML = b"<html><head><title>Oops</title></head><body><h1>Not here</h1></body></html>"

# shape -> (status, content type, body, phrase the message must contain)
SHAPES = {
    "200 HTML": (200, "text/html", HTML, "HTTP 200 with an HTML page"),
    "404 HTML": (404, "text/html", HTML, "HTTP 404 with an HTML page"),
    "501 HTML": (501, "text/html", HTML, "HTTP 501 with an HTML page"),
    "502 HTML": (502, "text/html", HTML, "HTTP 502 with an HTML page"),
    "503 HTML": (503, "text/html", HTML, "HTTP 503 with an HTML page"),
    "non-Bitrix JSON": (200, "application/json", b'{"hello": 1}', "HTTP 200 with JSON that is not a Bitrix24 answer"),
    "JSON list": (200, "application/json", b'[1, 2, 3]', "HTTP 200 with a JSON list"),
    "empty 200": (200, "text/plain", b"", "HTTP 200 with an empty body"),
}


class Shaped(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the server's `shape` and counts it."""

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.server.lock:
            self.server.attempts += 1
        status, ctype, body, _ = self.server.shape
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Quiet(http.server.SimpleHTTPRequestHandler):
    """`python3 -m http.server` as it is: POST answers 501 with an HTML page."""

    def log_message(self, *args):
        pass


class Waits:
    """A fake sleep: records every wait the client decides on."""

    def __init__(self):
        self.slept = []

    def __call__(self, seconds):
        self.slept.append(seconds)


def serve(handler, shape=None):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.shape, server.attempts, server.lock = shape, 0, threading.Lock()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def first_call_fails(url):
    waits = Waits()
    client = Bitrix24Client(url, sleep=waits, **FAST)
    with pytest.raises(Bitrix24Error) as failure:
        client.scopes()
    return str(failure.value), waits


def assert_one_clear_message(text, waits):
    assert isinstance(text, str) and "\n" not in text
    assert "Could not reach the Bitrix24 REST API" in text
    assert "sources.bitrix24.webhook_url" in text
    assert "https://<portal>/rest/<user id>/<code>/" in text
    assert CODE not in text
    assert "kept failing" not in text and "Rows loaded so far" not in text
    assert sum(waits.slept) <= 30


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_url_that_never_answers_like_bitrix_fails_fast(shape):
    server = serve(Shaped, SHAPES[shape])
    try:
        text, waits = first_call_fails(f"http://127.0.0.1:{server.server_address[1]}/rest/1/{CODE}/")
    finally:
        server.shutdown()
    assert 1 <= server.attempts <= 3
    assert SHAPES[shape][3] in text, text
    assert_one_clear_message(text, waits)


def test_python_http_server_answering_post_with_501():
    server = serve(Quiet)
    try:
        text, waits = first_call_fails(f"http://127.0.0.1:{server.server_address[1]}/rest/1/{CODE}/")
    finally:
        server.shutdown()
    assert "HTTP 501 with an HTML page" in text
    assert_one_clear_message(text, waits)
    assert len(waits.slept) <= 2  # at most three attempts


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused():
    text, waits = first_call_fails(f"http://127.0.0.1:{free_port()}/rest/1/{CODE}/")
    assert "connection was refused" in text and "3 attempts" in text
    assert_one_clear_message(text, waits)


def test_tls_error():
    server = serve(Shaped, SHAPES["200 HTML"])  # plain HTTP: the TLS handshake fails
    try:
        text, waits = first_call_fails(f"https://127.0.0.1:{server.server_address[1]}/rest/1/{CODE}/")
    finally:
        server.shutdown()
    assert "TLS error" in text
    assert_one_clear_message(text, waits)


def test_the_error_is_an_auth_error():
    server = serve(Shaped, SHAPES["501 HTML"])
    try:
        with pytest.raises(AuthError):
            Bitrix24Client(f"http://127.0.0.1:{server.server_address[1]}/rest/1/{CODE}/", sleep=Waits(),
                           **FAST).call("scope")
    finally:
        server.shutdown()


def test_once_reached_502_html_is_retried():
    with SimPortal(size=20, seed=3, rate_limit=None) as portal:
        waits = Waits()
        client = Bitrix24Client(portal.webhook_url, sleep=waits, **FAST)
        assert client.call("server.time")["result"]
        portal.faults.add("502", times=4)
        start = len(portal.log)
        assert client.call("scope")["result"]
        assert [r.http_status for r in portal.log[start:]] == [502, 502, 502, 502, 200]
        assert len(waits.slept) == 4


def test_a_rate_limit_503_at_first_contact_is_bitrix_and_retried():
    with SimPortal(size=20, seed=3, rate_limit=None) as portal:
        portal.faults.add("503", times=5)
        client = Bitrix24Client(portal.webhook_url, sleep=Waits(), **FAST)
        assert client.call("scope")["result"]
        assert [r.http_status for r in portal.log] == [503] * 5 + [200]


def test_a_wrong_code_is_still_the_auth_message():
    with SimPortal(size=20, seed=3, rate_limit=None) as portal:
        url = portal.webhook_url.rsplit("/", 2)[0] + f"/{CODE}/"
        with pytest.raises(AuthError) as failure:
            Bitrix24Client(url, sleep=Waits(), **FAST).call("scope")
    assert "rejected the webhook" in str(failure.value) and CODE not in str(failure.value)
