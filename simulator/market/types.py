"""The ten Hawkes dimensions of the market model, in the order every params file uses.

Why these ten: they are the event types whose mutual excitation shapes execution cost for a
parent order working near the touch — aggressive flow per side, passive flow at, inside and
behind the touch per side, and cancellations per side — and each one maps unambiguously from
LOBSTER messages (see ``simulator.calibration.lobster``).
"""

from __future__ import annotations

MARKET_BUY = 0
MARKET_SELL = 1
LIMIT_BID_TOUCH = 2
LIMIT_ASK_TOUCH = 3
LIMIT_BID_INSIDE = 4
LIMIT_ASK_INSIDE = 5
LIMIT_BID_DEEP = 6
LIMIT_ASK_DEEP = 7
CANCEL_BID = 8
CANCEL_ASK = 9
N_DIMS = 10

DIM_NAMES: tuple[str, ...] = (
    "market_buy",
    "market_sell",
    "limit_bid_touch",
    "limit_ask_touch",
    "limit_bid_inside",
    "limit_ask_inside",
    "limit_bid_deep",
    "limit_ask_deep",
    "cancel_bid",
    "cancel_ask",
)
