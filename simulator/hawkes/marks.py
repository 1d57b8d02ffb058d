"""Mark (order size) distributions for the marked Hawkes model.

Marks here do not feed back into intensities (the ground process is the unmarked Hawkes of
``params.py``); they only size the orders the market model places. Two fits are offered:

* ``"empirical"``: the observed size frequencies. Real order sizes have spikes at round lots
  (100, 200, 500 shares) that no smooth family reproduces, and the spread/depth the simulator
  produces depends on them.
* ``"lognormal"``: a smooth, heavy-tailed two-parameter fit, discretised onto multiples of a lot,
  for when the sample is small or an unseen size must be possible.

Both are stored as one discrete table ``(values, cdf)`` so the market model's njit loop samples
either with the same kernel, :func:`sample_mark`, with one uniform draw and a binary search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray
from scipy import stats

MarkKind = Literal["empirical", "lognormal"]


@njit(cache=True)
def sample_mark(values: NDArray[np.int64], cdf: NDArray[np.float64], rng: np.random.Generator) -> int:
    """One size from the table: ``values[k]`` with probability ``cdf[k] - cdf[k-1]``."""
    k = np.searchsorted(cdf, rng.random(), side="right")
    if k >= values.shape[0]:
        k = values.shape[0] - 1
    return int(values[k])


@njit(cache=True)
def _sample_many(values: NDArray[np.int64], cdf: NDArray[np.float64], rng: np.random.Generator,
                 n: int) -> NDArray[np.int64]:
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        out[i] = sample_mark(values, cdf, rng)
    return out


@dataclass(frozen=True)
class MarkDistribution:
    kind: MarkKind
    values: NDArray[np.int64]
    cdf: NDArray[np.float64]
    log_mean: float = float("nan")
    log_sd: float = float("nan")

    def __post_init__(self) -> None:
        values = np.ascontiguousarray(self.values, dtype=np.int64)
        cdf = np.ascontiguousarray(self.cdf, dtype=np.float64)
        if values.ndim != 1 or values.shape != cdf.shape or values.size == 0:
            raise ValueError("values and cdf must be non-empty 1-d arrays of equal length")
        if np.any(values <= 0) or np.any(np.diff(values) <= 0):
            raise ValueError("sizes must be positive and strictly increasing")
        if np.any(np.diff(cdf) < 0) or not np.isclose(cdf[-1], 1.0):
            raise ValueError("cdf must be non-decreasing and end at 1")
        cdf = cdf.copy()
        cdf[-1] = 1.0
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "cdf", cdf)

    @property
    def probabilities(self) -> NDArray[np.float64]:
        return np.diff(self.cdf, prepend=0.0)

    def mean(self) -> float:
        return float(np.sum(self.values * self.probabilities))

    def sample(self, rng: np.random.Generator, n: int) -> NDArray[np.int64]:
        return _sample_many(self.values, self.cdf, rng, int(n))

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "values": self.values.tolist(), "cdf": self.cdf.tolist(),
                "log_mean": self.log_mean, "log_sd": self.log_sd}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> MarkDistribution:
        kind = str(data["kind"])
        if kind not in ("empirical", "lognormal"):
            raise ValueError(f"unknown mark kind {kind!r}")
        return cls(kind,  # type: ignore[arg-type]
                   np.asarray(data["values"]), np.asarray(data["cdf"]),
                   float(data.get("log_mean", float("nan"))),  # type: ignore[arg-type]
                   float(data.get("log_sd", float("nan"))))  # type: ignore[arg-type]


def fit_marks(sizes: ArrayLike, kind: MarkKind = "empirical", *, lot: int = 1,
              tail_quantile: float = 0.9999) -> MarkDistribution:
    """Fit sizes (positive integers, e.g. shares) by their frequencies or by a lognormal MLE.

    ``lot`` is the size grid of the lognormal table; ``tail_quantile`` truncates its tail so the
    table stays small (the mass beyond is folded into the last value).
    """
    x = np.asarray(sizes, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or np.any(x <= 0) or not np.all(np.isfinite(x)):
        raise ValueError("sizes must be a non-empty 1-d array of positive finite numbers")
    if kind == "empirical":
        vals, cnt = np.unique(np.round(x).astype(np.int64), return_counts=True)
        keep = vals > 0
        vals, cnt = vals[keep], cnt[keep]
        return MarkDistribution("empirical", vals, np.cumsum(cnt) / cnt.sum())
    if kind == "lognormal":
        if lot <= 0:
            raise ValueError("lot must be positive")
        logs = np.log(x)
        m, s = float(logs.mean()), float(max(logs.std(), 1e-9))
        dist = stats.lognorm(s=s, scale=np.exp(m))
        k_max = max(1, int(np.ceil(dist.ppf(tail_quantile) / lot)))
        vals = lot * np.arange(1, k_max + 1, dtype=np.int64)
        edges = lot * (np.arange(1, k_max + 1) + 0.5)
        cdf = dist.cdf(edges)
        cdf[-1] = 1.0
        return MarkDistribution("lognormal", vals, cdf, m, s)
    raise ValueError(f"unknown mark kind {kind!r}")
