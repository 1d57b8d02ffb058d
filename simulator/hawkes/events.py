"""One realisation of a multivariate point process observed on ``[0, horizon]``.

Simulation, likelihood, fitting and goodness of fit all exchange this one container so that the
observation window travels with the events: the compensator (and so the likelihood and the KS
residuals) depends on the horizon, not only on the last event time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class HawkesEvents:
    """Event ``times`` (float64, non-decreasing, in ``[0, horizon]``) and their ``dims`` (int64)."""

    times: NDArray[np.float64]
    dims: NDArray[np.int64]
    horizon: float
    dim: int

    def __post_init__(self) -> None:
        times = np.ascontiguousarray(self.times, dtype=np.float64)
        dims = np.ascontiguousarray(self.dims, dtype=np.int64)
        if times.ndim != 1 or times.shape != dims.shape:
            raise ValueError(f"times and dims must be 1-d of equal length; got {times.shape}, {dims.shape}")
        if times.size:
            if np.any(np.diff(times) < 0):
                raise ValueError("event times must be sorted")
            if times[0] < 0 or times[-1] > self.horizon:
                raise ValueError("event times must lie in [0, horizon]")
            if dims.min() < 0 or dims.max() >= self.dim:
                raise ValueError(f"dims must lie in [0, {self.dim})")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "dims", dims)
        object.__setattr__(self, "horizon", float(self.horizon))
        object.__setattr__(self, "dim", int(self.dim))

    def __len__(self) -> int:
        return int(self.times.shape[0])

    def counts(self) -> NDArray[np.int64]:
        return np.bincount(self.dims, minlength=self.dim).astype(np.int64)

    def digest(self) -> str:
        """sha256 over the exact bytes of times and dims: the determinism witness across processes."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.times, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(self.dims, dtype="<i8").tobytes())
        return h.hexdigest()

    def truncate(self, n_events: int) -> HawkesEvents:
        """The first ``n_events`` events, observed up to the last kept one.

        Stopping at the n-th event is a stopping time of the process, so the likelihood on
        ``[0, t_n]`` is still the right one; this is how a test gets exactly N events.
        """
        n = min(int(n_events), len(self))
        horizon = float(self.times[n - 1]) if n < len(self) and n > 0 else self.horizon
        return HawkesEvents(self.times[:n].copy(), self.dims[:n].copy(), horizon, self.dim)
