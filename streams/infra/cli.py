"""`microexec infra up | down | status | env`."""

from __future__ import annotations

import argparse
import json

from streams.infra import stack
from streams.infra.maven import DownloadError


def register(subparsers: argparse._SubParsersAction) -> None:
    infra = subparsers.add_parser("infra", help="local Kafka + schema registry without Docker")
    actions = infra.add_subparsers(dest="infra_command", required=True)
    up = actions.add_parser("up", help="fetch jars if needed, start broker and registry, wait until they answer")
    up.add_argument("--fresh", action="store_true", help="wipe the broker's data and the registry's schemas first")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each service")
    up.set_defaults(func=_up)
    actions.add_parser("down", help="stop what `up` started").set_defaults(func=_down)
    actions.add_parser("status", help="pids, addresses, whether they answer").set_defaults(func=_status)
    actions.add_parser("env", help="print the settings to export").set_defaults(func=_env)


def _up(args: argparse.Namespace) -> int:
    cfg = stack.StackConfig.from_env()
    try:
        stack.up(cfg, fresh=args.fresh, timeout=args.timeout)
    except (stack.InfraError, DownloadError) as exc:
        print(f"microexec infra up: {exc}")
        return 1
    print(f"Kafka {stack.KAFKA_VERSION} at {cfg.bootstrap}, registry at {cfg.registry_url} "
          f"(logs in {cfg.run_dir}). Export:")
    print("\n".join(stack.env_lines(cfg)))
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = stack.down(stack.StackConfig.from_env())
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def _status(args: argparse.Namespace) -> int:
    report = stack.status(stack.StackConfig.from_env())
    print(json.dumps(report, indent=2))
    return 0 if all(item["answers"] for item in report.values()) else 3


def _env(args: argparse.Namespace) -> int:
    print("\n".join(stack.env_lines(stack.StackConfig.from_env())))
    return 0
