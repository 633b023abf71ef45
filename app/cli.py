"""The `jrgr` command line: one sub-command per module in `jrgr_deploy.app.commands`.

Each command module is cheap to import (argparse only at module level) and exposes
`register(subparsers)`, which adds its parser and sets `func` to a `run(args) -> int` callable and, when the
command needs optional packages, `needs` to a `needs(args) -> {module: extra}` callable: they are checked before
the command starts, and a missing one is reported with the extra that installs it (exit 2).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from jrgr_deploy import __version__
from jrgr_deploy.app.commands import adapt, bench, data, demo, derain, evaluate, export, info, rainify, train
from jrgr_deploy.errors import JRGRError, missing_dependency, require
from jrgr_deploy.redaction import redact, redact_logging

# Listed explicitly, in the order `jrgr --help` shows them.
COMMAND_MODULES = (train, adapt, evaluate, export, derain, rainify, data, bench, info, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jrgr",
        description="JRGR joint rain generation and removal: train, evaluate, export, derain streams.",
    )
    parser.add_argument("--version", action="version", version=f"jrgr-deploy {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    redact_logging()  # no log line shows a URL's user name or password
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        needs = getattr(args, "needs", None)
        if needs is not None:
            require(needs(args), f"jrgr {args.command}")
        try:
            return int(args.func(args) or 0)
        except ModuleNotFoundError as error:
            # An optional package a path of the command needs that `needs` does not list (e.g. a backend).
            missing = missing_dependency(error, f"jrgr {args.command}")
            if missing is None:
                raise
            raise missing from error
    except JRGRError as error:
        print(f"jrgr {args.command}: error: {redact(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"jrgr {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
