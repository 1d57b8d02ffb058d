"""Where the recorded sample market data lives: ``data/`` in this repository (see data/README.md),
or ``MICROEXEC_DATA_DIR``.

Why in the repository: a user clones only this repository, and the demo, the tests and the
validation report all run on these recordings; nothing may depend on a folder beside the clone.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("MICROEXEC_DATA_DIR") or ROOT / "data")
AMZN_MESSAGES = DATA_DIR / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv"
AAPL_MESSAGES = DATA_DIR / "lobster" / "AAPL_2012-06-21_34200000_57600000_message_10_first998.csv"


def binance_files() -> list[Path]:
    """The Binance BTCUSDT recordings in time order."""
    return sorted((DATA_DIR / "binance").glob("*.gz"))
