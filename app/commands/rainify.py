"""`jrgr rainify`: add realistic rain to clean footage with G_r, on the same pipeline as `jrgr derain`."""

from __future__ import annotations

import argparse

from jrgr_deploy.app.stream_command import add_stream_parser
from jrgr_deploy.names import RAIN_PRESETS

DESCRIPTION = """\
Render real-style rain on clean footage: a synthetic rain layer (model A, temporally coherent) is translated
by G_r into the real domain and added to each frame (JRGR's S2R module). For making realistic rainy training
data for downstream detectors. Torch-free. SOURCE and the options are those of 'jrgr derain'.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    summary = "add realistic rain to clean footage with G_r"
    parser = add_stream_parser(subparsers, "rainify", summary, DESCRIPTION, net="G_r", output="rainy")
    parser.add_argument("--preset", choices=RAIN_PRESETS, default="medium", help="synthetic rain amount")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic rain")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jrgr_deploy.app.stream_command import run_model
    from jrgr_deploy.runtime.rainify import Rainifying

    return run_model(Rainifying, args, preset=args.preset, seed=args.seed)
