"""F_r's tone map (`jrgr export --tone`): fitted here, with the checkpoint's net, and applied by the runtime.

The map is the `jrgr_deploy.moment_transfer.MomentTransfer` from the population cell moments of F_r's own outputs
on real rainy images to those of clean images of like scenes: what the net leaves of the real set's veil, as a
population, read without ground truth. The runtime re-tones each derained frame by the sidecar's strength times
the frame's own share of that veil (`MomentTransfer.apply_to_veil`), so a dry frame is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jrgr_deploy.moment_transfer import MomentTransfer, light_gain

logger = logging.getLogger(__name__)


def derained_images(f_r: Any, real: str | Path | Sequence[str | Path], most: int,
                    multiple: int) -> Iterator[np.ndarray]:
    """`f_r`'s (a torch module in eval mode) outputs, (H, W, 3) uint8 RGB, on up to `most` images of `real` (a
    folder, a video or a list of images; evenly spaced), each padded to `multiple` and cut back."""
    from jrgr_deploy.datasets import sampled_images
    from jrgr_deploy.export.accuracy import run_torch
    from jrgr_deploy.frames import nchw_to_rgb, pad_to_multiple, rgb_to_nchw, unpad

    for rainy in sampled_images(real, most):
        padded, hw = pad_to_multiple(rgb_to_nchw(rainy), multiple)
        yield nchw_to_rgb(unpad(run_torch(f_r, np.ascontiguousarray(padded)), hw))[0]


def fit_population_tone(f_r: Any, real: str | Path | Sequence[str | Path], clean: str | Path | Sequence[str | Path],
                        grid: int, most: int, multiple: int,
                        match_light: bool = False) -> tuple[MomentTransfer, float | None]:
    """The tone map of `f_r` (a torch module in eval mode) from its outputs on up to `most` images of `real` to
    up to `most` images of `clean` (each a folder, a video or a list of images; evenly spaced), on a
    grid x grid partition, and the light gain of the clean images over the real ones (`light_gain`; None when the
    cells cannot tell). With `match_light` (clean footage of the SAME scene) the map's target is brought to the
    real images' light by that gain, so a dry day lit otherwise does not pass its light on; left as it is when the
    gain is None."""
    from jrgr_deploy.datasets import sampled_images

    transfer = MomentTransfer.fit(derained_images(f_r, real, most, multiple), sampled_images(clean, most), grid,
                                  jitter=0.0)
    gain = light_gain(transfer.source, transfer.target)
    if match_light:
        if gain is None:
            logger.warning("tone map: the clean images' light could not be read against the footage's (too little "
                           "difference of veil between the cells); the map keeps the clean images' light")
        else:
            transfer = transfer.relit(gain)
    return transfer, gain
