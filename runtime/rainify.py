"""Real-rain generation on clean footage with G_r (torch-free), for realistic rainy training data.

Per frame (JRGR's S2R module without F_s, since the input is already clean: paper Sec. 3, Fig. 2):

    R_s   = synthetic rain layer of model A on the clean frame B   (jrgr_deploy.rain, temporally coherent)
    R_r   = G_r(R_s)                                               (real-style rain layer)
    Õ_r   = B + R_r                                                (entanglement by addition, clipped to 0..255)

Rain layers are in units of the [-1, 1] image scale (so in [-2, 2]); `jrgr_deploy.rain` returns them in
units of the [0, 1] scale, hence the factor 2 going in.
"""

from __future__ import annotations

import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import unpad
from jrgr_deploy.runtime.backends.base import BackendBase
from jrgr_deploy.runtime.processing import Prepared, pad_for_contract


class RainifyProcessor:
    """Add G_r-translated rain to (H, W, 3) uint8 BGR clean frames (the pipeline's Processor protocol).

    backend: G_r (input: rain layer NCHW RGB float32 in [-2, 2]; output: real-style rain layer).
    model/preset/seed: the synthetic rain drawn (`jrgr_deploy.rain.RainSequence`); fps: the footage's
    frame rate, so drops fall at their physical speed between frames. side_by_side: [clean | rainy].
    """

    def __init__(
        self,
        backend: BackendBase,
        preset: str = "medium",
        seed: int = 0,
        model: str = "synthetic",
        fps: float | None = None,
        side_by_side: bool = False,
    ) -> None:
        from jrgr_deploy.rain import MODELS, PRESETS

        if model not in MODELS:
            raise JRGRError(f"rain model '{model}' is not one of {MODELS}")
        if preset not in PRESETS:
            raise JRGRError(f"rain preset '{preset}' is not one of {PRESETS}")
        self.backend = backend
        self.contract = backend.input_contract
        self.preset, self.seed, self.model = preset, seed, model
        self.fps = fps if fps and fps > 0 else 25.0
        self.side_by_side = side_by_side
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
        height, width = frame.shape[:2]
        sample = self._sequence_for(height, width).render(frame, index)
        layer = sample.rain_layer[..., ::-1].transpose(2, 0, 1)[None] * np.float32(2.0)  # BGR->RGB, [-2, 2]
        batch, size = pad_for_contract(np.ascontiguousarray(layer, dtype=np.float32), self.contract)
        return Prepared(frame=frame, batch=np.ascontiguousarray(batch), net_size=size, index=index)

    def infer(self, prepared: Prepared) -> np.ndarray:
        return self.backend(prepared.batch)

    def postprocess(self, prepared: Prepared, output: np.ndarray) -> np.ndarray:
        """Õ_r = B + G_r(R_s) in 0..255 units, clipped, uint8 BGR (or [clean | rainy])."""
        layer = unpad(output, prepared.net_size)[0]  # (3, H, W) RGB, [-1, 1]-scale units
        layer_bgr = layer[::-1].transpose(1, 2, 0)
        rainy = prepared.frame.astype(np.float32) + layer_bgr * np.float32(127.5)
        np.clip(rainy, 0.0, 255.0, out=rainy)
        result = np.rint(rainy).astype(np.uint8)
        if self.side_by_side:
            return np.hstack((prepared.frame, result))
        return result

    def __call__(self, frame: np.ndarray, index: int = 0) -> np.ndarray:
        prepared = self.preprocess(frame, index)
        return self.postprocess(prepared, self.infer(prepared))


__all__ = ["RainifyProcessor"]
