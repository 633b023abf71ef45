"""Calibration and held-aside verification frames for an export (numpy + OpenCV, no torch).

SOURCE is a folder of images, a video file, or a data-set root (`jrgr data synth` output or the authors'
layout: real nets take its unpaired real rain, e.g. `train/real/rainy` or `train/Ot`; synthetic-domain nets
its paired rainy images). Frames are resized to cover the export's H x W and centre-cropped, so no frame is
distorted. The calibration frames and the held-aside verification frames never overlap.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.image_files import is_image_path, list_images, read_rgb
from jrgr_deploy.video_files import VIDEO_SUFFIXES, VideoFrames

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameSet:
    """`frames`: (N, H, W, 3) uint8 RGB; `names`: where each came from; `source`: a label for reports."""

    frames: np.ndarray
    names: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.names)


def fit_frame(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w, 3) uint8 -> (height, width, 3): scale to cover (area filter when shrinking), centre-crop."""
    h, w = image.shape[:2]
    scale = max(height / h, width / w)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    if size != (w, h):
        interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
        image = cv2.resize(image, size, interpolation=interpolation)
    top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return np.ascontiguousarray(image[top : top + height, left : left + width])


class _Source:
    """An indexable list of frames: image paths or a video's frames (`jrgr_deploy.video_files.VideoFrames`)."""

    def __init__(self, source: str | Path, domain: str) -> None:
        path = Path(source)
        self.video: VideoFrames | None = None
        self.images: list[Path] = []
        if path.suffix.lower() in VIDEO_SUFFIXES and not path.is_dir():
            self.video, self.label = VideoFrames(path), f"video {path}"
            self.count = len(self.video)
            return
        if path.is_file() and is_image_path(path):
            self.images, self.label = [path], f"image {path}"
        elif not path.is_dir():
            raise JRGRError(
                f"calibration source '{path}' does not exist; expected a folder of rainy images, a video "
                f"({', '.join(VIDEO_SUFFIXES)}) or a data-set root"
            )
        else:
            self.images, self.label = _folder_or_dataset(path, domain)
        self.count = len(self.images)

    def frame_hw(self, index: int) -> tuple[int, int]:
        """(H, W) of frame `index` as stored (not fitted)."""
        image = self.video.read_rgb(index) if self.video is not None else read_rgb(self.images[index])
        return image.shape[0], image.shape[1]

    def read(self, indices: list[int], height: int, width: int) -> tuple[np.ndarray, list[str]]:
        frames, names = [], []
        for index in indices:
            if self.video is not None:
                frames.append(fit_frame(self.video.read_rgb(index), height, width))
                names.append(f"{self.video.path.name}#{index:06d}")
            else:
                frames.append(fit_frame(read_rgb(self.images[index]), height, width))
                names.append(self.images[index].name)
        return np.stack(frames), names


def _folder_or_dataset(folder: Path, domain: str) -> tuple[list[Path], str]:
    """A data-set root when `folder` has sub-folders a layout recognises, else its own images.

    The data-set test comes first: `jrgr data synth` output holds a preview.png beside its split folders.
    """
    has_images = any(p.is_file() and is_image_path(p) for p in folder.iterdir())
    if any(p.is_dir() for p in folder.iterdir()):
        try:
            return _dataset_rainy(folder, domain)
        except JRGRError as error:
            if not has_images:
                raise JRGRError(
                    f"calibration folder '{folder}' holds no images and is not a data-set root: {error}"
                ) from None
    if not has_images:
        list_images(folder)  # raises the "holds no images" error naming the suffixes
    return list_images(folder), f"folder {folder}"


def _dataset_rainy(root: Path, domain: str) -> tuple[list[Path], str]:
    from jrgr_deploy.pairing import resolve_root

    data = resolve_root(root, "train")
    real, synthetic = data.unpaired, [rainy for rainy, _ in data.pairs]
    wanted, other = (real, synthetic) if domain == "real" else (synthetic, real)
    if wanted:
        return wanted, f"data set {root} ({domain} rainy images, {data.layout})"
    if other:
        other_domain = "synthetic" if domain == "real" else "real"
        logger.warning("data set %s has no %s rainy images; calibrating on its %s ones", root, domain, other_domain)
        return other, f"data set {root} ({other_domain} rainy images, {data.layout})"
    raise JRGRError(f"data-set root '{root}' holds no rainy images under its train split")


def _spread(indices: list[int], count: int) -> list[int]:
    """`count` entries of `indices` spread evenly over it (all of them when there are fewer)."""
    if count >= len(indices):
        return list(indices)
    picks = np.linspace(0, len(indices) - 1, count).round().astype(int)
    return [indices[i] for i in picks]


def load_calibration_and_holdout(
    source: str | Path, calib_count: int, holdout_count: int, height: int, width: int, domain: str = "real"
) -> tuple[FrameSet, FrameSet | None]:
    """Calibration frames and disjoint held-aside frames from SOURCE, each (N, height, width, 3) uint8 RGB.

    The calibration frames are spread evenly over the source; the held-aside frames are spread over the rest
    (None when nothing is left: the caller then verifies on other frames).
    """
    if calib_count < 1:
        raise JRGRError(f"--calib-frames must be >= 1, got {calib_count}")
    frames = _Source(source, domain)
    everything = list(range(frames.count))
    calib_indices = _spread(everything, calib_count)
    if len(calib_indices) < calib_count:
        logger.warning("%s has %d frames; calibrating on all of them (asked for %d)", frames.label,
                       frames.count, calib_count)
    chosen = set(calib_indices)
    rest = [i for i in everything if i not in chosen]
    calib = FrameSet(*frames.read(calib_indices, height, width), source=frames.label)
    if not rest or holdout_count < 1:
        return calib, None
    holdout_indices = _spread(rest, holdout_count)
    holdout = FrameSet(*frames.read(holdout_indices, height, width), source=f"{frames.label} (held aside)")
    return calib, holdout


def median_frame_hw(source: str | Path, domain: str = "real", max_frames: int = 64) -> list[int]:
    """The median [H, W] of SOURCE's frames (a folder, a video or a data-set root, as for calibration; at most
    `max_frames` of them, spread evenly): the scale of the frames a net was trained on, for its sidecar's
    `train_frame_hw`."""
    frames = _Source(source, domain)
    if frames.count == 0:
        raise JRGRError(f"{frames.label} holds no frames")
    sizes = np.array([frames.frame_hw(i) for i in _spread(list(range(frames.count)), max_frames)])
    return [int(round(float(v))) for v in np.median(sizes, axis=0)]


def load_photo_frames(count: int, height: int, width: int) -> FrameSet:
    """Up to `count` of scikit-image's bundled colour photographs (clean, real scenes), fitted to H x W.

    The fallback verification set when no rainy frames are held aside: it still exercises the whole value
    range of real images, unlike random noise.
    """
    from jrgr_deploy.backgrounds import load_skimage_photos

    photos = load_skimage_photos(max_short_side=max(height, width))[:count]
    frames = np.stack([fit_frame(p.image, height, width) for p in photos])
    return FrameSet(frames, [p.source for p in photos], source="scikit-image sample photographs")
