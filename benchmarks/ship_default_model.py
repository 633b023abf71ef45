"""Package a trained run as the embedded default model in `jrgr_deploy/weights/`.

    python benchmarks/ship_default_model.py --run benchmarks/work/quality/jrgr --data benchmarks/work/quality/data \
        --stage2 benchmarks/work/quality/jrgr/snapshots/stage2_step001000.safetensors \
        --calib ../shared/data/real-rain

Writes inference-only checkpoints (generators only: no discriminators, no resume state):
`jrgr_tiny.safetensors` (F_s, F_r, G_s, G_r after joint training) and `jrgr_tiny_stage1.safetensors`
(the supervised stage-1 F_s), then exports F_r and G_r with `jrgr export` to FP32 and the CPU INT8
(`int8-cpu`, ONNX Runtime's quantiser with the export's default options — the recipe BENCHMARKS.md's "INT8 on
the CPU" measured), calibrated on --calib (real rainy frames: a folder, a video or a data-set root; default the
data set's real-rain split), verified and gated on --val-rainy/--val-clean (default the data set's realistic
validation split). The net's size comes from the checkpoint's config; the sidecars record the size of the
frames it was trained on (`train_frame_hw`, measured from the training data its config names, or
--train-frame-size), which `--infer-size auto` uses. A reduced precision the gate refuses is not shipped (the
runtime then uses FP32) and is recorded as refused, with the gate's reason; a refused FP32 file, or an export
that fails, fails the script (exit 1). A summary for the model card goes to `jrgr_deploy/weights/shipped.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parents[1] / "jrgr_deploy" / "weights"


def strip_checkpoint(source: Path, target: Path, nets: tuple[str, ...]) -> None:
    """Copy `nets` of checkpoint `source` into a new checkpoint `target` (same config, stage, step)."""
    from jrgr_deploy.checkpoint import load_checkpoint, load_net, save_checkpoint

    checkpoint = load_checkpoint(source)
    modules = {name: load_net(checkpoint, name) for name in nets}
    save_checkpoint(target, config=checkpoint.config, nets=modules, stage=checkpoint.stage, step=checkpoint.step)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="run folder with stage1/stage2.safetensors")
    parser.add_argument("--data", type=Path, default=None,
                        help="its `jrgr data synth` data set (the defaults of --calib and --val-rainy/--val-clean)")
    parser.add_argument("--stage2", type=Path, default=None,
                        help="joint-training checkpoint to ship (default RUN/stage2.safetensors; e.g. a "
                             "validation-selected snapshot)")
    parser.add_argument("--stage1", type=Path, default=None,
                        help="the supervised stage-1 checkpoint (default RUN/stage1.safetensors)")
    parser.add_argument("--calib", type=Path, default=None,
                        help="real rainy frames to calibrate INT8 on (default DATA/train/real/rainy)")
    parser.add_argument("--calib-frames", type=int, default=32, help="calibration frames (default 32)")
    parser.add_argument("--val-rainy", type=Path, default=None, help="default DATA/val/realistic/rainy")
    parser.add_argument("--val-clean", type=Path, default=None, help="default DATA/val/realistic/clean")
    parser.add_argument("--verify-frames", type=int, default=16, help="validation pairs to gate on (default 16)")
    parser.add_argument("--train-frame-size", default=None, metavar="WxH",
                        help="the training frames' size for the sidecars (default: measured from the training "
                             "data the checkpoint's config names)")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    args = parser.parse_args(argv)

    from jrgr_deploy.checkpoint import checkpoint_sha256
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.export.accuracy import Gate
    from jrgr_deploy.export.exporter import ExportRequest, export_nets
    from jrgr_deploy.frames import parse_hw

    defaults = {"--calib": ("train", "real", "rainy"), "--val-rainy": ("val", "realistic", "rainy"),
                "--val-clean": ("val", "realistic", "clean")}
    for flag, parts in defaults.items():
        attribute = flag.removeprefix("--").replace("-", "_")
        if getattr(args, attribute) is None:
            if args.data is None:
                parser.error(f"{flag} or --data is needed")
            setattr(args, attribute, args.data.joinpath(*parts))

    args.out.mkdir(parents=True, exist_ok=True)
    final = args.out / "jrgr_tiny.safetensors"
    stage1 = args.out / "jrgr_tiny_stage1.safetensors"
    stage2 = args.stage2 or args.run / "stage2.safetensors"
    strip_checkpoint(stage2, final, ("f_s", "f_r", "g_s", "g_r"))
    strip_checkpoint(args.stage1 or args.run / "stage1.safetensors", stage1, ("f_s",))
    for stale in args.out.glob("*.onnx*"):
        stale.unlink()
    request = ExportRequest(
        out_dir=args.out, weights=final, nets=("f_r", "g_r"), precisions=("fp32", "int8-cpu"),
        calib=args.calib, calib_frames=args.calib_frames, val_rainy=args.val_rainy, val_clean=args.val_clean,
        verify_frames=args.verify_frames, gate=Gate(),
        train_frame_hw=parse_hw(args.train_frame_size, "--train-frame-size") if args.train_frame_size else None,
    )
    try:
        result = export_nets(request)
    except JRGRError as error:
        print(f"ship_default_model: the export failed: {error}", file=sys.stderr)
        return 1
    print(result.table)
    refused = [{"net": net, "precision": precision, "reason": reason} for net, precision, reason in result.refused]
    f_r = next((f.info for f in result.files if f.net == "f_r" and f.precision == "fp32"), None)
    shipped = {
        "source_run": str(args.run),
        "source_stage2": str(stage2),
        "data": str(args.data) if args.data else None,
        "calibration": str(args.calib),
        "validation": [str(args.val_rainy), str(args.val_clean)],
        "train_frame_hw": f_r.train_frame_hw if f_r else None,
        "int8_cpu_options": request.int8_cpu.describe(),
        "checkpoint_sha256": checkpoint_sha256(final),
        "stage1_sha256": checkpoint_sha256(stage1),
        "files": sorted(p.name for p in args.out.iterdir() if p.is_file() and p.name != "README.md"),
        "refused_by_the_gate": refused,
    }
    (args.out / "shipped.json").write_text(json.dumps(shipped, indent=2) + "\n")
    print(json.dumps(shipped, indent=2))
    refused_fp32 = [row for row in refused if row["precision"] == "fp32"]
    if refused_fp32:
        print(f"ship_default_model: the gate refused FP32, nothing usable was shipped: {refused_fp32}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
