"""`microexec topics create | list`, `microexec rewind`, `microexec tail`."""

from __future__ import annotations

import argparse
import sys

from confluent_kafka import KafkaException

from streams.admin import AdminError, create_catalog_topics, rewind_group
from streams.security import KafkaAuthError, KafkaUnreachable, check_access
from streams.serde import RegistryUnavailable
from streams.settings import Settings, SettingsError, load_settings
from streams.tail import print_tail, tail
from streams.topics import CATALOG


def register(subparsers: argparse._SubParsersAction) -> None:
    topics = subparsers.add_parser("topics", help="the topic catalog")
    actions = topics.add_subparsers(dest="topics_command", required=True)
    actions.add_parser("create", help="create every catalog topic that is missing (idempotent)").set_defaults(
        func=_topics_create)
    actions.add_parser("list", help="print the catalog").set_defaults(func=_topics_list)

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


def _fail(message: str) -> int:
    print(f"microexec: {message}", file=sys.stderr)
    return 2


def _checked_settings() -> Settings:
    """Settings plus one authenticated connection, so a wrong password or CA is reported by variable
    name within a second instead of as a metadata timeout 15 s later."""
    settings = load_settings()
    try:
        check_access(settings.kafka_common())
    except (KafkaAuthError, KafkaUnreachable) as exc:
        raise SettingsError(str(exc)) from None
    return settings


def _topics_create(args: argparse.Namespace) -> int:
    try:
        created = create_catalog_topics(_checked_settings())
    except (SettingsError, AdminError, KafkaException) as exc:
        return _fail(str(exc))
    print("created: " + (", ".join(created) if created else "nothing (all topics exist)"))
    return 0


def _topics_list(args: argparse.Namespace) -> int:
    for spec in CATALOG:
        policy = "compact" if spec.compacted else "delete"
        print(f"{spec.name:40s} {spec.fmt:12s} {policy:8s} {spec.schema or '-':28s} {spec.written_by}")
    return 0


def _rewind(args: argparse.Namespace) -> int:
    try:
        plan = rewind_group(_checked_settings(), args.group, args.topic, args.to, wait_s=args.wait,
                            reset_state=args.reset_state)
    except (SettingsError, AdminError, KafkaException) as exc:
        return _fail(str(exc))
    for partition, offset in plan.offsets:
        print(f"{plan.topic}[{partition}] -> {offset}")
    return 0


def _tail(args: argparse.Namespace) -> int:
    try:
        print_tail(tail(_checked_settings(), args.topic, from_beginning=args.from_beginning, follow=args.follow,
                        last=args.last, committed_only=not args.uncommitted))
    except (SettingsError, KafkaException, RegistryUnavailable) as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        return 0
    return 0
