"""Shortfall Monte Carlo: the distribution of a parent order's cost under a policy.

Seeding is the determinism contract: the root ``SeedSequence`` is derived from stable inputs
only (simulator version, order id, an optional caller salt such as a calibration id), and path
``i`` uses the ``i``-th spawned child, so the same inputs give byte-identical paths in any
process, and the sha256 over every path's full event stream proves it.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from simulator.execution.engine import O_ARRIVAL_MID, O_FILLED, O_NOTIONAL
from simulator.execution.policy import ExecutionPolicy, ParentOrder
from simulator.execution.run import PathRunner
from simulator.market.model import MarketModel
from simulator.version import SIMULATOR_VERSION


def seed_sequence_for(order_id: str, salt: str = "", version: str = SIMULATOR_VERSION) -> np.random.SeedSequence:
    """Root seed from stable inputs: sha256 of (version, order id, salt) as 128-bit entropy."""
    h = hashlib.sha256("\x00".join((version, order_id, salt)).encode()).digest()
    return np.random.SeedSequence(int.from_bytes(h[:16], "little"))


@dataclass(frozen=True)
class MonteCarloResult:
    """Shortfall in bps (Torghut's sign: positive = cost) over paths that filled anything."""

    order_id: str
    simulator_version: str
    n_paths: int
    n_unfilled: int
    shortfall_bps_p5: float
    shortfall_bps_p50: float
    shortfall_bps_p95: float
    shortfall_bps_mean: float
    fill_ratio_mean: float
    fill_ratio_p5: float
    fill_ratio_p50: float
    fill_ratio_min: float
    digest: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def reference_order(model: MarketModel, order_id: str = "reference", side: str = "buy",
                    horizon_s: float = 300.0, fraction: float = 0.01) -> ParentOrder:
    """The benchmark order: ``fraction`` of the model's expected market volume over ``horizon_s``."""
    qty = max(1, round(fraction * model.expected_market_volume(horizon_s)))
    return ParentOrder(order_id, "buy" if side == "buy" else "sell", qty, horizon_s)


def shortfall_monte_carlo(model: MarketModel, order: ParentOrder, policy: ExecutionPolicy,
                          n_paths: int = 1000, *, salt: str = "", warmup_s: float = 60.0,
                          progress: Callable[[int], None] | None = None,
                          threads: int | None = None) -> MonteCarloResult:
    """Run ``n_paths`` seeded paths of ``order`` under ``policy``; summarise shortfall and fills.

    ``progress`` (optional) is called with the number of finished paths; it cannot affect results.
    ``threads`` (default: one per CPU) changes only the speed, never a result or the digest.
    """
    if n_paths < 1:
        raise ValueError("n_paths must be >= 1")
    children = seed_sequence_for(order.order_id, salt).spawn(n_paths)
    got = np.zeros(n_paths)
    notional = np.zeros(n_paths)
    arrival = np.zeros(n_paths)
    path_digests: list[bytes] = [b""] * n_paths
    done = [0]
    lock = threading.Lock()

    def work(indices: range) -> None:
        # One runner (book and buffers) per thread; the compiled path releases the GIL, so the
        # threads use separate cores. Each path depends on its own seed only: same results
        # whatever the thread count or interleaving.
        runner = PathRunner(model, order, policy, warmup_s)
        for i in indices:
            out, rec_t, rec_i = runner.run_raw(children[i])
            # Hash the buffers in place (little-endian float64 / int64, as on every supported host).
            ph = hashlib.sha256(rec_t.astype("<f8", copy=False).data)
            ph.update(rec_i.astype("<i8", copy=False).data)
            path_digests[i] = ph.digest()
            got[i] = out[O_FILLED]
            notional[i] = out[O_NOTIONAL]
            arrival[i] = out[O_ARRIVAL_MID]
            if progress is not None:
                with lock:
                    done[0] += 1
                    progress(done[0])

    n_threads = max(1, min(threads or os.cpu_count() or 1, n_paths))
    if n_threads == 1:
        work(range(n_paths))
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            for future in [pool.submit(work, range(k, n_paths, n_threads)) for k in range(n_threads)]:
                future.result()
    # The run's digest: sha256 over the paths' own digests in path order.
    h = hashlib.sha256(b"".join(path_digests))
    # Torghut's arithmetic on the whole batch: dir * (avg_fill - arrival) / arrival * 1e4; the
    # tick size cancels out of the ratio, so ticks are used directly.
    with np.errstate(invalid="ignore", divide="ignore"):
        sf = np.where(got > 0, order.direction * (notional / got - arrival) / arrival * 1e4, np.nan)
    fr = got / order.quantity
    filled = sf[np.isfinite(sf)]

    def pct(q: float) -> float:
        return float(np.percentile(filled, q)) if filled.size else math.nan

    return MonteCarloResult(
        order_id=order.order_id,
        simulator_version=SIMULATOR_VERSION,
        n_paths=n_paths,
        n_unfilled=int(n_paths - filled.size),
        shortfall_bps_p5=pct(5),
        shortfall_bps_p50=pct(50),
        shortfall_bps_p95=pct(95),
        shortfall_bps_mean=float(filled.mean()) if filled.size else math.nan,
        fill_ratio_mean=float(fr.mean()),
        fill_ratio_p5=float(np.percentile(fr, 5)),
        fill_ratio_p50=float(np.percentile(fr, 50)),
        fill_ratio_min=float(fr.min()),
        digest=h.hexdigest(),
    )
