"""`jrgr derain`: derain a camera, RTSP/HTTP stream, video file or image folder."""

from __future__ import annotations

import argparse

from jrgr_deploy.names import BACKENDS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "derain",
        help="derain a camera, RTSP/HTTP stream, video file or image folder",
        description=(
            "Derain SOURCE with F_r in a threaded capture -> infer -> write pipeline and report latency. "
            "SOURCE: a video file, an image folder or glob ('frames/*.png'), a camera index (0) or an "
            "rtsp:// / http:// URL. Cameras and URLs are live: the newest frame is processed and older "
            "ones are dropped (counted); files never drop a frame."
        ),
    )
    parser.add_argument("source", help="video file, image folder/glob, camera index or stream URL")
    parser.add_argument(
        "--weights",
        help="F_r as .onnx (ONNX Runtime), .plan/.engine (TensorRT) or .safetensors (PyTorch); "
        "default: the model shipped in the package",
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, help="inference backend (default: from the weights' suffix)"
    )
    parser.add_argument("--output", "-o", help="output video (.mp4/.avi), image folder, or 'null'")
    parser.add_argument("--side-by-side", action="store_true", help="write [rainy | derained] frames")
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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jrgr_deploy.runtime.cli_run import run_stream
    from jrgr_deploy.runtime.deraining import Deraining
    from jrgr_deploy.runtime.processing import parse_size
    from jrgr_deploy.runtime.sources import open_source

    infer_size = parse_size(args.infer_size) if args.infer_size else None
    source = open_source(args.source, live=args.live)
    sinks = Deraining.make_sinks(args.output, args.show)  # a bad output fails before the model loads
    with Deraining(
        args.weights, backend=args.backend, infer_size=infer_size, side_by_side=args.side_by_side,
        threads=args.threads,
    ) as model:  # fmt: skip
        pipeline = model.pipeline(
            source, sinks, live=args.live, progress=not args.no_progress, queue_size=args.queue_size
        )
        return run_stream(pipeline, args.stats, "derain")
