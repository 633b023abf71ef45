"""Torch data sets for JRGR training and evaluation: paired synthetic rain and unpaired real rain.

Every item holds float32 tensors of shape (3, H, W), RGB, values in [-1, 1] (the nets' contract,
docs/ARCHITECTURE.md, "Contracts"): `PairedRainDataset` gives `o_s` (rainy) and `b_s` (clean),
`UnpairedRainDataset` gives `o_r` (real rainy image or video frame); both add `name`, and `rows_s` / `rows_r`:
(1, H, 1) float32, where the crop's rows lie in the whole image (`jrgr_deploy.nn.unet.frame_rows`), for a
removal net that reads its rows (``model.removal.row_coord``).

Augmentation is a random crop and a random horizontal flip drawn from a generator seeded by
(seed, epoch, index), so an item is the same whatever the DataLoader's worker count or order; call
`set_epoch` to draw new crops each epoch. Images smaller than the crop are reflect-padded (not
upscaled), so no pixel is resampled and the rain streaks keep their width.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import rgb_to_nchw
from jrgr_deploy.image_files import list_images, read_rgb
from jrgr_deploy.moment_transfer import (
    MAX_COUPLED_STRENGTH,
    MomentTransfer,
    streak_energy,
    streaks_on_background,
)
from jrgr_deploy.nn.unet import frame_rows
from jrgr_deploy.pairing import match_pairs, resolve_root
from jrgr_deploy.video_files import VIDEO_SUFFIXES, VideoFrames

CropSize = int | tuple[int, int] | None  # a square side, (height, width), or None for whole images


def _crop_hw(crop_size: CropSize) -> tuple[int, int] | None:
    """`crop_size` as (height, width) (None: whole images), checked positive."""
    if crop_size is None:
        return None
    hw = (crop_size, crop_size) if isinstance(crop_size, int) else (int(crop_size[0]), int(crop_size[1]))
    if min(hw) < 1:
        raise JRGRError(f"crop size must be a positive number of pixels, (height, width) or None, got {crop_size}")
    return hw


def _pad_to_at_least(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Reflect-pad (H,W,3) symmetrically so H >= hw[0] and W >= hw[1] (OpenCV reflects repeatedly if needed)."""
    height, width = image.shape[:2]
    pad_h, pad_w = max(0, hw[0] - height), max(0, hw[1] - width)
    if not pad_h and not pad_w:
        return image
    top, left = pad_h // 2, pad_w // 2
    return cv2.copyMakeBorder(image, top, pad_h - top, left, pad_w - left, borderType=cv2.BORDER_REFLECT_101)


def _augment(
    images: Sequence[np.ndarray], hw: tuple[int, int] | None, flip: bool, rng: np.random.Generator
) -> tuple[list[np.ndarray], torch.Tensor]:
    """The same random crop of (height, width) `hw` (None: none) and flip applied to every (H,W,3) image (a
    rainy/clean pair stays aligned), and where the crop's rows lie in the frame (`frame_rows`, (1, h, 1)): a
    removal net built with ``row_coord`` reads them, so a crop keeps its place in the frame."""
    out = list(images)
    frame_height = out[0].shape[0]
    if hw is None:
        rows = frame_rows(frame_height)
    else:
        out = [_pad_to_at_least(image, hw) for image in out]
        height, width = out[0].shape[:2]
        top = int(rng.integers(0, height - hw[0] + 1))
        left = int(rng.integers(0, width - hw[1] + 1))
        out = [image[top : top + hw[0], left : left + hw[1]] for image in out]
        rows = frame_rows(frame_height, top - (height - frame_height) // 2, hw[0])  # the pad's top half shifts rows
    if flip and rng.random() < 0.5:
        out = [image[:, ::-1] for image in out]
    return out, rows


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H,W,3) uint8 RGB -> (3,H,W) float32 in [-1, 1]."""
    return torch.from_numpy(rgb_to_nchw(np.ascontiguousarray(image))[0])


class _AugmentedDataset(Dataset):
    def __init__(self, crop_size: CropSize, flip: bool, seed: int) -> None:
        self.crop_hw = _crop_hw(crop_size)
        self.flip = flip
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """New crops/flips for each epoch, still deterministic given (seed, epoch, index)."""
        self.epoch = epoch

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])


class PairedRainDataset(_AugmentedDataset):
    """(rainy, clean) image pairs -> {"o_s": (3,H,W), "b_s": (3,H,W), "rows_s": (1,H,1), "name": str}, float32 RGB
    in [-1, 1].

    `crop_size=None` gives whole images (evaluation); `flip` mirrors both images of a pair together.
    A pair whose images differ in size raises JRGRError naming both files; an undecodable file raises
    JRGRError naming it. `transfer` (`jrgr_deploy.moment_transfer.MomentTransfer`) adds "o_mt": the rainy
    image re-toned to the real set's moments at a strength drawn per item, transferred whole (the moments
    belong to positions in the frame) and cut with the same crop and flip as the pair; with `transfer_streaks_px`
    > 0 it is the clean image re-toned plus the rain layer's streaks (`moment_transfer.streaks_on_background`);
    with `coupled_energy` (the pairs' mean `streak_energy`) its strength is also scaled by the pair's streak energy
    over that mean (``loss.transfer_coupled``).
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str | Path, str | Path]],
        crop_size: CropSize = None,
        flip: bool = False,
        seed: int = 0,
        transfer: MomentTransfer | None = None,
        transfer_streaks_px: float = 0.0,
        coupled_energy: float | None = None,
    ) -> None:
        super().__init__(crop_size, flip, seed)
        if not pairs:
            raise JRGRError("a paired rain data set needs at least one (rainy, clean) pair, got none")
        self.pairs = [(Path(rainy), Path(clean)) for rainy, clean in pairs]
        self.transfer = transfer
        self.transfer_streaks_px = transfer_streaks_px
        self.coupled_energy = coupled_energy

    @classmethod
    def from_folders(cls, rainy_dir: str | Path, clean_dir: str | Path, **kwargs: Any) -> PairedRainDataset:
        """Pairs matched by name (`jrgr_deploy.pairing.match_pairs` conventions)."""
        return cls(match_pairs(rainy_dir, clean_dir), **kwargs)

    @classmethod
    def from_root(cls, root: str | Path, split: str = "train", **kwargs: Any) -> PairedRainDataset:
        """Pairs of `split` under a data-set root (`jrgr_deploy.pairing.resolve_root` layouts)."""
        data = resolve_root(root, split)
        if not data.pairs:
            raise JRGRError(f"'{root}' ({data.layout}) has no (rainy, clean) pairs for split '{split}'")
        return cls(data.pairs, **kwargs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        rainy_path, clean_path = self.pairs[index]
        rainy, clean = read_rgb(rainy_path), read_rgb(clean_path)
        if rainy.shape != clean.shape:
            raise JRGRError(
                f"pair size mismatch: rainy '{rainy_path}' is {rainy.shape[1]}x{rainy.shape[0]} but clean "
                f"'{clean_path}' is {clean.shape[1]}x{clean.shape[0]} (WxH); a pair must be pixel-aligned"
            )
        rng = self._rng(index)
        if self.transfer is None:
            (rainy, clean), rows = _augment((rainy, clean), self.crop_hw, self.flip, rng)
            return {"o_s": _to_tensor(rainy), "b_s": _to_tensor(clean), "rows_s": rows, "name": rainy_path.name}
        strength = self.transfer.draw_strength(rng)
        if self.coupled_energy is not None:
            strength *= min(streak_energy(rainy, clean) / self.coupled_energy, MAX_COUPLED_STRENGTH)
        if self.transfer_streaks_px > 0:
            transferred = streaks_on_background(self.transfer, rainy, clean, strength, self.transfer_streaks_px)
        else:
            transferred = self.transfer.apply(rainy, strength)
        (rainy, clean, transferred), rows = _augment((rainy, clean, transferred), self.crop_hw, self.flip, rng)
        return {"o_s": _to_tensor(rainy), "b_s": _to_tensor(clean), "o_mt": _to_tensor(transferred),
                "rows_s": rows, "name": rainy_path.name}


class PseudoLabelledRealDataset(PairedRainDataset):
    """(real rainy image, pseudo-label) pairs -> {"o_r": (3,H,W), "p_r": (3,H,W), "rows_r": (1,H,1), "name": str}, in
    [-1, 1], cropped and flipped together (the real images of ``loss.weights.mse_fr_pl``; the labels are written
    by `jrgr_deploy.training.data.make_pseudo_labels`)."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        item = super().__getitem__(index)
        return {"o_r": item["o_s"], "p_r": item["b_s"], "rows_r": item["rows_s"], "name": item["name"]}


class UnpairedRainDataset(_AugmentedDataset):
    """Real rainy images without ground truth -> {"o_r": (3,H,W) float32 RGB in [-1, 1], "rows_r": (1,H,1),
    "name": str}.

    `source` is a folder of images, a video file (frames `frame_step` apart, decoded lazily,
    `jrgr_deploy.video_files.VideoFrames`), or a list of
    image paths. Raises JRGRError for an empty folder, or a video that cannot be opened (naming it).
    """

    def __init__(
        self,
        source: str | Path | Sequence[str | Path],
        crop_size: CropSize = None,
        flip: bool = False,
        seed: int = 0,
        frame_step: int = 1,
    ) -> None:
        super().__init__(crop_size, flip, seed)
        if frame_step < 1:
            raise JRGRError(f"frame step must be >= 1, got {frame_step}")
        self.video: VideoFrames | None = None
        self.images: list[Path] = []
        if isinstance(source, (str, Path)):
            path = Path(source)
            if path.suffix.lower() in VIDEO_SUFFIXES and not path.is_dir():
                self.video = VideoFrames(path)
                self.frame_indices = list(range(0, self.video.count, frame_step))
            elif path.is_file():
                raise JRGRError(
                    f"'{path}' is neither a folder of images nor a video file ({', '.join(VIDEO_SUFFIXES)})"
                )
            else:
                self.images = list_images(path)
        else:
            self.images = [Path(p) for p in source]
            if not self.images:
                raise JRGRError("an unpaired rain data set needs at least one image, got none")

    @classmethod
    def from_root(cls, root: str | Path, split: str = "train", **kwargs: Any) -> UnpairedRainDataset:
        """The unpaired real rain (`Ot`, or `train/real/rainy` of `jrgr data synth`) under a data-set root."""
        data = resolve_root(root, split)
        if not data.unpaired:
            raise JRGRError(f"'{root}' ({data.layout}) has no unpaired real rain for split '{split}'")
        return cls(data.unpaired, **kwargs)

    def __len__(self) -> int:
        return len(self.frame_indices) if self.video is not None else len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        if self.video is not None:
            frame_index = self.frame_indices[index]
            image = self.video.read_rgb(frame_index)
            name = f"{self.video.path.name}#{frame_index:06d}"
        else:
            image = read_rgb(self.images[index])
            name = self.images[index].name
        (image,), rows = _augment((image,), self.crop_hw, self.flip, self._rng(index))
        return {"o_r": _to_tensor(image), "rows_r": rows, "name": name}


def evenly_spaced(count: int, most: int) -> list[int]:
    """Indices of at most `most` of `count` items, evenly spaced, first and last included (all when count <= most)."""
    taken = min(count, most)
    return sorted({round(i * (count - 1) / max(taken - 1, 1)) for i in range(taken)})


def sampled_images(source: str | Path | Sequence[str | Path], most: int) -> Iterator[np.ndarray]:
    """Up to `most` whole images of `source` (a folder, a video or a list of images), evenly spaced, as (H, W, 3)
    uint8 RGB: the sets that population moments are taken from (`jrgr_deploy.moment_transfer`)."""
    from jrgr_deploy.frames import nchw_to_rgb

    images = UnpairedRainDataset(source)
    return (nchw_to_rgb(images[i]["o_r"][None].numpy())[0] for i in evenly_spaced(len(images), most))
