"""A consumer process for the crash and broker-fault tests: the test processor under the runtime, with
the exit codes of `microexec run` (0 stopped, 3 fatal or stalled, 4 forced by the watchdog), so a
test can kill it mid-transaction or act as its supervisor.

``--txn-timeout-ms``: the fault tests pause a broker longer than the transaction timeout, in seconds
rather than the runtime's 60 s, which only a producer override gives."""

from __future__ import annotations

import argparse
import logging
import sys

from confluent_kafka import KafkaException

from streams.runtime import FatalRuntimeError
from streams.serde import RegistryUnavailable
from streams.settings import load_settings
from tests.support.processors import QuoteSummaryProcessor
from torghut_domain.runtime import TorghutRuntime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("quotes")
    parser.add_argument("out")
    parser.add_argument("app")
    parser.add_argument("--busy-us", type=int, default=0)
    parser.add_argument("--txn-timeout-ms", type=int, default=60_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("microexec").setLevel(logging.INFO)
    try:
        processor = QuoteSummaryProcessor(args.quotes, args.out, busy_us=args.busy_us)
        runtime = TorghutRuntime(processor, load_settings(), args.app,
                                     producer_overrides={"transaction.timeout.ms": args.txn_timeout_ms})
        runtime.run()
    except (FatalRuntimeError, KafkaException, RegistryUnavailable) as exc:
        print(f"quote summary worker: fatal: {exc}", file=sys.stderr, flush=True)
        return 3
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
