"""Synthesised dash-camera rainy clips with ground truth, for the demo and the streaming benchmark.

A virtual camera drives into a photograph: the view expands steadily about the photograph's vanishing point
(forward motion), with a slight sway and roll (a car on a road), and temporally consistent rain
(`jrgr_deploy.rain.RainSequence`) falls over it. The rainy clip is written as an ordinary compressed video
(what users have); the clean ground truth is written losslessly as PNG frames so that PSNR is measured
against the true background, not against codec artefacts.

The demo's photograph is bundled (`jrgr_deploy/assets/`, see its README): a street in Urban100, so the demo
needs no download and no optional package.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
# Urban100 img_050 (assets/README.md): a street corner; the street on the right recedes to this point (x, y
# fractions of the photograph), which the dash camera drives towards.
STREET_PHOTO = ASSETS_DIR / "street_urban100_img_050.jpg"
STREET_VANISHING_POINT = (0.86, 0.915)


@dataclass(frozen=True)
class ClipSpec:
    """What to render: size in pixels, length in frames, rain model and preset, seed, and the camera motion.

    vanishing_point: (x, y) of the photograph, as fractions of its width and height, that the camera drives
    towards (the focus of expansion). zoom_end: the view narrows by this factor over the clip, at a constant
    rate (steady forward speed). sway: lateral and vertical wobble, as a fraction of the view's width;
    roll_deg: the largest roll. Both are smooth (a few slow sine waves), like a car's suspension.
    """

    width: int = 1280
    height: int = 720
    n_frames: int = 48
    fps: float = 24.0
    rain_model: str = "realistic"
    rain_preset: str = "medium"
    seed: int = 0
    vanishing_point: tuple[float, float] = (0.5, 0.55)
    zoom_end: float = 1.5
    sway: float = 0.006
    roll_deg: float = 0.5


def _fit_scale(photo_hw: tuple[int, int], spec: ClipSpec) -> float:
    """Photograph pixels per output pixel of the largest view of the frame's aspect inside the photograph."""
    return min(photo_hw[1] / spec.width, photo_hw[0] / spec.height)


def camera_path(photo: np.ndarray, spec: ClipSpec) -> Iterator[np.ndarray]:
    """Yield `spec.n_frames` clean (height, width, 3) uint8 views of `photo` as seen from a car driving into it.

    Each view is one affine warp of the photograph (scale about the vanishing point, roll, sway), bicubic;
    a photograph much larger than the frame is first shrunk with INTER_AREA, so no view aliases.
    """
    # The first view is a little smaller than the largest that fits, leaving room for sway and roll.
    margin = 1.0 + 4 * spec.sway + 2 * math.sin(math.radians(spec.roll_deg))
    if _fit_scale(photo.shape[:2], spec) > margin:  # > 1 photo pixel per output pixel: shrink once, averaged
        shrink = margin / _fit_scale(photo.shape[:2], spec)
        photo = cv2.resize(photo, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
    fit = _fit_scale(photo.shape[:2], spec)
    scale = fit / margin
    photo_h, photo_w = photo.shape[:2]
    focus = np.array([spec.vanishing_point[0] * photo_w, spec.vanishing_point[1] * photo_h])
    # The first view: its centre as near the vanishing point as the photograph (less the margin) allows.
    half_fit = np.array([spec.width, spec.height]) * fit / 2
    centre = np.clip(focus, half_fit, np.array([photo_w, photo_h]) - half_fit)
    focus_in_view = (focus - centre) / scale  # where the vanishing point sits, in output pixels from the centre
    rng = np.random.default_rng(spec.seed)
    phases = rng.uniform(0, 2 * math.pi, 3)
    for index in range(spec.n_frames):
        t_s = index / spec.fps
        progress = index / max(spec.n_frames - 1, 1)
        s = scale / spec.zoom_end**progress  # photo pixels per output pixel, shrinking at a constant rate
        sway = spec.sway * spec.width * s
        offset = np.array([sway * math.sin(2 * math.pi * 0.4 * t_s + phases[0]),
                           0.5 * sway * math.sin(2 * math.pi * 1.3 * t_s + phases[1])])
        angle = math.radians(spec.roll_deg) * math.sin(2 * math.pi * 0.3 * t_s + phases[2])
        cos, sin = math.cos(angle) * s, math.sin(angle) * s
        # photo = A @ (out - out_centre - focus_in_view) + focus + offset: the vanishing point stays put
        # (expansion about it) while the view narrows.
        out_anchor = np.array([spec.width / 2, spec.height / 2]) + focus_in_view
        linear = np.array([[cos, -sin], [sin, cos]])
        matrix = np.hstack([linear, (focus + offset - linear @ out_anchor)[:, None]])
        yield cv2.warpAffine(photo, matrix, (spec.width, spec.height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT_101)


def street_photo() -> np.ndarray:
    """The bundled street photograph (H, W, 3) uint8 RGB; use with `STREET_VANISHING_POINT`."""
    from jrgr_deploy.image_files import read_rgb

    return read_rgb(STREET_PHOTO)


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
