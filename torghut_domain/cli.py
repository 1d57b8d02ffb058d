"""`microexec topics create | list`: the topic catalog (torghut_domain/topics.py) on the broker."""

from __future__ import annotations

import argparse

from confluent_kafka import KafkaException

from streams.admin import AdminError, create_catalog_topics
from streams.cli import checked_settings, fail
from streams.settings import SettingsError
from torghut_domain.topics import CATALOG


def register(subparsers: argparse._SubParsersAction) -> None:
    topics = subparsers.add_parser("topics", help="the topic catalog")
    actions = topics.add_subparsers(dest="topics_command", required=True)
    actions.add_parser("create", help="create every catalog topic that is missing (idempotent)").set_defaults(
        func=_topics_create)
    actions.add_parser("list", help="print the catalog").set_defaults(func=_topics_list)


def _topics_create(args: argparse.Namespace) -> int:
    try:
        created = create_catalog_topics(checked_settings(), CATALOG)
    except (SettingsError, AdminError, KafkaException) as exc:
        return fail(str(exc))
    print("created: " + (", ".join(created) if created else "nothing (all topics exist)"))
    return 0


def _topics_list(args: argparse.Namespace) -> int:
    for spec in CATALOG:
        policy = "compact" if spec.compacted else "delete"
        print(f"{spec.name:40s} {spec.fmt:12s} {policy:8s} {spec.schema or '-':28s} {spec.written_by}")
    return 0
