"""Liquidity regime (normal | compressed | stressed) with hysteresis and a minimum dwell time.

Why a state machine and not a threshold: the seed's failure mode "advisor overreacts to transient
spread spikes" is mitigated here. Two mechanisms:

* hysteresis: a regime is *entered* at the enter thresholds but *kept* until the exit thresholds
  (looser) are crossed back, so values oscillating around one threshold do not flap;
* dwell: a different regime must be indicated continuously (in event time) for ``escalate_dwell_s``
  (worse) or ``relax_dwell_s`` (better) before the switch, so a one-update spike never flips it.
"""

from __future__ import annotations

from typing import NamedTuple

from consumers.common.decay import NS_PER_S
from consumers.state.config import RegimeThresholds

NORMAL, COMPRESSED, STRESSED = 0, 1, 2
REGIME_NAMES = ("normal", "compressed", "stressed")


class Ratios(NamedTuple):
    """Current value over its rolling baseline. ``vol`` is None until a volatility baseline exists.

    NamedTuples rather than frozen dataclasses here: these are built for every input record and a
    frozen dataclass's __init__ costs several times more."""

    spread: float
    depth: float
    vol: float | None


def enter_level(r: Ratios, th: RegimeThresholds) -> int:
    """The most severe regime whose *enter* condition holds (any of spread, depth, volatility)."""
    vol = r.vol if r.vol is not None else 0.0
    if (r.spread >= th.stressed_enter_spread_ratio or r.depth <= th.stressed_enter_depth_ratio
            or vol >= th.stressed_enter_vol_ratio):
        return STRESSED
    if (r.spread >= th.compressed_enter_spread_ratio or r.depth <= th.compressed_enter_depth_ratio
            or vol >= th.compressed_enter_vol_ratio):
        return COMPRESSED
    return NORMAL


def _stays(level: int, r: Ratios, th: RegimeThresholds) -> bool:
    """Whether ``level`` is still justified by its (looser) exit thresholds."""
    vol = r.vol if r.vol is not None else 0.0
    if level == STRESSED:
        return (r.spread >= th.stressed_exit_spread_ratio or r.depth <= th.stressed_exit_depth_ratio
                or vol >= th.stressed_exit_vol_ratio)
    if level == COMPRESSED:
        return (r.spread >= th.compressed_exit_spread_ratio or r.depth <= th.compressed_exit_depth_ratio
                or vol >= th.compressed_exit_vol_ratio)
    return True


def target_level(current: int, r: Ratios, th: RegimeThresholds) -> int:
    """Regime indicated now: max(enter level, the highest level <= current still held by exits)."""
    hold = NORMAL
    for level in range(current, NORMAL, -1):
        if _stays(level, r, th):
            hold = level
            break
    return max(enter_level(r, th), hold)


def target_level_of(current: int, spread: float, depth: float, vol: float | None, th: RegimeThresholds) -> int:
    """``target_level`` on plain floats, for the per-quote hot path (no Ratios tuple, no helper calls).

    Same decision, unrolled from the most severe level down: a level is indicated if its enter
    condition holds, or if it is at or below ``current`` and its exit condition still holds."""
    v = vol if vol is not None else 0.0
    if (spread >= th.stressed_enter_spread_ratio or depth <= th.stressed_enter_depth_ratio
            or v >= th.stressed_enter_vol_ratio):
        return STRESSED
    if current == STRESSED and (spread >= th.stressed_exit_spread_ratio or depth <= th.stressed_exit_depth_ratio
                                or v >= th.stressed_exit_vol_ratio):
        return STRESSED
    if (spread >= th.compressed_enter_spread_ratio or depth <= th.compressed_enter_depth_ratio
            or v >= th.compressed_enter_vol_ratio):
        return COMPRESSED
    if current >= COMPRESSED and (spread >= th.compressed_exit_spread_ratio
                                  or depth <= th.compressed_exit_depth_ratio or v >= th.compressed_exit_vol_ratio):
        return COMPRESSED
    return NORMAL


class RegimeState(NamedTuple):
    """``level``: current regime; ``pending_dir``: +1/-1 while a switch is being confirmed, else 0;
    ``pending_since_ns``: event time the indication started; ``since_ns``: time of the last switch."""

    level: int = NORMAL
    pending_dir: int = 0
    pending_since_ns: int = 0
    since_ns: int = 0


def step(state: RegimeState, r: Ratios | None, now_ns: int, th: RegimeThresholds) -> RegimeState:
    """Advance the regime machine to ``now_ns``. ``r`` None (warm-up) means "normal indicated"."""
    target = NORMAL if r is None else target_level(state.level, r, th)
    if target == state.level:
        if state.pending_dir == 0:
            return state
        return RegimeState(state.level, 0, 0, state.since_ns)
    direction = 1 if target > state.level else -1
    if state.pending_dir != direction:
        # A new indication starts now (a reversal also restarts the clock).
        state = RegimeState(state.level, direction, now_ns, state.since_ns)
    dwell_s = th.escalate_dwell_s if direction > 0 else th.relax_dwell_s
    if now_ns - state.pending_since_ns >= dwell_s * NS_PER_S:
        return RegimeState(target, 0, 0, now_ns)
    return state
