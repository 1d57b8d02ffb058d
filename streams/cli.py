"""`microexec rewind` and `microexec tail` (a domain's topic catalog brings its own `topics` commands)."""

from __future__ import annotations

import argparse
import sys

from confluent_kafka import KafkaException

from streams.admin import AdminError, rewind_group
from streams.security import KafkaAuthError, KafkaUnreachable, check_access
from streams.serde import RegistryUnavailable
from streams.settings import Settings, SettingsError, load_settings
from streams.tail import print_tail, tail


def register(subparsers: argparse._SubParsersAction) -> None:
    rewind = subparsers.add_parser("rewind", help="move a stopped consumer group's offsets")
    rewind.add_argument("--group", required=True)
    rewind.add_argument("--topic", required=True)
    rewind.add_argument("--to", required=True, help="ISO 8601 time with zone, 'earliest' or 'latest'")
    rewind.add_argument("--wait", type=float, default=0.0,
                        help="seconds to wait for the group to empty (stopped static members linger)")
    rewind.add_argument("--reset-state", action="store_true",
                        help="also tombstone the group's changelog, so state is rebuilt from the replay")
    rewind.set_defaults(func=_rewind)

    tail_cmd = subparsers.add_parser("tail", help="print a topic's records as JSON lines")
    tail_cmd.add_argument("topic")
    tail_cmd.add_argument("--from-beginning", action="store_true")
    tail_cmd.add_argument("--follow", "-f", action="store_true", help="keep waiting for new records")
    tail_cmd.add_argument("-n", "--last", type=int, default=10, help="records per partition to show first")
    tail_cmd.add_argument("--uncommitted", action="store_true", help="read_uncommitted instead of read_committed")
    tail_cmd.set_defaults(func=_tail)


def fail(message: str) -> int:
    print(f"microexec: {message}", file=sys.stderr)
    return 2


def checked_settings() -> Settings:
    """Settings plus one authenticated connection, so a wrong password or CA is reported by variable
    name within a second instead of as a metadata timeout 15 s later."""
    settings = load_settings()
    try:
        check_access(settings.kafka_common())
    except (KafkaAuthError, KafkaUnreachable) as exc:
        raise SettingsError(str(exc)) from None
    return settings


def _rewind(args: argparse.Namespace) -> int:
    try:
        plan = rewind_group(checked_settings(), args.group, args.topic, args.to, wait_s=args.wait,
                            reset_state=args.reset_state)
    except (SettingsError, AdminError, KafkaException) as exc:
        return fail(str(exc))
    for partition, offset in plan.offsets:
        print(f"{plan.topic}[{partition}] -> {offset}")
    return 0


def _tail(args: argparse.Namespace) -> int:
    try:
        print_tail(tail(checked_settings(), args.topic, from_beginning=args.from_beginning, follow=args.follow,
                        last=args.last, committed_only=not args.uncommitted))
    except (SettingsError, KafkaException, RegistryUnavailable) as exc:
        return fail(str(exc))
    except BrokenPipeError:
        return 0
    return 0
