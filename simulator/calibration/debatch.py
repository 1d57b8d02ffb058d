"""De-batching of receive-time clocks: events delivered in one network packet get times spread over
the interval the packet may have taken to form.

Why: a recorder that stamps each message with its local *receive* time (the Binance recordings in
``data/binance``) gives every message of one network packet nearly the same time, microseconds
apart, however far apart the exchange produced them. On ``data/binance`` the gaps between
consecutive receive times are bimodal: a mode at 0.3-3 us (messages parsed one after another out
of one packet) and a mode at 0.5-2 ms (packets), with a trough between 10 us and 300 us that holds
under 3% of the gaps (``simulator.validation_report`` prints the histogram's figures). A Hawkes
fit reads those microsecond gaps as a sub-microsecond excitation, and the time-rescaling test
rejects every model on them. The Hawkes literature treats coarse or batched timestamps the same
way (Filimonov & Sornette 2015, "Apparent criticality and calibration issues in the Hawkes
self-excited point process model"; Lallouache & Challet 2016): the true times of events that
share a stamp are unknown inside the stamp's interval, so they are drawn uniformly there, order
kept, and the fit and test are made on those times.

The scheme, made explicit so a model says which times it was fitted on:

* a *packet* is a run of events each less than ``gap_s`` after the previous one; ``gap_s`` sits
  in the trough of the measured gap distribution (:data:`PACKET_GAP_S`), not at a value tuned by
  the test's outcome;
* a packet of ``n >= 2`` events ending at receive time ``R``, whose previous packet ended at
  ``L``, has its events' times replaced by the order statistics of ``n`` uniform draws on
  ``(max(L, R - max_spread_s), R]``: the events stay in their recorded order, stay after the
  previous packet and no later than the packet's own arrival. ``max_spread_s`` (default
  :data:`VENUE_RESOLUTION_S`, 1 ms) bounds how far back a packet reaches: on ``data/binance``
  97% of consecutive trades in one packet carry the same venue trade time ``T`` (ms resolution),
  so the events of a packet happened within one venue millisecond, not over a long idle gap
  before it;
* a single-event packet keeps its receive time (its transport delay is a shift, not a batching);
* the draws come from a numpy Generator seeded through SeedSequence, so a seed gives one answer.

LOBSTER data carry exchange timestamps and never pass through here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.calibration.flow import RecordedFlow

PACKET_GAP_S = 75e-6
"""Receive-time gap below which two messages count as one packet: the geometric centre of the
emptiest quarter-decade bin between the two modes of the measured gap distribution. On
data/binance (91,859 mapped events) 47.6% of gaps are under 10 us, 48.7% under 50 us, 49.0% under
100 us, 59.3% under 1 ms; the modes are near 0.75 us (messages parsed out of one packet) and 1.3 ms
(packets), and the fewest gaps between them fall in 56-100 us (203 of 91,858). From 10 us to 100 us
the packet count moves from 48,158 to 46,849 (3%): the choice matters little, and it is made on this
distribution, not on any goodness-of-fit result."""

VENUE_RESOLUTION_S = 1e-3
"""How far before its arrival a packet's events may be spread: the venue's timestamp resolution
(Binance trade times are milliseconds), within which 97% of same-packet trade pairs fall."""

DEFAULT_SEED = 0


@dataclass(frozen=True)
class DebatchResult:
    """De-batched times and what was done, for the model's metadata."""

    times: NDArray[np.float64]
    n_packets: int
    n_batched_packets: int
    n_moved: int
    gap_s: float
    max_spread_s: float
    seed: int

    def metadata(self) -> dict[str, float | int | str]:
        return {"scheme": "uniform order statistics over (max(previous packet, arrival - max_spread), arrival]",
                "gap_s": self.gap_s, "max_spread_s": self.max_spread_s, "seed": self.seed,
                "packets": self.n_packets, "batched_packets": self.n_batched_packets, "events_moved": self.n_moved}


def packet_ids(times: NDArray[np.float64], gap_s: float = PACKET_GAP_S) -> NDArray[np.int64]:
    """Packet index of each event: a new packet starts where the gap to the previous event is at
    least ``gap_s``."""
    t = np.asarray(times, dtype=np.float64)
    if t.size == 0:
        return np.zeros(0, np.int64)
    if np.any(np.diff(t) < 0):
        raise ValueError("times must be non-decreasing")
    return np.concatenate([[0], np.cumsum(np.diff(t) >= gap_s)]).astype(np.int64)


def packet_intervals(times: NDArray[np.float64], gap_s: float = PACKET_GAP_S,
                     max_spread_s: float = VENUE_RESOLUTION_S) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per event, the interval ``(lo, hi]`` its true time is taken to lie in: ``hi`` is its
    packet's last receive time and ``lo`` the later of the previous packet's last receive time
    (0 for the first packet) and ``hi - max_spread_s``. A single-event packet gets ``lo = hi``."""
    t = np.asarray(times, dtype=np.float64)
    pid = packet_ids(t, gap_s)
    n_pk = int(pid[-1]) + 1 if t.size else 0
    last = np.zeros(n_pk)
    np.maximum.at(last, pid, t)  # times are sorted: the packet's last receive time
    size = np.bincount(pid, minlength=n_pk)
    prev_end = np.concatenate([[min(0.0, float(t[0])) if t.size else 0.0], last[:-1]])
    lo_pk = np.maximum(prev_end, last - max_spread_s)
    lo_pk = np.where(size >= 2, lo_pk, last)
    hi = last[pid]
    lo = np.where(size[pid] >= 2, lo_pk[pid], t)
    hi = np.where(size[pid] >= 2, hi, t)
    return lo, hi


def debatch(times: NDArray[np.float64], *, gap_s: float = PACKET_GAP_S, max_spread_s: float = VENUE_RESOLUTION_S,
            seed: int = DEFAULT_SEED) -> DebatchResult:
    """Spread each multi-event packet's events uniformly over its interval, order kept (module
    docstring). The result is strictly increasing wherever two draws do not coincide exactly."""
    if gap_s <= 0 or max_spread_s <= 0:
        raise ValueError("gap_s and max_spread_s must be positive")
    t = np.asarray(times, dtype=np.float64)
    pid = packet_ids(t, gap_s)
    lo, hi = packet_intervals(t, gap_s, max_spread_s)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    v = 1.0 - rng.random(t.size)  # in (0, 1]: a draw lands in (lo, hi]
    # Sort the draws within each packet (lexsort: packet first, then draw); positions are already
    # grouped by packet, so the k-th event of a packet takes its k-th smallest draw and the
    # recorded order is the order of the new times.
    v_sorted = v[np.lexsort((v, pid))]
    new = lo + (hi - lo) * v_sorted
    batched = lo < hi
    new = np.where(batched, new, t)
    size = np.bincount(pid) if t.size else np.zeros(0, np.int64)
    return DebatchResult(times=new, n_packets=int(size.size), n_batched_packets=int(np.sum(size >= 2)),
                         n_moved=int(np.sum(new != t)), gap_s=gap_s, max_spread_s=max_spread_s, seed=seed)


def debatch_flow(flow: RecordedFlow, *, gap_s: float = PACKET_GAP_S, max_spread_s: float = VENUE_RESOLUTION_S,
                 seed: int = DEFAULT_SEED) -> RecordedFlow:
    """``flow`` with its event times de-batched (:func:`debatch`) and the step recorded in
    ``flow.debatch`` (and so in a calibrated model's metadata). Only the times change: the events
    keep their order, so every per-event array (dimensions, sizes, spreads, mids) stays aligned."""
    if flow.debatch:
        raise ValueError(f"{flow.source}: event times are already de-batched")
    r = debatch(flow.times, gap_s=gap_s, max_spread_s=max_spread_s, seed=seed)
    return dataclasses.replace(flow, times=r.times, debatch=r.metadata())
