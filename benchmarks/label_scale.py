"""How good are `jrgr adapt`'s first pseudo-labels when the starting net makes them on the footage enlarged?

    python benchmarks/label_scale.py --backgrounds ../shared/data/backgrounds --photo urban100/img_050

A diagnosis with the camera-adaptation benchmark's ground truth, which `jrgr adapt` never has: the camera of
`benchmarks/camera_adapt.py` (same clip, same `--photo`, `--seed`, size and rain), its first ``--adapt-frames``
rainy frames (the footage adaptation sees), every ``--every``-th of them. Each label is made as
`jrgr_deploy.training.data.make_pseudo_labels` makes it (`remove_rain_at_scale`: the frame with ``S`` of its
row-by-row dark-channel veil removed first, the recipe's patch and airlight share, then the starting net on it
enlarged ``F`` times, shrunk back) for every F of ``--scales`` and S of ``--veils``, and scored against the frame's
clean ground truth (PSNR-Y). Also reported: the starting net's own output on the later frames (the camera
benchmark's "shipped" row), for scale. Writes RESULTS/label_scale_<photo>.json; no BENCHMARKS.md section of its
own (the Camera adaptation section cites it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

logger = logging.getLogger("label_scale")


def label_table(frames: list, clean: list, weights: Path, scales: list[float], veils: list[float]) -> list[dict]:
    """[{scale, veil_strength, psnr_y}] of the labels of `frames` (uint8 RGB) made at each
    scale and veil strength, PSNR-Y against `clean`."""
    import numpy as np
    import torch

    from jrgr_deploy.app.adapt import SELF_TRAINING_RECIPE
    from jrgr_deploy.checkpoint import load_checkpoint, load_net
    from jrgr_deploy.metrics import psnr_y
    from jrgr_deploy.nn.build import size_multiple
    from jrgr_deploy.training.data import remove_rain_at_scale
    from jrgr_deploy.veil_removal import remove_row_veil

    recipe = dict(switch.split("=", 1) for switch in SELF_TRAINING_RECIPE)
    patch, airlight = float(recipe["loss.pl_veil_patch"]), float(recipe["loss.pl_airlight_fraction"])
    checkpoint = load_checkpoint(weights)
    f_r, multiple = load_net(checkpoint, "f_r"), size_multiple(checkpoint.config, "f_r")
    rows = []
    for veil in veils:
        unveiled = [remove_row_veil(frame, veil, patch, airlight) if veil else frame for frame in frames]
        for scale in scales:
            with torch.no_grad():
                labels = [remove_rain_at_scale(f_r, frame, scale, multiple) for frame in unveiled]
            score = float(np.mean([psnr_y(label, truth) for label, truth in zip(labels, clean, strict=True)]))
            rows.append({"scale": scale, "veil_strength": veil, "psnr_y": round(score, 3)})
            logger.info("scale %g, veil %g: labels %.2f dB PSNR-Y", scale, veil, score)
    return rows


def main(argv: list[str] | None = None) -> int:
    from camera_adapt import CAMERA_PHOTO, DEFAULT_BACKGROUNDS, add_clip_arguments, make_clips, score
    from machine import benchmark_logging, machine_report

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backgrounds", type=Path, default=DEFAULT_BACKGROUNDS)
    parser.add_argument("--photo", default=CAMERA_PHOTO)
    parser.add_argument("--weights", type=Path, default=None, help="start checkpoint (default: the shipped model)")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 1.5, 2.0, 2.5, 3.0])
    parser.add_argument("--veils", type=float, nargs="+", default=[0.0, 0.9])
    parser.add_argument("--every", type=int, default=5, help="label every N-th footage frame (default 5)")
    parser.add_argument("--work", type=Path, default=HERE / "work" / "camera_adapt")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    add_clip_arguments(parser)
    args = parser.parse_args(argv)
    benchmark_logging(quiet=())

    from jrgr_deploy.default_model import default_checkpoint
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.frames import parse_wh
    from jrgr_deploy.image_files import list_images, read_rgb

    try:
        args.size_wh = parse_wh(args.size, "--size")
        if args.every < 1 or any(scale < 1 for scale in args.scales):
            raise JRGRError("--every must be at least 1 and every --scales value at least 1")
        weights = args.weights or default_checkpoint()
        clips = make_clips(args)
        paths = list_images(args.work / "camera" / "rainy")[: args.adapt_frames: args.every]
        frames = [read_rgb(p) for p in paths]
        clean = [read_rgb(args.work / "camera" / "clean" / p.name) for p in paths]
        rows = label_table(frames, clean, Path(weights), args.scales, args.veils)
        later = score(Path(weights), clips["test"])["psnr_y"]
    except JRGRError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    command = "python benchmarks/label_scale.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results = {"benchmark": "label_scale", "command": command, "machine": machine_report(), "photo": args.photo,
               "weights": str(weights), "footage_frames_labelled": len(frames),
               "start_later_frames_psnr_y": round(later, 3), "rows": rows}
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"label_scale_{Path(args.photo).name.replace('img_', 'img')}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"the starting net on the later frames: {later:.2f} dB PSNR-Y")
    for row in rows:
        print(f"scale {row['scale']:g}, veil {row['veil_strength']:g}: labels {row['psnr_y']:.2f} dB PSNR-Y")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
