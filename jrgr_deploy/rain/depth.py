"""Scene depth for rain rendering: the ground-plane proxy used when no depth map is given.

A camera at height h above a flat ground, looking at the horizon, sees the ground at image row y below the
horizon row y_h at distance Z = f_px * h / (y - y_h) (pinhole model); rows at or above the horizon (sky,
far facades) get the cap `max_depth_m`.
"""

from __future__ import annotations

import numpy as np

from jrgr_deploy.errors import JRGRError

DEFAULT_HORIZON_FRACTION = 0.45  # horizon row as a fraction of the height: typical street/landscape framing
DEFAULT_CAMERA_HEIGHT_M = 1.6
DEFAULT_MAX_DEPTH_M = 150.0
DEFAULT_HORIZON_SOFTNESS = 0.03  # fraction of the height over which the horizon is smoothed (in disparity)


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
