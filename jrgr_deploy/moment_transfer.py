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

`streaks_on_background` (``loss.transfer_streaks_px``) builds Õ_mt from the clean background B_s instead: B_s
re-toned (source moments: the backgrounds') plus only the streaks of the synthetic rain layer O_s − B_s, so that the
pair's low-frequency veil is the real set's alone and not the synthetic rain's own lift as well.
The maps are pure functions of uint8 images; nothing is learnt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.rain.sample import luma_weights

LUMA_RGB = luma_weights("rgb")  # BT.601, the rain renderer's weights (as PSNR-Y, jrgr_deploy.metrics)
MIN_STD = 1.0  # luma levels: a flat cell has no contrast to scale
# `light_gain`: below this spread of the cells' contrast ratios the veil's airlight and the light cannot be told
# apart; outside this range of gains the fit is taken for a failure rather than for a dry day that much brighter
MIN_CONTRAST_SPREAD = 0.15
LIGHT_GAIN_RANGE = (0.5, 2.0)


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
    luma = cv2.transform(image.astype(np.float32), LUMA_RGB.reshape(1, 3))  # (H, W) float32, OpenCV's speed
    rows = np.linspace(0, height, grid + 1).round().astype(int)
    cols = np.linspace(0, width, grid + 1).round().astype(int)
    out = np.empty((grid, grid, 2))
    for i in range(grid):
        for j in range(grid):
            mean, std = cv2.meanStdDev(luma[rows[i] : rows[i + 1], cols[j] : cols[j + 1]])
            out[i, j] = mean[0, 0], std[0, 0]
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


def light_gain(source: np.ndarray, target: np.ndarray) -> float | None:
    """How much brighter the light of `target` (clean images of a scene) is than that of `source` (the scene in
    rain, derained), both (grid, grid, 2) population moments; None when the cells cannot tell.

    The source is read as the target's scene at 1/k of its light under a veil of transmission T (per cell) and one
    airlight A (the haze model that `jrgr_deploy.veil_removal` also inverts): μ_s = T μ_t / k + (1 − T) A and
    σ_s = T σ_t / k. With x = σ_s / σ_t = T / k per cell, μ_s − x μ_t = A − k A x: a line over the cells with
    intercept A and slope −k A, fitted by least squares. It needs cells of different veil (a depth layout: far cells
    hazier than near ones); with contrast ratios spread less than MIN_CONTRAST_SPREAD, a non-positive airlight or
    a gain outside LIGHT_GAIN_RANGE the answer is None (take the light as it is)."""
    x = (np.maximum(source[..., 1], MIN_STD) / np.maximum(target[..., 1], MIN_STD)).ravel()
    y = source[..., 0].ravel() - x * target[..., 0].ravel()
    if x.max() - x.min() < MIN_CONTRAST_SPREAD:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    if intercept <= 0.0:
        return None
    gain = float(-slope / intercept)
    return gain if LIGHT_GAIN_RANGE[0] <= gain <= LIGHT_GAIN_RANGE[1] else None


STREAK_ENERGY_PX = 4.0  # `streak_energy`'s blur: a streak is a few pixels wide; a veil spreads over tens
MAX_COUPLED_STRENGTH = 3.0  # ``loss.transfer_coupled``: a pair's strength at most this many times the mean's


def streak_energy(rainy: np.ndarray, clean: np.ndarray, px: float = STREAK_ENERGY_PX) -> float:
    """How much rain a synthetic pair shows, in luma levels: mean |rain layer − its Gaussian blur of σ = `px`| over
    the image, the rain layer rainy − clean on luma (both (H, W, 3) uint8 RGB)."""
    rain = cv2.transform(rainy.astype(np.float32) - clean.astype(np.float32), LUMA_RGB.reshape(1, 3))
    return float(np.mean(np.abs(rain - cv2.GaussianBlur(rain, (0, 0), px))))


def streaks_on_background(transfer: MomentTransfer, rainy: np.ndarray, clean: np.ndarray, strength: float,
                          streaks_px: float) -> np.ndarray:
    """A synthetic pair's (H, W, 3) uint8 RGB rainy and clean images -> Õ_mt of ``loss.transfer_streaks_px`` (same
    shape and type): `transfer` (fitted from the backgrounds' moments to the real rainy images') applied to the
    clean image at `strength`, plus the rain layer rainy − clean minus its Gaussian blur of σ = `streaks_px`."""
    if streaks_px <= 0.0:
        raise JRGRError(f"moment transfer: the streaks' blur must be > 0 px, got {streaks_px}")
    rain = rainy.astype(np.float32) - clean.astype(np.float32)
    streaks = rain - cv2.GaussianBlur(rain, (0, 0), streaks_px)
    out = transfer.apply(clean, strength).astype(np.float32) + streaks
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class MomentTransfer:
    """The population moments of the synthetic (``source``) and the real (``target``) rainy images, each
    (grid, grid, 2) [mean, std] of luma per cell, and the per-image strength range 1 ± ``jitter``."""

    source: np.ndarray
    target: np.ndarray
    jitter: float = 0.3
    # (H, W) -> `apply`'s per-pixel maps at strength 1; a stream re-tones every frame at one size
    _maps: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, init=False, compare=False, repr=False)

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

    def relit(self, gain: float) -> MomentTransfer:
        """The same map with the target's light divided by `gain` (means and spreads alike; see `light_gain`)."""
        return MomentTransfer(self.source, self.target / gain, self.jitter)

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
        """(H, W, 3) uint8 RGB synthetic rainy image -> Õ_mt, the same shape and type (see the module docstring).

        The map is affine in the pixel and in s: Õ_mt = x + s (a ⊙ x + c) with a = g₁ − 1 and
        c = (μ_r − μ_s) − a ⊙ μ_s (g₁: the gain at s = 1), each bilinear between cell centres; a and c depend only
        on the image size and are kept per size, so a frame costs three passes of OpenCV (the runtime's tone stage).
        """
        if strength == 0.0:
            return image.copy()
        slope, offset = self._per_pixel(image.shape[:2])
        change = cv2.multiply(np.ascontiguousarray(image), slope, dtype=cv2.CV_32F)  # a ⊙ x
        cv2.add(change, offset, dst=change)  # + c
        # x + s (a ⊙ x + c), rounded to the nearest level and saturated to 0..255 by OpenCV
        return cv2.addWeighted(image, 1.0, change, float(strength), 0.0, dtype=cv2.CV_8U)

    def _per_pixel(self, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """`apply`'s (a, c) for an (H, W) image: (H, W, 3) float32 each, the same on the three channels."""
        maps = self._maps.get(hw)
        if maps is None:
            size = (hw[1], hw[0])

            def per_pixel(cells: np.ndarray) -> np.ndarray:  # cell values at the cell centres, bilinear between
                return cv2.resize(cells.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)

            slope = per_pixel(self.gain - 1.0)
            offset = per_pixel(self.target[..., 0] - self.source[..., 0]) - slope * per_pixel(self.source[..., 0])
            maps = (cv2.merge([slope] * 3), cv2.merge([offset] * 3))
            if len(self._maps) >= 4:  # training crops come in few sizes, a stream in one
                self._maps.clear()
            self._maps[hw] = maps
        return maps
