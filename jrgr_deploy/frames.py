"""Conversion between camera frames and the networks' tensor contract (numpy only, no torch).

The contract of every exported net (docs/ARCHITECTURE.md, "Contracts"): NCHW float32, RGB, values in
[-1, 1], H and W a multiple of the U-Net's 2**depth. Frames from OpenCV are HWC uint8 BGR; images read by
`jrgr_deploy.image_files` are HWC uint8 RGB.

Sizes: inside the package a size is (H, W), named `*_hw`, the order of numpy's shapes. Only the command
line speaks WIDTHxHEIGHT (how cameras and video tools write sizes): `parse_wh` reads it, and its callers
turn it into (H, W) at once.
"""

from __future__ import annotations

import numpy as np

from jrgr_deploy.errors import JRGRError


def _as_batch(images: np.ndarray) -> np.ndarray:
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise JRGRError(f"expected HxWx3 or NxHxWx3 images, got shape {images.shape}")
    if images.dtype != np.uint8:
        raise JRGRError(f"expected uint8 images, got dtype {images.dtype}")
    return images


# Channel copies one plane at a time instead of a transpose + reversed view: the same values, about
# 2.5x faster on 640x360 frames (strided whole-array copies are what made the conversions slow).
_RGB = (0, 1, 2)
_BGR = (2, 1, 0)


def _to_nchw(images: np.ndarray, order: tuple[int, int, int]) -> np.ndarray:
    batch = _as_batch(images)
    out = np.empty((batch.shape[0], 3, batch.shape[1], batch.shape[2]), dtype=np.float32)
    for dst, src in enumerate(order):
        out[:, dst] = batch[..., src]
    out *= 2.0 / 255.0
    out -= 1.0
    return out


def _from_nchw(batch: np.ndarray, order: tuple[int, int, int], offset: np.ndarray | None = None) -> np.ndarray:
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise JRGRError(f"expected an Nx3xHxW batch, got shape {batch.shape}")
    shift = np.float32(1.0)
    if offset is not None:  # folded into the +1 below: one pass over the planes either way
        shift = np.add(offset, np.float32(1.0), dtype=np.float32)
    scaled = np.asarray(batch, dtype=np.float32) + shift
    scaled *= np.float32(127.5)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    np.rint(scaled, out=scaled)
    planes = scaled.astype(np.uint8)
    out = np.empty((batch.shape[0], batch.shape[2], batch.shape[3], 3), dtype=np.uint8)
    for dst, src in enumerate(order):
        out[..., dst] = planes[:, src]
    return out


def rgb_to_nchw(images: np.ndarray) -> np.ndarray:
    """(H,W,3) or (N,H,W,3) uint8 RGB -> (N,3,H,W) float32 in [-1, 1]."""
    return _to_nchw(images, _RGB)


def bgr_to_nchw(images: np.ndarray) -> np.ndarray:
    """(H,W,3) or (N,H,W,3) uint8 BGR (OpenCV order) -> (N,3,H,W) float32 RGB in [-1, 1]."""
    return _to_nchw(images, _BGR)


def nchw_to_rgb(batch: np.ndarray) -> np.ndarray:
    """(N,3,H,W) float in [-1, 1] (values outside are clipped) -> (N,H,W,3) uint8 RGB, rounded."""
    return _from_nchw(batch, _RGB)


def nchw_to_bgr(batch: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
    """(N,3,H,W) float RGB in [-1, 1] -> (N,H,W,3) uint8 BGR for OpenCV. offset: an (H, W) array in [-1, 1] units
    added to every channel before rounding (the temporal filter's luma correction)."""
    return _from_nchw(batch, _BGR, offset)


def parse_wh(text: str, what: str = "size") -> tuple[int, int]:
    """'640x360' (WIDTHxHEIGHT, the command line's order) -> (640, 360) = (width, height); a clear error
    naming `what` otherwise."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise JRGRError(f"{what} '{text}' is not WIDTHxHEIGHT (e.g. 640x360)") from None
    if width < 1 or height < 1:
        raise JRGRError(f"{what} '{text}' must be positive (WIDTHxHEIGHT, e.g. 640x360)")
    return width, height


def parse_hw(text: str, what: str = "size") -> tuple[int, int]:
    """'640x360' (WIDTHxHEIGHT, as typed) -> (360, 640) = (height, width), the order used inside."""
    width, height = parse_wh(text, what)
    return height, width


INFER_AUTO = "auto"  # --infer-size auto: the scale the net was trained on (`auto_infer_hw`)
INFER_FULL = "full"  # --infer-size full: the frame's own size


def parse_infer_size(text: str, what: str = "--infer-size") -> tuple[int, int] | str | None:
    """An inference size as typed: 'auto' -> "auto", 'full' -> None (the frame's size), 'WxH' -> (H, W)."""
    word = text.strip().lower()
    if word == INFER_AUTO:
        return INFER_AUTO
    if word == INFER_FULL:
        return None
    try:
        return parse_hw(text, what)
    except JRGRError:
        raise JRGRError(f"{what} '{text}' is not 'auto', 'full' or WIDTHxHEIGHT (e.g. 640x360)") from None


def auto_infer_hw(
    frame_hw: tuple[int, int], train_frame_hw: tuple[int, int] | list[int] | None, multiple: int
) -> tuple[int, int] | None:
    """The inference size that shows the net a frame at the scale of the frames it was trained on.

    A frame whose short side is longer than the training frames' is shrunk so that its short side matches
    theirs (rain streaks, drops and veil then have the size in pixels the net learned); each side is rounded
    to the nearest multiple of `multiple` (no padding), at most the frame's. None: run at the frame's size
    (it is not larger than the training frames, or their size is unknown).
    """
    if train_frame_hw is None:
        return None
    scale = min(train_frame_hw) / min(frame_hw)
    if scale >= 1.0:
        return None
    height, width = (min(side, max(multiple, round(side * scale / multiple) * multiple)) for side in frame_hw)
    return None if (height, width) == tuple(frame_hw) else (height, width)


def padded_hw(height: int, width: int, multiple: int) -> tuple[int, int]:
    """The smallest (H, W) >= (height, width) that are both multiples of `multiple`."""
    if multiple < 1:
        raise JRGRError(f"size multiple must be >= 1, got {multiple}")
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def pad_to_multiple(batch: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad an (N,C,H,W) batch at the bottom/right so H and W are multiples of `multiple`.

    Returns the padded batch and the original (H, W) for `unpad`. Reflection (not zeros) keeps the
    border statistics natural, so the net sees no artificial edge. Padding larger than the image
    falls back to symmetric-edge replication, which reflect cannot do.
    """
    height, width = batch.shape[-2:]
    target_h, target_w = padded_hw(height, width, multiple)
    pad_h, pad_w = target_h - height, target_w - width
    if pad_h == 0 and pad_w == 0:
        return batch, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "symmetric"
    padded = np.pad(batch, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode=mode)
    return padded, (height, width)


def unpad(batch: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Crop an (N,C,H',W') batch back to the (H, W) that `pad_to_multiple` returned."""
    height, width = hw
    return batch[..., :height, :width]


def check_size_contract(height: int, width: int, multiple: int, what: str = "input") -> None:
    """Raise a clear error when (height, width) breaks the multiple-of-2**depth contract."""
    if height % multiple or width % multiple:
        good_h, good_w = padded_hw(height, width, multiple)
        raise JRGRError(
            f"{what} size {height}x{width} (HxW) breaks the contract: H and W must be multiples of "
            f"{multiple} (2**depth of the U-Net); nearest valid size is {good_h}x{good_w}"
        )
