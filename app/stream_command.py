"""What `jrgr derain` and `jrgr rainify` share: their options, and running the model's pipeline for a command
(progress, the statistics table, `--stats`, Ctrl-C / SIGTERM, exit codes)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from jrgr_deploy.names import BACKENDS

if TYPE_CHECKING:
    from jrgr_deploy.runtime.frame_model import FrameModel
    from jrgr_deploy.runtime.pipeline import StreamPipeline

EXIT_INTERRUPTED = 130


def add_stream_parser(
    subparsers: argparse._SubParsersAction, command: str, summary: str, description: str, net: str, output: str
) -> argparse.ArgumentParser:
    """The parser of a command that runs `net` over a stream, with the shared options; `output` says what the
    frames become. The command adds its own options to the parser returned."""
    parser = subparsers.add_parser(command, help=summary, description=description)
    parser.add_argument("source", help="video file, image folder/glob, camera index or stream URL")
    parser.add_argument(
        "--weights",
        help=f"{net} as .onnx (ONNX Runtime), .plan/.engine (TensorRT) or .safetensors (PyTorch); "
        "default: the model shipped in the package",
    )
    parser.add_argument("--backend", choices=BACKENDS, help="inference backend (default: from the weights' suffix)")
    parser.add_argument("--output", "-o", help="output video (.mp4/.avi), image folder, or 'null'")
    parser.add_argument("--side-by-side", action="store_true", help=f"write [input | {output}] frames")
    parser.add_argument("--stats", metavar="FILE.json", help="write latency statistics as JSON")
    parser.add_argument("--show", action="store_true", help="show the result in a window (needs OpenCV GUI)")
    parser.add_argument(
        "--infer-size",
        metavar="WxH",
        help="run the net at this size and apply the upsampled rain layer to the full-resolution frame",
    )
    parser.add_argument(
        "--live", action="store_true", help="treat a video file as a live camera at its frame rate (drops frames)"
    )
    parser.add_argument("--threads", type=int, help="CPU threads for the backend (default: physical cores)")
    parser.add_argument("--queue-size", type=int, default=4, help="depth of the pipeline queues for files")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def model_options(args: argparse.Namespace) -> dict[str, object]:
    """The `FrameModel` arguments the shared options give (the --infer-size text becomes (H, W) here)."""
    from jrgr_deploy.frames import parse_hw

    return {
        "weights": args.weights,
        "backend": args.backend,
        "infer_hw": parse_hw(args.infer_size, "--infer-size") if args.infer_size else None,
        "side_by_side": args.side_by_side,
        "threads": args.threads,
    }


def run_model(model_class: type[FrameModel], args: argparse.Namespace, **model_args: object) -> int:
    """Run `model_class` (with the shared options and `model_args`) over `args.source` into `args.output`."""
    from jrgr_deploy.runtime.sources import open_source

    options = model_options(args)  # a bad --infer-size fails before anything opens
    source = open_source(args.source, live=args.live)
    title = f"jrgr {model_class.command}"
    sinks = model_class.make_sinks(args.output, args.show, title)  # a bad output fails before the model loads
    with model_class(**options, **model_args) as model:  # type: ignore[arg-type]
        pipeline = model.pipeline(
            source, sinks, live=args.live, progress=not args.no_progress, queue_size=args.queue_size
        )
        return run_stream(pipeline, args.stats, model_class.command)


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    # `kill` / a container stop: finish cleanly exactly as on Ctrl-C.
    raise KeyboardInterrupt


def run_stream(pipeline: StreamPipeline, stats_path: str | Path | None, command: str) -> int:
    """Run `pipeline`; always print the statistics table and write `stats_path` (also after Ctrl-C
    or a source error, which is re-raised afterwards). Returns 0, or 130 when interrupted."""
    from jrgr_deploy.runtime.stats import format_table

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        report = pipeline.run()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if pipeline.report is not None:
            print(format_table(pipeline.report.stats), file=sys.stderr)
            if stats_path:
                path = pipeline.stats.write_json(stats_path, **pipeline.report.stats["run"])
                print(f"jrgr {command}: statistics written to {path}", file=sys.stderr)
    if report.interrupted:
        print(f"jrgr {command}: interrupted; output finalised", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


__all__ = ["EXIT_INTERRUPTED", "add_stream_parser", "model_options", "run_model", "run_stream"]
