"""The Torghut subscriber's retry loop backs off (bounded, jittered, reproducible) and stops promptly.

The consumer here injects poll failures on purpose: a real broker cannot be made to fail a given
number of polls in a row. The same loop against a real broker refusing credentials is covered in
tests/integration/test_secured_connections.py.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from torghut_client import AdviceBook, AdviceSubscriber, Backoff


def test_delays_grow_exponentially_within_the_jitter_band_and_never_pass_the_cap() -> None:
    backoff = Backoff(initial_s=0.1, max_s=5.0, multiplier=2.0, jitter=0.5, seed=1)
    delays = [backoff.next_delay() for _ in range(200)]  # a long outage: no overflow, no unbounded wait
    for n, delay in enumerate(delays):
        ceiling = min(5.0, 0.1 * 2.0**min(n, 60))
        assert ceiling * 0.5 <= delay <= ceiling
    assert max(delays) <= 5.0 and delays[0] <= 0.1 < delays[3]
    assert len({round(d, 9) for d in delays[10:]}) > 100  # jittered, not all equal to the cap


def test_same_seed_same_delays_and_reset_starts_over() -> None:
    a, b, c = (Backoff(seed=42) for _ in range(3))
    first = [a.next_delay() for _ in range(8)]
    assert first == [b.next_delay() for _ in range(8)]
    assert first != [Backoff(seed=43).next_delay() for _ in range(8)]
    c.next_delay(), c.next_delay(), c.next_delay()
    c.reset()
    assert c.failures == 0 and c.next_delay() <= c.initial_s


@pytest.mark.parametrize("kwargs", [{"initial_s": 0}, {"initial_s": 2, "max_s": 1}, {"multiplier": 0.5},
                                    {"jitter": 1.0}])
def test_bad_backoff_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**kwargs)  # type: ignore[arg-type]


class FlakyConsumer:
    """Fails the first ``failures`` consume calls (forever when None), recording when each came."""

    def __init__(self, failures: int | None) -> None:
        self.failures = failures
        self.calls: list[float] = []
        self.lock = threading.Lock()

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        with self.lock:
            self.calls.append(time.monotonic())
            failing = self.failures is None or len(self.calls) <= self.failures
        if failing:
            raise RuntimeError("injected poll failure")
        time.sleep(min(timeout, 0.01))
        return []

    def close(self) -> None:
        return None


def _subscriber(consumer: FlakyConsumer, backoff: Backoff) -> AdviceSubscriber:
    sub = AdviceSubscriber(AdviceBook(), {"bootstrap.servers": "127.0.0.1:9"}, consumer_factory=lambda conf: consumer,
                           backoff=backoff)
    sub._assigned = {("state", 0)}  # start() would otherwise fetch metadata first
    return sub


def _wait_for(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_failed_polls_wait_the_backoff_then_recover() -> None:
    consumer = FlakyConsumer(failures=4)
    sub = _subscriber(consumer, Backoff(initial_s=0.05, max_s=0.15, jitter=0.5, seed=7))
    expected = Backoff(initial_s=0.05, max_s=0.15, jitter=0.5, seed=7)
    delays = [expected.next_delay() for _ in range(4)]
    sub.start()
    try:
        _wait_for(lambda: len(consumer.calls) >= 6, timeout=5)
    finally:
        sub.stop()
    gaps = [b - a for a, b in zip(consumer.calls, consumer.calls[1:5], strict=False)]
    assert all(gap >= delay * 0.95 for gap, delay in zip(gaps, delays, strict=True)), (gaps, delays)
    assert sub.consecutive_failures == 0 and sub.last_error == "" and sub.backoff.failures == 0


def test_stop_interrupts_a_long_backoff_wait() -> None:
    consumer = FlakyConsumer(failures=None)
    sub = _subscriber(consumer, Backoff(initial_s=30.0, max_s=30.0, jitter=0.0, seed=1))
    sub.start()
    _wait_for(lambda: sub.consecutive_failures == 1, timeout=5)
    thread = sub._thread
    started = time.monotonic()
    sub.stop()
    assert time.monotonic() - started < 1.0 and thread is not None and not thread.is_alive()
    assert len(consumer.calls) == 1 and "injected poll failure" in sub.last_error
