"""State TTL in event time: when a symbol's state is too old to continue, and the sweeps that evict it.

Why a module of its own: eviction is about the partition's keys and clock, not about any feature.
The processor asks two questions of it per record (``sweep`` before touching state, ``expired`` when
loading a symbol) and one per run (``run_crosses_sweep``); the compiled fold applies the same TTL
rule per record (``FoldConfig.ttl_ns``) by handing an expired symbol back to the reference path.

Deterministic by construction: the sweep interval counter lives in the partition's state under
``TTL_KEY`` (so a restored consumer sweeps where an uninterrupted one would), a sweep happens at
the record whose event time crosses into a new interval, and a run that would cross one is declined
so the per-record path sweeps at exactly that record on every runtime path. An evicted key is one
the TTL rule would have restarted anyway: deleting it changes no record later than the sweep.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter

from consumers.common.decay import NS_PER_S
from consumers.state.layout import INT_KEYS, INT_NONE, SymbolRows
from streams.processor import KeyValueState

# The partition's eviction clock (the last sweep's interval number); not a ticker, so never a symbol.
TTL_KEY = "~ttl"
_LAST_T = INT_KEYS.index("last_t")
EVICTED = Counter("microexec_state_evicted_keys_total",
                  "Per-symbol states evicted because the symbol had no input for the state TTL (event time)")


class Eviction:
    """The TTL rule and the sweep schedule of one processor (``ttl_s`` 0: never evict)."""

    __slots__ = ("sweep_ns", "ttl_ns")

    def __init__(self, ttl_s: float, sweeps_per_ttl: int) -> None:
        self.ttl_ns = ttl_s * NS_PER_S  # the same float the fold compares against
        self.sweep_ns = max(1, int(self.ttl_ns // sweeps_per_ttl))

    def expired(self, current: Any, t: int) -> bool:
        """Whether a symbol's state (dict or rows) is older than the TTL at ``t``: its newest event
        time ``last_t`` is more than the TTL before ``t``."""
        if current is None or self.ttl_ns <= 0:
            return False
        if type(current) is SymbolRows:
            last = current.ints[_LAST_T]
            return bool(last != INT_NONE and t - last > self.ttl_ns)
        last = current.get("last_t")
        return bool(last is not None and t - last > self.ttl_ns)

    def sweep(self, state: KeyValueState, t: int) -> None:
        """Once per sweep interval of event time, delete every symbol expired at ``t`` (each deletion
        is a changelog tombstone)."""
        if self.ttl_ns <= 0:
            return
        interval = t // self.sweep_ns
        clock = state.get(TTL_KEY)
        if clock is not None and interval <= clock["i"]:
            return
        state.put(TTL_KEY, {"i": interval})
        if clock is None:
            return  # the partition's first record: nothing can be idle yet
        evicted = 0
        for key in state.live_keys():
            if key != TTL_KEY and self.expired(state.get(key), t):
                state.delete(key)
                evicted += 1
        if evicted:
            EVICTED.inc(evicted)

    def run_crosses_sweep(self, state: KeyValueState, t_first: int, t_max: int) -> bool:
        """For a run: start the partition's clock at the run's first record as ``sweep`` would (the
        put is rolled back with the run if it is declined), and tell whether any record of the run
        reaches a new sweep interval."""
        if self.ttl_ns <= 0:
            return False
        clock = state.get(TTL_KEY)
        if clock is None:
            clock = {"i": t_first // self.sweep_ns}
            state.put(TTL_KEY, clock)
        return bool(t_max // self.sweep_ns > clock["i"])
