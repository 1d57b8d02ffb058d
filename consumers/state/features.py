"""The feature formulas, as small pure functions on plain floats.

Why plain functions: each is the single executable definition of a formula written out in
docs/features.md, tested against hand-computed numbers, and cheap enough to run on every quote
(no numpy on tiny arrays: the state consumer must keep up with a passthrough).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from streams.processor import InvalidRecord


def mid_price(bid: float, ask: float) -> float:
    return 0.5 * (bid + ask)


def spread_bps(bid: float, ask: float) -> float:
    """Quoted spread relative to the mid: (ask - bid) / ((ask + bid) / 2) * 1e4, in basis points."""
    return (ask - bid) / (0.5 * (bid + ask)) * 1e4


def depth_top_of_book_usd(bid: float, bid_size: float, ask: float, ask_size: float,
                          size_multiplier: float = 1.0) -> float:
    """Displayed notional at the touch, both sides: (bid*bs + ask*as) * multiplier, USD.

    Used when no L2 book is available: it is the level-1 term of depth_top5_usd, so it is a lower
    bound of the true top-5 depth.
    """
    return (bid * bid_size + ask * ask_size) * size_multiplier


def _levels(side: Any, name: str, levels: int) -> float:
    if not isinstance(side, list):
        raise InvalidRecord("wrong_envelope", f"{name} is not an array")
    total = 0.0
    for level in side[:levels]:
        price, size = _level(level, name)
        total += price * size
    return total


def _level(level: Any, name: str) -> tuple[float, float]:
    if isinstance(level, Mapping):
        price, size = level.get("price"), level.get("size")
    elif isinstance(level, list | tuple) and len(level) == 2:
        price, size = level
    else:
        raise InvalidRecord("wrong_envelope", f"{name} level is not a price/size pair")
    if (isinstance(price, bool) or isinstance(size, bool)
            or not isinstance(price, int | float) or not isinstance(size, int | float)):
        raise InvalidRecord("bad_number", f"{name} level {level!r}")
    price, size = float(price), float(size)
    if not (math.isfinite(price) and math.isfinite(size)):
        raise InvalidRecord("non_finite_number", f"{name} level {level!r}")
    if price <= 0:
        raise InvalidRecord("non_positive_value", f"{name} price {price}")
    if size < 0:
        raise InvalidRecord("negative_value", f"{name} size {size}")
    return price, size


def depth_top5_usd_l2(bids: Any, asks: Any, levels: int = 5) -> float:
    """Sum over both sides of price * size over the best ``levels`` levels of an L2 book, USD.

    Validates the book (finite, positive prices, non-negative sizes, not crossed) because this is
    the only place an L2 record's numbers are read; violations raise InvalidRecord (-> DLQ).
    """
    total = _levels(bids, "bids", levels) + _levels(asks, "asks", levels)
    if bids and asks:
        best_bid, _ = _level(bids[0], "bids")
        best_ask, _ = _level(asks[0], "asks")
        if best_bid >= best_ask:
            raise InvalidRecord("crossed_book", f"best bid {best_bid} >= best ask {best_ask}")
    return total


def ofi_increment(prev_bid: float, prev_bid_size: float, prev_ask: float, prev_ask_size: float,
                  bid: float, bid_size: float, ask: float, ask_size: float) -> float:
    """Cont-Kukanov-Stoikov order-flow contribution e_n of one top-of-book update (shares).

    e_n = 1[b_n >= b_{n-1}] q^b_n - 1[b_n <= b_{n-1}] q^b_{n-1}
        - 1[a_n <= a_{n-1}] q^a_n + 1[a_n >= a_{n-1}] q^a_{n-1}
    Positive e_n is net buying pressure (bid queue built or ask queue consumed).
    """
    e = 0.0
    if bid >= prev_bid:
        e += bid_size
    if bid <= prev_bid:
        e -= prev_bid_size
    if ask <= prev_ask:
        e -= ask_size
    if ask >= prev_ask:
        e += prev_ask_size
    return e


def normalised_ofi(signed_sum: float, abs_sum: float) -> float:
    """OFI normalised to [-1, 1]: sum(w e_n) / sum(w |e_n|); 0 when there was no flow."""
    if abs_sum <= 0.0:
        return 0.0
    value = signed_sum / abs_sum
    return 1.0 if value > 1.0 else -1.0 if value < -1.0 else value


def realized_volatility_bps(sum_sq_returns: float, sum_dt_s: float) -> float | None:
    """sqrt(sum(w r^2) / sum(w dt)) * 1e4: volatility of mid log returns, bps per sqrt(second)."""
    if sum_dt_s <= 0.0:
        return None
    return math.sqrt(sum_sq_returns / sum_dt_s) * 1e4


def queue_fill_probability(rate_per_s: float, queue_ahead: float, horizon_s: float) -> float:
    """P(a passive order behind ``queue_ahead`` shares fills within ``horizon_s``).

    Model: volume executes against the touch at rate ``rate_per_s`` (shares/s); the time to deplete
    the queue ahead is approximated as exponential with mean queue/rate (memoryless), so
    P(T <= H) = 1 - exp(-rate * H / queue). Cancellations ahead of us are ignored, which makes the
    estimate conservative (they would only move us forward).
    """
    if rate_per_s <= 0.0:
        return 0.0
    if queue_ahead <= 0.0:
        return 1.0
    return 1.0 - math.exp(-rate_per_s * horizon_s / queue_ahead)


def blend_with_own_fills(p_model: float, successes: float, trials: float, prior_strength: float) -> float:
    """Shrink our own empirical passive fill rate toward the model: (s + k p) / (n + k).

    The model probability acts as a Beta prior worth ``prior_strength`` pseudo-trials, so a handful
    of our own fills nudges the estimate and a long record dominates it.
    """
    denominator = trials + prior_strength
    if denominator <= 0.0:
        return p_model
    return (successes + prior_strength * p_model) / denominator


def crumbling_quote_probability(bid_size: float, ask_size: float) -> float:
    """Probability that the thinner side of the touch is the next to move away (queue race).

    With symmetric order flow hitting both queues, the chance that a queue is depleted first is
    approximately the *other* queue's share of the touch: P(bid goes first) ~ as / (bs + as). We
    report the larger of the two, i.e. max(bs, as) / (bs + as) in [0.5, 1]: 0.5 is a balanced touch,
    values near 1 mean one side is about to crumble.
    """
    total = bid_size + ask_size
    if total <= 0.0:
        return 0.5
    return max(bid_size, ask_size) / total


def l2_depth_usd(book: Mapping[str, Any], levels: int) -> float:
    """depth_top5_usd of a decoded ``l2_book_v1`` record."""
    return depth_top5_usd_l2(book.get("bids"), book.get("asks"), levels)
