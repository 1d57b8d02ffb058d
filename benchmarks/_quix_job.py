"""The state consumer's quote job written with Quix Streams 3.28; run by quix_compare.py with the
interpreter of benchmarks/.venv-quix (Quix pins confluent-kafka < 2.13, the project runs 2.16).

The job is what a Quix user would write for the same work as ``microexec run state`` over a quote
topic: JSON in, per-symbol state in Quix's changelogged RocksDB store, ``exactly-once``, the
features folded by the project's own per-record definition (``consumers.state.reference``, the
fold the compiled one is tested bit for bit against), a ``microstructure_state_v1`` record on the
same emission decisions, to one output topic (JSON: Quix's own serializer; ours writes Avro).
Reads its parameters as one JSON object on stdin and answers with one JSON line on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from quixstreams import Application, message_context

from consumers.state import STATE_CONSUMER_VERSION
from consumers.state.config import StateConfig
from consumers.state.layout import new_symbol_state
from consumers.state.reference import ReferenceFold
from consumers.state.regime import REGIME_NAMES
from streams.processor import InvalidRecord
from streams.timeutil import format_ts_ns
from torghut_domain.envelopes import parse_quote


def main() -> None:
    args = json.loads(sys.stdin.read())
    records: int = args["records"]
    config = StateConfig().validate()
    fold = ReferenceFold(config)
    app = Application(broker_address=args["bootstrap"], consumer_group=args["group"],
                      auto_offset_reset="earliest", processing_guarantee="exactly-once",
                      commit_interval=args["commit_interval_s"], state_dir=args["state_dir"],
                      loglevel="WARNING")
    source = app.topic(args["source"], key_deserializer="str", value_deserializer="json")
    sink = app.topic(args["sink"], key_serializer="str", value_serializer="json")
    seen = {"n": 0, "refused": 0, "emitted": 0, "fold_s": 0.0}
    times: dict[str, float] = {}

    def on_quote(value: dict[str, Any], key: str, timestamp: int, headers: Any, state: Any) -> dict[str, Any] | None:
        if not seen["n"]:
            times["first"] = time.monotonic()
        seen["n"] += 1
        if seen["n"] == records:
            app.stop()  # the loop ends after this record and commits its checkpoint
        started = time.perf_counter()
        try:
            out = fold_quote(value, state)
        except InvalidRecord:
            seen["refused"] += 1  # ours sends these to its DLQ; the synthetic feed has none
            out = None
        seen["fold_s"] += time.perf_counter() - started
        if out is not None:
            seen["emitted"] += 1
        return out

    def fold_quote(value: dict[str, Any], state: Any) -> dict[str, Any] | None:
        q = parse_quote(value)
        s = state.get("s") or new_symbol_state()
        fold.on_quote(s, q)
        p = fold.finish(s, q.event_ts_ns, q.symbol)
        state.set("s", s)
        if p is None:
            return None
        ctx = message_context()
        return {
            "schema_version": "microstructure_state_v1", "symbol": q.symbol, "event_ts": format_ts_ns(p.now),
            "spread_bps": p.spread, "depth_top5_usd": p.depth, "order_flow_imbalance": p.ofi,
            "latency_ms_estimate": p.latency, "fill_hazard": p.hazard, "liquidity_regime": REGIME_NAMES[s["reg"]],
            "crumbling_quote_probability": p.crumb, "mechanical_liquidity_withdrawal_probability": None,
            "depth_source": p.depth_source, "latency_source": p.latency_source,
            "fill_hazard_horizon_s": config.fill_hazard_horizon_s, "bid_price": s["bid"], "ask_price": s["ask"],
            "mid_price": 0.5 * (s["bid"] + s["ask"]), "realized_volatility_bps": s["cur_vol"],
            "emit_reason": p.reason, "source_topic": args["source"], "source_partition": ctx.partition,
            "source_offset": ctx.offset,
            "source_ingest_ts": None if q.ingest_ts_ns is None else format_ts_ns(q.ingest_ts_ns),
            "producer_version": STATE_CONSUMER_VERSION,
        }

    sdf = app.dataframe(source)
    sdf = sdf.apply(on_quote, stateful=True, metadata=True).filter(lambda v: v is not None)
    sdf.to_topic(sink)

    # The end of the measured window is the end of the last checkpoint commit (transaction committed,
    # state flushed), as ours ends at its last transaction commit.
    context = app._processing_context  # private, but the one place a commit can be timed
    commit = context.commit_checkpoint

    def timed_commit(*a: Any, **kw: Any) -> None:
        commit(*a, **kw)
        if "revoking" not in kw:  # not the (empty) one at close, after the loop
            times["last_commit"] = time.monotonic()

    context.commit_checkpoint = timed_commit  # type: ignore[method-assign,unused-ignore]
    app.run()
    elapsed = times["last_commit"] - times["first"]
    print(json.dumps({"records": seen["n"], "emitted": seen["emitted"], "refused": seen["refused"],
                      "elapsed_s": elapsed, "rate": seen["n"] / elapsed, "fold_s": seen["fold_s"]}))


if __name__ == "__main__":
    main()
