"""Marked multivariate Hawkes processes with exponential kernels.

Import from the submodules (nothing is re-exported here: the function names ``fit`` and
``simulate`` are also submodule names, and importing the light ``params`` convention should not
pull in scipy or numba for every user):

* ``params``: :class:`HawkesParams`, the shared parameter convention.
* ``events``: :class:`HawkesEvents`, one path observed on ``[0, horizon]`` (with ``digest()``).
* ``simulate``: ``simulate``, ``simulate_n`` and the njit kernels ``hawkes_next_event`` /
  ``hawkes_excite`` for fused event loops.
* ``likelihood``: ``loglik``, ``loglik_grad``.
* ``fit``: ``fit`` (MLE of mu, alpha and beta) returning ``FitResult``; ``fit_poisson``.
* ``goodness``: ``residuals``, ``goodness_of_fit`` (time-rescaling KS per dimension).
* ``marks``: ``fit_marks`` and ``MarkDistribution`` for order sizes.
"""
