"""The bookkeeping that finds a record whose outputs the broker refuses (streams/isolation.py)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from streams.isolation import (
    ABORTS_BEFORE_ISOLATING,
    ISOLATED_ABORTS_LIMIT,
    AbortTracker,
    Isolation,
    IsolationStuck,
    refusal_reason,
)


def test_a_refusal_isolates_at_once_other_aborts_only_in_a_row() -> None:
    tracker = AbortTracker()
    assert tracker.aborted("INVALID_TIMESTAMP")
    tracker.committed()
    assert [tracker.aborted("_FENCED") for _ in range(ABORTS_BEFORE_ISOLATING)] == [False] * (
        ABORTS_BEFORE_ISOLATING - 1) + [True]
    tracker.committed()
    assert not tracker.aborted("_TRANSPORT")  # a commit between resets the count


def test_refusal_reason_finds_the_refusal_behind_a_state_error() -> None:
    assert refusal_reason(KafkaError(KafkaError.INVALID_TIMESTAMP)) == "INVALID_TIMESTAMP"
    wrapped = KafkaError(KafkaError._STATE, "Operation not valid in state AbortableError: Failed to produce: "
                                            "Broker: Invalid timestamp")
    assert refusal_reason(wrapped) == "INVALID_TIMESTAMP"
    other = KafkaError(KafkaError._STATE, "Operation not valid in state AbortableError: Broker: Not enough replicas")
    assert refusal_reason(other) == "_STATE"


def test_the_isolated_record_of_a_refused_transaction_is_the_culprit() -> None:
    iso = Isolation({("in", 0): 10})
    iso.current = ("in", 0, 4)
    assert iso.refused("INVALID_TIMESTAMP") == ("in", 0, 4)
    assert iso.poison == {("in", 0, 4): "INVALID_TIMESTAMP"}
    iso.current = ("in", 0, 5)
    assert iso.refused("OUT_OF_ORDER_SEQUENCE_NUMBER") is None  # names no record
    assert ("in", 0, 5) not in iso.poison
    iso.current = None
    assert iso.refused("INVALID_TIMESTAMP") is None  # a punctuation's outputs: no record to blame


def test_isolation_gives_up_on_a_record_that_keeps_failing_otherwise() -> None:
    iso = Isolation({("in", 0): 10})
    for _ in range(ISOLATED_ABORTS_LIMIT - 1):
        iso.current = ("in", 0, 4)
        iso.refused("_STATE")
    iso.current = ("in", 0, 4)
    with pytest.raises(IsolationStuck, match="in a row"):
        iso.refused("_STATE")


def test_isolation_ends_once_every_owned_position_was_committed_even_across_rewinds() -> None:
    iso = Isolation({("a", 0): 10, ("a", 1): 7, ("a", 2): 5})
    assert not iso.committed({("a", 0): 10}, owned={0, 1, 2})
    # After an abort the runtime forgets what it committed: partition 0 is not reported again.
    assert not iso.committed({("a", 1): 6}, owned={0, 1, 2})
    assert not iso.committed({("a", 1): 7}, owned={0, 1, 2})
    assert iso.committed({("a", 1): 7}, owned={0, 1})  # partition 2 was revoked: its new owner replays it
