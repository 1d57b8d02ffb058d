"""SIGTERM within a bounded time in every state, and no silent hang of the consumer loop.

Why a thread, and why the signal wakeup fd: Python runs a signal handler only in the main thread,
between bytecodes; a main thread blocked in a librdkafka call (``commit_transaction`` while the
broker is down) runs no handler until the call returns, which is how a consumer ignored SIGTERM
for 30 s and more (issue 11). ``signal.set_wakeup_fd`` makes the C-level handler write the signal
number to a socket at once, whatever the main thread is doing; this thread reads it and:

- on the first SIGTERM/SIGINT: asks the runtime to stop (it finishes the record in hand, commits
  within what is left of the grace, closes) and starts the shutdown grace
  (``MICROEXEC_SHUTDOWN_GRACE_S``);
- on a second signal, or when the grace runs out: dumps every thread's stack to stderr and ends the
  process with ``os._exit(EXIT_FORCED)``;
- without any signal: if the loop has not beaten for ``hang_s`` (2 x the stall timeout: no
  bounded call can hold it that long), the same dump and forced exit, so a hang nobody foresaw
  still ends in a restart by the supervisor instead of a silent stall.

A forced exit skips the commit: the open transaction is aborted by the next incarnation's
``init_transactions`` (fencing), so nothing is lost or duplicated.
"""

from __future__ import annotations

import faulthandler
import logging
import math
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("microexec.watchdog")
EXIT_FORCED = 4  # the process was ended by the watchdog (grace exceeded, second signal, or a hang)
FREEZE_S = 5.0  # a tick of this thread (every 0.25 s) this late: the whole process did not run
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Watchdog:
    """Signals, shutdown grace and hang detection for one runtime run in the main thread."""

    def __init__(self, stop: Callable[[], None], last_beat: Callable[[], float], *, grace_s: float,
                 hang_s: float, name: str = "consumer") -> None:
        self._stop = stop
        self._last_beat = last_beat
        self.grace_s = grace_s
        self.hang_s = hang_s
        self.name = name
        self.exit_by = math.inf  # monotonic time by which the process must have left run()
        self.hang_check = False  # armed once the loop runs (start-up phases have their own bounds)
        # Freezes of the whole process (SIGSTOP, a paused VM or container, a suspended laptop) are
        # nobody's stall: ``on_freeze(seconds)`` is told of each, so that the time is not charged to
        # the broker or to the loop (streams/liveness.py).
        self.last_tick = time.monotonic()
        self.on_freeze: Callable[[float], None] | None = None
        self._signals = 0
        self._closing = threading.Event()
        self._reader, self._writer = socket.socketpair()
        self._thread: threading.Thread | None = None
        self._old_wakeup = -1
        self._old_handlers: dict[int, object] = {}

    # -------------------------------------------------------------- main thread
    def install(self) -> None:
        """Signal handlers + wakeup fd + the thread (call from the main thread)."""
        for sock in (self._reader, self._writer):
            sock.setblocking(False)
        self._old_wakeup = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for sig in _SIGNALS:
            self._old_handlers[sig] = signal.signal(sig, self._python_handler)
        self._thread = threading.Thread(target=self._watch, name="microexec-watchdog", daemon=True)
        self._thread.start()

    def uninstall(self) -> None:
        """run() returned: restore what was there (tests run several runtimes in one process)."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join(2.0)
        if threading.current_thread() is threading.main_thread():
            signal.set_wakeup_fd(self._old_wakeup)
            for sig, handler in self._old_handlers.items():
                signal.signal(sig, handler)  # type: ignore[arg-type]
        self._reader.close()
        self._writer.close()

    def _python_handler(self, signum: int, frame: FrameType | None) -> None:
        pass  # the watchdog thread acts on the wakeup byte; this only replaces the default action

    def leaving(self) -> None:
        """The loop ended (stop, error or limit): closing must not take longer than the grace."""
        self.hang_check = False
        self.exit_by = min(self.exit_by, time.monotonic() + self.grace_s)

    def shutdown_at(self) -> float:
        """Deadline cap for broker calls: the grace end once a stop was requested (else inf)."""
        return self.exit_by

    # -------------------------------------------------------------- watchdog thread
    def _watch(self) -> None:
        while not self._closing.is_set():
            try:
                ready, _, _ = select.select([self._reader], [], [], 0.25)
            except (OSError, ValueError):
                return  # closed under us by uninstall
            if ready:
                try:
                    data = self._reader.recv(64)
                except (BlockingIOError, OSError):
                    data = b""
                for signum in data:
                    if signum in _SIGNALS:
                        self._on_signal(signum)
            if self._closing.is_set():
                return
            now = time.monotonic()
            frozen = now - self.last_tick
            self.last_tick = now
            if frozen > FREEZE_S:
                log.warning("%s: the process did not run for %.1fs (stopped or paused): that time is not "
                            "counted as a broker outage or a hang", self.name, frozen)
                if self.on_freeze is not None:
                    self.on_freeze(frozen)
            if now >= self.exit_by:
                self._force(f"still running {self.grace_s:.0f}s after it was asked to stop "
                            "(MICROEXEC_SHUTDOWN_GRACE_S)")
            elif self.hang_check and now - self._last_beat() > self.hang_s:
                self._force(f"the consumer loop made no progress for {now - self._last_beat():.0f}s "
                            f"(limit {self.hang_s:.0f}s = 2 x MICROEXEC_STALL_TIMEOUT_S)")

    def _on_signal(self, signum: int) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            log.info("%s: %s received: stopping (forced exit in %.0fs if not done)", self.name, name, self.grace_s)
            self.exit_by = min(self.exit_by, time.monotonic() + self.grace_s)
            self._stop()
        else:
            self._force(f"second signal ({name}) while stopping")

    def _force(self, why: str) -> None:
        if self._closing.is_set():
            return
        print(f"microexec watchdog: {self.name}: {why}; exiting with code {EXIT_FORCED}, stacks follow",
              file=sys.stderr, flush=True)
        try:
            faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        except Exception:
            pass
        finally:
            os._exit(EXIT_FORCED)
