"""Model A, the "synthetic" domain: data-set style streaks plus RainCityscape haze (numpy + OpenCV).

Streak layer S (Rain100-style): sparse noise seeds -> motion-blur kernel of length L at angle theta ->
Gaussian width -> normalised so an isolated streak peaks at its seed's intensity. Composite (RainCityscape,
Hu et al. CVPR 2019, eq. 3):

    O = B (1 - R - A) + R + A0 * A,   R = S * exp(-alpha * d),   A = 1 - exp(-beta * d)

with depth d from the ground-plane proxy (`depth.ground_plane_depth`) unless a depth map is given.
O - B = R (1 - B) + A (A0 - B) >= 0 because B <= 1 and A0 >= max(B): model A only ever brightens.
All streaks share one angle and one brightness scale, as in the synthetic training sets.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from jrgr_deploy.rain.depth import ground_plane_depth

# Streaks of synthetic sets are rendered as if exposed for 1/60 s; that sets how far a streak moves per frame.
_EXPOSURE_S = 1.0 / 60.0
_GOLDEN = 0.6180339887  # re-entering seeds move sideways by this fraction of the width: no visible period


@dataclass(frozen=True)
class SyntheticPreset:
    """Ranges drawn uniformly per seed (lo, hi); angle is drawn in [-max_angle_deg, max_angle_deg]."""

    amount: tuple[float, float]  # seed density, streaks per pixel
    length_px: tuple[float, float]
    max_angle_deg: float
    width_sigma_px: tuple[float, float]
    brightness: tuple[float, float]  # peak streak intensity on [0, 1]
    alpha_per_m: tuple[float, float]  # streak attenuation with depth
    beta_per_m: tuple[float, float]  # haze density
    a0: tuple[float, float]  # atmospheric light (raised to max(B) to stay additive)


SYNTHETIC_PRESETS: dict[str, SyntheticPreset] = {
    "light": SyntheticPreset((0.002, 0.004), (25.0, 35.0), 10.0, (0.45, 0.7), (0.55, 0.75), (0.005, 0.01),
                             (0.0, 0.0005), (0.85, 0.95)),
    "medium": SyntheticPreset((0.004, 0.007), (35.0, 48.0), 30.0, (0.55, 0.9), (0.65, 0.85), (0.005, 0.01),
                              (0.0005, 0.002), (0.85, 0.95)),
    "heavy": SyntheticPreset((0.007, 0.010), (45.0, 60.0), 60.0, (0.7, 1.1), (0.75, 0.95), (0.005, 0.01),
                             (0.002, 0.005), (0.85, 0.95)),
}


def _draw(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def motion_blur_kernel(length_px: float, angle_deg: float, width_sigma_px: float) -> np.ndarray:
    """(k, k) float32 streak kernel with peak 1: an anti-aliased line of `length_px` at `angle_deg` from vertical
    (positive leans right going down), tapered at both ends, blurred across by a Gaussian of `width_sigma_px`."""
    pad = int(math.ceil(3.0 * width_sigma_px)) + 2
    half = int(math.ceil(length_px / 2.0)) + pad
    size = 2 * half + 1
    theta = math.radians(angle_deg)
    dx, dy = math.sin(theta), math.cos(theta)
    shift = 4  # sub-pixel end points for cv2.line
    scale = 1 << shift
    p0 = (round((half - dx * length_px / 2) * scale), round((half - dy * length_px / 2) * scale))
    p1 = (round((half + dx * length_px / 2) * scale), round((half + dy * length_px / 2) * scale))
    line = np.zeros((size, size), np.float32)
    cv2.line(line, p0, p1, 1.0, 1, cv2.LINE_AA, shift)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - half
    along = (xx * dx + yy * dy) / max(length_px / 2.0, 1.0)  # -1 .. 1 from head to tail
    taper = np.clip(1.25 * np.cos(0.5 * np.pi * np.clip(along, -1.0, 1.0)), 0.0, 1.0)
    kernel = cv2.GaussianBlur(line * taper, (0, 0), width_sigma_px)
    return (kernel / max(float(kernel.max()), 1e-12)).astype(np.float32)


class SyntheticRain:
    """Model A for an H x W frame: parameters and noise seeds drawn once from `seed`; `render` at any time t.

    Seeds move along the streak direction by one streak length per exposure (1/60 s) and re-enter at the top,
    so consecutive frames show the same streaks shifted down.
    """

    def __init__(self, preset: str, seed: int, height: int, width: int) -> None:
        p = SYNTHETIC_PRESETS[preset]
        rng = np.random.default_rng([int(seed), 0xA])
        self.height, self.width = int(height), int(width)
        self.amount = _draw(rng, p.amount)
        self.length_px = _draw(rng, p.length_px)
        self.angle_deg = float(rng.uniform(-p.max_angle_deg, p.max_angle_deg))
        self.width_sigma_px = _draw(rng, p.width_sigma_px)
        self.brightness = _draw(rng, p.brightness)
        self.alpha_per_m = _draw(rng, p.alpha_per_m)
        self.beta_per_m = _draw(rng, p.beta_per_m)
        self.a0 = _draw(rng, p.a0)
        self.kernel = motion_blur_kernel(self.length_px, self.angle_deg, self.width_sigma_px)
        self.margin = self.kernel.shape[0] // 2 + 1
        self.ext_h = self.height + 2 * self.margin
        self.ext_w = self.width + 2 * self.margin
        n_seeds = int(rng.poisson(self.amount * self.ext_h * self.ext_w))
        self.seed_x = rng.uniform(0.0, self.ext_w, n_seeds)
        self.seed_y = rng.uniform(0.0, self.ext_h, n_seeds)
        self.seed_value = rng.uniform(0.4, 1.0, n_seeds)
        self.speed_px_per_s = self.length_px / _EXPOSURE_S
        self.preset = preset

    def params(self) -> dict[str, Any]:
        """The drawn parameters (JSON-serialisable)."""
        return {
            "amount": self.amount, "length_px": self.length_px, "angle_deg": self.angle_deg,
            "width_sigma_px": self.width_sigma_px, "brightness": self.brightness,
            "alpha_per_m": self.alpha_per_m, "beta_per_m": self.beta_per_m, "a0": self.a0,
            "n_seeds": len(self.seed_x), "preset_ranges": asdict(SYNTHETIC_PRESETS[self.preset]),
        }

    def streak_layer(self, time_s: float = 0.0) -> np.ndarray:
        """(H, W) float32 streak layer S in [0, 1] at time `time_s`."""
        theta = math.radians(self.angle_deg)
        travel = self.speed_px_per_s * time_s
        y = self.seed_y + travel * math.cos(theta)
        wraps = np.floor(y / self.ext_h)
        y = y - wraps * self.ext_h
        x = np.mod(self.seed_x + travel * math.sin(theta) + wraps * _GOLDEN * self.ext_w, self.ext_w)
        # bilinear splat: sub-pixel seed positions keep streaks moving smoothly from frame to frame
        iy, ix = np.floor(y), np.floor(x)
        fy, fx = y - iy, x - ix
        iy, ix = iy.astype(np.int64), ix.astype(np.int64)
        idx, wts = [], []
        for dy, dx, w in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
            ok = (iy + dy < self.ext_h) & (ix + dx < self.ext_w)
            idx.append(((iy + dy) * self.ext_w + ix + dx)[ok])
            wts.append((self.seed_value * w)[ok])
        seeds = np.bincount(np.concatenate(idx), weights=np.concatenate(wts), minlength=self.ext_h * self.ext_w)
        seeds = seeds.astype(np.float32).reshape(self.ext_h, self.ext_w)
        layer = cv2.filter2D(seeds, -1, self.kernel, borderType=cv2.BORDER_CONSTANT)
        m = self.margin
        layer = layer[m:m + self.height, m:m + self.width]
        return np.clip(layer * self.brightness, 0.0, 1.0)

    def render(self, clean: np.ndarray, time_s: float = 0.0, depth: np.ndarray | None = None) -> np.ndarray:
        """clean: (H, W, 3) uint8 -> rainy (H, W, 3) float32 on [0, 1] (RainCityscape eq. 3).

        depth: (H, W) metres (default: the ground-plane proxy)."""
        background = clean.astype(np.float32) / np.float32(255.0)
        if depth is None:
            depth = ground_plane_depth(self.height, self.width)
        s = self.streak_layer(time_s)
        r = (s * np.exp(-self.alpha_per_m * depth))[..., None]
        a = (1.0 - np.exp(-self.beta_per_m * depth))[..., None]
        a0 = max(self.a0, float(background.max()))
        rainy = background * (1.0 - r - a) + r + a0 * a
        return np.clip(rainy, 0.0, 1.0)
