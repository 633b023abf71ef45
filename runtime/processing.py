"""Frame processing around a backend: camera frame -> network tensor -> output camera frame.

Two processors share the stages the streaming pipeline places on its threads:

    preprocess:  (H, W, 3) uint8 BGR frame -> the net's input at the inference size, reflect-padded to the
                 contract -> (1, 3, H', W') float32 RGB
    infer:       backend(batch)
    postprocess: unpad -> [F_r with a temporal stabiliser: its luma correction] -> (H, W, 3) uint8 BGR
                 [-> tone map] [-> veil removal] [| side by side with the input]

- `FrameProcessor` (F_r, deraining): the input is the frame O in [-1, 1]; the output is B̂ = F_r(O).
- `runtime.rainify.RainifyProcessor` (G_r): the input is a synthetic rain layer R_s, the output G_r(R_s) is
  added to the frame.

With an inference size below the frame size (`infer_hw`) the net sees a downscaled input, and what is
upsampled back is always a rain layer: for deraining R̂ = O − F_r(O) (the disentanglement of JRGR, paper
Eq. 1: O = B + R), subtracted from the full-resolution frame, B̂_full = O_full − up(R̂_small); for rain
generation G_r(R_s), added to it. Rain is smooth and low-frequency enough to survive the resampling, while
the background keeps all its full-resolution detail (a downscaled-then-upscaled B̂ would be blurred).

The inference size "auto" (the commands' default) is chosen per frame size from the artefact's sidecar
(`train_frame_hw`): frames larger than the ones the net was trained on are shrunk to that scale
(`jrgr_deploy.frames.auto_infer_hw`), so the rain keeps the size in pixels the net learned; with no recorded
training size, the net runs at the frame's size.

With a temporal stabiliser (`runtime/temporal.py`), its luma correction is added to the derained frame
while it is still float, before rounding to uint8 (no second quantisation); its time is the "temporal"
stage of the latency table. With a tone map in the artefact's sidecar (`jrgr export --tone`,
`jrgr_deploy/moment_transfer.py`), the derained uint8 frame is re-toned cell by cell (the "tone" stage); with a veil
strength (`jrgr_deploy/veil_removal.py`), the dark-channel veil is removed from it last (the "veil" stage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.frames import INFER_AUTO, auto_infer_hw, bgr_to_nchw, nchw_to_bgr, unpad
from jrgr_deploy.runtime.backends.base import Backend, InputContract
from jrgr_deploy.runtime.stats import now_ns
from jrgr_deploy.runtime.temporal import LUMA_BGR, TemporalStabiliser
from jrgr_deploy.veil_removal import check_strength, remove_veil

if TYPE_CHECKING:
    from jrgr_deploy.artifact import ArtifactInfo


@dataclass
class Prepared:
    """A frame on its way through the net.

    `frame`: the (H, W, 3) uint8 BGR input as captured; `batch`: the padded (1, 3, H', W') float32 RGB
    tensor fed to the backend; `net_hw`: the (h, w) of the net's input before padding (the frame size, or
    the inference size); `index`: capture index. `restart`: the first frame of a stream or after a reconnect
    (temporal state must not carry over; set by the pipeline). `stage_ns`: time spent in named sub-stages of
    postprocess (e.g. "temporal"), which the pipeline reports as stages of their own.
    """

    frame: np.ndarray
    batch: np.ndarray
    net_hw: tuple[int, int]
    index: int = 0
    restart: bool = False
    stage_ns: dict[str, int] = field(default_factory=dict)


class Processor(Protocol):
    """The stages the streaming pipeline places on its threads; `begin` gets the source's frame rate."""

    def begin(self, fps: float | None) -> None: ...

    def preprocess(self, frame: np.ndarray, index: int) -> Prepared: ...

    def infer(self, prepared: Prepared) -> np.ndarray: ...

    def postprocess(self, prepared: Prepared, output: np.ndarray) -> np.ndarray: ...


def pad_for_contract(batch: np.ndarray, contract: InputContract) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad (bottom/right) an (N, 3, h, w) batch to `contract.input_hw` so the backend accepts it.

    Returns the padded batch and (h, w) for `unpad`. Padding larger than the image falls back to
    symmetric-edge replication, which reflect cannot do.
    """
    height, width = batch.shape[-2:]
    target_h, target_w = contract.input_hw((height, width))
    pad_h, pad_w = target_h - height, target_w - width
    if pad_h == 0 and pad_w == 0:
        return batch, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "symmetric"
    return np.pad(batch, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode=mode), (height, width)


def resize_hw(image: np.ndarray, hw: tuple[int, int] | None) -> np.ndarray:
    """`image` (h, w, C) shrunk to `hw` with INTER_AREA (it averages: thin streaks do not alias); unchanged
    when `hw` is None or already its size. An `hw` above the image's size is an error: the inference size is
    a reduction (upscaling would only cost time: the net would run on more pixels than the frame has)."""
    if hw is None or hw == image.shape[:2]:
        return image
    height, width = image.shape[:2]
    if hw[0] > height or hw[1] > width:
        raise JRGRError(
            f"--infer-size {hw[1]}x{hw[0]} is larger than the {width}x{height} frames: expected at most the frame "
            "size (it is the size the net runs at, below the frame's to save time); omit it for full resolution"
        )
    return cv2.resize(image, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)


_ZERO_SCALAR = (0.0, 0.0, 0.0, 0.0)  # an OpenCV scalar: adding it only converts


def layer_to_frame(layer: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """A (3, h, w) RGB rain layer in units of the [-1, 1] image scale -> (H, W, 3) BGR float32 in 0..255
    units, upsampled (INTER_LINEAR) to `frame_hw` when the net ran at a lower size."""
    layer_bgr = np.ascontiguousarray(layer[::-1].transpose(1, 2, 0), dtype=np.float32)
    if layer_bgr.shape[:2] != frame_hw:
        layer_bgr = cv2.resize(layer_bgr, (frame_hw[1], frame_hw[0]), interpolation=cv2.INTER_LINEAR)
    layer_bgr *= np.float32(127.5)
    return layer_bgr


def blend(frame: np.ndarray, layer_bgr: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """frame ± layer (0..255 units, see `layer_to_frame`) as (H, W, 3) float32 BGR, before rounding."""
    # one OpenCV pass (the numpy form, astype then +=, makes two full-frame float temporaries)
    return cv2.addWeighted(frame, 1.0, layer_bgr, float(sign), 0.0, dtype=cv2.CV_32F)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A float image on the 0..255 scale, clipped and rounded (half to even, as np.rint) to uint8."""
    # OpenCV's saturating conversion clips and rounds in one pass (clip, rint, astype: three)
    return cv2.add(image, _ZERO_SCALAR, dtype=cv2.CV_8U)


def add_to_frame(frame: np.ndarray, layer_bgr: np.ndarray, sign: float = 1.0) -> np.ndarray:
    """frame ± layer (0..255 units, see `layer_to_frame`), clipped and rounded to uint8 BGR."""
    # one saturating OpenCV pass; equal to to_uint8(blend(...)) and the full-frame cost of the low-resolution path
    if sign == 1.0:
        return cv2.add(frame, layer_bgr, dtype=cv2.CV_8U)
    if sign == -1.0:
        return cv2.subtract(frame, layer_bgr, dtype=cv2.CV_8U)
    return to_uint8(blend(frame, layer_bgr, sign))


def check_net_output(output: np.ndarray, batch: np.ndarray, backend: Backend, index: int) -> None:
    """The per-frame check of a net's output: the input's shape, every value finite. A net that returns
    another shape or NaN/inf (corrupt weights, an FP16 overflow) stops the stream with an error instead of
    writing garbage frames."""
    if output.shape != batch.shape:
        raise JRGRError(
            f"frame {index}: {backend.describe()} returned shape {tuple(output.shape)} for an input of shape "
            f"{tuple(batch.shape)}; expected the same shape (an image-to-image F_r / G_r net)"
        )
    if not np.isfinite(output).all():
        raise JRGRError(
            f"frame {index}: {backend.describe()} returned NaN or inf values (corrupt weights, or an overflow at "
            "reduced precision); no frame is written from them"
        )


def check_frame(frame: np.ndarray) -> None:
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise JRGRError(f"expected an HxWx3 uint8 BGR frame, got {frame.dtype} {frame.shape}")


class NetProcessor:
    """What both processors share: the backend, the inference size, side by side, the synchronous call.

    infer_hw: (height, width) to run the net at (rain-layer upsampling), None for full resolution, or "auto"
    (the training scale of the backend's artefact, see the module docstring). After a frame, `infer_hw` is
    the size the net ran at (None: the frame's); `infer_size` says what was asked ("auto", "full", "WxH").
    side_by_side: postprocess returns [input | output] (2W wide).
    """

    def __init__(
        self, backend: Backend, infer_hw: tuple[int, int] | str | None = None, side_by_side: bool = False
    ) -> None:
        self.auto = infer_hw == INFER_AUTO
        if isinstance(infer_hw, str) and not self.auto:
            raise JRGRError(f"inference size '{infer_hw}' is not (height, width), None or '{INFER_AUTO}'")
        if not self.auto and infer_hw is not None and (infer_hw[0] < 1 or infer_hw[1] < 1):
            raise JRGRError(f"inference size {infer_hw[1]}x{infer_hw[0]} (WxH) must be positive")
        self.backend = backend
        self.contract = backend.input_contract
        self.infer_hw: tuple[int, int] | None = None if self.auto else infer_hw  # type: ignore[assignment]
        self.infer_size = INFER_AUTO if self.auto else ("full" if infer_hw is None else f"{infer_hw[1]}x{infer_hw[0]}")
        # the artefact's sidecar (ONNX Runtime, TensorRT backends; None for a checkpoint)
        self.artifact_info: ArtifactInfo | None = getattr(backend, "info", None)
        info = self.artifact_info
        self.train_frame_hw: tuple[int, int] | None = (
            tuple(info.train_frame_hw) if info is not None and info.train_frame_hw else None  # type: ignore[assignment]
        )
        self.side_by_side = side_by_side

    @property
    def requested_infer_hw(self) -> tuple[int, int] | str | None:
        """The inference size as asked ("auto", (H, W) or None): what another processor with the same settings
        is given (one per camera of a multi-camera run)."""
        return INFER_AUTO if self.auto else self.infer_hw

    def infer_hw_for(self, frame_hw: tuple[int, int]) -> tuple[int, int] | None:
        """The size the net runs at for a frame of `frame_hw` (None: the frame's own size)."""
        if self.auto:
            self.infer_hw = auto_infer_hw(frame_hw, self.train_frame_hw, self.contract.size_multiple)
        return self.infer_hw

    def begin(self, fps: float | None) -> None:
        """Called once the source is open, with its frame rate (None if unknown)."""

    def net_input_hw(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        """(H', W') of the padded tensor the backend will see for a frame of `frame_hw`."""
        return self.contract.input_hw(self.infer_hw_for(frame_hw) or frame_hw)

    def preprocess(self, frame: np.ndarray, index: int = 0) -> Prepared:  # pragma: no cover - abstract
        raise NotImplementedError

    def postprocess(self, prepared: Prepared, output: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def infer(self, prepared: Prepared) -> np.ndarray:
        """The backend's (1, 3, H', W') float32 output for the prepared batch (shape and values checked)."""
        output = self.backend(prepared.batch)
        check_net_output(output, prepared.batch, self.backend, prepared.index)
        return output

    def _finish(self, frame: np.ndarray, result: np.ndarray) -> np.ndarray:
        return np.hstack((frame, result)) if self.side_by_side else result

    def __call__(self, frame: np.ndarray, index: int = 0) -> np.ndarray:
        """Process one (H, W, 3) uint8 BGR frame synchronously (no pipeline)."""
        prepared = self.preprocess(frame, index)
        return self.postprocess(prepared, self.infer(prepared))


class FrameProcessor(NetProcessor):
    """Derain BGR frames with `backend` (F_r): see the module docstring for the stages.

    temporal: a stabiliser fed every derained frame in order (None: frames are independent). veil_strength: the
    share of the dark-channel veil removed from the derained frame (`jrgr_deploy/veil_removal.py`; 0: off; None: the
    artefact's own, its sidecar's `veil_strength`, 0 without a sidecar). tone_strength: the strength of the
    artefact's tone map (`jrgr export --tone`; 0: off; None: its sidecar's; a map is needed for any other value).
    """

    def __init__(
        self,
        backend: Backend,
        infer_hw: tuple[int, int] | None = None,
        side_by_side: bool = False,
        temporal: TemporalStabiliser | None = None,
        veil_strength: float | None = None,
        tone_strength: float | None = None,
    ) -> None:
        super().__init__(backend, infer_hw=infer_hw, side_by_side=side_by_side)
        self.temporal = temporal
        if veil_strength is None:
            veil_strength = self.artifact_info.veil_strength if self.artifact_info is not None else 0.0
        self.veil_strength = check_strength(veil_strength)
        # the artefact's population tone map (`jrgr export --tone`): before the veil removal, as it was fitted on
        # the net's own outputs
        self.tone = self.artifact_info.tone_map() if self.artifact_info is not None else None
        if tone_strength is not None:  # the caller's strength for the artefact's map; 0: off
            from jrgr_deploy.moment_transfer import check_tone_strength  # imported only when a strength is given

            check_tone_strength(tone_strength)
            if tone_strength and self.tone is None:
                raise JRGRError(f"tone strength {tone_strength:g}: this model carries no tone map in its sidecar "
                                "(`jrgr export --tone`, `jrgr adapt --dry` write one)")
            self.tone = (self.tone[0], tone_strength) if tone_strength else None
        self._luma: np.ndarray | None = None  # the temporal filter's luma input, kept between frames
        self._delta_bgr: np.ndarray | None = None  # its correction on three channels (--infer-size), likewise

    def preprocess(self, frame: np.ndarray, index: int = 0) -> Prepared:
        """(H, W, 3) uint8 BGR -> Prepared with a padded (1, 3, H', W') float32 RGB batch in [-1, 1]."""
        check_frame(frame)
        small = resize_hw(frame, self.infer_hw_for(frame.shape[:2]))
        net_hw = small.shape[:2]
        target_h, target_w = self.contract.input_hw(net_hw)
        pad_h, pad_w = target_h - net_hw[0], target_w - net_hw[1]
        if pad_h < net_hw[0] and pad_w < net_hw[1]:
            # Pad the uint8 frame (a quarter of the bytes of the float tensor); BORDER_REFLECT_101 is
            # numpy's "reflect", so this equals pad_for_contract(bgr_to_nchw(frame)).
            if pad_h or pad_w:
                small = cv2.copyMakeBorder(small, 0, pad_h, 0, pad_w, cv2.BORDER_REFLECT_101)
            return Prepared(frame=frame, batch=bgr_to_nchw(small), net_hw=net_hw, index=index)
        batch, net_hw = pad_for_contract(bgr_to_nchw(small), self.contract)
        return Prepared(frame=frame, batch=np.ascontiguousarray(batch), net_hw=net_hw, index=index)

    def postprocess(self, prepared: Prepared, output: np.ndarray) -> np.ndarray:
        """Backend output -> (H, W, 3) uint8 BGR derained frame (or [input | derained], 2W wide)."""
        derained = self._derained(prepared, output)
        if self.tone is not None:
            start = now_ns()
            transfer, strength = self.tone
            # one affine map per cell, the same on B, G and R, as far as this frame shows the veil (its share is
            # read in RGB, as the map was fitted)
            derained = transfer.apply(derained, strength * transfer.veil_share(derained[..., ::-1]))
            prepared.stage_ns["tone"] = now_ns() - start
        if self.veil_strength:
            start = now_ns()
            derained = remove_veil(derained, self.veil_strength)
            prepared.stage_ns["veil"] = now_ns() - start
        return self._finish(prepared.frame, derained)

    def _derained(self, prepared: Prepared, output: np.ndarray) -> np.ndarray:
        """Backend output -> the (H, W, 3) uint8 BGR derained frame (with the stabiliser's correction)."""
        restored = unpad(output, prepared.net_hw)
        frame = prepared.frame
        if prepared.net_hw == frame.shape[:2]:
            offset = self._temporal_offset(prepared, restored) if self.temporal is not None else None
            return nchw_to_bgr(restored, offset)[0]
        # B̂_full = O_full − up(O_small − F_r(O_small))
        rain_small = unpad(prepared.batch, prepared.net_hw)[0] - restored[0]  # (3, h, w) RGB, [-2, 2]
        rain = layer_to_frame(rain_small, frame.shape[:2])
        if self.temporal is None:
            return add_to_frame(frame, rain, sign=-1.0)
        derained = blend(frame, rain, sign=-1.0)
        start = now_ns()
        delta = self.temporal.correction(cv2.transform(derained, LUMA_BGR[None, :]), restart=prepared.restart)
        if delta is not None:
            # the correction on every channel, rounded and saturated to uint8 in the same pass: to_uint8's result
            # (round half to even, 0..255) without a pass of its own; numpy's broadcast add over 3 interleaved
            # channels alone cost more than the whole stabiliser
            if self._delta_bgr is None or self._delta_bgr.shape != derained.shape:
                self._delta_bgr = np.empty(derained.shape, np.float32)
            delta_bgr = cv2.cvtColor(delta, cv2.COLOR_GRAY2BGR, dst=self._delta_bgr)
            # the stage ends here: the add below is the rounding every frame has (to_uint8 otherwise)
            prepared.stage_ns["temporal"] = now_ns() - start
            return cv2.add(derained, delta_bgr, dtype=cv2.CV_8U)
        prepared.stage_ns["temporal"] = now_ns() - start
        return to_uint8(derained)

    def _temporal_offset(self, prepared: Prepared, restored: np.ndarray) -> np.ndarray | None:
        """The stabiliser's luma correction for a (1, 3, H, W) RGB [-1, 1] output, in [-1, 1] units (added to every
        channel as the output is rounded), or None."""
        assert self.temporal is not None
        start = now_ns()
        # luma straight from the RGB planes, in their [-1, 1] units (w . rgb, the weights summing to 1: 127.5 (w . rgb
        # + 1) levels); the stabiliser works in these units, so its correction is added as it comes
        red, green, blue = restored[0]
        (w_blue, w_green, w_red) = (float(w) for w in LUMA_BGR)
        if self._luma is None or self._luma.shape != red.shape:
            self._luma = np.empty(red.shape, np.float32)
        luma = cv2.addWeighted(red, w_red, green, w_green, 0.0, dst=self._luma)
        cv2.scaleAdd(blue, w_blue, luma, dst=luma)
        delta = self.temporal.correction(luma, restart=prepared.restart, offset=127.5, unit_levels=127.5)
        prepared.stage_ns["temporal"] = now_ns() - start
        return delta


__all__ = [
    "FrameProcessor",
    "NetProcessor",
    "Prepared",
    "Processor",
    "add_to_frame",
    "blend",
    "check_net_output",
    "layer_to_frame",
    "pad_for_contract",
    "resize_hw",
    "to_uint8",
]
