"""Reading and writing image files with errors that name the file (OpenCV, no torch).

The one place images are decoded and encoded: data sets, export calibration, the runtime's image sources and
sinks, the demo and the benchmarks all come here. Video files have theirs: `jrgr_deploy.video_files`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | Path) -> list[Path]:
    """All image files directly inside `folder`, sorted by name.

    Raises JRGRError when the folder does not exist or holds no image (naming the suffixes looked for).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise JRGRError(f"image folder '{folder}' does not exist or is not a folder")
    images = sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p))
    if not images:
        raise JRGRError(f"image folder '{folder}' holds no images (looked for {', '.join(IMAGE_SUFFIXES)})")
    return images


def read_bgr(path: str | Path) -> np.ndarray:
    """Read an image file as (H,W,3) uint8 BGR (OpenCV's order); grey images are expanded, alpha is dropped.

    16-bit images are scaled to 8 bits. Raises JRGRError naming the file when it is missing or is
    not a decodable image.
    """
    path = Path(path)
    if not path.is_file():
        raise JRGRError(f"image file '{path}' does not exist")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise JRGRError(f"'{path}' is not a readable image file")
    if image.dtype == np.uint16:
        image = (image / 257.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        raise JRGRError(f"'{path}' has pixel type {image.dtype}; expected 8- or 16-bit")
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[..., None], 3, axis=2))
    if image.shape[2] == 4:
        image = image[..., :3]
    return np.ascontiguousarray(image)


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as (H,W,3) uint8 RGB (see `read_bgr`)."""
    return np.ascontiguousarray(read_bgr(path)[..., ::-1])


def write_bgr(path: str | Path, image: np.ndarray, png_compression: int | None = None) -> Path:
    """Write an (H,W,3) uint8 BGR image; the format follows the suffix (PNG without one). Creates parent
    folders. png_compression: 0-9 (OpenCV's default 1 when None); smaller files, same pixels. The file is
    written under a temporary name and renamed: a crash never leaves half an image under `path`."""
    from jrgr_deploy.output_files import atomic_write, ensure_folder

    path = Path(path)
    ensure_folder(path.parent, f"folder of image '{path}'", writable=False)
    params = [cv2.IMWRITE_PNG_COMPRESSION, png_compression] if png_compression is not None else []
    ok, encoded = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(image), params)
    if not ok:
        raise JRGRError(f"could not encode an image for '{path}' (unsupported suffix?)")
    with atomic_write(path, durable=False) as tmp:
        encoded.tofile(str(tmp))
    return path


def write_rgb(path: str | Path, image: np.ndarray) -> Path:
    """Write an (H,W,3) uint8 RGB image (see `write_bgr`)."""
    return write_bgr(path, image[..., ::-1])


def shrink_to_max_side(image: np.ndarray, max_side: int) -> np.ndarray:
    """(H, W, C) image shrunk (INTER_AREA, no aliasing) so that its longer side is `max_side` pixels; an image
    already that small is returned as it is (never enlarged)."""
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return image
    return cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
