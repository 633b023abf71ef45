"""The result type of both rain models and the input checks they share (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jrgr_deploy.errors import JRGRError

CHANNEL_ORDERS = ("rgb", "bgr")

# ITU-R BT.601 luma weights in R, G, B order: the drops' brightness follows perceived luminance.
_LUMA_RGB = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class RainSample:
    """One rendered rainy image.

    rainy:      (H, W, 3) uint8, same channel order as the input.
    clean:      (H, W, 3) uint8, the input background (b).
    rain_layer: (H, W, 3) float32 in [-1, 1]: rainy/255 - clean/255 before rounding (o - b).
    params:     JSON-serialisable dict: model, preset, seed and the physical parameters drawn.
    """

    rainy: np.ndarray
    clean: np.ndarray
    rain_layer: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Return `image` as a C-contiguous (H, W, 3) uint8 array or raise JRGRError naming the problem."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise JRGRError(f"{what}: expected an HxWx3 image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise JRGRError(f"{what}: expected dtype uint8 (0..255), got {arr.dtype}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise JRGRError(f"{what}: expected at least 2x2 pixels, got {arr.shape[0]}x{arr.shape[1]}")
    return np.ascontiguousarray(arr)


def check_channel_order(channel_order: str) -> str:
    """Validate `channel_order` ("rgb" or "bgr", case-insensitive) and return it lower-cased."""
    order = str(channel_order).lower()
    if order not in CHANNEL_ORDERS:
        raise JRGRError(f"unknown channel_order {channel_order!r}; expected one of {', '.join(CHANNEL_ORDERS)}")
    return order


def luma_weights(channel_order: str) -> np.ndarray:
    """(3,) float32 luma weights in the image's own channel order."""
    return _LUMA_RGB if channel_order == "rgb" else _LUMA_RGB[::-1].copy()


def finish_sample(clean: np.ndarray, rainy_float: np.ndarray, params: dict[str, Any]) -> RainSample:
    """Round a float rainy image in [0, 1] (H, W, 3) to uint8 and package it with its rain layer."""
    rainy_float = np.clip(rainy_float, 0.0, 1.0).astype(np.float32, copy=False)
    rain_layer = rainy_float - clean.astype(np.float32) / 255.0
    rainy = np.rint(rainy_float * 255.0).astype(np.uint8)
    return RainSample(rainy=rainy, clean=clean, rain_layer=rain_layer, params=params)


def jsonable(value: Any) -> Any:
    """numpy scalars/arrays and tuples -> plain Python, so `params` survives json.dumps."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
