"""Exactly-once under SIGKILL: the committed output and the restored state of a consumer killed five
times at random moments equal those of an uninterrupted run, record for record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from streams.serde import AvroDecoder, Registry
from streams.settings import Settings
from tests.support.feeds import quote_feed
from tests.support.kafka_io import committed_offsets, create_topics, end_offsets, produce_all, read_all
from tests.support.processors import SUMMARY_SCHEMA, QuoteSummaryProcessor
from torghut_domain.runtime import TorghutRuntime
from torghut_domain.topics import changelog_topic

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
N_EVENTS = 20_000
N_KILLS = 5


def _start_worker(settings: Settings, quotes: str, out: str, app: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "SCHEMA_REGISTRY_URL": settings.schema_registry_url, "MICROEXEC_COMMIT_INTERVAL_MS": "500",
           "MICROEXEC_BATCH_SIZE": "200", "MICROEXEC_INSTANCE_ID": "crash-worker",
           "MICROEXEC_SESSION_TIMEOUT_MS": "6000", "PYTHONPATH": str(ROOT)}
    # ~500 us of work per record: slower than the feed arrives, so the worker is always mid-transaction
    # when it is killed (20,000 records take ~10 s of work). A batch's outputs are produced when the
    # batch ends (~100 ms of work) and committed at the interval: 500 ms leaves them in the log
    # uncommitted most of the time, so a kill almost surely interrupts a transaction that wrote
    # (at 50 ms the window was the few ms of the commit itself, and five kills could all miss it).
    return subprocess.Popen([sys.executable, "-m", "tests.support.quote_summary_worker", quotes, out, app,
                             "--busy-us", "500"], cwd=ROOT, env=env)


def _committed_total(settings: Settings, app: str, quotes: str) -> int:
    return sum(max(0, o) for o in committed_offsets(settings, app, quotes).values())


def _wait_for_progress(settings: Settings, app: str, quotes: str, above: int, timeout_s: float = 120.0) -> None:
    """Until the group has committed more than ``above`` records (or all of them)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = _committed_total(settings, app, quotes)
        if done > above or done >= N_EVENTS:
            return
        time.sleep(0.2)
    raise AssertionError(f"{app} committed nothing beyond {above} records in {timeout_s:g} s")


def _decoded_by_partition(settings: Settings, topic: str, registry: Registry) -> dict[int, list[dict[str, object]]]:
    decoder = AvroDecoder(SUMMARY_SCHEMA, registry)
    out: dict[int, list[dict[str, object]]] = {}
    for msg in read_all(settings, topic):
        out.setdefault(msg.partition(), []).append(decoder.decode(msg.value()))
    return out


def _latest_state(settings: Settings, app: str, registry: Registry) -> dict[str, str]:
    decoder = AvroDecoder("changelog_state_v1", registry)
    state: dict[str, str] = {}
    for msg in read_all(settings, changelog_topic(app)):
        if msg.value() is None:
            state.pop(msg.key().decode(), None)
        else:
            entry = decoder.decode(msg.value())
            state[entry["state_key"]] = entry["state_json"]
    return state


def test_sigkilled_consumer_matches_uninterrupted_run(kafka_settings: Settings, unique: str) -> None:
    settings = kafka_settings
    quotes, out_crash, out_ref = f"quotes-{unique}", f"crash-out-{unique}", f"ref-out-{unique}"
    app_crash, app_ref = f"crash-{unique}", f"ref-{unique}"
    create_topics(settings, [(quotes, 3, False), (out_crash, 3, False), (out_ref, 3, False)])
    feed = quote_feed(N_EVENTS, [f"S{i:02d}" for i in range(40)], seed=11)
    rng = np.random.default_rng(np.random.SeedSequence(20261126))

    # The feed arrives over ~6 s while the consumer is being killed, as a live market would.
    def produce_slowly() -> None:
        for start in range(0, N_EVENTS, 1000):
            produce_all(settings, quotes, feed[start:start + 1000])
            time.sleep(0.3)

    producer = threading.Thread(target=produce_slowly)
    producer.start()
    progress_at_kill: list[int] = []
    worker = _start_worker(settings, quotes, out_crash, app_crash)
    for _ in range(N_KILLS):
        # Each worker first commits something of its own (a fixed delay killed every worker during its
        # start-up on a loaded machine: 0 records committed at all five kills), then is killed a random
        # moment later, inside the next transaction.
        _wait_for_progress(settings, app_crash, quotes, progress_at_kill[-1] if progress_at_kill else 0)
        time.sleep(float(rng.uniform(0.1, 1.0)))
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
        # The restarted worker's init_transactions aborts the killed one's open transaction; only
        # then do its pending offsets stop blocking an offset fetch (KIP-447 stable offsets).
        worker = _start_worker(settings, quotes, out_crash, app_crash)
        progress_at_kill.append(_committed_total(settings, app_crash, quotes))
    producer.join()
    ends = end_offsets(settings, quotes)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and committed_offsets(settings, app_crash, quotes) != ends:
        time.sleep(0.5)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    assert committed_offsets(settings, app_crash, quotes) == ends, "crashed consumer never caught up"
    # The kills must have landed mid-stream, not before the start or after the end.
    assert sum(0 < p < N_EVENTS for p in progress_at_kill) >= 3, progress_at_kill

    reference = TorghutRuntime(QuoteSummaryProcessor(quotes, out_ref), settings, app_ref)
    assert reference.run(max_records=N_EVENTS, idle_timeout_s=90).records_in == N_EVENTS

    registry = Registry(settings.schema_registry_url)
    crashed = _decoded_by_partition(settings, out_crash, registry)
    uninterrupted = _decoded_by_partition(settings, out_ref, registry)
    assert sum(len(v) for v in uninterrupted.values()) == N_EVENTS
    assert crashed == uninterrupted  # no loss, no duplicate, same order, same values
    uncommitted = len(read_all(settings, out_crash, committed=False))
    print(f"kills at committed offsets {progress_at_kill}; {uncommitted - N_EVENTS} aborted output records "
          "filtered by read_committed")
    assert uncommitted > N_EVENTS, "no kill interrupted an open transaction: the test proved nothing"

    crashed_state = _latest_state(settings, app_crash, registry)
    assert len(crashed_state) == 40
    assert crashed_state == _latest_state(settings, app_ref, registry)
