"""The one parameter convention every Hawkes routine in microexec shares.

Intensity of dimension ``i``::

    lambda_i(t) = mu[i] + sum_j sum_{t_k^j < t} alpha[i, j] * beta[i, j] * exp(-beta[i, j] * (t - t_k^j))

so ``alpha[i, j]`` is the *branching ratio* of the kernel (its L1 norm): the expected number of
dimension-``i`` children of one dimension-``j`` event. Keeping alpha as an L1 norm makes the
stationarity condition simply ``spectral_radius(alpha) < 1`` and makes alpha comparable across
decays, which is what a fit with free decays needs to stay identifiable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class HawkesParams:
    """Baselines ``mu`` (D,), branching ratios ``alpha`` (D, D) and decays ``beta`` (D, D), in 1/s."""

    mu: FloatArray
    alpha: FloatArray
    beta: FloatArray

    def __post_init__(self) -> None:
        mu = np.ascontiguousarray(self.mu, dtype=np.float64)
        alpha = np.ascontiguousarray(self.alpha, dtype=np.float64)
        beta = np.ascontiguousarray(self.beta, dtype=np.float64)
        d = mu.shape[0]
        if mu.ndim != 1 or alpha.shape != (d, d) or beta.shape != (d, d):
            raise ValueError(f"shapes must be mu (D,), alpha (D,D), beta (D,D); got {mu.shape}, "
                             f"{alpha.shape}, {beta.shape}")
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(alpha)) and np.all(np.isfinite(beta))):
            raise ValueError("Hawkes parameters must be finite")
        if np.any(mu <= 0) or np.any(alpha < 0) or np.any(beta <= 0):
            raise ValueError("need mu > 0, alpha >= 0, beta > 0")
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "beta", beta)

    @property
    def dim(self) -> int:
        return int(self.mu.shape[0])

    def spectral_radius(self) -> float:
        """Largest |eigenvalue| of the branching matrix; < 1 is stationarity."""
        return float(np.max(np.abs(np.linalg.eigvals(self.alpha))))

    def stationary_intensity(self) -> FloatArray:
        """Mean event rate per dimension, ``(I - alpha)^-1 mu``; only meaningful when stationary."""
        if self.spectral_radius() >= 1.0:
            raise ValueError("process is not stationary (spectral radius of alpha >= 1)")
        return np.asarray(np.linalg.solve(np.eye(self.dim) - self.alpha, self.mu), dtype=np.float64)

    def to_dict(self) -> dict[str, list[float] | list[list[float]]]:
        return {"mu": self.mu.tolist(), "alpha": self.alpha.tolist(), "beta": self.beta.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> HawkesParams:
        return cls(np.asarray(data["mu"]), np.asarray(data["alpha"]), np.asarray(data["beta"]))
