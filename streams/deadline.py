"""Wall-clock budgets for broker calls that may block: commit, abort, init, offsets, restore.

Why: a broker that dies or freezes mid-transaction left ``commit_transaction`` waiting 10 x 30 s
(and once more than 12 minutes, issue 11), with SIGTERM unanswered meanwhile. Every such call now
runs under one ``Deadline`` shared by all the calls of a path (begin -> offsets -> commit, or
abort -> fetch committed offsets), so their combined time is bounded by one budget
(``MICROEXEC_STALL_TIMEOUT_S``), not a multiple of it. A call is made in short slices
(librdkafka's transactional calls may be called again after a timeout and resume where they
were), so a stop request shortens the wait at once. When the budget runs out, ``Stalled`` is
raised: the runtime treats it as fatal, the process exits non-zero and its supervisor restarts it;
the next incarnation's ``init_transactions`` fences and aborts whatever was left open, so
exactly-once holds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException

log = logging.getLogger("microexec.deadline")
T = TypeVar("T")
SLICE_S = 1.0  # longest single blocking call: how soon a stop or an expired budget is noticed


class Stalled(RuntimeError):
    """A broker call did not succeed within its budget: restart the process (exit non-zero)."""


class Deadline:
    """A monotonic point in time, optionally capped by a second, moving one (``cap()``: the
    shutdown deadline once a stop was requested, else ``inf``)."""

    __slots__ = ("_at", "_cap", "seconds")

    def __init__(self, seconds: float, cap: Callable[[], float] | None = None) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds
        self._cap = cap

    def at(self) -> float:
        return self._at if self._cap is None else min(self._at, self._cap())

    def remaining(self) -> float:
        return max(0.0, self.at() - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at()

    def extend(self) -> None:
        """Progress was made (a restore read records): the budget starts over."""
        self._at = time.monotonic() + self.seconds


class Offload:
    """A daemon thread that makes blocking client calls for the loop, so the loop can stop waiting.

    Why: measured in the broker-restart test, one ``commit_transaction(timeout=1)`` stayed blocked
    for more than 80 s after the broker was back, ignoring its timeout (librdkafka waits for its
    transaction coordinator); a timeout passed to the call is therefore no bound. The loop hands
    the call over and waits for the result at most until its deadline; then it raises ``Stalled``
    and the process exits, leaving the blocked call behind (a daemon thread does not hold the exit).
    Calls run one at a time, in order: a call queued behind a blocked one waits within its own budget.
    """

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], list[tuple[bool, Any]], threading.Event] | None] = (
            queue.SimpleQueue())
        self._name = name
        self._thread: threading.Thread | None = None  # started by the first call

    def close(self) -> None:
        """Let the thread end once the calls queued before have run (a blocked one keeps it)."""
        if self._thread is not None:
            self._calls.put(None)
            self._thread = None

    def _serve(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            fn, box, done = item
            try:
                box.append((True, fn()))
            except BaseException as exc:  # handed to the waiting caller
                box.append((False, exc))
            done.set()

    def submit(self, fn: Callable[[], Any]) -> tuple[list[tuple[bool, Any]], threading.Event]:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=f"{self._name}-client-calls", daemon=True)
            self._thread.start()
        box: list[tuple[bool, Any]] = []
        done = threading.Event()
        self._calls.put((fn, box, done))
        return box, done


def _retriable(err: KafkaError) -> bool:
    return err.retriable() or err.code() in (KafkaError._TIMED_OUT, KafkaError._TRANSPORT,
                                             KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR,
                                             KafkaError.COORDINATOR_LOAD_IN_PROGRESS)


def _stalled(what: str, deadline: Deadline, cause: str) -> Stalled:
    return Stalled(f"{what} did not complete within {deadline.seconds:.0f}s (MICROEXEC_STALL_TIMEOUT_S, "
                   f"or the shutdown grace after a stop){cause}")


def _offloaded(what: str, fn: Callable[[float], T], timeout: float, deadline: Deadline, offload: Offload,
               beat: Callable[[], None] | None) -> T:
    """``fn(timeout)`` on the offload thread, waited for at most until ``deadline``."""
    box, done = offload.submit(lambda: fn(timeout))
    while not done.wait(max(0.01, min(SLICE_S, deadline.remaining()))):
        if deadline.expired():
            raise _stalled(what, deadline, f": blocked in the client call for {timeout + deadline.seconds:.0f}s "
                                           "at most, past its own timeout")
        if beat is not None:
            beat()
    ok, value = box[0]
    if not ok:
        raise value
    result: T = value
    return result


def call_within(what: str, fn: Callable[[float], T], deadline: Deadline, *,
                beat: Callable[[], None] | None = None, offload: Offload | None = None) -> T:
    """``fn(timeout)`` until it succeeds, each attempt given at most ``SLICE_S`` of what is left.

    Retriable errors (timeouts included) are retried with a short backoff while the budget lasts;
    any other error is raised as it is (abortable and fatal ones are the caller's to judge).
    ``beat`` is called between attempts: a wait for the broker is not a hang of the loop."""
    attempt = 0
    first_error: KafkaError | None = None
    while True:
        left = deadline.remaining()
        if left <= 0:
            raise _stalled(what, deadline, f": {first_error.str()}" if first_error is not None else "")
        timeout = max(0.05, min(SLICE_S, left))
        try:
            if offload is not None:
                return _offloaded(what, fn, timeout, deadline, offload, beat)
            return fn(timeout)
        except KafkaException as exc:
            err = exc.args[0]
            if not isinstance(err, KafkaError) or not _retriable(err) or err.fatal() or err.txn_requires_abort():
                raise
            if first_error is None:
                first_error = err
                log.warning("%s: %s; retrying for up to %.0fs", what, err.str(), left)
            attempt += 1
            if beat is not None:
                beat()
            if err.code() != KafkaError._TIMED_OUT:  # an immediate refusal: back off a little
                time.sleep(min(0.05 * attempt, 0.5, deadline.remaining()))
