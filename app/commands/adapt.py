"""`jrgr adapt`: from a camera's rainy footage to a derain model for that camera (see `jrgr_deploy.app.adapt`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    from jrgr_deploy.app.adapt import RECIPES, SCENE_GUARD_DB, SELF_TRAINING_START_SHARE, SNAPSHOTS

    parser = subparsers.add_parser(
        "adapt", help="adapt the default model to one camera's rainy footage, export it, show before/after",
        description="Trains the shipped model further on FOOTAGE within --minutes and exports it to OUT/f_r.onnx "
        "with OUT/before_after.png, selected on a proxy validation with ground truth (model-B rain on held-out dry "
        "frames or clean photographs; never worse than the starting model there). Recipe self-training (the "
        "default without --dry): F_r learns pseudo-labels of the footage (each frame with 0.9 of its row-by-row "
        "veil removed, derained by the starting net; their detail made again twice) while held to the starting "
        "net on synthetic rainy images of other scenes (half of them under a veil); the latest snapshot not worse "
        "than the start is exported without the veil stage, its weights mixed with the starting net's "
        "(--start-share). Recipe joint (the default with --dry): JRGR+ joint training with FOOTAGE as the real "
        "rain domain, chosen together with the strength of the runtime's veil "
        f"removal (jrgr derain --veil, into the sidecar); without --dry also within {SCENE_GUARD_DB:g} dB of the "
        "start on a scene guard (model-B rain on temporal medians of the footage), so the camera's scene is kept. "
        "Run the same command again after Ctrl-C to resume.",
    )
    parser.add_argument("footage", help="rainy footage: a video file, an image folder, a camera index or a URL")
    parser.add_argument("--out", type=Path, required=True, help="output folder (f_r.onnx, before_after.png, work/)")
    parser.add_argument("--dry", default=None,
                        help="dry-weather footage of the same camera: synthetic pairs are rendered on it, D_B "
                        "sees its clean scenes, and F_r also trains on those pairs re-toned to the rainy footage's "
                        "moments (video, folder, camera or URL)")
    parser.add_argument("--tone", type=float, default=None, metavar="S",
                        help="with --dry: the strength of the population tone map written into the sidecar, fitted "
                             "between the adapted net's outputs on the footage and the dry footage, the dry "
                             "footage's light first brought to the footage's (0-1; default 1; 0: none; "
                             "`jrgr export --tone`)")
    parser.add_argument("--minutes", type=float, default=20.0, help="time budget in minutes (default 20)")
    parser.add_argument("--iterations", type=int, default=None,
                        help="train exactly this many steps instead of fitting --minutes (equal budgets in "
                        "benchmarks on a shared machine)")
    parser.add_argument("--weights", type=Path, default=None,
                        help="checkpoint to start from (default: the shipped JRGR checkpoint)")
    parser.add_argument("--clean", type=Path, default=None, dest="clean_photos",
                        help="clean photographs for the synthetic pairs when there is no --dry (default: the "
                        "photographs scikit-image ships)")
    parser.add_argument("--frame-width", type=int, default=640,
                        help="footage frames are shrunk to this width, the scale the model runs at (default 640)")
    parser.add_argument("--max-frames", type=int, default=300, help="frames kept from the footage (default 300)")
    parser.add_argument("--record-seconds", type=float, default=60.0,
                        help="how long to record a camera or stream (default 60)")
    parser.add_argument("--recipe", choices=RECIPES, default=None,
                        help="self-training (F_r on the footage's pseudo-labels, held to the starting net on other "
                        "scenes and taught synthetic pairs of them; the default without --dry) or joint (JRGR+ "
                        "joint training; the default with --dry)")
    parser.add_argument("--start-share", type=float, default=None, metavar="S",
                        help="self-training: the share of the starting net's weights in the exported net, a "
                        "weight-space average with the selected snapshot (0-1; default "
                        f"{SELF_TRAINING_START_SHARE:g}; 0: the snapshot as it is); on a finished run the same "
                        "command with another S mixes again without training")
    parser.add_argument("--snapshot", choices=SNAPSHOTS, default="rule",
                        help="self-training: which snapshot is exported: rule (default; the latest not worse than "
                        "the start on the proxy validation, else the last one mixed with more of the start, else "
                        "the start) or last (the last one whatever the proxy says, mixed by --start-share; when the "
                        "rule did not deploy it so, the before/after sheet shows the last snapshot's column to judge "
                        "by); on a finished run no step is trained")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a training config value of the recipe (repeatable)")
    parser.set_defaults(func=run, needs=needs)


def needs(args: argparse.Namespace) -> dict[str, str]:
    """Adaptation trains (torch), renders data (scikit-image photographs by default) and exports (onnx)."""
    return {"torch": "train", "safetensors": "train", "yaml": "train", "matplotlib": "train", "onnx": "export",
            "onnxruntime": "cpu"}


def run(args: argparse.Namespace) -> int:
    from jrgr_deploy.app.adapt import AdaptRequest, adapt
    from jrgr_deploy.errors import JRGRError

    for name, value in (("--frame-width", args.frame_width), ("--max-frames", args.max_frames)):
        if value < 16:
            raise JRGRError(f"{name} must be at least 16, got {value}")
    result = adapt(AdaptRequest(
        footage=args.footage, out_dir=args.out, dry=args.dry, minutes=args.minutes, weights=args.weights,
        clean_photos=args.clean_photos, frame_width=args.frame_width, max_frames=args.max_frames,
        record_seconds=args.record_seconds, overrides=tuple(args.overrides), iterations=args.iterations,
        recipe=args.recipe, tone=args.tone, start_share=args.start_share, snapshot=args.snapshot,
    ))
    if result.selected_step or result.veil_strength or result.tone_strength:
        state = "adapted"
    else:
        state = "kept the starting model (nothing beat it within the rules)"
    veil = f", veil removal {result.veil_strength:g} in the sidecar" if result.veil_strength else ""
    veil += f", tone map {result.tone_strength:g} in the sidecar" if result.tone_strength else ""
    veil += f", {result.start_share:g} of the start's weights" if result.start_share else ""
    print(f"{state}: proxy-val PSNR-Y {result.start_psnr_y:.2f} -> {result.selected_psnr_y:.2f} dB "
          f"(step {result.selected_step} of {result.iterations}{veil})")
    print(f"model: {result.onnx}\nbefore/after: {result.sheet}\nrun it:\n  {result.derain_command}")
    if result.start_share:  # the share is a trade between cameras (app/adapt.py, "Why the mix"): the user's to change
        print("another mix: the same command with --start-share S mixes again without training (higher S: nearer "
              "the starting model, where the sheet's adapted column darkens a sky; 0: the snapshot as it is)")
    if result.last_step_shown:  # the proxy is other scenes: the sheet shows what the run learnt on this camera
        print(f"the last snapshot (step {result.last_step_shown}) is the sheet's last column, not deployed: if it "
              "looks better on your camera, the same command with --snapshot last --start-share 0 deploys it as "
              "shown (--snapshot last alone: mixed with the starting model) without training")
    return 0
