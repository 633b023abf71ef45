"""`jrgr rainify`: add realistic rain to clean footage with G_r."""

from __future__ import annotations

import argparse

from jrgr_deploy.errors import JRGRError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rainify", help="add realistic rain to clean footage with G_r (not built yet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise JRGRError("'jrgr rainify' is not built yet")
