"""`jrgr export`: export F_r / G_r to ONNX, FP16/INT8, TensorRT engines or a Triton repository."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jrgr_deploy.errors import JRGRError

DESCRIPTION = """\
Export trained generators from a JRGR checkpoint. Each file is verified against the FP32 PyTorch net on
held-aside frames before it is written, and refused when it loses more than the gate allows.

Files (per net, e.g. f_r):
  f_r.onnx           FP32
  f_r.fp16.onnx      FP16 (ModelOpt AutoCast; float32 I/O)
  f_r.int8.onnx      INT8 explicit Q/DQ (ModelOpt) -- for TensorRT
  f_r.int8-cpu.onnx  INT8 (ONNX Runtime quantize_static; --int8-* options) -- for CPUs
  <file>.json        sidecar: checkpoint SHA-256, contract, precision, tool versions, accuracy
  --format engine:   also f_r.<precision>.<sm arch>.trt<major.minor>.plan (+ sidecar), needs [trt] and a GPU
  --format triton:   DIR becomes a Triton model repository: DIR/jrgr_f_r[_precision]/{config.pbtxt,1/model.onnx}

Graphs: f_r/f_s take 'rainy' (NCHW float32 RGB in [-1,1]) and return 'clean'; g_r takes 'rain_layer'
(R = O - B in [-2,2]) and returns 'real_rain_layer' (add it to a clean image: O = B + g_r(R)).
H and W must be multiples of the sidecar's size_multiple (16 for the tiny preset).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export F_r / G_r to ONNX, FP16/INT8, TensorRT engines or a Triton repository",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--weights", type=Path, default=None,
                        help="JRGR checkpoint (.safetensors); default: the model shipped in jrgr_deploy/weights/")
    parser.add_argument("--nets", nargs="+", default=["f_r", "g_r"], metavar="NET",
                        help="nets to export: f_r g_r (also f_s, g_s); default: f_r g_r")
    parser.add_argument("--out", type=Path, required=True, help="output folder (or Triton repository)")
    parser.add_argument("--format", dest="fmt", choices=("onnx", "engine", "triton"), default="onnx")
    parser.add_argument("--precision", nargs="+", default=["fp32"], metavar="P",
                        help="one or more of fp32 fp16 int8 int8-cpu (default fp32); all but fp32 need --calib")
    parser.add_argument("--calib", type=Path, default=None,
                        help="calibration frames: folder of rainy images, a video, or a data-set root")
    parser.add_argument("--calib-frames", type=int, default=16, help="calibration frames to use (default 16)")
    parser.add_argument("--calib-method", choices=("entropy", "max", "percentile"), default="entropy",
                        help="INT8 calibration (percentile: int8-cpu only); default entropy")
    int8 = _int8_defaults()
    parser.add_argument("--int8-per-channel", action=argparse.BooleanOptionalAction, default=int8.per_channel,
                        help=f"int8-cpu: one weight scale per output channel (default {int8.per_channel})")
    parser.add_argument("--int8-reduce-range", action=argparse.BooleanOptionalAction, default=int8.reduce_range,
                        help="int8-cpu: 7-bit weights, so AVX2 kernels (no VNNI) cannot saturate "
                             f"(default {int8.reduce_range})")
    parser.add_argument("--int8-activations", choices=("uint8", "int8-symmetric"), default=int8.activations,
                        help=f"int8-cpu: activation type (default {int8.activations})")
    parser.add_argument("--int8-keep-fp32", nargs="*", choices=("first-conv", "last-conv", "output"),
                        default=list(int8.keep_fp32), metavar="NODE",
                        help="int8-cpu: nodes left in FP32, some of first-conv last-conv output (default: "
                             f"{' '.join(int8.keep_fp32) or 'none'}; give the option alone for none)")
    parser.add_argument("--int8-percentile", type=float, default=int8.percentile,
                        help=f"int8-cpu, --calib-method percentile: share of values kept (default {int8.percentile})")
    parser.add_argument("--train-frame-size", default=None, metavar="WxH",
                        help="the size of the frames the checkpoint was trained on, recorded in the sidecar for "
                             "--infer-size auto (default: measured from the training data its config names)")
    parser.add_argument("--veil", type=float, default=0.0, metavar="S",
                        help="the veil strength written into F_r's sidecar: the runtime then removes this share of "
                             "the dark-channel veil after the net unless `jrgr derain --veil` says otherwise "
                             "(jrgr_deploy/veil_removal.py; default 0: off; `jrgr adapt` chooses it for a camera)")
    parser.add_argument("--tone", type=float, default=0.0, metavar="S",
                        help="a population tone map after F_r, written into its sidecar: the runtime re-tones each "
                             "derained frame S of the way (0-1) from the cell moments F_r leaves on --tone-real to "
                             "those of --tone-clean (jrgr_deploy/moment_transfer.py; default 0: none). It corrects "
                             "the veil F_r leaves on average; with clean images of other scenes than the footage "
                             "the scenes' difference is taken for veil, so give the same camera's dry footage")
    parser.add_argument("--tone-real", type=Path, default=None, metavar="SRC",
                        help="real rainy images the tone map is fitted on: a folder, a video")
    parser.add_argument("--tone-clean", type=Path, default=None, metavar="SRC",
                        help="clean images of like scenes: a folder, a video (at best the camera's dry footage)")
    parser.add_argument("--tone-light", choices=("match", "as-is"), default="match",
                        help="match (default): bring --tone-clean's light to --tone-real's, read through the veil "
                             "across the picture's cells, so that a dry day lit otherwise does not pass its light on "
                             "(for the same scene; kept as it is when the cells cannot tell); as-is: keep it")
    parser.add_argument("--shape", default=None,
                        help="NxCxHxW: fixed input shape (or the TensorRT profile's opt shape with --max-shape); "
                             "default: dynamic batch/H/W, verified at 640x360 padded to the size multiple")
    parser.add_argument("--min-shape", default=None, help="TensorRT profile min shape (default: --shape)")
    parser.add_argument("--max-shape", default=None,
                        help="TensorRT profile max shape; makes the ONNX dynamic (default: --shape)")
    parser.add_argument("--opset", type=int, default=19, help="ONNX opset (default 19; INT8 Q/DQ needs >= 19)")
    parser.add_argument("--max-drop-db", type=float, default=None,
                        help="gate with ground truth: largest deraining PSNR-Y drop vs FP32 allowed (default 1.0)")
    parser.add_argument("--min-psnr-db", type=float, default=None,
                        help="gate without ground truth (and for G nets): smallest PSNR vs FP32 PyTorch "
                             "allowed (default 30)")
    parser.add_argument("--val-rainy", type=Path, default=None, help="held-aside rainy frames with ground truth")
    parser.add_argument("--val-clean", type=Path, default=None, help="their clean ground truth (matched by name)")
    parser.add_argument("--verify-frames", type=int, default=4,
                        help="held-aside frames to verify on (default 4)")
    parser.add_argument("--workspace-mib", type=int, default=2048, help="TensorRT workspace limit (MiB)")
    parser.add_argument("--timing-cache", type=Path, default=None,
                        help="TensorRT timing cache file, reused across builds (default OUT/timing.cache)")
    parser.add_argument("--triton-max-batch", type=int, default=8, help="Triton max_batch_size (default 8)")
    parser.add_argument("--triton-instances", type=int, default=1, help="Triton instances per device (default 1)")
    parser.add_argument("--triton-device", choices=("gpu", "cpu"), default=None,
                        help="Triton instance kind (default: cpu for int8-cpu models, gpu otherwise)")
    parser.add_argument("--triton-plan", action="store_true",
                        help="serve TensorRT engines built here (platform tensorrt_plan) instead of ONNX")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    parser.set_defaults(func=run, needs=needs)


def _int8_defaults():  # -> Int8CpuOptions, imported late: building the parser loads no optional package
    from jrgr_deploy.export.precision import Int8CpuOptions

    return Int8CpuOptions()


def needs(args: argparse.Namespace) -> dict[str, str]:
    """The checkpoint is read with torch, traced to ONNX and simplified; every file is verified in ONNX
    Runtime; FP16 / ModelOpt INT8 need ModelOpt."""
    modules = {"torch": "export", "safetensors": "export", "onnx": "export", "onnxslim": "export",
               "onnxruntime": "cpu"}
    if {"fp16", "int8"} & set(args.precision):
        modules["modelopt"] = "export"
    return modules


def run(args: argparse.Namespace) -> int:
    import logging

    from jrgr_deploy.export.accuracy import DEFAULT_MAX_DROP_DB, DEFAULT_MIN_PSNR_DB, Gate
    from jrgr_deploy.export.exporter import ExportRequest, export_nets
    from jrgr_deploy.export.precision import Int8CpuOptions
    from jrgr_deploy.export.triton_repo import TritonOptions
    from jrgr_deploy.frames import parse_hw

    gate = Gate(
        max_drop_db=DEFAULT_MAX_DROP_DB if args.max_drop_db is None else args.max_drop_db,
        min_psnr_db=DEFAULT_MIN_PSNR_DB if args.min_psnr_db is None else args.min_psnr_db,
    )
    request = ExportRequest(
        out_dir=args.out, weights=args.weights, nets=tuple(dict.fromkeys(args.nets)), fmt=args.fmt,
        precisions=tuple(dict.fromkeys(args.precision)), calib=args.calib, calib_frames=args.calib_frames,
        calib_method=args.calib_method,
        int8_cpu=Int8CpuOptions(per_channel=args.int8_per_channel, reduce_range=args.int8_reduce_range,
                                activations=args.int8_activations, keep_fp32=tuple(args.int8_keep_fp32),
                                percentile=args.int8_percentile),
        train_frame_hw=parse_hw(args.train_frame_size, "--train-frame-size") if args.train_frame_size else None,
        veil_strength=args.veil, tone_strength=args.tone, tone_real=args.tone_real, tone_clean=args.tone_clean,
        tone_match_light=args.tone_light == "match",
        shape=args.shape, max_shape=args.max_shape, min_shape=args.min_shape,
        opset=args.opset, gate=gate, val_rainy=args.val_rainy, val_clean=args.val_clean,
        verify_frames=args.verify_frames, workspace_mib=args.workspace_mib, timing_cache=args.timing_cache,
        triton=TritonOptions(max_batch_size=args.triton_max_batch, instances=args.triton_instances,
                             device=args.triton_device, plan=args.triton_plan),
    )
    if not args.verbose:
        # ModelOpt logs every conversion step at INFO through its own handler; keep its warnings only.
        logging.getLogger("modelopt").setLevel(logging.WARNING)
    result = export_nets(request)
    if args.json:
        print(json.dumps({
            "files": [{"net": f.net, "precision": f.precision, "path": str(f.path)} for f in result.files],
            "refused": [{"net": n, "precision": p, "reason": r} for n, p, r in result.refused],
            "accuracy": [{"file": name, "precision": p, **report} for name, p, report, _ in result.rows],
        }, indent=2))
    else:
        print(result.table)
        for exported in result.files:
            print(f"wrote {exported.path}")
    if result.refused:
        reasons = "; ".join(f"{net} {precision}: {reason}" for net, precision, reason in result.refused)
        raise JRGRError(f"refused to write {len(result.refused)} file(s) that failed the accuracy gate: {reasons}")
    return 0
