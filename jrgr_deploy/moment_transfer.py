"""Moment transfer (beyond the paper): synthetic rainy images re-toned to the real rainy images' statistics.

JRGR's pseudo-pairs (Õ_r, B_s) carry real-style rain only as far as G_r learns it, and an additive rain layer cannot
carry what separates real rain most from synthetic rain: a veil that lowers the contrast of the far, upper part of
the picture and lifts it towards the airlight (docs/ARCHITECTURE.md, "Beyond the paper"). Its first two moments are
visible without ground truth: split every image into a grid x grid partition and take the mean and the standard
deviation of luma (0..255) in each cell; average over many images of a set. The real set's moments minus the
synthetic set's are the population's veil, cell by cell.

`MomentTransfer.apply` maps a synthetic rainy image O_s to Õ_mt with those moments (an affine map per cell,
bilinear between cell centres, the same on the three channels):

    Õ_mt = g ⊙ (O_s − μ_s) + μ_s + s (μ_r − μ_s),   g = 1 + s (σ_r / σ_s − 1)

where μ, σ are the source (synthetic) and target (real) population moments and s is a strength drawn per image
around 1 (``jitter``), so that F_r sees veils of several strengths and has to read each image's veil from the image
rather than subtract the population's. (Õ_mt, B_s) is a pseudo-pair: ``loss.weights.mse_fr_mt`` trains F_r on it.
The maps are pure functions of uint8 images; nothing is learnt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.rain.sample import luma_weights

LUMA_RGB = luma_weights("rgb")  # BT.601, the rain renderer's weights (as PSNR-Y, jrgr_deploy.metrics)
MIN_STD = 1.0  # luma levels: a flat cell has no contrast to scale


def check_tone_strength(strength: float, what: str = "tone strength") -> float:
    """The strength of a tone map after the net (`jrgr export --tone`) as a float in [0, 1] (0: off); a clear
    JRGRError naming `what` otherwise."""
    if not 0.0 <= strength <= 1.0:
        raise JRGRError(f"{what} {strength:g}: expected a number from 0 (off) to 1")
    return float(strength)


def cell_moments(image: np.ndarray, grid: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (grid, grid, 2) float64: mean and standard deviation of luma (0..255) per cell of a
    grid x grid partition (cell edges at round(i H / grid), round(j W / grid))."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise JRGRError(f"moment transfer: expected an (H, W, 3) RGB image, got shape {image.shape}")
    height, width = image.shape[:2]
    if grid < 1 or height < grid or width < grid:
        raise JRGRError(f"moment transfer: a {grid}x{grid} grid needs an image of at least {grid}x{grid} pixels, "
                        f"got {width}x{height}")
    luma = image.astype(np.float32) @ LUMA_RGB
    rows = np.linspace(0, height, grid + 1).round().astype(int)
    cols = np.linspace(0, width, grid + 1).round().astype(int)
    out = np.empty((grid, grid, 2))
    for i in range(grid):
        for j in range(grid):
            cell = luma[rows[i] : rows[i + 1], cols[j] : cols[j + 1]]
            out[i, j] = cell.mean(), cell.std()
    return out


def population_moments(images: Iterable[np.ndarray], grid: int) -> np.ndarray:
    """The mean over `images` of `cell_moments` -> (grid, grid, 2); JRGRError when there is none."""
    total, count = np.zeros((grid, grid, 2)), 0
    for image in images:
        total += cell_moments(image, grid)
        count += 1
    if count == 0:
        raise JRGRError("moment transfer: no images to take moments from")
    return total / count


@dataclass(frozen=True)
class MomentTransfer:
    """The population moments of the synthetic (``source``) and the real (``target``) rainy images, each
    (grid, grid, 2) [mean, std] of luma per cell, and the per-image strength range 1 ± ``jitter``."""

    source: np.ndarray
    target: np.ndarray
    jitter: float = 0.3

    def __post_init__(self) -> None:
        if self.source.shape != self.target.shape or self.source.ndim != 3 or self.source.shape[2] != 2:
            raise JRGRError(f"moment transfer: source {self.source.shape} and target {self.target.shape} must both "
                            "be (grid, grid, 2)")
        if not 0.0 <= self.jitter < 1.0:
            raise JRGRError(f"moment transfer: jitter must be in [0, 1), got {self.jitter}")

    @classmethod
    def fit(cls, synthetic: Iterable[np.ndarray], real: Iterable[np.ndarray], grid: int,
            jitter: float = 0.3) -> MomentTransfer:
        """From synthetic rainy and real rainy (H, W, 3) uint8 RGB images (any sizes: the grid is relative)."""
        return cls(population_moments(synthetic, grid), population_moments(real, grid), jitter)

    @property
    def gain(self) -> np.ndarray:
        """(grid, grid) contrast gain σ_r / σ_s of the population veil."""
        return np.maximum(self.target[..., 1], MIN_STD) / np.maximum(self.source[..., 1], MIN_STD)

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (an artefact's sidecar ``tone``, `jrgr_deploy.artifact`); `from_dict` reads it back."""
        return {"source": self.source.round(4).tolist(), "target": self.target.round(4).tolist(),
                "jitter": self.jitter}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> MomentTransfer:
        try:
            return cls(np.asarray(data["source"], np.float64), np.asarray(data["target"], np.float64),
                       float(data.get("jitter", 0.0)))
        except (KeyError, TypeError, ValueError) as error:
            raise JRGRError(f"moment transfer: expected source and target (grid, grid, 2) lists, got {error}") from None

    def veil_share(self, image: np.ndarray) -> float:
        """How much of the population veil an (H, W, 3) uint8 RGB image shows, in [0, 1]: its cell moments (means
        and spreads) projected on the line from the target's (0: clean) to the source's (1), clipped. A tone map
        fitted between a net's outputs on rain and clean footage then leaves a dry frame alone (share ~0) and
        takes the veil of a rainy one in proportion to how much of it the frame has."""
        direction = (self.source - self.target).ravel()
        offset = (cell_moments(image, self.source.shape[0]) - self.target).ravel()
        return float(np.clip(offset @ direction / max(float(direction @ direction), 1e-9), 0.0, 1.0))

    def apply_to_veil(self, image: np.ndarray, strength: float = 1.0) -> np.ndarray:
        """`apply` at `strength` times the image's own `veil_share` (the runtime's tone map, `jrgr export --tone`)."""
        return self.apply(image, strength * self.veil_share(image))

    def draw_strength(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(1.0 - self.jitter, 1.0 + self.jitter))

    def apply(self, image: np.ndarray, strength: float = 1.0) -> np.ndarray:
        """(H, W, 3) uint8 RGB synthetic rainy image -> Õ_mt, the same shape and type (see the module docstring)."""
        height, width = image.shape[:2]
        size = (width, height)

        def per_pixel(cells: np.ndarray) -> np.ndarray:  # cell values at the cell centres, bilinear between them
            return cv2.resize(cells.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)[..., None]

        gain = per_pixel(1.0 + strength * (self.gain - 1.0))
        mean_source = per_pixel(self.source[..., 0])
        shift = per_pixel(strength * (self.target[..., 0] - self.source[..., 0]))
        out = gain * (image.astype(np.float32) - mean_source) + mean_source + shift
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
