"""How ``streams.serde.Registry`` tells an outage from a verdict, against a scripted HTTP registry.

Why it matters: RegistryUnavailable stops the consumer without committing (the restart resumes),
while a registry's verdict (404: unknown schema id) dead-letters one record. A transient 503 must be
retried by the client (its own max.retries), a lasting one must read as an outage, and a bug in our
code must surface as itself, never disguised as "registry unavailable".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streams.processor import InvalidRecord
from streams.serde import Registry, RegistryUnavailable

SCHEMA = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}


class _Script:
    """The statuses the next requests get (then 200 with the schema), and how many requests came."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.requests = 0


@pytest.fixture
def registry_server() -> Iterator[tuple[str, _Script]]:
    script = _Script()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            script.requests += 1
            status = script.statuses.pop(0) if script.statuses else 200
            body = (json.dumps({"schema": json.dumps(SCHEMA)}) if status == 200
                    else json.dumps({"error_code": status * 100 + 1, "message": "scripted"})).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", script
    finally:
        server.shutdown()
        server.server_close()


def test_a_transient_503_is_retried_by_the_client(registry_server: tuple[str, _Script]) -> None:
    url, script = registry_server
    script.statuses = [503, 503]
    schema = Registry(url, attempts=3, conf={}).writer_schema(7)
    assert schema["name"] == "R" and script.requests == 3


def test_a_lasting_503_is_an_outage_after_every_attempt(registry_server: tuple[str, _Script]) -> None:
    url, script = registry_server
    script.statuses = [503] * 10
    with pytest.raises(RegistryUnavailable, match="HTTP 503 after 3 attempts"):
        Registry(url, attempts=3, conf={}).writer_schema(7)
    assert script.requests == 3


def test_an_unknown_schema_id_is_a_verdict_on_the_record(registry_server: tuple[str, _Script]) -> None:
    url, script = registry_server
    script.statuses = [404]
    with pytest.raises(InvalidRecord) as refused:
        Registry(url, attempts=3, conf={}).writer_schema(7)
    assert refused.value.reason == "unknown_schema_id" and script.requests == 1  # a verdict is not retried


def test_a_bug_is_not_reported_as_an_outage(registry_server: tuple[str, _Script]) -> None:
    url, _ = registry_server
    registry = Registry(url, attempts=3, conf={})

    def broken() -> int:
        raise TypeError("a bug in our code")

    with pytest.raises(TypeError, match="a bug in our code"):
        registry._call("broken", broken)


def test_nothing_listening_is_an_outage() -> None:
    with pytest.raises(RegistryUnavailable, match="did not answer"):
        Registry("http://127.0.0.1:9", attempts=2, conf={}).writer_schema(1)
