"""Bounded broker calls, the watchdog and the health endpoint, without a broker (the broker faults
themselves are in tests/integration/test_broker_faults.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException

from streams import health, metrics
from streams.deadline import SLICE_S, Deadline, Offload, Stalled, call_within
from streams.settings import SettingsError, load_settings
from streams.watchdog import EXIT_FORCED
from tests.support.secure_broker import free_ports

ROOT = Path(__file__).resolve().parents[2]


def _timed_out(timeout: float) -> None:
    time.sleep(timeout)
    raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "commit timed out", retriable=True))


def test_a_call_that_keeps_timing_out_ends_in_stalled_within_its_budget() -> None:
    timeouts: list[float] = []

    def call(timeout: float) -> None:
        timeouts.append(timeout)
        _timed_out(timeout)

    started = time.monotonic()
    with pytest.raises(Stalled, match="commit_transaction did not complete within 2s"):
        call_within("commit_transaction", call, Deadline(2.0))
    took = time.monotonic() - started
    assert 1.9 <= took <= 2.5, took
    assert len(timeouts) >= 2 and max(timeouts) <= SLICE_S  # sliced: a stop is noticed within a second


def _invalid(timeout: float) -> None:
    raise KafkaException(KafkaError(KafkaError.INVALID_CONFIG, "bad"))


def test_a_call_blocked_past_its_own_timeout_is_left_behind() -> None:
    """librdkafka's commit_transaction was seen blocked for 80 s with timeout=1 s: the loop must not be."""
    release = threading.Event()
    offload = Offload("test")
    started = time.monotonic()
    with pytest.raises(Stalled, match="blocked in the client call"):
        call_within("commit_transaction", lambda timeout: release.wait(60), Deadline(1.5), offload=offload)
    assert 1.4 <= time.monotonic() - started <= 2.2
    release.set()
    assert call_within("commit_transaction", lambda timeout: timeout, Deadline(5.0), offload=offload) == SLICE_S
    with pytest.raises(KafkaException):  # errors of the offloaded call reach the caller as they are
        call_within("abort", _invalid, Deadline(5.0), offload=offload)


def test_retriable_errors_are_retried_until_success() -> None:
    attempts = []

    def call(timeout: float) -> str:
        attempts.append(timeout)
        if len(attempts) < 3:
            raise KafkaException(KafkaError(KafkaError.COORDINATOR_NOT_AVAILABLE, "no coordinator", retriable=True))
        return "done"

    beats = []
    assert call_within("send_offsets", call, Deadline(5.0), beat=lambda: beats.append(1)) == "done"
    assert len(attempts) == 3 and len(beats) == 2


def test_abortable_and_fatal_errors_are_not_retried() -> None:
    for err in (KafkaError(KafkaError._STATE, "abort", txn_requires_abort=True),
                KafkaError(KafkaError._FENCED, "fenced", fatal=True),
                KafkaError(KafkaError.INVALID_CONFIG, "bad")):
        calls: list[float] = []

        def call(timeout: float, err: KafkaError = err, calls: list[float] = calls) -> None:
            calls.append(timeout)
            raise KafkaException(err)

        with pytest.raises(KafkaException):
            call_within("commit", call, Deadline(5.0))
        assert len(calls) == 1


def test_a_stop_caps_the_budget() -> None:
    cap = [float("inf")]
    deadline = Deadline(60.0, lambda: cap[0])
    assert deadline.remaining() > 59
    cap[0] = time.monotonic() + 1.0
    started = time.monotonic()
    with pytest.raises(Stalled):
        call_within("abort_transaction", _timed_out, deadline)
    assert time.monotonic() - started < 1.6


def test_settings_are_validated_by_name() -> None:
    base = {"KAFKA_BOOTSTRAP_SERVERS": "localhost:9092"}
    settings = load_settings(base)
    assert (settings.stall_timeout_s, settings.shutdown_grace_s) == (60, 20)
    assert load_settings({**base, "MICROEXEC_STALL_TIMEOUT_S": "15"}).stall_timeout_s == 15
    with pytest.raises(SettingsError, match=r"MICROEXEC_STALL_TIMEOUT_S=5 is out of range \[10, 3600\]"):
        load_settings({**base, "MICROEXEC_STALL_TIMEOUT_S": "5"})
    with pytest.raises(SettingsError, match="MICROEXEC_SHUTDOWN_GRACE_S='soon' is not an integer"):
        load_settings({**base, "MICROEXEC_SHUTDOWN_GRACE_S": "soon"})


def _get(port: int, path: str) -> tuple[int, dict[str, object] | str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
            body = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read().decode(), exc.code
    return status, (json.loads(body) if body.startswith("{") else body)


def test_health_endpoints_beside_metrics() -> None:
    (port,) = free_ports(1)
    metrics.serve(port)  # /metrics, /healthz and /readyz on one port
    status, body = _get(port, "/healthz")
    assert status == 503 and body == {"live": False, "reason": "no consumer loop running"}
    h = health.Health("app-x", live_window_s=0.5)
    health.register(h)
    try:
        assert _get(port, "/healthz")[0] == 200
        status, body = _get(port, "/readyz")
        assert status == 503 and isinstance(body, dict) and body["consumers"][0]["assigned"] == []  # type: ignore[index]
        h.assigned = frozenset({0, 1})
        h.restored = frozenset({0})
        status, body = _get(port, "/readyz")
        assert status == 503 and body["consumers"][0]["restoring"] == [1]  # type: ignore[index]
        h.restored = frozenset({0, 1})
        assert _get(port, "/readyz")[0] == 200
        time.sleep(0.6)  # the loop stopped beating: neither live nor ready
        assert _get(port, "/healthz")[0] == 503 and _get(port, "/readyz")[0] == 503
        h.beat()
        assert _get(port, "/healthz")[0] == 200
        h.stopping = True
        assert _get(port, "/readyz")[0] == 503
        status, text = _get(port, "/metrics")
        assert status == 200 and "microexec_records_in_total" in str(text)
    finally:
        health.unregister(h)


_BLOCKED = textwrap.dedent("""
    import sys, threading, time
    from streams.watchdog import Watchdog
    stopped = []
    dog = Watchdog(lambda: stopped.append(1), time.monotonic, grace_s={grace}, hang_s={hang})
    dog.install()
    dog.hang_check = {hang_check}
    print("ready", flush=True)
    lock = threading.Lock(); lock.acquire()
    lock.acquire()  # blocked for ever, like a client call that never returns
""")


def _blocked_process(grace: float, hang: float, hang_check: bool) -> subprocess.Popen[str]:
    code = _BLOCKED.format(grace=grace, hang=hang, hang_check=hang_check)
    if hang_check:  # the heartbeat never moves: last_beat is the start
        code = code.replace("time.monotonic, grace_s", "(lambda t=time.monotonic(): t), grace_s")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_sigterm_ends_a_blocked_process_within_the_grace() -> None:
    proc = _blocked_process(grace=1.5, hang=600, hang_check=False)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == EXIT_FORCED
    took = time.monotonic() - started
    assert 1.4 <= took <= 2.5, took
    assert "still running 2s after it was asked to stop" in (proc.stderr.read() if proc.stderr else "")


def test_a_second_signal_forces_the_exit_at_once() -> None:
    proc = _blocked_process(grace=60, hang=600, hang_check=False)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == EXIT_FORCED
    assert time.monotonic() - started < 1.0


def test_a_loop_without_progress_is_ended() -> None:
    started = time.monotonic()
    proc = _blocked_process(grace=60, hang=1.0, hang_check=True)
    assert proc.wait(10) == EXIT_FORCED
    assert time.monotonic() - started < 5
    assert "made no progress" in (proc.stderr.read() if proc.stderr else "")


def test_a_freeze_of_the_whole_process_is_told_to_the_liveness_and_not_charged_to_the_broker() -> None:
    """A SIGSTOPped or paused process: when it runs again, every clock says the broker was silent and
    the loop idle for the whole freeze. The watchdog's own tick (every 0.25 s) shows the freeze, the
    broker check waits until it has been accounted, and the time then counts against neither."""
    from streams.liveness import FatalRuntimeError, Liveness
    from streams.watchdog import FREEZE_S, Watchdog

    settings = load_settings({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "MICROEXEC_STALL_TIMEOUT_S": "10"})
    live = Liveness("freeze", settings, lambda: None)
    told: list[float] = []
    dog = Watchdog(lambda: None, lambda: live.health.last_beat, grace_s=5, hang_s=20, name="freeze")

    def on_freeze(seconds: float) -> None:
        told.append(seconds)
        live._forgive(seconds)

    dog.on_freeze = on_freeze
    live.watchdog = dog
    now = time.monotonic()
    live.health.broker_up_at = live.health.last_beat = now - 30.0  # the last sign of life before a 30 s freeze
    dog.last_tick = now - 30.0
    live.check_broker(now)  # the watchdog has not ticked since: no verdict on the broker yet
    thread = threading.Thread(target=dog._watch, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not told and time.monotonic() < deadline:
        time.sleep(0.01)
    dog._closing.set()
    thread.join(2)
    assert told and told[0] >= 30.0 - 0.5
    later = time.monotonic()
    assert later - live.health.broker_up_at < FREEZE_S and later - live.health.last_beat < FREEZE_S
    live.check_broker(later)  # the broker is not blamed for the freeze
    live.health.broker_up_at = later - 16.0  # a real silence past stall + statistics interval still ends it
    with pytest.raises(FatalRuntimeError, match="no broker reachable"):
        live.check_broker(later)
    dog._reader.close()
    dog._writer.close()
