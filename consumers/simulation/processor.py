"""The simulation consumer's Processor: market windows -> calibrations; parent orders (and a reference
order per symbol and regime) -> seeded shortfall distributions.

Inputs, all keyed by symbol and co-partitioned: quotes, trades, the optional L2 book, trade updates
(``new`` events are parent orders), advice (the policy in force and the symbol's liquidity regime)
and TCA divergence (recalibration requests). Everything is decided in event time: a refit happens
at the first market event of a symbol at least ``refit_every_s`` after the last attempt (or right
after a recalibration request), so a rewind refits at the same events with the same warm starts.

Keyed state per partition: the window (``consumers.simulation.window``), ``cal:<symbol>`` (the model
in force, ``fitting``), ``adv:<symbol>`` (the latest advice) and ``ref:<symbol>`` (which regimes have a
reference record for the calibration in force).

Outputs: ``hawkes_calibration_v1`` keyed by symbol; ``shortfall_distribution_v1`` keyed by order id
(or ``reference:<symbol>:<regime>``) and *placed* on the symbol's partition (``partition_key``), where
the advisor and the TCA consumer, which read per partition, look for them.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from consumers.simulation import inputs
from consumers.simulation import metrics as M
from consumers.simulation.config import SimulationConfig
from consumers.simulation.fitting import FitFailure, ModelCache, cal_key, calibration_record, fit_window
from consumers.simulation.pricing import (
    STATUS_BUDGET,
    STATUS_NO_CALIBRATION,
    STATUS_NO_FILLS,
    STATUS_OK,
    PolicyChoice,
    advice_key,
    affordable_paths,
    policy_for,
    priced_model,
    run_monte_carlo,
    shortfall_record,
    stationary_rate,
)
from consumers.simulation.window import (
    add_event,
    event_count,
    load_meta,
    meta_key,
    size_unit_of,
    tick_from_decimals,
    window_events,
)
from simulator.execution.policy import ParentOrder
from simulator.montecarlo import reference_order
from streams.processor import FORMAT_AVRO, Emit, InvalidRecord, KeyValueState, SourceRecord
from torghut_domain.formats import FORMAT_TORGHUT_JSON
from torghut_domain.topics import topic

log = logging.getLogger("microexec.simulation")


def refit_phase(symbol: str) -> float:
    """A stable number in [0.5, 1.5) per symbol (sha256 of its name: the same in every process)."""
    return 0.5 + int.from_bytes(hashlib.sha256(symbol.encode()).digest()[:4], "big") / 2**32
REF = "ref:"
NS = 1_000_000_000


class SimulationProcessor:
    """streams.Processor of the simulation consumer (``microexec run simulation``)."""

    name = "simulation"

    def __init__(self, config: SimulationConfig | None = None) -> None:
        self.config = (config if config is not None else SimulationConfig.from_env()).validate()
        self._quotes, self._trades, self._book = topic("quotes"), topic("trades"), topic("book_l2")
        self._updates, self._advice, self._tca = topic("trade_updates"), topic("advice"), topic("tca_divergence")
        self._calibration, self._shortfall = topic("calibration"), topic("shortfall")
        self.input_formats: Mapping[str, str] = {
            self._quotes: FORMAT_TORGHUT_JSON, self._trades: FORMAT_TORGHUT_JSON, self._book: FORMAT_AVRO,
            self._updates: FORMAT_TORGHUT_JSON, self._advice: FORMAT_AVRO, self._tca: FORMAT_AVRO,
        }
        self.output_schemas: Mapping[str, str | None] = {
            self._calibration: "hawkes_calibration_v1", self._shortfall: "shortfall_distribution_v1"}
        # Event-time merge (docs/ordering.md): quotes and trades set the clock; depth, order events
        # and the derived advice/divergence streams are sparse and never hold the market back.
        self.sparse_inputs = frozenset({self._book, self._updates, self._advice, self._tca})
        self._models = ModelCache()

    def warm_up(self) -> None:
        """Compile the simulator's loops before the first order (the CLI calls this at start-up), so
        the first parent order does not wait for the compiler."""
        from simulator.execution.policy import ExecutionPolicy
        from simulator.market.model import illustrative_model

        model = illustrative_model()
        run_monte_carlo(model, ParentOrder("warm-up", "buy", 100, 5.0), ExecutionPolicy(), 2, "", 1.0, 1)

    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        name = record.topic
        if name == self._quotes:
            symbol, event = inputs.quote(record.value)
            return self._on_market(symbol, event, state, from_quotes=True)
        if name == self._trades:
            symbol, event = inputs.trade(record.value)
            return self._on_market(symbol, event, state)
        if name == self._book:
            symbol, top = inputs.book_top(record.value)
            return self._on_book(symbol, top, state)
        if name == self._updates:
            order = inputs.new_order(record.value)
            return () if order is None else self._on_order(order, state)
        if name == self._advice:
            return self._on_advice(record, state)
        if name == self._tca:
            return self._on_divergence(record.value, state)
        raise InvalidRecord("unknown_topic", name)

    # -- market data and calibration ------------------------------------------------------------
    def _on_book(self, symbol: str, top: list[float | int] | None, state: KeyValueState) -> Iterable[Emit]:
        """The L2 top of book stands in for quotes only for a symbol without a quote feed (crypto
        venues); with quotes it would count every touch change twice."""
        if top is None:
            return ()
        meta = load_meta(state, symbol)
        if meta["q"]:
            return ()
        return self._on_market(symbol, top, state, meta=meta)

    def _on_market(self, symbol: str, event: list[float | int], state: KeyValueState, *, from_quotes: bool = False,
                   meta: dict[str, Any] | None = None) -> Iterable[Emit]:
        cfg = self.config
        meta = meta if meta is not None else load_meta(state, symbol)
        if from_quotes:
            meta["q"] = True
        add_event(state, symbol, meta, event, cfg.window_s, cfg.bucket_s, cfg.max_window_events)
        out = self._maybe_fit(symbol, meta, int(event[0]), state)
        state.put(meta_key(symbol), meta)
        return out

    def _maybe_fit(self, symbol: str, meta: dict[str, Any], t_ns: int, state: KeyValueState) -> list[Emit]:
        cfg = self.config
        due = meta["req"] or meta["fit"] is None or t_ns >= int(meta.get("due") or 0)
        if not due or event_count(meta) < cfg.min_events:
            return []
        previous = state.get(cal_key(symbol))
        trigger = "recalibration_request" if meta["req"] else "first" if previous is None else "cadence"
        cadence_ns = int(cfg.refit_every_s * NS)
        # After the first attempt the next one comes after a symbol-specific share of the cadence (0.5x to
        # 1.5x, from the symbol's name): symbols that start together then refit spread over the cadence
        # instead of all at once, which would hold their partitions' orders behind a burst of fits.
        meta["due"] = t_ns + (cadence_ns if meta["fit"] is not None else int(cadence_ns * refit_phase(symbol)))
        meta["fit"], meta["req"] = t_ns, False
        events = window_events(state, symbol, meta, cfg.max_fit_events)
        # Configured, else the finest decimal the window's quotes use, never coarser than the default tick
        # (a window of round prices says nothing against a 0.01 tick).
        tick = cfg.tick_size(symbol) or min(cfg.default_tick_size, tick_from_decimals(int(meta["dec"])))
        # Likewise the size unit: the finest decimal of the window's sizes, so fractional crypto sizes are
        # not all rounded to one unit; the fit stores it, and an order is counted in its model's unit.
        unit = cfg.size_unit(symbol) or size_unit_of(meta)
        try:
            fitted = fit_window(symbol, events, previous, tick_size=tick, size_unit=unit,
                                max_iter=cfg.max_fit_iter, threads=cfg.mc_threads)
        except FitFailure as exc:
            M.CALIBRATIONS.labels(exc.reason).inc()
            log.warning("%s: calibration kept (%s): %s", symbol, "previous" if previous else "none", exc)
            return []
        except Exception as exc:  # a numerical corner of the fit must not stop the consumer
            M.CALIBRATIONS.labels("error").inc()
            log.exception("%s: calibration failed unexpectedly, previous kept: %s", symbol, exc)
            return []
        M.CALIBRATIONS.labels("ok").inc()
        state.put(cal_key(symbol), fitted.stored)
        state.delete(REF + symbol)
        value = calibration_record(symbol, fitted, trigger)
        out = [Emit(self._calibration, symbol, value, t_ns // 1_000_000)]
        advice = state.get(advice_key(symbol))
        regime = advice.get("regime") if advice is not None and advice.get("regime") else cfg.default_regime
        out.extend(self._reference(symbol, str(regime), fitted.stored, meta.get("mid"), t_ns, state))
        return out

    # -- reference orders ------------------------------------------------------------------------
    def _reference(self, symbol: str, regime: str, stored: dict[str, Any], mid: float | None, t_ns: int,
                   state: KeyValueState) -> list[Emit]:
        """The reference order's distribution for ``regime`` under the baseline policy (so advice
        never feeds back into the figure the advisor reads). Only ``ok`` results are published: the
        advisor takes a reference record's figures as real."""
        cfg = self.config
        done = dict(state.get(REF + symbol) or {"hash": stored["hash"], "regimes": []})
        if done["hash"] != stored["hash"] or regime in done["regimes"]:
            return []
        model = priced_model(self._models.get(stored), mid)
        order_id = f"reference:{symbol}:{regime}"
        order = reference_order(model, order_id, cfg.reference_side, cfg.reference_horizon_s, cfg.reference_fraction)
        choice = policy_for("limit", None, t_ns, cfg)
        # The record's quantity is the venue's (BTC, shares), as for a real order: model units x the fit's unit.
        venue_qty = float(f"{order.quantity * float(stored.get('size_unit') or 1.0):.12g}")
        emit = self._priced(order, symbol, t_ns, model, stored, choice, regime, reference=True, quantity=venue_qty)
        done["regimes"] = sorted({*done["regimes"], regime})
        state.put(REF + symbol, done)
        if not isinstance(emit.value, Mapping) or emit.value["status"] != STATUS_OK:
            return []
        return [emit]

    # -- parent orders ---------------------------------------------------------------------------
    def _on_order(self, order: dict[str, Any], state: KeyValueState) -> list[Emit]:
        cfg = self.config
        symbol, t_ns = order["symbol"], int(order["t"])
        stored = state.get(cal_key(symbol))
        advice = state.get(advice_key(symbol))
        regime = advice.get("regime") if advice is not None else None
        unit = cfg.size_unit(symbol) or (stored or {}).get("size_unit") or 1.0
        units = max(1, round(order["qty"] / unit))
        parent = ParentOrder(order["id"], order["side"], units, cfg.horizon_s)
        choice = policy_for(order["type"], advice, t_ns, cfg)
        if stored is None:
            M.SHORTFALL_STATUS.labels(STATUS_NO_CALIBRATION, "order").inc()
            value = shortfall_record(order_id=order["id"], symbol=symbol, side=order["side"], quantity=order["qty"],
                                     horizon_s=cfg.horizon_s, event_ts_ns=t_ns, status=STATUS_NO_CALIBRATION,
                                     n_paths_requested=cfg.paths, result=None, stored_cal=None, choice=choice,
                                     arrival_mid=load_meta(state, symbol).get("mid"), work_events=None,
                                     regime=regime)
            return [Emit(self._shortfall, order["id"], value, t_ns // 1_000_000, partition_key=symbol)]
        model = priced_model(self._models.get(stored), load_meta(state, symbol).get("mid"))
        return [self._priced(parent, symbol, t_ns, model, stored, choice, regime, quantity=order["qty"])]

    def _priced(self, order: ParentOrder, symbol: str, t_ns: int, model: Any, stored: dict[str, Any],
                choice: PolicyChoice, regime: str | None, *, reference: bool = False,
                quantity: float | None = None) -> Emit:
        cfg = self.config
        horizon = order.horizon_s
        rate = stationary_rate(model)
        wanted = cfg.reference_paths if reference and cfg.reference_paths else cfg.paths
        n_paths = affordable_paths(rate, horizon, cfg.warmup_s, cfg, wanted)
        kind = "reference" if reference else "order"
        result = None
        status = STATUS_BUDGET
        if n_paths == 0:
            M.BUDGET_REFUSALS.labels("refused").inc()
        else:
            if n_paths < wanted:
                M.BUDGET_REFUSALS.labels("reduced").inc()
            started = time.perf_counter()  # telemetry only: never part of a decision
            result = run_monte_carlo(model, order, choice.policy, n_paths, stored["hash"], cfg.warmup_s,
                                     cfg.mc_threads)
            M.MC_DURATION.labels(kind).observe(time.perf_counter() - started)
            status = STATUS_NO_FILLS if result.n_unfilled >= result.n_paths else STATUS_OK
        M.SHORTFALL_STATUS.labels(status, kind).inc()
        value = shortfall_record(
            order_id=order.order_id, symbol=symbol, side=order.side,
            quantity=quantity if quantity is not None else float(order.quantity), horizon_s=horizon,
            event_ts_ns=t_ns, status=status, n_paths_requested=wanted, result=result, stored_cal=stored,
            choice=choice, arrival_mid=float(model.ref_price), work_events=rate * (horizon + cfg.warmup_s) * wanted,
            regime=regime, reference=reference)
        return Emit(self._shortfall, order.order_id, value, t_ns // 1_000_000, partition_key=symbol)

    # -- advice and recalibration requests ------------------------------------------------------
    def _on_advice(self, record: SourceRecord, state: KeyValueState) -> list[Emit]:
        value = record.value
        if not isinstance(value, Mapping):
            raise InvalidRecord("wrong_envelope", "advice record is not an object")
        symbol = value.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise InvalidRecord("missing_field", "symbol")
        t_ns = inputs.timestamp(value.get("event_ts"), "event_ts")
        current = state.get(advice_key(symbol))
        if current is not None and int(current["t"]) > t_ns:
            return []  # older than the advice in force
        regime = value.get("liquidity_regime")
        entry: dict[str, Any] = {
                 "t": t_ns, "urgency": value.get("urgency_tier"), "mpr": value.get("max_participation_rate"),
                 "type": value.get("preferred_order_type"), "offset": value.get("quote_offset_bps"),
                 "regime": regime if isinstance(regime, str) and regime else None,
                 "topic": record.topic, "partition": record.partition, "offset_in": record.offset}
        state.put(advice_key(symbol), entry)
        stored = state.get(cal_key(symbol))
        if stored is None or entry["regime"] is None:
            return []
        # A regime without a reference for the calibration in force gets one now, not at the next fit.
        return self._reference(symbol, str(entry["regime"]), stored, load_meta(state, symbol).get("mid"), t_ns, state)

    def _on_divergence(self, value: Any, state: KeyValueState) -> list[Emit]:
        if not isinstance(value, Mapping):
            raise InvalidRecord("wrong_envelope", "divergence record is not an object")
        symbol = value.get("symbol")
        if not isinstance(symbol, str) or not symbol:
            raise InvalidRecord("missing_field", "symbol")
        if value.get("recalibration_requested") is True:
            meta = load_meta(state, symbol)
            if not meta["req"]:
                meta["req"] = True
                state.put(meta_key(symbol), meta)
                log.info("%s: recalibration requested by TCA; refitting at the next market event", symbol)
        return []
