"""`microexec drill divergence`: does the divergence alert fire when the simulator is wrong about the
market, and stay quiet when it is right?

The seed's first failure mode is "simulator miscalibration leads to false confidence", mitigated
by a divergence guardrail. This drill tests that guardrail end to end with the product's own
processors: parent orders are executed on paths of a *true* market model; the expected shortfall
distribution comes from the Monte Carlo on the *simulator's* model; both go, as Torghut-format
trade updates, quotes and ``shortfall_distribution_v1`` records, through the TCA processor, whose
``tca_divergence_v1`` records go through the alerts processor (the same objects `microexec run tca`
and `microexec run alerts` run, here under the offline driver). When the two models are the same,
every firing is a false alarm; when they differ, the alert should fire within K windows.

Why the expected distribution is computed once per (model, side) rather than per order: for
orders of the same size, horizon and policy it is the same distribution, and the per-order seed
would change only its Monte Carlo noise; the drill's cost stays at one market path per order.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.progress import Progress

from consumers.alerts.config import AlertsConfig
from consumers.alerts.processor import AlertsProcessor
from consumers.simulation.pricing import shortfall_record
from consumers.tca.config import TcaConfig
from consumers.tca.processor import TcaProcessor
from producers.paper.orders import NS_PER_S, PaperOrder
from producers.paper.policy_map import PaperConfig, baseline_policy
from producers.paper.split_book import trade_updates
from producers.simulated_market.regimes import REGIME_NAMES, regime_model
from producers.simulated_market.seeding import seed_sequence
from producers.simulated_market.symbols import fitted_model
from producers.torghut_envelopes import quote_envelope
from simulator.execution.policy import ExecutionPolicy
from simulator.execution.run import PathRunner
from simulator.market.model import MarketModel
from simulator.montecarlo import MonteCarloResult, reference_order, shortfall_monte_carlo
from streams.offline import as_inputs, run_offline
from streams.processor import Emit, SourceRecord
from torghut_domain.topics import topic

SYMBOL = "DRILL"
START_NS = 1_767_225_600 * NS_PER_S  # 2026-01-01T00:00:00Z: any fixed instant will do
MS = 1_000_000


@dataclass(frozen=True)
class DrillSettings:
    orders: int = 36
    horizon_s: float = 60.0
    warmup_s: float = 30.0
    paths: int = 400
    gap_s: float = 5.0  # between one order's end and the next one's arrival
    tca: TcaConfig = field(default_factory=TcaConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)


@dataclass(frozen=True)
class SeedOutcome:
    seed: int
    divergences: list[float]
    fired_after_orders: int | None  # completed orders (with a divergence) when the alert first fired

    @property
    def fired(self) -> bool:
        return self.fired_after_orders is not None

    @property
    def mean_abs_divergence_bps(self) -> float:
        return float(np.mean(np.abs(self.divergences))) if self.divergences else float("nan")


def expected_distributions(model: MarketModel, policy: ExecutionPolicy, qty: int, s: DrillSettings,
                           symbol: str = SYMBOL) -> dict[str, MonteCarloResult]:
    """The simulator's view: the Monte Carlo distribution of a buy and of a sell of ``qty``."""
    out = {}
    for side in ("buy", "sell"):
        order = PaperOrder(f"drill-expected-{side}", symbol, side, qty, s.horizon_s, "drill", START_NS).parent()
        out[side] = shortfall_monte_carlo(model, order, policy, s.paths, salt="drill", warmup_s=s.warmup_s)
    return out


def _records(seed: int, truth: MarketModel, expected: dict[str, MonteCarloResult], policy: ExecutionPolicy,
             qty: int, s: DrillSettings, symbol: str = SYMBOL) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(topic key, event time ns, value) of every input the TCA consumer would see, in event time."""
    sides = np.random.Generator(np.random.PCG64(seed_sequence(seed, "drill", "sides"))).integers(0, 2, s.orders)
    half_tick = truth.tick_size / 2.0
    t = START_NS
    for i in range(s.orders):
        side = "buy" if sides[i] == 0 else "sell"
        order = PaperOrder(f"drill-{seed}-{i}", symbol, side, qty, s.horizon_s, "drill", t)
        result = PathRunner(truth, order.parent(), policy, s.warmup_s).run(seed_sequence(seed, "drill", i))[0]
        mid = result.arrival_mid
        # The arrival quote and one just after it (which settles the arrival mid for TCA).
        for dt in (-MS, MS):
            yield "quotes", t + dt, quote_envelope(symbol, t + dt, mid - half_tick, 500.0, mid + half_tick, 500.0)
        yield "shortfall", t, shortfall_record(
            order_id=order.arm_order_id("baseline"), symbol=symbol, side=side, quantity=qty, horizon_s=s.horizon_s,
            event_ts_ns=t, status="ok", n_paths_requested=s.paths, result=expected[side], stored_cal=None,
            choice=None, arrival_mid=mid, work_events=None)
        for env in trade_updates(order, result, "baseline"):
            yield "trade_updates", _event_ns(env), env
        t = order.end_ns + round(s.gap_s * NS_PER_S)


def _event_ns(envelope: dict[str, Any]) -> int:
    from streams.timeutil import parse_ts_ns

    return parse_ts_ns(envelope["payload"]["timestamp"])


def _as_source(items: Iterable[tuple[str, int, dict[str, Any]]], symbol: str = SYMBOL) -> list[SourceRecord]:
    offsets: dict[str, int] = {}
    out = []
    for key, ts, value in sorted(items, key=lambda item: item[1]):
        name = topic(key)
        offsets[name] = offsets.get(name, -1) + 1
        out.append(SourceRecord(name, 0, offsets[name], ts // MS, symbol, value))
    return out


@dataclass(frozen=True)
class DrillCase:
    """One seed's inputs, prepared once, to run through the processors offline or on a broker."""

    seed: int
    symbol: str
    truth: MarketModel
    expected: dict[str, MonteCarloResult]
    policy: ExecutionPolicy
    qty: int
    settings: DrillSettings

    def records(self) -> list[tuple[str, int, dict[str, Any]]]:
        """(topic key, event time ns, value) of the TCA consumer's inputs, in event time."""
        return sorted(_records(self.seed, self.truth, self.expected, self.policy, self.qty, self.settings,
                               self.symbol), key=lambda item: item[1])

    def run_offline(self) -> SeedOutcome:
        """Through the TCA and alerts processors under the offline driver."""
        return run_seed(self.seed, self.truth, self.expected, self.policy, self.qty, self.settings, self.symbol)


def drill_case(truth_regime: str, simulator_regime: str, seed: int, s: DrillSettings, symbol: str = SYMBOL,
               base: MarketModel | None = None) -> DrillCase:
    """Inputs of one seed: orders on ``truth_regime``'s market, expectations from ``simulator_regime``'s."""
    base = base or fitted_model()
    truth, simulator = regime_model(base, truth_regime), regime_model(base, simulator_regime)
    policy = baseline_policy(PaperConfig())
    qty = reference_order(simulator, horizon_s=s.horizon_s).quantity
    return DrillCase(seed, symbol, truth, expected_distributions(simulator, policy, qty, s, symbol), policy, qty, s)


def run_seed(seed: int, truth: MarketModel, expected: dict[str, MonteCarloResult], policy: ExecutionPolicy,
             qty: int, s: DrillSettings, symbol: str = SYMBOL) -> SeedOutcome:
    """One seed's orders through TCA and alerts; when (after how many orders) the breach fired."""
    tca = run_offline(TcaProcessor(s.tca), _as_source(_records(seed, truth, expected, policy, qty, s, symbol), symbol))
    divergence = [e for e in tca.outputs if e.topic == topic("tca_divergence")]
    values = [float(e.value["divergence_bps"]) for e in divergence
              if isinstance(e.value, dict) and e.value.get("divergence_bps") is not None]
    alerts = run_offline(AlertsProcessor(s.alerts), as_inputs(divergence))
    fired_at = None
    for emit in alerts.outputs:
        if _is_breach_firing(emit):
            fired_at = _orders_before(emit, divergence)
            break
    return SeedOutcome(seed, values, fired_at)


def _is_breach_firing(emit: Emit) -> bool:
    v = emit.value
    return isinstance(v, dict) and v.get("alert_type") == "tca_divergence_breach" and v.get("status") == "firing"


def _orders_before(alert: Emit, divergence: list[Emit]) -> int:
    """Divergence records at or before the alert's event time: the orders it took to fire."""
    at = alert.timestamp_ms or 0
    return sum(1 for e in divergence if (e.timestamp_ms or 0) <= at and isinstance(e.value, dict)
               and e.value.get("divergence_bps") is not None)


@dataclass(frozen=True)
class DrillReport:
    truth: str
    simulator: str
    outcomes: list[SeedOutcome]
    windows_to_fire: int  # K, the alert's own bound
    window_orders: int

    @property
    def fire_rate(self) -> float:
        return sum(o.fired for o in self.outcomes) / len(self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        fired = [o.fired_after_orders for o in self.outcomes if o.fired_after_orders is not None]
        return {"truth": self.truth, "simulator": self.simulator, "seeds": len(self.outcomes),
                "fire_rate": self.fire_rate, "orders_to_fire_median": float(np.median(fired)) if fired else None,
                "within_k_windows": sum(1 for n in fired if n <= self.windows_to_fire * self.window_orders),
                "mean_abs_divergence_bps": float(np.mean([o.mean_abs_divergence_bps for o in self.outcomes]))}


def drill(truth_regime: str, simulator_regime: str, seeds: Iterable[int], s: DrillSettings,
          base: MarketModel | None = None, progress: Progress | None = None) -> DrillReport:
    """Orders on ``truth_regime``'s market, expectations from ``simulator_regime``'s model."""
    base = base or fitted_model()
    truth, simulator = regime_model(base, truth_regime), regime_model(base, simulator_regime)
    policy = baseline_policy(PaperConfig())
    qty = reference_order(simulator, horizon_s=s.horizon_s).quantity
    expected = expected_distributions(simulator, policy, qty, s)
    seeds = list(seeds)
    task = progress.add_task(f"{truth_regime} market, {simulator_regime} simulator", total=len(seeds)) \
        if progress else None
    outcomes = []
    for seed in seeds:
        outcomes.append(run_seed(seed, truth, expected, policy, qty, s))
        if progress is not None and task is not None:
            progress.advance(task)
    return DrillReport(truth_regime, simulator_regime, outcomes, s.alerts.divergence_windows,
                       s.alerts.divergence_window_orders)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("drill", help="guardrail drills (divergence alert on a miscalibrated simulator)")
    p.add_argument("what", choices=["divergence"])
    p.add_argument("--truth", default="shock", choices=REGIME_NAMES, help="regime of the market orders run on")
    p.add_argument("--simulator", default="calm", choices=REGIME_NAMES, help="regime the simulator is calibrated on")
    p.add_argument("--seeds", type=int, default=20, help="well-calibrated seeds (false-alarm rate)")
    p.add_argument("--miscalibrated-seeds", type=int, default=5)
    p.add_argument("--orders", type=int, default=DrillSettings.orders)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.truth == args.simulator:
        print("microexec drill: --truth and --simulator must differ (the well-calibrated case runs anyway)",
              file=sys.stderr)
        return 2
    if args.seeds < 1 or args.miscalibrated_seeds < 1 or args.orders < 1:
        print("microexec drill: --seeds, --miscalibrated-seeds and --orders must be >= 1", file=sys.stderr)
        return 2
    s = DrillSettings(orders=args.orders, alerts=AlertsConfig.from_env(), tca=TcaConfig.from_env())
    with Progress(transient=True) as progress:
        wrong = drill(args.truth, args.simulator, range(1000, 1000 + args.miscalibrated_seeds), s,
                      progress=progress)
        right = drill(args.simulator, args.simulator, range(1, 1 + args.seeds), s, progress=progress)
    for name, rep in (("miscalibrated", wrong), ("well-calibrated", right)):
        print(json.dumps({"case": name, **rep.as_dict()}))
    print(f"false-alarm rate over {args.seeds} well-calibrated seeds: {right.fire_rate:.1%}; "
          f"miscalibrated ({args.truth} market, {args.simulator} simulator): fired on {wrong.fire_rate:.0%} "
          f"of {args.miscalibrated_seeds} seeds")
    return 0
