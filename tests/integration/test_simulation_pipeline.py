"""The simulation consumer on the real broker and registry.

1. A Torghut-format feed (quotes, trades, ``new`` parent orders) for three symbols goes in; the
   calibration and shortfall records come out, decode against the registry, sit on their symbol's
   partition, and a second run under a fresh group (fresh changelog) over the same inputs
   reproduces both topics byte for byte.
2. State + advisor + simulation run together: after the first calibration the advice carries
   non-null expected_shortfall_bps_p50/p95 and the simulator version.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from consumers.advisor.processor import AdvisorProcessor
from consumers.simulation.config import SimulationConfig
from consumers.simulation.processor import SimulationProcessor
from consumers.state.processor import StateProcessor
from simulator.version import SIMULATOR_VERSION
from streams.partitioning import partition_for
from streams.processor import SourceRecord
from streams.serde import AvroDecoder, Registry
from streams.settings import Settings
from streams.timeutil import parse_ts_ns
from tests.support.kafka_io import committed_offsets, create_topics, end_offsets, produce_all, read_all
from tests.support.synthetic_market import synthetic_market
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import topic

pytestmark = pytest.mark.integration
SYMBOLS = ["AAPL", "NVDA", "MSFT"]
PARTITIONS = 3
KEYS = ("quotes", "trades", "trade_updates", "book_l2", "state", "advice", "tca_divergence", "calibration",
        "shortfall")
COMPACTED = ("state", "advice", "calibration")


def _config() -> SimulationConfig:
    return SimulationConfig(window_s=60, bucket_s=5, min_events=300, refit_every_s=20, paths=30, min_paths=5,
                            horizon_s=10, warmup_s=2, reference_horizon_s=10, max_fit_iter=60)


@pytest.fixture
def sim_topics(unique: str, fast_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for key in KEYS:
        monkeypatch.setenv(f"MICROEXEC_TOPIC_{key.upper()}", f"sim-{key}-{unique}")
    create_topics(fast_settings, [(topic(k), PARTITIONS, k in COMPACTED) for k in KEYS])
    yield fast_settings


def _produce_feed(settings: Settings, feed: list[SourceRecord]) -> None:
    """Keyed by symbol, placed by the client's murmur2 partitioner, Kafka timestamp = event time."""
    for name in sorted({r.topic for r in feed}):
        chosen = [r for r in feed if r.topic == name]
        produce_all(settings, name, [(r.value["symbol"], json.dumps(r.value).encode()) for r in chosen],
                    timestamps=[parse_ts_ns(r.value["eventTs"]) // 1_000_000 for r in chosen])


def _caught_up(settings: Settings, group: str, inputs: list[str]) -> bool:
    for name in inputs:
        ends = end_offsets(settings, name)
        committed = committed_offsets(settings, group, name)
        if any(committed[p] != end for p, end in ends.items() if end > 0):  # empty partitions never commit
            return False
    return True


def _run_until(runtimes: list[TorghutRuntime], done: Any, timeout: float = 150) -> None:
    threads = [threading.Thread(target=rt.run) for rt in runtimes]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done():
            time.sleep(0.5)
    finally:
        for rt in runtimes:
            rt.stop()
        for thread in threads:
            thread.join(60)
    assert done(), "the consumers did not get there in time"


def _inputs() -> list[str]:
    return [topic(k) for k in ("quotes", "trades", "trade_updates")]


def test_calibrations_and_shortfalls_on_the_broker_replay_byte_identical(sim_topics: Settings, unique: str) -> None:
    settings = sim_topics
    feed = list(synthetic_market(SYMBOLS, 7500, seed=5, order_every=250))
    _produce_feed(settings, feed)
    n_orders = sum(1 for r in feed if r.topic == topic("trade_updates"))

    first_app = f"sim-a-{unique}"
    first = TorghutRuntime(SimulationProcessor(_config()), settings, first_app)
    _run_until([first], lambda: _caught_up(settings, first_app, _inputs()))
    assert first.stats.dlq == 0
    cal_msgs, sf_msgs = read_all(settings, topic("calibration")), read_all(settings, topic("shortfall"))

    registry = Registry(settings.schema_registry_url)
    cal_dec, sf_dec = AvroDecoder("hawkes_calibration_v1", registry), AvroDecoder("shortfall_distribution_v1", registry)
    quote_partition = {m.key().decode(): m.partition() for m in read_all(settings, topic("quotes"))}
    cals = [(m, cal_dec.decode(m.value())) for m in cal_msgs]
    sfs = [(m, sf_dec.decode(m.value())) for m in sf_msgs]
    assert {v["symbol"] for _, v in cals} == set(SYMBOLS)
    for m, v in cals:
        assert m.key().decode() == v["symbol"] and m.partition() == quote_partition[v["symbol"]]
        assert v["simulator_version"] == SIMULATOR_VERSION and v["parameter_hash"] and v["spectral_radius"] < 1
    orders = [(m, v) for m, v in sfs if not v["is_reference_order"]]
    refs = [(m, v) for m, v in sfs if v["is_reference_order"]]
    assert len(orders) == n_orders and len(refs) >= len(SYMBOLS)
    for m, v in sfs:
        assert m.key().decode() == v["order_id"]
        # Keyed by order id, yet on the symbol's partition: where the advisor and TCA read it.
        assert m.partition() == quote_partition[v["symbol"]] == partition_for(v["symbol"], PARTITIONS)
    ok = [v for _, v in orders if v["status"] == "ok"]
    assert len(ok) >= n_orders // 2 and {v["status"] for _, v in orders} <= {"ok", "no_calibration"}
    # The calibration topic is compacted (records with year-old event-time timestamps roll segments at
    # once, so the broker keeps little more than the latest per symbol): each symbol's latest
    # calibration is the one its last priced records used, and refits changed the model.
    latest_cal = {v["symbol"]: v["parameter_hash"] for _, v in cals}
    for symbol in SYMBOLS:
        used = [v["calibration_hash"] for _, v in sfs if v["symbol"] == symbol and v["status"] == "ok"]
        assert used[-1] == latest_cal[symbol] and len(set(used)) >= 2
    assert all(v["shortfall_bps_p5"] <= v["shortfall_bps_p50"] <= v["shortfall_bps_p95"] for v in ok)

    # A second run with a fresh group and changelog over the same inputs: the same bytes again.
    def rows(msgs: list[Any]) -> list[tuple[int, bytes, bytes, int]]:
        # Per partition in offset order: a read interleaves partitions in no fixed order.
        return [(m.partition(), m.key(), m.value(), m.timestamp()[1])
                for m in sorted(msgs, key=lambda m: (m.partition(), m.offset()))]

    latest_a = {m.key(): m for m in cal_msgs}
    ends_cal, ends_sf = end_offsets(settings, topic("calibration")), end_offsets(settings, topic("shortfall"))
    second_app = f"sim-b-{unique}"
    second = TorghutRuntime(SimulationProcessor(_config()), settings, second_app)
    _run_until([second], lambda: _caught_up(settings, second_app, _inputs()))
    sf_after = [m for m in read_all(settings, topic("shortfall")) if m.offset() >= ends_sf[m.partition()]]
    assert rows(sf_after) == rows(sf_msgs)
    latest_b = {m.key(): m for m in read_all(settings, topic("calibration"))}
    assert all(m.offset() >= ends_cal[m.partition()] for m in latest_b.values())  # records of the second run
    assert rows(sorted(latest_b.values(), key=lambda m: m.key())) == rows(
        sorted(latest_a.values(), key=lambda m: m.key()))


def test_advice_carries_expected_shortfall_after_the_first_calibration(sim_topics: Settings, unique: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    settings = sim_topics
    monkeypatch.setenv("EXECUTION_ADVISOR_ENABLED", "true")
    feed = list(synthetic_market(SYMBOLS, 7500, seed=6, order_every=500))
    _produce_feed(settings, feed)
    registry = Registry(settings.schema_registry_url)
    advice_dec = AvroDecoder("execution_advice_v1", registry)
    sf_dec = AvroDecoder("shortfall_distribution_v1", registry)
    runtimes = [TorghutRuntime(StateProcessor(), settings, f"st-{unique}"),
                TorghutRuntime(AdvisorProcessor(), settings, f"adv-{unique}"),
                TorghutRuntime(SimulationProcessor(_config()), settings, f"sim-{unique}")]

    def enriched() -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for m in read_all(settings, topic("advice")):
            v = advice_dec.decode(m.value())
            if v["expected_shortfall_bps_p50"] is not None:
                out[v["symbol"]] = v
        return out

    _run_until(runtimes, lambda: set(enriched()) == set(SYMBOLS))
    refs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for m in read_all(settings, topic("shortfall")):
        v = sf_dec.decode(m.value())
        if v["is_reference_order"]:
            refs.setdefault((v["symbol"], v["liquidity_regime"]), []).append(
                (v["shortfall_bps_p50"], v["shortfall_bps_p95"]))
    for symbol, advice in enriched().items():
        assert advice["simulator_version"] == SIMULATOR_VERSION and advice["shortfall_source"] == "simulator"
        # The figures are those of one of the symbol's reference records for its regime (later refits
        # may have published newer ones since).
        figures = (advice["expected_shortfall_bps_p50"], advice["expected_shortfall_bps_p95"])
        assert figures in refs[(symbol, advice["liquidity_regime"])]
