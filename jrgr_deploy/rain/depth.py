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


def ground_plane_depth(
    height: int,
    width: int,
    focal_px: float | None = None,
    horizon_row: float | None = None,
    camera_height_m: float = DEFAULT_CAMERA_HEIGHT_M,
    max_depth_m: float = DEFAULT_MAX_DEPTH_M,
) -> np.ndarray:
    """(H, W) float32 depth in metres from the ground-plane proxy Z = f*h/(y - y_h), capped at `max_depth_m`.

    focal_px defaults to the image width (about a 53 degree horizontal field of view); horizon_row defaults to
    DEFAULT_HORIZON_FRACTION * height.
    """
    if height < 1 or width < 1:
        raise JRGRError(f"depth map size must be positive, got {height}x{width}")
    f_px = float(width) if focal_px is None else float(focal_px)
    y_h = DEFAULT_HORIZON_FRACTION * height if horizon_row is None else float(horizon_row)
    rows = np.arange(height, dtype=np.float32) + 0.5 - y_h
    with np.errstate(divide="ignore"):
        z = np.where(rows > 0, f_px * camera_height_m / np.maximum(rows, 1e-6), max_depth_m)
    z = np.minimum(z, max_depth_m).astype(np.float32)
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
