"""`jrgr demo`: the main job: rainy 1280x720 clip -> streaming deraining with the default model."""

from __future__ import annotations

import argparse

from jrgr_deploy.errors import JRGRError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="the main job: rainy 1280x720 clip -> streaming deraining with the default model (not built yet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise JRGRError("'jrgr demo' is not built yet")
