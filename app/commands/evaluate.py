"""`jrgr eval`: PSNR/SSIM (Y channel and RGB) of rainy inputs or of a removal net against ground truth."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="PSNR/SSIM (Y and RGB) of rainy images, or of a removal net's output, against ground truth",
        description="Without --weights, scores the rainy input itself (the 'no deraining' row). With --weights, "
        "runs the removal net --net of that checkpoint over whole images (padded to its size multiple, eval "
        "mode) and scores its output.",
    )
    parser.add_argument("--rainy", required=True, type=Path, help="folder of rainy images")
    parser.add_argument("--clean", required=True, type=Path, help="folder of clean ground truth (matched by name)")
    parser.add_argument("--json", type=Path, default=None, help="write means and per-image rows here")
    parser.add_argument(
        "--weights", type=Path, default=None,
        help="a JRGR checkpoint (.safetensors), or 'default' for the model shipped in the package "
             "('default-stage1' for its supervised baseline)",
    )
    parser.add_argument("--net", choices=("f_r", "f_s"), default="f_r",
                        help="removal net of the checkpoint to run (default f_r, the real-rain remover)")
    parser.add_argument("--device", default="cpu", help="torch device for --weights (cpu, cuda, cuda:1)")
    parser.add_argument("--batch-size", type=int, default=4, help="images per forward pass (same-size images)")
    parser.set_defaults(func=run, needs=needs)


def needs(args: argparse.Namespace) -> dict[str, str]:
    """Scoring the rainy input is numpy + OpenCV; running a checkpoint's net needs torch."""
    return {"torch": "train", "safetensors": "train"} if args.weights is not None else {}


def _score_rainy_input(args: argparse.Namespace, pairs: list) -> dict:
    from tqdm import tqdm

    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.image_files import read_rgb
    from jrgr_deploy.metrics import mean_scores, score

    rows, scores = [], []
    for rainy_path, clean_path in tqdm(pairs, desc="eval", unit="img"):
        rainy, clean = read_rgb(rainy_path), read_rgb(clean_path)
        if rainy.shape != clean.shape:
            raise JRGRError(f"'{rainy_path}' is {rainy.shape[:2]} but '{clean_path}' is {clean.shape[:2]}")
        image_scores = score(rainy, clean)
        scores.append(image_scores)
        rows.append({"name": rainy_path.name, **image_scores.as_dict()})
    return {"n": len(rows), "net": "none (rainy input)", **mean_scores(scores), "images": rows}


def run(args: argparse.Namespace) -> int:
    from jrgr_deploy.pairing import match_pairs

    pairs = match_pairs(args.rainy, args.clean)
    if str(args.weights) in ("default", "default-stage1"):
        from jrgr_deploy.default_model import default_checkpoint

        args.weights = default_checkpoint(stage1=str(args.weights) == "default-stage1")
    if args.weights is None:
        report = _score_rainy_input(args, pairs)
    else:
        from jrgr_deploy.training.evaluate import evaluate_checkpoint

        report = evaluate_checkpoint(args.weights, args.net, pairs, device=args.device,
                                     batch_size=args.batch_size, progress=True)
    print(
        f"{report['net']}: n={report['n']}  PSNR-Y {report['psnr_y']:.2f} dB  SSIM-Y {report['ssim_y']:.4f}  "
        f"PSNR-RGB {report['psnr_rgb']:.2f} dB  SSIM-RGB {report['ssim_rgb']:.4f}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        logger.info("wrote %s", args.json)
    return 0
