"""Passive with catch-up: the advised arm's rule for crossing the spread, as pure logic.

Why: a tightened order worked passively at the touch saves the spread on what fills, but children
that do not fill leave the parent short of its own advised schedule, so the advisor's arm filled up
to 4 points less than the baseline's (docs/replay.md). The standard execution-algo answer is a
passive schedule with catch-up: children rest at the touch and, when the arm's cumulative fill falls
behind its *advised* schedule by more than a tolerance, the shortfall beyond the tolerance is sent
as one marketable child (IOC at the far touch plus the baseline's marketable tolerance).

What keeps it within Torghut's "advice only tightens" (TORGHUT.md, ``policy_map.no_looser``):

* it crosses only for a deficit against the advised schedule (participation cap included), never
  more than that deficit, so the arm's cumulative fill is never ahead of the advised schedule, which
  in wall time is never steeper than the baseline's; resting children are cancelled (youngest
  first) before the cross whenever filled + working + the cross would pass the schedule;
* its price is never more aggressive than the baseline's own marketable children;
* a passive *baseline* never gets a catch-up (a passive baseline stays passive whatever the advice),
  and a marketable advised arm needs none (it already crosses, at the advised pace).

The tolerance is a fraction of the parent's quantity; in the last ``final`` fraction of the advised
horizon it is 0, so the arm ends on its schedule rather than ``tolerance`` behind it. Both are
chosen on the tuning seeds only (``python -m microexec.replay.tuning --catch-up``). The functions
here are compiled into the execution loop (producers/paper/catchup_engine.py) and called from
Python in the tests: one definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb


@dataclass(frozen=True)
class CatchUp:
    """``tolerance``: how far behind the advised schedule (fraction of the parent) the arm may fall
    before it crosses; ``math.inf`` = only in the final window. ``final``: the last fraction of the
    advised horizon in which any deficit crosses (tolerance 0)."""

    tolerance: float = 0.2
    final: float = 0.0

    def __post_init__(self) -> None:
        if not (self.tolerance >= 0.0):  # also refuses nan
            raise ValueError(f"tolerance must be >= 0, got {self.tolerance}")
        if not 0.0 <= self.final <= 1.0:
            raise ValueError(f"final must be in [0, 1], got {self.final}")

    @property
    def active(self) -> bool:
        """False when the rule can never cross (infinite tolerance and no final window)."""
        return math.isfinite(self.tolerance) or self.final > 0.0

    def label(self) -> str:
        tol = "inf" if not math.isfinite(self.tolerance) else f"{self.tolerance:g}"
        return f"catch-up tol {tol} final {self.final:g}"


@nb.njit(cache=True)
def tolerance_shares(tolerance: float, final: float, qty: float, frac: float) -> float:
    """Shares the arm may be behind its schedule at ``frac`` of its horizon (0 in the final window)."""
    if frac >= 1.0 - final - 1e-12:
        return 0.0
    if tolerance == math.inf:
        return math.inf
    return tolerance * qty


@nb.njit(cache=True)
def catchup_quantity(target: float, filled: int, pending: int, tolerance: float) -> int:
    """Shares to cross now: the part of the deficit against the advised ``target`` (shares the
    schedule and cap allow by now) beyond ``tolerance`` shares; ``pending`` are catch-up shares
    already on their way to the book. 0 when the arm is on or ahead of its schedule."""
    behind = math.floor(target) - filled - pending
    if behind <= 0 or behind <= tolerance:
        return 0
    return int(behind - math.ceil(tolerance)) if tolerance > 0 else int(behind)


@nb.njit(cache=True)
def excess_working(target: float, filled: int, working: int, in_flight: int, cross: int) -> int:
    """Resting shares to cancel so that filled + working + in flight + the cross stay within the
    advised ``target``: a cross must not put the arm ahead of its schedule once the resting
    children fill too."""
    over = filled + working + in_flight + cross - math.floor(target)
    return over if over > 0 else 0
