"""Passive with catch-up: when a passive parent crosses the spread, as pure logic.

Why: a parent worked passively at the touch saves the spread on what fills, but children that do not
fill leave it short of its own schedule (the paper split-book's advised arm filled up to 4 points less
than its marketable baseline, docs/replay.md). The standard execution-algo answer is a passive
schedule with catch-up: children rest at the touch and, when the cumulative fill falls behind the
schedule (participation cap included) by more than a tolerance, the shortfall beyond the tolerance is
sent as one marketable child (IOC at the far touch plus a marketable tolerance). The cross is never
more than that deficit, and resting children are cancelled (youngest first) whenever filled + working
+ the cross would pass the schedule, so the parent is never ahead of its own schedule.

The tolerance is a fraction of the parent's quantity; in the last ``final`` fraction of the horizon it
is 0, so the parent ends on its schedule rather than ``tolerance`` behind it. ``end_tolerance`` (off by
default) tightens it instead gradually, linearly in the horizon fraction from ``tolerance`` at arrival to
``end_tolerance`` at the end: early on a deficit can still be made up by passive fills, near the end it
cannot, so the tolerance that protects the spread early becomes a bound on how short the parent ends
(docs/replay.md, session 8: the tuning seeds' fill misses were passive arms ending up to the tolerance
short of their schedule). The functions here are
compiled into the execution loop (``simulator.execution.engine.run_parent``) and called from Python in
the tests: one definition. Who gets a catch-up, at which price, and why that keeps Torghut's "advice
only tightens" is the paper executor's decision (``producers.paper.policy_map.advised_catch_up``).

The spread gate (``spread_gate``, off by default): a cross pays the far touch, so crossing while the
spread is abnormally wide is what made the advised arm's shortfall tail on shock markets (docs/replay.md:
58 of the 80 worst-5% tuning paths had crossed). With the gate on, a due cross waits while the spread
the parent sees is wider than ``spread_gate`` times its reference spread, and goes when the spread
narrows again; from ``gate_deadline`` of the horizon on the gate is open whatever the spread, so the
deficit still crosses before the end (fill is kept). The reference is the spread the parent has seen,
averaged over time with an exponential memory of ``gate_memory_s`` seconds of event time (market
events only, from the start of the path's warm-up): what counts as normal is this market's own recent
spread, so no wall clock and no outside calibration is needed, and a persistently wide market is
judged against itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.book.core import hot


@dataclass(frozen=True)
class CatchUp:
    """``tolerance``: how far behind the schedule (fraction of the parent) a passive parent may fall
    before it crosses; ``math.inf`` = only in the final window. ``final``: the last fraction of the
    horizon in which any deficit crosses (tolerance 0)."""

    tolerance: float = 0.2
    final: float = 0.0
    spread_gate: float = math.inf  # cross only while spread <= this x the reference spread; inf = off
    gate_deadline: float = 1.0  # from this fraction of the horizon on the gate is open
    gate_memory_s: float = 30.0  # time constant of the reference spread (event time)
    end_tolerance: float | None = None  # tolerance at the end of the horizon (linear taper); None = flat

    @property
    def tolerance_at_end(self) -> float:
        """The tolerance the taper reaches at the end of the horizon (``tolerance`` when flat)."""
        return self.tolerance if self.end_tolerance is None else self.end_tolerance

    def __post_init__(self) -> None:
        if not (self.tolerance >= 0.0):  # also refuses nan
            raise ValueError(f"tolerance must be >= 0, got {self.tolerance}")
        if not 0.0 <= self.final <= 1.0:
            raise ValueError(f"final must be in [0, 1], got {self.final}")
        if not (self.spread_gate > 0.0):
            raise ValueError(f"spread_gate must be > 0 (inf = off), got {self.spread_gate}")
        if not 0.0 <= self.gate_deadline <= 1.0:
            raise ValueError(f"gate_deadline must be in [0, 1], got {self.gate_deadline}")
        if not (0.0 < self.gate_memory_s < math.inf):
            raise ValueError(f"gate_memory_s must be > 0 and finite, got {self.gate_memory_s}")
        if self.end_tolerance is not None and not (0.0 <= self.end_tolerance <= self.tolerance):
            # a taper only tightens: it never lets the parent fall further behind than ``tolerance``
            raise ValueError(f"end_tolerance must be in [0, tolerance], got {self.end_tolerance}")

    @property
    def gated(self) -> bool:
        """True when the spread gate can hold back a cross."""
        return math.isfinite(self.spread_gate) and self.gate_deadline > 0.0

    @property
    def active(self) -> bool:
        """False when the rule can never cross (infinite tolerance and no final window)."""
        return math.isfinite(self.tolerance) or self.final > 0.0

    def label(self) -> str:
        tol = "inf" if not math.isfinite(self.tolerance) else f"{self.tolerance:g}"
        gate = (f" gate {self.spread_gate:g}x/{self.gate_memory_s:g}s until {self.gate_deadline:g}"
                if self.gated else "")
        taper = "" if self.tolerance_at_end == self.tolerance else f" to {self.tolerance_at_end:g}"
        return f"catch-up tol {tol}{taper} final {self.final:g}{gate}"


@hot
def tolerance_shares(tolerance: float, final: float, qty: float, frac: float) -> float:
    """Shares the parent may be behind its schedule at ``frac`` of its horizon (0 in the final window)."""
    if frac >= 1.0 - final - 1e-12:
        return 0.0
    if tolerance == math.inf:
        return math.inf
    return tolerance * qty


@hot
def tapered_tolerance(tolerance: float, end: float, frac: float) -> float:
    """The tolerance (fraction of the parent) at ``frac`` of the horizon: linear from ``tolerance`` at
    arrival to ``end`` at the end; exactly ``tolerance`` when ``end == tolerance`` (the flat rule, so
    an untapered catch-up computes what it computed before the taper existed)."""
    if end == tolerance:
        return tolerance
    f = min(max(frac, 0.0), 1.0)
    return tolerance + (end - tolerance) * f


@hot
def catchup_quantity(target: float, filled: int, pending: int, tolerance: float) -> int:
    """Shares to cross now: the part of the deficit against ``target`` (shares the schedule and cap
    allow by now) beyond ``tolerance`` shares; ``pending`` are catch-up shares already on their way
    to the book. 0 when the parent is on or ahead of its schedule."""
    behind = math.floor(target) - filled - pending
    if behind <= 0 or behind <= tolerance:
        return 0
    return int(behind - math.ceil(tolerance)) if tolerance > 0 else int(behind)


@hot
def excess_working(target: float, filled: int, working: int, in_flight: int, cross: int) -> int:
    """Resting shares to cancel so that filled + working + in flight + the cross stay within
    ``target``: a cross must not put the parent ahead of its schedule once the resting children
    fill too."""
    over = filled + working + in_flight + cross - math.floor(target)
    return over if over > 0 else 0


@hot
def reference_spread(reference: float, spread: float, dt: float, memory_s: float) -> float:
    """The reference spread after ``spread`` held for ``dt`` seconds: an exponential average over
    time (weight ``1 - exp(-dt / memory_s)``), so a burst of events does not count more than a
    quiet stretch of the same length."""
    if dt <= 0.0:
        return reference
    return reference + (1.0 - math.exp(-dt / memory_s)) * (spread - reference)


@hot
def spread_gate_open(spread: float, reference: float, multiple: float, deadline: float, frac: float) -> bool:
    """May a due cross go now? Yes when the gate is off (``multiple`` inf), from ``deadline`` of the
    horizon on (the hard deadline that keeps the fill), or when the spread seen is at most
    ``multiple`` times the reference spread."""
    if multiple == math.inf or frac >= deadline - 1e-12:
        return True
    return spread <= multiple * reference
