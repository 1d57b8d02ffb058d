"""Every record the state and advisor processors publish is consistent with its own event_ts
(tests/support/invariants.py) when the inputs are applied in the event-time merge's order; applied
in arrival order instead (what the runtime did on a live feed before issue 13), they are not, and
the checker says so."""

from __future__ import annotations

import random

import pytest

from consumers.advisor.processor import AdvisorProcessor
from consumers.state.processor import StateProcessor
from streams.offline import as_inputs, run_offline
from streams.processor import SourceRecord
from streams.state import TransactionalState
from tests.support.invariants import QuoteBook, advice_violations, state_violations
from tests.support.synthetic_market import synthetic_market
from torghut_domain.topics import topic

SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]


def _feed(seed: int) -> list[SourceRecord]:
    return list(synthetic_market(SYMBOLS, 4000, seed=seed, step_ms=2.0, trade_every=3, order_every=50,
                                 partitions=2))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_state_and_advice_in_event_time_order_are_consistent_with_their_event_ts(seed: int) -> None:
    feed = _feed(seed)
    state = run_offline(StateProcessor(), feed)
    assert len(state.outputs) > 100
    values = [e.value for e in state.outputs if isinstance(e.value, dict)]
    book = QuoteBook(r.value for r in feed if r.topic == topic("quotes"))
    assert state_violations(values, book) == []

    state_records = as_inputs(state.outputs, partitions=2)
    advice = run_offline(AdvisorProcessor(), state_records)
    by_coords = {(r.partition, r.offset): r.value for r in state_records}
    advice_values = [e.value for e in advice.outputs if isinstance(e.value, dict)]
    assert len(advice_values) == len(values)
    assert advice_violations(advice_values, by_coords, topic("state")) == []


def test_arrival_order_across_topics_breaks_the_invariant_and_the_checker_sees_it() -> None:
    """Trades delivered in one burst ahead of the quotes they follow: each trade moves the symbol's
    clock forward while the book is still old, so records claim an event time whose touch they lack."""
    feed = _feed(4)
    rng = random.Random(4)
    quotes = [r for r in feed if r.topic == topic("quotes")]
    others = [r for r in feed if r.topic != topic("quotes")]
    arrival: list[SourceRecord] = []
    qi = 0
    for chunk in range(0, len(others), 40):  # each topic in its own order, interleaved by fetch-sized bursts
        arrival += others[chunk:chunk + 40]
        take = rng.randint(40, 120)
        arrival += quotes[qi:qi + take]
        qi += take
    arrival += quotes[qi:]
    processor = StateProcessor()
    states: dict[int, TransactionalState] = {}
    values = []
    for record in arrival:
        st = states.setdefault(record.partition, TransactionalState())
        values += [e.value for e in processor.process(record, st) if isinstance(e.value, dict)]
        st.commit()
    violations = state_violations(values, QuoteBook(r.value for r in quotes))
    assert violations, "processing in arrival order must show records inconsistent with their event_ts"
