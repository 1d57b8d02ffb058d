"""Parent-order execution on the simulated book: policy, compiled engine, Torghut TCA arithmetic."""

from simulator.execution.policy import ExecutionPolicy, ParentOrder
from simulator.execution.run import ExecutionResult, PathRunner, execute_parent
from simulator.execution.tca import shortfall_notional, slippage_bps

__all__ = ["ExecutionPolicy", "ExecutionResult", "ParentOrder", "PathRunner", "execute_parent",
           "shortfall_notional", "slippage_bps"]
