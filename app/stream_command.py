"""What `jrgr derain` and `jrgr rainify` share: their options, and running the model's pipeline for a command
(progress, the statistics table, `--stats`, Ctrl-C / SIGTERM, exit codes). One source runs on the model's
`StreamPipeline`; several sources (`NAME=SOURCE` labels, `--cameras FILE`) or `--serve` run on `run_many`: one
backend for every camera, with the operator view."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.names import BACKENDS, BATCH_WINDOW_MS, INFER_WORKERS

if TYPE_CHECKING:
    from jrgr_deploy.runtime.frame_model import FrameModel
    from jrgr_deploy.runtime.pipeline import StreamPipeline

EXIT_INTERRUPTED = 130  # Ctrl-C; SIGTERM gives 143 (128 + the signal's number, as a shell reports it)
EXIT_FAILED = 2
MAX_QUEUE_SIZE = 256
MAX_BATCH_WINDOW_MS = 1000.0
MAX_INFER_WORKERS = 16


def add_stream_parser(
    subparsers: argparse._SubParsersAction, command: str, summary: str, description: str, net: str, output: str
) -> argparse.ArgumentParser:
    """The parser of a command that runs `net` over a stream, with the shared options; `output` says what the
    frames become. The command adds its own options to the parser returned."""
    parser = subparsers.add_parser(command, help=summary, description=description)
    parser.add_argument(
        "sources", nargs="*", metavar="SOURCE",
        help="video file, image folder/glob, camera index or stream URL; several run through one backend "
        "(NAME=SOURCE names a camera)",
    )  # fmt: skip
    parser.add_argument(
        "--cameras", metavar="FILE", help="a YAML or JSON list of cameras (name, source, [output], [live])"
    )
    parser.add_argument(
        "--weights",
        help=f"{net} as .onnx (ONNX Runtime), .plan/.engine (TensorRT) or .safetensors (PyTorch); "
        "default: the model shipped in the package",
    )
    parser.add_argument("--backend", choices=BACKENDS, help="inference backend (default: from the weights' suffix)")
    parser.add_argument(
        "--output", "-o",
        help="output video (.mp4/.avi), image folder, or 'null'; several cameras: a folder (DIR/NAME.mp4) or a "
        "template with {name}",
    )  # fmt: skip
    parser.add_argument("--side-by-side", action="store_true", help=f"write [input | {output}] frames")
    parser.add_argument("--stats", metavar="FILE.json", help="write latency statistics as JSON")
    parser.add_argument("--show", action="store_true", help="show the result in a window (needs OpenCV GUI)")
    parser.add_argument(
        "--infer-size",
        metavar="WxH|auto|full",
        default="auto",
        help="run the net at this size and apply the upsampled rain layer to the full-resolution frame; auto "
        "(default): the scale of the frames the model was trained on (its sidecar's train_frame_hw), frames "
        "larger than those being shrunk to it; full: the frame's own size",
    )
    parser.add_argument(
        "--live", action="store_true", help="treat a video file as a live camera at its frame rate (drops frames)"
    )
    parser.add_argument("--threads", type=int,
                        help=f"CPU threads for the backend, 1..{os.cpu_count() or 1} (default: physical cores)")
    parser.add_argument("--queue-size", type=int, default=4,
                        help=f"depth of the pipeline queues for files, 1..{MAX_QUEUE_SIZE} (default 4)")
    parser.add_argument("--batch-window", type=float, default=BATCH_WINDOW_MS, metavar="MS",
                        help="several live cameras: wait at most MS for cameras whose next frame is due, to run "
                        f"their frames in one call (0: never wait; default {BATCH_WINDOW_MS:g})")
    parser.add_argument("--infer-workers", default=INFER_WORKERS, metavar="N|auto",
                        help="several cameras: run up to N backend calls at once, a frame each (a backend that "
                        "takes concurrent calls: ONNX Runtime on the CPU); 1: one batched call at a time; auto "
                        "(default): the physical cores where the backend takes concurrent calls, else 1")
    parser.add_argument("--strict", action="store_true",
                        help="stop at an unreadable image of a folder (default: skip it with a warning, counted)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--reconnect-timeout", type=float, default=60.0, metavar="S",
        help="give a live source up after S seconds of failed reconnects (default 60)",
    )  # fmt: skip
    serve = parser.add_argument_group("operator view")
    serve.add_argument(
        "--serve", metavar="HOST:PORT",
        help="serve a page with every camera (rainy | derained), /api/stats, /metrics and /stream/NAME.mjpg "
        "(':8080' binds 127.0.0.1; another address needs a token)",
    )  # fmt: skip
    serve.add_argument("--token", help="access token of the operator view (HTTP Basic password or Bearer)")
    serve.add_argument("--token-file", metavar="FILE", help="read the access token from the file's first line")
    return parser


def _check_range(value: int | None, option: str, most: int, why: str) -> None:
    if value is not None and not 1 <= value <= most:
        raise JRGRError(f"{option} {value}: expected an integer from 1 to {most} ({why})")


def parse_infer_workers(text: str | int) -> int | str:
    """--infer-workers: 'auto' or a number of calls running at once, 1..MAX_INFER_WORKERS."""
    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if not 1 <= workers <= MAX_INFER_WORKERS:
        raise JRGRError(f"--infer-workers {text}: expected auto or an integer from 1 to {MAX_INFER_WORKERS} "
                        "(backend calls running at once)")
    return workers


def check_options(args: argparse.Namespace) -> None:
    """Refuse option values that cannot work, before anything opens (exit 2 with the value and the range)."""
    cpus = os.cpu_count() or 1
    _check_range(args.threads, "--threads", cpus, f"this machine has {cpus} logical CPUs")
    _check_range(args.queue_size, "--queue-size", MAX_QUEUE_SIZE, "frames held per queue")
    parse_infer_workers(args.infer_workers)
    if not 0 <= args.batch_window <= MAX_BATCH_WINDOW_MS:
        raise JRGRError(f"--batch-window {args.batch_window:g}: expected milliseconds from 0 to "
                        f"{MAX_BATCH_WINDOW_MS:g} (a frame may wait this long for the others of its call)")


def model_options(args: argparse.Namespace) -> dict[str, object]:
    """The `FrameModel` arguments the shared options give (the --infer-size text becomes (H, W) here)."""
    from jrgr_deploy.frames import parse_infer_size

    return {
        "weights": args.weights,
        "backend": args.backend,
        "infer_hw": parse_infer_size(args.infer_size),
        "side_by_side": args.side_by_side,
        "threads": args.threads,
    }


def run_model(model_class: type[FrameModel], args: argparse.Namespace, **model_args: object) -> int:
    """Run `model_class` (with the shared options and `model_args`) over the sources into `args.output`.

    Every option and output path is checked before the model loads and before anything is written: an output
    (or `--stats`) that is the source, lies inside a source folder or is the weights file is refused."""
    from jrgr_deploy.runtime.cameras import CameraSpec, parse_camera_arg
    from jrgr_deploy.runtime.sources import open_source

    check_options(args)
    options = model_options(args)  # a bad --infer-size fails before anything opens
    if not args.sources and not args.cameras:
        raise JRGRError("no source: give a SOURCE (several run through one backend; NAME=SOURCE names one) "
                        "or --cameras FILE")  # fmt: skip
    single = len(args.sources) == 1 and not args.cameras and not args.serve
    if not single or isinstance(parse_camera_arg(args.sources[0]), CameraSpec):
        return run_cameras(model_class, args, options, model_args)
    if args.token or args.token_file:
        raise JRGRError("--token / --token-file protect the operator view: use them with --serve HOST:PORT")
    source = open_source(args.sources[0], live=args.live, strict=args.strict)
    inputs = (*source.input_paths, *([Path(args.weights)] if args.weights else []))
    check_stats_path(args.stats, (*inputs, *([Path(args.output)] if args.output else [])))
    title = f"jrgr {model_class.command}"
    sinks = model_class.make_sinks(args.output, args.show, title, inputs=inputs)  # fails before the model loads
    with model_class(**options, **model_args) as model:  # type: ignore[arg-type]
        pipeline = model.pipeline(
            source, sinks, live=args.live, progress=not args.no_progress, queue_size=args.queue_size,
            reconnect_timeout_s=args.reconnect_timeout,
        )  # fmt: skip
        return run_stream(pipeline, args.stats, model_class.command)


def run_cameras(
    model_class: type[FrameModel], args: argparse.Namespace, options: dict[str, object], model_args: dict[str, object]
) -> int:
    """Several cameras (or one with --serve) through one backend: the table per camera, --stats, the operator
    view. Exit 0 when every camera ended cleanly, 2 when one failed (the others ran on); the first
    SIGINT/SIGTERM stops every camera after the frames it captured (130 / 143), a second one aborts."""
    from dataclasses import replace

    from jrgr_deploy.runtime.cameras import camera_outputs, camera_specs
    from jrgr_deploy.runtime.multi import MultiStream
    from jrgr_deploy.runtime.server import check_bind, parse_bind, read_token
    from jrgr_deploy.runtime.sources import open_source
    from jrgr_deploy.stop_signals import graceful_stop

    command = f"jrgr {model_class.command}"
    # Bad names, duplicates, camera files, unknown sources and outputs fail here, before the model loads.
    specs = camera_specs(args.sources, args.cameras)
    specs = [replace(spec, source=open_source(spec.source, live=args.live if spec.live is None else spec.live,
                                              strict=args.strict))
             for spec in specs]  # fmt: skip
    outputs = camera_outputs(specs, args.output)
    inputs = (*(path for spec in specs for path in spec.source.input_paths),  # type: ignore[union-attr]
              *([Path(args.weights)] if args.weights else []))  # fmt: skip
    check_stats_path(args.stats, (*inputs, *(Path(out) for out in outputs.values() if out and out != "null")))
    token = read_token(args.token, args.token_file)
    if args.serve:
        check_bind(parse_bind(args.serve)[0], token)
    elif token is not None:
        raise JRGRError("--token / --token-file protect the operator view: use them with --serve HOST:PORT")
    running: list[MultiStream] = []

    def request_stop(signum: int) -> None:
        for multi in running:
            multi.request_stop()

    def started(multi: MultiStream) -> None:
        running.append(multi)
        if stop.requested:  # the signal came while the model was getting ready
            multi.request_stop()

    with model_class(**options, **model_args) as model, graceful_stop(on_request=request_stop) as stop:  # type: ignore[arg-type]
        report = model.run_many(
            specs, args.output, serve=args.serve, token=token, live=args.live, show=args.show, strict=args.strict,
            progress=not args.no_progress, queue_size=args.queue_size, reconnect_timeout_s=args.reconnect_timeout,
            batch_window_ms=args.batch_window, infer_workers=parse_infer_workers(args.infer_workers), started=started,
        )  # fmt: skip
    print(report.table(), file=sys.stderr)
    if args.stats:
        print(f"{command}: statistics written to {report.write_json(args.stats)}", file=sys.stderr)
    for name, errors in report.errors.items():
        print(f"{command}: camera '{name}' failed: {'; '.join(errors)}", file=sys.stderr)
    if report.interrupted:
        print(f"{command}: interrupted; outputs finalised", file=sys.stderr)
        return stop.exit_code if stop.requested else EXIT_INTERRUPTED
    return EXIT_FAILED if report.errors else 0


def check_stats_path(stats_path: str | None, inputs: tuple[Path, ...]) -> None:
    """`--stats` must not replace an input or the output, and its folder must be writable — said now, not
    after the whole run."""
    if not stats_path:
        return
    from jrgr_deploy.output_files import check_not_input, ensure_parent

    check_not_input(stats_path, inputs, "--stats file")
    ensure_parent(stats_path, "--stats file", create=False)  # made when the statistics are written


def run_stream(pipeline: StreamPipeline, stats_path: str | Path | None, command: str) -> int:
    """Run `pipeline`; always print the statistics table and write `stats_path` (also after Ctrl-C
    or a source error, which is re-raised afterwards). The first SIGINT/SIGTERM stops capture, the frames
    already captured are written, and the exit code is 130 / 143; a second one aborts."""
    from jrgr_deploy.runtime.stats import format_table
    from jrgr_deploy.stop_signals import graceful_stop

    try:
        with graceful_stop(on_request=pipeline.request_stop) as stop:
            report = pipeline.run()
    finally:
        if pipeline.report is not None:
            print(format_table(pipeline.report.stats), file=sys.stderr)
            if stats_path:
                path = pipeline.stats.write_json(stats_path, **pipeline.report.stats["run"])
                print(f"jrgr {command}: statistics written to {path}", file=sys.stderr)
    if report.interrupted:
        print(f"jrgr {command}: interrupted; output finalised", file=sys.stderr)
        return stop.exit_code if stop.requested else EXIT_INTERRUPTED
    return 0


__all__ = [
    "EXIT_INTERRUPTED",
    "add_stream_parser",
    "check_options",
    "check_stats_path",
    "model_options",
    "run_cameras",
    "run_model",
    "run_stream",
]
