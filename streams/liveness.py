"""The runtime's liveness in one object: bounded broker calls, heartbeat, broker reachability,
the watchdog, and the fatal error that asks the supervisor for a restart (docs/liveness.md).

Why apart from streams/runtime.py: the runtime owns transactions and the hot path; how long it may
wait, and what happens when a wait runs out or a signal arrives, is one policy used from many
places there (commit, abort, init, restore, rebalance callbacks, close).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import KafkaError

from streams import health, metrics
from streams.deadline import Deadline, Offload, Stalled, call_within
from streams.settings import Settings
from streams.watchdog import FREEZE_S, Watchdog

T = TypeVar("T")
STATS_INTERVAL_S = 5.0  # the consumer's statistics.interval.ms: how often broker reachability is reported


class FatalRuntimeError(RuntimeError):
    """The instance can't go on (fenced, a fatal client error, or stalled); restart the process."""


SAME_INSTANCE_HINT = ("another process of this group uses the same MICROEXEC_INSTANCE_ID (default: the host name); "
                      "give each process its own")


def fatal_consumer_error(err: KafkaError) -> str | None:
    """What to exit with when ``err`` leaves the consumer unusable; None when the client retries it.

    Why the code as well as the flag: librdkafka reports a fatal error as an event of code ``_FATAL``
    whose own fatal flag is not set. Measured: a second ``microexec run state`` on the same host
    (same default instance id) fenced the first as a static group member; the first logged "the
    client retries" and went on, alive and fetching nothing, until it was killed."""
    if not (err.fatal() or err.code() == KafkaError._FATAL):
        return None
    text = f"fatal consumer error: {err.str()}"
    return f"{text}; {SAME_INSTANCE_HINT}" if "group.instance.id" in err.str() else text


class Liveness:
    def __init__(self, app: str, settings: Settings, stop: Callable[[], None]) -> None:
        self.app = app
        self.stall_s = float(settings.stall_timeout_s)
        self.grace_s = float(settings.shutdown_grace_s)
        self.health = health.Health(app, 2.0 * self.stall_s)
        self.watchdog: Watchdog | None = None
        self.offload = Offload(app)  # transactional calls: librdkafka may block past their timeout
        self.failed = False  # a fatal error ends the run: the close must not try to commit again
        self._stop = stop

    def start(self) -> None:
        """SIGTERM/SIGINT handling, shutdown grace and hang detection (streams/watchdog.py); a run
        outside the main thread (tests) gets none, as signals only reach the main thread."""
        if threading.current_thread() is threading.main_thread():
            self.watchdog = Watchdog(self._stop, lambda: self.health.last_beat, name=self.app,
                                     grace_s=self.grace_s, hang_s=2.0 * self.stall_s)
            self.watchdog.on_freeze = self._forgive
            self.watchdog.install()
        health.register(self.health)

    def end(self) -> None:
        health.unregister(self.health)
        self.offload.close()
        if self.watchdog is not None:
            self.watchdog.uninstall()

    def loop_started(self) -> None:
        self.health.broker_up_at = time.monotonic()
        if self.watchdog is not None:
            self.watchdog.hang_check = True

    def leaving(self) -> None:
        """The loop ended: closing the clients is bounded by the shutdown grace too."""
        if self.watchdog is not None:
            self.watchdog.leaving()

    def on_stats(self, stats_json: str) -> None:
        """librdkafka statistics (every 5 s): lag gauges, and whether any broker is connected."""
        metrics.record_lag_from_stats(self.app, stats_json)
        self.health.on_stats(stats_json)

    def fail(self, message: str) -> FatalRuntimeError:
        self.failed = True
        return FatalRuntimeError(message)

    def _forgive(self, frozen_s: float) -> None:
        """The whole process was frozen for ``frozen_s``: nobody measured the broker or ran the loop
        meanwhile, so that time counts against neither. Measured before: a consumer SIGSTOPped for
        75 s exited 3 on SIGCONT, "no broker reachable for more than 60s", with the broker up."""
        now = time.monotonic()
        self.health.broker_up_at = min(now, self.health.broker_up_at + frozen_s)
        self.health.last_beat = min(now, self.health.last_beat + frozen_s)

    def check_broker(self, now: float) -> None:
        """A consumer whose broker is gone polls on for ever, publishing nothing: end it after the
        stall timeout (statistics arrive every 5 s, so the outage lasted at least that long). Not
        while the watchdog has yet to tick after a freeze of the process (``_forgive``)."""
        watchdog = self.watchdog
        if watchdog is not None and now - watchdog.last_tick > FREEZE_S:
            return
        if now - self.health.broker_up_at > self.stall_s + STATS_INTERVAL_S:
            raise self.fail(f"{self.app}: no broker reachable for more than {self.stall_s:.0f}s "
                            "(MICROEXEC_STALL_TIMEOUT_S); exiting for the supervisor to restart")

    def budget(self) -> Deadline:
        """One stall budget for a path of broker calls, cut short by the shutdown grace after a stop."""
        watchdog = self.watchdog
        return Deadline(self.stall_s, None if watchdog is None else watchdog.shutdown_at)

    def bounded(self, what: str, fn: Callable[[float], T], deadline: Deadline | None = None) -> T:
        """``fn(timeout)`` within ``deadline`` (a fresh budget if None); Stalled -> FatalRuntimeError."""
        try:
            return call_within(f"{self.app}: {what}", fn, deadline or self.budget(), beat=self.health.beat,
                               offload=self.offload)
        except Stalled as exc:
            raise self.fail(f"{exc}; exiting for the supervisor to restart the consumer") from exc
