"""HTTPS + basic-auth front for the real registry, as a production registry is reached.

Why a proxy: the local Apicurio registry speaks plain HTTP without users; putting TLS and basic
auth in front of it tests our client's TLS and credential settings against real registry answers
(every request is forwarded to it), without reconfiguring the registry every other test shares.
"""

from __future__ import annotations

import base64
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _handler(upstream: str, user_info: str) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(user_info.encode()).decode()
    upstream_root = upstream.split("/apis/", 1)[0]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            return

        def _forward(self) -> None:
            if self.headers.get("Authorization") != expected:
                body = b'{"error_code": 401, "message": "Unauthorized"}'
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="registry"')
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length) if length else None
            request = urllib.request.Request(upstream_root + self.path, data=data, method=self.command, headers={
                "Content-Type": self.headers.get("Content-Type") or "application/json",
                "Accept": self.headers.get("Accept") or "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status, body = response.status, response.read()
                    ctype = response.headers.get("Content-Type") or "application/json"
            except urllib.error.HTTPError as exc:
                status, body, ctype = exc.code, exc.read(), exc.headers.get("Content-Type") or "application/json"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _forward

    return Handler


@contextmanager
def tls_basic_auth_proxy(upstream: str, server_pem: Path, user_info: str) -> Iterator[str]:
    """Serve https://127.0.0.1:<port>/apis/ccompat/v7 in front of ``upstream``; yields that URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(upstream, user_info))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile=str(server_pem))  # the PEM holds the key and the chain
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/apis/ccompat/v7"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
