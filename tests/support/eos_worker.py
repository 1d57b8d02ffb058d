"""A consumer process for the crash test: runs the test processor under the runtime until killed
or told to stop (SIGTERM commits and exits 0)."""

from __future__ import annotations

import argparse
import logging

from streams.runtime import ExactlyOnceRuntime
from streams.settings import load_settings
from tests.support.processors import QuoteSummaryProcessor


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("quotes")
    parser.add_argument("out")
    parser.add_argument("app")
    parser.add_argument("--busy-us", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("microexec").setLevel(logging.INFO)
    processor = QuoteSummaryProcessor(args.quotes, args.out, busy_us=args.busy_us)
    runtime = ExactlyOnceRuntime(processor, load_settings(), args.app)
    runtime.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
