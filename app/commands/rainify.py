"""`jrgr rainify`: add realistic rain to clean footage with G_r."""

from __future__ import annotations

import argparse

from jrgr_deploy.names import BACKENDS

RAIN_PRESETS = ("light", "medium", "heavy")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rainify",
        help="add realistic rain to clean footage with G_r",
        description=(
            "Render real-style rain on clean footage: a synthetic rain layer (model A, temporally coherent) "
            "is translated by G_r into the real domain and added to each frame (JRGR's S2R module). "
            "For making realistic rainy training data for downstream detectors. Torch-free."
        ),
    )
    parser.add_argument("source", help="clean video file, image folder/glob, camera index or stream URL")
    parser.add_argument(
        "--weights", help="G_r as .onnx / .plan / .safetensors (default: the g_r.onnx shipped in the package)"
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="inference backend (default: from the weights' suffix)",
    )
    parser.add_argument("--preset", choices=RAIN_PRESETS, default="medium", help="synthetic rain amount")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic rain")
    parser.add_argument("--output", "-o", help="output video (.mp4/.avi), image folder, or 'null'")
    parser.add_argument("--side-by-side", action="store_true", help="write [clean | rainy] frames")
    parser.add_argument("--stats", metavar="FILE.json", help="write latency statistics as JSON")
    parser.add_argument("--threads", type=int, help="CPU threads for the backend (default: physical cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from jrgr_deploy.runtime.backends import open_backend
    from jrgr_deploy.runtime.cli_run import run_stream
    from jrgr_deploy.runtime.pipeline import StreamPipeline
    from jrgr_deploy.runtime.rainify import RainifyProcessor
    from jrgr_deploy.runtime.sinks import open_sink
    from jrgr_deploy.runtime.sources import open_source

    if args.weights:
        weights = Path(args.weights)
    else:
        from jrgr_deploy.default_model import default_onnx

        weights = default_onnx("g_r")
    source = open_source(args.source).open()
    sinks = [open_sink(args.output)] if args.output else []
    with open_backend(weights, args.backend, net="g_r", threads=args.threads) as backend:
        processor = RainifyProcessor(
            backend, preset=args.preset, seed=args.seed, fps=source.fps, side_by_side=args.side_by_side
        )
        info = {
            "command": "rainify",
            "backend": backend.name,
            "device": backend.device,
            "weights": str(weights),
            "rain": {"model": "synthetic", "preset": args.preset, "seed": args.seed},
        }
        pipeline = StreamPipeline(source, processor, sinks, progress=not args.no_progress, run_info=info)
        return run_stream(pipeline, args.stats, "rainify")
