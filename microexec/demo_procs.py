"""The demo's child processes: start each with its own log and metrics port, watch, always stop.

Why a supervisor of its own: the demo is the product's first impression and its smoke test; a
child that dies must fail the demo (non-zero exit, with the tail of its log), and no exit path
(success, failure, timeout, Ctrl-C, SIGTERM) may leave a consumer running. Children run in their
own session so that a terminal's Ctrl-C reaches the demo only, which then stops them in order:
SIGTERM, a bounded wait, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from microexec.sample_data import ROOT

CONSUMER, FEED, PAPER = "consumer", "feed", "paper"


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metrics_answer(port: int, timeout_s: float = 2.0) -> bool:
    """True when ``http://127.0.0.1:<port>/metrics`` answers 200 with Prometheus text."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as resp:
            return bool(resp.status == 200 and resp.read(1 << 16))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Child:
    name: str
    role: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def exited(self) -> int | None:
        return self.proc.poll()


class Supervisor:
    """Starts ``python -m microexec.cli ...`` children and guarantees they are stopped."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.children: list[Child] = []
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, role: str, argv: list[str], extra_env: dict[str, str] | None = None,
              metrics_port: int | None = None) -> Child:
        log_path = self.log_dir / f"{name}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - closed in terminate_all
        env = {**self.env, **(extra_env or {})}
        if metrics_port is not None:
            env["MICROEXEC_METRICS_PORT"] = str(metrics_port)
        proc = subprocess.Popen([sys.executable, "-m", "microexec.cli", *argv], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        child = Child(name, role, proc, log_path, metrics_port, log)
        self.children.append(child)
        return child

    def get(self, name: str) -> Child | None:
        return next((c for c in self.children if c.name == name), None)

    def failures(self) -> list[str]:
        """Why the run has failed so far: any consumer that exited, a feed or executor that failed."""
        out = []
        for c in self.children:
            rc = c.exited()
            if rc is None:
                continue
            if c.role == CONSUMER or rc != 0:
                out.append(f"{c.name} exited with code {rc}; last lines of {c.log_path}:\n{log_tail(c.log_path)}")
        return out

    def write_manifest(self, path: Path) -> None:
        """pid, role, metrics port and log of every child (operators and tests use it)."""
        data = {c.name: {"pid": c.proc.pid, "role": c.role, "metrics_port": c.metrics_port,
                         "log": str(c.log_path)} for c in self.children}
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

    def terminate_all(self, grace_s: float = 15.0) -> None:
        """SIGTERM every live child, wait up to ``grace_s`` in all, SIGKILL what is left."""
        for c in self.children:
            if c.exited() is None:
                _signal(c.proc, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for c in self.children:
            try:
                c.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(c.proc, signal.SIGKILL)
                c.proc.wait(10)
            if c._log is not None:
                c._log.close()
                c._log = None


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
