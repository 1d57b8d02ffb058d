"""Information criteria of a fitted model, shared by every fit that is compared with the others.

Why one definition: calibration chooses between the single-exponential, multi-scale and
state-modulated models by AIC or BIC, so all of them must compute the criteria the same way (the
number of events, not of dimensions, is BIC's sample size).
"""

from __future__ import annotations

import numpy as np


class InformationCriteria:
    """Mixin for a fit with ``loglik``, ``n_params`` and ``n_events`` attributes."""

    loglik: float
    n_params: int
    n_events: int

    @property
    def aic(self) -> float:
        return 2.0 * self.n_params - 2.0 * self.loglik

    @property
    def bic(self) -> float:
        return self.n_params * float(np.log(max(self.n_events, 1))) - 2.0 * self.loglik
