"""Synthesised driving-style rainy clips with ground truth, for the demo and the streaming benchmark.

A virtual camera pans across a photograph and slowly zooms in (forward motion), and temporally
consistent rain (`jrgr_deploy.rain.RainSequence`) falls over it. The rainy clip is written as an
ordinary compressed video (what users have); the clean ground truth is written losslessly as PNG
frames so that PSNR is measured against the true background, not against codec artefacts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipSpec:
    """What to render: size in pixels, length in frames, rain model and preset, seed."""

    width: int = 1280
    height: int = 720
    n_frames: int = 48
    fps: float = 24.0
    rain_model: str = "realistic"
    rain_preset: str = "medium"
    seed: int = 0
    pan_fraction: float = 0.35  # share of the photograph's width the camera travels over the clip
    zoom_end: float = 1.15  # forward motion: the view narrows by this factor over the clip


def camera_path(photo: np.ndarray, spec: ClipSpec) -> Iterator[np.ndarray]:
    """Yield `spec.n_frames` clean (height, width, 3) uint8 views of `photo` along a pan + zoom path.

    The photograph is first scaled so its height covers the frame with room to pan; each view is
    a crop resized with INTER_AREA/LINEAR, so there is no blockiness from nearest-neighbour sampling.
    """
    aspect = spec.width / spec.height
    # room to pan: the photo must be wider than one view by pan_fraction of itself
    scale = max(spec.height * 1.2 / photo.shape[0], spec.width * 1.2 / ((1 - spec.pan_fraction) * photo.shape[1]))
    big = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    big_h, big_w = big.shape[:2]
    for index in range(spec.n_frames):
        t = index / max(spec.n_frames - 1, 1)
        zoom = 1.0 + (spec.zoom_end - 1.0) * t
        view_h = big_h / 1.2 / zoom
        view_w = min(view_h * aspect, big_w)
        centre_x = view_w / 2 + (big_w - view_w) * (0.1 + 0.8 * t)
        centre_y = big_h * 0.55
        x0 = int(round(np.clip(centre_x - view_w / 2, 0, big_w - view_w)))
        y0 = int(round(np.clip(centre_y - view_h / 2, 0, big_h - view_h)))
        crop = big[y0 : y0 + int(view_h), x0 : x0 + int(view_w)]
        yield cv2.resize(crop, (spec.width, spec.height), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class RenderedClip:
    rainy_video: Path
    clean_dir: Path
    n_frames: int
    fps: float


def render_clip(photo: np.ndarray, out_dir: str | Path, spec: ClipSpec = ClipSpec()) -> RenderedClip:
    """Render a rainy clip of `photo` (H,W,3 uint8 RGB) into `out_dir`.

    Writes `out_dir/rainy.mp4` (mp4v) and `out_dir/clean/000000.png ...` (lossless ground truth).
    """
    from jrgr_deploy.image_files import write_rgb
    from jrgr_deploy.rain import RainSequence
    from jrgr_deploy.video_files import VideoWriter

    out_dir = Path(out_dir)
    clean_dir = out_dir / "clean"
    clean_dir.mkdir(parents=True, exist_ok=True)
    video_path = out_dir / "rainy.mp4"
    rain = RainSequence(spec.rain_model, spec.rain_preset, spec.seed, spec.height, spec.width, fps=spec.fps)
    with VideoWriter(video_path, fps=spec.fps) as writer:
        for index, clean in enumerate(camera_path(photo, spec)):
            sample = rain.render(clean, index)
            writer.write(sample.rainy[..., ::-1])
            write_rgb(clean_dir / f"{index:06d}.png", clean)
    logger.info("rendered %d frames of %dx%d rain to %s", spec.n_frames, spec.width, spec.height, video_path)
    return RenderedClip(video_path, clean_dir, spec.n_frames, spec.fps)

