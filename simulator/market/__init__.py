"""Hawkes-driven market model: ten order-flow dimensions placed on the FIFO book."""

from simulator.market.model import MarketModel, illustrative_model
from simulator.market.run import MarketRun, simulate_market
from simulator.market.types import DIM_NAMES, N_DIMS

__all__ = ["DIM_NAMES", "N_DIMS", "MarketModel", "MarketRun", "illustrative_model", "simulate_market"]
