"""PNG sample grids of the intermediate outputs, laid out like the paper's Fig. 6."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from jrgr_deploy.frames import nchw_to_rgb
from jrgr_deploy.image_files import write_rgb

# Fig. 6: top row the real image's path, bottom row the synthetic image's path.
FIG6_LAYOUT = (
    (("O_r", "o_r"), ("B^_r = F_r(O_r)", "b_hat_r"), ("O~_s", "o_tilde_s"), ("rec O_r", "o_hat_r")),
    (("O_s", "o_s"), ("B^_s = F_s(O_s)", "b_hat_s"), ("O~_r", "o_tilde_r"), ("rec O_s", "o_hat_s")),
)


def _tile(image: torch.Tensor, label: str) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> labelled (H + 20, W, 3) uint8."""
    rgb = nchw_to_rgb(image.detach().float().cpu().numpy()[None])[0]
    bar = np.full((20, rgb.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, label, (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, rgb], axis=0)


def save_grid(path: str | Path, rows: Sequence[Sequence[tuple[str, torch.Tensor]]]) -> Path:
    """Rows of (label, (3, H, W) tensor in [-1, 1]) -> one PNG; all tiles must share H and W."""
    pad = 2
    lines = []
    for row in rows:
        tiles = []
        for label, image in row:
            tiles += [_tile(image, label), np.full((image.shape[1] + 20, pad, 3), 255, np.uint8)]
        lines += [np.concatenate(tiles[:-1], axis=1)]
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, pad), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines]
    return write_rgb(path, np.concatenate(lines, axis=0))


def save_fig6_grid(path: str | Path, images: dict[str, torch.Tensor], index: int = 0) -> Path:
    """`images` = the `JointOutputs` fields as a dict of (N, 3, H, W) tensors; sample `index` is drawn."""
    rows = [[(label, images[key][index]) for label, key in row] for row in FIG6_LAYOUT]
    return save_grid(path, rows)
