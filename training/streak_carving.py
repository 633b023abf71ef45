"""Streak carving: a pseudo-label minus the streaks that a reference net removes (``loss.pl_streak_reference``).

The self-training labels (``loss.weights.mse_fr_pl``) are the starting net's own output with veil removed, so they
keep every streak that net leaves, and a net trained on them keeps them too (the model card's real-rain sheet).
A reference net trained on heavy synthetic streaks removes most real streaks, but it also darkens and blurs the
picture, so it cannot be the label itself. The carving takes from the label only the thin bright lines that lie
along the photograph's rain direction and that the reference removes:

    R'    the reference's output re-toned to the label under a Gaussian blur of ``TONE_BLUR_PX``
          (R + blur(L − R)): what the reference changes in tone or veil is not a streak,
    P     max(0, min over the channels of L − R'): brighter in every channel (rain adds light, achromatic),
    θ*    the line angle (``ANGLES_DEG`` from the vertical) whose morphological opening of P with a
          ``LINE_PX``-long line keeps the most: the photograph's rain direction,
    M     where the opening at any angle within ``SPREAD_DEG`` of θ* exceeds ``THRESHOLD`` grey levels, dilated by
          one pixel: elongated along the rain,
    S     P ⊙ M, and the carved label L − S.

The layer is the whole residue under the mask, not the opening's amplitude: the opening keeps only a line's
minimum along its length, a fraction of a streak's light.

``loss.pl_streak_carving=lines`` (`line_layer`) carves each image's own lines instead: the label's thin lines
brighter than its own 3 px blur along its rain direction (the layer `streak_energy` measures), minus the
reference's own lines at the same places, max(0, S_own(L) − S_own(R)): what the label shows as a streak and the
reference does not, whatever the reference does to the tone around it. ``loss.pl_streak_gain=k`` subtracts k times
the layer (k > 1 over-carves, for a net that keeps more streaks than the labels it learns from).

``loss.pl_streak_carving=detail`` (`detail_layer`) has no mask: the layer is the label's detail against its own
``TONE_BLUR_PX`` blur minus the reference's detail against its own, every channel, signed, so at k = 1 the carved
label is the label's blur plus the reference's detail: the reference's fine structure (the drops and streaks it
removes in any direction, its smoothing too) under the label's tone and veil. The line forms above keep every
streak the mask misses: short drops and snow, which are no lines along the rain. What the carving
costs and gives on the proxy and on real photographs: BENCHMARKS.md, Quality, "Streak carving" and "The default
model v4". Per image, numpy and OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

from jrgr_deploy.config import STREAK_CARVINGS
from jrgr_deploy.errors import JRGRError

TONE_BLUR_PX = 3.0  # the reference is re-toned to the label under this blur: only detail can be a streak
LINE_PX = 9  # the structuring line's length: a streak is at least this long along the rain
ANGLES_DEG = tuple(range(-40, 41, 5))  # candidate rain directions, degrees from the vertical
SPREAD_DEG = 10  # lines within this many degrees of the rain direction count as streaks (wind varies the angle)
THRESHOLD = 1.0  # grey levels the opening must keep for a pixel to be a streak


def line_kernel(length: int, angle_deg: float) -> np.ndarray:
    """(length, length) uint8 structuring element: a one-pixel line through the centre, `angle_deg` from the
    vertical (positive: its lower end to the right; direction x = sin θ, y = cos θ in columns and rows)."""
    kernel = np.zeros((length, length), np.uint8)
    centre = (length - 1) / 2
    theta = np.deg2rad(angle_deg)
    dx, dy = np.sin(theta) * centre, np.cos(theta) * centre
    cv2.line(kernel, (round(centre - dx), round(centre - dy)), (round(centre + dx), round(centre + dy)), 1, 1)
    return kernel


def _check_pair(label: np.ndarray, reference: np.ndarray) -> None:
    if label.shape != reference.shape or label.ndim != 3 or label.shape[2] != 3:
        raise JRGRError(f"streak carving: expected two (H, W, 3) images of one size, got {label.shape} and "
                        f"{reference.shape}")


def streak_layer(label: np.ndarray, reference: np.ndarray, rain_angle: int | None = None) -> tuple[np.ndarray, int]:
    """(H, W, 3) uint8 label and the reference net's output on the same input -> ((H, W) float32 layer S ≥ 0 in
    grey levels, the rain angle θ* in degrees); the module docstring has the steps. `rain_angle` (one of
    ``ANGLES_DEG``): θ* as given instead of read from this label (several images of one photograph measured along
    the same direction, `streak_energy`)."""
    _check_pair(label, reference)
    brighter, mask, rain_angle = _brighter_along_rain(label, reference, rain_angle)
    return brighter * mask, rain_angle


def _brighter_along_rain(label: np.ndarray, reference: np.ndarray,
                         rain_angle: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    """The module docstring's steps: -> ((H, W) float32 P, (H, W) uint8 M, θ*)."""
    base = label.astype(np.float32)
    ref = reference.astype(np.float32)
    retoned = ref + cv2.GaussianBlur(base - ref, (0, 0), TONE_BLUR_PX)
    brighter = np.maximum((base - retoned).min(axis=2), 0.0)
    opened = {angle: cv2.morphologyEx(brighter, cv2.MORPH_OPEN, line_kernel(LINE_PX, angle)) for angle in ANGLES_DEG}
    if rain_angle is None:
        rain_angle = max(opened, key=lambda angle: float(opened[angle].sum()))
    elif rain_angle not in opened:
        raise JRGRError(f"streak carving: rain angle {rain_angle} is not one of {ANGLES_DEG}")
    along = np.max([opened[angle] for angle in ANGLES_DEG if abs(angle - rain_angle) <= SPREAD_DEG], axis=0)
    return brighter, cv2.dilate((along > THRESHOLD).astype(np.uint8), np.ones((3, 3), np.uint8)), rain_angle


def own_lines(image: np.ndarray, rain_angle: int | None = None) -> tuple[np.ndarray, int]:
    """(H, W, 3) uint8 image -> ((H, W) float32 layer of its thin lines brighter in every channel than its own
    Gaussian blur of ``TONE_BLUR_PX``, along the rain direction; the angle used): `streak_layer` against that blur."""
    return streak_layer(image, cv2.GaussianBlur(image, (0, 0), TONE_BLUR_PX), rain_angle)


def rain_line_mask(image: np.ndarray) -> tuple[np.ndarray, int]:
    """(H, W, 3) uint8 image -> ((H, W) uint8 mask, 1 where the image shows thin lines brighter than their
    surroundings along its rain direction (the places `own_lines` measures, dilated by one pixel); its rain angle):
    where ``loss.weights.streak_fr_or`` looks for streaks that F_r keeps."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise JRGRError(f"streak carving: expected an (H, W, 3) image, got {image.shape}")
    return _brighter_along_rain(image, cv2.GaussianBlur(image, (0, 0), TONE_BLUR_PX), None)[1:]


def line_layer(label: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, int]:
    """(H, W, 3) uint8 label and the reference net's output on the same input -> ((H, W) float32 layer ≥ 0, the
    label's rain angle): the label's `own_lines` minus the reference's own lines along the same direction
    (``loss.pl_streak_carving=lines``; the module docstring)."""
    _check_pair(label, reference)
    label_lines, angle = own_lines(label)
    reference_lines, _ = own_lines(reference, angle)
    return np.maximum(label_lines - reference_lines, 0.0), angle


def detail_layer(label: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 label and the reference net's output on the same input -> (H, W, 3) float32 signed layer:
    the label's detail against its own Gaussian blur of ``TONE_BLUR_PX`` minus the reference's against its own
    (``loss.pl_streak_carving=detail``; the module docstring). The label minus it is the label's blur plus the
    reference's detail."""
    _check_pair(label, reference)
    base, ref = label.astype(np.float32), reference.astype(np.float32)
    return (base - cv2.GaussianBlur(base, (0, 0), TONE_BLUR_PX)) - (ref - cv2.GaussianBlur(ref, (0, 0), TONE_BLUR_PX))


def streak_energy(image: np.ndarray, rain_angle: int | None = None) -> tuple[float, int]:
    """A no-reference measure of the streaks an (H, W, 3) uint8 image shows: the mean, in grey levels over the whole
    image, of its `streak_layer` against its own Gaussian blur of ``TONE_BLUR_PX`` (thin lines brighter in every
    channel than their surroundings, along the rain direction) -> (energy, the rain angle used). Pass the rainy
    photograph's angle to measure a derained version of it along the same direction. Edges and bright texture
    along that direction count too, so it compares versions of the same photographs, not photographs."""
    layer, angle = own_lines(image, rain_angle)
    return float(layer.mean()), angle


def carve_streaks(label: np.ndarray, reference: np.ndarray, carving: str = "residue",
                  gain: float = 1.0) -> np.ndarray:
    """(H, W, 3) uint8 label minus `gain` times its layer against `reference` (`carving`: "residue",
    `streak_layer`, and "lines", `line_layer`, every channel alike; "detail", `detail_layer`, each channel its
    own), uint8."""
    if carving not in STREAK_CARVINGS:
        raise JRGRError(f"streak carving: expected one of {STREAK_CARVINGS}, got {carving!r}")
    if carving == "detail":
        layer = detail_layer(label, reference)
    else:
        layer = (streak_layer if carving == "residue" else line_layer)(label, reference)[0][..., None]
    return np.clip(np.rint(label.astype(np.float32) - gain * layer), 0, 255).astype(np.uint8)
