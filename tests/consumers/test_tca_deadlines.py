"""The sharded deadline index behaves as one dict {order id: deadline}: due lists, the earliest entry
and the count agree with a plain model after any sequence of changes, across records (flushes)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.tca.deadlines import CLOCK_KEY, SHARD_PREFIX, SHARDS, Deadlines
from streams.state import TransactionalState

ops = st.lists(st.tuples(st.integers(0, 300), st.one_of(st.none(), st.integers(0, 1000))), max_size=150)


@settings(max_examples=80, deadline=None)
@given(ops, st.integers(0, 1000), st.integers(1, 20))
def test_sharded_index_matches_a_plain_dict(changes: list[tuple[int, int | None]], now: int, per_record: int) -> None:
    state = TransactionalState()
    model: dict[str, int] = {}
    d = Deadlines(state)
    d.advance(0)
    for i, (n, deadline) in enumerate(changes):
        order_id = f"order-{n}"
        d.set(order_id, deadline)
        if deadline is None:
            model.pop(order_id, None)
        else:
            model[order_id] = deadline
        if i % per_record == per_record - 1:  # a new record: what was flushed is all it sees
            d.flush()
            state.commit()
            d = Deadlines(state)
    d.flush()
    state.commit()
    d = Deadlines(state)
    assert len(d) == len(model)
    assert d.due(now) == sorted((v, k) for k, v in model.items() if v <= now)
    assert d.earliest() == (min((v, k) for k, v in model.items()) if model else None)
    assert state.get(CLOCK_KEY)["next"] == (min(model.values()) if model else None)  # type: ignore[index]
    shards = [key for key in state.snapshot() if key.startswith(SHARD_PREFIX)]
    assert len(shards) <= SHARDS and all(state.get(key) for key in shards)  # no empty shard is kept
