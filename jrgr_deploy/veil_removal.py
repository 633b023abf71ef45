"""Veil removal: the dark-channel prior (He, Sun and Tang, CVPR 2009) on a derained frame.

Used by the runtime after the net (`jrgr derain --veil S`) and by training for the pseudo-labels of the real
images (``loss.weights.mse_fr_pl``, `jrgr_deploy.training.data.make_pseudo_labels`); core, so both layers share it.

Rain that is far from the camera reaches it as a veil rather than as streaks: O = T ⊙ B + (1 − T) · A, with a
transmission T that varies slowly over the image and one airlight colour A. F_r removes streaks well but most
of that veil stays (on the camera-adaptation benchmark the veil, not the streaks, is most of the error left:
BENCHMARKS.md, "Veil removal"). The dark-channel prior says that in a clean outdoor image most patches have a
pixel that is dark in one colour channel; a veil lifts that dark channel by (1 − T) · A, so

    A   the mean colour of the 0.1 % of pixels with the brightest dark channel,
    t   1 − strength · min over a patch and the channels of I / A   (smoothed, at least T_MIN),
    B̂   (I − A) / t + A.

`strength` (He et al.'s ω, in [0, 1)) keeps some veil on purpose: 0 leaves the frame as it is; the prior's own
0.95 assumes haze on a clean scene and removes far too much after F_r (measured). The transmission is estimated on
a copy at `WORK_SHORT_SIDE_PX` (it is smooth), so the stage costs about the same at every frame size; the patch is
`PATCH_FRACTION` of the frame's short side. Per frame, no state: A and t follow the scene as it changes.
"""

from __future__ import annotations

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError

WORK_SHORT_SIDE_PX = 180  # the transmission's work resolution (short side)
PATCH_FRACTION = 15 / 360  # the dark channel's patch: 15 px on a 640x360 frame, as He et al.'s 15 px at ~600 px
AIRLIGHT_FRACTION = 0.001  # the brightest 0.1 % of the dark channel give the airlight
T_MIN = 0.1  # transmission floor: below it the division amplifies noise more than it restores
SMOOTH_FRACTION = 8 / 360  # Gaussian sigma of the transmission (a veil is smooth; a cheap guided filter)
ROW_PERCENTILE = 1.0  # `remove_row_veil`: a row's dark level, the percentile of its pixels' darkest channel
TOLERANCE_BLUR_PX = 2.0  # `remove_row_veil`'s sky tolerance reads each pixel's distance to the airlight under this blur


def check_strength(strength: float) -> float:
    """`strength` as a float in [0, 1); a clear JRGRError otherwise."""
    try:
        value = float(strength)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value < 1.0:
        raise JRGRError(f"veil strength {strength!r}: expected a number from 0 (off) to below 1")
    return value


def _check_inputs(frame: np.ndarray, strength: float, area_fraction: float, airlight_fraction: float,
                  area: str) -> float:
    """The checked strength; a clear JRGRError for a bad strength, fraction (the `area`'s: patch or band) or image."""
    strength = check_strength(strength)
    if not (0.0 < area_fraction <= 1.0 and 0.0 < airlight_fraction <= 1.0):
        raise JRGRError(f"veil removal: {area} fraction {area_fraction} and airlight fraction {airlight_fraction} "
                        "must both be in (0, 1]")
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise JRGRError(f"veil removal: expected an (H, W, 3) uint8 image, got {frame.dtype} {frame.shape}")
    return strength


def _channel_min(channels: list[np.ndarray]) -> np.ndarray:
    """The per-pixel minimum of three planes (OpenCV's: numpy's min over the channel axis costs 10 x more)."""
    return cv2.min(cv2.min(channels[0], channels[1]), channels[2])


def remove_veil(frame: np.ndarray, strength: float, patch_fraction: float = PATCH_FRACTION,
                airlight_fraction: float = AIRLIGHT_FRACTION) -> np.ndarray:
    """(H, W, 3) uint8 -> the same frame with `strength` of its dark-channel veil removed (uint8, the same channel
    order: every step treats the three channels alike, so BGR and RGB give the same pixels).

    strength 0 returns `frame` itself. `patch_fraction` (the dark channel's patch, of the short side) and
    `airlight_fraction` (the share of the brightest dark-channel pixels the airlight is read from) default to the
    runtime's; the pseudo-labels may choose others (``loss.pl_veil_patch``, ``loss.pl_airlight_fraction``)."""
    strength = _check_inputs(frame, strength, patch_fraction, airlight_fraction, "patch")
    if strength == 0.0:
        return frame
    height, width = frame.shape[:2]
    scale = min(1.0, WORK_SHORT_SIDE_PX / min(height, width))
    small = frame if scale == 1.0 else cv2.resize(frame, (max(1, round(width * scale)), max(1, round(height * scale))),
                                                  interpolation=cv2.INTER_AREA)  # fmt: skip
    image = small.astype(np.float32) / 255.0
    short = min(image.shape[:2])
    patch = max(3, round(patch_fraction * short) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    channels = cv2.split(image)
    dark = cv2.erode(_channel_min(channels), kernel)
    count = max(1, int(dark.size * airlight_fraction))
    brightest = np.argpartition(dark.ravel(), dark.size - count)[-count:]
    airlight = np.maximum(image.reshape(-1, 3)[brightest].mean(axis=0), 1e-3)  # per channel, in [0, 1]
    scaled = [cv2.multiply(channel, 1.0 / float(a)) for channel, a in zip(channels, airlight, strict=True)]
    transmission = 1.0 - strength * cv2.erode(_channel_min(scaled), kernel)
    transmission = cv2.GaussianBlur(transmission, (0, 0), max(0.5, SMOOTH_FRACTION * short))
    if scale != 1.0:
        transmission = cv2.resize(transmission, (width, height), interpolation=cv2.INTER_LINEAR)
    np.maximum(transmission, T_MIN, out=transmission)
    # B = (I - A) / t + A per channel, in 0..255 units, with OpenCV's passes (numpy's broadcasting over three
    # interleaved channels cost three times as much); the last add rounds and saturates to uint8
    inverse = np.reciprocal(transmission)
    air = (*(float(v) * 255.0 for v in airlight), 0.0)
    out = cv2.subtract(frame, air, dtype=cv2.CV_32F)
    cv2.multiply(out, cv2.merge((inverse, inverse, inverse)), dst=out)
    return cv2.add(out, air, dtype=cv2.CV_8U)


def remove_row_veil(frame: np.ndarray, strength: float, band_fraction: float = PATCH_FRACTION,
                    airlight_fraction: float = AIRLIGHT_FRACTION, sky_tolerance: float = 0.0) -> np.ndarray:
    """(H, W, 3) uint8 -> the same frame with `strength` of a veil that follows its rows removed: the dark channel
    read row by row, in linear light (the pseudo-labels' ``loss.pl_veil_removal=row_dark_channel``).

    On a street or road scene seen from the ground the distance, and with it the veil of fog and of the drops too
    far to resolve, grows towards the horizon row by row, while a square patch of the dark channel mixes the
    veil of near and far rows (and is lifted wherever one patch holds no dark pixel). Here a row's dark level is
    the `ROW_PERCENTILE` percentile of its pixels' darkest channel (one pixel's minimum is noise), eroded over a
    band of `band_fraction` of the height; the airlight is the mean colour of the `airlight_fraction` of rows with
    the brightest dark level. Radiance, not sRGB code values, adds up in a veil, so the sum is undone on the
    squared image (sRGB's gamma as 2) and the square root taken at the end. No work copy: this runs on training's
    pseudo-labels, once per image, not per frame.

    `sky_tolerance` K > 0 (grey levels; ``loss.pl_veil_sky_tolerance``): where a pixel's colour lies within K of the
    airlight (its largest channel difference in sRGB grey levels, under a `TOLERANCE_BLUR_PX` blur) its
    transmission is raised to t · K / |I − A| (at most 1). The prior fails there: a bright sky or a white wall has
    no dark pixel, so its row reads as dense veil, and dividing by that small t multiplies the sky's own
    difference from the airlight (blue against white clouds) and the streaks on it. A veil that is really there
    pulls a pixel towards the airlight too, so K trades some of that veil for the sky (measured: BENCHMARKS.md,
    Camera adaptation)."""
    strength = _check_inputs(frame, strength, band_fraction, airlight_fraction, "band")
    if not sky_tolerance >= 0.0:
        raise JRGRError(f"veil removal: sky tolerance {sky_tolerance} must be >= 0 grey levels (0: none)")
    if strength == 0.0:
        return frame
    height = frame.shape[0]
    linear = np.square(frame.astype(np.float32) / 255.0)
    band = np.ones((max(1, round(band_fraction * height)) | 1, 1), np.uint8)

    def row_dark(image: np.ndarray) -> np.ndarray:  # (H, W, 3) -> (H, 1): each row's dark level
        levels = np.percentile(_channel_min(cv2.split(image)), ROW_PERCENTILE, axis=1).astype(np.float32)[:, None]
        return cv2.erode(levels, band)

    rows = max(1, round(height * airlight_fraction))
    brightest = np.argpartition(row_dark(linear)[:, 0], height - rows)[-rows:]
    airlight = np.maximum(linear[brightest].reshape(-1, 3).mean(axis=0), 1e-3)
    transmission = 1.0 - strength * row_dark(linear / airlight)
    sigma_px = max(0.5, SMOOTH_FRACTION * min(frame.shape[:2]))
    transmission = cv2.GaussianBlur(transmission, (0, 0), sigmaX=0.5, sigmaY=sigma_px)
    np.maximum(transmission, T_MIN, out=transmission)
    if sky_tolerance > 0.0:  # (H, 1) -> (H, W): each pixel's own, raised near the airlight
        distance = np.abs(np.sqrt(linear) - np.sqrt(airlight)).max(axis=2) * 255.0
        distance = cv2.GaussianBlur(distance, (0, 0), TOLERANCE_BLUR_PX)
        transmission = np.minimum(transmission * np.maximum(sky_tolerance / np.maximum(distance, 1e-3), 1.0), 1.0)
    clean = (linear - airlight) / transmission[:, :, None] + airlight
    np.clip(clean, 0.0, 1.0, out=clean)
    return (np.sqrt(clean) * 255.0 + 0.5).astype(np.uint8)


__all__ = ["check_strength", "remove_row_veil", "remove_veil"]
