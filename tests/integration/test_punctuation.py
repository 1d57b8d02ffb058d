"""The runtime's wall-clock timer on the real broker: punctuation runs with no input record at all,
its outputs and state commit exactly once (a restarted instance continues the count from the
changelog, no gap, no duplicate), and stop() ends the loop promptly with everything committed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import pytest

from streams.processor import Emit, KeyValueState, SourceRecord
from streams.serde import AvroDecoder, Registry
from streams.settings import Settings
from streams.timeutil import format_ts_ns
from tests.support.kafka_io import create_topics, read_all
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import changelog_topic

pytestmark = pytest.mark.integration


class TickProcessor:
    """Emits one record per punctuation and partition, numbered from state: a lost, duplicated or
    uncommitted tick, or a state restored wrongly, breaks the 1..n sequence of a partition."""

    name = "ticks"
    punctuate_interval_s = 0.1

    def __init__(self, in_topic: str, out_topic: str) -> None:
        self.input_formats = {in_topic: "avro"}
        self.input_schemas = {in_topic: "execution_alert_v1"}
        self.output_schemas = {out_topic: "execution_alert_v1"}
        self.out = out_topic

    def process(self, record: SourceRecord, state: KeyValueState) -> Iterable[Emit]:
        raise AssertionError("no input record exists in this test")

    def punctuate(self, now_wall_ns: int, partition: int, state: KeyValueState) -> Iterable[Emit]:
        n = (state.get("ticks") or {"n": 0})["n"] + 1
        state.put("ticks", {"n": n})
        key = f"tick:p{partition}"
        yield Emit(self.out, key, {"alert_key": key, "alert_type": "tick", "event_ts": format_ts_ns(now_wall_ns),
                                   "consecutive_windows": n, "value": float(partition)})


def _run_for(runtime: TorghutRuntime, seconds: float) -> float:
    """Run in a thread for ``seconds`` after the first punctuation, stop, and return how long the
    stop took."""
    thread = threading.Thread(target=runtime.run)
    thread.start()
    deadline = time.monotonic() + 60
    while runtime.stats.punctuations == 0 or not runtime.owned_partitions:
        assert thread.is_alive() and time.monotonic() < deadline, "no punctuation within 60 s"
        time.sleep(0.05)
    time.sleep(seconds)
    asked = time.monotonic()
    runtime.stop()
    thread.join(30)
    assert not thread.is_alive(), "stop() did not end the run loop"
    return time.monotonic() - asked


def _ticks(settings: Settings, out: str) -> dict[int, list[int]]:
    decoder = AvroDecoder("execution_alert_v1", Registry(settings.schema_registry_url))
    by_partition: dict[int, list[int]] = {}
    for msg in read_all(settings, out):
        value = decoder.decode(msg.value())
        by_partition.setdefault(int(value["value"]), []).append(value["consecutive_windows"])
    return by_partition


def test_punctuation_without_input_is_exactly_once_and_stops(fast_settings: Settings, unique: str) -> None:
    in_topic, out_topic, app = f"ticks-in-{unique}", f"ticks-out-{unique}", f"ticks-{unique}"
    create_topics(fast_settings, [(in_topic, 2, False), (out_topic, 1, False)])

    first = TorghutRuntime(TickProcessor(in_topic, out_topic), fast_settings, app)
    stop_took = _run_for(first, 1.0)
    assert stop_took < 5, f"stop took {stop_took:.1f}s"
    assert first.stats.records_in == 0 and first.stats.punctuations >= 5
    ticks = _ticks(fast_settings, out_topic)
    assert sorted(ticks) == [0, 1], "every owned partition is punctuated, none has a record"
    for partition, seq in ticks.items():
        assert seq == list(range(1, len(seq) + 1)), f"partition {partition}: {seq}"
    assert first.stats.records_out == sum(len(seq) for seq in ticks.values()), "everything produced is committed"
    assert read_all(fast_settings, changelog_topic(app)), "punctuation state is changelogged"

    # Same app id again: the state comes back from the changelog and the count goes on, no gap, no repeat.
    second = TorghutRuntime(TickProcessor(in_topic, out_topic), fast_settings, app)
    _run_for(second, 0.5)
    after = _ticks(fast_settings, out_topic)
    for partition, seq in after.items():
        assert len(seq) > len(ticks[partition])
        assert seq == list(range(1, len(seq) + 1)), f"partition {partition} after restart: {seq}"


def test_processor_without_punctuate_is_never_punctuated(fast_settings: Settings, unique: str) -> None:
    in_topic, out_topic = f"plain-in-{unique}", f"plain-out-{unique}"
    create_topics(fast_settings, [(in_topic, 1, False), (out_topic, 1, False)])

    class Plain(TickProcessor):
        punctuate = None  # type: ignore[assignment]

    runtime = TorghutRuntime(Plain(in_topic, out_topic), fast_settings, f"plain-{unique}")
    thread = threading.Thread(target=runtime.run, kwargs={"idle_timeout_s": 1.5})
    thread.start()
    thread.join(60)
    assert runtime.stats.punctuations == 0 and read_all(fast_settings, out_topic) == []


def test_bad_punctuate_interval_is_refused(fast_settings: Settings, unique: str) -> None:
    class Bad(TickProcessor):
        punctuate_interval_s = 0

    with pytest.raises(ValueError, match="punctuate_interval_s"):
        TorghutRuntime(Bad("a", "b"), fast_settings, f"bad-{unique}")


def test_a_failing_punctuate_is_rolled_back_and_does_not_stop_other_partitions(fast_settings: Settings,
                                                                               unique: str) -> None:
    in_topic, out_topic, app = f"fail-in-{unique}", f"fail-out-{unique}", f"fail-{unique}"
    create_topics(fast_settings, [(in_topic, 2, False), (out_topic, 1, False)])

    class FailsOnOne(TickProcessor):
        def punctuate(self, now_wall_ns: int, partition: int, state: KeyValueState) -> Iterable[Emit]:
            out = list(super().punctuate(now_wall_ns, partition, state))  # writes state, then fails
            if partition == 1:
                raise RuntimeError("bug")
            return out

    runtime = TorghutRuntime(FailsOnOne(in_topic, out_topic), fast_settings, app)
    _run_for(runtime, 1.0)
    ticks = _ticks(fast_settings, out_topic)
    assert list(ticks) == [0] and ticks[0] == list(range(1, len(ticks[0]) + 1))
    changelog = read_all(fast_settings, changelog_topic(app))
    assert changelog and {m.partition() for m in changelog} == {0}, "the failed call's state write is rolled back"


def test_a_quiet_punctuate_opens_no_transaction(fast_settings: Settings, unique: str) -> None:
    """A tick that neither writes state nor emits costs no transaction: an idle alerts consumer
    does not commit empty transactions every second."""
    in_topic, out_topic = f"quiet-in-{unique}", f"quiet-out-{unique}"
    create_topics(fast_settings, [(in_topic, 2, False), (out_topic, 1, False)])
    calls: list[int] = []

    class Quiet(TickProcessor):
        def punctuate(self, now_wall_ns: int, partition: int, state: KeyValueState) -> Iterable[Emit]:
            calls.append(partition)
            return ()

    runtime = TorghutRuntime(Quiet(in_topic, out_topic), fast_settings, f"quiet-{unique}")
    _run_for(runtime, 1.0)
    assert len(calls) >= 10 and set(calls) == {0, 1}
    assert runtime.stats.commits == 0 and runtime.stats.records_out == 0
