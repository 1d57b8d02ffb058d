"""Binance raw feed recordings -> :class:`RecordedFlow`, through the Torghut mapping.

The recordings in ``data/binance`` are one event per line: the local receive time in
nanoseconds, a space, then Binance's combined-stream JSON. Best bid/offer (``bookTicker``) and
trade messages carry exactly what a Torghut quote and trade envelope carry, so they are re-wrapped
as envelopes and mapped by :func:`simulator.calibration.torghut.flow_from_envelopes`: one mapping
for every top-of-book source, so a Binance calibration and a live Torghut one mean the same thing.
The receive clock is used for both kinds (bookTicker carries no exchange time), which keeps the
two streams on one clock. Diff-depth messages are not used (the model's flow is top of book).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from simulator.calibration.flow import RecordedFlow
from simulator.calibration.torghut import flow_from_envelopes

BTC_SIZE_UNIT = 1e-5  # BTC sizes are fractional; the model counts integer units


def is_binance_recording(path: Path) -> bool:
    """True when the first line looks like ``<ns> {"stream": ...}``."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as fh:
            head = fh.readline(4096)
    except (OSError, UnicodeDecodeError):
        return False
    ts, _, body = head.partition(" ")
    return ts.isdigit() and body.startswith('{"stream"')


def envelopes(paths: list[Path], max_records: int | None = None) -> Iterator[dict[str, Any]]:
    """Torghut-shaped quote/trade envelopes from the recordings, in file order."""
    n = 0
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as fh:
            for line in fh:
                ts, _, body = line.partition(" ")
                if not body.startswith('{"stream"'):
                    continue
                msg = json.loads(body)
                stream, d = msg["stream"], msg["data"]
                sym = str(d.get("s", "?"))
                if stream.endswith("bookTicker"):
                    payload = {"S": sym, "bp": d["b"], "bs": d["B"], "ap": d["a"], "as": d["A"], "t": int(ts)}
                elif stream.endswith("@trade"):
                    payload = {"S": sym, "p": d["p"], "s": d["q"], "t": int(ts)}
                else:
                    continue
                yield {"symbol": sym, "payload": payload}
                n += 1
                if max_records is not None and n >= max_records:
                    return


def load_binance(paths: list[str | Path], *, tick_size: float = 0.01, size_unit: float = BTC_SIZE_UNIT,
                 max_records: int | None = None, balance_touch: bool = True) -> RecordedFlow:
    ps = [Path(p) for p in paths]
    for p in ps:
        if not p.is_file():
            raise FileNotFoundError(f"Binance recording not found: {p}")
    flow = flow_from_envelopes(envelopes(ps, max_records), tick_size=tick_size, size_unit=size_unit,
                               source=",".join(str(p) for p in ps), balance_touch=balance_touch)
    if not np.all(np.isfinite(flow.times)):
        raise ValueError("non-finite event times in the recording")
    return flow
