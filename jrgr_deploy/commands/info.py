"""`jrgr info`: describe the default model and the installed backends."""

from __future__ import annotations

import argparse

from jrgr_deploy.errors import JRGRError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="describe the default model and the installed backends (not built yet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise JRGRError("'jrgr info' is not built yet")
