"""How the runtime cuts a batch into runs and loose records (streams/processing.py ``_runs``).

What could fail: a record lost or reordered between the pieces; a run that mixes partitions, holds
a record of another topic or an error event, or is shorter than ``_MIN_RUN``; a stretch long
enough to be a run left to go record by record.
"""

from __future__ import annotations

import random
from itertools import pairwise

from confluent_kafka import KafkaError, Message

from streams.processing import _MIN_RUN, BatchProcessing

RUN_TOPICS = frozenset({"quotes", "trades"})


def _cut(messages: list[Message]) -> list[tuple[bool, list[Message]]]:
    runtime: BatchProcessing = object.__new__(BatchProcessing)
    runtime._run_topics = RUN_TOPICS
    return list(runtime._runs(messages))


def _runnable(msg: Message) -> bool:
    return msg.error() is None and msg.topic() in RUN_TOPICS


def test_pieces_are_the_batch_in_order_and_runs_are_maximal() -> None:
    rng = random.Random(5)
    for trial in range(2_000):
        messages = []
        partition = rng.randrange(3)
        for offset in range(rng.randrange(0, 80)):
            if rng.random() < 0.08:
                partition = rng.randrange(3)
            if trial % 2 and rng.random() < 0.03:
                messages.append(Message(topic="quotes", partition=partition, offset=offset,
                                        error=KafkaError(KafkaError._PARTITION_EOF)))
            else:
                messages.append(Message(topic=rng.choice(("quotes",) * 6 + ("trades", "updates")), partition=partition,
                                        offset=offset, value=b"{}", timestamp=(1, offset)))
        pieces = _cut(messages)
        assert [id(m) for _, chunk in pieces for m in chunk] == [id(m) for m in messages]
        for is_run, chunk in pieces:
            assert chunk
            if is_run:
                assert len(chunk) >= _MIN_RUN and all(map(_runnable, chunk))
                assert len({m.partition() for m in chunk}) == 1
            else:  # no stretch of _MIN_RUN runnable records of one partition is left loose
                streak, last = 0, None
                for m in chunk:
                    streak = streak + 1 if _runnable(m) and m.partition() == last else int(_runnable(m))
                    last = m.partition() if _runnable(m) else None
                    assert streak < _MIN_RUN
        # consecutive runs are of different partitions (else they would be one maximal run)
        for (a_run, a), (b_run, b) in pairwise(pieces):
            if a_run and b_run:
                assert a[0].partition() != b[0].partition()
