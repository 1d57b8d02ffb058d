"""Liveness and readiness of running consumers, served beside ``/metrics`` on the metrics port.

Why an endpoint of our own next to the Prometheus one: Kubernetes (and docker compose's
``healthcheck``) probe an HTTP path; the loop's own heartbeat is the only honest signal that it
is not stuck in a client call, and only the runtime knows whether its partitions' state has been
restored.

- ``GET /healthz`` (liveness): 200 while every runtime of the process finished a loop iteration
  within its ``live_window_s`` (2 x ``MICROEXEC_STALL_TIMEOUT_S``: a bounded broker call may hold
  the loop for one stall timeout, never longer), else 503. A restart helps a stuck process.
- ``GET /readyz`` (readiness): 200 once partitions are assigned and every one of them restored,
  and the process is live and not stopping, else 503. A restart does not help an unready one.
- ``GET /metrics``: the Prometheus exposition, as before.

Bodies are JSON with the reasons, so ``curl`` tells an operator why a probe fails.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


class Health:
    """One runtime's view: heartbeat, assigned and restored partitions. Written by the loop's
    thread, read by the server's: plain attribute stores, each atomic under the GIL."""

    def __init__(self, app: str, live_window_s: float) -> None:
        self.app = app
        self.live_window_s = live_window_s
        self.last_beat = time.monotonic()
        self.assigned: frozenset[int] = frozenset()
        self.restored: frozenset[int] = frozenset()
        self.stopping = False
        self.broker_up_at = time.monotonic()  # last statistics report with a broker connection UP

    def on_stats(self, stats_json: str) -> None:
        """A librdkafka statistics report: note whether any broker connection is up. A consumer whose
        broker is gone polls on happily and publishes nothing; this is how the loop notices."""
        brokers = json.loads(stats_json).get("brokers", {})
        if any(b.get("state") == "UP" for b in brokers.values()):
            self.broker_up_at = time.monotonic()

    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def live(self, now: float | None = None) -> tuple[bool, dict[str, Any]]:
        age = (time.monotonic() if now is None else now) - self.last_beat
        ok = age <= self.live_window_s
        broker_age = (time.monotonic() if now is None else now) - self.broker_up_at
        return ok, {"app": self.app, "live": ok, "loop_age_s": round(age, 3), "window_s": self.live_window_s,
                    "broker_seen_s_ago": round(broker_age, 1)}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        live, detail = self.live()
        missing = sorted(self.assigned - self.restored)
        ok = live and not self.stopping and bool(self.assigned) and not missing
        detail.update({"ready": ok, "assigned": sorted(self.assigned), "restoring": missing,
                       "stopping": self.stopping})
        return ok, detail


_lock = threading.Lock()
_runtimes: dict[int, Health] = {}
_servers: dict[int, ThreadingHTTPServer] = {}


def register(health: Health) -> None:
    with _lock:
        _runtimes[id(health)] = health


def unregister(health: Health) -> None:
    with _lock:
        _runtimes.pop(id(health), None)


def _verdict(kind: str) -> tuple[int, dict[str, Any]]:
    with _lock:
        runtimes = list(_runtimes.values())
    if not runtimes:
        return 503, {kind: False, "reason": "no consumer loop running"}
    checks = [h.live() if kind == "live" else h.ready() for h in runtimes]
    ok = all(good for good, _ in checks)
    return (200 if ok else 503), {kind: ok, "consumers": [detail for _, detail in checks]}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body, ctype, status = generate_latest(REGISTRY), CONTENT_TYPE_LATEST, 200
        elif path in ("/healthz", "/readyz"):
            status, verdict = _verdict("live" if path == "/healthz" else "ready")
            body, ctype = json.dumps(verdict).encode(), "application/json"
        else:
            body, ctype, status = b"not found: /metrics, /healthz, /readyz\n", "text/plain", 404
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(port: int) -> None:
    """Serve /metrics, /healthz and /readyz on ``port`` (0: nothing); once per port per process."""
    if not port:
        return
    with _lock:
        if port in _servers:
            return
        server = ThreadingHTTPServer(("0.0.0.0", port), _Handler)
        server.daemon_threads = True
        _servers[port] = server
    threading.Thread(target=server.serve_forever, name=f"health-{port}", daemon=True).start()
