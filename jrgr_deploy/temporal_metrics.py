"""Temporal consistency of a restored video against its clean ground truth (numpy + OpenCV).

Per-frame PSNR/SSIM cannot see flicker: a residue that changes from frame to frame scores the same as one that
stays put, yet only the first is what a viewer (or a tracker) notices. With o_t the restored frame, c_t the clean
one, both on the Y channel (`metrics.rgb_to_y`, 0..255 scale) and e_t = o_t - c_t the residual:

- residual flicker  = mean over consecutive pairs (t-1, t) of mean_pixels |e_t - e_{t-1}|   (Y levels, 0..255).
  A constant error (a veil left everywhere, a colour cast) has zero flicker; a residue alternating +d / -d has
  flicker 2d. The rainy input itself has the flicker of the rain.
- moving region     = the pixels of frame t where the clean clip changes: |c_t - c_{t-1}| > MOTION_THRESHOLD_Y.
  PSNR-Y there is pooled over all moving pixels of the clip (one MSE over them, then 20 log10(255 / RMSE):
  per-frame moving regions can be a handful of pixels); SSIM-Y there is the mean of the per-pixel SSIM map over
  them. A temporal filter that smears moving content (ghosting) loses exactly here, while whole-frame scores
  barely move.
- PSNR-Y, SSIM-Y    = whole-frame scores averaged over frames (`metrics.psnr` / `metrics.ssim`, the per-image
  convention of the rest of the project).

`TemporalScorer` takes the frames one pair at a time (a video of any length in bounded memory);
`score_sequence` scores two iterables.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.metrics import SSIM_RADIUS, psnr, rgb_to_y, ssim_map

# A pixel is "moving" when its clean Y changes by more than this many levels (0..255) from the previous frame:
# well above the rounding and resampling noise of a static or slowly panning background (1-3 levels), well
# below the change a moving object or an uncovered background makes.
MOTION_THRESHOLD_Y = 8.0


@dataclass(frozen=True)
class TemporalScores:
    """Scores of a restored clip (see the module docstring). `moving_fraction`: share of the pixels of frames
    1..n-1 that are moving; the moving-region scores are None when there are none (a static clip)."""

    frames: int
    psnr_y: float
    ssim_y: float
    flicker_y: float | None
    moving_psnr_y: float | None
    moving_ssim_y: float | None
    moving_fraction: float
    motion_threshold_y: float

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)

    def summary(self) -> str:
        """One line for a terminal."""

        def db(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f} dB"

        flicker = "-" if self.flicker_y is None else f"{self.flicker_y:.3f}"
        moving_ssim = "-" if self.moving_ssim_y is None else f"{self.moving_ssim_y:.4f}"
        return (
            f"n={self.frames}  PSNR-Y {db(self.psnr_y)}  SSIM-Y {self.ssim_y:.4f}  flicker-Y {flicker}  "
            f"moving-region PSNR-Y {db(self.moving_psnr_y)}  SSIM-Y {moving_ssim} "
            f"({self.moving_fraction:.1%} of pixels move)"
        )


def residual_flicker(residual: np.ndarray, previous_residual: np.ndarray) -> float:
    """mean |e_t - e_{t-1}| of two residuals (restored - clean, same shape, any float scale)."""
    return float(np.mean(np.abs(np.asarray(residual, np.float64) - np.asarray(previous_residual, np.float64))))


def moving_mask(clean_y: np.ndarray, previous_clean_y: np.ndarray, threshold: float = MOTION_THRESHOLD_Y) -> np.ndarray:
    """(H, W) bool: the pixels whose clean Y changed by more than `threshold` levels since the previous frame."""
    return np.abs(np.asarray(clean_y, np.float64) - np.asarray(previous_clean_y, np.float64)) > threshold


class TemporalScorer:
    """Feed (restored, clean) frame pairs in order with `add`; `result()` gives the `TemporalScores`.

    Frames are (H, W, 3) RGB on the 0..255 scale (uint8 or float), all of one size.
    """

    def __init__(self, motion_threshold_y: float = MOTION_THRESHOLD_Y) -> None:
        if not motion_threshold_y >= 0:
            raise JRGRError(f"motion threshold must be >= 0 (Y levels), got {motion_threshold_y}")
        self.motion_threshold_y = float(motion_threshold_y)
        self.frames = 0
        self._psnr: list[float] = []
        self._ssim: list[float] = []
        self.flicker_per_pair: list[float] = []  # residual flicker of each consecutive pair, in order
        self._moving_sq_error = 0.0
        self._moving_pixels = 0
        self._moving_ssim_sum = 0.0
        self._moving_ssim_pixels = 0
        self._compared_pixels = 0
        self._previous: tuple[np.ndarray, np.ndarray] | None = None  # (residual Y, clean Y) of the last frame

    def add(self, restored: np.ndarray, clean: np.ndarray) -> None:
        """Score the next frame: restored and clean (H, W, 3) RGB."""
        restored_y, clean_y = rgb_to_y(restored), rgb_to_y(clean)
        if restored_y.shape != clean_y.shape:
            raise JRGRError(f"frame {self.frames}: restored is {restored_y.shape} but clean is {clean_y.shape}")
        if self._previous is not None and clean_y.shape != self._previous[1].shape:
            raise JRGRError(
                f"frame {self.frames} is {clean_y.shape[1]}x{clean_y.shape[0]} but the frames before it are "
                f"{self._previous[1].shape[1]}x{self._previous[1].shape[0]} (WxH): one clip has one frame size"
            )
        residual = restored_y - clean_y
        per_pixel_ssim = ssim_map(restored_y, clean_y)
        self._psnr.append(psnr(restored_y, clean_y))
        self._ssim.append(float(per_pixel_ssim.mean()))
        if self._previous is not None:
            previous_residual, previous_clean = self._previous
            self.flicker_per_pair.append(residual_flicker(residual, previous_residual))
            moving = moving_mask(clean_y, previous_clean, self.motion_threshold_y)
            count = int(moving.sum())
            self._compared_pixels += moving.size
            if count:
                self._moving_pixels += count
                self._moving_sq_error += float(np.sum(residual[moving] ** 2))
                r = SSIM_RADIUS
                inside = moving[r:-r, r:-r]  # the SSIM map covers the pixels whose window lies inside
                self._moving_ssim_sum += float(per_pixel_ssim[inside].sum())
                self._moving_ssim_pixels += int(inside.sum())
        self._previous = (residual, clean_y)
        self.frames += 1

    def result(self) -> TemporalScores:
        if not self.frames:
            raise JRGRError("no frames were scored")
        moving_psnr = None
        if self._moving_pixels:
            mse = self._moving_sq_error / self._moving_pixels
            moving_psnr = math.inf if mse == 0 else 20.0 * math.log10(255.0 / math.sqrt(mse))
        moving_ssim = self._moving_ssim_sum / self._moving_ssim_pixels if self._moving_ssim_pixels else None
        return TemporalScores(
            frames=self.frames,
            psnr_y=float(np.mean(self._psnr)),
            ssim_y=float(np.mean(self._ssim)),
            flicker_y=float(np.mean(self.flicker_per_pair)) if self.flicker_per_pair else None,
            moving_psnr_y=moving_psnr,
            moving_ssim_y=moving_ssim,
            moving_fraction=self._moving_pixels / self._compared_pixels if self._compared_pixels else 0.0,
            motion_threshold_y=self.motion_threshold_y,
        )


def score_sequence(
    restored: Iterable[np.ndarray], clean: Iterable[np.ndarray], motion_threshold_y: float = MOTION_THRESHOLD_Y
) -> TemporalScores:
    """Temporal scores of two equally long sequences of (H, W, 3) RGB frames."""
    scorer = TemporalScorer(motion_threshold_y)
    restored_frames, clean_frames = iter(restored), iter(clean)
    for index, restored_frame in enumerate(restored_frames):
        clean_frame = next(clean_frames, None)
        if clean_frame is None:
            raise JRGRError(f"the restored clip has more frames than the clean one ({index} clean frames)")
        scorer.add(restored_frame, clean_frame)
    if next(clean_frames, None) is not None:
        raise JRGRError(f"the clean clip has more frames than the restored one ({scorer.frames} restored frames)")
    return scorer.result()


__all__ = [
    "MOTION_THRESHOLD_Y",
    "TemporalScorer",
    "TemporalScores",
    "moving_mask",
    "residual_flicker",
    "score_sequence",
]
