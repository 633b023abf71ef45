"""The embedding API of deraining: derain frames, streams and files with one object.

    from jrgr_deploy.runtime import Deraining

    with Deraining("f_r.onnx") as derain:                 # or a .plan engine, or a .safetensors checkpoint
        clean = derain(frame_bgr)                          # one (H, W, 3) uint8 BGR frame
        for frame, result in derain.stream("rtsp://cam"):  # (input, derained) pairs, live source
            ...
        report = derain.run("drive.mp4", output="drive_derained.mp4")
"""

from __future__ import annotations

from pathlib import Path

from jrgr_deploy.runtime.frame_model import FrameModel
from jrgr_deploy.runtime.processing import FrameProcessor, NetProcessor


def default_weights() -> Path:
    """The F_r model shipped in `jrgr_deploy/weights/` (its fastest CPU artefact); a clear error if absent."""
    from jrgr_deploy.default_model import fastest_cpu_onnx

    return fastest_cpu_onnx("f_r")


class Deraining(FrameModel):
    """F_r behind a backend plus frame processing (see `FrameModel` for the arguments and methods).

    weights None: the packaged F_r (`default_weights`), or its checkpoint with backend "torch".
    """

    command = "derain"
    net = "f_r"

    @staticmethod
    def default_weights() -> Path:
        return default_weights()

    def _processor(self, infer_hw: tuple[int, int] | None, side_by_side: bool) -> NetProcessor:
        return FrameProcessor(self.backend, infer_hw=infer_hw, side_by_side=side_by_side)


__all__ = ["Deraining", "default_weights"]
