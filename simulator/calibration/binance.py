"""Binance raw feed recordings -> :class:`RecordedFlow`, through the Torghut mapping.

The recordings in ``data/binance`` are one event per line: the local receive time in
nanoseconds, a space, then Binance's combined-stream JSON. Best bid/offer (``bookTicker``) and
trade messages carry exactly what a Torghut quote and trade envelope carry, so they are re-wrapped
as envelopes and mapped by :func:`simulator.calibration.torghut.flow_from_envelopes`: one mapping
for every top-of-book source, so a Binance calibration and a live Torghut one mean the same thing.
The receive clock is used for both kinds (bookTicker carries no exchange time), which keeps the
two streams on one clock. Diff-depth messages give quotes only to a recording without a ticker (the
futures collectors record depth and trades): the rebuilt book's touch, each time it changes.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from simulator.calibration.flow import RecordedFlow
from simulator.calibration.torghut import flow_from_envelopes

BTC_SIZE_UNIT = 1e-5  # BTC sizes are fractional; the model counts integer units


def is_binance_recording(path: Path) -> bool:
    """True when the first line looks like ``<receive time> {json}`` (gzip or plain text)."""
    try:
        with path.open("rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rt") if gz else path.open("rt")) as fh:
            head = fh.readline(4096)
    except (OSError, UnicodeDecodeError):
        return False
    ts, _, body = head.partition(" ")
    return ts.isdigit() and (body.startswith('{"stream"') or body.startswith('{"lastUpdateId"'))


def envelopes(paths: list[Path], max_records: int | None = None) -> Iterator[dict[str, Any]]:
    """Torghut-shaped quote/trade envelopes from the recordings, in file order.

    The recording is read by the feed's own reader (producers/binance.py), so a calibration sees the
    quotes and trades the pipeline is fed: receive-time clock in any unit, quotes from ``bookTicker``
    or, without one, from the rebuilt book's touch, trades from ``trade`` or ``aggTrade``."""
    from producers.binance import binance_records  # the venue's reader lives with the feeds
    from producers.records import QUOTE, TRADE

    n = 0
    for record in binance_records(paths):
        if record.kind not in (QUOTE, TRADE):
            continue
        p = record.value["payload"]
        # The receive time as integer ns: the envelope's ISO stamps stop at microseconds, and ties at
        # that resolution would merge trades the recorder told apart.
        payload = {"S": record.symbol, "t": record.ts_ns,
                   **{k: p[k] for k in ("bp", "bs", "ap", "as", "p", "s") if k in p}}
        yield {"symbol": record.symbol, "payload": payload}
        n += 1
        if max_records is not None and n >= max_records:
            return


def load_binance(paths: list[str | Path], *, tick_size: float = 0.01, size_unit: float = BTC_SIZE_UNIT,
                 max_records: int | None = None, balance_touch: bool = True, debatch: bool = False,
                 debatch_seed: int = 0) -> RecordedFlow:
    """The recordings as one flow on the recorder's receive-time clock.

    ``debatch=True`` spreads the messages that arrived in one network packet over the interval the
    packet formed in (:mod:`simulator.calibration.debatch`; seeded by ``debatch_seed``), recorded in
    the flow and the model's metadata. Off by default: the replay and the benchmarks calibrate on the
    receive times as recorded, and their figures stay comparable; docs/validation.md shows both."""
    ps = [Path(p) for p in paths]
    for p in ps:
        if not p.is_file():
            raise FileNotFoundError(f"Binance recording not found: {p}")
    flow = flow_from_envelopes(envelopes(ps, max_records), tick_size=tick_size, size_unit=size_unit,
                               source=",".join(str(p) for p in ps), balance_touch=balance_touch)
    if not np.all(np.isfinite(flow.times)):
        raise ValueError("non-finite event times in the recording")
    if debatch:
        from simulator.calibration.debatch import debatch_flow

        flow = debatch_flow(flow, seed=debatch_seed)
    return flow
