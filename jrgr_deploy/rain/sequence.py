"""Public entry points: `render_rain` for one image, `RainSequence` for consistent rain over video frames."""

from __future__ import annotations

import numpy as np

from jrgr_deploy.errors import JRGRError
from jrgr_deploy.names import RAIN_MODELS, RAIN_PRESETS
from jrgr_deploy.rain.depth import check_depth
from jrgr_deploy.rain.physical import RealisticRain
from jrgr_deploy.rain.sample import RainSample, check_channel_order, check_image, finish_sample, jsonable, luma_weights
from jrgr_deploy.rain.streaks import SyntheticRain

MODELS = RAIN_MODELS
PRESETS = RAIN_PRESETS


def _check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise JRGRError(f"unknown rain {what} {value!r}; expected one of {', '.join(allowed)}")
    return value


class RainSequence:
    """Rain of one model/preset/seed over consecutive H x W frames at `fps` frames per second.

    Everything random (parameters, drops) is drawn in the constructor, so `render(frame, index)` is a pure
    function of the index: frames may be rendered in any order, and index i+1 shows the drops of index i moved
    down by their fall speed / fps (new drops enter at the top).
    """

    def __init__(self, model: str, preset: str, seed: int, height: int, width: int, fps: float = 30.0,
                 channel_order: str = "rgb") -> None:
        self.model = _check_choice(model, MODELS, "model")
        self.preset = _check_choice(preset, PRESETS, "preset")
        if int(height) < 2 or int(width) < 2:
            raise JRGRError(f"rain frame size must be at least 2x2, got {height}x{width}")
        if not fps > 0:
            raise JRGRError(f"fps must be positive, got {fps}")
        self.seed = int(seed)
        self.height, self.width, self.fps = int(height), int(width), float(fps)
        self.channel_order = check_channel_order(channel_order)
        if self.model == "synthetic":
            self._rain: SyntheticRain | RealisticRain = SyntheticRain(self.preset, self.seed, self.height, self.width)
        else:
            self._rain = RealisticRain(self.preset, self.seed, self.height, self.width)
        self._params = jsonable({"model": self.model, "preset": self.preset, "seed": self.seed,
                                 "channel_order": self.channel_order, **self._rain.params()})

    @property
    def params(self) -> dict:
        """model, preset, seed and the drawn physical parameters (JSON-serialisable; a copy)."""
        return dict(self._params)

    def render(self, frame: np.ndarray, index: int = 0, depth: np.ndarray | None = None) -> RainSample:
        """Add the rain of frame `index` (time index / fps) to `frame`: (H, W, 3) uint8 in this sequence's
        channel order; depth: optional (H, W) metres (default: the ground-plane proxy)."""
        clean = check_image(frame, "frame")
        if clean.shape[:2] != (self.height, self.width):
            raise JRGRError(f"frame is {clean.shape[0]}x{clean.shape[1]} but this RainSequence was made for "
                            f"{self.height}x{self.width}")
        if depth is not None:
            depth = check_depth(depth, self.height, self.width)
        time_s = int(index) / self.fps
        if isinstance(self._rain, SyntheticRain):
            rainy = self._rain.render(clean, time_s, depth)
        else:
            rainy = self._rain.render(clean, time_s, depth, luma_weights(self.channel_order))
        params = dict(self._params)
        params["frame_index"] = int(index)
        params["depth"] = "given" if depth is not None else "ground_plane"
        return finish_sample(clean, rainy, params)


def render_rain(image: np.ndarray, model: str = "synthetic", preset: str = "medium", seed: int = 0,
                depth: np.ndarray | None = None, channel_order: str = "rgb") -> RainSample:
    """Add rain to one (H, W, 3) uint8 image (`channel_order` "rgb" or "bgr").

    model "synthetic" = model A (streaks + RainCityscape haze, additive), "realistic" = model B (physically based);
    preset "light" | "medium" | "heavy"; same seed -> identical bytes. depth: optional (H, W) metres.
    """
    clean = check_image(image, "image")
    seq = RainSequence(model, preset, seed, clean.shape[0], clean.shape[1], channel_order=channel_order)
    return seq.render(clean, 0, depth=depth)
