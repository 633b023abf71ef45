"""`jrgr data`: build offline JRGR data sets (`jrgr data synth`)."""

from __future__ import annotations

import argparse

from jrgr_deploy.errors import JRGRError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="build offline JRGR data sets (not built yet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise JRGRError("'jrgr data' is not built yet")
