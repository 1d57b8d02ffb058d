"""The compiled fold (consumers/state/fold.py) against the readable reference fold
(consumers/state/reference.py), which is the definition docs/features.md describes.

A processor with ``compiled=False`` runs every record through the reference; the default one folds
quotes and trades with the compiled loop, per record (``process``) and in runs (``process_run``).
Every state record, every refused record's reason and the final states must be equal bit for bit,
and the compiled side must really have done the work (the reference sees no quote or trade the
fold could take), so a compiled path that always handed records back would fail.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.state.config import StateConfig
from consumers.state.processor import StateProcessor
from producers.torghut_envelopes import quote_envelope, trade_envelope
from streams.processor import InvalidRecord, RawRecord, SourceRecord
from streams.serde import decode_json
from streams.state import TransactionalState, canonical_json
from tests.consumers.test_state_quote_run import LIVELY, MS, T0, encoded_as_its_dict, feed_from_steps, quote_step
from tests.support.synthetic_market import synthetic_market
from torghut_domain.fast_path import decode_quote
from torghut_domain.topics import topic

S = 1_000_000_000
Outcome = tuple[list[Any], dict[str, str]]


def _decoded(record: SourceRecord, raw: bytes) -> Any:
    return decode_quote(raw) if record.topic == topic("quotes") else decode_json(raw)


def _one(processor: StateProcessor, record: SourceRecord, raw: bytes, state: TransactionalState) -> list[Any]:
    """One record through ``process``: its records, or the reason it was refused (state rolled back)."""
    state.begin_record()
    try:
        emits = list(processor.process(record._replace(value=_decoded(record, raw)), state))
    except InvalidRecord as exc:
        state.rollback_record()
        return [("dlq", exc.reason)]
    return [(e.key, canonical_json(e.value), e.timestamp_ms) for e in emits]


def _snapshot(state: TransactionalState) -> dict[str, str]:
    state.commit()
    return {k: canonical_json(v) for k, v in state.snapshot().items()}


def reference(records: list[SourceRecord], config: StateConfig) -> Outcome:
    processor, state = StateProcessor(config, compiled=False), TransactionalState()
    assert not processor.run_topics
    out: list[Any] = []
    for record in records:
        out += _one(processor, record, json.dumps(record.value).encode(), state)
    return out, _snapshot(state)


class _Counting:
    """Counts the quotes and trades the compiled processor leaves to its reference fold."""

    def __init__(self, processor: StateProcessor) -> None:
        self.handed_back = 0
        ref = processor.reference
        on_quote, on_trade = ref.on_quote, ref.on_trade

        def quote(*args: Any) -> Any:
            self.handed_back += 1
            return on_quote(*args)

        def trade(*args: Any) -> Any:
            self.handed_back += 1
            return on_trade(*args)

        ref.on_quote, ref.on_trade = quote, trade  # type: ignore[method-assign,assignment]


def compiled(records: list[SourceRecord], config: StateConfig, split: int) -> tuple[list[Any], dict[str, str], int]:
    """Runs of up to ``split`` quotes and trades through ``process_run`` where it takes them, every
    other record (and a declined run's records) through ``process``; ``split=0``: every record
    through ``process``. Also how many quotes and trades the reference had to take."""
    processor, state = StateProcessor(config), TransactionalState()
    counter = _Counting(processor)
    raws = [json.dumps(r.value).encode() for r in records]
    out: list[Any] = []
    i = 0
    while i < len(records):
        j = i
        while split and j < len(records) and records[j].topic in processor.run_topics and j - i < split:
            j += 1
        if j > i:
            chunk = [RawRecord(r.topic, r.offset, r.timestamp_ms, None, raws[k]) for k, r in enumerate(records[i:j], i)]
            state.begin_record()
            result = processor.process_run(records[i].partition, chunk, state)
            if result is not None:
                out += [(e.key, canonical_json(encoded_as_its_dict(e.value)), e.timestamp_ms) for _, e in result]
                i = j
                continue
            state.rollback_record()
        out += _one(processor, records[i], raws[i], state)
        i += 1
    return out, _snapshot(state), counter.handed_back


def test_synthetic_market_per_record_and_in_runs_equals_the_reference() -> None:
    records = list(synthetic_market([f"S{i}" for i in range(5)], 8_000, seed=11, step_ms=2.0, trade_every=7,
                                    order_every=29))
    expected, expected_state = reference(records, LIVELY)
    assert {"first", "material_change"} <= {json.loads(v)["emit_reason"] for _, v, _ in expected}
    for split in (0, 1, 40):
        got, got_state, handed_back = compiled(records, LIVELY, split)
        assert (got, got_state) == (expected, expected_state)
        assert handed_back == 0


def test_regime_changes_over_the_default_config_equal_the_reference() -> None:
    items = []
    for n in range(4_000):
        wide = 1_800 <= n < 2_300
        half = 0.25 if wide else 0.01 * (1 + n % 2)
        items.append(SourceRecord(topic("quotes"), 0, n, n, "X", quote_envelope(
            "X", T0 + n * 20 * MS, round(100.0 - half, 2), 100.0 + n % 7, round(100.0 + half, 2), 300.0)))
    expected, expected_state = reference(items, StateConfig())
    assert "regime_change" in {json.loads(v)["emit_reason"] for _, v, _ in expected}
    for split in (0, 300):
        got, got_state, handed_back = compiled(items, StateConfig(), split)
        assert (got, got_state, handed_back) == (expected, expected_state, 0)


def test_records_the_fold_hands_back_get_the_reference_result_and_reason() -> None:
    """Overflowing magnitudes: the fold hands the record back and the reference refuses it with its
    reason; a gap of more than 2**53 ns: the reference computes the decay exactly."""
    def q(t: int, bid: float, bs: float, ask: float, as_: float) -> SourceRecord:
        return SourceRecord(topic("quotes"), 0, t, t // MS, "Z", quote_envelope("Z", t, bid, bs, ask, as_))

    def trade(t: int, price: float, size: float) -> SourceRecord:
        return SourceRecord(topic("trades"), 0, t, t // MS, "Z", trade_envelope("Z", t, price, size))

    records = [q(T0, 100.0, 500, 100.02, 400), q(T0 + S, 1e200, 1e200, 1.1e200, 1e200),
               trade(T0 + 2 * S, 100.0, 1e308), trade(T0 + 3 * S, 100.0, 1e308),
               q(T0 + 4 * S, 100.0, 500, 100.02, 400), q(T0 + 4 * S + 2**54, 100.01, 300, 100.03, 200)]
    no_ttl = replace(LIVELY, ttl_s=0.0)  # the 2**54 ns gap would otherwise outlive the state TTL (evicted)
    expected, expected_state = reference(records, no_ttl)
    assert [item[1] for item in expected if item[0] == "dlq"] == ["non_finite_state", "non_finite_state"]
    for split in (0, 10):
        got, got_state, handed_back = compiled(records, no_ttl, split)
        assert (got, got_state) == (expected, expected_state)
        assert handed_back >= 3  # the two refusals and the long gap went to the reference


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(quote_step, min_size=1, max_size=120), st.integers(min_value=0, max_value=40))
def test_random_feeds_equal_the_reference(steps: list[tuple[Any, ...]], split: int) -> None:
    records = feed_from_steps(steps, deep_book=False)
    config = replace(LIVELY, regime=replace(LIVELY.regime, warmup_s=0.0))
    expected, expected_state = reference(records, config)
    got, got_state, handed_back = compiled(records, config, split)
    # The fold hands the reference only the late quotes (which it refuses: late_quote).
    late = sum(1 for item in expected if item == ("dlq", "late_quote"))
    assert (got, got_state, handed_back) == (expected, expected_state, late)


def test_the_fold_reads_its_settings_by_name_from_a_typed_record() -> None:
    from consumers.state.fold_config import FoldConfig, fold_config

    cfg = replace(LIVELY, ofi_tau_s=3.25, regime=replace(LIVELY.regime, escalate_dwell_s=0.7))
    record = fold_config(cfg)
    assert record.dtype == FoldConfig and record.shape == (1,)
    assert FoldConfig.fields is not None and len(FoldConfig.fields) == 37
    assert all(dtype == np.float64 for dtype, *_ in FoldConfig.fields.values())
    assert record[0]["ofi_tau_s"] == 3.25 and record[0]["escalate_dwell_ns"] == 0.7 * S
    assert record[0]["latency_rel"] == cfg.emit.latency_rel


def test_the_single_record_fold_refuses_arrays_without_its_row() -> None:
    """numba does not check bounds: without this guard a zero-row state array (as warm_up once passed)
    was written past its end, and a later test aborted the interpreter."""
    from consumers.state import fold
    from consumers.state.fold_config import fold_config
    from consumers.state.layout import CODE_KEYS, FLOAT_KEYS, INT_KEYS, INT_NONE

    out_f, out_i = np.zeros((1, fold.N_OUT_F)), np.zeros((1, fold.N_OUT_I), np.int64)
    empty_f, empty_i = np.zeros((0, len(FLOAT_KEYS))), np.zeros((0, len(INT_KEYS) + len(CODE_KEYS)), np.int64)
    assert fold.fold_one(empty_f, empty_i, fold.KIND_QUOTE, 1, INT_NONE, 1.0, 1.0, 1.01, 1.0,
                         fold_config(StateConfig()), out_f, out_i) == -1
    fold.warm_up()  # folds one quote into a real row of its own
