"""Training data: where it is (config / CLI) and a resumable, distributed stream of batches.

The order of batches is a pure function of (seed, step): each epoch is a `DistributedSampler`
permutation (seeded by seed + epoch), each item's crop/flip is drawn from (seed, epoch, index) by the data
set itself (`jrgr_deploy.datasets`), so a resumed run reads exactly the batches the uninterrupted run
would have read, and a 2-process run reads the same global batches as a single process
(rank r takes positions r, r + W, ... of the permutation).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from jrgr_deploy.config import DataConfig, LossConfig, TrainConfig
from jrgr_deploy.datasets import evenly_spaced, sampled_images
from jrgr_deploy.errors import JRGRError

if TYPE_CHECKING:
    import numpy as np

    from jrgr_deploy.checkpoint import Checkpoint
    from jrgr_deploy.datasets import UnpairedRainDataset
    from jrgr_deploy.moment_transfer import MomentTransfer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataSources:
    """Resolved paths: paired synthetic (rainy, clean) pairs and unpaired real rainy images."""

    pairs: list[tuple[Path, Path]]
    real: list[Path] | Path | None
    description: str
    real_clean: list[Path] | Path | None = None


def resolve_sources(data: DataConfig, need_real: bool) -> DataSources:
    """Paired (and, for stage 2, real) training data from ``data.root`` and/or the explicit folders."""
    from jrgr_deploy.pairing import match_pairs, resolve_root

    pairs: list[tuple[Path, Path]] = []
    real: list[Path] | Path | None = None
    parts = []
    if data.root:
        found = resolve_root(data.root, "train")
        pairs, real = list(found.pairs), (list(found.unpaired) or None)
        parts.append(f"{data.root} ({found.layout})")
    if data.paired_rainy or data.paired_clean:
        if not (data.paired_rainy and data.paired_clean):
            raise JRGRError("give both --paired-rainy and --paired-clean (data.paired_rainy / data.paired_clean)")
        pairs = match_pairs(data.paired_rainy, data.paired_clean)
        parts.append(f"pairs {data.paired_rainy} + {data.paired_clean}")
    if data.real:
        real = _images_or_video(data.real)
        parts.append(f"real {data.real}")
    real_clean = None
    if data.real_clean and need_real:
        real_clean = _images_or_video(data.real_clean)
        parts.append(f"real-domain clean {data.real_clean}")
    if not pairs:
        raise JRGRError(
            "no paired synthetic training data: pass --data DIR (a 'jrgr data synth' output or another known "
            "layout) or --paired-rainy/--paired-clean"
        )
    if need_real and not real:
        raise JRGRError(
            "joint training (stage 2) needs unpaired real rainy images: pass --real DIR (or --data DIR with "
            "train/real/rainy)"
        )
    return DataSources(pairs=pairs, real=real, description="; ".join(parts), real_clean=real_clean)


def _images_or_video(spec: str) -> list[Path] | Path:
    from jrgr_deploy.image_files import list_images
    from jrgr_deploy.video_files import VIDEO_SUFFIXES

    path = Path(spec)
    return path if path.suffix.lower() in VIDEO_SUFFIXES else list_images(path)


class _ResumableSampler(DistributedSampler):
    """DistributedSampler that can start part-way into an epoch (resume)."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=False)
        self.start = 0

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start :])

    def __len__(self) -> int:
        return self.num_samples - self.start


class BatchStream:
    """Endless batches of one data set for this process, positioned by the global step.

    `global_batch` is split evenly over `world_size` processes; one step consumes one batch per process.
    """

    def __init__(
        self, dataset: Dataset, global_batch: int, rank: int, world_size: int, seed: int, num_workers: int,
        what: str,
    ) -> None:
        if global_batch % world_size:
            raise JRGRError(f"batch size {global_batch} is not divisible by the {world_size} processes")
        self.dataset = dataset
        self.batch = global_batch // world_size
        self.sampler = _ResumableSampler(dataset, world_size, rank, seed)
        self.num_workers = num_workers
        self.batches_per_epoch = self.sampler.num_samples // self.batch
        if self.batches_per_epoch == 0:
            raise JRGRError(
                f"the {what} data set has {len(dataset)} image(s), fewer than one batch of {global_batch}: "
                "lower train.batch_size or add images"
            )
        self._iterator: Iterator | None = None
        self._epoch = -1

    def _start(self, epoch: int, batch_index: int) -> None:
        self._epoch = epoch
        self.sampler.set_epoch(epoch)
        self.sampler.start = batch_index * self.batch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        loader = DataLoader(
            self.dataset, batch_size=self.batch, sampler=self.sampler, drop_last=True,
            num_workers=self.num_workers, persistent_workers=False,
        )
        self._iterator = iter(loader)
        self._remaining = self.batches_per_epoch - batch_index

    def seek(self, step: int) -> None:
        """Position so that the next `next()` returns the batch of global step `step`."""
        epoch, batch_index = divmod(step, self.batches_per_epoch)
        self._start(epoch, batch_index)

    def next(self) -> dict[str, torch.Tensor]:
        if self._iterator is None:
            self.seek(0)
        if self._remaining == 0:
            self._start(self._epoch + 1, 0)
        self._remaining -= 1
        return next(self._iterator)

    @property
    def epoch(self) -> int:
        return self._epoch


def make_paired_dataset(sources: DataSources, train: TrainConfig, transfer: MomentTransfer | None = None,
                        loss: LossConfig | None = None) -> Dataset:
    """The synthetic pairs, cropped and flipped; with `transfer`, items also hold the moment-transfer image, made
    as `loss` says (``loss.transfer_streaks_px``, ``loss.transfer_coupled``)."""
    from jrgr_deploy.datasets import PairedRainDataset

    streaks_px, coupled_energy = 0.0, None
    if transfer is not None and loss is not None:
        streaks_px = loss.transfer_streaks_px
        coupled_energy = mean_streak_energy(sources, loss) if loss.transfer_coupled else None
    return PairedRainDataset(sources.pairs, crop_size=train.crop_hw, flip=True, seed=train.seed, transfer=transfer,
                             transfer_streaks_px=streaks_px, coupled_energy=coupled_energy)


def mean_streak_energy(sources: DataSources, loss: LossConfig) -> float:
    """The mean `streak_energy` of up to ``loss.transfer_images`` synthetic pairs (evenly spaced), for
    ``loss.transfer_coupled``; JRGRError when the pairs show no rain."""
    from jrgr_deploy.image_files import read_rgb
    from jrgr_deploy.moment_transfer import streak_energy

    pairs = [sources.pairs[i] for i in evenly_spaced(len(sources.pairs), loss.transfer_images)]
    energy = sum(streak_energy(read_rgb(rainy), read_rgb(clean)) for rainy, clean in pairs) / len(pairs)
    if energy <= 0.0:
        raise JRGRError("loss.transfer_coupled: the synthetic pairs show no rain (rainy = clean)")
    logger.info("coupled moment transfer: the pairs' mean streak energy %.2f levels", energy)
    return energy


def fit_moment_transfer(sources: DataSources, loss: LossConfig) -> MomentTransfer:
    """Population moments of the synthetic rainy images (their clean backgrounds with ``loss.transfer_streaks_px``
    > 0) and of the real ones (whole images or frames, up to ``loss.transfer_images`` of each, evenly spaced) -> the
    `MomentTransfer` of ``loss.weights.mse_fr_mt``."""
    from jrgr_deploy.moment_transfer import MomentTransfer

    if sources.real is None:
        raise JRGRError("the moment transfer (loss.weights.mse_fr_mt) needs unpaired real rainy images (--real)")
    most = loss.transfer_images
    source = 1 if loss.transfer_streaks_px > 0 else 0  # the clean image of each pair, else the rainy one
    transfer = MomentTransfer.fit(sampled_images([pair[source] for pair in sources.pairs], most),
                                  sampled_images(sources.real, most), loss.moment_grid, loss.transfer_jitter)
    _log_transfer("moment transfer", transfer, loss.moment_grid)
    return transfer


def _log_transfer(what: str, transfer: MomentTransfer, grid: int) -> None:
    shift = float((transfer.target[..., 0] - transfer.source[..., 0]).mean())
    logger.info("%s: %dx%d cells, contrast gain %.2f-%.2f, mean shift %+.1f levels", what, grid, grid,
                transfer.gain.min(), transfer.gain.max(), shift)


PSEUDO_LABELS_FILE = "labels.json"  # written last: its presence means every label of the folder is there
FIRST_LABELS_DIR = "first"  # FOLDER/first: the step-0 labels (loss.pl_refresh_detail_px)


def _is_complete(done: Path, record: dict[str, object]) -> bool:
    """Whether a folder's completion record `done` holds `record`; if not, `done` is removed first, so that a
    folder half rewritten under another record never passes for complete."""
    import json

    if done.is_file():
        written = json.loads(done.read_text())
        # records before 2026-12-06 also held the refresh interval; the step says which net made the labels
        written.pop("refresh_iters", None)
        if written == record:
            return True
    done.unlink(missing_ok=True)
    return False


def _mark_complete(done: Path, record: dict[str, object]) -> None:
    """Write the completion record `done` (atomically, last: every file of its folder is there)."""
    import json

    from jrgr_deploy.output_files import write_text_atomic

    write_text_atomic(done, json.dumps(record) + "\n")


def make_pseudo_labels(sources: DataSources, f_r: torch.nn.Module, loss: LossConfig, folder: Path, multiple: int,
                       device: str | torch.device = "cpu", step: int = 0,
                       made: str = "") -> list[tuple[Path, Path]]:
    """The pseudo-labels of ``loss.weights.mse_fr_pl``: every real rainy image (whole; a video's frames), derained by
    `f_r` (the net stage 2 starts from or ``loss.pl_label_net``'s, or with ``loss.pl_refresh_iters`` the net of
    stage-2 step `step`) and with ``loss.pl_veil_strength`` of its veil removed
    (``loss.pl_veil_removal``: the dark channel's, square or row by row, `jrgr_deploy.veil_removal`, or the
    population moments', `population_veil`; with ``loss.pl_veil_first`` from the rainy image before `f_r`;
    with ``loss.pl_veil_only`` the first labels are the rainy images with their veil removed, no net run;
    with ``loss.pl_streak_reference`` the net's output minus the streaks that reference removes from the same
    input, `jrgr_deploy.training.streak_carving`)
    -> [(FOLDER/rainy/NNNNNN.png, FOLDER/label/NNNNNN.png)], in the real set's order. `made`: how the labels are
    made, in words, for the log, which then says whether they are made or reused (none: no log line).

    Whole images, not crops: the airlight and the transmission are read from the whole picture, as the runtime
    reads them from the whole frame, and the moment cells are cells of the whole picture. A folder whose
    ``labels.json`` matches (count, strength, removal, step when refreshed) is reused, so a resumed run trains on
    the labels of the net it started from; any other is written anew (``labels.json`` removed first, so a folder
    half rewritten never passes for complete)."""
    from jrgr_deploy.datasets import UnpairedRainDataset
    from jrgr_deploy.frames import nchw_to_rgb
    from jrgr_deploy.image_files import read_rgb, write_rgb
    from jrgr_deploy.training.streak_carving import carve_streaks
    from jrgr_deploy.veil_removal import AIRLIGHT_FRACTION, PATCH_FRACTION, remove_row_veil, remove_veil

    if sources.real is None:
        raise JRGRError("the pseudo-labels (loss.weights.mse_fr_pl) need unpaired real rainy images (--real)")
    real_set = UnpairedRainDataset(sources.real)
    pairs = [(folder / "rainy" / f"{i:06d}.png", folder / "label" / f"{i:06d}.png") for i in range(len(real_set))]
    done = folder / PSEUDO_LABELS_FILE
    strength, by_moments = loss.pl_veil_strength, loss.pl_veil_removal == "moments"
    expected: dict[str, object] = {"count": len(pairs), "veil_strength": strength}
    if by_moments:  # the dark channel's labels keep the key set they were written with before the choice existed
        expected.update(veil_removal="moments", grid=loss.moment_grid, images=loss.transfer_images)
    dark_channel = {"patch": loss.pl_veil_patch, "airlight": loss.pl_airlight_fraction}
    by_rows = loss.pl_veil_removal == "row_dark_channel"
    if by_rows:  # a choice newer than the keys: it always records itself and its settings
        expected.update(veil_removal="row_dark_channel", **dark_channel)
        if loss.pl_veil_sky_tolerance > 0:  # newer still: recorded only when set
            expected.update(sky_tolerance=loss.pl_veil_sky_tolerance)
    elif not by_moments and dark_channel != {"patch": PATCH_FRACTION, "airlight": AIRLIGHT_FRACTION}:  # keys as before
        expected.update(dark_channel)
    if loss.pl_veil_first:
        expected.update(veil_first=True)
    if loss.pl_veil_only:
        expected.update(veil_only=True)
    if loss.pl_streak_reference:  # a choice newer than the keys: recorded only when made
        expected.update(streak_reference=loss.pl_streak_reference)
        if loss.pl_streak_reference_passes != 1:  # newer still: recorded only when set
            expected.update(streak_reference_passes=loss.pl_streak_reference_passes)
    if loss.pl_label_scale != 1.0:  # likewise
        expected.update(label_scale=loss.pl_label_scale)
    if loss.pl_label_net:  # likewise (at a refresh too: the first labels' blur is that net's)
        expected.update(label_net=loss.pl_label_net)
    if loss.carving_changed:  # likewise
        expected.update(streak_carving=loss.pl_streak_carving, streak_gain=loss.pl_streak_gain)
    if loss.pl_streak_keep:  # likewise
        expected.update(streak_keep=loss.pl_streak_keep)

    def unveil(image: np.ndarray) -> np.ndarray:
        if by_rows:
            return remove_row_veil(image, strength, loss.pl_veil_patch, loss.pl_airlight_fraction,
                                   loss.pl_veil_sky_tolerance)
        return remove_veil(image, strength, loss.pl_veil_patch, loss.pl_airlight_fraction)

    if loss.pl_refresh_iters > 0:  # likewise: the labels of one run without refreshes keep their keys
        # the step, not the interval: the step-0 labels of a run are the same whatever its interval, so `jrgr
        # adapt`'s timing probe hands its labels to the run it plans
        expected.update(step=step)
    detail_px = loss.pl_refresh_detail_px
    if detail_px > 0:
        expected.update(refresh_detail_px=detail_px)
        first_dir = folder / FIRST_LABELS_DIR  # the step-0 labels, whose blur every refreshed label keeps
        if step > 0 and not (first_dir / pairs[0][1].name).is_file():
            raise JRGRError(f"cannot refresh the pseudo-labels' detail in '{folder}': the first labels "
                            f"'{first_dir}' are missing (they are written when stage 2 starts); start anew")
    if _is_complete(done, expected):
        if made:
            logger.info("pseudo-labels of the real images: %s, reused from %s (complete)", made, folder)
        return pairs
    if made:
        logger.info("pseudo-labels of the real images: %s, into %s", made, folder)
    reference = None
    if loss.pl_streak_reference:  # its input is the same at every refresh: its outputs are kept
        unveiled = {"veil_first": loss.pl_veil_first, "removal": loss.pl_veil_removal, "strength": strength,
                    **dark_channel, **({"sky_tolerance": loss.pl_veil_sky_tolerance}
                                       if loss.pl_veil_sky_tolerance > 0 else {})}
        reference = StreakReference(loss.pl_streak_reference, folder / STREAK_REFERENCE_DIR, unveiled, device,
                                    loss.pl_streak_reference_passes)

    def write_label(label_path: Path, label: np.ndarray) -> None:
        """Write one label; with ``pl_refresh_detail_px`` keep it as a first label at step 0, or blend it with
        the first label at a refresh (in memory: each label is written once)."""
        if detail_px > 0:
            if step == 0:
                write_rgb(first_dir / label_path.name, label)
            else:
                label = keep_blur(read_rgb(first_dir / label_path.name), label, detail_px)
        write_rgb(label_path, label)

    training = f_r.training
    derained_dir = folder / "derained"  # the moments' first pass: F_r's outputs, re-toned in the second
    for index, (rainy_path, label_path) in enumerate(pairs):
        rainy = nchw_to_rgb(real_set[index]["o_r"][None].numpy())[0]
        net_input = unveil(rainy) if loss.pl_veil_first else rainy
        if loss.pl_veil_only and step == 0:  # the first labels: the veil stage alone
            derained = unveil(rainy)
        else:
            with torch.no_grad():
                derained = remove_rain_at_scale(f_r, net_input, loss.pl_label_scale, multiple, device)
                if reference is not None:
                    reference_output = reference.output(index, net_input)  # every image's: the cache stays whole
                    if not _keeps_streaks(real_set, index, loss.pl_streak_keep):
                        derained = carve_streaks(derained, reference_output, loss.pl_streak_carving,
                                                 loss.pl_streak_gain)
        write_rgb(rainy_path, rainy)
        if by_moments:
            write_rgb(derained_dir / rainy_path.name, derained)
        else:
            write_label(label_path, derained if loss.pl_veil_first or loss.pl_veil_only else unveil(derained))
        if (index + 1) % 100 == 0 or index + 1 == len(pairs):
            logger.info("pseudo-labels: %d/%d real images", index + 1, len(pairs))
    f_r.train(training)
    if reference is not None:
        reference.finish()
    if by_moments:
        derained_paths = [derained_dir / rainy_path.name for rainy_path, _ in pairs]
        veil = population_veil(derained_paths, _clean_images(sources), loss)
        for derained_path, (_, label_path) in zip(derained_paths, pairs, strict=True):
            write_label(label_path, veil.apply(read_rgb(derained_path), strength))
        for path in derained_paths:
            path.unlink()
        derained_dir.rmdir()
    _mark_complete(done, expected)
    return pairs


def remove_rain_at_scale(f_r: torch.nn.Module, image: np.ndarray, scale: float, multiple: int,
                         device: str | torch.device = "cpu") -> np.ndarray:
    """(H, W, 3) uint8 RGB -> `f_r`'s output on the image enlarged `scale` times (bicubic), shrunk back to (H, W)
    (area), uint8 (``loss.pl_label_scale``; at scale 1 the output on the image as it is)."""
    import cv2

    from jrgr_deploy.training.evaluate import remove_rain

    if scale == 1.0:
        return remove_rain(f_r, [image], multiple=multiple, device=device)[0]
    height, width = image.shape[:2]
    enlarged = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_CUBIC)
    (derained,) = remove_rain(f_r, [enlarged], multiple=multiple, device=device)
    return cv2.resize(derained, (width, height), interpolation=cv2.INTER_AREA)


def _keeps_streaks(real_set: UnpairedRainDataset, index: int, pattern: str) -> bool:
    """Whether real image `index`'s label stays uncarved: its file name matches ``loss.pl_streak_keep`` (a
    video's frames have no file name of their own and are always carved)."""
    from fnmatch import fnmatchcase

    return bool(pattern) and bool(real_set.images) and fnmatchcase(real_set.images[index].name, pattern)


STREAK_REFERENCE_DIR = "reference"  # FOLDER/reference: the streak reference's outputs (loss.pl_streak_reference)


def load_removal_net(checkpoint: Checkpoint, device: str | torch.device) -> tuple[torch.nn.Module, int]:
    """A checkpoint's removal net (`Checkpoint.removal_net`: F_r, or F_s of a stage-1 checkpoint) in eval mode on
    `device`, and its own architecture's size multiple (what `remove_rain` pads its inputs to)."""
    from jrgr_deploy.checkpoint import load_net
    from jrgr_deploy.nn.build import size_multiple

    return (load_net(checkpoint, checkpoint.removal_net).to(device),
            size_multiple(checkpoint.config, checkpoint.removal_net))


class StreakReference:
    """The removal net of ``loss.pl_streak_reference`` (`Checkpoint.removal_net`, eval mode, padded to its own
    architecture's size multiple) and its outputs on the labels' inputs, kept in `folder` as NNNNNN.png: that
    input (the rainy image, or with ``pl_veil_first`` the image with its veil removed) is the same at every label
    refresh, so a refresh reads the outputs back instead of running the net again. ``labels.json`` in `folder`
    (written last, by `finish`) records the reference's path and SHA-256, the input's settings (`unveiled`) and
    the passes when more than one (``loss.pl_streak_reference_passes``: the net run again on its own output);
    outputs written under any other record are made again."""

    def __init__(self, path: str, folder: Path, unveiled: dict[str, object], device: str | torch.device,
                 passes: int = 1) -> None:
        from jrgr_deploy.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(path)
        self.folder, self.device, self.passes = folder, device, passes
        self.record = {"reference": path, "sha256": checkpoint.sha256, **unveiled}
        if passes != 1:  # newer than the record's keys: recorded only when set
            self.record.update(passes=passes)
        self.done = folder / PSEUDO_LABELS_FILE
        self.cached = _is_complete(self.done, self.record)
        if not self.cached:
            self.net, self.multiple = load_removal_net(checkpoint, device)

    def output(self, index: int, net_input: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 input of real image `index` -> the reference's output on it, uint8."""
        from jrgr_deploy.image_files import read_rgb, write_rgb
        from jrgr_deploy.training.evaluate import remove_rain

        path = self.folder / f"{index:06d}.png"
        if self.cached:
            return read_rgb(path)
        derained = net_input
        with torch.no_grad():
            for _ in range(self.passes):  # ``loss.pl_streak_reference_passes``: again on its own output
                (derained,) = remove_rain(self.net, [derained], multiple=self.multiple, device=self.device)
        write_rgb(path, derained)
        return derained

    def finish(self) -> None:
        """Mark the folder complete: every output of this reference and input is in it."""
        if not self.cached:
            _mark_complete(self.done, self.record)


def keep_blur(first: np.ndarray, new: np.ndarray, sigma_px: float) -> np.ndarray:
    """(H, W, 3) uint8 -> uint8: the Gaussian blur (σ px, reflected borders) of `first` plus `new` minus its blur
    (``loss.pl_refresh_detail_px``)."""
    import cv2
    import numpy as np

    def blur(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)

    new_f = new.astype(np.float32)
    mixed = blur(first.astype(np.float32)) + new_f - blur(new_f)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _clean_images(sources: DataSources) -> list[Path] | Path:
    """The clean images the `moments` pseudo-labels are re-toned towards: the real domain's clean set when there is
    one (the same camera's dry footage), else the synthetic pairs' backgrounds."""
    return sources.real_clean if sources.real_clean is not None else [clean for _, clean in sources.pairs]


def population_veil(derained: list[Path], clean: list[Path] | Path, loss: LossConfig) -> MomentTransfer:
    """The `MomentTransfer` from the derained real images' population cell moments (``loss.moment_grid``) to the
    clean images' (each set: up to ``loss.transfer_images`` images, evenly spaced; `clean` a folder, a video or
    a list of images): what the starting net leaves of the real set's veil, as a population, read without
    ground truth; its `apply(label, S)` removes S of it."""
    from jrgr_deploy.moment_transfer import MomentTransfer

    most = loss.transfer_images
    transfer = MomentTransfer.fit(sampled_images(derained, most), sampled_images(clean, most), loss.moment_grid,
                                  jitter=0.0)
    _log_transfer("pseudo-labels' population veil", transfer, loss.moment_grid)
    return transfer


def make_real_dataset(sources: DataSources, train: TrainConfig,
                      labelled: list[tuple[Path, Path]] | None = None) -> Dataset:
    """The real rainy images, cropped and flipped; with `labelled` ((image, pseudo-label) pairs of
    `make_pseudo_labels`), items also hold the pseudo-label ``p_r`` of the same crop."""
    from jrgr_deploy.datasets import PseudoLabelledRealDataset, UnpairedRainDataset

    # Another seed than the paired set: the real crops must not mirror the synthetic ones.
    if labelled is not None:
        return PseudoLabelledRealDataset(labelled, crop_size=train.crop_hw, flip=True, seed=train.seed + 1)
    return UnpairedRainDataset(sources.real, crop_size=train.crop_hw, flip=True, seed=train.seed + 1)


def make_real_clean_dataset(sources: DataSources, train: TrainConfig) -> Dataset:
    """The real domain's clean images (items under key ``o_r``, as any unpaired set), or None."""
    from jrgr_deploy.datasets import UnpairedRainDataset

    return UnpairedRainDataset(sources.real_clean, crop_size=train.crop_hw, flip=True, seed=train.seed + 2)


def steps_for(iters: int, epochs: int, stream: BatchStream, what: str) -> int:
    """Iterations of a stage: `iters` when > 0, else `epochs` passes over the (paired) data."""
    if iters > 0:
        return iters
    if epochs > 0:
        return epochs * stream.batches_per_epoch
    raise JRGRError(f"{what}: set train.{what}_iters or train.{what}_epochs to a positive number")
