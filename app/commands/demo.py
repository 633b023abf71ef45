"""`jrgr demo`: the main job — a rainy 1280x720 clip, derained as a stream with the default model."""

from __future__ import annotations

import argparse
from pathlib import Path

from jrgr_deploy.names import BACKENDS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the main job: render a rainy 1280x720 clip and derain it as a stream with the default model",
    )
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default: demo_out)")
    parser.add_argument("--weights", type=Path, default=None, help="F_r artefact (default: the packaged model)")
    parser.add_argument("--backend", choices=BACKENDS, default=None, help="backend (default: by the artefact's suffix)")
    parser.add_argument("--frames", type=int, default=48, help="clip length in frames (default 48)")
    parser.add_argument("--size", default="1280x720", help="clip size WxH (default 1280x720)")
    parser.add_argument("--infer-size", default=None, metavar="WxH|auto|full",
                        help="size the net runs at (default: 0.3 x the clip's size, 384x216 for 1280x720, the "
                             "demo's real-time setting on 2 CPU cores; auto: the scale the model was trained on, "
                             "jrgr derain's default; full: the clip's size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run, needs=needs)


def needs(args: argparse.Namespace) -> dict[str, str]:
    """The clip is rendered from the bundled street photograph; the default model runs in ONNX Runtime."""
    modules: dict[str, str] = {}
    if args.backend is None or args.backend.startswith("onnxruntime"):
        modules["onnxruntime"] = "cpu"
    return modules


def run(args: argparse.Namespace) -> int:
    from jrgr_deploy.app.demo import REALTIME, run_demo
    from jrgr_deploy.frames import parse_infer_size, parse_wh

    width, height = parse_wh(args.size, "--size")
    infer_hw = REALTIME if args.infer_size is None else parse_infer_size(args.infer_size)
    run_demo(args.out, weights=args.weights, backend=args.backend, n_frames=args.frames, width=width,
             height=height, infer_hw=infer_hw, seed=args.seed)
    return 0
