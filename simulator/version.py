"""Simulator version: part of every Monte Carlo seed and of every published shortfall record.

Bump it whenever a change alters simulated paths (rules, draw order, defaults), so that a
digest mismatch between two runs can be told apart from a code change.
"""

SIMULATOR_VERSION = "microexec-sim 0.2.0"  # 0.2: own orders under the market view (passive bias fix)
