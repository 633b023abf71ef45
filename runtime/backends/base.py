"""The base class every inference backend derives from, and the input contract it exposes.

A backend maps a batch of rainy images to a batch of outputs with the same shape:
`(N, 3, H, W) float32 RGB in [-1, 1]` -> `(N, 3, H, W) float32 RGB in [-1, 1]` (for F_r the derained
background B̂ = F_r(O); for G_r the real-style rain layer). H and W must satisfy `input_contract`.
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jrgr_deploy.closing import Closing
from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import padded_hw


@dataclass(frozen=True)
class InputContract:
    """What a backend accepts.

    `shape` is NCHW with None for a dynamic axis (e.g. (None, 3, None, None)); a fixed H/W (a TensorRT
    engine built for one size, an ONNX file exported without dynamic axes) is an int. H and W must be
    multiples of `size_multiple` (2**depth of the U-Net). `precision` is the artefact's precision
    (fp32/fp16/int8); the tensors crossing the protocol are float32 whatever it is. `min_hw`, `max_hw` and
    `profile_max_batch` are an engine profile's bounds.
    """

    input_name: str
    output_name: str
    size_multiple: int
    shape: tuple[int | None, ...]
    precision: str = "fp32"
    min_hw: tuple[int, int] | None = None
    max_hw: tuple[int, int] | None = None
    profile_max_batch: int | None = None

    @property
    def max_batch(self) -> int | None:
        """The most frames one call takes (a fixed batch axis, or an engine profile's maximum); None: any."""
        return int(self.shape[0]) if self.shape[0] is not None else self.profile_max_batch

    @property
    def fixed_hw(self) -> tuple[int, int] | None:
        """(H, W) when the backend only runs one spatial size, else None."""
        height, width = self.shape[2], self.shape[3]
        if height is None or width is None:
            return None
        return int(height), int(width)

    @property
    def dynamic(self) -> bool:
        return self.fixed_hw is None

    def input_hw(self, hw: tuple[int, int]) -> tuple[int, int]:
        """(H', W') of the tensor this backend takes for an image of (H, W): padded up to the next multiple of
        `size_multiple`, or the fixed size (which must not be smaller than the image: then run the net at a
        lower --infer-size)."""
        height, width = hw
        fixed = self.fixed_hw
        if fixed is None:
            return padded_hw(height, width, self.size_multiple)
        if height > fixed[0] or width > fixed[1]:
            raise JRGRError(
                f"frame {width}x{height} (WxH) is larger than the model's fixed input {fixed[1]}x{fixed[0]}; "
                f"pass --infer-size {fixed[1]}x{fixed[0]} (or smaller) to run it at that size"
            )
        return fixed

    def check(self, batch: np.ndarray, what: str = "batch") -> None:
        """Raise a clear JRGRError when `batch` breaks the contract (shape, dtype, size multiple, range)."""
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise JRGRError(f"{what}: expected an Nx3xHxW batch, got shape {tuple(batch.shape)}")
        if batch.dtype != np.float32:
            raise JRGRError(f"{what}: expected float32, got {batch.dtype}")
        height, width = batch.shape[2], batch.shape[3]
        fixed = self.fixed_hw
        if fixed is not None and (height, width) != fixed:
            raise JRGRError(
                f"{what}: size {height}x{width} (HxW) does not match the fixed input size "
                f"{fixed[0]}x{fixed[1]} of this model"
            )
        if height % self.size_multiple or width % self.size_multiple:
            raise JRGRError(
                f"{what}: size {height}x{width} (HxW) is not a multiple of {self.size_multiple} "
                "(2**depth of the U-Net); pad it first"
            )
        if self.min_hw is not None and (height < self.min_hw[0] or width < self.min_hw[1]):
            raise JRGRError(
                f"{what}: size {height}x{width} (HxW) is below the engine profile's minimum "
                f"{self.min_hw[0]}x{self.min_hw[1]}"
            )
        if self.max_hw is not None and (height > self.max_hw[0] or width > self.max_hw[1]):
            raise JRGRError(
                f"{what}: size {height}x{width} (HxW) exceeds the engine profile's maximum "
                f"{self.max_hw[0]}x{self.max_hw[1]}; rebuild the engine or use --infer-size"
            )


class Backend(Closing, abc.ABC):
    """Inference on one network file; ONNX Runtime, TensorRT and PyTorch subclass it.

    `backend(batch)` checks `batch` against `input_contract` and that the backend is open, then calls the
    subclass's `_infer`, which only runs the net (the runner pattern: the check lives once, here).
    Context manager; `close()` is idempotent and calls the subclass's `_close`.
    """

    name: str = "backend"
    device: str = "cpu"
    concurrent_calls: bool = False  # may several threads call it at once (`MultiStream`'s inference workers)
    input_contract: InputContract
    path: Path
    _closed: bool = False

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 in [-1, 1] (H, W as `input_contract` allows) -> (N, 3, H, W) float32."""
        if self._closed:
            raise JRGRError(f"backend {self.name} on '{self.path}' is closed")
        self.input_contract.check(batch)
        return self._infer(batch)

    @abc.abstractmethod
    def _infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the net on a batch that satisfies the contract; return float32 of the same shape."""

    def close(self) -> None:
        """Release the session / engine / module (idempotent)."""
        if not self._closed:
            self._closed = True
            self._close()

    @abc.abstractmethod
    def _close(self) -> None:
        """Free the session / engine / module (called once, by `close`)."""

    def describe(self) -> str:
        """One line for logs and stats: backend, device, file, precision."""
        return f"{self.name} ({self.device}) on {self.path.name} [{self.input_contract.precision}]"


def physical_core_count() -> int:
    """Physical cores this process may run on (hyper-threads share execution units, so ORT's intra-op
    pool is sized to cores, not logical CPUs)."""
    try:
        allowed = os.sched_getaffinity(0)
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores: set[tuple[str, str]] = set()
    for cpu in allowed:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return max(1, len(allowed))
        cores.add((package, core))
    return max(1, len(cores))
