"""The alerts consumer's Processor: ``tca_divergence_v1`` + ``execution_advice_v1`` +
``microstructure_state_v1`` (all keyed by symbol, co-partitioned) -> ``execution_alert_v1``.

Keyed state (per input partition), one small dict per rule and symbol so a record rewrites only
what it touches in the changelog:

* ``div:<symbol>``: the open divergence window and the run of breached windows (rules.divergence_step);
* ``adv:<symbol>``: the open adverse-selection window (rules.adverse_step);
* ``stale:<symbol>``: newest advice and state times, the oldest unanswered state (rules.stale_on_*);
* ``__stream__``: advice records applied on the partition (``seq``) and, written only by the
  wall-clock timer, the wall time ``seq`` last moved (rules.stream_tick);
* ``__active__``: the alert keys firing on the partition, so the status gauges are re-asserted
  after a restart.

``process`` decides on event time only, so a replay reproduces its alerts byte for byte.
``punctuate`` is the one wall-clock entry point (streams.processor.PunctuatingProcessor): it
raises ``advice_stream_stale:*:p<partition>`` when no advice at all reached the partition for
``stream_timeout_s``, which ``process`` cannot see because nothing arrives to time out on. The
whole-stream key carries the input partition because that is what one instance can know (and
the unit in which an advisor instance owns work): two partitions of one stream never repeat each
other's ``firing``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from consumers.alerts import metrics as M
from consumers.alerts.config import AlertsConfig
from consumers.alerts.rules import (
    FIRING,
    Transition,
    adverse_step,
    divergence_step,
    stale_lag_ns,
    stale_on_advice,
    stale_on_state,
    stream_tick,
)
from streams.processor import FORMAT_AVRO, Emit, InvalidRecord, KeyValueState, SourceRecord
from streams.timeutil import TimestampError, format_ts_ns, parse_ts_ns
from torghut_domain.topics import topic

DIVERGENCE, ADVERSE, STALE = "tca_divergence_breach", "adverse_selection_spike", "advice_stream_stale"
SEVERITY = {DIVERGENCE: "warning", ADVERSE: "critical", STALE: "critical"}
STREAM_KEY, ACTIVE_KEY = "__stream__", "__active__"
_MAX_ABS_DIVERGENCE_BPS = 1e6  # 10,000 % of the price: anything beyond is a broken record
_GAUGE_GRACE_ROUNDS = 3  # a partition not punctuated for this many intervals is no longer ours


class AlertsProcessor:
    """streams.Processor (and PunctuatingProcessor) for the seed's three alerts.

    ``AlertsProcessor(config=None)``: None reads ``AlertsConfig.from_env()``; the config is fixed
    for the process lifetime (determinism)."""

    name = "execution-alerts"

    def __init__(self, config: AlertsConfig | None = None) -> None:
        self.config = (config if config is not None else AlertsConfig.from_env()).validate()
        self.punctuate_interval_s = self.config.punctuate_interval_s
        self._tca, self._advice, self._state, self._out = (
            topic("tca_divergence"), topic("advice"), topic("state"), topic("alerts"))
        # Advice ranks before state: on equal timestamps an advice and the state it answers are
        # applied answer-first, so a replay never sees a momentary "unanswered" state.
        self.input_formats: Mapping[str, str] = {
            self._advice: FORMAT_AVRO, self._state: FORMAT_AVRO, self._tca: FORMAT_AVRO}
        self.output_schemas: Mapping[str, str | None] = {self._out: "execution_alert_v1"}
        self.sparse_inputs = frozenset({self._tca})  # event-time merge: state and advice set the clock
        # In-process only (metrics hygiene, never decisions): status gauges this process set per
        # partition, and the wall time each partition was last punctuated.
        self._gauges: dict[int, set[tuple[str, str]]] = {}
        self._punctuated_at: dict[int, int] = {}
        # Whether each punctuated partition has ever carried a symbol (state or advice seen). Silence
        # on a partition that never did is staleness only while *nothing* arrives on any partition
        # of this instance (the pipeline is down); once symbols flow elsewhere it is just an empty
        # partition (few symbols over many partitions), not Torghut running on its baseline.
        self._carries: dict[int, bool] = {}

    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        value = record.value
        if not isinstance(value, Mapping):
            raise InvalidRecord("wrong_envelope", f"{record.topic} record is not an object")
        if record.topic == self._advice:
            return self._on_advice(record.partition, value, state)
        if record.topic == self._state:
            return self._on_state(record.partition, value, state)
        if record.topic == self._tca:
            return self._on_divergence(record.partition, value, state)
        raise InvalidRecord("unknown_topic", record.topic)

    # -- inputs ---------------------------------------------------------------------------------
    def _on_divergence(self, partition: int, value: Mapping[str, Any], state: KeyValueState) -> list[Emit]:
        symbol, ts = _symbol(value), _ts(value)
        divergence = value.get("divergence_bps")
        if divergence is None:  # no simulated distribution for this order: nothing to diverge from
            M.SKIPPED.labels("divergence_without_expected").inc()
            return []
        # Bounded so that a window's sum stays finite: state goes to the changelog as strict JSON,
        # and an infinite sum would fail every commit (a crash loop), not just this record.
        d = _number(divergence, "divergence_bps", -_MAX_ABS_DIVERGENCE_BPS, _MAX_ABS_DIVERGENCE_BPS)
        s, transition, mean = divergence_step(state.get("div:" + symbol), abs(d), self.config)
        state.put("div:" + symbol, s)
        if mean is not None:
            M.DIVERGENCE_WINDOW.labels(symbol).set(mean)
        return self._emit(partition, state, DIVERGENCE, symbol, transition, ts)

    def _on_advice(self, partition: int, value: Mapping[str, Any], state: KeyValueState) -> list[Emit]:
        symbol, ts = _symbol(value), _ts(value)
        risk = _number(value.get("adverse_selection_risk"), "adverse_selection_risk", 0.0, 1.0)
        participation = _number(value.get("max_participation_rate"), "max_participation_rate", 0.0, 1.0)
        stream = dict(state.get(STREAM_KEY) or {"seq": 0})
        stream["seq"] += 1
        state.put(STREAM_KEY, stream)
        self._carries[partition] = True
        adv, adverse, rate = adverse_step(state.get("adv:" + symbol), ts, risk, participation, self.config)
        state.put("adv:" + symbol, adv)
        if rate is not None:
            M.ADVERSE_FLAG_RATE.labels(symbol).set(rate)
        stale, fresh = stale_on_advice(state.get("stale:" + symbol), ts, self.config)
        state.put("stale:" + symbol, stale)
        M.ADVICE_LAG.labels(symbol).set(stale_lag_ns(stale) / 1e9)
        return (self._emit(partition, state, ADVERSE, symbol, adverse, ts)
                + self._emit(partition, state, STALE, symbol, fresh, ts))

    def _on_state(self, partition: int, value: Mapping[str, Any], state: KeyValueState) -> list[Emit]:
        symbol, ts = _symbol(value), _ts(value)
        stream = state.get(STREAM_KEY)
        if stream is None or not stream.get("carries"):
            state.put(STREAM_KEY, {**(stream or {"seq": 0}), "carries": True})
            self._carries[partition] = True
        stale, transition = stale_on_state(state.get("stale:" + symbol), ts, self.config)
        state.put("stale:" + symbol, stale)
        M.ADVICE_LAG.labels(symbol).set(stale_lag_ns(stale) / 1e9)
        return self._emit(partition, state, STALE, symbol, transition, ts)

    # -- the wall-clock timer -------------------------------------------------------------------
    def punctuate(self, now_wall_ns: int, partition: int, state: KeyValueState) -> Iterable[Emit]:
        """Wall-clock punctuation (the one non-replayable entry point): whole-partition advice
        staleness, and the status gauges re-asserted from state."""
        current = state.get(STREAM_KEY) or {"seq": 0}
        carries = bool(current.get("carries")) or current["seq"] > 0
        # Whether the whole instance is silent can be judged only once every partition of this
        # process has been looked at (its second tick on): a restarted instance must not call its
        # empty partitions stale before it saw the others. Until then the partition keeps what the
        # last judgement was (kept in its state), so a restart neither raises a false alarm nor
        # delays a true one.
        if partition in self._carries:
            pipeline_silent = not any(self._carries.values())
        else:
            pipeline_silent = bool(current.get("silent", False))
        self._carries[partition] = carries
        s, changed, transition, idle_s = stream_tick(current, now_wall_ns, self.config,
                                                     watch=carries or pipeline_silent)
        if bool(s.get("silent", False)) != pipeline_silent:
            s = {**s, "silent": pipeline_silent}
            changed = True
        if changed:
            state.put(STREAM_KEY, s)
        M.STREAM_IDLE.labels(str(partition)).set(idle_s)
        out = self._emit(partition, state, STALE, None, transition, now_wall_ns)
        for alert_key, alert_type in (state.get(ACTIVE_KEY) or {}).items():
            M.ALERT_FIRING.labels(alert_type, alert_key).set(1)
            self._gauges.setdefault(partition, set()).add((alert_type, alert_key))
        self._punctuated_at[partition] = now_wall_ns
        self._forget_partitions_not_punctuated(now_wall_ns)
        return out

    def _forget_partitions_not_punctuated(self, now_wall_ns: int) -> None:
        """Remove the gauges of partitions this process stopped punctuating (revoked): their new
        owner reports them, and a leftover 1 here would keep an alert firing in Prometheus."""
        limit = now_wall_ns - int(_GAUGE_GRACE_ROUNDS * self.punctuate_interval_s * 1e9)
        for partition, at in list(self._punctuated_at.items()):
            if at < limit:
                for labels in self._gauges.pop(partition, set()):
                    M.ALERT_FIRING.remove(*labels)
                M.STREAM_IDLE.remove(str(partition))
                del self._punctuated_at[partition]

    # -- output ---------------------------------------------------------------------------------
    def _emit(self, partition: int, state: KeyValueState, alert_type: str, symbol: str | None,
              transition: Transition | None, event_ts_ns: int) -> list[Emit]:
        if transition is None:
            return []
        key = f"{alert_type}:{symbol}" if symbol is not None else f"{alert_type}:*:p{partition}"
        active = dict(state.get(ACTIVE_KEY) or {})
        firing = transition.status == FIRING
        if firing:
            active[key] = alert_type
        else:
            active.pop(key, None)
        state.put(ACTIVE_KEY, active)
        M.ALERT_FIRING.labels(alert_type, key).set(1 if firing else 0)
        self._gauges.setdefault(partition, set()).add((alert_type, key))
        M.ALERT_TRANSITIONS.labels(alert_type, transition.status).inc()
        value = {
            "alert_key": key,
            "alert_type": alert_type,
            "status": transition.status,
            "severity": SEVERITY[alert_type] if firing else "info",
            "symbol": symbol,
            "event_ts": format_ts_ns(event_ts_ns),
            "message": transition.message,
            "value": transition.value,
            "threshold": transition.threshold,
            "consecutive_windows": transition.consecutive_windows,
        }
        return [Emit(self._out, key, value, event_ts_ns // 1_000_000)]


def _symbol(value: Mapping[str, Any]) -> str:
    symbol = value.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise InvalidRecord("missing_field", "symbol")
    return symbol


def _ts(value: Mapping[str, Any]) -> int:
    raw = value.get("event_ts")
    if not isinstance(raw, str):
        raise InvalidRecord("missing_field", "event_ts")
    try:
        return parse_ts_ns(raw)
    except TimestampError:
        raise InvalidRecord("bad_timestamp", f"event_ts={raw!r}") from None


def _number(raw: Any, name: str, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InvalidRecord("missing_field", name)
    if not math.isfinite(raw):
        raise InvalidRecord("non_finite_number", name)
    if (lo is not None and raw < lo) or (hi is not None and raw > hi):
        raise InvalidRecord("out_of_range", f"{name}={raw}")
    return float(raw)
