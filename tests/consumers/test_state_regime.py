"""Liquidity regime hysteresis: thresholds with a band, and a minimum dwell in event time."""

from __future__ import annotations

from typing import Any

from consumers.state.config import RegimeThresholds, StateConfig
from consumers.state.processor import StateProcessor
from consumers.state.regime import (
    COMPRESSED,
    NORMAL,
    STRESSED,
    Ratios,
    RegimeState,
    step,
    target_level,
    target_level_of,
)
from producers.torghut_envelopes import quote_envelope
from streams.offline import run_offline
from streams.processor import SourceRecord
from streams.timeutil import format_ts_ns
from torghut_domain.topics import topic

S = 1_000_000_000
MS = 1_000_000
T0 = 1_767_000_000 * S
TH = RegimeThresholds()


def test_target_level_bands() -> None:
    def r(spread: float = 1.0, depth: float = 1.0, vol: float | None = None) -> Ratios:
        return Ratios(spread, depth, vol)

    assert target_level(NORMAL, r(), TH) == NORMAL
    assert target_level(NORMAL, r(spread=1.5), TH) == COMPRESSED
    assert target_level(NORMAL, r(spread=2.0), TH) == COMPRESSED  # 2.0 < stressed enter 2.5
    assert target_level(NORMAL, r(spread=2.5), TH) == STRESSED
    # inside the stressed band (exit 1.8 <= 2.0 < enter 2.5): a stressed regime is kept
    assert target_level(STRESSED, r(spread=2.0), TH) == STRESSED
    # below stressed exit but above compressed exit (1.2): steps down to compressed only
    assert target_level(STRESSED, r(spread=1.6), TH) == COMPRESSED
    assert target_level(STRESSED, r(spread=1.1), TH) == NORMAL
    assert target_level(COMPRESSED, r(spread=1.3), TH) == COMPRESSED  # band 1.2..1.5
    # depth works the other way round: low is bad
    assert target_level(NORMAL, r(depth=0.35), TH) == STRESSED
    assert target_level(NORMAL, r(depth=0.45), TH) == COMPRESSED
    assert target_level(STRESSED, r(depth=0.45), TH) == STRESSED  # exit at 0.5
    assert target_level(COMPRESSED, r(depth=0.7), TH) == COMPRESSED  # exit at 0.75
    assert target_level(NORMAL, r(vol=3.5), TH) == STRESSED
    assert target_level(NORMAL, r(vol=None), TH) == NORMAL


def test_target_level_of_equals_target_level() -> None:
    """The processor's hot path uses the unrolled float version: same decision on every threshold
    edge (each value sits on, just below or just above an enter/exit threshold) and every level."""
    edges = sorted({x + d for x in (0.35, 0.5, 0.6, 0.75, 1.0, 1.2, 1.5, 1.8, 2.0, 2.5, 3.5)
                    for d in (-1e-9, 0.0, 1e-9)})
    for current in (NORMAL, COMPRESSED, STRESSED):
        for spread in edges:
            for depth in edges:
                for vol in (None, *edges):
                    expected = target_level(current, Ratios(spread, depth, vol), TH)
                    assert target_level_of(current, spread, depth, vol, TH) == expected, (current, spread, depth, vol)

def test_step_needs_the_indication_to_persist_for_the_dwell() -> None:
    bad, good = Ratios(3.0, 1.0, None), Ratios(1.0, 1.0, None)
    st = RegimeState()
    st = step(st, bad, T0, TH)
    assert st.level == NORMAL and st.pending_dir == 1
    st = step(st, good, T0 + 500 * MS, TH)  # spike gone: the pending switch is cancelled
    assert st == RegimeState(NORMAL, 0, 0, 0)
    st = step(st, bad, T0 + 1 * S, TH)
    st = step(st, bad, T0 + 2 * S, TH)
    assert st.level == NORMAL  # 1 s < 2 s
    st = step(st, bad, T0 + 3 * S, TH)
    assert st.level == STRESSED and st.since_ns == T0 + 3 * S
    # relaxing takes relax_dwell_s = 10 s of continuous good readings
    st = step(st, good, T0 + 4 * S, TH)
    st = step(st, good, T0 + 13 * S, TH)
    assert st.level == STRESSED
    st = step(st, good, T0 + 14 * S, TH)
    assert st.level == NORMAL


def _quote(t: int, half_spread: float) -> SourceRecord:
    value = quote_envelope("NVDA", t, round(100.0 - half_spread, 4), 500, round(100.0 + half_spread, 4), 500)
    return SourceRecord(topic("quotes"), 0, t // MS, 0, "NVDA", value)


def _feed(spike_from_s: float, spike_to_s: float, end_s: float) -> list[SourceRecord]:
    """Quotes every 0.5 s at a 2 bps spread, 20 bps in [spike_from_s, spike_to_s)."""
    records = []
    for i in range(int(end_s * 2) + 1):
        t_s = i * 0.5
        wide = spike_from_s <= t_s < spike_to_s
        records.append(_quote(T0 + int(t_s * S), 0.10 if wide else 0.01))
    return records


def _regimes(config: StateConfig, records: list[SourceRecord]) -> list[dict[str, Any]]:
    result = run_offline(StateProcessor(config), records)
    return [dict(e.value) for e in result.outputs]  # type: ignore[arg-type]


def test_single_update_spread_spike_does_not_change_the_regime() -> None:
    records = _feed(60.0, 60.5, 80.0)  # one quote at 20 bps, then normal again
    outs = _regimes(StateConfig(), records)
    assert {o["liquidity_regime"] for o in outs} == {"normal"}
    assert any(o["spread_bps"] > 19 for o in outs)  # the spike itself was published as a material change
    # the same feed without a dwell flips immediately: the dwell is what protects us
    no_dwell = StateConfig(regime=RegimeThresholds(escalate_dwell_s=0.0))
    assert "stressed" in {o["liquidity_regime"] for o in _regimes(no_dwell, records)}


def test_sustained_spread_spike_changes_the_regime_after_the_dwell() -> None:
    records = _feed(60.0, 70.0, 90.0)
    outs = _regimes(StateConfig(), records)
    changes = [(o["event_ts"], o["liquidity_regime"]) for o in outs if o["emit_reason"] == "regime_change"]
    # indicated from the 60.0 s quote; escalate dwell 2 s -> switch at the 62.0 s quote;
    # normal again from 70.0 s; relax dwell 10 s -> back to normal at 80.0 s
    assert changes == [(format_ts_ns(T0 + 62 * S), "stressed"), (format_ts_ns(T0 + 80 * S), "normal")]
    before = [o for o in outs if o["event_ts"] < format_ts_ns(T0 + 62 * S)]
    assert before and {o["liquidity_regime"] for o in before} == {"normal"}


def test_warmup_keeps_normal_until_baselines_exist() -> None:
    records = _feed(5.0, 20.0, 25.0)  # wide from 5 s to 20 s, but warm-up is 30 s
    outs = _regimes(StateConfig(), records)
    assert {o["liquidity_regime"] for o in outs} == {"normal"}
