"""The quote and trade fast paths: Torghut envelopes decoded straight into typed values.

Why apart from the envelope parsers (torghut_domain/envelopes.py): these are optimisations with
an exact fallback. Whatever they cannot take as-is goes through the parsers, so a refused record
keeps its DLQ reason and an accepted one the same values; the differential tests hold them equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any, Generic, NamedTuple, TypeVar

import msgspec
import numpy as np

from streams.serde import decode_json
from streams.timeutil import TimestampError, parse_ts_ns, parse_ts_ns_column
from torghut_domain.envelopes import Quote, parse_quote
from torghut_domain.ts_kernel import parse_ts_ns_fixed

_INF = float("inf")

# ---------------------------------------------------------------------------------------------
# Typed fast path for quotes: msgspec decodes the JSON straight into a struct (no intermediate
# dicts), which on this hardware is ~5x cheaper than decoding then validating. Anything it can't
# take as-is (decimal strings, NaN tokens, missing fields, bad values) goes through the dict path
# (envelopes.py), so every refusal keeps exactly the same DLQ reason and every accepted quote the same values.
_Payload = TypeVar("_Payload")


# gc=False: these hold only strings, floats and each other (no cycles are possible), and a decoded
# run allocates two per record; untracked, they neither cost the collector's bookkeeping nor count
# towards its generation-0 threshold (~0.1 us a record less in a run's decode, CPU time).
class _QuotePayload(msgspec.Struct, gc=False):
    bp: float
    ap: float
    bs: float
    as_: float = msgspec.field(name="as")
    t: str | None = None
    S: str | None = None


class _Envelope(msgspec.Struct, Generic[_Payload], gc=False):
    """Torghut's envelope with the fields our typed decoders read (the rest is skipped)."""

    payload: _Payload
    symbol: str | None = None
    eventTs: str | None = None
    ingestTs: str | None = None


_QUOTE_DECODER = msgspec.json.Decoder(_Envelope[_QuotePayload])


def decode_quote(data: bytes) -> Quote:
    """Torghut quote envelope bytes -> validated Quote (InvalidRecord as ``parse_quote`` raises it)."""
    try:
        env = _QUOTE_DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return parse_quote(_json_for_diagnosis(data))
    p = env.payload
    symbol = env.symbol or p.S
    event_ts = p.t or env.eventTs
    if (symbol and event_ts and 0 < p.bp < _INF and 0 < p.ap < _INF and 0 < p.bs < _INF and 0 < p.as_ < _INF
            and p.bp < p.ap):
        try:
            return Quote(symbol, parse_ts_ns(event_ts), None if not env.ingestTs else parse_ts_ns(env.ingestTs),
                         p.bp, p.bs, p.ap, p.as_)
        except TimestampError:
            pass
    return parse_quote(_json_for_diagnosis(data))


def _json_for_diagnosis(data: bytes) -> Any:
    return decode_json(data)


NO_TIME = -(2**63)  # "no ingest time" in a time column (no valid timestamp maps to it: checked)


class TouchColumns(NamedTuple):
    """A run of quotes or trades as columns: what ``decode_quote``/``parse_trade`` give record by
    record, for a whole run. ``times[:, 0]`` is the event time, ``times[:, 1]`` the ingest time or
    NO_TIME; ``values`` holds bid, bid size, ask, ask size for quotes and price, size, 0, 0 for trades."""

    symbols: list[str]
    times: np.ndarray
    values: np.ndarray


_PAYLOAD = attrgetter("payload")
_BP, _BS, _AP, _AS = attrgetter("bp"), attrgetter("bs"), attrgetter("ap"), attrgetter("as_")
_COLUMN_PARSE_MIN = 128  # below this many timestamps the numpy column costs more than parsing one by one
_KERNEL_PARSE_MIN = 4  # the compiled pass costs ~2 us a call, then ~0.03 us a timestamp


def _parse_all(texts: list[str]) -> list[int] | np.ndarray | None:
    """Epoch ns of every text: the compiled pass (ts_kernel) for the feeds' fixed-width shape, the
    numpy column for long runs of other widths, otherwise (short runs, or shapes neither takes, such
    as ``+00:00`` offsets) one ``parse_ts_ns`` each; None only if some text is not a timestamp
    ``parse_ts_ns`` accepts within int64."""
    if len(texts) >= _KERNEL_PARSE_MIN:
        fixed = parse_ts_ns_fixed(texts)
        if fixed is not None:
            return fixed
    if len(texts) >= _COLUMN_PARSE_MIN:
        column = parse_ts_ns_column(texts)
        if column is not None:
            return column
    try:
        parsed = [parse_ts_ns(text) for text in texts]
    except TimestampError:
        return None
    if parsed and not (min(parsed) > NO_TIME and max(parsed) < 2**63):
        return None  # beyond int64, or the one instant that would read as "no time"
    return parsed


def _time_columns(event_texts: list[str | None], ingest_texts: list[str | None]) -> np.ndarray | None:
    """(n, 2) int64 of event and ingest epoch ns, or None if one of them is not for the fast paths."""
    n = len(event_texts)
    if not all(event_texts):
        return None
    present = [text for text in ingest_texts if text]
    times = np.empty((n, 2), dtype=np.int64)
    if len(present) == n and n >= _KERNEL_PARSE_MIN:
        # Both columns in one compiled pass when they share a width (the feeds' case).
        both = parse_ts_ns_fixed(event_texts + present)  # type: ignore[arg-type]  # all truthy strings, checked
        if both is not None:
            times[:, 0] = both[:n]
            times[:, 1] = both[n:]
            return times
    events = _parse_all(event_texts)  # type: ignore[arg-type]  # all truthy strings, checked
    if events is None:
        return None
    times[:, 0] = events
    if len(present) == n:
        ingests = _parse_all(present)
        if ingests is None:
            return None
        times[:, 1] = ingests
    elif not present:
        times[:, 1] = NO_TIME
    else:
        ingests = _parse_all(present)
        if ingests is None:
            return None
        times[:, 1] = NO_TIME
        times[[i for i, text in enumerate(ingest_texts) if text], 1] = ingests
    return times


def _json_lines(values: Sequence[bytes | None], decoder: Any) -> list[Any] | None:
    """Decode records joined by newlines with ``decoder``, or None unless every record is exactly one
    JSON value. ``decode_lines`` reads a stream of values separated by any whitespace, so the record
    boundaries are checked: every record starts with ``{`` and ends with ``}``. Then no value can
    straddle two records (at a boundary the parser has just closed a value, so it is either between
    values or inside an object or array expecting ``,``/``]``/``}``, and the next record's ``{`` is an
    error; a string left open ends at the raw newline, which JSON forbids in strings); each record
    holds at least one value, so as many values as records means exactly one each."""
    n = len(values)
    if n == 0 or None in values:
        return None
    # Two one-byte slices a record cost less than counting the joined run's newlines (which alone
    # also let '{..} {"payload":' + '{..}, "symbol": ..}' through as two valid envelopes).
    if not all(value[:1] == b"{" and value[-1:] == b"}" for value in values):  # type: ignore[index]
        return None
    try:
        decoded: list[Any] = decoder.decode_lines(b"\n".join(values))  # type: ignore[arg-type]  # no None
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return decoded if len(decoded) == n else None


def _symbols_and_times(envelopes: list[Any], payloads: list[Any]) -> tuple[list[str], np.ndarray] | None:
    """Each record's symbol (envelope, else payload ``S``) and times (payload ``t``, else the
    envelope's ``eventTs``; ``ingestTs``), as ``_envelope`` and the parsers read them; None if a
    record lacks a symbol or a time the fast paths take."""
    symbols = [env.symbol or p.S for env, p in zip(envelopes, payloads, strict=True)]
    if not all(symbols):
        return None
    times = _time_columns([p.t or env.eventTs for env, p in zip(envelopes, payloads, strict=True)],
                          [env.ingestTs for env in envelopes])
    return None if times is None else (symbols, times)


def decode_quote_columns(values: Sequence[bytes | None]) -> TouchColumns | None:
    """Decode and validate a run of quote envelopes at once, or None if any of them needs the
    per-record path (``decode_quote``), which then accepts it with the same values or refuses it
    with its exact reason. Why JSON lines: one msgspec call for the run instead of one per record."""
    envelopes = _json_lines(values, _QUOTE_DECODER)
    if envelopes is None:
        return None
    payloads = list(map(_PAYLOAD, envelopes))
    book = np.empty((len(payloads), 4), dtype=np.float64)  # filled column by column: cheaper than tuples
    book[:, 0] = list(map(_BP, payloads))
    book[:, 1] = list(map(_BS, payloads))
    book[:, 2] = list(map(_AP, payloads))
    book[:, 3] = list(map(_AS, payloads))
    # Positive, uncrossed and finite (decode_quote's 0 < bid < ask < inf, sizes in (0, inf)), on the
    # columns: the same float comparisons as per record, without a Python step per record.
    bp, bs, ap, as_ = book.T
    if not ((bp > 0) & (bp < ap) & (ap < _INF) & (bs > 0) & (bs < _INF) & (as_ > 0) & (as_ < _INF)).all():
        return None
    keyed = _symbols_and_times(envelopes, payloads)
    if keyed is None:
        return None
    symbols, times = keyed
    return TouchColumns(symbols, times, book)


class _TradePayload(msgspec.Struct, gc=False):
    p: float
    s: float
    t: str | None = None
    S: str | None = None


_TRADE_DECODER = msgspec.json.Decoder(_Envelope[_TradePayload])


def decode_trade_columns(values: Sequence[bytes | None]) -> TouchColumns | None:
    """``decode_quote_columns`` for trade envelopes (``parse_trade``'s checks: a symbol, a valid event
    time, optional ingest time, finite positive price and size)."""
    envelopes = _json_lines(values, _TRADE_DECODER)
    if envelopes is None:
        return None
    payloads = [env.payload for env in envelopes]
    if not all(0 < p.p < _INF and 0 < p.s < _INF for p in payloads):
        return None
    keyed = _symbols_and_times(envelopes, payloads)
    if keyed is None:
        return None
    symbols, times = keyed
    trades = np.zeros((len(payloads), 4), dtype=np.float64)
    trades[:, 0] = [p.p for p in payloads]
    trades[:, 1] = [p.s for p in payloads]
    return TouchColumns(symbols, times, trades)
