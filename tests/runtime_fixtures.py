"""Shared builders for the runtime tests: fixture ONNX nets with sidecars, test videos whose frames carry
their index, and a backend wrapper that is slower than the camera."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from jrgr_deploy import video_files
from jrgr_deploy.artifact import ArtifactInfo, write_sidecar
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.runtime.backends.base import Backend

BLOCK = 12  # pixels per bit of the frame-index code
BITS = 8


def export_fixture_net(
    path: Path,
    kind: str = "tiny",
    net: str = "f_r",
    fixed_shape: tuple[int, int] | None = None,
    size_multiple: int = 4,
    train_frame_hw: list[int] | None = None,
) -> Path:
    """Export a small real conv net to ONNX (opset 19) with its sidecar.

    kind "tiny": out = clamp(x − 0.1·tanh(up4(conv(relu(conv(avgpool4(x)))))), an identity-ish deraining
    net whose size multiple is 4 (the pooling); "offset": out = x − 0.1 (a constant rain layer of 0.1);
    "identity": out = x; broken nets: "nan": out = sqrt(x − 2) (NaN everywhere), "shrink": out = x without
    its last 4 rows. fixed_shape (H, W): export without dynamic H/W. train_frame_hw: the sidecar's record
    of the training frames' size (for `--infer-size auto`).
    """
    import torch
    import torch.nn.functional as F

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.c2 = torch.nn.Conv2d(8, 3, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if kind == "identity":
                return x * 1.0
            if kind == "offset":
                return x - 0.1
            if kind == "nan":
                return torch.sqrt(x - 2.0)
            if kind == "shrink":
                return x[:, :, :-4, :] * 1.0
            r = self.c2(F.relu(self.c1(F.avg_pool2d(x, 4))))
            r = F.interpolate(r, scale_factor=4.0, mode="nearest")
            return torch.clamp(x - 0.1 * torch.tanh(r), -1.0, 1.0)

    input_name, output_name = ("rainy", "clean") if net.startswith("f") else ("rain_layer", "real_rain_layer")
    height, width = fixed_shape or (32, 48)
    example = torch.zeros(1, 3, height, width)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Tiny().eval(),
            (example,),
            str(path),
            dynamo=False,
            opset_version=19,
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes=None if fixed_shape else {input_name: axes, output_name: axes},
        )
    shape: list[int | None] = [1, 3, height, width] if fixed_shape else [None, 3, None, None]
    write_sidecar(
        path,
        ArtifactInfo(
            kind="onnx",
            net=net,
            precision="fp32",
            input_name=input_name,
            output_name=output_name,
            size_multiple=size_multiple,
            input_shape=shape,
            opset=19,
            train_frame_hw=train_frame_hw,
        ),
    )
    return path


def index_frame(index: int, height: int = 90, width: int = 150, seed: int = 0) -> np.ndarray:
    """A (H, W, 3) uint8 BGR frame: mid-grey texture with `index` written as 8 big black/white blocks
    along the top-left (bit i at block i), robust to lossy codecs and to an identity-ish net."""
    rng = np.random.default_rng(seed + index)
    frame = rng.integers(60, 190, size=(height, width, 3), dtype=np.uint8)
    for bit in range(BITS):
        value = 255 if (index >> bit) & 1 else 0
        frame[0:BLOCK, bit * BLOCK : (bit + 1) * BLOCK] = value
    return frame


def decode_index(frame: np.ndarray) -> int:
    """Read back the index written by `index_frame` (block centres, threshold at mid-grey)."""
    index = 0
    for bit in range(BITS):
        centre = frame[2 : BLOCK - 2, bit * BLOCK + 2 : (bit + 1) * BLOCK - 2]
        if centre.mean() > 128:
            index |= 1 << bit
    return index


def write_video(path: Path, frames: list[np.ndarray], fps: float = 20.0) -> Path:
    """Encode BGR frames with the package's writer: mp4v for .mp4, MJPG for .avi."""
    return video_files.write_video(path, frames, fps)


def read_video(path: Path) -> list[np.ndarray]:
    """Every frame of a video, BGR; a video with no decodable frame is an empty list."""
    try:
        return video_files.read_video(path)
    except JRGRError:
        return []


class SlowBackend(Backend):
    """A real backend made slower by a fixed delay per call (a stand-in for a big net / slow device)."""

    def __init__(self, inner: Backend, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.name = f"slow-{inner.name}"
        self.device = inner.device
        self.path = inner.path
        self.input_contract = inner.input_contract
        self.calls = 0

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        time.sleep(self.delay_s)
        return self.inner(batch)

    def _close(self) -> None:
        self.inner.close()
