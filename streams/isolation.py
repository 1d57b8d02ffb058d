"""Finding the input record whose outputs the broker refuses, so one bad record cannot wedge a consumer.

Why: a transaction commits all its records or none. When the broker refuses one output record (a
timestamp further in the future than the topic's ``message.timestamp.after.max.ms``, an hour by
default on Kafka 4: a venue's clock skew, a processor bug; a record over the broker's size limit),
the whole transaction aborts, the runtime rewinds, re-processes the same records, produces the same
refused output and aborts again, for ever: measured before this module, 1,858 aborts in 118 s and
not one record committed, with the process alive and healthy-looking.

What happens instead: after a refusal (or a few aborts in a row for any reason, since a refusal can
surface as a state error of the aborted transaction), the runtime *isolates*: one input record per
transaction, until it has committed past every position the failed transaction covered. An
isolated record whose transaction is refused is the culprit: it is dead-lettered with reason
``output_refused`` on its next delivery (nothing is lost, the DLQ has it) and the stream goes on.
An isolated record that keeps failing for other reasons ends the process non-zero, for the
supervisor, rather than spinning.

Pure bookkeeping: the runtime (streams/checkpointing.py, streams/runtime.py) does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import KafkaError

# Errors the broker gives for one record, not for the connection or the transaction as a whole.
RECORD_REFUSED = frozenset({
    "INVALID_TIMESTAMP", "MSG_SIZE_TOO_LARGE", "INVALID_RECORD", "RECORD_LIST_TOO_LARGE", "POLICY_VIOLATION",
})
# librdkafka's text for each ("Broker: Invalid timestamp"), as it appears inside a _STATE error's message.
_DESCRIPTIONS = tuple((name, KafkaError(getattr(KafkaError, name)).str()) for name in sorted(RECORD_REFUSED))
# Aborts in a row, without a commit between, after which the runtime isolates whatever the reason.
ABORTS_BEFORE_ISOLATING = 3
# Aborts in a row of one isolated record, for reasons that do not name it, before giving up (a refused
# record can leave the idempotent producer one OUT_OF_ORDER_SEQUENCE_NUMBER abort behind it).
ISOLATED_ABORTS_LIMIT = 10

Coord = tuple[str, int, int]  # topic, partition, offset of an input record


def refusal_reason(err: KafkaError) -> str:
    """The name of a transaction's error, or of the record refusal behind it: a delivery that fails
    before the commit leaves the transaction in an abortable state, and the next call reports that
    state (``_STATE``) with the refusal only in its message."""
    name: str = err.name()
    if name in RECORD_REFUSED:
        return name
    text = err.str()
    return next((refused for refused, description in _DESCRIPTIONS if description in text), name)


class IsolationStuck(Exception):
    """An isolated record's transaction keeps aborting for a reason that does not identify it."""


@dataclass
class Isolation:
    """One isolation episode: up to where it lasts, the record in the open transaction, the
    culprits found so far."""

    until: dict[tuple[str, int], int]  # positions the failed transaction would have committed
    current: Coord | None = None  # the one input record of the open isolated transaction
    poison: dict[Coord, str] = field(default_factory=dict)  # culprit -> the broker's reason
    aborts_in_a_row: int = 0

    def refused(self, reason: str) -> Coord | None:
        """The open isolated transaction aborted with ``reason``; returns the culprit if this
        identifies one. Raises IsolationStuck when the same record keeps failing otherwise."""
        current, self.current = self.current, None
        if current is not None and reason in RECORD_REFUSED:
            self.poison[current] = reason
            self.aborts_in_a_row = 0
            return current
        self.aborts_in_a_row += 1
        if self.aborts_in_a_row >= ISOLATED_ABORTS_LIMIT:
            where = "no input record (a punctuation's outputs)" if current is None else f"{current}"
            raise IsolationStuck(f"{self.aborts_in_a_row} isolated transactions in a row aborted ({reason}) "
                                 f"with {where}")
        return None

    def committed(self, positions: dict[tuple[str, int], int], owned: set[int]) -> bool:
        """A commit of ``positions`` went through; True once commits have reached every position of
        ``until`` on the partitions this instance still owns (a revoked one is its new owner's to
        replay). Reached positions are forgotten here, not re-checked: an abort clears the runtime's
        record of what it committed, and a partition that has no more records never commits again."""
        self.current = None
        self.aborts_in_a_row = 0
        for tp, position in positions.items():
            if tp in self.until and position >= self.until[tp]:
                del self.until[tp]
        return not any(tp[1] in owned for tp in self.until)


@dataclass
class AbortTracker:
    """Normal mode: when to start isolating."""

    in_a_row: int = 0

    def aborted(self, reason: str) -> bool:
        """True when this abort should start an isolation episode."""
        self.in_a_row += 1
        return reason in RECORD_REFUSED or self.in_a_row >= ABORTS_BEFORE_ISOLATING

    def committed(self) -> None:
        self.in_a_row = 0
