"""The embedding API of deraining: derain frames, streams and files with one object.

    from jrgr_deploy.runtime import Deraining

    with Deraining("f_r.onnx") as derain:                 # or a .plan engine, or a .safetensors checkpoint
        clean = derain(frame_bgr)                          # one (H, W, 3) uint8 BGR frame
        for frame, result in derain.stream("rtsp://cam"):  # (input, derained) pairs, live source
            ...
        report = derain.run("drive.mp4", output="drive_derained.mp4")

    with Deraining(temporal=True) as derain:              # + the causal temporal stabiliser (runtime/temporal.py)
        ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jrgr_deploy.runtime.frame_model import FrameModel
from jrgr_deploy.runtime.processing import FrameProcessor, NetProcessor
from jrgr_deploy.runtime.temporal import TemporalSettings, TemporalStabiliser, make_stabiliser
from jrgr_deploy.veil_removal import check_strength


def default_weights() -> Path:
    """The F_r model shipped in `jrgr_deploy/weights/` (its fastest CPU artefact); a clear error if absent."""
    from jrgr_deploy.default_model import fastest_cpu_onnx

    return fastest_cpu_onnx("f_r")


class Deraining(FrameModel):
    """F_r behind a backend plus frame processing (see `FrameModel` for the arguments and methods).

    weights None: the packaged F_r (`default_weights`), or its checkpoint with backend "torch".
    temporal: True (default settings), a `TemporalSettings` or a `TemporalStabiliser` to stabilise the output
    over time (causal; frames must come in order: `stream`/`run` restart it per stream and after a reconnect,
    `reset()` restarts it for direct calls). veil: the share of the dark-channel veil removed from every derained
    frame (`jrgr_deploy/veil_removal.py`; 0: off; None: the artefact's own, its sidecar's `veil_strength`, which
    `jrgr adapt` chooses per camera and which is 0 for the shipped model). tone: the strength of the artefact's tone
    map (`jrgr export --tone`, written by `jrgr adapt --dry`; 0: off; None: its sidecar's).
    """

    command = "derain"
    net = "f_r"

    def __init__(
        self,
        weights: str | Path | None = None,
        backend: str | None = None,
        *,
        temporal: bool | TemporalSettings | TemporalStabiliser | None = None,
        veil: float | None = None,
        tone: float | None = None,
        **options: Any,
    ) -> None:
        self._stabiliser = make_stabiliser(temporal)  # a bad value fails before the model loads
        self._veil = None if veil is None else check_strength(veil)
        if tone is not None:
            from jrgr_deploy.moment_transfer import check_tone_strength  # imported only when a strength is given

            check_tone_strength(tone)
        self._tone = tone
        super().__init__(weights, backend, **options)

    @staticmethod
    def default_weights() -> Path:
        return default_weights()

    def _processor(self, infer_hw: tuple[int, int] | str | None, side_by_side: bool,
                   temporal: TemporalStabiliser | None = None) -> NetProcessor:
        """This model's processor (`temporal`: another camera's stabiliser instead of the model's own)."""
        return FrameProcessor(self.backend, infer_hw=infer_hw, side_by_side=side_by_side,
                              temporal=temporal if temporal is not None else self._stabiliser, veil_strength=self._veil,
                              tone_strength=self._tone)

    def stream_processor(self) -> NetProcessor:
        """A camera's own processor (multi-camera runs): with a stabiliser of its own, same settings, so one
        camera's temporal state never filters another's frames."""
        stabiliser = TemporalStabiliser(self._stabiliser.settings) if self._stabiliser is not None else None
        return self._processor(self.processor.requested_infer_hw, self.processor.side_by_side, stabiliser)

    @property
    def temporal(self) -> TemporalStabiliser | None:
        return self._stabiliser

    def reset(self) -> None:
        """Forget the temporal state: direct calls `derain(frame)` after this start a new video."""
        if self._stabiliser is not None:
            self._stabiliser.reset()

    def run_info(self, processor: NetProcessor | None = None) -> dict[str, Any]:
        return {**super().run_info(processor),
                "temporal": self._stabiliser.settings.as_dict() if self._stabiliser is not None else None,
                "veil_strength": getattr(processor or self.processor, "veil_strength", self._veil),
                "tone_strength": _tone_strength(processor or self.processor)}


def _tone_strength(processor: Any) -> float:
    """The strength of the artefact's tone map the processor applies (`jrgr export --tone`), 0 without one."""
    tone = getattr(processor, "tone", None)
    return tone[1] if tone is not None else 0.0


__all__ = ["Deraining", "default_weights"]
