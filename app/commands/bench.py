"""`jrgr bench`: quick latency of one artefact or checkpoint on one backend (p50/p95/p99, fps)."""

from __future__ import annotations

import argparse

from jrgr_deploy.names import BACKENDS

DESCRIPTION = """\
Time one network file on one backend: warm-up calls, then timed calls on a WxH input (padded up to the
net's size multiple, as the runtime pads camera frames). Prints p50/p95/p99 latency and throughput; for
ONNX files also the FLOPs per frame and the achieved GFLOP/s. The full comparison of backends, precisions
and sizes is benchmarks/latency.py (same timing code).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="latency of an artefact or checkpoint on one backend (p50/p95/p99, fps)",
        description=DESCRIPTION,
    )
    parser.add_argument("weights", metavar="ARTEFACT_OR_CKPT",
                        help=".onnx (ONNX Runtime), .plan/.engine (TensorRT) or .safetensors checkpoint (PyTorch)")
    parser.add_argument("--backend", choices=BACKENDS, help="default: from the file's suffix")
    parser.add_argument("--size", default="1280x720", metavar="WxH", help="frame size (default 1280x720)")
    parser.add_argument("--iters", type=int, default=20, help="timed calls (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up calls (default 3)")
    parser.add_argument("--batch", type=int, default=1, help="frames per call (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: physical cores)")
    parser.add_argument("--net", default="f_r", help="net inside a checkpoint (torch backend; default f_r)")
    parser.add_argument("--json", metavar="OUT.json", default=None, help="also write the result as JSON")
    parser.set_defaults(func=run)


def _flops_per_frame(path: str, shape: tuple[int, ...]) -> float | None:
    """FLOPs of one frame of an ONNX file (None for other files, or without the `onnx` package)."""
    import importlib.util
    import logging
    from pathlib import Path

    if Path(path).suffix.lower() != ".onnx":
        return None
    if importlib.util.find_spec("onnx") is None:
        logging.getLogger(__name__).info("FLOPs per frame need the onnx package: pip install 'jrgr-deploy[export]'")
        return None
    from jrgr_deploy.flops import count_flops

    return count_flops(path, shape).flops / shape[0]


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from jrgr_deploy.frames import parse_wh
    from jrgr_deploy.runtime.backends import open_backend
    from jrgr_deploy.runtime.call_latency import bench_batch, time_call

    width, height = parse_wh(args.size, "--size")
    with open_backend(args.weights, args.backend, net=args.net, threads=args.threads) as backend:
        batch = bench_batch(backend.input_contract, (height, width), args.batch)
        timing = time_call(lambda: backend(batch), warmup=args.warmup, iters=args.iters)
        described = backend.describe()
        result = {
            "weights": str(Path(args.weights)),
            "backend": backend.name,
            "device": backend.device,
            "precision": backend.input_contract.precision,
            "frame_wh": [width, height],
            "input_shape": list(batch.shape),
            "threads": args.threads,
            "load_average": [round(v, 2) for v in os.getloadavg()],
            "latency_ms": timing.summary(),
        }
    flops = _flops_per_frame(args.weights, tuple(batch.shape))
    p50 = result["latency_ms"]["p50"]
    fps = result["latency_ms"]["throughput_fps"] * batch.shape[0]
    result["throughput_frames_per_s"] = round(fps, 3)
    if flops is not None:
        result["gflop_per_frame"] = round(flops / 1e9, 3)
        result["achieved_gflop_per_s"] = round(flops * batch.shape[0] / (p50 / 1e3) / 1e9, 2)
    n, _, h, w = batch.shape
    lat = result["latency_ms"]
    print(f"{described}: input {n}x3x{h}x{w} (frame {width}x{height}), "
          f"{args.warmup} warm-up + {args.iters} timed calls")
    print(f"latency ms: p50 {lat['p50']:.1f}  p95 {lat['p95']:.1f}  p99 {lat['p99']:.1f}  "
          f"mean {lat['mean']:.1f}  max {lat['max']:.1f}")
    line = f"throughput: {fps:.2f} frames/s"
    if flops is not None:
        line += f"; {flops / 1e9:.1f} GFLOP/frame -> {result['achieved_gflop_per_s']:.1f} GFLOP/s at p50"
    print(line)
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written to {out}")
    return 0
