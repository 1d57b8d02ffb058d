"""The live paper executor: seeded parents on the simulated market, baseline vs advisor-bounded.

What it does, in event time:

1. generates the run's parents (:func:`generate_orders`, seeded) over the feed's window;
2. follows the quotes topic to learn each parent's arrival mid (the last quote at or before its
   ``submitted_ns``) and the feed's event-time watermark;
3. follows the state and advice topics with the Torghut client (``AdviceSubscriber`` into a
   :class:`HistoryBook`) and asks ``AdviceBook.advice_for`` as of the arrival, once a state and an
   advice newer than the arrival have arrived (or after ``decision_wait_s`` of wall time, counted
   as ``decided_on_timeout``: the live client would also decide on what it holds);
4. works the parent twice (:func:`execute_arms`, one market seed; the advised arm over Torghut's
   1-3x stretched horizon, :func:`advised_execution`) on the symbol's model in the
   regime scheduled at arrival, shifts the path's prices onto the feed's arrival mid, and emits
   both arms' trade-updates (``accountLabel`` baseline / advisor) once the feed's event time has
   passed each event, so the TCA consumer sees them in step with the market.

Why the executions run on their own market path and not on the feed's events: the engine works
child orders against a book whose order flow it draws; the feed is another path of the same
model and regime. The counterfactual that matters (same market for both arms) holds exactly.

It never hangs: a wall-clock ``timeout_s`` bounds the run (:class:`ExecutorError`), a stop
event (SIGTERM) ends it, and a quote-less symbol is an error, not a wait.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from producers.paper.history import HistoryBook
from producers.paper.orders import NS_PER_S, PaperOrder, generate_orders
from producers.paper.policy_map import (
    PaperConfig,
    advised_catch_up,
    advised_execution,
    baseline_order,
    baseline_policy,
)
from producers.paper.split_book import (
    DEFAULT_WARMUP_S,
    execute_arms,
    full_shortfall_bps,
    order_seed,
    stretched_order,
    trade_updates,
)
from producers.simulated_market.regimes import DEFAULT_SEGMENT_S, regime_model, schedule
from producers.simulated_market.symbols import symbol_model
from simulator.execution.run import ExecutionResult
from simulator.market.model import MarketModel
from streams.settings import Settings
from torghut_client import AdviceSubscriber
from torghut_domain.envelopes import parse_quote
from torghut_domain.topics import topic

log = logging.getLogger("microexec.paper")


class ExecutorError(RuntimeError):
    """The run cannot finish correctly (timeout, missing topic, a symbol without quotes)."""


@dataclass(frozen=True)
class ExecutorConfig:
    seed: int
    symbols: list[str]
    start_ns: int
    seconds: float
    n_orders: int
    segment_s: float = DEFAULT_SEGMENT_S
    paper: PaperConfig = field(default_factory=PaperConfig)
    warmup_s: float = DEFAULT_WARMUP_S
    decision_wait_s: float = 10.0
    idle_flush_s: float = 5.0
    timeout_s: float = 900.0

    @property
    def end_ns(self) -> int:
        return self.start_ns + round(self.seconds * NS_PER_S)


@dataclass
class ExecutorStats:
    orders: int = 0
    decided: int = 0
    decided_on_timeout: int = 0
    advice_applied: int = 0
    risk_rejected: int = 0
    trade_updates: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)


def _arm(order: PaperOrder, result: ExecutionResult, shift: float) -> dict[str, Any]:
    return {"full_shortfall_bps": full_shortfall_bps(order, result),
            "arrival": round(result.arrival_mid + shift, 6), "end_mid": round(result.end_mid + shift, 6),
            "filled_qty": result.filled_qty, "fill_ratio": result.fill_ratio,
            "avg_fill_price": None if result.filled_qty == 0 else round(result.avg_fill_price + shift, 6),
            "shortfall_bps": None if math.isnan(result.shortfall_bps) else result.shortfall_bps,
            "child_orders": result.child_orders}


class PaperExecutor:
    """One run of the split book against the live topics (see the module docstring)."""

    def __init__(self, settings: Settings, cfg: ExecutorConfig, stop: threading.Event | None = None) -> None:
        self.settings, self.cfg = settings, cfg
        self.stop = stop or threading.Event()
        self.orders = generate_orders(cfg.seed, cfg.symbols, cfg.start_ns, cfg.end_ns, cfg.n_orders)
        self.stats = ExecutorStats(orders=len(self.orders))
        self._models: dict[tuple[str, str], MarketModel] = {}
        # (event time, arm's order id, sequence, symbol, envelope): updates of one event time go out in
        # order-id order, the order in which the TCA acts on equal deadlines, so a completion it processes
        # beyond its wait (a loaded machine) emits in a replay's order (the sequence keeps an arm's own).
        self._heap: list[tuple[int, str, int, str, dict[str, Any]]] = []
        self._seq = 0
        self._failures: list[str] = []

    def model(self, symbol: str, regime: str) -> MarketModel:
        key = (symbol, regime)
        if key not in self._models:
            self._models[key] = regime_model(symbol_model(self.cfg.seed, symbol), regime)
        return self._models[key]

    def decide(self, book: HistoryBook, order: PaperOrder, arrival_mid: float, on_timeout: bool) -> dict[str, Any]:
        """Advice as of arrival, both arms executed, their trade-updates queued; returns the result row."""
        cfg = self.cfg
        applied = book.advice_as_of(order.symbol, order.submitted_ns, baseline_order(cfg.paper))
        regime = schedule(cfg.seed, order.symbol, (order.submitted_ns - cfg.start_ns) / NS_PER_S, cfg.segment_s)
        model = self.model(order.symbol, regime)
        base_pol = baseline_policy(cfg.paper)
        adv_pol, stretch = advised_execution(applied, cfg.paper)
        base, adv = execute_arms(model, order, base_pol, adv_pol, stretch, order_seed(cfg.seed, order), cfg.warmup_s,
                                 advised_catch_up(adv_pol, cfg.paper))
        shift = round((arrival_mid - base.arrival_mid) / model.tick_size) * model.tick_size
        advised_order = stretched_order(order, stretch)
        for arm, arm_order, result, pol in (("baseline", order, base, base_pol),
                                            ("advisor", advised_order, adv, adv_pol)):
            kind = "market" if pol.order_type == "marketable" else "limit"
            for env in trade_updates(arm_order, result, arm, price_shift=shift, order_type=kind,
                                     entry_latency_s=pol.order_entry_latency_s, tick_size=model.tick_size):
                self._seq += 1
                heapq.heappush(self._heap, (self._ts(env), order.arm_order_id(arm), self._seq, order.symbol, env))
        st = self.stats
        st.decided += 1
        st.decided_on_timeout += int(on_timeout)
        st.advice_applied += int(applied.applied)
        st.risk_rejected += int(applied.risk_rejected)
        return {"order_id": order.order_id, "symbol": order.symbol, "side": order.side, "quantity": order.quantity,
                "horizon_s": order.horizon_s, "strategy": order.strategy, "submitted_ns": order.submitted_ns,
                "regime": regime, "arrival_mid": arrival_mid, "price_shift": shift, "decided_on_timeout": on_timeout,
                "advice": {"applied": applied.applied, "fallback_reason": applied.fallback_reason,
                           "participation_rate": applied.participation_rate, "order_type": applied.order_type,
                           "urgency_tier": applied.urgency_tier, "quote_offset_bps": applied.quote_offset_bps,
                           "risk_rejected": applied.risk_rejected},
                "advised_stretch": stretch,
                "baseline": _arm(order, base, shift), "advisor": _arm(advised_order, adv, shift)}

    @staticmethod
    def _ts(env: dict[str, Any]) -> int:
        from streams.timeutil import parse_ts_ns

        return parse_ts_ns(env["payload"]["timestamp"])

    def _delivered(self, err: object, _msg: object) -> None:
        if err is not None:
            self._failures.append(str(err))

    def _emit(self, producer: Producer, upto: int) -> None:
        if self._failures:
            raise ExecutorError(f"{len(self._failures)} trade-update(s) not delivered; first: {self._failures[0]}")
        name = topic("trade_updates")
        while self._heap and self._heap[0][0] <= upto:
            ts, _, _, symbol, env = heapq.heappop(self._heap)
            while True:
                try:
                    producer.produce(name, json.dumps(env, separators=(",", ":")).encode(), symbol.encode(),
                                     timestamp=ts // 1_000_000, on_delivery=self._delivered)
                    break
                except BufferError:
                    producer.poll(0.05)
            self.stats.trade_updates += 1
        producer.poll(0)

    def _quotes_consumer(self) -> Consumer:
        conf = {**self.settings.kafka_common(), "group.id": f"microexec-paper-{self.cfg.seed}",
                "enable.auto.commit": False, "enable.partition.eof": False, "auto.offset.reset": "earliest"}
        consumer = Consumer(conf)
        name = topic("quotes")
        meta = consumer.list_topics(name, timeout=10).topics.get(name)
        if meta is None or meta.error is not None or not meta.partitions:
            consumer.close()
            raise ExecutorError(f"quotes topic {name} is not available")
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in meta.partitions])
        return consumer

    def run(self, progress: Any = None) -> ExecutorStats:
        """Run to completion; raises :class:`ExecutorError` on timeout or missing data."""
        book = HistoryBook()
        subscriber = AdviceSubscriber(book, self.settings.kafka_common(), self.settings.schema_registry_url)
        try:
            subscriber.assign()
        except RuntimeError as exc:
            subscriber.close()
            raise ExecutorError(str(exc)) from exc
        subscriber.start()
        quotes = self._quotes_consumer()
        producer = Producer({**self.settings.kafka_common(), "enable.idempotence": True, "linger.ms": 5,
                             "compression.type": "lz4", "partitioner": "murmur2_random"})
        try:
            self._loop(book, quotes, producer, progress)
        finally:
            quotes.close()
            subscriber.close()
            left = producer.flush(30)
        if left or self._failures:
            raise ExecutorError(f"{left} trade-updates left unsent, {len(self._failures)} not delivered")
        self.stats.results.sort(key=lambda r: r["order_id"])
        return self.stats

    def _loop(self, book: HistoryBook, quotes: Consumer, producer: Producer, progress: Any) -> None:
        cfg = self.cfg
        pending: dict[str, deque[PaperOrder]] = {s: deque() for s in cfg.symbols}
        for o in self.orders:
            pending[o.symbol].append(o)
        last_mid: dict[str, float] = {}
        ready: list[tuple[PaperOrder, float, float]] = []
        watermark = cfg.start_ns - 1
        started = last_quote_wall = time.monotonic()
        feed_idle = False
        while self.stats.decided < len(self.orders) or self._heap:
            now = time.monotonic()
            if self.stop.is_set():
                raise ExecutorError("stopped before the run completed")
            if now - started > cfg.timeout_s:
                raise ExecutorError(f"timed out after {cfg.timeout_s:g} s with {self.stats.decided}/"
                                    f"{len(self.orders)} parents decided")
            for msg in quotes.consume(num_messages=1000, timeout=0.2):
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        log.warning("quotes consumer: %s", err)
                    continue
                try:
                    q = parse_quote(json.loads(msg.value() or b"null"))
                except Exception:  # a bad quote is the state consumer's DLQ business, not ours
                    continue
                last_quote_wall = now
                queue = pending.get(q.symbol)
                mid = 0.5 * (q.bid_price + q.ask_price)
                while queue and queue[0].submitted_ns < q.event_ts_ns:
                    ready.append((queue.popleft(), last_mid.get(q.symbol, mid), now))
                last_mid[q.symbol] = mid
                watermark = max(watermark, q.event_ts_ns)
            # The feed ended: quotes stopped after its event time reached the last seconds of the
            # window. (Quiet before the first quote or mid-window is a wait; the timeout bounds it.)
            feed_idle = (now - last_quote_wall > cfg.idle_flush_s
                         and watermark >= cfg.end_ns - round(cfg.idle_flush_s * NS_PER_S) - 10 * NS_PER_S)
            if feed_idle:  # the feed ended: what is still pending arrives on the last quote
                for symbol, queue in pending.items():
                    while queue:
                        if symbol not in last_mid:
                            raise ExecutorError(f"no quotes for {symbol}: cannot price its parents")
                        ready.append((queue.popleft(), last_mid[symbol], now))
            still = []
            for order, mid, since in ready:
                timed_out = now - since > cfg.decision_wait_s
                if book.seen_past(order.symbol, order.submitted_ns) or timed_out:
                    self.stats.results.append(self.decide(book, order, mid,
                                                          not book.seen_past(order.symbol, order.submitted_ns)))
                    if progress is not None:
                        progress(self.stats)
                else:
                    still.append((order, mid, since))
            ready = still
            waiting = [o.submitted_ns for o, _, _ in ready] + [q[0].submitted_ns for q in pending.values() if q]
            book.prune_before(min(waiting) if waiting else watermark)
            self._emit(producer, (1 << 62) if feed_idle else watermark)


def write_results(path: str | Path, stats: ExecutorStats) -> None:
    """One JSON line per parent (sorted by id): both arms, the advice used, the regime."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in stats.results))
