"""Clean backgrounds available offline, and their disjoint split between data-set parts (no torch).

Default: the natural colour photographs that scikit-image ships inside its wheel (read from the
package folder, never through `skimage.data`'s downloader). Any folder of images works too, e.g. the
Debian wallpapers `benchmarks/fetch_backgrounds.sh` unpacks.

JRGR trains the synthetic-paired branch and the real-unpaired branch on different scenes, selects on
validation scenes and tests on scenes none of them saw; `split_backgrounds` does that by photograph
*group*, so the two views of a stereo pair never land in different splits.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError, MissingDependencyError
from jrgr_deploy.image_files import IMAGE_SUFFIXES, read_rgb

logger = logging.getLogger(__name__)

# name -> (file in skimage/data, group). Only natural colour photographs: the greyscale ones (camera,
# moon, ...), textures (brick, grass, gravel), microscopy (ihc, retina, cell) and synthetic images
# (chessboard, color, logo) are left out.
SKIMAGE_PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("astronaut.png", "astronaut"),
    "chelsea": ("chelsea.png", "chelsea"),  # skimage.data.cat() is the same file
    "coffee": ("coffee.png", "coffee"),
    "motorcycle_left": ("motorcycle_left.png", "motorcycle"),
    "motorcycle_right": ("motorcycle_right.png", "motorcycle"),
    "rocket": ("rocket.jpg", "rocket"),
}

SPLIT_NAMES = ("synthetic", "real", "val", "test")

_STEREO_SUFFIX = re.compile(r"[_-](left|right)$", re.IGNORECASE)


@dataclass(frozen=True)
class Background:
    """A clean photograph: `image` (H,W,3) uint8 RGB; `group` ties views of one scene together."""

    name: str
    group: str
    source: str
    image: np.ndarray


def skimage_data_dir() -> Path:
    """The folder of image files inside the installed scikit-image (no network access involved)."""
    try:
        import skimage.data
    except ImportError as error:
        raise MissingDependencyError("skimage", "train", "the default backgrounds (scikit-image's)") from error
    return Path(skimage.data.__file__).parent


def _limit_size(image: np.ndarray, max_short_side: int | None) -> np.ndarray:
    # Wallpapers run to 5120x2880; crops are resized to a few hundred pixels anyway, so keeping the full
    # resolution would only cost memory and resize time.
    if max_short_side is None or min(image.shape[:2]) <= max_short_side:
        return image
    scale = max_short_side / min(image.shape[:2])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def load_skimage_photos(max_short_side: int | None = None) -> list[Background]:
    """The colour photographs of `SKIMAGE_PHOTOS` present in this scikit-image install."""
    folder = skimage_data_dir()
    found = []
    for name, (file_name, group) in SKIMAGE_PHOTOS.items():
        path = folder / file_name
        if not path.is_file():
            logger.warning("scikit-image has no %s here; skipping background '%s'", path, name)
            continue
        found.append(Background(name, group, f"skimage:{file_name}", _limit_size(read_rgb(path), max_short_side)))
    if not found:
        raise JRGRError(f"no scikit-image photographs found in '{folder}'; pass a folder of backgrounds")
    return found


def load_background_folder(folder: str | Path, max_short_side: int | None = None) -> list[Background]:
    """Every image under `folder` (recursively), named by its relative path without suffix.

    Each image is its own group (scene), except that `<scene>_left` / `<scene>_right` (also with '-')
    form one group: the two views of a stereo pair must not land in different splits.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise JRGRError(f"background folder '{folder}' does not exist or is not a folder")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise JRGRError(f"background folder '{folder}' holds no images (looked for {', '.join(IMAGE_SUFFIXES)})")
    backgrounds = []
    for path in paths:
        name = path.relative_to(folder).with_suffix("").as_posix()
        group = _STEREO_SUFFIX.sub("", name)
        backgrounds.append(Background(name, group, str(path), _limit_size(read_rgb(path), max_short_side)))
    return backgrounds


def load_backgrounds(folder: str | Path | None = None, max_short_side: int | None = None) -> list[Background]:
    """`folder`'s images, or the scikit-image photographs when `folder` is None."""
    if folder is None:
        return load_skimage_photos(max_short_side)
    return load_background_folder(folder, max_short_side)


@dataclass(frozen=True)
class BackgroundSplit:
    """Backgrounds for the synthetic-paired, real-unpaired, validation and test parts; no group is in two
    parts. `val` is empty when the split was asked for without a validation part."""

    synthetic: list[Background]
    real: list[Background]
    val: list[Background]
    test: list[Background]

    def names(self) -> dict[str, list[str]]:
        return {part: [b.name for b in getattr(self, part)] for part in SPLIT_NAMES}


def split_backgrounds(
    backgrounds: list[Background],
    fractions: tuple[float, float, float, float] = (0.4, 0.4, 0.07, 0.13),
    seed: int = 0,
    with_val: bool = True,
) -> BackgroundSplit:
    """Split by group into (synthetic, real, val, test) parts of about `fractions`, each non-empty.

    The validation part holds photographs that neither training part uses (model selection must not see
    the scenes the real branch trains on); `with_val=False` gives it no group (fraction ignored).
    Deterministic given `seed` and the set of groups (the input order does not matter). Raises JRGRError
    with fewer groups than parts, since no two parts may share a scene.
    """
    if len(fractions) != 4 or any(f <= 0 for f in fractions):
        raise JRGRError(f"split fractions must be four positive numbers, got {fractions}")
    groups = sorted({b.group for b in backgrounds})
    n_parts = 4 if with_val else 3
    if len(groups) < n_parts:
        parts_text = "synthetic/real/val/test" if with_val else "synthetic/real/test"
        raise JRGRError(
            f"need photographs of at least {n_parts} different scenes to split backgrounds disjointly into "
            f"{parts_text}, got {len(groups)} ({groups})"
        )
    order = [groups[i] for i in np.random.default_rng(seed).permutation(len(groups))]
    total = sum(fractions) if with_val else sum(fractions) - fractions[2]
    n_test = max(1, round(len(groups) * fractions[3] / total))
    n_val = max(1, round(len(groups) * fractions[2] / total)) if with_val else 0
    n_real = max(1, round(len(groups) * fractions[1] / total))
    n_real = min(n_real, len(groups) - n_test - n_val - 1)
    parts = {
        "test": set(order[:n_test]),
        "val": set(order[n_test : n_test + n_val]),
        "real": set(order[n_test + n_val : n_test + n_val + n_real]),
        "synthetic": set(order[n_test + n_val + n_real :]),
    }
    by_part = {
        part: sorted((b for b in backgrounds if b.group in members), key=lambda b: b.name)
        for part, members in parts.items()
    }
    return BackgroundSplit(**by_part)


def random_patch(
    image: np.ndarray, size: int, rng: np.random.Generator, max_upscale: float = 1.25
) -> tuple[np.ndarray, dict[str, object]]:
    """A random square crop of `image` (H,W,3 uint8) at a random scale, maybe mirrored, resized to size².

    The crop side is drawn log-uniformly between about a quarter of the short side (but no more than
    `max_upscale` enlargement) and the whole short side, so a few photographs give many distinct patches
    at different scales. Returns the (size,size,3) uint8 patch and its parameters for the manifest.
    """
    height, width = image.shape[:2]
    short = min(height, width)
    low = min(short, max(size / max_upscale, 0.25 * short))
    side = int(round(np.exp(rng.uniform(np.log(low), np.log(short)))))
    side = max(1, min(side, short))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    flip = bool(rng.random() < 0.5)
    patch = image[top : top + side, left : left + side]
    interpolation = cv2.INTER_AREA if side >= size else cv2.INTER_CUBIC
    patch = cv2.resize(patch, (size, size), interpolation=interpolation)
    if flip:
        patch = patch[:, ::-1]
    params = {"top": top, "left": left, "side": side, "scale": round(size / side, 4), "flip": flip}
    return np.ascontiguousarray(patch), params
