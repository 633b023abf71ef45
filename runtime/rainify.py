"""Real-rain generation on clean footage with G_r (torch-free), for realistic rainy training data.

Per frame (JRGR's S2R module without F_s, since the input is already clean: paper Sec. 3, Fig. 2):

    R_s   = synthetic rain layer of model A on the clean frame B   (jrgr_deploy.rain, temporally coherent)
    R_r   = G_r(R_s)                                               (real-style rain layer)
    Õ_r   = B + R_r                                                (entanglement by addition, clipped to 0..255)

Rain layers are in units of the [-1, 1] image scale (so in [-2, 2]); `jrgr_deploy.rain` returns them in
units of the [0, 1] scale, hence the factor 2 going in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import unpad
from jrgr_deploy.runtime.backends.base import Backend
from jrgr_deploy.runtime.frame_model import FrameModel
from jrgr_deploy.runtime.processing import (
    NetProcessor,
    Prepared,
    add_to_frame,
    check_frame,
    layer_to_frame,
    pad_for_contract,
    resize_hw,
)

DEFAULT_FPS = 25.0


class RainifyProcessor(NetProcessor):
    """Add G_r-translated rain to (H, W, 3) uint8 BGR clean frames (the pipeline's Processor protocol).

    backend: G_r (input: rain layer NCHW RGB float32 in [-2, 2]; output: real-style rain layer).
    model/preset/seed: the synthetic rain drawn (`jrgr_deploy.rain.RainSequence`); fps: the footage's
    frame rate, so drops fall at their physical speed between frames (`begin` takes the source's).
    infer_hw: run G_r on the rain layer shrunk to (height, width) (or "auto", see `NetProcessor`), and add its
    upsampled output.
    side_by_side: [clean | rainy].
    """

    def __init__(
        self,
        backend: Backend,
        preset: str = "medium",
        seed: int = 0,
        model: str = "synthetic",
        fps: float | None = None,
        infer_hw: tuple[int, int] | str | None = None,
        side_by_side: bool = False,
    ) -> None:
        from jrgr_deploy.rain import MODELS, PRESETS

        super().__init__(backend, infer_hw=infer_hw, side_by_side=side_by_side)
        if model not in MODELS:
            raise JRGRError(f"rain model '{model}' is not one of {MODELS}")
        if preset not in PRESETS:
            raise JRGRError(f"rain preset '{preset}' is not one of {PRESETS}")
        self.preset, self.seed, self.model = preset, seed, model
        self.fps = DEFAULT_FPS
        self.begin(fps)

    def begin(self, fps: float | None) -> None:
        """The footage's frame rate (None or <= 0: 25 fps); the rain is drawn again for it."""
        self.fps = fps if fps and fps > 0 else DEFAULT_FPS
        self._sequence = None

    def _sequence_for(self, height: int, width: int):  # -> RainSequence
        from jrgr_deploy.rain import RainSequence

        sequence = self._sequence
        if sequence is None or (sequence.height, sequence.width) != (height, width):
            sequence = RainSequence(
                self.model, self.preset, self.seed, height, width, fps=self.fps, channel_order="bgr"
            )
            self._sequence = sequence
        return sequence

    def preprocess(self, frame: np.ndarray, index: int = 0) -> Prepared:
        """Clean BGR frame -> Prepared whose batch is the padded synthetic rain layer (1, 3, H', W') RGB."""
        check_frame(frame)
        height, width = frame.shape[:2]
        sample = self._sequence_for(height, width).render(frame, index)
        full_layer = np.ascontiguousarray(sample.rain_layer, dtype=np.float32)
        layer_bgr = resize_hw(full_layer, self.infer_hw_for((height, width)))
        layer = layer_bgr[..., ::-1].transpose(2, 0, 1)[None] * np.float32(2.0)  # BGR->RGB, [-2, 2]
        batch, net_hw = pad_for_contract(np.ascontiguousarray(layer, dtype=np.float32), self.contract)
        return Prepared(frame=frame, batch=np.ascontiguousarray(batch), net_hw=net_hw, index=index)

    def postprocess(self, prepared: Prepared, output: np.ndarray) -> np.ndarray:
        """Õ_r = B + up(G_r(R_s)) in 0..255 units, clipped, uint8 BGR (or [clean | rainy])."""
        layer = unpad(output, prepared.net_hw)[0]  # (3, h, w) RGB, [-1, 1]-scale units
        frame = prepared.frame
        return self._finish(frame, add_to_frame(frame, layer_to_frame(layer, frame.shape[:2])))


class Rainifying(FrameModel):
    """G_r behind a backend: add realistic rain to clean frames, streams and files (`jrgr rainify`).

    weights: G_r as .onnx / .plan / .engine / .safetensors (None: the packaged `g_r.onnx`); preset, seed,
    model: the synthetic rain G_r translates; the rest as `FrameModel`.
    """

    command = "rainify"
    net = "g_r"

    def __init__(
        self,
        weights: str | Path | None = None,
        backend: str | None = None,
        preset: str = "medium",
        seed: int = 0,
        model: str = "synthetic",
        **options: Any,
    ) -> None:
        self.rain = {"model": model, "preset": preset, "seed": seed}
        super().__init__(weights, backend, **options)

    @staticmethod
    def default_weights() -> Path:
        from jrgr_deploy.default_model import default_onnx

        return default_onnx("g_r")

    def _processor(self, infer_hw: tuple[int, int] | str | None, side_by_side: bool) -> NetProcessor:
        return RainifyProcessor(self.backend, infer_hw=infer_hw, side_by_side=side_by_side, **self.rain)

    def run_info(self, processor: NetProcessor | None = None) -> dict[str, Any]:
        return {**super().run_info(processor), "rain": dict(self.rain)}


__all__ = ["RainifyProcessor", "Rainifying"]
