"""Frame processing around a backend: camera frame -> network tensor -> derained camera frame.

    preprocess:  (H, W, 3) uint8 BGR -> [resize to --infer-size] -> reflect-pad to the contract
                 -> (1, 3, H', W') float32 RGB in [-1, 1]
    infer:       backend(batch) = B̂ = F_r(O)
    postprocess: unpad -> (H, W, 3) uint8 BGR [| side by side with the input]

With an inference size below the frame size the net sees a downscaled frame; what is upsampled back
is not the derained image but the rain layer R̂ = O − F_r(O) (the disentanglement of JRGR, paper
Eq. 1: O = B + R), subtracted from the full-resolution frame: B̂_full = O_full − up(R̂_small). Rain
streaks are smooth and low-frequency enough to survive the resampling, while the background keeps all
its full-resolution detail (a downscaled-then-upscaled B̂ would be blurred).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import bgr_to_nchw, nchw_to_bgr, pad_to_multiple, padded_size, unpad
from jrgr_deploy.runtime.backends.base import BackendBase, InputContract


@dataclass
class Prepared:
    """A frame on its way through the net.

    `frame`: the (H, W, 3) uint8 BGR input as captured; `batch`: the padded (1, 3, H', W') float32 RGB
    tensor in [-1, 1] fed to the backend; `net_size`: the (h, w) of the frame as the net sees it
    (before padding: the frame size, or the inference size); `index`: capture index.
    """

    frame: np.ndarray
    batch: np.ndarray
    net_size: tuple[int, int]
    index: int = 0


class Processor(Protocol):
    """The three stages the streaming pipeline places on its threads."""

    def preprocess(self, frame: np.ndarray, index: int) -> Prepared: ...

    def infer(self, prepared: Prepared) -> np.ndarray: ...

    def postprocess(self, prepared: Prepared, output: np.ndarray) -> np.ndarray: ...


def parse_size(text: str) -> tuple[int, int]:
    """'640x360' -> (640, 360) = (width, height); a clear error otherwise."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise JRGRError(f"size '{text}' is not WIDTHxHEIGHT (e.g. 640x360)") from None
    if width < 1 or height < 1:
        raise JRGRError(f"size '{text}' must be positive (WIDTHxHEIGHT, e.g. 640x360)")
    return width, height


def pad_for_contract(batch: np.ndarray, contract: InputContract) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad (bottom/right) an (N, 3, h, w) batch so the backend accepts it.

    Dynamic contracts: up to the next multiple of `size_multiple`. Fixed-size contracts: up to the
    fixed size, which must not be smaller than the batch (else the caller must use an inference size).
    Returns the padded batch and (h, w) for `unpad`.
    """
    fixed = contract.fixed_hw
    height, width = batch.shape[-2:]
    if fixed is None:
        return pad_to_multiple(batch, contract.size_multiple)
    if height > fixed[0] or width > fixed[1]:
        raise JRGRError(
            f"frame {width}x{height} (WxH) is larger than the model's fixed input {fixed[1]}x{fixed[0]}; "
            f"pass --infer-size {fixed[1]}x{fixed[0]} (or smaller) to run it at that size"
        )
    pad_h, pad_w = fixed[0] - height, fixed[1] - width
    if pad_h == 0 and pad_w == 0:
        return batch, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "symmetric"
    return np.pad(batch, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode=mode), (height, width)


class FrameProcessor:
    """Derain BGR frames with `backend` (F_r): see the module docstring for the stages.

    infer_size: (width, height) to run the net at (rain-layer upsampling), or None for full
    resolution. side_by_side: postprocess returns [input | derained] (2W wide) instead.
    """

    def __init__(
        self,
        backend: BackendBase,
        infer_size: tuple[int, int] | None = None,
        side_by_side: bool = False,
    ) -> None:
        self.backend = backend
        self.contract = backend.input_contract
        self.infer_size = infer_size
        self.side_by_side = side_by_side

    def net_input_size(self, height: int, width: int) -> tuple[int, int]:
        """(H', W') of the padded tensor the backend will see for a frame of (height, width)."""
        h, w = (self.infer_size[1], self.infer_size[0]) if self.infer_size else (height, width)
        fixed = self.contract.fixed_hw
        return fixed if fixed is not None else padded_size(h, w, self.contract.size_multiple)

    def preprocess(self, frame: np.ndarray, index: int = 0) -> Prepared:
        """(H, W, 3) uint8 BGR -> Prepared with a padded (1, 3, H', W') float32 RGB batch in [-1, 1]."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise JRGRError(f"expected an HxWx3 uint8 BGR frame, got {frame.dtype} {frame.shape}")
        small = frame
        if self.infer_size is not None and self.infer_size != (frame.shape[1], frame.shape[0]):
            # INTER_AREA averages: no aliasing of thin streaks when shrinking.
            small = cv2.resize(frame, self.infer_size, interpolation=cv2.INTER_AREA)
        net_size = (small.shape[0], small.shape[1])
        target_h, target_w = self.net_input_size(frame.shape[0], frame.shape[1])
        pad_h, pad_w = target_h - net_size[0], target_w - net_size[1]
        if 0 <= pad_h < net_size[0] and 0 <= pad_w < net_size[1]:
            # Pad the uint8 frame (a quarter of the bytes of the float tensor); BORDER_REFLECT_101 is
            # numpy's "reflect", so this equals pad_to_multiple(bgr_to_nchw(frame)).
            if pad_h or pad_w:
                small = cv2.copyMakeBorder(small, 0, pad_h, 0, pad_w, cv2.BORDER_REFLECT_101)
            return Prepared(frame=frame, batch=bgr_to_nchw(small), net_size=net_size, index=index)
        batch, net_size = pad_for_contract(bgr_to_nchw(small), self.contract)
        return Prepared(frame=frame, batch=np.ascontiguousarray(batch), net_size=net_size, index=index)

    def infer(self, prepared: Prepared) -> np.ndarray:
        """The backend's (1, 3, H', W') float32 output for the prepared batch."""
        return self.backend(prepared.batch)

    def postprocess(self, prepared: Prepared, output: np.ndarray) -> np.ndarray:
        """Backend output -> (H, W, 3) uint8 BGR derained frame (or [input | derained], 2W wide)."""
        restored = unpad(output, prepared.net_size)
        frame = prepared.frame
        height, width = frame.shape[:2]
        if prepared.net_size == (height, width):
            derained = nchw_to_bgr(restored)[0]
        else:
            derained = self._apply_rain_layer(prepared, restored)
        if self.side_by_side:
            return np.hstack((frame, derained))
        return derained

    def _apply_rain_layer(self, prepared: Prepared, restored: np.ndarray) -> np.ndarray:
        """B̂_full = O_full − up(O_small − F_r(O_small)), in 0..255 units, BGR."""
        frame = prepared.frame
        height, width = frame.shape[:2]
        rain_small = unpad(prepared.batch, prepared.net_size)[0] - restored[0]  # (3, h, w) RGB, [-2, 2]
        rain_hwc = np.ascontiguousarray(rain_small[::-1].transpose(1, 2, 0))  # (h, w, 3) BGR
        rain_full = cv2.resize(rain_hwc, (width, height), interpolation=cv2.INTER_LINEAR)
        out = frame.astype(np.float32)
        out -= rain_full * 127.5  # [-1, 1] image units -> 0..255 units
        np.clip(out, 0.0, 255.0, out=out)
        return np.rint(out).astype(np.uint8)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Derain one (H, W, 3) uint8 BGR frame synchronously (no pipeline)."""
        prepared = self.preprocess(frame)
        return self.postprocess(prepared, self.infer(prepared))


__all__ = ["FrameProcessor", "Prepared", "Processor", "pad_for_contract", "parse_size"]
