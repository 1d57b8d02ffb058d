"""The ``microexec`` command: a thin dispatcher; every subcommand lives with the code it drives.

Each package that owns commands exposes ``register(subparsers)``, which adds its subcommands and
sets ``func`` (``argparse.Namespace -> int`` exit code) on each.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that contribute subcommands; a module missing from a partial install is reported, not hidden.
COMMAND_MODULES = (
    "streams.infra.cli",
    "streams.cli",
    "torghut_domain.cli",
    "simulator.cli",
    "producers.cli",
    "consumers.cli",
    "microexec.demo",
    "microexec.offline_cli",
    "microexec.replay.cli",
    "microexec.drill",
    "microexec.compare_live",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microexec", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
