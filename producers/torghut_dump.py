"""Torghut JSON dumps (what `microexec tail` or Torghut's own tooling writes from its topics) as feed
records: quotes, trades and trade-updates, in event time.

Why a venue adapter of its own: a dump is the third recorded source beside LOBSTER and Binance, and
both `microexec feed replay` (back onto the topics) and `microexec replay` (offline) read it; the
envelopes go through untouched, so what is replayed is byte for byte what Torghut published.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from producers.records import QUOTE, TRADE, FeedRecord
from streams.timeutil import TimestampError, parse_ts_ns

TRADE_UPDATES = "trade_updates"


class TorghutDumpError(ValueError):
    """A file that is not a dump of Torghut envelopes; the message names the file and record."""


def _kind(env: dict[str, Any], payload: dict[str, Any]) -> str | None:
    channel = env.get("channel")
    if channel in (QUOTE, TRADE, TRADE_UPDATES):
        return str(channel)
    if {"bp", "ap"} <= payload.keys():
        return QUOTE
    if {"p", "s"} <= payload.keys():
        return TRADE
    if "event" in payload and isinstance(payload.get("order"), dict):
        return TRADE_UPDATES
    return None


def _event_ns(env: dict[str, Any], payload: dict[str, Any], where: str) -> int:
    ts = env.get("eventTs") or payload.get("t") or payload.get("timestamp")
    if isinstance(ts, int | float) and not isinstance(ts, bool):
        v = float(ts)  # epoch ns / ms / s, as some dumps write it
        return int(v if v > 1e17 else v * 1e6 if v > 1e11 else v * 1e9)
    if not isinstance(ts, str):
        raise TorghutDumpError(f"{where}: no event time (eventTs, payload.t or payload.timestamp)")
    try:
        return parse_ts_ns(ts)
    except TimestampError as exc:
        raise TorghutDumpError(f"{where}: {exc}") from exc


def _documents(path: Path) -> list[Any]:
    if not path.is_file():
        raise TorghutDumpError(f"no such file: {path}")
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        text = fh.read()
    try:
        if text.lstrip().startswith("["):
            docs = json.loads(text)
            return docs if isinstance(docs, list) else [docs]
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise TorghutDumpError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc


def torghut_dump_records(paths: list[Path], kinds: tuple[str, ...] = (QUOTE, TRADE, TRADE_UPDATES)
                         ) -> list[FeedRecord]:
    """Envelopes of ``kinds`` from ``paths`` (JSON lines or arrays, optionally gzip), sorted by event
    time (ties keep file order). Envelopes of other channels are passed over; malformed ones raise."""
    out: list[tuple[int, int, FeedRecord]] = []
    for path in paths:
        for k, env in enumerate(_documents(path)):
            where = f"{path}[{k}]"
            payload = env.get("payload") if isinstance(env, dict) else None
            if not isinstance(payload, dict):
                raise TorghutDumpError(f"{where}: not a Torghut envelope (no payload object)")
            kind = _kind(env, payload)
            if kind is None or kind not in kinds:
                continue
            symbol = env.get("symbol") or payload.get("S") or (payload.get("order") or {}).get("symbol")
            if not isinstance(symbol, str) or not symbol:
                raise TorghutDumpError(f"{where}: no symbol")
            ts_ns = _event_ns(env, payload, where)
            out.append((ts_ns, len(out), FeedRecord(kind, symbol, ts_ns, env)))
    if not out:
        raise TorghutDumpError(f"no {', '.join(kinds)} envelopes in {', '.join(map(str, paths))}")
    out.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in out]
