"""`jrgr train`: train JRGR (stage 1 supervised pre-training, stage 2 joint training)."""

from __future__ import annotations

import argparse

from jrgr_deploy.errors import JRGRError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train JRGR (stage 1 supervised pre-training, stage 2 joint training) (not built yet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise JRGRError("'jrgr train' is not built yet")
