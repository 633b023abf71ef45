"""Scene depth for rain rendering: the ground-plane proxy used when no depth map is given, and a street canyon.

A camera at height h above a flat ground, looking at the horizon, sees the ground at image row y below the
horizon row y_h at distance Z = f_px * h / (y - y_h) (pinhole model); rows at or above the horizon (sky,
far facades) get the cap `max_depth_m`. Depth, and with it model B's veil, is then a function of the row alone.

The street canyon (`street_canyon_depth`) adds two facades parallel to the view axis, at lateral distances w_l
and w_r and up to roof heights above the camera, with the vanishing point drawn per image: a facade column at
x images at Z = f_px * w / |x - x_v|, so depth grows towards the vanishing point along the columns as much as
along the rows. It exists to check methods that read the veil row by row on a scene where that is not true.
"""

from __future__ import annotations

import numpy as np

from jrgr_deploy.errors import JRGRError

DEFAULT_HORIZON_FRACTION = 0.45  # horizon row as a fraction of the height: typical street/landscape framing
DEFAULT_CAMERA_HEIGHT_M = 1.6
DEFAULT_MAX_DEPTH_M = 150.0
DEFAULT_HORIZON_SOFTNESS = 0.03  # fraction of the height over which the horizon is smoothed (in disparity)
# street canyon draws: vanishing point (fractions of width / height), half-widths and roof heights (metres)
CANYON_VANISHING_X = (0.3, 0.7)
CANYON_HORIZON = (0.35, 0.55)
CANYON_HALF_WIDTH_M = (3.0, 12.0)
CANYON_ROOF_M = (6.0, 25.0)


def ground_plane_depth(
    height: int,
    width: int,
    focal_px: float | None = None,
    horizon_row: float | None = None,
    camera_height_m: float = DEFAULT_CAMERA_HEIGHT_M,
    max_depth_m: float = DEFAULT_MAX_DEPTH_M,
    horizon_softness: float = DEFAULT_HORIZON_SOFTNESS,
) -> np.ndarray:
    """(H, W) float32 depth in metres from the ground-plane proxy Z = f*h/(y - y_h), capped at `max_depth_m`
    (1/Z = (y - y_h)/(f h) + 1/max_depth_m, smoothed over `horizon_softness` x height rows).

    focal_px defaults to the image width (about a 53 degree horizontal field of view); horizon_row defaults to
    DEFAULT_HORIZON_FRACTION * height.
    """
    if height < 1 or width < 1:
        raise JRGRError(f"depth map size must be positive, got {height}x{width}")
    f_px = float(width) if focal_px is None else float(focal_px)
    y_h = DEFAULT_HORIZON_FRACTION * height if horizon_row is None else float(horizon_row)
    rows = np.arange(height, dtype=np.float64) + 0.5 - y_h
    # disparity 1/Z is linear in the row below the horizon; smoothing it (not Z) keeps the ground's geometry and
    # turns the horizon's depth step into a short ramp, so fog and veil show no hard band there
    disparity = np.maximum(rows, 0.0) / (f_px * camera_height_m) + 1.0 / max_depth_m
    sigma = horizon_softness * height
    if sigma > 0.5:
        radius = int(3 * sigma)
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        padded = np.pad(disparity, radius, mode="edge")
        disparity = np.convolve(padded, taps / taps.sum(), mode="valid")
    z = np.minimum(1.0 / disparity, max_depth_m).astype(np.float32)
    return np.repeat(z[:, None], width, axis=1)


def _smooth(disparity: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of a disparity map (a short ramp instead of a depth step: fog and veil are diffuse)."""
    if sigma_px <= 0.5:
        return disparity
    import cv2

    return cv2.GaussianBlur(disparity, (0, 0), sigma_px, borderType=cv2.BORDER_REPLICATE)


def street_canyon_depth(
    height: int,
    width: int,
    rng: np.random.Generator,
    focal_px: float | None = None,
    camera_height_m: float = DEFAULT_CAMERA_HEIGHT_M,
    max_depth_m: float = DEFAULT_MAX_DEPTH_M,
    softness: float = DEFAULT_HORIZON_SOFTNESS,
) -> tuple[np.ndarray, dict[str, float]]:
    """(H, W) float32 depth in metres of a street canyon, and the drawn geometry.

    Surfaces: the ground (disparity (y - y_h) / (f h) below the horizon row y_h), a left and a right facade
    (disparity |x - x_v| / (f w) on their side of the vanishing point x_v, up to the roof: height above the
    camera (y_h - y) w / |x - x_v| <= roof), sky elsewhere; each pixel sees the nearest (largest disparity).
    Disparity gets + 1/max_depth_m and a blur over `softness` x height pixels, as in `ground_plane_depth`.
    The vanishing point, half-widths w_l, w_r and roof heights are drawn from `rng` (see the CANYON_* ranges).
    """
    if height < 1 or width < 1:
        raise JRGRError(f"depth map size must be positive, got {height}x{width}")
    f_px = float(width) if focal_px is None else float(focal_px)
    geometry = {
        "vanishing_x": float(rng.uniform(*CANYON_VANISHING_X) * width),
        "horizon_row": float(rng.uniform(*CANYON_HORIZON) * height),
        "half_width_left_m": float(rng.uniform(*CANYON_HALF_WIDTH_M)),
        "half_width_right_m": float(rng.uniform(*CANYON_HALF_WIDTH_M)),
        "roof_left_m": float(rng.uniform(*CANYON_ROOF_M)),
        "roof_right_m": float(rng.uniform(*CANYON_ROOF_M)),
    }
    dy = (np.arange(height, dtype=np.float64) + 0.5 - geometry["horizon_row"])[:, None]
    dx = (np.arange(width, dtype=np.float64) + 0.5 - geometry["vanishing_x"])[None, :]
    ground = np.maximum(dy, 0.0) / (f_px * camera_height_m) * np.ones((1, width))
    left = dx < 0
    half_width = np.where(left, geometry["half_width_left_m"], geometry["half_width_right_m"])
    roof = np.where(left, geometry["roof_left_m"], geometry["roof_right_m"])
    facade = np.abs(dx) / (f_px * half_width)
    # a facade pixel exists below its roof: height above the camera (-dy) * w / |dx| <= roof
    below_roof = -dy * half_width <= roof * np.abs(dx)
    disparity = np.maximum(ground, np.where(below_roof, facade, 0.0)) + 1.0 / max_depth_m
    disparity = _smooth(disparity.astype(np.float32), softness * height)
    depth = np.minimum(1.0 / disparity, max_depth_m).astype(np.float32)
    return depth, geometry


def check_depth(depth: np.ndarray, height: int, width: int) -> np.ndarray:
    """Validate a user depth map: (H, W) finite and positive metres matching the image -> float32 copy."""
    arr = np.asarray(depth)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.shape != (height, width):
        raise JRGRError(f"depth map: expected shape ({height}, {width}) in metres to match the image, got {arr.shape}")
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)) or float(arr.min()) <= 0.0:
        raise JRGRError("depth map: expected finite, positive distances in metres")
    return arr
