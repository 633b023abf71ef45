"""Temporal stability of derained video: per-frame deraining against temporal filters, fixed and moving camera.

    python benchmarks/temporal.py                                  # backgrounds from ../shared/data/backgrounds
    python benchmarks/temporal.py --backgrounds DIR --only quality # the clips' scores (no timing)
    python benchmarks/temporal.py --only cost                      # the stabiliser's cost (quiet machine)
    python benchmarks/temporal.py --only cost --cost-without-net   # the stabiliser alone, wall and CPU time (busy)
    python benchmarks/temporal.py --quick --backgrounds DIR --out /tmp/t   # CI smoke: 160x96, 8 frames

1. Two clips with ground truth, rendered deterministically from photographs (written as lossless PNG frames under
   benchmarks/work/temporal/, never committed):
   - fixed camera: people-like figures (head + body masks filled with patches of BSD68 photographs) walk across
     an Urban100 street scene at walking speed, sized and placed in perspective;
   - moving camera: dash-camera-like forward motion (a zoom towards the street's vanishing point with a slight
     sway) into an Urban100 street photograph;
   both under temporal model-B rain (`RainSequence("realistic", "medium")`: the drops fall between frames).
2. Rows: the rainy input; per-frame deraining with the default model (file and SHA-256 recorded, so the benchmark
   re-runs unchanged when the shipped model is replaced); `jrgr derain --temporal` (the runtime's stabiliser, run
   through `Deraining(temporal=True)` on the frames as a file); a 5-frame temporal median of the per-frame output
   (centred: 2 frames of look-ahead, not causal); a plain recursive filter (no motion adaptation); per-frame and
   `--temporal` deraining with `--veil 0.3` (the veil stage estimates its airlight and transmission per frame: does
   it flicker, and what does it do where people move?). Scores from
   `jrgr_deploy.temporal_metrics`: residual flicker, PSNR-Y, SSIM-Y, moving-region PSNR-Y / SSIM-Y.
3. Cost of the stabiliser per 1280x720 frame, on both clips' frames upscaled to 1280x720: (a) alone: the pipeline's
   own "temporal" stage (luma, camera motion, filter, correction) timed around each frame's postprocess, and what
   it adds to postprocess in all (the same output postprocessed without it, paired), frames in order, interleaved
   with the backend's inference on the same frames (the ratio to inference holds on a shared machine); (b) in the
   streaming pipeline: `jrgr derain CLIP.mp4 --temporal --stats` on a 1280x720 video,
   the "temporal" row of its latency table, and its throughput against the same command without --temporal.
   (c) the same as a live camera the backend keeps up with (`jrgr derain --live`, the frames at 0.8 x the per-frame
   file throughput), with and without --temporal: the "temporal" row and the capture-to-output time it adds.
   The goal is judged on (a) and (c); (b), where capture, inference and writing are busy at once, shows a stage's
   share of the two cores rather than its cost.
   (a) also gives the CPU time the stabiliser adds to postprocess (all the process's threads; unlike wall time it
   does not grow while other jobs hold the cores). `--cost-without-net` measures (a) only, with the rainy frame
   standing in for the net's output (the stabiliser does the same work on it; no inference, no `jrgr derain` runs):
   seconds instead of minutes on a machine whose cores are busy with other work.

Writes benchmarks/results/temporal.json, temporal.png and the "Temporal stability" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import rel  # noqa: E402
from machine import benchmark_logging, machine_report  # noqa: E402
from markdown_sections import add_output_arguments, publish_section, resolve_markdown  # noqa: E402
from stream import end_to_end  # noqa: E402

from jrgr_deploy.errors import JRGRError  # noqa: E402
from jrgr_deploy.video_files import write_video  # noqa: E402

logger = logging.getLogger("temporal")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BACKGROUNDS = REPO.parent / "shared" / "data" / "backgrounds"
DEFAULT_OUT = REPO / "benchmarks" / "results"
DEFAULT_WORK = REPO / "benchmarks" / "work" / "temporal"
DEFAULT_MARKDOWN = REPO / "BENCHMARKS.md"
SECTION = "Temporal stability"
FIXED_PHOTO = "urban100/img_070.jpg"  # a plaza in front of a building: room for people to walk
MOVING_PHOTO = "urban100/img_094.jpg"  # a street with parked cars, vanishing point at about (0.43, 0.52)
MOVING_VANISHING_POINT = (0.43, 0.52)
PEOPLE_FOLDER = "bsd68"
WALKING_SPEED_M_S = 1.4
PERSON_HEIGHT_M = 1.7
DATA_SOURCE = (
    "Urban100 (Huang, Singh, Ahuja, CVPR 2015: street and building scenes) and BSD68 (Martin et al., ICCV 2001: "
    "people and natural scenes), as collected in the denoising-benchmark mirror majedelhelou/denoising_datasets; "
    "the folder needs urban100/ and bsd68/ inside"
)
METHODS = ("rainy", "per_frame", "temporal", "median5", "recursive", "per_frame_veil", "temporal_veil")
VEIL = 0.3  # `jrgr derain --veil`'s strength chosen on the veil benchmark's proxy (BENCHMARKS.md, "Veil removal")
LABELS = {
    "rainy": "rainy input",
    "per_frame": "per-frame deraining",
    "temporal": "`--temporal` (causal stabiliser)",
    "median5": "5-frame temporal median (centred, 2 frames look-ahead)",
    "recursive": "plain recursive filter (α = 0.8, no motion adaptation)",
    "per_frame_veil": f"per-frame deraining + `--veil {VEIL:g}` (veil removal after the net, per frame)",
    "temporal_veil": f"`--temporal --veil {VEIL:g}`",
}
RECURSIVE_ALPHA = 0.8
LIVE_FACTOR = 0.8  # live camera rate for the cost, x the per-frame pipeline's throughput (as benchmarks/stream.py)
LIVE_REPEATS = 2  # live runs with and without the stabiliser, alternately


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backgrounds", type=Path, default=DEFAULT_BACKGROUNDS,
                        help=f"folder with urban100/ and bsd68/ (default {DEFAULT_BACKGROUNDS})")
    parser.add_argument("--size", default="960x540", metavar="WxH", help="clip size for the scores (default 960x540)")
    parser.add_argument("--frames", type=int, default=96, help="clip length in frames (default 96, 4 s at 24 fps)")
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--rain-preset", default="medium", choices=("light", "medium", "heavy"))
    parser.add_argument("--seed", type=int, default=7, help="rain and people seed")
    parser.add_argument("--weights", type=Path, default=None, help="F_r artefact (default: the shipped default model)")
    parser.add_argument("--cost-frames", type=int, default=48, help="frames per clip for the cost (default 48)")
    parser.add_argument("--cost-size", default="1280x720", metavar="WxH",
                        help="frame size for the cost (default 1280x720, the goal's)")
    parser.add_argument("--cost-without-net", action="store_true",
                        help="cost: the stabiliser alone on the rainy frames as if the net returned them (no "
                             "inference, no pipeline runs)")
    parser.add_argument("--cost-baseline", default=None, metavar="GIT_REF",
                        help="cost: also time the stabiliser of this git revision (its runtime/temporal.py) beside "
                             "this tree's, alternating on the same frames: the ratio holds on a busy machine")
    parser.add_argument("--only", choices=("quality", "cost"), default=None,
                        help="measure one part and keep the other from the existing results JSON")
    add_output_arguments(parser, "temporal", DEFAULT_OUT, DEFAULT_WORK)
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: 160x96 clips of 8 frames, cost on 3 frames of 320x192")
    args = parser.parse_args(argv)
    if args.quick:
        args.size = "160x96" if args.size == "960x540" else args.size
        args.frames, args.cost_frames = min(args.frames, 8), min(args.cost_frames, 3)
        args.cost_size = "320x192" if args.cost_size == "1280x720" else args.cost_size
    if args.frames < 3:
        raise JRGRError(f"--frames must be at least 3 (flicker needs consecutive frames), got {args.frames}")
    resolve_markdown(args, DEFAULT_MARKDOWN)
    return args


# -- the clips ----------------------------------------------------------------------------------------------------


def background_paths(folder: Path) -> tuple[Path, Path, list[Path]]:
    """(fixed-camera photo, moving-camera photo, people photographs) in the backgrounds folder; a clear error
    naming the data when something is missing."""
    from jrgr_deploy.image_files import list_images

    if not folder.is_dir():
        raise JRGRError(f"backgrounds folder '{folder}' does not exist; the benchmark clips are cut from "
                        f"{DATA_SOURCE}. Pass --backgrounds DIR")
    fixed, moving = folder / FIXED_PHOTO, folder / MOVING_PHOTO
    for path in (fixed, moving):
        if not path.is_file():
            raise JRGRError(f"'{path}' is missing; the benchmark clips are cut from {DATA_SOURCE}")
    if not (folder / PEOPLE_FOLDER).is_dir():
        raise JRGRError(f"'{folder / PEOPLE_FOLDER}' is missing; the benchmark clips are cut from {DATA_SOURCE}")
    return fixed, moving, list_images(folder / PEOPLE_FOLDER)


def cover(photo: np.ndarray, width: int, height: int) -> np.ndarray:
    """The centred crop of `photo` scaled to cover width x height."""
    scale = max(width / photo.shape[1], height / photo.shape[0])
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    big = cv2.resize(photo, (max(width, round(photo.shape[1] * scale)), max(height, round(photo.shape[0] * scale))),
                     interpolation=interpolation)
    y0, x0 = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return big[y0 : y0 + height, x0 : x0 + width]


def person_mask(height: int, width: int) -> np.ndarray:
    """(height, width) float32 alpha of a standing figure: a round head over a rounded body, 1.5-px soft edge."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    centre_x = (width - 1) / 2
    head_r = 0.11 * height
    head = np.hypot(xx - centre_x, yy - 1.05 * head_r) - head_r
    corner = 0.25 * width
    body_x = np.abs(xx - centre_x) - (width / 2 - corner)
    body_y = np.abs(yy - 0.6 * height) - (0.4 * height - corner)
    body = (np.hypot(np.maximum(body_x, 0), np.maximum(body_y, 0)) + np.minimum(np.maximum(body_x, body_y), 0)
            - corner)
    signed_distance = np.minimum(head, body)
    return np.clip(0.5 - signed_distance / 1.5, 0.0, 1.0).astype(np.float32)


def people_clip(street: np.ndarray, people_photos: list[Path], width: int, height: int, frames: int, fps: float,
                seed: int, count: int = 6) -> Iterator[np.ndarray]:
    """Fixed camera: `count` figures cut from random crops of `people_photos` walk across `street` (RGB uint8).

    A figure of h pixels stands with its feet lower the larger it is (a ground plane) and walks at 1.4 m/s with
    h px = 1.7 m, i.e. 1.4 h / 1.7 / fps px per frame (x 0.7-1.3), bobbing 2 % of its height at 2 steps/s;
    figures leaving one side re-enter at the other. Yields (height, width, 3) uint8 RGB frames.
    """
    from jrgr_deploy.image_files import read_rgb

    rng = np.random.default_rng([seed, 0x7E])
    background = cover(street, width, height).astype(np.float32)
    figures = []
    for _ in range(count):
        photo = read_rgb(people_photos[int(rng.integers(len(people_photos)))])
        fig_h = max(int(rng.uniform(0.12, 0.3) * height), 6)
        fig_w = max(int(fig_h * rng.uniform(0.3, 0.38)), 3)
        scale = max(1.0, fig_h / photo.shape[0], fig_w / photo.shape[1])
        if scale > 1.0:
            photo = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        y = int(rng.integers(0, photo.shape[0] - fig_h + 1))
        x = int(rng.integers(0, photo.shape[1] - fig_w + 1))
        patch = photo[y : y + fig_h, x : x + fig_w].astype(np.float32)
        speed = WALKING_SPEED_M_S * fig_h / PERSON_HEIGHT_M / fps * rng.uniform(0.7, 1.3) * rng.choice([-1.0, 1.0])
        feet = 0.6 * height + (fig_h - 0.12 * height) * 1.8
        figures.append((patch, person_mask(fig_h, fig_w), speed, feet - fig_h, rng.uniform(0, width),
                        rng.uniform(0, 2 * np.pi)))
    figures.sort(key=lambda f: f[3] + f[0].shape[0])  # nearer (lower feet) drawn last
    for t in range(frames):
        image = background.copy()
        for patch, alpha, speed, top, x0, phase in figures:
            fig_w = patch.shape[1]
            x = (x0 + speed * t) % (width + fig_w) - fig_w
            y = top - abs(np.sin(phase + 2 * np.pi * 2.0 * t / fps)) * 0.02 * patch.shape[0]
            shift = np.float32([[1, 0, x], [0, 1, y]])
            moved = cv2.warpAffine(patch, shift, (width, height), flags=cv2.INTER_LINEAR)
            weight = cv2.warpAffine(alpha, shift, (width, height), flags=cv2.INTER_LINEAR)[..., None]
            image = image * (1 - weight) + moved * weight
        yield np.clip(np.rint(image), 0, 255).astype(np.uint8)


def dashcam_clip(photo: np.ndarray, width: int, height: int, frames: int, fps: float, zoom_end: float = 1.4,
                 vanishing_point: tuple[float, float] = MOVING_VANISHING_POINT) -> Iterator[np.ndarray]:
    """Moving camera: forward motion into `photo` (RGB uint8) as a zoom about its vanishing point.

    The first view is the centred crop covering the frame (6 % margin); the scale grows geometrically to
    `zoom_end` (constant speed towards the scene) about `vanishing_point` (fractions of the photo), and the view
    sways by +-2.5 / +-1.5 px (a car on a road). Resampled with bicubic interpolation at sub-pixel positions.
    """
    photo_h, photo_w = photo.shape[:2]
    start_scale = max(width / photo_w, height / photo_h) * 1.06
    photo_centre = np.array([photo_w / 2, photo_h / 2])
    focus = np.array([vanishing_point[0] * photo_w, vanishing_point[1] * photo_h])
    focus_in_frame = np.array([width / 2, height / 2]) + start_scale * (focus - photo_centre)
    for t in range(frames):
        scale = start_scale * zoom_end ** (t / max(frames - 1, 1))
        sway = np.array([2.5 * np.sin(2 * np.pi * t / fps / 1.7), 1.5 * np.sin(2 * np.pi * t / fps / 0.9)])
        target = focus_in_frame + sway
        matrix = np.float32([[scale, 0, target[0] - scale * focus[0]], [0, scale, target[1] - scale * focus[1]]])
        yield cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def render_clip(folder: Path, clean_frames: Iterator[np.ndarray], spec: dict[str, Any]) -> Path:
    """Temporal model-B rain over the clean frames: `folder`/clean/ and `folder`/rainy/ PNG frames, once."""
    from jrgr_deploy.image_files import write_rgb
    from jrgr_deploy.rain import RainSequence

    stamp = folder / "spec.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == spec:
        return folder
    rain = RainSequence("realistic", spec["rain_preset"], spec["seed"], spec["height"], spec["width"], fps=spec["fps"])
    for index, clean in enumerate(clean_frames):
        write_rgb(folder / "clean" / f"{index:06d}.png", clean)
        write_rgb(folder / "rainy" / f"{index:06d}.png", rain.render(clean, index).rainy)
    stamp.write_text(json.dumps(spec))
    return folder


def make_clips(args: argparse.Namespace, width: int, height: int) -> dict[str, Path]:
    from jrgr_deploy.image_files import read_rgb

    fixed_path, moving_path, people_paths = background_paths(args.backgrounds)
    base = {"width": width, "height": height, "frames": args.frames, "fps": args.fps, "rain_preset": args.rain_preset,
            "seed": args.seed}
    clips = {}
    for name, photo, frames in (
        ("fixed", fixed_path, lambda photo: people_clip(photo, people_paths, width, height, args.frames, args.fps,
                                                        args.seed)),
        ("moving", moving_path, lambda photo: dashcam_clip(photo, width, height, args.frames, args.fps)),
    ):
        spec = {**base, "camera": name, "photo": str(photo.relative_to(args.backgrounds))}
        folder = args.work / f"{name}_{width}x{height}_{args.frames}"
        logger.info("clip %s: %s", name, folder)
        clips[name] = render_clip(folder, frames(read_rgb(photo)), spec)
    return clips


# -- the methods --------------------------------------------------------------------------------------------------


def median5(frames: list[np.ndarray]) -> Iterator[np.ndarray]:
    """The per-pixel median of frames t-2..t+2 (clipped at the ends): look-ahead of two frames."""
    for t in range(len(frames)):
        window = np.stack(frames[max(0, t - 2) : t + 3])
        yield np.median(window, axis=0).round().astype(np.uint8)


def recursive_filter(frames: list[np.ndarray], alpha: float = RECURSIVE_ALPHA) -> Iterator[np.ndarray]:
    """S_t = alpha S_{t-1} + (1 - alpha) frame_t everywhere (no motion adaptation): the ghosting reference."""
    state = None
    for frame in frames:
        state = frame.astype(np.float32) if state is None else alpha * state + (1 - alpha) * frame
        yield np.rint(state).astype(np.uint8)


def derain_folder(weights: Path, folder: Path, temporal: bool, veil: float = 0.0
                  ) -> tuple[list[np.ndarray], dict[str, Any]]:
    """The derained frames (RGB) of a folder of rainy frames, through the runtime as `jrgr derain` runs a file."""
    from jrgr_deploy.runtime import Deraining

    with Deraining(weights, temporal=temporal, veil=veil) as model:
        frames = [derained[..., ::-1].copy() for _, derained in model.stream(folder)]
        counters = model.temporal.counters() if model.temporal is not None else None
    return frames, {"stats": model.last_report.stats if model.last_report else None, "temporal": counters}


def score_clip(weights: Path, folder: Path) -> dict[str, Any]:
    """Every method's scores on one clip (and each consecutive pair's flicker, for the plot)."""
    from jrgr_deploy.image_files import list_images, read_rgb
    from jrgr_deploy.temporal_metrics import TemporalScorer

    clean = [read_rgb(path) for path in list_images(folder / "clean")]
    rainy = [read_rgb(path) for path in list_images(folder / "rainy")]
    per_frame, _ = derain_folder(weights, folder / "rainy", temporal=False)
    stabilised, info = derain_folder(weights, folder / "rainy", temporal=True)
    outputs = {"rainy": rainy, "per_frame": per_frame, "temporal": stabilised,
               "median5": median5(per_frame), "recursive": recursive_filter(per_frame),
               "per_frame_veil": derain_folder(weights, folder / "rainy", temporal=False, veil=VEIL)[0],
               "temporal_veil": derain_folder(weights, folder / "rainy", temporal=True, veil=VEIL)[0]}
    rows: dict[str, Any] = {}
    for method in METHODS:
        scorer = TemporalScorer()
        for frame, truth in zip(outputs[method], clean, strict=True):
            scorer.add(frame, truth)
        scores = scorer.result()
        rows[method] = {**scores.as_dict(), "flicker_per_pair": [round(v, 4) for v in scorer.flicker_per_pair]}
        logger.info("%s %s: %s", folder.name, method, scores.summary())
    return {"folder": rel(folder), "frames": len(clean), "rows": rows, "stabiliser": info["temporal"]}


# -- the cost -----------------------------------------------------------------------------------------------------


def cost_frames(folder: Path, count: int, size_wh: tuple[int, int]) -> list[np.ndarray]:
    """The clip's first `count` rainy frames resized to `size_wh` (1280x720: what a 720p camera delivers), BGR."""
    from jrgr_deploy.image_files import list_images
    from jrgr_deploy.runtime.sources import ImageFilesSource

    frames = []
    with ImageFilesSource(list_images(folder / "rainy")[:count], f"clip '{folder}'") as source:
        while (frame := source.read()) is not None:
            frames.append(cv2.resize(frame, size_wh, interpolation=cv2.INTER_LINEAR))
    return frames


def stage_alone(weights: Path, frames: list[np.ndarray], net: bool = True) -> dict[str, Any]:
    """The stabiliser's cost frame by frame, in order, each frame's inference between two of them (so all see the
    same load): the "temporal" stage as the pipeline times it, and what it adds to postprocessing in all (the
    same output postprocessed with and without the stabiliser, paired per frame), in wall time and in the
    process's CPU time. net False: the input batch stands in for the net's output (no inference). The first frame
    (a restart: nothing to filter) is left out."""
    from jrgr_deploy.runtime.backends import open_backend
    from jrgr_deploy.runtime.processing import FrameProcessor
    from jrgr_deploy.runtime.stats import now_ns, summarise_ms
    from jrgr_deploy.runtime.temporal import TemporalStabiliser

    temporal_ms, added_ms, added_cpu_ms, infer_ms, plain_ms = [], [], [], [], []
    with open_backend(weights) as backend:
        stabilised, plain = FrameProcessor(backend, temporal=TemporalStabiliser()), FrameProcessor(backend)
        for index, frame in enumerate(frames):
            prepared = stabilised.preprocess(frame, index)
            prepared.restart = index == 0
            start = now_ns()
            output = backend(prepared.batch) if net else prepared.batch.copy()
            inferred, inferred_cpu = now_ns(), time.process_time_ns()
            stabilised.postprocess(prepared, output)
            with_filter, with_filter_cpu = now_ns(), time.process_time_ns()
            plain.postprocess(plain.preprocess(frame, index), output)
            without, without_cpu = now_ns() - with_filter, time.process_time_ns() - with_filter_cpu
            if index == 0:
                continue
            temporal_ms.append(prepared.stage_ns["temporal"] / 1e6)
            added_ms.append((with_filter - inferred - without) / 1e6)
            added_cpu_ms.append((with_filter_cpu - inferred_cpu - without_cpu) / 1e6)
            infer_ms.append((inferred - start) / 1e6)
            plain_ms.append(without / 1e6)
        counters = stabilised.temporal.counters()
    temporal, infer = summarise_ms(temporal_ms), summarise_ms(infer_ms)
    return {"net": net, "temporal_ms": temporal, "added_to_postprocess_ms": summarise_ms(added_ms),
            "added_to_postprocess_cpu_ms": summarise_ms(added_cpu_ms), "infer_ms": infer if net else None,
            "postprocess_without_temporal_ms": summarise_ms(plain_ms),
            "temporal_over_infer_p50": round(temporal["p50"] / infer["p50"], 4) if net and temporal["count"] else None,
            "stabiliser": counters}


def stabiliser_module(ref: str) -> Any:
    """runtime/temporal.py as it is at git revision `ref`, imported as a module of its own (its `commit`: the
    revision's full hash, so the results name what they compared with after `ref` has moved on)."""
    import importlib.util
    import subprocess
    import tempfile

    try:
        source = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:runtime/temporal.py"], check=True,
                                capture_output=True, text=True).stdout
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", f"{ref}^{{commit}}"], check=True,
                                capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        detail = (getattr(error, "stderr", None) or str(error)).strip()
        raise JRGRError(f"--cost-baseline '{ref}': cannot read runtime/temporal.py at that git revision ({detail})"
                        ) from None
    name = "temporal_baseline"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    module.commit = commit
    return module


def against_baseline(frames: list[np.ndarray], ref: str) -> dict[str, Any]:
    """`correction()` of the stabiliser at `ref` and of this tree, alternately on the same frames' lumas (levels,
    in order, first frame left out): per-frame ratios this / baseline, wall and CPU time."""
    from jrgr_deploy.runtime.stats import now_ns, summarise_ms
    from jrgr_deploy.runtime.temporal import TemporalStabiliser, luma_of_bgr

    module = stabiliser_module(ref)
    baseline = module.TemporalStabiliser()
    this = TemporalStabiliser()
    times: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": []} for k in ("baseline", "this")}
    for index, frame in enumerate(frames):
        luma = luma_of_bgr(frame)
        order = (("baseline", baseline), ("this", this))
        for key, stabiliser in order if index % 2 == 0 else order[::-1]:
            start, start_cpu = now_ns(), time.process_time_ns()
            stabiliser.correction(luma, restart=index == 0)
            if index:
                times[key]["wall"].append((now_ns() - start) / 1e6)
                times[key]["cpu"].append((time.process_time_ns() - start_cpu) / 1e6)
    ratio = {kind: round(float(np.median(np.array(times["this"][kind]) / np.array(times["baseline"][kind]))), 3)
             for kind in ("wall", "cpu")}
    return {"ref": ref, "commit": module.commit,
            "baseline_ms": {k: summarise_ms(v) for k, v in times["baseline"].items()},
            "this_ms": {k: summarise_ms(v) for k, v in times["this"].items()}, "this_over_baseline_p50": ratio}


def _pipeline_row(stats: dict[str, Any]) -> dict[str, Any]:
    keys = ("command", "throughput_fps", "stages_ms", "capture_to_output_ms", "frames_out")
    return {key: stats[key] for key in keys}


def live_cost(weights: Path, frames: list[np.ndarray], file_fps: float, work: Path, stem: str) -> dict[str, Any]:
    """The stabiliser in a live stream the backend keeps up with: the frames played forwards, backwards and forwards
    again (a clip three times as long, the camera's motion continuous) as `jrgr derain --live` at `LIVE_FACTOR` x
    the per-frame pipeline's file throughput, with and without --temporal, alternately `LIVE_REPEATS` times (one
    pair of runs differs by several ms of capture-to-output time on this shared machine); the medians over the runs.
    A file is read as fast as the pipeline takes it, so there every thread is busy all the time and a stage's wall
    time is mostly its share of the two cores; a live camera leaves the cores idle between frames, as a deployed
    camera does."""
    camera_fps = max(1.0, math.floor(LIVE_FACTOR * file_fps * 10) / 10)
    video = write_video(work / f"{stem}_live_{camera_fps:g}fps.mp4", [*frames, *frames[::-1], *frames], camera_fps)
    keys = ("command", "throughput_fps", "stages_ms", "capture_to_output_ms", "frames_out", "frames_dropped")
    runs: dict[str, list[dict[str, Any]]] = {"temporal": [], "per_frame": []}
    for repeat in range(LIVE_REPEATS):
        for kind, options in (("temporal", ("--live", "--temporal")), ("per_frame", ("--live",))):
            stats = end_to_end(weights, video, work, None, "null", options, f"{stem}_live_{kind}_{repeat}")
            runs[kind].append({key: stats[key] for key in keys})

    def median(kind: str, pick: Any) -> float:
        return round(float(np.median([pick(run) for run in runs[kind]])), 3)

    return {"camera_fps": camera_fps, "factor": LIVE_FACTOR, "frames": 3 * len(frames), "repeats": LIVE_REPEATS,
            "runs": runs, "temporal_stage_ms": {q: median("temporal", lambda r, q=q: r["stages_ms"]["temporal"][q])
                                                for q in ("p50", "p95")},
            "capture_to_output_ms": {kind: {q: median(kind, lambda r, q=q: r["capture_to_output_ms"][q])
                                            for q in ("p50", "p99")} for kind in runs},
            "frames_dropped": {kind: sum(run["frames_dropped"] for run in runs[kind]) for kind in runs}}


def measure_cost(args: argparse.Namespace, weights: Path, clips: dict[str, Path]) -> dict[str, Any]:
    from jrgr_deploy.frames import parse_wh

    size_wh = parse_wh(args.cost_size, "--cost-size")
    load_start = os.getloadavg()
    result: dict[str, Any] = {"frame_wh": list(size_wh), "frames_per_clip": args.cost_frames, "clips": {}}
    for name, folder in clips.items():
        frames = cost_frames(folder, args.cost_frames, size_wh)
        alone = stage_alone(weights, frames, net=not args.cost_without_net)
        if args.cost_baseline:
            alone["baseline"] = against_baseline(frames, args.cost_baseline)
            logger.info("cost %s: this stabiliser / the one at %s, per-frame p50: wall %.2f, CPU %.2f", name,
                        args.cost_baseline, *alone["baseline"]["this_over_baseline_p50"].values())
        if args.cost_without_net:
            result["clips"][name] = {"alone": alone}
            logger.info("cost %s (no net): stage p50 %.2f ms, added to postprocess p50 %.2f ms wall / %.2f ms CPU",
                        name, alone["temporal_ms"]["p50"], alone["added_to_postprocess_ms"]["p50"],
                        alone["added_to_postprocess_cpu_ms"]["p50"])
            continue
        video = write_video(args.work / f"cost_{name}_{size_wh[0]}x{size_wh[1]}.mp4", frames, args.fps)
        with_filter = end_to_end(weights, video, args.work, None, "null", ("--temporal",), f"cost_{name}_temporal")
        without = end_to_end(weights, video, args.work, None, "null", (), f"cost_{name}_per_frame")
        result["clips"][name] = {
            "alone": alone,
            "pipeline": {"temporal": _pipeline_row(with_filter), "per_frame": _pipeline_row(without),
                         "fps_ratio": round(with_filter["throughput_fps"] / without["throughput_fps"], 3)},
            "live": live_cost(weights, frames, without["throughput_fps"], args.work, f"cost_{name}"),
        }
        live = result["clips"][name]["live"]
        logger.info("cost %s: stage alone p50 %.2f ms (infer p50 %.0f ms); in the pipeline p50 %.2f ms (file), "
                    "%.2f ms (live camera at %.1f fps)", name, alone["temporal_ms"]["p50"], alone["infer_ms"]["p50"],
                    with_filter["stages_ms"]["temporal"]["p50"], live["temporal_stage_ms"]["p50"],
                    live["camera_fps"])
    result["load_average"] = {"start": [round(v, 2) for v in load_start],
                              "end": [round(v, 2) for v in os.getloadavg()]}
    return result


# -- outputs ------------------------------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def goals(results: dict[str, Any]) -> list[str]:
    """The issue's goals, each met / not met with its numbers."""
    lines = []
    quality = results.get("quality")
    if quality:
        for name, flicker_goal, psnr_margin in (("fixed", 0.5, 0.0), ("moving", 0.8, 0.1)):
            rows = quality["clips"][name]["rows"]
            per_frame, stabilised = rows["per_frame"], rows["temporal"]
            ratio = stabilised["flicker_y"] / per_frame["flicker_y"]
            delta = stabilised["psnr_y"] - per_frame["psnr_y"]
            camera = "Fixed camera" if name == "fixed" else "Moving camera"
            lines.append(f"- {camera}: flicker {stabilised['flicker_y']:.2f} vs per-frame {per_frame['flicker_y']:.2f} "
                         f"= **{ratio:.2f}×** (goal ≤ {flicker_goal}×) — {_verdict(ratio <= flicker_goal)}.")
            goal = "≥ per-frame" if psnr_margin == 0 else f"≥ per-frame − {psnr_margin:g} dB"
            lines.append(f"- {camera}: PSNR-Y {stabilised['psnr_y']:.2f} dB vs per-frame {per_frame['psnr_y']:.2f} dB "
                         f"(**{delta:+.2f} dB**; goal {goal}) — {_verdict(delta >= -psnr_margin)}.")
            if name == "fixed":
                moving_delta = stabilised["moving_psnr_y"] - per_frame["moving_psnr_y"]
                lines.append(f"- {camera}: moving-region PSNR-Y {stabilised['moving_psnr_y']:.2f} dB vs per-frame "
                             f"{per_frame['moving_psnr_y']:.2f} dB (**{moving_delta:+.2f} dB**; goal ≥ −0.2 dB) — "
                             f"{_verdict(moving_delta >= -0.2)}.")
    else:
        lines.append("- Fixed and moving camera: the clips' scores are not in this results file "
                     "(`python benchmarks/temporal.py --only quality` measures them and keeps the cost).")
    cost = results.get("cost")
    if cost:
        worst = max(max(clip["alone"]["temporal_ms"]["p50"], clip["alone"]["added_to_postprocess_ms"]["p50"])
                    for clip in cost["clips"].values())
        if cost["frame_wh"] != [1280, 720]:
            lines.append(f"- Cost: measured at {cost['frame_wh'][0]}×{cost['frame_wh'][1]}, not the goal's 1280×720.")
        lines.append(f"- Cost per {cost['frame_wh'][0]}×{cost['frame_wh'][1]} frame (p50 of the stage alone or of what "
                     f"it adds to postprocess, whichever is larger, worst clip): **{worst:.2f} ms** (goal ≤ 5 ms) — "
                     f"{_verdict(worst <= 5.0)}.")
        cpu = [clip["alone"]["added_to_postprocess_cpu_ms"]["p50"] for clip in cost["clips"].values()
               if "added_to_postprocess_cpu_ms" in clip["alone"]]
        if cpu:
            lines.append(f"- The same in CPU time (what the stabiliser adds to postprocess, all threads, p50, worst "
                         f"clip): **{max(cpu):.2f} ms**.")
        pipes = {name: clip["pipeline"] for name, clip in cost["clips"].items() if "pipeline" in clip}
        if pipes:
            # what a streaming user pays: the frame period with the stabiliser minus without it (one run each)
            lost = {name: 1000 / p["temporal"]["throughput_fps"] - 1000 / p["per_frame"]["throughput_fps"]
                    for name, p in pipes.items()}
            rows = {name: p["temporal"]["stages_ms"]["temporal"]["p50"] for name, p in pipes.items()}
            lives = {name: clip["live"] for name, clip in cost["clips"].items() if "live" in clip}
            if lives:
                stage = {name: live["temporal_stage_ms"]["p50"] for name, live in lives.items()}
                added = {name: live["capture_to_output_ms"]["temporal"]["p50"]
                         - live["capture_to_output_ms"]["per_frame"]["p50"] for name, live in lives.items()}
                lines.append(
                    "- In the streaming pipeline, live camera (`jrgr derain --live --temporal --stats`, the camera at "
                    f"{LIVE_FACTOR:g} × the per-frame pipeline's throughput; median of {LIVE_REPEATS} runs): the "
                    "\"temporal\" row of the latency table, p50, "
                    + ", ".join(f"{name} {ms:.2f} ms" for name, ms in stage.items())
                    + f" (goal ≤ 5 ms) — {_verdict(max(stage.values()) <= 5.0)}; capture-to-output p50 with minus "
                    "without the stabiliser " + ", ".join(f"{name} {ms:+.2f} ms" for name, ms in added.items()) + ".")
            lines.append(
                "- In the streaming pipeline, a file read as fast as it goes (`jrgr derain FILE --temporal --stats`: "
                "every thread busy all the time): frame period with minus without the stabiliser "
                + ", ".join(f"{name} {ms:.2f} ms" for name, ms in lost.items())
                + f" (≤ 5 ms: {_verdict(max(lost.values()) <= 5.0)}); its \"temporal\" row, the writer thread's "
                "wall time while the capture thread and the backend's threads share both cores with it, "
                + ", ".join(f"{name} {ms:.2f} ms" for name, ms in rows.items())
                + f" (≤ 5 ms: {_verdict(max(rows.values()) <= 5.0)}).")
    return lines


def _part_header(part: dict[str, Any], what: str) -> str:
    machine = part["machine"]
    load = part["load_average"]
    return (f"{what}: `{part['command']}` ({part['wall_s'] / 60:.1f} min). Machine: {machine['cpu']}, "
            f"{machine['cores']} logical CPUs; {machine['date_utc']} UTC; load average {load['start'][0]:.1f} → "
            f"{load['end'][0]:.1f}. Model: `{part['model']['path']}` (SHA-256 {part['model']['sha256'][:16]}…).")


def markdown(results: dict[str, Any], png_name: str) -> str:
    lines = []
    quality = results.get("quality")
    if quality:
        spec = quality["spec"]
        lines += [
            _part_header(quality, "Scores"),
            "",
            f"Clips ({spec['width']}×{spec['height']}, {spec['frames']} frames at {spec['fps']:g} fps, model-B rain "
            f"'{spec['rain_preset']}', seed {spec['seed']}; rendered by the script from `{quality['backgrounds']}`, "
            "not committed): **fixed camera** — six figures cut from BSD68 photographs walk across Urban100 "
            f"`{FIXED_PHOTO}` in perspective at walking speed; **moving camera** — forward motion (zoom to 1.4× "
            f"towards the vanishing point, slight sway) into Urban100 `{MOVING_PHOTO}`. Flicker: mean |Δ_t(output − "
            "clean)| on Y (0–255); moving region: pixels whose clean Y changes by more than "
            f"{quality['motion_threshold_y']:g} levels from the previous frame "
            "(`jrgr eval --temporal`, `jrgr_deploy.temporal_metrics`).",
            "",
        ]
        for name, title in (("fixed", "Fixed camera"), ("moving", "Moving camera")):
            clip = quality["clips"][name]
            rows = clip["rows"]
            base = rows["per_frame"]["flicker_y"]
            lines += [f"**{title}** ({clip['rows']['rainy']['moving_fraction']:.1%} of pixels move per frame; "
                      f"stabiliser: {clip['stabiliser']['camera_moved_frames']} of {clip['frames']} frames with "
                      f"camera motion, camera tracked on {clip['stabiliser'].get('tracked_frames', 'all')}, resets "
                      f"{clip['stabiliser']['resets']})", "",
                      "| method | flicker-Y | × per-frame | PSNR-Y dB | SSIM-Y | moving PSNR-Y dB | moving SSIM-Y |",
                      "|---|---:|---:|---:|---:|---:|---:|"]
            for method in (m for m in METHODS if m in rows):  # a JSON from before a method was added lacks it
                row = rows[method]
                lines.append(f"| {LABELS[method]} | {row['flicker_y']:.3f} | {row['flicker_y'] / base:.2f} | "
                             f"{row['psnr_y']:.2f} | {row['ssim_y']:.4f} | {row['moving_psnr_y']:.2f} | "
                             f"{row['moving_ssim_y']:.4f} |")
            lines.append("")
    cost = results.get("cost")
    if cost:
        lines += [_part_header(cost, "Cost"), "",
                  "| clip | stage alone p50 / p95 ms | added to postprocess p50 ms | added, CPU time p50 ms | backend "
                  "infer p50 ms | stage / infer | in the pipeline p50 ms | `jrgr derain` fps with / without "
                  "`--temporal` |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]

        def cell(value: float | None, digits: int = 2) -> str:
            return "—" if value is None else f"{value:.{digits}f}"

        for name, clip in cost["clips"].items():
            alone, pipe = clip["alone"], clip.get("pipeline")
            infer = alone["infer_ms"]
            lines.append(
                f"| {name} camera | {alone['temporal_ms']['p50']:.2f} / {alone['temporal_ms']['p95']:.2f} | "
                f"{alone['added_to_postprocess_ms']['p50']:.2f} | "
                f"{cell(alone.get('added_to_postprocess_cpu_ms', {}).get('p50'))} | "
                f"{cell(infer['p50'] if infer else None, 0)} | {cell(alone['temporal_over_infer_p50'], 3)} | "
                f"{cell(pipe['temporal']['stages_ms']['temporal']['p50'] if pipe else None)} | "
                + (f"{pipe['temporal']['throughput_fps']:.2f} / {pipe['per_frame']['throughput_fps']:.2f} |" if pipe
                   else "— |"))
        pipe = next(iter(cost["clips"].values())).get("pipeline")
        lines += ["", f"{cost['frames_per_clip']} frames per clip at {cost['frame_wh'][0]}×{cost['frame_wh'][1]} (the "
                  "clips' frames upscaled). *Stage alone*: the pipeline's \"temporal\" stage (luma, camera motion, "
                  "filter, correction) timed around each frame's postprocess in order, each frame's inference "
                  "between two of them; *added to postprocess*: postprocess with the stabiliser minus the same "
                  "output postprocessed without it (the stage plus adding the correction while rounding), in wall "
                  "time and in the process's CPU time (all threads; it does not grow while other jobs hold the "
                  "cores); *in the pipeline*: the \"temporal\" row of `jrgr derain CLIP.mp4 --temporal "
                  "--output null --stats` (the backend's threads share the cores meanwhile)"
                  + (f". Example command: `{pipe['temporal']['command']}`." if pipe else
                     ". Measured with `--cost-without-net`: the rainy frame stands in for the net's output (the "
                     "stabiliser's work is the same), so there is no inference column and no pipeline run."), ""]
        lives = {name: clip["live"] for name, clip in cost["clips"].items() if "live" in clip}
        if lives:
            lines += ["| clip, live camera | camera fps | frames | \"temporal\" row p50 / p95 ms | capture→output "
                      "p50 ms with / without `--temporal` | p99 ms with / without | infer p50 ms with / without | "
                      "dropped with / without |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|"]
            for name, live in lives.items():
                stage, c2o, dropped = live["temporal_stage_ms"], live["capture_to_output_ms"], live["frames_dropped"]
                infer = {kind: float(np.median([run["stages_ms"]["infer"]["p50"] for run in runs]))
                         for kind, runs in live["runs"].items()}
                lines.append(f"| {name} camera | {live['camera_fps']:g} | {live['frames']} | {stage['p50']:.2f} / "
                             f"{stage['p95']:.2f} | {c2o['temporal']['p50']:.1f} / {c2o['per_frame']['p50']:.1f} | "
                             f"{c2o['temporal']['p99']:.1f} / {c2o['per_frame']['p99']:.1f} | "
                             f"{infer['temporal']:.1f} / {infer['per_frame']:.1f} | "
                             f"{dropped['temporal']} / {dropped['per_frame']} |")
            first = next(iter(lives.values()))
            lines += ["", "*Live camera*: the clip's frames played forwards, backwards and forwards again, released "
                      f"at the camera rate ({LIVE_FACTOR:g} × the per-frame file throughput of the table above, as the "
                      "streaming benchmark's live row: a rate the backend keeps up with while the machine stays as "
                      "quiet as during that run; the dropped column shows when it did not) by `jrgr derain --live`, "
                      "with and without `--temporal`, "
                      f"alternately, {first['repeats']} runs each (medians of the runs' p50 / p95 / p99), e.g. "
                      f"`{first['runs']['temporal'][0]['command']}`. A file is read as fast as the pipeline takes "
                      "it, so there capture, inference and the writer are busy at once and a stage's wall time is "
                      "mostly its share of the two cores; a camera leaves the cores idle between frames. The "
                      "capture-to-output times follow the backend's inference time, which differs by up to 15 ms "
                      "from one run to the next on this shared machine (the infer column): compare them with it.", ""]
        against = {name: clip["alone"]["baseline"] for name, clip in cost["clips"].items()
                   if "baseline" in clip["alone"]}
        if against:
            first = next(iter(against.values()))
            ref, commit = first["ref"], first.get("commit", "")[:10]
            parts = [f"{name} camera {b['this_over_baseline_p50']['wall']:.2f} wall / "
                     f"{b['this_over_baseline_p50']['cpu']:.2f} CPU (p50 {b['baseline_ms']['cpu']['p50']:.2f} → "
                     f"{b['this_ms']['cpu']['p50']:.2f} ms CPU)" for name, b in against.items()]
            lines += [f"Against the stabiliser at `{ref}` (commit {commit}; `--cost-baseline {ref}`): `correction()` "
                      "of both, "
                      "alternately on the same frames' luma, per-frame ratio this / baseline, p50: "
                      + "; ".join(parts) + ". The ratio holds while other jobs load the machine; the absolute "
                      "times do not.", ""]
    lines += ["#### Goals", "", *results["goals"], ""]
    if quality:  # the plot is of the clips' scores
        lines += [f"![temporal stability]({png_name})", ""]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    quality = results.get("quality")
    if not quality:
        return
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    colours = {"rainy": "grey", "per_frame": "tab:blue", "temporal": "tab:red", "median5": "tab:green",
               "recursive": "tab:orange", "per_frame_veil": "tab:purple", "temporal_veil": "tab:brown"}
    for column, (name, title) in enumerate((("fixed", "fixed camera"), ("moving", "moving camera"))):
        rows = quality["clips"][name]["rows"]
        ax = axes[0][column]
        for method in (m for m in METHODS if m in rows):
            ax.plot(rows[method]["flicker_per_pair"], color=colours[method], lw=1.2,
                    label=LABELS[method].replace("`", ""))
        ax.set_xlabel("frame pair (t-1, t)")
        ax.set_ylabel("residual flicker, Y levels")
        ax.set_title(f"{title}: flicker over time")
        ax.grid(alpha=0.3)
        if column == 0:
            ax.legend(fontsize=7)
        ax = axes[1][column]
        for method in (m for m in METHODS if m in rows):
            row = rows[method]
            ax.scatter(row["flicker_y"], row["psnr_y"], color=colours[method], s=40)
            ax.annotate(f"{method}\nmoving {row['moving_psnr_y']:.2f} dB", (row["flicker_y"], row["psnr_y"]),
                        fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel("residual flicker (mean over the clip)")
        ax.set_ylabel("PSNR-Y (dB)")
        ax.set_title(f"{title}: quality against flicker")
        ax.grid(alpha=0.3)
    machine = quality["machine"]
    fig.suptitle(f"temporal stability, {quality['spec']['width']}x{quality['spec']['height']}, {machine['date_utc']} "
                 "UTC", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(results: dict[str, Any], args: argparse.Namespace) -> None:
    png_path = args.out / f"{args.name}.png"
    plot(results, png_path)
    if png_path.is_file():
        print(f"wrote {png_path}")
    for line in results["goals"]:
        print(line)
    publish_section(args.markdown, SECTION, png_path, lambda ref: markdown(results, ref))


def main(argv: list[str] | None = None) -> int:
    benchmark_logging()
    args = parse_args(argv)
    json_path = args.out / f"{args.name}.json"
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
        results["goals"] = goals(results)
        write_outputs(results, args)
        return 0
    from jrgr_deploy.checkpoint import checkpoint_sha256
    from jrgr_deploy.frames import parse_wh
    from jrgr_deploy.runtime.deraining import default_weights
    from jrgr_deploy.temporal_metrics import MOTION_THRESHOLD_Y

    width, height = parse_wh(args.size, "--size")
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.weights or default_weights()
    if not Path(weights).is_file():
        raise JRGRError(f"model '{weights}' does not exist")
    model = {"path": rel(weights), "sha256": checkpoint_sha256(weights)}
    command = "python benchmarks/temporal.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    clips = make_clips(args, width, height)
    results: dict[str, Any] = {}
    if args.only and json_path.is_file():
        results = json.loads(json_path.read_text())  # the other part stays as it was measured
    results["benchmark"] = "temporal"
    for part in ("quality", "cost"):
        if args.only not in (None, part):
            continue
        started, load_start = time.perf_counter(), os.getloadavg()
        if part == "quality":
            measured: dict[str, Any] = {
                "spec": {"width": width, "height": height, "frames": args.frames, "fps": args.fps,
                         "rain_preset": args.rain_preset, "seed": args.seed},
                "backgrounds": str(args.backgrounds), "motion_threshold_y": MOTION_THRESHOLD_Y,
                "clips": {name: score_clip(weights, folder) for name, folder in clips.items()},
            }
        else:
            measured = measure_cost(args, weights, clips)
        measured.update(command=command, machine=machine_report(), model=model,
                        wall_s=round(time.perf_counter() - started, 1))
        measured.setdefault("load_average", {"start": [round(v, 2) for v in load_start],
                                             "end": [round(v, 2) for v in os.getloadavg()]})
        results[part] = measured
    results["goals"] = goals(results)
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {json_path}")
    write_outputs(results, args)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except JRGRError as error:
        print(f"temporal.py: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
