"""Where the recorded market data lives: ../shared/data beside the repository (as in CI), or
MICROEXEC_DATA_DIR. Tests that need it fail when it is missing; they never skip."""

from __future__ import annotations

import os
from pathlib import Path

_BESIDE_REPO = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SHARED_DATA = Path(os.environ.get("MICROEXEC_DATA_DIR") or _BESIDE_REPO)
