"""The simulated market through the real pipeline to the paper split book (real broker + registry).

The simulated feed goes into the quotes/trades topics; the state and advisor runtimes turn it into
state and advice; the paper executor reads them with the Torghut client and emits trade-updates
for both arms, which Torghut's own trade-update parsing (torghut_domain/envelopes.py) accepts.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator

import pytest

from consumers.advisor.processor import AdvisorProcessor
from consumers.state.processor import StateProcessor
from producers.paper.executor import ExecutorConfig, ExecutorStats, PaperExecutor
from producers.replay import replay
from producers.simulated_market.feed import market_records
from producers.simulated_market.symbols import symbol_names
from streams.settings import Settings
from streams.timeutil import parse_ts_ns
from tests.support.kafka_io import create_topics, read_all
from torghut_domain.envelopes import TradeUpdate, parse_trade_update
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import topic

pytestmark = pytest.mark.integration
KEYS = ("quotes", "trades", "trade_updates", "book_l2", "state", "advice", "shortfall")
S = 1_000_000_000
START = 1_767_623_400 * S


@pytest.fixture
def paper_topics(unique: str, fast_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for key in KEYS:
        monkeypatch.setenv(f"MICROEXEC_TOPIC_{key.upper()}", f"paper-{key}-{unique}")
    create_topics(fast_settings, [(topic(k), 3, k in ("state", "advice")) for k in KEYS])
    yield fast_settings


class _Running:
    """Runtimes in threads for the length of a ``with`` block (stopped and joined on exit)."""

    def __init__(self, runtimes: list[TorghutRuntime]) -> None:
        self.runtimes = runtimes
        self.threads = [threading.Thread(target=rt.run) for rt in runtimes]

    def __enter__(self) -> _Running:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for rt in self.runtimes:
            rt.stop()
        for t in self.threads:
            t.join(60)


def test_simulated_market_state_advisor_and_paper_executor(paper_topics: Settings, unique: str) -> None:
    settings = paper_topics
    symbols = symbol_names(3)
    seconds = 240.0
    state_app, advisor_app = f"pstate-{unique}", f"padvisor-{unique}"
    runtimes = [TorghutRuntime(StateProcessor(), settings, state_app),
                TorghutRuntime(AdvisorProcessor(), settings, advisor_app)]
    cfg = ExecutorConfig(seed=5, symbols=symbols, start_ns=START, seconds=seconds, n_orders=6,
                         decision_wait_s=20.0, idle_flush_s=2.0, timeout_s=120.0, warmup_s=30.0)
    executor = PaperExecutor(settings, cfg)
    box: dict[str, object] = {}
    # Everything runs live, as in production: the executor's Torghut client reads state and advice
    # as they are published (the compacted topics do not keep the history for a later reader).
    with _Running(runtimes):
        worker = threading.Thread(target=lambda: box.setdefault("stats", executor.run()))
        worker.start()
        sent = replay(settings, market_records(5, symbols, START, seconds, l2_interval_s=1.0), speed=30.0,
                      stamp_ingest=True, show_progress=False)
        worker.join(150)
        assert not worker.is_alive(), "executor did not finish"
    assert sent > 1000
    assert runtimes[0].stats.dlq == 0 and runtimes[1].stats.dlq == 0
    stats = box["stats"]
    assert isinstance(stats, ExecutorStats)
    quotes = read_all(settings, topic("quotes"), committed=False)
    assert {m.key().decode() for m in quotes} == set(symbols)
    first = json.loads(quotes[0].value())
    assert quotes[0].timestamp()[1] == parse_ts_ns(first["eventTs"]) // 1_000_000  # Kafka ts = event time
    assert stats.decided == 6 and len(stats.results) == 6
    assert stats.decided_on_timeout == 0  # every decision saw the advice in force at its arrival
    assert stats.advice_applied > 0

    msgs = read_all(settings, topic("trade_updates"), committed=False)
    assert len(msgs) == stats.trade_updates
    by_order: dict[str, list[tuple[int, TradeUpdate]]] = defaultdict(list)
    for m in msgs:
        env = json.loads(m.value())
        tu = parse_trade_update(env)  # Torghut's parsing accepts every event
        assert m.key().decode() == tu.symbol
        assert m.timestamp()[1] == tu.event_ts_ns // 1_000_000
        arm = tu.order_id.rsplit("-", 1)[1]
        assert arm == tu.account_label and arm in ("baseline", "advisor")
        by_order[tu.order_id].append((m.offset(), tu))
    parents = {r["order_id"] for r in stats.results}
    assert {p.rsplit("-", 1)[0] for p in by_order} == parents
    assert {p.rsplit("-", 1)[1] for p in by_order} == {"baseline", "advisor"}
    assert len(by_order) == 2 * len(parents)
    results = {r["order_id"]: r for r in stats.results}
    for key, events in by_order.items():
        parent, arm = key.rsplit("-", 1)
        lifecycle = [tu for _, tu in sorted(events, key=lambda e: (e[1].event_ts_ns, e[0]))]
        assert lifecycle[0].event == "new" and lifecycle[-1].event in ("fill", "canceled")
        assert all(tu.event == "partial_fill" for tu in lifecycle[1:-1])
        assert all(tu.submitted_at_ns == results[parent]["submitted_ns"] for tu in lifecycle)
        fills = [tu for tu in lifecycle if tu.event in ("partial_fill", "fill")]
        assert sum(tu.fill_qty or 0.0 for tu in fills) == results[parent][arm]["filled_qty"]
        assert lifecycle[-1].filled_qty == results[parent][arm]["filled_qty"]


def test_feed_fails_loudly_when_the_broker_refuses_its_records(unique: str, fast_settings: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A record the broker refuses (here: larger than the topic's max.message.bytes) is an error,
    never a silent gap in the market data."""
    for key in ("quotes", "trades", "book_l2"):
        monkeypatch.setenv(f"MICROEXEC_TOPIC_{key.upper()}", f"refuse-{key}-{unique}")
    create_topics(fast_settings, [(topic(k), 1, False) for k in ("quotes", "trades", "book_l2")],
                  {"max.message.bytes": "200"})
    with pytest.raises(RuntimeError, match="not delivered"):
        replay(fast_settings, market_records(5, ["AMZN"], START, 30.0), stamp_ingest=True, show_progress=False)
