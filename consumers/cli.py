"""`microexec run <consumer>`: one independent consumer per process, each its own group.

Why one process per consumer: they scale by partitions independently, fail independently, and
the exactly-once runtime fences per instance (``MICROEXEC_INSTANCE_ID``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from confluent_kafka import KafkaException

from streams.processor import Processor
from streams.runtime import FatalRuntimeError, TopologyError
from streams.security import KafkaUnreachable, check_access
from streams.serde import RegistryUnavailable
from streams.settings import SettingsError, load_settings
from torghut_domain.runtime import TorghutRuntime


def _state() -> Processor:
    from consumers.state.config import StateConfig
    from consumers.state.processor import StateProcessor

    return StateProcessor(StateConfig.from_env())


def _advisor() -> Processor:
    import time

    from consumers.advisor.processor import AdvisorProcessor

    return AdvisorProcessor(wall_clock_ns=time.time_ns)  # latency_ms: ingest -> advice, measured


def _tca() -> Processor:
    from consumers.tca.processor import TcaProcessor

    return TcaProcessor()


def _alerts() -> Processor:
    from consumers.alerts.processor import AlertsProcessor

    return AlertsProcessor()


def _simulation() -> Processor:
    from consumers.simulation.processor import SimulationProcessor

    processor = SimulationProcessor()
    processor.warm_up()  # compile the simulator before the first order waits for it
    return processor


CONSUMERS: dict[str, tuple[str, Callable[[], Processor]]] = {
    "state": ("microexec-state", _state),
    "advisor": ("microexec-advisor", _advisor),
    "simulation": ("microexec-simulation", _simulation),
    "tca": ("microexec-tca", _tca),
    "alerts": ("microexec-alerts", _alerts),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="run one consumer until SIGTERM/SIGINT")
    run.add_argument("consumer", choices=sorted(CONSUMERS))
    run.add_argument("--app-id", help="consumer group and changelog prefix (default microexec-<consumer>)")
    run.add_argument("--log-level", default="INFO")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    default_app, factory = CONSUMERS[args.consumer]
    try:
        settings = load_settings()
        check_access(settings.kafka_common())  # a wrong password or CA: exit 2 naming the variable, not a hang
        processor = factory()
        runtime = TorghutRuntime(processor, settings, args.app_id or default_app)
        stats = runtime.run()
    except (SettingsError, TopologyError, ValueError) as exc:
        print(f"microexec run {args.consumer}: {exc}", file=sys.stderr)
        return 2
    except (FatalRuntimeError, KafkaException, RegistryUnavailable, KafkaUnreachable) as exc:
        print(f"microexec run {args.consumer}: fatal: {exc} (restart the process)", file=sys.stderr)
        return 3
    logging.getLogger("microexec").info("stopped: %s", stats)
    return 0
