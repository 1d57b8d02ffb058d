"""The three alerts as pure step functions over small JSON-able state dicts.

Why separate from the processor: each rule is a state machine whose only question is "does this
input change the alert's status?"; keeping them free of Kafka, topics and metrics makes every
threshold and edge testable with plain values. Each step returns the new state and a
``Transition`` when the status changes (never while it stays the same: no repeats while firing).
All times are event time in ns except in ``stream_tick``, whose ``now_wall_ns`` is the runtime's
wall clock (the one non-replayable input, see docs/alerts.md).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from consumers.alerts.config import AlertsConfig

NS = 1_000_000_000
FIRING, RESOLVED = "firing", "resolved"
State = dict[str, Any]


class Transition(NamedTuple):
    status: str  # firing | resolved
    value: float
    threshold: float
    message: str
    consecutive_windows: int | None = None


def divergence_step(st: State | None, abs_divergence_bps: float, cfg: AlertsConfig
                    ) -> tuple[State, Transition | None, float | None]:
    """One completed order's |divergence|. Windows are N consecutive orders of the symbol (count
    windows: orders are sparse and irregular, and Torghut's gate also counts samples); the third
    value is the mean of the window this order closed, if it closed one."""
    s: State = dict(st) if st else {"n": 0, "sum": 0.0, "breaches": 0, "firing": False}
    s["n"] += 1
    s["sum"] += abs_divergence_bps
    if s["n"] < cfg.divergence_window_orders:
        return s, None, None
    mean = s["sum"] / s["n"]
    s["n"], s["sum"] = 0, 0.0
    threshold = cfg.divergence_threshold_bps
    s["breaches"] = s["breaches"] + 1 if mean > threshold else 0
    transition = None
    if not s["firing"] and s["breaches"] >= cfg.divergence_windows:
        s["firing"] = True
        transition = Transition(FIRING, mean, threshold, f"mean |divergence| {mean:.2f} bps over {threshold:g} bps "
                                f"for {s['breaches']} consecutive windows of {cfg.divergence_window_orders} orders",
                                s["breaches"])
    elif s["firing"] and mean <= threshold:
        s["firing"] = False
        transition = Transition(RESOLVED, mean, threshold,
                                f"mean |divergence| {mean:.2f} bps back at or under {threshold:g} bps", 0)
    return s, transition, mean


def adverse_step(st: State | None, ts_ns: int, risk: float, participation: float, cfg: AlertsConfig
                 ) -> tuple[State, Transition | None, float | None]:
    """One advice record. Windows are tumbling in event time (``adverse_window_s``, aligned on the
    epoch) and judged when the first advice of a later window arrives; a late advice (older than the
    open window) counts in the open window, so no flag is ever dropped. The third value is the flag
    rate per minute of the window this advice closed, if it closed one."""
    width = int(cfg.adverse_window_s * NS)
    index = ts_ns // width
    s: State = dict(st) if st else {"w": index, "n": 0, "flags": 0, "min_part": None, "firing": False}
    transition = None
    closed_rate = None
    if index > s["w"]:
        closed_rate = s["flags"] * 60.0 / cfg.adverse_window_s
        min_part = s["min_part"]
        breach = (index == s["w"] + 1 and closed_rate > cfg.adverse_flags_per_min
                  and min_part is not None and min_part > cfg.adverse_min_participation)
        if index > s["w"] + 1:
            closed_rate = 0.0  # the latest closed window had no advice at all, hence no flags
        if breach and not s["firing"]:
            s["firing"] = True
            transition = Transition(
                FIRING, closed_rate, cfg.adverse_flags_per_min,
                f"{s['flags']} adverse-selection flags (risk > {cfg.adverse_flag_threshold:g}) in "
                f"{cfg.adverse_window_s:g} s ({closed_rate:.2f}/min) while max_participation_rate stayed above "
                f"{cfg.adverse_min_participation:g} (min {min_part:.4f})", 1)
        elif not breach and s["firing"]:
            s["firing"] = False
            transition = Transition(RESOLVED, closed_rate, cfg.adverse_flags_per_min,
                                    f"{closed_rate:.2f} flags/min or participation cut back", 0)
        s.update(w=index, n=0, flags=0, min_part=None)
    s["n"] += 1
    if risk > cfg.adverse_flag_threshold:
        s["flags"] += 1
    s["min_part"] = participation if s["min_part"] is None else min(s["min_part"], participation)
    return s, transition, closed_rate


def stale_lag_ns(s: State) -> int:
    """How far (event time) the symbol's newest state is past the oldest state advice has not
    answered yet; 0 when every state has an advice at or after it."""
    since = s.get("since")
    return 0 if since is None else max(0, s["state"] - since)


def stale_on_state(st: State | None, ts_ns: int, cfg: AlertsConfig) -> tuple[State, Transition | None]:
    """A state record of the symbol at ``ts_ns``. ``since`` is the oldest state (event time) newer
    than the newest advice, so the lag measures only states left unanswered: the gap between two
    quiet states, which the advisor answers moments later, never counts."""
    s: State = dict(st) if st else {"adv": None, "state": ts_ns, "since": None, "firing": False}
    s["state"] = max(s["state"], ts_ns)
    if (s["adv"] is None or ts_ns > s["adv"]) and s["since"] is None:
        s["since"] = ts_ns
    lag = stale_lag_ns(s)
    timeout = cfg.advice_timeout_s
    if not s["firing"] and lag > timeout * NS:
        s["firing"] = True
        return s, Transition(FIRING, lag / NS, timeout,
                             f"state is {lag / NS:.1f} s (event time) past the newest advice; timeout {timeout:g} s")
    return s, None


def stale_on_advice(st: State | None, ts_ns: int, cfg: AlertsConfig) -> tuple[State, Transition | None]:
    """An advice record of the symbol at ``ts_ns`` (the event time of the state it answers). Advice
    answers states in order, so every state up to ``ts_ns`` is answered; what is left unanswered
    starts after it (a lower bound: the exact next state time is not kept)."""
    s: State = dict(st) if st else {"adv": ts_ns, "state": ts_ns, "since": None, "firing": False}
    s["adv"] = ts_ns if s["adv"] is None else max(s["adv"], ts_ns)
    if s["since"] is not None and s["adv"] >= s["since"]:
        s["since"] = None if s["adv"] >= s["state"] else s["adv"] + 1
    lag = stale_lag_ns(s)
    timeout = cfg.advice_timeout_s
    if s["firing"] and lag <= timeout * NS:
        s["firing"] = False
        return s, Transition(RESOLVED, lag / NS, timeout, f"advice caught up to within {lag / NS:.1f} s of state")
    return s, None


def stream_tick(st: State | None, now_wall_ns: int, cfg: AlertsConfig,
                watch: bool = True) -> tuple[State, bool, Transition | None, float]:
    """One wall-clock punctuation of a partition. ``seq`` counts the advice records ``process`` has
    applied (event-driven, replayable); when it moved since the last tick, advice was seen "now".
    Returns (state, whether it changed, transition, idle seconds). A clock that stepped back (a
    partition moved to a host whose clock is behind) counts as no idle time, never as negative.
    ``watch`` False (a partition that carries no symbol while others do) never fires, and resolves
    an alert raised while the whole pipeline was silent."""
    s: State = dict(st) if st else {"seq": 0}
    changed = False
    idle_s = max(0, now_wall_ns - s.get("wall", now_wall_ns)) / NS  # before this tick's observation
    seen = "wall" not in s or s.get("seen_seq") != s["seq"]
    if seen:  # advice since the last tick, or the first tick ever: the idle clock starts now
        s["wall"], s["seen_seq"] = now_wall_ns, s["seq"]
        changed = True
    timeout = cfg.stream_timeout_s
    transition = None
    if s.get("firing", False) and not watch:
        s["firing"] = False
        changed = True
        transition = Transition(RESOLVED, idle_s, timeout, "this partition carries no symbol; advice flows on others")
    elif not s.get("firing", False) and not seen and idle_s > timeout and watch:
        s["firing"] = True
        changed = True
        transition = Transition(FIRING, idle_s, timeout, f"no advice for {idle_s:.2f} s (wall clock); timeout "
                                f"{timeout:g} s: Torghut is on its baseline policy")
    elif s.get("firing", False) and seen:
        s["firing"] = False
        changed = True
        transition = Transition(RESOLVED, idle_s, timeout, f"advice is flowing again after {idle_s:.1f} s")
    return s, changed, transition, 0.0 if seen else idle_s
