"""JRGR rain synthesis: model A (synthetic streaks + haze) and model B (physically based).

    render_rain(image, model="synthetic"|"realistic", preset="light"|"medium"|"heavy", seed=0, depth=None,
                channel_order="rgb") -> RainSample
    RainSequence(model, preset, seed, height, width, fps=30.0).render(frame, index) -> RainSample

numpy + OpenCV only (used by the torch-free runtime).
"""

from jrgr_deploy.rain.depth import ground_plane_depth
from jrgr_deploy.rain.physical import REALISTIC_PRESETS, RealisticRain, streak_geometry
from jrgr_deploy.rain.sample import RainSample
from jrgr_deploy.rain.sequence import MODELS, PRESETS, RainSequence, render_rain
from jrgr_deploy.rain.streaks import SYNTHETIC_PRESETS, SyntheticRain

__all__ = [
    "MODELS",
    "PRESETS",
    "REALISTIC_PRESETS",
    "SYNTHETIC_PRESETS",
    "RainSample",
    "RainSequence",
    "RealisticRain",
    "SyntheticRain",
    "ground_plane_depth",
    "render_rain",
    "streak_geometry",
]
