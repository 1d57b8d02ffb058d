"""Where the recorded market data lives: ``data/`` in the repository (microexec.sample_data), or
MICROEXEC_DATA_DIR. Tests that need it fail when it is missing; they never skip."""

from __future__ import annotations

from microexec.sample_data import DATA_DIR

__all__ = ["DATA_DIR"]
