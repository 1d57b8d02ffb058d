"""State TTL (event time): a symbol idle for longer than the TTL starts afresh, and its key is evicted at
the next sweep, identically on the compiled, reference and run paths."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Any

import pytest
from prometheus_client import REGISTRY

from consumers.state.config import StateConfig
from consumers.state.processor import TTL_KEY, StateProcessor
from producers.torghut_envelopes import quote_envelope, trade_envelope
from streams.offline import run_offline
from streams.processor import SourceRecord
from streams.state import TransactionalState, canonical_json
from streams.timeutil import format_ts_ns
from tests.consumers.test_state_quote_run import run_both
from torghut_domain.topics import topic

S = 1_000_000_000
MS = 1_000_000
T0 = 1_767_000_000 * S
TTL = replace(StateConfig(), ttl_s=60.0, sweeps_per_ttl=4)  # a sweep every 15 s of event time


def _feed(gaps: bool = True) -> list[SourceRecord]:
    """ACME quotes for 10 s then goes quiet; ZETA quotes every 500 ms for 3 minutes; ACME comes back."""
    items: list[tuple[str, str, int]] = [("quotes", "ACME", T0 + k * 500 * MS) for k in range(20)]
    items += [("quotes", "ZETA", T0 + k * 500 * MS) for k in range(360)]
    if gaps:
        items += [("quotes", "ACME", T0 + 170 * S), ("trades", "ACME", T0 + 171 * S), ("quotes", "ACME", T0 + 172 * S)]
    items.sort(key=lambda item: item[2])
    out = []
    for n, (kind, symbol, t) in enumerate(items):
        mid = 50.0 + (n % 5) * 0.01
        value = (quote_envelope(symbol, t, round(mid - 0.01, 2), 300.0, round(mid + 0.01, 2), 400.0) if kind == "quotes"
                 else trade_envelope(symbol, t, round(mid + 0.01, 2), 100.0))
        out.append(SourceRecord(topic(kind), 0, n, n, symbol, value))
    return out


def _evicted() -> float:
    return REGISTRY.get_sample_value("microexec_state_evicted_keys_total") or 0.0


@pytest.mark.parametrize("compiled", [True, False])
def test_an_idle_symbol_is_evicted_at_the_next_sweep_and_starts_afresh(compiled: bool) -> None:
    before = _evicted()
    quiet = run_offline(StateProcessor(TTL, compiled=compiled), _feed(gaps=False))
    assert not quiet.dlq
    assert quiet.states[0].live_keys() == ["ZETA", TTL_KEY]  # ACME idle 170 s > 60 s: evicted
    assert _evicted() - before == 1
    back = run_offline(StateProcessor(TTL, compiled=compiled), _feed())
    acme: list[Any] = [e.value for e in back.outputs if e.key == "ACME"]
    returned = [v for v in acme if v["event_ts"] >= format_ts_ns(T0 + 170 * S)]
    assert acme[0]["emit_reason"] == "first" and returned[0]["emit_reason"] == "first"  # a new life
    state = back.states[0].snapshot()["ACME"]
    assert state["first_t"] == T0 + 170 * S


def test_without_ttl_nothing_is_evicted_and_the_symbol_continues() -> None:
    never = replace(TTL, ttl_s=0.0)
    result = run_offline(StateProcessor(never), _feed())
    assert sorted(result.states[0].live_keys()) == ["ACME", "ZETA"]
    acme: list[Any] = [e.value for e in result.outputs if e.key == "ACME"]
    assert [v["emit_reason"] for v in acme].count("first") == 1
    assert result.states[0].snapshot()["ACME"]["first_t"] == T0


def test_compiled_reference_and_runs_evict_identically() -> None:
    records = _feed()
    reference = run_offline(StateProcessor(TTL, compiled=False), records)
    compiled = run_offline(StateProcessor(TTL), records)
    dump = [canonical_json([e.key, e.value]) for e in reference.outputs]
    assert [canonical_json([e.key, e.value]) for e in compiled.outputs] == dump
    assert {k: canonical_json(v) for k, v in compiled.states[0].snapshot().items()} == \
        {k: canonical_json(v) for k, v in reference.states[0].snapshot().items()}
    for split in (7, 50, 400):  # runs that cross a sweep are declined and go record by record
        expected, got, snap, run_snap, _ = run_both(records, TTL, split=split)
        assert got == expected and run_snap == snap


def test_random_gappy_feeds_evict_identically_on_every_path() -> None:
    rng = random.Random(17)
    for _ in range(20):
        t, records = T0, []
        for n in range(rng.randrange(50, 400)):
            t += rng.choice((100 * MS, 2 * S, 40 * S, 90 * S))
            symbol = rng.choice("ABCD")
            mid = 20.0 + rng.randrange(5) * 0.01
            records.append(SourceRecord(topic("quotes"), 0, n, n, symbol,
                                        quote_envelope(symbol, t, mid - 0.01, 200.0, mid + 0.01, 300.0)))
        expected, got, snap, run_snap, _ = run_both(records, TTL, split=rng.randrange(1, 60))
        assert got == expected and run_snap == snap


def test_a_restored_partition_sweeps_where_an_uninterrupted_one_would() -> None:
    """The sweep clock is state: replaying the changelog mid-feed and going on gives the same records."""
    records = _feed()
    whole = run_offline(StateProcessor(TTL), records)
    cut = 250
    first = run_offline(StateProcessor(TTL), records[:cut])
    restored = TransactionalState()
    for key, value in first.states[0].snapshot().items():
        restored.restore(key, json.loads(canonical_json(value)))  # through the changelog JSON
    first.states[0] = restored
    rest = run_offline(StateProcessor(TTL), records[cut:], into=first)
    assert [canonical_json([e.key, e.value]) for e in rest.outputs] == \
        [canonical_json([e.key, e.value]) for e in whole.outputs]


def test_bad_ttl_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="MICROEXEC_STATE_TTL_S"):
        StateConfig.from_env({"MICROEXEC_STATE_TTL_S": "three days"})
    with pytest.raises(ValueError, match="MICROEXEC_STATE_TTL_S"):
        StateConfig.from_env({"MICROEXEC_STATE_TTL_S": "-5"})
    assert StateConfig.from_env({"MICROEXEC_STATE_TTL_S": "0"}).ttl_s == 0.0
    assert StateConfig.from_env({}).ttl_s == StateConfig().ttl_s
