"""The main job (`jrgr demo`, the README's first command): a rainy 1280x720 clip, derained as a stream.

1. Render a short driving-style clip from a bundled photograph (camera pan + zoom, temporally
   consistent model-B "realistic" rain), with lossless clean ground truth (`jrgr_deploy.clips`).
2. Derain the clip as a stream with the default model on the fastest installed backend
   (`jrgr_deploy.runtime.Deraining`), writing a side-by-side video (rainy | derained).
3. Write a PNG of a few frames (rainy / derained / ground truth), print the latency table and the
   clip's PSNR-Y before and after deraining.

Torch-free, like the runtime it exercises.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import write_bgr

logger = logging.getLogger(__name__)

DEFAULT_PHOTO = "rocket"  # open sky over a scene: shows both streaks and the sky-darkening of model B


@dataclass(frozen=True)
class DemoResult:
    out_dir: str
    side_by_side_video: str
    frames_png: str
    stats_json: str
    n_frames: int
    wall_s: float
    render_s: float
    derain_s: float
    fps: float | None
    psnr_y_rainy_db: float
    psnr_y_derained_db: float
    weights: str
    backend: str


def _labelled(image_bgr: np.ndarray, label: str, width: int) -> np.ndarray:
    scale = width / image_bgr.shape[1]
    small = cv2.resize(image_bgr, (width, int(round(image_bgr.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    cv2.putText(small, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(small, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
    return small


def _frames_figure(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]], indices: list[int], path: Path) -> None:
    """A grid, one row per frame: rainy | derained | ground truth (all BGR)."""
    panel_width = 480
    grid_rows = []
    for (rainy, derained, clean), index in zip(rows, indices, strict=True):
        grid_rows.append(
            np.hstack(
                [
                    _labelled(rainy, f"rainy #{index}", panel_width),
                    _labelled(derained, f"derained #{index}", panel_width),
                    _labelled(clean, "ground truth", panel_width),
                ]
            )
        )
    write_bgr(path, np.vstack(grid_rows))


def run_demo(
    out_dir: str | Path = "demo_out",
    weights: str | Path | None = None,
    backend: str | None = None,
    n_frames: int = 48,
    width: int = 1280,
    height: int = 720,
    photo: str = DEFAULT_PHOTO,
    seed: int = 0,
    progress: bool = True,
) -> DemoResult:
    """Run the whole demo into `out_dir` and return what it measured (also written to `demo.json`)."""
    from jrgr_deploy.backgrounds import load_skimage_photos
    from jrgr_deploy.clips import ClipSpec, render_clip
    from jrgr_deploy.image_files import list_images, read_rgb
    from jrgr_deploy.metrics import psnr_y
    from jrgr_deploy.runtime import Deraining
    from jrgr_deploy.runtime.sinks import CallbackSink, VideoFileSink

    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    photos = {background.name: background.image for background in load_skimage_photos()}
    if photo not in photos:
        raise JRGRError(f"unknown demo photograph '{photo}'; available: {sorted(photos)}")

    spec = ClipSpec(width=width, height=height, n_frames=n_frames, seed=seed)
    logger.info("rendering a %dx%d clip of %d frames with model-B rain ...", width, height, n_frames)
    clip = render_clip(photos[photo], out_dir / "clip", spec)
    render_s = time.perf_counter() - start

    derained: dict[int, np.ndarray] = {}
    rainy: dict[int, np.ndarray] = {}

    def keep(index: int, side_by_side: np.ndarray) -> None:
        half = side_by_side.shape[1] // 2
        rainy[index] = side_by_side[:, :half]
        derained[index] = side_by_side[:, half:]

    video_path = out_dir / "side_by_side.mp4"
    stats_path = out_dir / "stats.json"
    derain_start = time.perf_counter()
    with Deraining(weights, backend=backend, side_by_side=True) as model:
        info = model.run_info()
        report = model.run(
            clip.rainy_video, output=[VideoFileSink(video_path, fps=clip.fps), CallbackSink(keep)], progress=progress
        )
    derain_s = time.perf_counter() - derain_start
    stats = report.stats
    stats_path.write_text(json.dumps(stats, indent=2) + "\n")
    if len(derained) != clip.n_frames:
        raise JRGRError(f"the stream returned {len(derained)} of {clip.n_frames} frames ({report.end_reason})")

    clean_paths = list_images(clip.clean_dir)
    psnr_rainy, psnr_derained = [], []
    for index, clean_path in enumerate(clean_paths):
        clean_rgb = read_rgb(clean_path)
        psnr_rainy.append(psnr_y(rainy[index][..., ::-1], clean_rgb))
        psnr_derained.append(psnr_y(derained[index][..., ::-1], clean_rgb))
    shown = [0, clip.n_frames // 2, clip.n_frames - 1]
    figure_path = out_dir / "frames.png"
    _frames_figure(
        [(rainy[i], derained[i], read_rgb(clean_paths[i])[..., ::-1]) for i in shown], shown, figure_path
    )

    result = DemoResult(
        out_dir=str(out_dir),
        side_by_side_video=str(video_path),
        frames_png=str(figure_path),
        stats_json=str(stats_path),
        n_frames=clip.n_frames,
        wall_s=time.perf_counter() - start,
        render_s=render_s,
        derain_s=derain_s,
        fps=stats.get("throughput_fps"),
        psnr_y_rainy_db=float(np.mean(psnr_rainy)),
        psnr_y_derained_db=float(np.mean(psnr_derained)),
        weights=str(info["weights"]),
        backend=str(info["backend"]),
    )
    (out_dir / "demo.json").write_text(json.dumps(asdict(result), indent=2) + "\n")
    print(report.table())
    print(
        f"\nPSNR-Y over {clip.n_frames} frames: rainy {result.psnr_y_rainy_db:.2f} dB -> derained "
        f"{result.psnr_y_derained_db:.2f} dB ({result.psnr_y_derained_db - result.psnr_y_rainy_db:+.2f} dB)"
    )
    print(f"model {result.weights} on {result.backend}; wall {result.wall_s:.1f} s")
    print(f"wrote {video_path}, {figure_path}, {stats_path}")
    return result
