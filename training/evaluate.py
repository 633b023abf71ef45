"""Evaluation of a removal net (F_r or F_s) on whole images against ground truth (docs/ARCHITECTURE.md, "Metrics").

Whole images, never crops: each image is reflect-padded to the net's size multiple, derained in eval mode,
and cropped back. Images of equal size are batched together. Scores: PSNR/SSIM on the Y channel (the
deraining benchmark convention) and on RGB, per image and as means, with the same keys as
``jrgr eval`` without weights.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import nchw_to_rgb, pad_to_multiple, rgb_to_nchw, unpad

logger = logging.getLogger(__name__)


@torch.no_grad()
def remove_rain(
    net: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    images: Sequence[np.ndarray],
    *,
    multiple: int,
    device: str | torch.device = "cpu",
    batch_size: int = 4,
) -> list[np.ndarray]:
    """(H, W, 3) uint8 RGB rainy images -> derained (H, W, 3) uint8 RGB, in the same order.

    The net (a module, put in eval mode, or any callable) must map (N, 3, H, W) in [-1, 1] -> same shape;
    H and W are reflect-padded to `multiple` and the output cropped back.
    """
    if isinstance(net, nn.Module):
        net.eval()
    device = torch.device(device)
    by_size: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for index, image in enumerate(images):
        by_size[image.shape].append(index)
    results: list[np.ndarray | None] = [None] * len(images)
    for indices in by_size.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            batch = rgb_to_nchw(np.stack([images[i] for i in chunk]))
            padded, hw = pad_to_multiple(batch, multiple)
            out = net(torch.from_numpy(np.ascontiguousarray(padded)).to(device)).float().cpu().numpy()
            for i, image in zip(chunk, nchw_to_rgb(unpad(out, hw)), strict=True):
                results[i] = image
    return results  # type: ignore[return-value]


def evaluate_removal(
    net: nn.Module | Callable[[torch.Tensor], torch.Tensor],
    pairs: Sequence[tuple[str | Path, str | Path]],
    *,
    multiple: int,
    device: str | torch.device = "cpu",
    batch_size: int = 4,
    progress: bool = False,
) -> dict[str, Any]:
    """Score `net` on (rainy, clean) image pairs.

    Returns ``{"n", "psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "images": [{"name", ...scores}]}`` (means
    in dB / unitless). Reads images in groups of 64 so memory stays bounded on large test sets.
    """
    from tqdm import tqdm

    from jrgr_deploy.image_files import read_rgb
    from jrgr_deploy.metrics import mean_scores, score

    if not pairs:
        raise JRGRError("no (rainy, clean) pairs to evaluate")
    rows, scores = [], []
    bar = tqdm(total=len(pairs), desc="eval", unit="img", disable=not progress)
    for start in range(0, len(pairs), 64):
        group = pairs[start : start + 64]
        rainy = [read_rgb(r) for r, _ in group]
        clean = [read_rgb(c) for _, c in group]
        for (rainy_path, clean_path), a, b in zip(group, rainy, clean, strict=True):
            if a.shape != b.shape:
                raise JRGRError(f"'{rainy_path}' is {a.shape[:2]} but '{clean_path}' is {b.shape[:2]}")
        derained = remove_rain(net, rainy, multiple=multiple, device=device, batch_size=batch_size)
        for (rainy_path, _), restored, truth in zip(group, derained, clean, strict=True):
            image_scores = score(restored, truth)
            scores.append(image_scores)
            rows.append({"name": Path(rainy_path).name, **image_scores.as_dict()})
        bar.update(len(group))
    bar.close()
    return {"n": len(rows), **mean_scores(scores), "images": rows}


def evaluate_checkpoint(
    weights: str | Path,
    net_name: str,
    pairs: Sequence[tuple[str | Path, str | Path]],
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 4,
    progress: bool = False,
) -> dict[str, Any]:
    """`evaluate_removal` of net `net_name` (``f_r`` or ``f_s``) loaded from a checkpoint; the report also
    names the net, the checkpoint, its SHA-256, stage and step."""
    from jrgr_deploy.checkpoint import load_checkpoint, load_net
    from jrgr_deploy.names import REMOVAL_NETS
    from jrgr_deploy.nn.build import size_multiple

    if net_name not in REMOVAL_NETS:
        raise JRGRError(f"--net '{net_name}' is not a removal net: expected one of {', '.join(REMOVAL_NETS)}")
    checkpoint = load_checkpoint(weights)
    net = load_net(checkpoint, net_name).to(device)
    report = evaluate_removal(
        net, pairs, multiple=size_multiple(checkpoint.config, net_name), device=device, batch_size=batch_size,
        progress=progress,
    )
    head = {
        "n": report["n"], "net": net_name, "weights": str(weights), "sha256": checkpoint.sha256,
        "stage": checkpoint.stage, "step": checkpoint.step,
    }
    return {**head, **{k: v for k, v in report.items() if k != "n"}}
