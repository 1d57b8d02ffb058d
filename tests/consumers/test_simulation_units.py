"""Pure parts of the simulation consumer: window bookkeeping, the advice -> policy mapping, the
deterministic budget rule, seeds and configuration errors."""

from __future__ import annotations

import pytest

from consumers.simulation.config import SimulationConfig
from consumers.simulation.pricing import affordable_paths, policy_for, run_monte_carlo
from consumers.simulation.window import (
    CHUNK_EVENTS,
    add_event,
    as_envelopes,
    bucket_key,
    empty_meta,
    event_count,
    price_decimals,
    size_unit_of,
    tick_from_decimals,
    window_events,
)
from simulator.execution.policy import ExecutionPolicy, ParentOrder
from simulator.market.model import illustrative_model
from streams.state import TransactionalState

S = 1_000_000_000
T0 = 1_767_000_000 * S


def _quote(t_ns: int, mid: float = 100.0) -> list[float | int]:
    return [t_ns, round(mid - 0.01, 2), 100.0, round(mid + 0.01, 2), 200.0]


# -- window ---------------------------------------------------------------------------------------
def test_window_buckets_drop_what_falls_out_and_keep_order() -> None:
    st, meta = TransactionalState(), empty_meta()
    for k in range(35):  # one event per second over 35 s, 10 s buckets, 20 s window
        assert add_event(st, "X", meta, _quote(T0 + k * S), window_s=20, bucket_s=10, max_events=1000)
    ids = [b for b, _ in meta["b"]]
    assert ids == sorted(ids) and len(ids) == 3  # the bucket wholly before newest-20 s was deleted
    first = (T0 + 34 * S - 20 * S) // (10 * S)
    assert ids[0] >= first
    assert st.get(bucket_key("X", (T0 // (10 * S)))) is None  # its state key is gone (a tombstone)
    events = window_events(st, "X", meta, limit=1000)
    assert [e[0] for e in events] == sorted(e[0] for e in events)
    assert len(events) == event_count(meta)
    assert all(e[0] >= T0 + 34 * S - 30 * S for e in events)
    # An event older than the window is refused and changes nothing.
    assert not add_event(st, "X", meta, _quote(T0), window_s=20, bucket_s=10, max_events=1000)


def test_window_cap_drops_oldest_buckets_and_fit_limit_takes_newest() -> None:
    st, meta = TransactionalState(), empty_meta()
    for k in range(100):
        add_event(st, "X", meta, _quote(T0 + k * S // 4), window_s=1000, bucket_s=5, max_events=40)
    assert event_count(meta) <= 40
    newest = window_events(st, "X", meta, limit=7)
    assert len(newest) == 7 and newest[-1][0] == T0 + 99 * S // 4
    # Out-of-order arrivals inside a bucket come back sorted.
    add_event(st, "X", meta, _quote(T0 + 99 * S // 4 - 1), window_s=1000, bucket_s=5, max_events=1000)
    evs = window_events(st, "X", meta, limit=3)
    assert [e[0] for e in evs] == sorted(e[0] for e in evs)


def test_window_tracks_mid_and_price_decimals() -> None:
    st, meta = TransactionalState(), empty_meta()
    add_event(st, "BTC", meta, [T0, 60000.01, 0.5, 60000.02, 0.7], window_s=60, bucket_s=10, max_events=10)
    add_event(st, "BTC", meta, [T0 + 1, 60000.5, 0.1], window_s=60, bucket_s=10, max_events=10)  # a trade
    assert meta["mid"] == pytest.approx(60000.015) and meta["dec"] == 2
    assert price_decimals(200.5) == 1 and price_decimals(200.0) == 0 and price_decimals(1e-9) == 6
    assert tick_from_decimals(2) == 0.01 and tick_from_decimals(0) == 1.0
    envs = as_envelopes("BTC", window_events(st, "BTC", meta, 10))
    assert envs[0]["payload"]["bp"] == 60000.01 and envs[1]["payload"]["p"] == 60000.5


def test_window_reads_the_size_unit_off_the_sizes_it_has_seen() -> None:
    st, meta = TransactionalState(), empty_meta()
    add_event(st, "AAPL", meta, [T0, 190.01, 300, 190.02, 200], window_s=60, bucket_s=10, max_events=10)
    assert size_unit_of(meta) == 1.0  # shares
    add_event(st, "AAPL", meta, [T0 + 1, 190.015, 0.5], window_s=60, bucket_s=10, max_events=10)  # a fractional print
    assert size_unit_of(meta) == pytest.approx(0.1)
    add_event(st, "AAPL", meta, [T0 + 2, 190.01, 0.00016], window_s=60, bucket_s=10, max_events=10)
    assert size_unit_of(meta) == pytest.approx(1e-5)
    assert size_unit_of({"b": []}) == 1.0  # metadata stored before sizes were tracked


def test_state_values_are_new_objects_so_a_rollback_restores_the_bucket() -> None:
    st, meta = TransactionalState(), empty_meta()
    add_event(st, "X", meta, _quote(T0), window_s=60, bucket_s=10, max_events=10)
    st.commit()
    before = st.get(bucket_key("X", T0 // (10 * S)))
    st.begin_record()
    add_event(st, "X", meta, _quote(T0 + 1), window_s=60, bucket_s=10, max_events=10)
    st.rollback_record()
    assert st.get(bucket_key("X", T0 // (10 * S))) == before and len(before["e"]) == 1  # type: ignore[index]


def test_buckets_are_stored_as_small_chunks_and_dropped_whole() -> None:
    """A commit re-encodes each touched key whole, so no key may hold more than CHUNK_EVENTS events;
    reading concatenates the chunks in arrival order, and a dropped bucket leaves no chunk behind."""
    st, meta = TransactionalState(), empty_meta()
    n = 3 * CHUNK_EVENTS + 5
    for k in range(n):  # all in one 10 s bucket, times shuffled a little (late arrivals)
        t = T0 + (k * 7919 % n) * (S // 1000)
        assert add_event(st, "X", meta, _quote(t), window_s=60, bucket_s=10, max_events=10_000)
    bid = T0 // (10 * S)
    chunks = [st.get(bucket_key("X", bid, k)) for k in range(4)]
    assert [len(c["e"]) for c in chunks if c is not None] == [CHUNK_EVENTS] * 3 + [5]
    events = window_events(st, "X", meta, limit=10_000)
    assert len(events) == n and [e[0] for e in events] == sorted(e[0] for e in events)
    add_event(st, "X", meta, _quote(T0 + 200 * S), window_s=60, bucket_s=10, max_events=10_000)
    assert all(st.get(bucket_key("X", bid, k)) is None for k in range(4))
    assert event_count(meta) == 1


def test_a_bucket_written_before_chunking_reads_and_grows_in_arrival_order() -> None:
    """State restored from a changelog written before chunking has a whole bucket under one key; new
    events go to later chunks and the bucket still reads back in arrival order, then drops whole."""
    st, meta = TransactionalState(), empty_meta()
    bid = T0 // (10 * S)
    old = [_quote(T0 + k * (S // 100)) for k in range(40)]
    st.restore(bucket_key("X", bid), {"e": old})
    meta["b"], meta["last"] = [[bid, len(old)]], old[-1][0]
    late = _quote(T0 + 5 * (S // 100) + 1)
    for e in (late, _quote(T0 + S)):
        assert add_event(st, "X", meta, e, window_s=60, bucket_s=10, max_events=10_000)
    assert st.get(bucket_key("X", bid))["e"] == old  # type: ignore[index]
    events = window_events(st, "X", meta, limit=10_000)
    assert len(events) == 42 and events[6] == late and events[-1][0] == T0 + S
    add_event(st, "X", meta, _quote(T0 + 200 * S), window_s=60, bucket_s=10, max_events=10_000)
    assert st.get(bucket_key("X", bid)) is None and not any(
        st.get(bucket_key("X", bid, k)) for k in range(1, 4))


# -- advice -> policy -----------------------------------------------------------------------------
CFG = SimulationConfig(baseline_participation=0.1, advice_max_age_s=15.0)


def _advice(t_ns: int = T0, **kw: object) -> dict[str, object]:
    entry: dict[str, object] = {"t": t_ns, "urgency": "low", "mpr": 0.05, "type": "limit", "offset": 1.5,
                                "regime": "normal", "topic": "adv", "partition": 0, "offset_in": 7}
    entry.update(kw)
    return entry


def test_no_advice_is_the_baseline_of_the_order_type() -> None:
    c = policy_for("market", None, T0, CFG)
    assert c.source == "baseline" and c.policy.order_type == "marketable" and c.policy.participation_cap == 0.1
    assert policy_for("limit", None, T0, CFG).policy.order_type == "passive"


def test_fresh_advice_tightens_and_maps_every_field() -> None:
    c = policy_for("market", _advice(), T0 + 2 * S, CFG)
    assert c.source == "advice" and c.advice is not None and c.advice["offset_in"] == 7
    p = c.policy
    assert p.participation_cap == 0.05  # min(advice, baseline)
    assert p.order_type == "passive"  # limit advice turns a market order passive
    assert p.urgency_schedule == ((0.0, "low"),)
    assert p.quote_offset_bps == -1.5  # 1.5 bps more aggressive than the touch = inside it
    loose = policy_for("limit", _advice(mpr=0.5, type="market", urgency="high"), T0, CFG).policy
    assert loose.participation_cap == 0.1 and loose.order_type == "passive"  # advice never loosens
    assert loose.urgency_schedule == ((0.0, "high"),)
    marketable = policy_for("market", _advice(type="market", offset=2.0), T0, CFG).policy
    assert marketable.order_type == "marketable" and marketable.quote_offset_bps == 2.0


def test_stale_or_future_advice_is_not_in_force() -> None:
    assert policy_for("limit", _advice(), T0 + 16 * S, CFG).source == "stale_advice"
    assert policy_for("limit", _advice(t_ns=T0 + S), T0, CFG).source == "stale_advice"
    weird = policy_for("limit", _advice(urgency="panic", type="stop", mpr=None, offset=None), T0, CFG)
    assert weird.policy.urgency_schedule == ((0.0, "normal"),) and weird.policy.participation_cap == 0.1


# -- budget ---------------------------------------------------------------------------------------
def test_budget_runs_all_reduces_or_refuses_by_a_fixed_rule() -> None:
    cfg = SimulationConfig(paths=1000, min_paths=100, budget_events=1_000_000)
    assert affordable_paths(rate=10.0, horizon_s=50, warmup_s=50, cfg=cfg) == 1000  # 1e6 events: fits
    assert affordable_paths(rate=20.0, horizon_s=50, warmup_s=50, cfg=cfg) == 500  # halves
    assert affordable_paths(rate=20.0, horizon_s=50, warmup_s=50, cfg=cfg) == 500  # same answer again
    assert affordable_paths(rate=200.0, horizon_s=50, warmup_s=50, cfg=cfg) == 0  # 50 < min_paths: refuse


# -- seeds ----------------------------------------------------------------------------------------
def test_seed_is_order_id_and_calibration_hash() -> None:
    model, policy = illustrative_model(), ExecutionPolicy()
    order = ParentOrder("o-1", "buy", 200, 5.0)
    a = run_monte_carlo(model, order, policy, 8, "hash-a", 1.0, 1)
    b = run_monte_carlo(model, order, policy, 8, "hash-a", 1.0, 2)  # threads change speed only
    c = run_monte_carlo(model, order, policy, 8, "hash-b", 1.0, 1)
    d = run_monte_carlo(model, ParentOrder("o-2", "buy", 200, 5.0), policy, 8, "hash-a", 1.0, 1)
    assert a == b
    assert len({a.digest, c.digest, d.digest}) == 3


# -- configuration --------------------------------------------------------------------------------
@pytest.mark.parametrize(("var", "value"), [
    ("MICROEXEC_SIM_PATHS", "many"), ("MICROEXEC_SIM_WINDOW_S", "-1"), ("MICROEXEC_SIM_REFERENCE_SIDE", "hold"),
    ("MICROEXEC_SIM_TICK_SIZES", "BTCUSDT"), ("MICROEXEC_SIM_MIN_PATHS", "5000"),
    ("MICROEXEC_SIM_HORIZON_S", "nan"),
])
def test_bad_configuration_names_the_variable(var: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=var.replace("MICROEXEC_SIM_", "")):
        SimulationConfig.from_env()


def test_configuration_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROEXEC_SIM_TICK_SIZES", "BTCUSDT=0.01, AAPL=0.01")
    monkeypatch.setenv("MICROEXEC_SIM_SIZE_UNITS", "BTCUSDT=0.00001")
    monkeypatch.setenv("MICROEXEC_SIM_PATHS", "200")
    cfg = SimulationConfig.from_env()
    assert cfg.paths == 200 and cfg.tick_size("BTCUSDT") == 0.01 and cfg.tick_size("MSFT") is None
    assert cfg.size_unit("BTCUSDT") == 0.00001 and cfg.size_unit("AAPL") is None  # None: read off the sizes


def test_refit_phase_spreads_symbols_over_the_cadence() -> None:
    from consumers.simulation.processor import refit_phase

    phases = [refit_phase(f"S{i:02d}") for i in range(20)]
    assert all(0.5 <= p < 1.5 for p in phases)
    assert len(set(phases)) == 20 and max(phases) - min(phases) > 0.5
    assert refit_phase("S00") == phases[0]  # stable: a replay refits at the same events
