"""Calibration from recorded events: LOBSTER files, Binance feed recordings or Torghut JSON streams."""

from __future__ import annotations

from pathlib import Path

from simulator.calibration.binance import BTC_SIZE_UNIT, is_binance_recording, load_binance
from simulator.calibration.calibrate import Calibration, DimensionReport, calibrate
from simulator.calibration.flow import RecordedFlow, slice_flow
from simulator.calibration.lobster import LobsterFormatError, load_lobster
from simulator.calibration.torghut import TorghutFormatError, flow_from_envelopes, load_torghut

__all__ = ["Calibration", "DimensionReport", "LobsterFormatError", "RecordedFlow", "TorghutFormatError",
           "calibrate", "flow_from_envelopes", "load_binance", "load_lobster", "load_recorded", "load_torghut",
           "slice_flow"]


def load_recorded(paths: list[str | Path], *, tick_size: float | None = None, size_unit: float | None = None,
                  start_s: float | None = None, end_s: float | None = None, symbol: str | None = None,
                  debatch: bool = False) -> RecordedFlow:
    """One flow from the inputs: a LOBSTER message file (its order-book file beside it, or listed
    too), Binance raw feed recordings (``<ns> {"stream": ...}`` lines, sizes in 1e-5 BTC unless
    ``size_unit`` is given and not 1) or any number of Torghut JSON files of one symbol. Mixing
    sources is refused: one calibration describes one market. A tick or size unit left None is the
    venue's (LOBSTER and Binance: 0.01; shares and 1e-5 BTC) or, for Torghut JSON, which may come
    from any venue, read off the data's decimals (quoted prices; every size). ``symbol`` picks one
    symbol of a Torghut dump that holds several (refused without it).

    ``debatch=True`` de-batches the receive-time clock of Binance recordings
    (:mod:`simulator.calibration.debatch`); any other source is refused, LOBSTER because its
    timestamps are the exchange's and carry no packet batching."""
    ps = [Path(p) for p in paths]
    if not ps:
        raise ValueError("no input files")
    for p in ps:
        if not p.exists():
            raise FileNotFoundError(f"input file not found: {p}")
    messages = [p for p in ps if "_message_" in p.name]
    books = [p for p in ps if "_orderbook_" in p.name]
    others = [p for p in ps if p not in messages and p not in books]
    if debatch and not all(is_binance_recording(p) for p in ps):
        raise ValueError("debatch applies to receive-time recordings (Binance) only; LOBSTER and Torghut "
                         "times are left as recorded")
    if messages:
        if others:
            raise ValueError(f"mixing LOBSTER and other inputs is not supported: {[str(o) for o in others]}")
        if len(messages) != 1:
            raise ValueError("give one LOBSTER message file per calibration (one symbol, one day)")
        book = books[0] if books else None
        return load_lobster(messages[0], book, tick_size=0.01 if tick_size is None else tick_size, start_s=start_s,
                            end_s=end_s)
    if books:
        raise ValueError("a LOBSTER order-book file needs its message file")
    binance = [is_binance_recording(p) for p in ps]
    if any(binance):
        if not all(binance):
            raise ValueError("mixing Binance recordings and other inputs is not supported")
        return load_binance(list(ps), tick_size=0.01 if tick_size is None else tick_size,
                            size_unit=BTC_SIZE_UNIT if size_unit in (None, 1.0) else size_unit, debatch=debatch)
    return load_torghut(list(ps), tick_size=tick_size, size_unit=size_unit, symbol=symbol)
