"""The demo's live terminal view: advice per symbol, divergence records, alerts firing/resolving.

Why it reads the topics like any client: what the view shows is what Torghut and operations would
read (the Torghut client for state and advice, read_committed consumers for divergence and
alerts), not the demo's own idea of what the consumers did.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict, deque
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from rich.console import Group
from rich.table import Table

from microexec.demo_procs import Supervisor
from producers.simulated_market.regimes import schedule
from streams.reading import partitions_of, reader
from streams.serde import AvroDecoder, Registry
from streams.settings import Settings
from streams.timeutil import parse_ts_ns
from torghut_client import AdviceBook, AdviceSubscriber
from torghut_domain.topics import topic


class AvroFollower:
    """Follows Avro topics from the beginning (read_committed) and decodes every record."""

    def __init__(self, settings: Settings, stems: dict[str, str]) -> None:
        registry = Registry(settings.schema_registry_url) if settings.schema_registry_url else None
        self.decoders = {name: AvroDecoder(stem, registry) for name, stem in stems.items()}
        self.consumer = reader(settings.kafka_common(), "microexec-demo-view")
        parts = [TopicPartition(name, p, OFFSET_BEGINNING)
                 for name in stems for p in partitions_of(self.consumer, name)]
        self.consumer.assign(parts)
        self.undecodable = 0

    def poll(self, timeout_s: float = 0.1) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for msg in self.consumer.consume(num_messages=500, timeout=timeout_s):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(f"demo view consumer: {err}")
                continue
            name = str(msg.topic())
            try:
                out.append((name, self.decoders[name].decode(msg.value() or b"")))
            except Exception:
                self.undecodable += 1
        return out

    def close(self) -> None:
        self.consumer.close()


def _f(x: Any, fmt: str = ".2f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


class LiveView:
    """State kept for rendering; ``poll`` pulls new records, ``render`` builds the screen."""

    def __init__(self, settings: Settings, seed: int, segment_s: float, start_ns: int, symbols: list[str]) -> None:
        self.seed, self.segment_s, self.start_ns, self.symbols = seed, segment_s, start_ns, symbols
        self.book = AdviceBook()
        self.subscriber = AdviceSubscriber(self.book, settings.kafka_common(), settings.schema_registry_url)
        self.subscriber.start()
        self.div_topic, self.alert_topic = topic("tca_divergence"), topic("alerts")
        self.follower = AvroFollower(settings, {self.div_topic: "tca_divergence_v1",
                                                self.alert_topic: "execution_alert_v1"})
        self.divergence: list[dict[str, Any]] = []
        self.recent: deque[dict[str, Any]] = deque(maxlen=6)
        self.alerts: dict[str, dict[str, Any]] = {}
        self.alert_events: deque[dict[str, Any]] = deque(maxlen=6)

    def poll(self) -> None:
        for name, rec in self.follower.poll():
            if name == self.div_topic:
                self.divergence.append(rec)
                self.recent.append(rec)
            else:
                self.alerts[rec["alert_key"]] = rec
                self.alert_events.append(rec)

    def close(self) -> None:
        self.subscriber.close()
        self.follower.close()

    def _advice_table(self) -> Table:
        t = Table(title="Advice per symbol (what Torghut reads)", expand=True)
        for col in ("symbol", "sim regime", "state regime", "spread bps", "depth5 USD", "urgency", "max part.",
                    "order type", "offset bps", "AS risk", "ES p50/p95 bps", "latency ms", "advice at"):
            t.add_column(col)
        for symbol in self.symbols:
            state, advice = self.book.latest(symbol)
            sim = "-"
            if state is not None:
                try:
                    sim = schedule(self.seed, symbol, max(0.0, (parse_ts_ns(state["event_ts"]) - self.start_ns) / 1e9),
                                   self.segment_s)
                except Exception:
                    sim = "?"
            st, adv = state or {}, advice or {}
            t.add_row(symbol, sim, st.get("liquidity_regime", "-"), _f(st.get("spread_bps")),
                      _f(st.get("depth_top5_usd"), ",.0f"), adv.get("urgency_tier", "-"),
                      _f(adv.get("max_participation_rate"), ".3f"), adv.get("preferred_order_type", "-"),
                      _f(adv.get("quote_offset_bps")), _f(adv.get("adverse_selection_risk")),
                      f"{_f(adv.get('expected_shortfall_bps_p50'))} / {_f(adv.get('expected_shortfall_bps_p95'))}",
                      _f(adv.get("latency_ms"), ".0f"), str(adv.get("event_ts", "-"))[11:23])
        return t

    def _divergence_table(self) -> Table:
        t = Table(title=f"TCA divergence ({len(self.divergence)} records)", expand=True)
        for col in ("arm", "orders", "mean slippage bps", "mean divergence bps", "last order", "last slippage"):
            t.add_column(col)
        by_arm: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self.divergence:
            by_arm[str(r.get("strategy") or "?")].append(r)
        for arm in sorted(by_arm):
            rows = by_arm[arm]
            divs = [r["divergence_bps"] for r in rows if r.get("divergence_bps") is not None]
            last = rows[-1]
            t.add_row(arm, str(len(rows)), _f(statistics.fmean(r["slippage_bps"] for r in rows)),
                      _f(statistics.fmean(divs)) if divs else "-", str(last.get("order_id")), _f(last["slippage_bps"]))
        return t

    def _alerts_table(self) -> Table:
        firing = [a for a in self.alerts.values() if a.get("status") == "firing"]
        t = Table(title=f"Alerts: {len(firing)} firing, {len(self.alerts) - len(firing)} resolved/other", expand=True)
        for col in ("event", "type", "status", "symbol", "message"):
            t.add_column(col)
        for a in self.alert_events:
            t.add_row(str(a.get("event_ts", ""))[11:23], a.get("alert_type", ""), a.get("status", ""),
                      str(a.get("symbol") or "-"), str(a.get("message", ""))[:70])
        return t

    def render(self, sup: Supervisor, phase: str, missing: list[str]) -> Group:
        procs = "  ".join(f"{c.name}:{'up' if c.exited() is None else f'exit {c.exited()}'}" for c in sup.children)
        head = f"[bold]microexec demo[/bold] - {phase}\n{procs}"
        if missing:
            head += f"\n[yellow]not available in this build: {', '.join(missing)}[/yellow]"
        return Group(head, self._advice_table(), self._divergence_table(), self._alerts_table())
