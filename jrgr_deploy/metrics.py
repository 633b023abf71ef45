"""Image quality metrics, labelled by convention (docs/ARCHITECTURE.md, "Metrics"). numpy + OpenCV only.

- Y channel, the deraining benchmark convention (MPRNet / Restormer scripts):
  Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 on 0..255 RGB, kept in float (not rounded).
- RGB, as the JRGR authors reported.

PSNR = 20 log10(255 / RMSE) on 0..255 values. SSIM is Wang et al. (2004): 11x11 Gaussian window with
sigma 1.5, K = (0.01, 0.03), L = 255, population (not sample) covariances, averaged over the pixels whose
window lies inside the image; for RGB, the mean of the three per-channel SSIMs. This equals
scikit-image's `structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255)`.

All functions take (H,W,3) uint8 RGB images (or float arrays on the 0..255 scale) of equal shape,
and evaluate the whole image: no crops.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError

_SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5): scikit-image's truncation, giving the 11x11 window
_SSIM_C1 = (0.01 * 255.0) ** 2
_SSIM_C2 = (0.03 * 255.0) ** 2


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise JRGRError(f"images to compare differ in shape: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3):
        raise JRGRError(f"expected HxW or HxWx3 images, got shape {a.shape}")


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """(H,W,3) RGB on 0..255 -> (H,W) float64 luma Y in [16, 235] (ITU-R BT.601, not rounded)."""
    rgb = np.asarray(image, dtype=np.float64)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise JRGRError(f"expected an HxWx3 RGB image, got shape {rgb.shape}")
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two arrays on the 0..255 scale; inf when they are identical."""
    _check_pair(a, b)
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 20.0 * math.log10(255.0 / math.sqrt(mse))


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The per-pixel SSIM of two (H,W) float64 arrays on the 0..255 scale, over the pixels whose 11x11 window lies
    inside the image: an (H-10, W-10) array (pixel (i, j) of it is pixel (i+5, j+5) of the images)."""
    height, width = a.shape
    if min(height, width) < 2 * SSIM_RADIUS + 1:
        raise JRGRError(f"SSIM needs images of at least 11x11 pixels, got {height}x{width}")

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (2 * SSIM_RADIUS + 1,) * 2, _SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a * mu_a
    var_b = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    per_pixel = ((2 * mu_a * mu_b + _SSIM_C1) * (2 * cov + _SSIM_C2)) / (
        (mu_a * mu_a + mu_b * mu_b + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    )
    r = SSIM_RADIUS
    return per_pixel[r:-r, r:-r]


def _ssim_single_channel(a: np.ndarray, b: np.ndarray) -> float:
    return float(ssim_map(a, b).mean())


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al.) between (H,W) or (H,W,C) arrays on the 0..255 scale; channels are averaged."""
    _check_pair(a, b)
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a64.ndim == 2:
        return _ssim_single_channel(a64, b64)
    return float(np.mean([_ssim_single_channel(a64[..., c], b64[..., c]) for c in range(a64.shape[2])]))


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB on the Y channel of two (H,W,3) RGB images."""
    return psnr(rgb_to_y(a), rgb_to_y(b))


def ssim_y(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM on the Y channel of two (H,W,3) RGB images."""
    return ssim(rgb_to_y(a), rgb_to_y(b))


@dataclass(frozen=True)
class ImageScores:
    """The four numbers every quality report carries, labelled by convention."""

    psnr_y: float
    ssim_y: float
    psnr_rgb: float
    ssim_rgb: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def score(restored: np.ndarray, clean: np.ndarray) -> ImageScores:
    """All four metrics of an (H,W,3) uint8 RGB estimate against its ground truth."""
    _check_pair(restored, clean)
    y_restored, y_clean = rgb_to_y(restored), rgb_to_y(clean)
    return ImageScores(
        psnr_y=psnr(y_restored, y_clean),
        ssim_y=ssim(y_restored, y_clean),
        psnr_rgb=psnr(restored, clean),
        ssim_rgb=ssim(restored, clean),
    )


def mean_scores(scores: list[ImageScores]) -> dict[str, float]:
    """Mean of each metric over images (PSNR averaged in dB, as the benchmark scripts do)."""
    if not scores:
        raise JRGRError("no images were scored")
    keys = ImageScores.__dataclass_fields__.keys()
    return {key: float(np.mean([getattr(s, key) for s in scores])) for key in keys}
