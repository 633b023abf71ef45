"""`jrgr eval`: PSNR/SSIM (Y channel and RGB) of rainy inputs or of a removal net against ground truth; on clips
(video files, or frame folders with --temporal) the temporal scores too: residual flicker and moving-region
PSNR/SSIM-Y (`jrgr_deploy.temporal_metrics`)."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from jrgr_deploy.runtime.sources import FrameSource

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="PSNR/SSIM (Y and RGB) of rainy images, or of a removal net's output, against ground truth; "
        "flicker and moving-region scores of clips",
        description="Without --weights, scores the images given as --rainy themselves (the rainy input: the 'no "
        "deraining' row; or any restored output). With --weights, runs the removal net --net of that checkpoint "
        "over whole images (padded to its size multiple, eval mode) and scores its output; an exported F_r file "
        "(.onnx, or a TensorRT .plan/.engine) is run as `jrgr derain --weights FILE --infer-size full` runs it "
        "(its backend, its sidecar's veil and tone) and scored the same way. When --rainy or "
        "--clean is a video file, or with --temporal, both are scored as clips (frames in order; two folders are "
        "matched by name): PSNR/SSIM-Y per frame, residual flicker (mean |change between consecutive frames of "
        "(restored - clean)| on Y, 0-255) and PSNR/SSIM-Y on the moving region (pixels whose clean Y changes "
        "by more than --motion-threshold levels from the previous frame).",
    )
    parser.add_argument("--rainy", required=True, type=Path,
                        help="folder of rainy (or restored) images, or a video file")
    parser.add_argument("--clean", required=True, type=Path,
                        help="folder of clean ground truth (matched by name), or a video file")
    parser.add_argument("--temporal", action="store_true",
                        help="score two frame folders as clips, with the temporal scores (automatic for videos)")
    parser.add_argument("--motion-threshold", type=float, default=None, metavar="LEVELS",
                        help="clips: the moving region is where the clean Y changes by more than this (0-255 "
                             "levels; default 8)")
    parser.add_argument("--json", type=Path, default=None, help="write means and per-image rows here")
    parser.add_argument(
        "--weights", type=Path, default=None,
        help="a JRGR checkpoint (.safetensors), or 'default' for the model shipped in the package "
             "('default-stage1' for its supervised baseline), or an exported F_r file (.onnx, .plan/.engine: "
             "e.g. an INT8 file, checked on your own pairs)",
    )
    parser.add_argument("--net", choices=("f_r", "f_s"), default="f_r",
                        help="removal net of the checkpoint to run (default f_r, the real-rain remover)")
    parser.add_argument("--device", default="cpu", help="torch device for --weights (cpu, cuda, cuda:1)")
    parser.add_argument("--batch-size", type=int, default=4, help="images per forward pass (same-size images)")
    parser.set_defaults(func=run, needs=needs)


def needs(args: argparse.Namespace) -> dict[str, str]:
    """Scoring the rainy input is numpy + OpenCV; running a checkpoint's net needs torch (an exported file's
    backend checks its own library when it loads)."""
    return {"torch": "train", "safetensors": "train"} if _is_checkpoint(args.weights) else {}


def _is_checkpoint(weights: Path | None) -> bool:
    """Whether --weights names a checkpoint (run by torch) rather than an exported file or nothing."""
    from jrgr_deploy.runtime.backends import CHECKPOINT_SUFFIXES

    return weights is not None and (str(weights) in ("default", "default-stage1")
                                     or weights.suffix.lower() in CHECKPOINT_SUFFIXES)


def _score_pairs(pairs: list, restore: Callable[[np.ndarray], np.ndarray]) -> tuple[list, dict]:
    """Each (rainy, clean) pair scored as `restore(rainy RGB)` against the clean image -> (per-image rows, means)."""
    from tqdm import tqdm

    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.image_files import read_rgb
    from jrgr_deploy.metrics import mean_scores, score

    rows, scores = [], []
    for rainy_path, clean_path in tqdm(pairs, desc="eval", unit="img"):
        rainy, clean = read_rgb(rainy_path), read_rgb(clean_path)
        if rainy.shape != clean.shape:
            raise JRGRError(f"'{rainy_path}' is {rainy.shape[:2]} but '{clean_path}' is {clean.shape[:2]}")
        image_scores = score(restore(rainy), clean)
        scores.append(image_scores)
        rows.append({"name": rainy_path.name, **image_scores.as_dict()})
    return rows, mean_scores(scores)


def _score_rainy_input(args: argparse.Namespace, pairs: list) -> dict:
    rows, means = _score_pairs(pairs, lambda rainy: rainy)
    return {"n": len(rows), "net": "none (rainy input)", **means, "images": rows}


def _score_artefact(args: argparse.Namespace, pairs: list) -> dict:
    """An exported F_r file on whole images, through the runtime (`Deraining`, infer size full: the backend, its
    sidecar's veil and tone): what `jrgr derain --weights FILE --infer-size full` writes, scored."""
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.runtime import Deraining
    from jrgr_deploy.runtime.backends import ENGINE_SUFFIXES, ONNX_SUFFIXES

    if args.weights.suffix.lower() not in ONNX_SUFFIXES + ENGINE_SUFFIXES:
        raise JRGRError(f"--weights '{args.weights}': expected a checkpoint (.safetensors), 'default', or an "
                        f"exported F_r file ({', '.join(ONNX_SUFFIXES + ENGINE_SUFFIXES)})")
    if args.net != "f_r":
        raise JRGRError(f"--net {args.net} picks a net inside a checkpoint; an exported file holds one net and is "
                        "scored as F_r (what jrgr derain runs): pass the checkpoint to score its F_s")
    with Deraining(args.weights, infer_hw=None) as derain:  # BGR frames in and out
        rows, means = _score_pairs(pairs, lambda rainy: derain(rainy[..., ::-1])[..., ::-1])
        backend, precision = derain.backend.name, derain.backend.input_contract.precision
    return {"n": len(rows), "net": f"f_r ({precision}, {backend})", "weights": str(args.weights),
            "precision": precision, "backend": backend, **means, "images": rows}


def _frames_rgb(source: FrameSource) -> Iterator[np.ndarray]:
    with source:
        while (frame := source.read()) is not None:
            yield frame[..., ::-1]


def _clip_sources(restored: Path, clean: Path) -> tuple[FrameSource, FrameSource]:
    """The two clips as frame sources: two folders name-matched (sorted by name), else each in its own order."""
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.runtime.sources import ImageFilesSource, VideoFileSource, open_source

    if restored.is_dir() and clean.is_dir():
        from jrgr_deploy.pairing import match_pairs

        pairs = match_pairs(restored, clean)
        return (ImageFilesSource([r for r, _ in pairs], f"image folder '{restored}'"),
                ImageFilesSource([c for _, c in pairs], f"image folder '{clean}'"))
    sources = []
    for path in (restored, clean):
        if not path.exists():
            raise JRGRError(f"'{path}' does not exist: expected a video file or a folder of frames")
        source = open_source(path)
        if not isinstance(source, VideoFileSource | ImageFilesSource):
            raise JRGRError(f"'{path}' is not a video file or a folder of frames")
        sources.append(source)
    return sources[0], sources[1]


def _score_clips(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.temporal_metrics import MOTION_THRESHOLD_Y, TemporalScorer

    if args.weights is not None:
        raise JRGRError(
            "--weights scores still images; to score a model on a clip, derain it first (jrgr derain CLIP "
            "--output FRAMES_DIR, with or without --temporal) and eval that output against the clean clip"
        )
    scorer = TemporalScorer(MOTION_THRESHOLD_Y if args.motion_threshold is None else args.motion_threshold)
    restored_source, clean_source = _clip_sources(args.rainy, args.clean)
    clean_frames = _frames_rgb(clean_source)
    for restored in tqdm(_frames_rgb(restored_source), desc="eval", unit="frame", total=restored_source.frame_count):
        clean = next(clean_frames, None)
        if clean is None:
            raise JRGRError(f"'{args.rainy}' has more frames than '{args.clean}' ({scorer.frames})")
        if restored.shape != clean.shape:
            raise JRGRError(f"frame {scorer.frames}: '{args.rainy}' is {restored.shape[1]}x{restored.shape[0]} but "
                            f"'{args.clean}' is {clean.shape[1]}x{clean.shape[0]} (WxH)")
        scorer.add(restored, clean)
    if next(clean_frames, None) is not None:
        raise JRGRError(f"'{args.clean}' has more frames than '{args.rainy}' ({scorer.frames})")
    scores = scorer.result()
    print(f"clip: {scores.summary()}")
    return {"n": scores.frames, "net": "none (the clip as given)", "restored": str(args.rainy),
            "clean": str(args.clean), **scores.as_dict()}


def run(args: argparse.Namespace) -> int:
    from jrgr_deploy.errors import JRGRError
    from jrgr_deploy.video_files import is_video_path

    if args.motion_threshold is not None and not args.motion_threshold >= 0:
        raise JRGRError(f"--motion-threshold must be >= 0 (Y levels), got {args.motion_threshold}")
    if str(args.weights) in ("default", "default-stage1"):
        from jrgr_deploy.default_model import default_checkpoint

        args.weights = default_checkpoint(stage1=str(args.weights) == "default-stage1")
    if args.temporal or any(is_video_path(path) for path in (args.rainy, args.clean)):
        return _write_json(args, _score_clips(args))
    from jrgr_deploy.pairing import match_pairs

    pairs = match_pairs(args.rainy, args.clean)
    if args.weights is None:
        report = _score_rainy_input(args, pairs)
    elif not _is_checkpoint(args.weights):
        report = _score_artefact(args, pairs)
    else:
        from jrgr_deploy.training.evaluate import evaluate_checkpoint

        report = evaluate_checkpoint(args.weights, args.net, pairs, device=args.device,
                                     batch_size=args.batch_size, progress=True)
    print(
        f"{report['net']}: n={report['n']}  PSNR-Y {report['psnr_y']:.2f} dB  SSIM-Y {report['ssim_y']:.4f}  "
        f"PSNR-RGB {report['psnr_rgb']:.2f} dB  SSIM-RGB {report['ssim_rgb']:.4f}"
    )
    return _write_json(args, report)


def _write_json(args: argparse.Namespace, report: dict) -> int:
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        logger.info("wrote %s", args.json)
    return 0
