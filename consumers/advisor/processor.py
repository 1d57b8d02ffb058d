"""The advisor consumer's Processor: ``microstructure_state_v1`` (+ reference-order shortfall) ->
``execution_advice_v1`` per symbol.

Keyed state (per input partition):

* ``<symbol>``: the FrictionRegimeController state, the last state record and its coordinates;
* ``shortfall:<symbol>``: the reference-order shortfall table of the symbol, by liquidity regime;
* ``__clock__``: the partition's event-time clock (newest state ``event_ts`` seen), against which
  a state's staleness is measured. Never the wall clock.

``latency_ms`` is the one field that is not a function of the inputs alone. Under the Kafka runtime
(``microexec run advisor``) the processor is given a wall clock, and ``latency_ms`` is the real
delay from the ingest of the market event behind the advice (the state record's
``source_ingest_ts``, Torghut's envelope ``ingestTs``) to the advice being produced, so Torghut's
250 ms ``advisor_timeout`` fallback can trigger. Without a clock (the offline driver, tests) or
without an ingest time on the state record, it is the state's event-time age against the
partition clock, as the decision itself uses. A replay by rewind therefore re-measures latency_ms
(old history gives large values, which Torghut rightly drops); every other field is byte-identical.

Partitioning assumption: state and advice are keyed by symbol. Shortfall records are keyed by order
id, so a reference order's record (``reference:<symbol>:<regime>``) is found only if it lands on
the same partition number as the symbol's state records; the simulation consumer must route
reference-order records by symbol (key them by symbol, or produce them to the partition the default
partitioner gives the symbol). Until a reference entry is found the advice says
``shortfall_source="unavailable"`` with null shortfall fields, which is always safe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from consumers.advisor import ADVISOR_VERSION
from consumers.advisor import metrics as M
from consumers.advisor.advisor import AdvisorConfig, Decision, Shortfall, advise
from streams.processor import FORMAT_AVRO, Emit, InvalidRecord, KeyValueState, SourceRecord
from streams.timeutil import TimestampError, format_ts_ns, parse_ts_ns
from torghut_domain.topics import topic

SCHEMA_VERSION = "execution_advice_v1"
CLOCK_KEY = "__clock__"
SHORTFALL_PREFIX = "shortfall:"


class AdvisorProcessor:
    """streams.Processor for ExecutionPolicyAdvisorV5.

    ``AdvisorProcessor(config=None)``: None reads ``AdvisorConfig.from_env()`` (so
    ``EXECUTION_ADVISOR_ENABLED=false`` disables advice); the config is fixed for the process
    lifetime, hashed for provenance, and never re-read per record (determinism).
    """

    name = "execution-advisor"

    def __init__(self, config: AdvisorConfig | None = None, version: str = ADVISOR_VERSION,
                 wall_clock_ns: Callable[[], int] | None = None) -> None:
        self.config = (config if config is not None else AdvisorConfig.from_env()).validate()
        self._wall_clock_ns = wall_clock_ns
        self.config_hash = self.config.hash
        self.version = version
        self._state_topic, self._shortfall_topic, self._out = topic("state"), topic("shortfall"), topic("advice")
        self.input_formats: Mapping[str, str] = {self._state_topic: FORMAT_AVRO, self._shortfall_topic: FORMAT_AVRO}
        self.output_schemas: Mapping[str, str | None] = {self._out: SCHEMA_VERSION}
        # Event-time merge (docs/ordering.md): state sets the clock; shortfall tables come out of a
        # Monte Carlo run seconds after their event time, so holding state records back for them
        # would add latency to every advice and still not catch them: no wait by default.
        self.sparse_inputs = frozenset({self._shortfall_topic})
        self.sparse_lateness_ms = 0

    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        if record.topic == self._state_topic:
            return self._on_state(record, state)
        if record.topic == self._shortfall_topic:
            return self._on_shortfall(record, state)
        raise InvalidRecord("unknown_topic", record.topic)

    # -- state records ------------------------------------------------------------------------
    def _on_state(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        value = record.value
        if not isinstance(value, Mapping):
            raise InvalidRecord("wrong_envelope", "state record is not an object")
        symbol = value.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise InvalidRecord("missing_field", "symbol")  # cannot even key a fallback
        clock = state.get(CLOCK_KEY)
        now = None if clock is None else int(clock["t"])
        ts = _try_ts(value.get("event_ts"))
        if ts is not None and (now is None or ts > now):
            now = ts
            state.put(CLOCK_KEY, {"t": now})
        if now is None:
            now = record.timestamp_ms * 1_000_000  # an unparseable first record: its Kafka time
        sym = dict(state.get(symbol) or {})
        decision = self._decide(symbol, value, sym, now, state)
        sym["last"] = _json_safe(value)
        state.put(symbol, sym)
        return self._publish(symbol, decision, ts if ts is not None else now, record, value)

    def _decide(self, symbol: str, value: Mapping[str, Any], sym: dict[str, Any], now: int,
                state: KeyValueState) -> Decision:
        regime = value.get("liquidity_regime")
        shortfall = _pick_shortfall(state.get(SHORTFALL_PREFIX + symbol), regime if isinstance(regime, str) else None)
        controller, decision = advise(value, sym.get("ctl"), now, shortfall, self.config)
        if controller is not None:
            sym["ctl"] = controller
        return decision

    # -- shortfall records --------------------------------------------------------------------
    def _on_shortfall(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        value = record.value
        if not isinstance(value, Mapping):
            raise InvalidRecord("wrong_envelope", "shortfall record is not an object")
        if not value.get("is_reference_order", False):
            return ()  # per-order distributions are the TCA consumer's business
        symbol = value.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise InvalidRecord("missing_field", "symbol")
        ts = _try_ts(value.get("event_ts"))
        if ts is None:
            raise InvalidRecord("bad_timestamp", "event_ts")
        p50, p95 = _finite(value.get("shortfall_bps_p50")), _finite(value.get("shortfall_bps_p95"))
        if p50 is None or p95 is None:
            raise InvalidRecord("non_finite_number", "shortfall_bps_p50/p95")
        version = value.get("simulator_version")
        if not isinstance(version, str):
            raise InvalidRecord("missing_field", "simulator_version")
        regime = value.get("liquidity_regime") or _regime_from_order_id(value.get("order_id"))
        if not isinstance(regime, str) or not regime:
            raise InvalidRecord("missing_field", "liquidity_regime")
        key = SHORTFALL_PREFIX + symbol
        table = dict(state.get(key) or {})
        current = table.get(regime)
        if current is not None and current["t"] > ts:
            return ()  # an older distribution than the one we hold
        table[regime] = {"p50": p50, "p95": p95, "ver": version, "t": ts}
        state.put(key, table)
        # Re-advise the symbol with the new figures if its latest state lives on this partition.
        sym_state = state.get(symbol)
        if sym_state is None or "last" not in sym_state:
            return ()
        clock = state.get(CLOCK_KEY)
        last = sym_state["last"]
        last_ts = _try_ts(last.get("event_ts"))
        now = int(clock["t"]) if clock is not None else (last_ts or ts)
        sym = dict(sym_state)
        decision = self._decide(symbol, last, sym, now, state)
        state.put(symbol, sym)
        # As of the later of the two inputs: an advice carrying this distribution must not claim an
        # event time before the distribution existed (every record is consistent with its event_ts).
        return self._publish(symbol, decision, max(ts, last_ts) if last_ts is not None else now, record, last)

    # -- output -------------------------------------------------------------------------------
    def _latency_ms(self, d: Decision, source: Mapping[str, Any]) -> float:
        """Ingest of the market event -> now on the wall clock when there is one (see the module
        docstring); the decision's event-time age otherwise. Clock skew between the ingesting host
        and this one can make the difference negative: it is clamped at 0, never reported as time
        travel."""
        if self._wall_clock_ns is None:
            return d.latency_ms
        ingest = _try_ts(source.get("source_ingest_ts"))
        if ingest is None:
            return d.latency_ms
        return max(0.0, (self._wall_clock_ns() - ingest) / 1e6)

    def _publish(self, symbol: str, d: Decision, event_ts_ns: int, record: SourceRecord,
                 source: Mapping[str, Any]) -> Iterable[Emit]:
        if d.override_reason is not None:
            M.POLICY_OVERRIDE.labels(d.override_reason.split(":", 1)[0]).inc()
        if d.adverse_selection_risk > self.config.adverse.flag_threshold:
            M.ADVERSE_SELECTION_FLAG.labels(symbol).inc()
        if not self.config.enabled:
            M.POLICY_OVERRIDE.labels("advisor_disabled").inc()
            return ()
        a, sf = d.advice, d.shortfall
        value = {
            "schema_version": SCHEMA_VERSION,
            "symbol": symbol,
            "event_ts": format_ts_ns(event_ts_ns),
            "urgency_tier": a.urgency_tier,
            "max_participation_rate": a.max_participation_rate,
            "preferred_order_type": a.preferred_order_type,
            "quote_offset_bps": a.quote_offset_bps,
            "adverse_selection_risk": d.adverse_selection_risk,
            "expected_shortfall_bps_p50": None if sf is None else sf.p50,
            "expected_shortfall_bps_p95": None if sf is None else sf.p95,
            "simulator_version": None if sf is None else sf.simulator_version,
            "latency_ms": self._latency_ms(d, source),
            "shortfall_source": d.shortfall_source,
            "liquidity_regime": d.liquidity_regime,
            "friction_regime": d.friction_regime,
            "turnover_budget": a.turnover_budget,
            "fallback_reason": d.fallback_reason,
            "baseline_max_participation_rate": self.config.baseline.max_participation_rate,
            "input_topic": record.topic,
            "input_partition": record.partition,
            "input_offset": record.offset,
            "config_hash": self.config_hash,
            "advisor_version": self.version,
        }
        return (Emit(self._out, symbol, value, event_ts_ns // 1_000_000),)


def _json_safe(value: Mapping[str, Any]) -> dict[str, Any]:
    """The record with non-finite floats as None: the changelog is strict JSON (no NaN), and a
    NaN field is invalid for the advisor anyway, so re-advising from it still falls back."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in value.items()}


def _try_ts(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_ts_ns(value)
    except TimestampError:
        return None


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _regime_from_order_id(order_id: Any) -> str | None:
    """``reference:<symbol>:<regime>`` -> regime."""
    if isinstance(order_id, str) and order_id.startswith("reference:"):
        parts = order_id.split(":")
        if len(parts) >= 3:
            return parts[-1]
    return None


def _pick_shortfall(table: Mapping[str, Any] | None, regime: str | None) -> Shortfall | None:
    """The entry for the state's liquidity regime; None when the simulator has none for that regime
    (a distribution simulated for another regime would be misleading)."""
    if not table or regime is None:
        return None
    entry = table.get(regime)
    if entry is None:
        return None
    return Shortfall(entry["p50"], entry["p95"], entry["ver"], entry["t"])
