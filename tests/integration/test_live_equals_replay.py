"""Issue 13 on the real broker: a live feed (quotes and trades produced concurrently by two paced
threads for 120 symbols, sparse trade-updates from a third, the L2 topic empty) consumed live by the
state consumer and the advisor (`microexec run` processes), then replayed by fresh groups from the
beginning. The live records must be byte-identical to the replay's (advice without latency_ms,
wall-clock by design) and every record consistent with its own event_ts. With one producer held
back beyond the lateness bound, the late records are counted, nothing is lost and the consumer
keeps up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.advisor.processor import AdvisorProcessor
from consumers.state.processor import StateProcessor
from microexec.compare_live import Comparison, compare, compare_live
from streams.serde import AvroDecoder, Registry, decode_json
from streams.settings import Settings
from tests.support.invariants import QuoteBook, advice_violations, state_violations
from tests.support.kafka_io import committed_offsets, create_topics, end_offsets, read_all
from tests.support.live_feed import MS, PacedProducer, market, scrape
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import topic

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
KEYS = ("quotes", "trades", "trade_updates", "book_l2", "state", "advice", "shortfall", "dlq")
SYMBOLS = [f"LV{i:03d}" for i in range(120)]
SECONDS = 6.0
# Above this shared test machine's scheduling jitter (a producer thread starved for over 100 ms
# breaks a 100 ms contract, which is what the second test shows on purpose).
LATENESS_MS = 500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_topics(kafka_settings: Settings, unique: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for key in KEYS:
        monkeypatch.setenv(f"MICROEXEC_TOPIC_{key.upper()}", f"live-{key}-{unique}")
    monkeypatch.setenv("MICROEXEC_LATENESS_MS", str(LATENESS_MS))
    create_topics(kafka_settings, [(topic(k), 6, False) for k in KEYS])
    yield kafka_settings


def _start(name: str, unique: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MICROEXEC_INSTANCE_ID": f"{name}-{unique}",
           "MICROEXEC_METRICS_PORT": str(port)}
    return subprocess.Popen([sys.executable, "-m", "microexec.cli", "run", name, "--app-id", f"live-{name}-{unique}",
                             "--log-level", "WARNING"], env=env, cwd=ROOT)


def _caught_up(settings: Settings, group: str, topics: list[str]) -> bool:
    for name in topics:
        ends, done = end_offsets(settings, name), committed_offsets(settings, group, name)
        if any(done.get(p, 0) < end for p, end in ends.items() if end > 0):
            return False
    return True


def _wait_caught_up(settings: Settings, group: str, topics: list[str], timeout_s: float) -> float:
    started = time.monotonic()
    while not _caught_up(settings, group, topics):
        assert time.monotonic() - started < timeout_s, f"{group} did not catch up within {timeout_s} s"
        time.sleep(0.5)
    return time.monotonic() - started


def _run_live(settings: Settings, unique: str, delay: dict[str, float]) -> dict[str, Any]:
    """Feed live while both consumers run; returns the metrics they exported and the feed."""
    ports = {"state": _free_port(), "advisor": _free_port()}
    procs = {name: _start(name, unique, port) for name, port in ports.items()}
    try:
        time.sleep(6.0)  # join the groups, restore (nothing), compile the run fold
        assert all(p.poll() is None for p in procs.values())
        event0 = 1_796_000_000_000 * MS
        feed = market(SYMBOLS, SECONDS, event0)
        wall0 = time.monotonic() + 0.2
        threads = [PacedProducer(settings, topic(key), getattr(feed, key), wall0, event0, delay.get(key, 0.0))
                   for key in ("quotes", "trades", "trade_updates")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
            assert not t.is_alive() and t.error is None, t.error
        inputs = [topic(k) for k in ("quotes", "trades", "trade_updates", "book_l2")]
        catch_up_s = _wait_caught_up(settings, f"live-state-{unique}", inputs, 30)
        _wait_caught_up(settings, f"live-advisor-{unique}", [topic("state")], 30)
        metrics = {name: {m: scrape(port, m) for m in ("microexec_late_records_total",
                                                       "microexec_out_of_order_records_total",
                                                       "microexec_records_in_total",
                                                       "microexec_merge_flushes_total")}
                   for name, port in ports.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = {name: p.wait(30) for name, p in procs.items()}
    assert codes == {"state": 0, "advisor": 0}  # SIGTERM: commit and exit cleanly
    lags = {t.topic: round(t.max_lag_s * 1000, 1) for t in threads}
    return {"metrics": metrics, "feed": feed, "catch_up_s": catch_up_s, "producer_max_lag_ms": lags}


def _replay(settings: Settings, unique: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[Any]]:
    """Fresh groups from the beginning over the same inputs, into replay topics."""
    live_state, live_advice = topic("state"), topic("advice")
    replay_state, replay_advice = f"replay-state-{unique}", f"replay-advice-{unique}"
    create_topics(settings, [(replay_state, 6, False), (replay_advice, 6, False)])
    n_in = sum(len(read_all(settings, topic(k))) for k in ("quotes", "trades", "trade_updates"))
    monkeypatch.setenv("MICROEXEC_TOPIC_STATE", replay_state)
    stats = TorghutRuntime(StateProcessor(), settings, f"replay-state-{unique}").run(
        max_records=n_in, idle_timeout_s=20)
    assert stats.records_in == n_in
    monkeypatch.setenv("MICROEXEC_TOPIC_STATE", live_state)
    monkeypatch.setenv("MICROEXEC_TOPIC_ADVICE", replay_advice)
    n_state = len(read_all(settings, live_state))
    stats = TorghutRuntime(AdvisorProcessor(), settings, f"replay-advisor-{unique}").run(
        max_records=n_state, idle_timeout_s=20)
    assert stats.records_in == n_state
    monkeypatch.setenv("MICROEXEC_TOPIC_ADVICE", live_advice)
    return read_all(settings, replay_state), read_all(settings, replay_advice)


def _judge(settings: Settings, unique: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    registry = Registry(settings.schema_registry_url)
    state_dec, advice_dec = AvroDecoder("microstructure_state_v1", registry), AvroDecoder("execution_advice_v1",
                                                                                         registry)
    live_state, live_advice = read_all(settings, topic("state")), read_all(settings, topic("advice"))
    replay_state, replay_advice = _replay(settings, unique, monkeypatch)

    def body(msgs: list[Any]) -> list[tuple[str, dict[str, Any]]]:  # the Avro body, after the schema id
        return [(m.key().decode(), {"avro": m.value()[5:].hex()}) for m in msgs]

    def advice(msgs: list[Any]) -> list[tuple[str, dict[str, Any]]]:
        return [(m.key().decode(), advice_dec.decode(m.value())) for m in msgs]

    state_cmp = compare(body(live_state), body(replay_state))
    advice_cmp = compare(advice(live_advice), advice(replay_advice), ignored=("latency_ms",))
    # The broker replay is itself the offline driver's (backlog determinism, unchanged).
    quotes = [decode_json(m.value()) for m in read_all(settings, topic("quotes"))]
    states = {(m.partition(), m.offset()): state_dec.decode(m.value()) for m in live_state}
    state_values = list(states.values())
    advice_values = [v for _, v in advice(live_advice)]
    return {
        "state": state_cmp, "advice": advice_cmp,
        # `microexec compare-live`'s comparison: live topics against the offline driver's replay
        "state_offline": compare_live(settings, StateProcessor()),
        "advice_offline": compare_live(settings, AdvisorProcessor(), ignored=("latency_ms",)),
        "state_violations": state_violations(state_values, QuoteBook(quotes)),
        "advice_violations": advice_violations(advice_values, states, topic("state")),
        "n_state": len(state_values), "n_advice": len(advice_values),
        "replay_state_violations": state_violations([state_dec.decode(m.value()) for m in replay_state],
                                                    QuoteBook(quotes)),
    }


def _report(label: str, run: dict[str, Any], judged: dict[str, Any]) -> None:
    s, a, so = judged["state"], judged["advice"], judged["state_offline"]
    assert isinstance(s, Comparison) and isinstance(a, Comparison) and isinstance(so, Comparison)
    print(f"\n[{label}] state: {s.summary()}; advice: {a.summary()}; state vs offline driver: {so.summary()}; "
          f"invariant violations: state {len(judged['state_violations'])}/{judged['n_state']}, "
          f"advice {len(judged['advice_violations'])}/{judged['n_advice']}; "
          f"late {run['metrics']['state']['microexec_late_records_total']}, "
          f"out of order {run['metrics']['state']['microexec_out_of_order_records_total']}, "
          f"flushes {run['metrics']['state']['microexec_merge_flushes_total']}; "
          f"caught up {run['catch_up_s']:.1f} s after the feed; producers' largest lag behind schedule "
          f"{run['producer_max_lag_ms']} ms")


def test_live_feed_equals_its_replay_and_is_consistent_with_event_time(
        live_topics: Settings, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = live_topics
    run = _run_live(settings, unique, {})
    judged = _judge(settings, unique, monkeypatch)
    _report("on time", run, judged)
    assert judged["n_state"] > 500 and judged["n_advice"] > 500
    assert judged["state"].share >= 0.999, judged["state"].differences
    assert judged["advice"].share >= 0.999, judged["advice"].differences
    assert judged["state_violations"] == [] and judged["advice_violations"] == []
    assert judged["replay_state_violations"] == []
    assert judged["state_offline"].share >= 0.999 and judged["advice_offline"].share >= 0.999


def test_a_producer_late_beyond_the_bound_is_counted_and_nothing_is_lost_or_stalled(
        live_topics: Settings, unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = live_topics
    run = _run_live(settings, unique, {"trades": 3 * LATENESS_MS / 1000})
    judged = _judge(settings, unique, monkeypatch)
    _report(f"trades {3 * LATENESS_MS} ms late", run, judged)
    state_metrics = run["metrics"]["state"]
    late = sum(v for k, v in state_metrics["microexec_late_records_total"].items() if topic("trades") in k)
    assert late > len(run["feed"].trades) // 2  # nearly every trade arrived beyond the bound: counted
    consumed = {k: v for k, v in state_metrics["microexec_records_in_total"].items()}
    for key in ("quotes", "trades", "trade_updates"):  # nothing lost: every record was processed once
        assert sum(v for k, v in consumed.items() if f'topic="{topic(key)}"' in k) == len(getattr(run["feed"], key))
    assert run["catch_up_s"] < 10  # never stalled: done within seconds of the feed's end
    # what could not be made identical is measured: compare-live sees the late trades' effect
    assert judged["state_offline"].share < 1.0 and judged["state_offline"].differences
    assert judged["state_violations"] == [] and judged["advice_violations"] == []
