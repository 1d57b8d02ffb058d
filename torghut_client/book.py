"""AdviceBook: the latest state and advice per symbol, and Torghut's rules for applying advice.

Why pure and separate from Kafka: Torghut's decision "apply this advice or fall back" must be
testable without a broker and identical whether records arrive from the compacted topics, from a
replay or from a test. The rules are Torghut's own (TORGHUT.md):

* advice is ignored unless a valid microstructure state for the same symbol is held;
* a state older than ``max_staleness_s`` (15 s, ``TRADING_EXECUTION_ADVISOR_MAX_STALENESS_SECONDS``)
  gives the baseline;
* advice with ``latency_ms`` above ``timeout_ms`` (250, ``TRADING_EXECUTION_ADVISOR_TIMEOUT_MS``) is
  dropped;
* applied participation is ``min(advice, baseline)``; ``preferred_order_type=limit`` turns a market
  order into a limit order; nothing in the advice loosens the baseline;
* ``adverse_selection_risk > 0.85`` is a risk rejection (flagged, the caller's risk engine acts);
* both ``TRADING_EXECUTION_ADVISOR_ENABLED`` and ``..._LIVE_APPLY_ENABLED`` must be on to apply.

Every answer, applied or not, carries the provenance of the records it used.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streams.timeutil import TimestampError, parse_ts_ns
from torghut_domain.state_view import InvalidState, parse_state

NS_PER_S = 1_000_000_000
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class ClientRules:
    max_staleness_s: float = 15.0
    timeout_ms: float = 250.0
    adverse_selection_reject_threshold: float = 0.85
    enabled: bool = True
    live_apply_enabled: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClientRules:
        """Torghut's own variable names and defaults."""
        env = os.environ if env is None else env
        return cls(
            max_staleness_s=float(env.get("TRADING_EXECUTION_ADVISOR_MAX_STALENESS_SECONDS", "15")),
            timeout_ms=float(env.get("TRADING_EXECUTION_ADVISOR_TIMEOUT_MS", "250")),
            enabled=env.get("TRADING_EXECUTION_ADVISOR_ENABLED", "true").strip().lower() in _TRUE,
            live_apply_enabled=env.get("TRADING_EXECUTION_ADVISOR_LIVE_APPLY_ENABLED", "true").strip().lower()
            in _TRUE,
        )


@dataclass(frozen=True, slots=True)
class BaselineOrder:
    """What Torghut's deterministic policy would send without advice."""

    participation_rate: float
    order_type: str  # market | limit | stop | stop_limit


@dataclass(frozen=True, slots=True)
class Coordinates:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class AppliedAdvice:
    """The answer of ``advice_for``: the order parameters to use and why.

    ``applied`` is False for a fallback (then ``participation_rate``/``order_type`` are the
    baseline's and ``fallback_reason`` says why). ``risk_rejected`` is Torghut's adverse-selection
    rejection (only ever set on applied advice).
    """

    symbol: str
    applied: bool
    fallback_reason: str | None
    participation_rate: float
    order_type: str
    urgency_tier: str | None
    quote_offset_bps: float | None
    adverse_selection_risk: float | None
    risk_rejected: bool
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Entry:
    value: dict[str, Any]
    event_ts_ns: int
    coords: Coordinates | None


def _ts_ns(now: datetime | int | str) -> int:
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return int(now.timestamp()) * NS_PER_S + now.microsecond * 1000
    if isinstance(now, str):
        return parse_ts_ns(now)
    return int(now)


def _finite(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


class AdviceBook:
    """Latest ``microstructure_state_v1`` and ``execution_advice_v1`` per symbol (thread-safe)."""

    def __init__(self, rules: ClientRules | None = None) -> None:
        self.rules = rules or ClientRules()
        self._states: dict[str, _Entry] = {}
        self._advice: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    # -- updates (from the subscriber, a replay or a test) ------------------------------------
    def update_state(self, symbol: str, value: Mapping[str, Any] | None, coords: Coordinates | None = None) -> None:
        self._update(self._states, symbol, value, coords)

    def update_advice(self, symbol: str, value: Mapping[str, Any] | None, coords: Coordinates | None = None) -> None:
        self._update(self._advice, symbol, value, coords)

    def _update(self, table: dict[str, _Entry], symbol: str, value: Mapping[str, Any] | None,
                coords: Coordinates | None) -> None:
        with self._lock:
            if value is None:  # compaction tombstone
                table.pop(symbol, None)
                return
            event_ts = value.get("event_ts")
            try:
                ts = parse_ts_ns(event_ts) if isinstance(event_ts, str) else -1
            except TimestampError:
                ts = -1  # kept (so that it is reported as invalid), but never newer than a valid one
            current = table.get(symbol)
            if current is None or ts >= current.event_ts_ns:
                table[symbol] = _Entry(dict(value), ts, coords)

    def symbols(self) -> list[str]:
        with self._lock:
            return sorted(set(self._states) | set(self._advice))

    def latest(self, symbol: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The raw latest (state, advice) for a symbol."""
        with self._lock:
            st, adv = self._states.get(symbol), self._advice.get(symbol)
            return (None if st is None else dict(st.value)), (None if adv is None else dict(adv.value))

    # -- the decision -------------------------------------------------------------------------
    def advice_for(self, symbol: str, now: datetime | int | str, baseline: BaselineOrder) -> AppliedAdvice:
        """Torghut's rules applied to the latest state and advice of ``symbol`` at ``now``."""
        now_ns = _ts_ns(now)
        with self._lock:
            st, adv = self._states.get(symbol), self._advice.get(symbol)
        provenance = _provenance(st, adv)
        rules = self.rules

        def fallback(reason: str) -> AppliedAdvice:
            return AppliedAdvice(symbol, False, reason, baseline.participation_rate, baseline.order_type, None, None,
                                 None, False, provenance)

        if not rules.enabled:
            return fallback("advisor_disabled")
        if st is None:
            return fallback("missing_state")
        try:
            view = parse_state(st.value)
        except InvalidState as exc:
            return fallback(f"invalid_state:{exc.field_name}")
        if view.symbol != symbol:
            return fallback("invalid_state:symbol")
        if now_ns - view.event_ts_ns > rules.max_staleness_s * NS_PER_S:
            return fallback("stale_state")
        if adv is None:
            return fallback("missing_advice")
        a = adv.value
        if a.get("fallback_reason"):
            return fallback(f"advisor_fallback:{a['fallback_reason']}")
        latency = _finite(a.get("latency_ms"))
        if latency is None or latency < 0:
            return fallback("invalid_advice:latency_ms")
        if latency > rules.timeout_ms:
            return fallback("advice_timeout")
        if adv.event_ts_ns < 0 or now_ns - adv.event_ts_ns > rules.max_staleness_s * NS_PER_S:
            return fallback("stale_advice")
        participation = _finite(a.get("max_participation_rate"))
        if participation is None or participation < 0:
            return fallback("invalid_advice:max_participation_rate")
        preferred = a.get("preferred_order_type")
        if preferred not in ("market", "limit", "stop", "stop_limit"):
            return fallback("invalid_advice:preferred_order_type")
        urgency = a.get("urgency_tier")
        if urgency not in ("low", "normal", "high"):
            return fallback("invalid_advice:urgency_tier")
        risk = _finite(a.get("adverse_selection_risk"))
        if risk is None or not 0.0 <= risk <= 1.0:
            return fallback("invalid_advice:adverse_selection_risk")
        if not rules.live_apply_enabled:
            return fallback("live_apply_disabled")
        order_type = baseline.order_type
        if preferred == "limit" and order_type == "market":
            order_type = "limit"  # the only conversion: tightening, never loosening
        return AppliedAdvice(
            symbol=symbol,
            applied=True,
            fallback_reason=None,
            participation_rate=min(participation, baseline.participation_rate),
            order_type=order_type,
            urgency_tier=str(urgency),
            quote_offset_bps=_finite(a.get("quote_offset_bps")),
            adverse_selection_risk=risk,
            risk_rejected=risk > rules.adverse_selection_reject_threshold,
            provenance=provenance,
        )


_ADVICE_PROVENANCE = (
    ("input_topic", "advisor_input_topic"), ("input_partition", "advisor_input_partition"),
    ("input_offset", "advisor_input_offset"), ("config_hash", "config_hash"),
    ("advisor_version", "advisor_version"), ("simulator_version", "simulator_version"),
    ("latency_ms", "advice_latency_ms"),
)


def _provenance(st: _Entry | None, adv: _Entry | None) -> dict[str, Any]:
    """Where the decision's inputs came from: topic coordinates of both records, the advisor's own
    input coordinates, its config hash and version, and the event times."""
    out: dict[str, Any] = {}
    if st is not None:
        out["state_event_ts"] = st.value.get("event_ts")
        if st.coords is not None:
            out.update(state_topic=st.coords.topic, state_partition=st.coords.partition, state_offset=st.coords.offset)
    if adv is not None:
        a = adv.value
        out["advice_event_ts"] = a.get("event_ts")
        if adv.coords is not None:
            out.update(advice_topic=adv.coords.topic, advice_partition=adv.coords.partition,
                       advice_offset=adv.coords.offset)
        for source, name in _ADVICE_PROVENANCE:
            out[name] = a.get(source)
    return out
