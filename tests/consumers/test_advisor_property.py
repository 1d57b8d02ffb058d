"""Property: no microstructure state and no configuration makes the advice looser than the baseline.

States are arbitrary (valid, out of range, NaN, strings, missing fields, stale, from the future);
the controller state is any state reachable by a prior sequence of such observations; the friction
regime limits are arbitrary, even nonsensical (negative, NaN, huge, unknown order types and
urgencies), because the baseline intersection must hold regardless of what the model proposes.
"""

from __future__ import annotations

import os
import random
from dataclasses import replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.advisor.advisor import AdvisorConfig, PassiveFillConfig, Shortfall, advise
from consumers.advisor.friction import FrictionConfig, RegimeLimits
from consumers.advisor.policy import ORDER_TYPE_RANK, BaselinePolicy, baseline_advice, is_within
from streams.timeutil import format_ts_ns

# At least 10,000 (the bar); PROP_N raises it for a longer soak, never lowers it below 10,000.
N_EXAMPLES = max(10_000, int(os.environ.get("PROP_N", "10000")))
S = 1_000_000_000
T0 = 1_767_000_000 * S

NAN, INF = float("nan"), float("inf")
# Numbers for the proposals' limits: mostly plausible, sometimes absurd (negative, NaN, infinite, huge).
any_float = st.one_of(st.floats(min_value=-1.0, max_value=2.0), st.floats(allow_nan=True, allow_infinity=True))
GARBAGE = (NAN, INF, -INF, -1.0, 1e12, "x", "nan", "3.5", None, True)
order_types = st.sampled_from(["market", "limit", "stop", "stop_limit"])


def _baseline(parts: tuple[frozenset[str], int, float, float, str, float]) -> BaselinePolicy:
    types, pick, participation, offset, urgency, turnover = parts
    allowed = tuple(sorted(types))
    return BaselinePolicy(participation, allowed[pick % len(allowed)], allowed, offset, urgency, turnover).validate()


# Any valid baseline, boundaries included (zero participation, a single allowed order type...).
baselines = st.tuples(
    st.frozensets(order_types, min_size=1), st.integers(0, 3), st.floats(min_value=0.0, max_value=1.0),
    st.floats(min_value=0.0, max_value=100.0), st.sampled_from(["low", "normal", "high"]),
    st.floats(min_value=0.0, max_value=5.0),
).map(_baseline)


URGENCY_CHOICES = ("low", "normal", "high", "urgent", "")
TYPE_CHOICES = ("market", "limit", "stop", "stop_limit", "iceberg", "")


def _limit_value(rng: random.Random, hi: float) -> float:
    """Mostly plausible, sometimes absurd: negative, NaN, infinite, huge."""
    if rng.random() < 0.15:
        return rng.choice((NAN, INF, -INF, 1e12, -1.0, 0.0))
    return rng.uniform(-0.1 * hi, 2.0 * hi)


def random_limits(rng: random.Random) -> RegimeLimits:
    return RegimeLimits(_limit_value(rng, 0.5), _limit_value(rng, 1.0), rng.choice(URGENCY_CHOICES),
                        rng.choice(TYPE_CHOICES), _limit_value(rng, 20.0))


def random_config(rng: random.Random, baseline: BaselinePolicy) -> AdvisorConfig:
    """Any friction configuration: valid thresholds (validate() refuses the others at start-up) and
    regime limits that may be anything at all."""
    enter, spread_enter = rng.uniform(1.01, 5.0), rng.uniform(0.1, 50.0)
    fr = FrictionConfig(
        calm_liquid=random_limits(rng), calm_illiquid=random_limits(rng),
        volatile_liquid=random_limits(rng), volatile_illiquid=random_limits(rng),
        volatile_illiquid_wide=random_limits(rng), wide_spread_bps=rng.uniform(0.1, 60.0),
        vol_baseline_tau_s=rng.uniform(1.0, 1e4), vol_warmup_s=rng.choice((0.0, rng.uniform(0.0, 100.0))),
        volatile_enter_ratio=enter, volatile_exit_ratio=enter * rng.uniform(0.1, 0.99),
        illiquid_enter_spread_bps=spread_enter, illiquid_exit_spread_bps=spread_enter * rng.uniform(0.1, 0.99),
        escalate_dwell_s=rng.choice((0.0, rng.uniform(0.0, 10.0))), relax_dwell_s=rng.uniform(0.0, 30.0),
        ceiling_down_per_s=rng.uniform(1e-4, 10.0), ceiling_up_per_s=rng.uniform(1e-4, 10.0),
    )
    passive = PassiveFillConfig(rng.choice((0.0, 1.0, rng.uniform(0.0, 1.0))), rng.uniform(0.1, 600.0))
    return AdvisorConfig(baseline=baseline, friction=fr, passive=passive, max_state_age_s=rng.uniform(0.1, 60.0))


STATE_FIELDS = ("spread_bps", "depth_top5_usd", "order_flow_imbalance", "latency_ms_estimate", "fill_hazard",
                "crumbling_quote_probability", "realized_volatility_bps", "fill_hazard_horizon_s")
ALL_KEYS = ("symbol", "event_ts", "liquidity_regime", *STATE_FIELDS)
RANGES = {"spread_bps": (0.0, 60.0), "depth_top5_usd": (0.0, 5e6), "order_flow_imbalance": (-1.0, 1.0),
          "latency_ms_estimate": (0.0, 2000.0), "fill_hazard": (0.0, 1.0), "crumbling_quote_probability": (0.5, 1.0),
          "realized_volatility_bps": (0.0, 30.0), "fill_hazard_horizon_s": (1.0, 300.0)}


def random_steps(rng: random.Random) -> list[tuple[dict[str, Any] | None, int]]:
    """1-6 observations of one symbol: ~5 % missing, ~20 % with one or two corrupted fields, the rest
    valid (with regimes and volatility bursts that exercise every friction regime), and event-time
    clocks from slightly behind the state to 30 s ahead (stale)."""
    steps: list[tuple[dict[str, Any] | None, int]] = []
    t = T0
    burst = rng.random() < 0.5
    for _ in range(rng.randint(1, 6)):
        t += rng.choice((0, rng.randint(0, 3 * S), rng.randint(0, 20 * S)))
        now = t + rng.choice((0, 0, rng.randint(-2 * S, 2 * S), rng.randint(0, 30 * S)))
        if rng.random() < 0.05:
            steps.append((None, now))
            continue
        state: dict[str, Any] = {k: rng.uniform(lo, hi) for k, (lo, hi) in RANGES.items()}
        if burst:
            state["realized_volatility_bps"] *= rng.choice((1.0, 5.0, 20.0))
        state["symbol"] = "NVDA"
        state["event_ts"] = format_ts_ns(t)
        state["liquidity_regime"] = rng.choice(("normal", "normal", "compressed", "stressed"))
        if rng.random() < 0.2:
            for _ in range(rng.randint(1, 2)):
                key, junk = rng.choice(ALL_KEYS), rng.choice((*GARBAGE, "drop", "not a time", "weird"))
                if junk == "drop":
                    state.pop(key, None)
                else:
                    state[key] = junk
        steps.append((state, now))
    return steps


shortfalls = st.one_of(st.none(), st.builds(Shortfall, p50=any_float, p95=any_float, simulator_version=st.just("s/1"),
                                            event_ts_ns=st.integers(T0 - 10**13, T0 + 10**13)))


@settings(max_examples=N_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(baselines, st.randoms(use_true_random=True), shortfalls)
def test_advice_is_never_looser_than_the_baseline(baseline: BaselinePolicy, rng: random.Random,
                                                  shortfall: Shortfall | None) -> None:
    cfg = random_config(rng, baseline)
    # The same configuration with the passive-fill rule off, run in lockstep: the rule may only change
    # the order type, and only to the one the baseline itself would send (never looser than either).
    off = replace(cfg, passive=replace(cfg.passive, min_fill_probability=0.0))
    controller = controller_off = None
    for state, now in random_steps(rng):
        new_controller, decision = advise(state, controller, now, shortfall, cfg)
        new_off, decision_off = advise(state, controller_off, now, shortfall, off)
        assert new_controller == new_off
        if new_controller is not None:
            controller = controller_off = new_controller
        a = decision.advice
        assert is_within(a, cfg.baseline), (a, cfg.baseline)
        assert replace(a, preferred_order_type=decision_off.advice.preferred_order_type) == decision_off.advice
        if a.preferred_order_type != decision_off.advice.preferred_order_type:
            assert a == replace(decision_off.advice, preferred_order_type=baseline_advice(cfg.baseline)
                                .preferred_order_type)
            assert decision_off.advice.preferred_order_type != cfg.baseline.order_type
        assert a.preferred_order_type in ORDER_TYPE_RANK
        assert 0.0 <= decision.adverse_selection_risk <= 1.0
        assert decision.latency_ms >= 0.0
        if decision.fallback_reason is not None:
            assert a == baseline_advice(cfg.baseline)
            assert new_controller is None
